// proc.go owns the extension processes: discovery (like /opt/extensions),
// Lambda's environment, output capture (each line also becomes an
// `extension` telemetry event), SIGSTOP/SIGCONT freezing and killing.
// Every process runs in its own process group so that freezing and killing
// reach its children too.
package lambdasim

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// maxCapture bounds the captured stdout/stderr per process; beyond it lines
// still become telemetry events but are no longer kept.
const maxCapture = 16 << 20

// maxLogLine is Lambda's per-line log limit (256 KiB); longer lines are split.
const maxLogLine = 256 << 10

// proc is one launched extension process.
type proc struct {
	name string // base name of the executable: the only name that registers as external
	path string
	cmd  *exec.Cmd
	pid  int
	done chan struct{} // closed after Wait returned

	mu             sync.Mutex
	stdout, stderr bytes.Buffer
	exitCode       int // valid after done; -1 when killed by a signal
	signal         string
	exitAt         time.Duration
	killed         bool // SIGKILLed by the Sim
}

func extensionPaths(cfg Config) ([]string, error) {
	var paths []string
	if cfg.ExtensionsDir != "" {
		ents, err := os.ReadDir(cfg.ExtensionsDir)
		if err != nil {
			return nil, err
		}
		for _, e := range ents {
			// Stat follows symlinks: a linked executable is still started.
			info, err := os.Stat(filepath.Join(cfg.ExtensionsDir, e.Name()))
			if err != nil || !info.Mode().IsRegular() || info.Mode().Perm()&0o111 == 0 {
				continue
			}
			paths = append(paths, filepath.Join(cfg.ExtensionsDir, e.Name()))
		}
	}
	paths = append(paths, cfg.ExtensionPaths...)
	seen := map[string]bool{}
	for _, p := range paths {
		b := filepath.Base(p)
		if seen[b] {
			return nil, fmt.Errorf("two extensions named %q: Lambda starts one process per file name", b)
		}
		seen[b] = true
	}
	if len(paths) > maxExtensions {
		return nil, fmt.Errorf("%d extensions: Lambda allows at most %d", len(paths), maxExtensions)
	}
	return paths, nil
}

// hiddenFromExtensions is lambda-apis.md §3: variables only the runtime sees.
var hiddenFromExtensions = []string{
	"AWS_EXECUTION_ENV", "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME",
	"AWS_XRAY_CONTEXT_MISSING", "AWS_XRAY_DAEMON_ADDRESS", "LAMBDA_RUNTIME_DIR",
	"LAMBDA_TASK_ROOT", "_AWS_XRAY_DAEMON_ADDRESS", "_AWS_XRAY_DAEMON_PORT", "_HANDLER",
}

// runtimeEnv is the full environment of the function's runtime process.
func (s *Sim) runtimeEnv() map[string]string {
	c := s.cfg
	env := map[string]string{
		"PATH":                            "/usr/local/bin:/usr/bin/:/bin:/opt/bin",
		"LANG":                            "en_US.UTF-8",
		"TZ":                              ":UTC",
		"LD_LIBRARY_PATH":                 "/var/lang/lib:/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:/var/task:/var/task/lib:/opt/lib",
		"AWS_LAMBDA_RUNTIME_API":          s.Addr(),
		"AWS_LAMBDA_FUNCTION_NAME":        c.FunctionName,
		"AWS_LAMBDA_FUNCTION_VERSION":     c.FunctionVersion,
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": strconv.Itoa(c.MemoryMB),
		"AWS_LAMBDA_INITIALIZATION_TYPE":  c.InitType,
		"AWS_REGION":                      c.Region,
		"AWS_DEFAULT_REGION":              c.Region,
		"AWS_ACCESS_KEY_ID":               s.creds.AccessKeyID,
		"AWS_SECRET_ACCESS_KEY":           s.creds.SecretAccessKey,
		"AWS_SESSION_TOKEN":               s.creds.SessionToken,
		"AWS_LAMBDA_LOG_GROUP_NAME":       "/aws/lambda/" + c.FunctionName,
		"AWS_LAMBDA_LOG_STREAM_NAME":      time.Now().UTC().Format("2006/01/02") + "/[" + c.FunctionVersion + "]" + randHex(32),
		"AWS_EXECUTION_ENV":               "AWS_Lambda_lambdasim",
		"AWS_XRAY_CONTEXT_MISSING":        "LOG_ERROR",
		"AWS_XRAY_DAEMON_ADDRESS":         "169.254.79.129:2000",
		"_AWS_XRAY_DAEMON_ADDRESS":        "169.254.79.129",
		"_AWS_XRAY_DAEMON_PORT":           "2000",
		"LAMBDA_TASK_ROOT":                "/var/task",
		"LAMBDA_RUNTIME_DIR":              "/var/runtime",
		"_HANDLER":                        c.Handler,
	}
	if p := os.Getenv("PATH"); p != "" {
		// The host's PATH keeps test helpers runnable outside a real sandbox.
		env["PATH"] = env["PATH"] + ":" + p
	}
	for k, v := range c.Env {
		env[k] = v
	}
	return env
}

// extensionEnv is runtimeEnv minus what Lambda hides from extensions:
// the §3 list and, like RIE, every key starting with "_".
func (s *Sim) extensionEnv() []string {
	var out []string
	for k, v := range s.runtimeEnv() {
		if strings.HasPrefix(k, "_") || slices.Contains(hiddenFromExtensions, k) {
			continue
		}
		out = append(out, k+"="+v)
	}
	slices.Sort(out)
	return out
}

func (s *Sim) launch(path string) error {
	p := &proc{name: filepath.Base(path), path: path, done: make(chan struct{})}
	cmd := exec.Command(path)
	cmd.Env = s.extensionEnv()
	cmd.Dir = filepath.Dir(path)
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Setpgid: true,
		// Kill the extension if the test process dies without Close.
		Pdeathsig: syscall.SIGKILL,
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := cmd.Start(); err != nil {
		return err
	}
	p.cmd, p.pid = cmd, cmd.Process.Pid
	s.procs = append(s.procs, p)
	s.recordLocked(Record{Kind: KindProcessStart, Ext: p.name, PID: p.pid, Detail: path})

	var readers sync.WaitGroup
	readers.Go(func() { s.capture(p, stdout, &p.stdout) })
	readers.Go(func() { s.capture(p, stderr, &p.stderr) })
	s.wg.Go(func() {
		readers.Wait()
		err := cmd.Wait()
		code, sig := 0, ""
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				sig = ws.Signal().String()
			}
		}
		s.mu.Lock()
		p.mu.Lock()
		p.exitCode, p.signal, p.exitAt = code, sig, time.Since(s.base)
		p.mu.Unlock()
		s.recordLocked(Record{Kind: KindProcessExit, Ext: p.name, PID: p.pid, Code: code, Detail: sig})
		s.processExitedLocked(p)
		s.notifyLocked()
		s.mu.Unlock()
		close(p.done)
	})
	return nil
}

// capture reads one output stream line by line into buf, the tee, and the
// Telemetry API as `extension` events, as Lambda does with extension output.
func (s *Sim) capture(p *proc, r io.Reader, buf *bytes.Buffer) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), maxLogLine)
	for sc.Scan() {
		line := sc.Text()
		p.mu.Lock()
		if buf.Len() < maxCapture {
			buf.WriteString(line)
			buf.WriteByte('\n')
		}
		p.mu.Unlock()
		s.mu.Lock()
		s.emitLocked(newEvent("extension", line))
		s.mu.Unlock()
		if s.cfg.Stderr != nil {
			fmt.Fprintf(s.cfg.Stderr, "[%s] %s\n", p.name, line)
		}
	}
	// A line over the limit ends the scan; drain so the process never blocks.
	_, _ = io.Copy(io.Discard, r)
}

// signal sends sig to the process group of p.
func (p *proc) signalGroup(sig syscall.Signal) {
	select {
	case <-p.done:
		return
	default:
	}
	_ = syscall.Kill(-p.pid, sig)
}

// waitStopped waits until the kernel has actually stopped p (SIGSTOP is
// delivered asynchronously), so that "frozen" means frozen. It gives up
// after 500 ms: a process in uninterruptible sleep stops when it wakes.
func (p *proc) waitStopped() {
	path := fmt.Sprintf("/proc/%d/stat", p.pid)
	for range 500 {
		if p.exited() {
			return
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return
		}
		if i := bytes.LastIndexByte(b, ')'); i < 0 || i+2 >= len(b) || b[i+2] == 'T' || b[i+2] == 't' || b[i+2] == 'Z' {
			return
		}
		time.Sleep(time.Millisecond)
	}
}

func (p *proc) kill() {
	// SIGCONT is not needed for SIGKILL, but it lets a stopped process's
	// group be reaped promptly by the kernel's bookkeeping.
	p.signalGroup(syscall.SIGKILL)
	p.signalGroup(syscall.SIGCONT)
}

// exited reports whether p has exited.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Output returns what the named extension wrote to stdout and stderr so far.
func (s *Sim) Output(name string) (stdout, stderr []byte) {
	s.mu.Lock()
	var p *proc
	for _, q := range s.procs {
		if q.name == name {
			p = q
		}
	}
	s.mu.Unlock()
	if p == nil {
		return nil, nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return bytes.Clone(p.stdout.Bytes()), bytes.Clone(p.stderr.Bytes())
}

// PID returns the process id of the named extension (0 if unknown).
func (s *Sim) PID(name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.procs {
		if p.name == name {
			return p.pid
		}
	}
	return 0
}

// freezeLocked stops deliveries, waits for POSTs in flight, then SIGSTOPs
// every extension process. s.mu must be held; it is released while waiting.
func (s *Sim) freezeLocked() {
	if s.frozen {
		return
	}
	s.frozen = true
	s.notifyLocked()
	for s.inflight > 0 {
		ch := s.changed
		s.mu.Unlock()
		select {
		case <-ch:
		case <-s.closing:
		}
		s.mu.Lock()
		if isClosed(s.closing) {
			break
		}
	}
	if !s.cfg.NoFreeze {
		for _, p := range s.sandboxProcsLocked() {
			p.signalGroup(syscall.SIGSTOP)
		}
		for _, p := range s.sandboxProcsLocked() {
			p.waitStopped()
		}
	}
	s.recordLocked(Record{Kind: KindFreeze})
}

// thawLocked SIGCONTs every process and lets deliveries resume.
func (s *Sim) thawLocked() {
	if !s.frozen {
		return
	}
	if !s.cfg.NoFreeze {
		for _, p := range s.sandboxProcsLocked() {
			p.signalGroup(syscall.SIGCONT)
		}
	}
	s.frozen = false
	s.recordLocked(Record{Kind: KindThaw})
	s.notifyLocked()
}

func isClosed(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
