// Command e2esandbox runs one extension binary in the lambdasim emulator and
// lets another process (the e2e test suite, a separate Go module that
// cannot import internal/lambdasim) drive it over stdin/stdout with JSON
// lines:
//
//	e2esandbox -ext <binary> [-env KEY=VALUE]... [-timeout 10s] [-max-life 3m] [-v]
//
// On start it runs the Init phase and writes one event:
//
//	{"event":"ready","init_ms":12.3}
//	{"event":"init_error","error":"..."}          (then it exits 1)
//
// Then it reads ops, one JSON object per line:
//
//	{"op":"invoke"}    starts an invocation; writes
//	                   {"event":"invoking","request_id":..,"trace_header":..}
//	                   once the function runs. The function then waits for
//	{"op":"done"}      (sent by the driver after it has sent its telemetry
//	                   to the extension's receivers), responds and returns;
//	                   when Lambda's Invoke phase is over it writes
//	                   {"event":"invoked","status":..,"duration_ms":..,"reset":false,...}
//	{"op":"shutdown"}  runs SHUTDOWN, writes
//	                   {"event":"shutdown","extensions":[{"name":..,"exit_code":0,...}]}
//	                   and exits 0.
//
// End of stdin, SIGINT/SIGTERM or -max-life all close the sandbox (killing
// every extension process) and exit; nothing outlives this process. A
// protocol error is reported as {"event":"error","error":..}.
//
// This command is never linked into the extension binary.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"otel-lambda-extension/internal/lambdasim"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

type envFlags []string

func (e *envFlags) String() string { return strings.Join(*e, ",") }
func (e *envFlags) Set(v string) error {
	if !strings.Contains(v, "=") {
		return fmt.Errorf("-env %q: want KEY=VALUE", v)
	}
	*e = append(*e, v)
	return nil
}

// op is one line the driver sends.
type op struct {
	Op string `json:"op"`
}

// exitInfo is one extension's end, as reported in the shutdown event.
type exitInfo struct {
	Name      string  `json:"name"`
	ExitCode  int     `json:"exit_code"`
	Killed    bool    `json:"killed"`
	ElapsedMs float64 `json:"elapsed_ms"`
}

// event is one line this command writes; unused fields are omitted.
type event struct {
	Event       string             `json:"event"`
	Error       string             `json:"error,omitempty"`
	InitMs      float64            `json:"init_ms,omitempty"`
	RequestID   string             `json:"request_id,omitempty"`
	TraceHeader string             `json:"trace_header,omitempty"`
	Status      string             `json:"status,omitempty"`
	ErrorType   string             `json:"error_type,omitempty"`
	DurationMs  float64            `json:"duration_ms,omitempty"`
	PostRuntime map[string]float64 `json:"post_runtime_ms,omitempty"`
	Reset       bool               `json:"reset,omitempty"`
	Extensions  []exitInfo         `json:"extensions,omitempty"`
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("e2esandbox", flag.ContinueOnError)
	fs.SetOutput(stderr)
	ext := fs.String("ext", "", "path to the extension binary (required)")
	timeout := fs.Duration("timeout", 10*time.Second, "function timeout (covers the driver's sends and the extension's post-processing)")
	// 3 minutes: far above one e2e scenario, so a driver that hangs or
	// forgets to close stdin still cannot leave processes behind for long.
	maxLife := fs.Duration("max-life", 3*time.Minute, "close the sandbox and exit after this long no matter what")
	name := fs.String("function-name", "e2e-function", "function name")
	verbose := fs.Bool("v", false, "copy the extension's stdout/stderr to stderr")
	var env envFlags
	fs.Var(&env, "env", "KEY=VALUE for the function environment (repeatable)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *ext == "" {
		fmt.Fprintln(stderr, "e2esandbox: -ext is required")
		return 2
	}
	extPath, err := filepath.Abs(*ext)
	if err != nil {
		fmt.Fprintf(stderr, "e2esandbox: -ext %q: %v\n", *ext, err)
		return 2
	}
	ctx, cancel := context.WithTimeout(ctx, *maxLife)
	defer cancel()

	var outMu sync.Mutex
	enc := json.NewEncoder(stdout)
	emit := func(e event) {
		outMu.Lock()
		defer outMu.Unlock()
		_ = enc.Encode(e)
	}

	cfg := lambdasim.Config{
		ExtensionPaths:  []string{extPath},
		Env:             map[string]string{},
		FunctionName:    *name,
		FunctionTimeout: *timeout,
	}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		cfg.Env[k] = v
	}
	if *verbose {
		cfg.Stderr = stderr
	}
	sim, err := lambdasim.Start(ctx, cfg)
	if sim != nil {
		defer sim.Close()
	}
	if err != nil {
		emit(event{Event: "init_error", Error: err.Error()})
		if sim != nil {
			o, e := sim.Output(filepath.Base(extPath))
			fmt.Fprintf(stderr, "--- extension stdout\n%s--- extension stderr\n%s", o, e)
		}
		return 1
	}
	emit(event{Event: "ready", InitMs: ms(sim.InitDuration())})

	// One reader goroutine turns stdin into ops; it ends at EOF. It is not
	// waited for (it may sit in a Read on stdin), which is fine because the
	// process exits right after run returns.
	ops := make(chan op)
	go func() {
		defer close(ops)
		sc := bufio.NewScanner(stdin)
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			if line == "" {
				continue
			}
			var o op
			if err := json.Unmarshal([]byte(line), &o); err != nil {
				emit(event{Event: "error", Error: fmt.Sprintf("bad op line %q: %v", line, err)})
				continue
			}
			select {
			case ops <- o:
			case <-ctx.Done():
				return
			}
		}
	}()

	for {
		var o op
		var ok bool
		select {
		case o, ok = <-ops:
		case <-ctx.Done():
			emit(event{Event: "error", Error: "closing: " + context.Cause(ctx).Error()})
			return 1
		}
		if !ok {
			return 0 // stdin closed: the deferred Close kills everything
		}
		switch o.Op {
		case "invoke":
			res, err := sim.Invoke(ctx, func(inv *lambdasim.Invocation) error {
				emit(event{Event: "invoking", RequestID: inv.RequestID, TraceHeader: inv.TraceHeader})
				for {
					select {
					case o, ok := <-ops:
						if !ok {
							return io.EOF
						}
						if o.Op == "done" {
							inv.Respond([]byte(`{"statusCode":200}`))
							return nil
						}
						emit(event{Event: "error", Error: fmt.Sprintf("op %q during an invocation: want \"done\"", o.Op)})
					case <-inv.Context().Done():
						return inv.Context().Err()
					}
				}
			})
			if err != nil {
				emit(event{Event: "error", Error: "invoke: " + err.Error()})
				continue
			}
			ev := event{Event: "invoked", RequestID: res.RequestID, Status: res.Status, ErrorType: res.ErrorType,
				DurationMs: ms(res.Duration), PostRuntime: map[string]float64{}, Reset: res.Reset != nil}
			for k, d := range res.PostRuntime {
				ev.PostRuntime[k] = ms(d)
			}
			emit(ev)
		case "shutdown":
			sr := sim.Shutdown("spindown")
			ev := event{Event: "shutdown", DurationMs: ms(sr.Duration)}
			for _, x := range sr.Extensions {
				ev.Extensions = append(ev.Extensions, exitInfo{Name: x.Name, ExitCode: x.ExitCode, Killed: x.Killed, ElapsedMs: ms(x.Elapsed)})
			}
			emit(ev)
			return 0
		default:
			emit(event{Event: "error", Error: fmt.Sprintf("unknown op %q: want invoke, done or shutdown", o.Op)})
		}
	}
}
