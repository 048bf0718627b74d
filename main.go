// Command otel-lambda-extension is an AWS Lambda extension that carries a
// function's OpenTelemetry data, and Lambda's own platform telemetry, to an
// OTLP backend or OpenObserve without losing it when the sandbox freezes.
//
// The full usage text, with every configuration variable, is printed by
// --help; README.md mirrors it.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	ossignal "os/signal"
	"runtime"
	"strings"
	"sync"
	"syscall"
)

// version and commit are stamped by build.sh with -ldflags -X.
var (
	version = "dev"
	commit  = "unknown"
)

const extensionName = "otel-lambda-extension"

func main() {
	ctx, cancel := context.WithCancelCause(context.Background())
	sig := &signalWatch{cancel: cancel}
	code := run(ctx, os.Args, os.Getenv, os.Stdout, os.Stderr, sig.start)
	sig.stop()
	os.Exit(code)
}

// signalWatch cancels the process's context on SIGINT or SIGTERM, as
// signal.NotifyContext would, from start until stop; later signals are
// swallowed, so the first one's clean exit is not cut short.
//
// The first signal.Notify in a process costs ~0.2 ms and a thread (the
// runtime starts one to own the signal mask and waits for it), so the
// extension starts watching only once init is done (runExtension, right
// before the first next): before that a signal has Go's default effect,
// exit, and there is nothing to save yet. Lambda itself never signals an
// extension during init; it ends one with SHUTDOWN, then SIGKILL.
type signalWatch struct {
	cancel context.CancelCauseFunc
	done   chan struct{} // nil until start
	wg     sync.WaitGroup
}

func (w *signalWatch) start() {
	if w.done != nil {
		return
	}
	w.done = make(chan struct{})
	w.wg.Go(func() {
		ch := make(chan os.Signal, 1)
		ossignal.Notify(ch, os.Interrupt, syscall.SIGTERM)
		defer ossignal.Stop(ch)
		select {
		case s := <-ch:
			w.cancel(errors.New(s.String() + " signal received"))
			<-w.done
		case <-w.done:
		}
	})
}

// stop ends the watch and waits for its goroutine.
func (w *signalWatch) stop() {
	if w.done != nil {
		close(w.done)
		w.wg.Wait()
	}
}

// run is the whole program; main only supplies the process's context,
// arguments, environment and output streams so tests can call it directly.
// watchSignals makes SIGINT and SIGTERM cancel ctx; run calls it as soon as
// that matters (see signalWatch).
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, watchSignals func()) int {
	// Three boolean flags do not need the flag package (it is ~10 KB of
	// the binary); the spellings it would accept are accepted.
	var help, showVersion, healthCheck bool
	if len(args) > 0 {
		args = args[1:]
	}
	for _, a := range args {
		var err error
		switch a {
		case "-h", "-help", "--help":
			help = true
		case "-version", "--version":
			showVersion = true
		case "-health-check", "--health-check":
			healthCheck = true
		default:
			if strings.HasPrefix(a, "-") {
				err = fmt.Errorf("flag provided but not defined: %s", a)
			} else {
				err = fmt.Errorf("unexpected argument %q", a)
			}
		}
		if err != nil {
			fmt.Fprintf(stderr, "%s: %v\n\n", extensionName, err)
			usage(stderr)
			return 2
		}
	}
	switch {
	case help:
		usage(stdout)
		return 0
	case showVersion:
		fmt.Fprintf(stdout, "%s %s (commit %s, %s)\n", extensionName, version, commit, runtime.Version())
		return 0
	case healthCheck:
		watchSignals()
		return runHealthCheck(ctx, getenv, stdout, stderr)
	}
	api := getenv("AWS_LAMBDA_RUNTIME_API")
	if api == "" {
		fmt.Fprintf(stderr, "%s: this is an AWS Lambda extension and runs inside Lambda, started from a layer as /opt/extensions/%s; "+
			"AWS_LAMBDA_RUNTIME_API is not set, so there is no Lambda here to serve. "+
			"Try it locally with ./build.sh demo, or see --help.\n", extensionName, extensionName)
		return 1
	}
	return runExtension(ctx, api, getenv, stderr, watchSignals)
}

// logLevel orders the extension's own log lines.
type logLevel int

const (
	levelDebug logLevel = iota
	levelInfo
	levelWarn
	levelError
)

var levelNames = [...]string{"DEBUG", "INFO", "WARN", "ERROR"}

// logger writes one line per event to stderr (CloudWatch in Lambda). It never
// logs credentials, and nothing on the Telemetry API delivery path may log
// per record: our own lines come back to us as `extension` events.
type logger struct {
	mu    sync.Mutex
	l     *log.Logger
	level logLevel
}

func newLogger(w io.Writer, level logLevel) *logger {
	return &logger{l: log.New(w, extensionName+": ", 0), level: level}
}

func (g *logger) enabled(level logLevel) bool { return g != nil && level >= g.level }

func (g *logger) logf(level logLevel, format string, args ...any) {
	if !g.enabled(level) {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.l.Printf(levelNames[level]+" "+format, args...)
}

func (g *logger) debugf(format string, args ...any) { g.logf(levelDebug, format, args...) }
func (g *logger) infof(format string, args ...any)  { g.logf(levelInfo, format, args...) }
func (g *logger) warnf(format string, args ...any)  { g.logf(levelWarn, format, args...) }
func (g *logger) errorf(format string, args ...any) { g.logf(levelError, format, args...) }
