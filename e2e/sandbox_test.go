// sandbox_test.go owns the binaries under test and their processes:
// TestMain builds the extension and tools/e2esandbox from the repo root
// once per run, and sandbox drives one e2esandbox process (the extension in
// the Lambda emulator) over its JSON-lines protocol, with every wait bounded
// and the process (and with it the extension) ended when the test ends.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Paths of the binaries built by TestMain.
var (
	extBin     string
	sandboxBin string
)

// eventWait bounds every wait for an e2esandbox event: an invocation is
// bounded by the function timeout (10 s) and a shutdown by Lambda's 2 s,
// so 30 s means something is stuck.
const eventWait = 30 * time.Second

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "otel-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: temp dir:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	root, err := filepath.Abs("..")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: repo root:", err)
		return 1
	}
	extBin = filepath.Join(dir, "otel-lambda-extension")
	sandboxBin = filepath.Join(dir, "e2esandbox")
	// 5 minutes: a cold build of both on 2 busy cores.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	for _, b := range [][]string{{"-o", extBin, "."}, {"-o", sandboxBin, "./tools/e2esandbox"}} {
		cmd := exec.CommandContext(ctx, "go", append([]string{"build"}, b...)...)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "e2e: go build %v in %s: %v\n%s", b, root, err, out)
			return 1
		}
	}
	code := m.Run()
	if err := writeResults(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: write RESULTS.md:", err)
		code = 1
	}
	return code
}

// freePort returns a port that was free on 127.0.0.1 a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// sandboxEvent is one line e2esandbox writes.
type sandboxEvent struct {
	Event       string             `json:"event"`
	Error       string             `json:"error"`
	InitMs      float64            `json:"init_ms"`
	RequestID   string             `json:"request_id"`
	TraceHeader string             `json:"trace_header"`
	Status      string             `json:"status"`
	ErrorType   string             `json:"error_type"`
	DurationMs  float64            `json:"duration_ms"`
	PostRuntime map[string]float64 `json:"post_runtime_ms"`
	Reset       bool               `json:"reset"`
	Extensions  []struct {
		Name      string  `json:"name"`
		ExitCode  int     `json:"exit_code"`
		Killed    bool    `json:"killed"`
		ElapsedMs float64 `json:"elapsed_ms"`
	} `json:"extensions"`
}

// lockedBuffer collects the extension's output for failure reports.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// sandbox is one running e2esandbox process.
type sandbox struct {
	recvPort, grpcPort int // the extension's OTLP/HTTP and OTLP/gRPC receiver ports
	cmd                *exec.Cmd
	stdin              io.WriteCloser
	events             chan sandboxEvent // closed when stdout ends
	output             *lockedBuffer     // e2esandbox's stderr: the extension's log lines
	done               chan struct{}     // closed after cmd.Wait
	shutdownDone       bool
}

// baseEnv keeps the comparison to the function's own data: flush at the end
// of every invocation, no platform telemetry.
func baseEnv(recvPort, grpcPort int) map[string]string {
	return map[string]string{
		"OTEL_LAMBDA_RECEIVER_PORT":    fmt.Sprint(recvPort),
		"OTEL_LAMBDA_GRPC_PORT":        fmt.Sprint(grpcPort),
		"OTEL_LAMBDA_FLUSH_STRATEGY":   "end",
		"OTEL_LAMBDA_TELEMETRY":        "false",
		"OTEL_LAMBDA_PLATFORM_LOGS":    "false",
		"OTEL_LAMBDA_PLATFORM_SPANS":   "false",
		"OTEL_LAMBDA_PLATFORM_METRICS": "false",
	}
}

// startSandbox starts the extension under the emulator with baseEnv plus
// env, and waits for the end of Init. The process is ended when the test
// ends; if the test failed, the extension's output is logged.
func startSandbox(t testing.TB, env map[string]string) *sandbox {
	t.Helper()
	s := &sandbox{recvPort: freePort(t), grpcPort: freePort(t), events: make(chan sandboxEvent, 16),
		output: &lockedBuffer{}, done: make(chan struct{})}
	all := baseEnv(s.recvPort, s.grpcPort)
	for k, v := range env {
		all[k] = v
	}
	args := []string{"-ext", extBin, "-v", "-timeout", "10s", "-max-life", "3m", "-function-name", "e2e-function"}
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range all {
			if !yield(k) {
				return
			}
		}
	}) {
		args = append(args, "-env", k+"="+all[k])
	}
	s.cmd = exec.Command(sandboxBin, args...)
	s.cmd.Stderr = s.output
	s.cmd.SysProcAttr = sandboxProcAttr()
	var err error
	if s.stdin, err = s.cmd.StdinPipe(); err != nil {
		t.Fatalf("sandbox stdin: %v", err)
	}
	stdout, err := s.cmd.StdoutPipe()
	if err != nil {
		t.Fatalf("sandbox stdout: %v", err)
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", sandboxBin, err)
	}
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		defer close(s.events)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var ev sandboxEvent
			if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
				ev = sandboxEvent{Event: "error", Error: fmt.Sprintf("bad event line %q: %v", sc.Text(), err)}
			}
			s.events <- ev
		}
	}()
	go func() {
		<-readerDone // Wait must not run before the pipe is read to the end
		_ = s.cmd.Wait()
		close(s.done)
	}()
	t.Cleanup(func() {
		s.stop(t)
		if t.Failed() {
			t.Logf("extension output:\n%s", s.output.String())
		}
	})
	ev := s.next(t)
	if ev.Event != "ready" {
		t.Fatalf("sandbox init: got event %+v; want ready\n%s", ev, s.output.String())
	}
	return s
}

// stop ends the process: end of stdin lets it close the sandbox itself;
// SIGTERM and then SIGKILL follow if it does not exit in time.
func (s *sandbox) stop(t testing.TB) {
	go func() { // nobody reads events any more; the reader must not block
		for range s.events {
		}
	}()
	_ = s.stdin.Close()
	for _, sig := range []syscall.Signal{0, syscall.SIGTERM, syscall.SIGKILL} {
		if sig != 0 {
			_ = s.cmd.Process.Signal(sig)
		}
		select {
		case <-s.done:
			return
		case <-time.After(10 * time.Second):
			t.Errorf("sandbox did not exit in 10s after signal %d", sig)
		}
	}
}

// next returns the next event, failing the test after eventWait.
func (s *sandbox) next(t testing.TB) sandboxEvent {
	t.Helper()
	for {
		select {
		case ev, ok := <-s.events:
			if !ok {
				t.Fatalf("sandbox exited\n%s", s.output.String())
			}
			if ev.Event == "error" {
				t.Errorf("sandbox: %s", ev.Error)
				continue
			}
			return ev
		case <-time.After(eventWait):
			t.Fatalf("no event from the sandbox within %v", eventWait)
		}
	}
}

func (s *sandbox) send(t testing.TB, op string) {
	t.Helper()
	if _, err := fmt.Fprintf(s.stdin, "{\"op\":%q}\n", op); err != nil {
		t.Fatalf("sandbox op %s: %v", op, err)
	}
}

// invoke runs one invocation; fn runs while the function is running (the
// extension is thawed and its receivers serve). It returns the invoked
// event and fails the test unless the invocation succeeded.
func (s *sandbox) invoke(t testing.TB, fn func(invoking sandboxEvent)) sandboxEvent {
	t.Helper()
	s.send(t, "invoke")
	ev := s.next(t)
	if ev.Event != "invoking" {
		t.Fatalf("invoke: got event %+v; want invoking", ev)
	}
	func() {
		defer s.send(t, "done") // even if fn fails the test, end the invocation
		fn(ev)
	}()
	res := s.next(t)
	if res.Event != "invoked" || res.Status != "success" || res.Reset {
		t.Errorf("invoke: got %+v; want invoked with status success", res)
	}
	return res
}

// shutdown runs SHUTDOWN and fails the test unless the extension exited 0
// on its own.
func (s *sandbox) shutdown(t testing.TB) sandboxEvent {
	t.Helper()
	s.send(t, "shutdown")
	ev := s.next(t)
	if ev.Event != "shutdown" || len(ev.Extensions) != 1 {
		t.Fatalf("shutdown: got %+v; want one extension's exit", ev)
	}
	if x := ev.Extensions[0]; x.ExitCode != 0 || x.Killed {
		t.Errorf("shutdown: extension exit code %d, killed %v; want 0, false", x.ExitCode, x.Killed)
	}
	return ev
}
