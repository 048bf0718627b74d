// Package lambdasim emulates the AWS Lambda execution environment closely
// enough to run a real extension binary in tests, benchmarks and local demos.
//
// It serves the Extensions API (2020-01-01) and the Telemetry API
// (2022-07-01, event schema 2022-12-13) on 127.0.0.1, launches every
// extension as a child process with Lambda's environment, runs the
// "function" as a scripted Go func in-process (Invoke) or, with
// Config.Runtime, as a real runtime process speaking the Runtime API
// (InvokeEvent, runtimeapi.go), freezes the extension (and runtime)
// processes with SIGSTOP whenever Lambda would freeze the sandbox, and
// records a monotonic timeline of everything that happened. The behaviour
// follows /work/shared/docs/lambda-apis.md section by section; where that
// document marks a fact as unverified the emulator picks the documented
// emulator (RIE) behaviour and says so in a comment.
//
// Lifecycle: Start (Init phase: launch, register, subscribe, first next,
// freeze) → Invoke … → Shutdown → Close. Close is always safe and kills
// whatever is left.
//
// Nothing in the extension binary may import this package.
package lambdasim

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// Lambda's documented limits that the emulator enforces (lambda-apis.md §1, §2).
const (
	// defaultInitTimeout is the on-demand Init budget (extension init +
	// runtime init + function init together).
	defaultInitTimeout = 10 * time.Second
	// shutdownBudget is the SHUTDOWN phase limit with at least one external
	// extension; processes still alive after it are SIGKILLed.
	shutdownBudget = 2000 * time.Millisecond
	// defaultFunctionTimeout is Lambda's default function timeout. It covers
	// the whole Invoke phase, extension post-processing included.
	defaultFunctionTimeout = 3 * time.Second
	// maxExtensions is Lambda's per-function extension limit.
	maxExtensions = 10
)

// Config describes the emulated function and its sandbox. Zero values pick
// Lambda's defaults.
type Config struct {
	// ExtensionsDir is scanned like /opt/extensions: every executable
	// regular file in it is started, in name order. ExtensionPaths lists
	// executables explicitly; both may be set.
	ExtensionsDir  string
	ExtensionPaths []string

	// Env is the function's environment (user variables). Extensions get it
	// minus the keys Lambda hides from them (§3); the runtime sees all.
	Env map[string]string

	FunctionName    string // default "lambdasim-function"
	FunctionVersion string // default "$LATEST"
	Handler         string // default "index.handler"
	MemoryMB        int    // default 128
	Region          string // default "us-east-1"
	AccountID       string // default "123456789012"
	InitType        string // AWS_LAMBDA_INITIALIZATION_TYPE, default "on-demand"

	FunctionTimeout time.Duration // default 3 s; covers runtime + extension post-processing
	InitTimeout     time.Duration // default 10 s

	// InitFunc, when set, is the function's static init code; it runs during
	// the runtime-init sub-phase after every extension has registered, with
	// the runtime's environment (AWS_LAMBDA_RUNTIME_API among it). An error
	// fails Init with Runtime.InitError.
	InitFunc func(ctx context.Context, env map[string]string) error

	// LogFormat is "text" (default) or "json": the Lambda log format that
	// decides the shape of `function` telemetry records (§5.6).
	LogFormat string

	// TelemetryUnsupported makes the Telemetry API behave like AWS's RIE and
	// SAM local: 202 Telemetry.NotSupported and nothing is ever delivered.
	TelemetryUnsupported bool

	// NoFreeze keeps the logical freeze (no telemetry deliveries while
	// frozen) but never SIGSTOPs the extension processes.
	NoFreeze bool

	// Stderr, when set, receives a copy of every line the extensions write
	// to stdout or stderr, prefixed with the extension name.
	Stderr io.Writer

	// Runtime, when set, is the command line of a real runtime process
	// (external runtime mode): it is started after every extension has
	// registered, with the runtime's environment, and speaks the Runtime
	// API (2018-06-01) at AWS_LAMBDA_RUNTIME_API; drive it with
	// InvokeEvent. With AWS_LAMBDA_EXEC_WRAPPER in Env it is started as
	// "wrapper runtime args...", as Lambda does. Its output becomes
	// `function` log events; it is frozen with the extensions and stopped
	// (SIGTERM, then SIGKILL) at shutdown. RuntimeDir is its working
	// directory (default: the caller's).
	Runtime    []string
	RuntimeDir string
}

func (c *Config) setDefaults() {
	def := func(p *string, v string) {
		if *p == "" {
			*p = v
		}
	}
	def(&c.FunctionName, "lambdasim-function")
	def(&c.FunctionVersion, "$LATEST")
	def(&c.Handler, "index.handler")
	def(&c.Region, "us-east-1")
	def(&c.AccountID, "123456789012")
	def(&c.InitType, "on-demand")
	def(&c.LogFormat, "text")
	if c.MemoryMB == 0 {
		c.MemoryMB = 128
	}
	if c.FunctionTimeout == 0 {
		c.FunctionTimeout = defaultFunctionTimeout
	}
	if c.InitTimeout == 0 {
		c.InitTimeout = defaultInitTimeout
	}
}

// Credentials are the fake execution-role credentials given to every
// process; tests search captured output for them to catch leaks.
type Credentials struct {
	AccessKeyID, SecretAccessKey, SessionToken string
}

// InitError is returned by Start when the Init phase fails the way Lambda
// would fail it (timeout, extension crash, init/error).
type InitError struct {
	ErrorType string // Extension.InitError, Extension.Crash, Sandbox.Timedout, Runtime.InitError
	Message   string
}

func (e *InitError) Error() string {
	return fmt.Sprintf("lambda init failed: %s: %s", e.ErrorType, e.Message)
}

// Errors returned by Invoke and Shutdown.
var (
	ErrClosed      = errors.New("lambdasim: closed")
	ErrSandboxGone = errors.New("lambdasim: sandbox was shut down or reset")
	ErrInitFailed  = errors.New("lambdasim: init failed")
)

// phase is where the sandbox is in its lifecycle.
type phase int

const (
	phaseInit phase = iota
	phaseIdle
	phaseInvoke
	phaseShutdown
	phaseDone
)

// Sim is a running emulated sandbox. All methods are safe for concurrent
// use; Invoke and Shutdown are serialised.
type Sim struct {
	cfg   Config
	base  time.Time // monotonic origin of every Record
	creds Credentials
	arn   string

	ln       net.Listener
	srv      *http.Server
	deliver  *http.Client // telemetry deliveries
	fnClient *http.Client // requests made by the function

	closing   chan struct{}
	life      context.Context // cancelled by Close; parent of every request the Sim makes
	endLife   context.CancelFunc
	closeOnce sync.Once
	wg        sync.WaitGroup // every goroutine the Sim starts

	opMu sync.Mutex // serialises Invoke and Shutdown

	mu       sync.Mutex
	changed  chan struct{} // closed and replaced on every state change
	phase    phase
	frozen   bool
	inflight int // telemetry POSTs under way; freeze waits for them
	procs    []*proc
	exts     map[string]*extension // by identifier
	extOrder []*extension
	subs     []*subscription
	backlog  []event // events of the Init phase, replayed to late subscribers
	timeline []Record
	initErr  *InitError
	initDur  time.Duration
	invokes  int
	cur      *invocation // the invoke in progress
	shutdown *ShutdownResult
	rt       rtState // the external runtime, when Config.Runtime is set
}

// Start launches the sandbox and runs the Init phase. It returns once every
// extension has called next (and the runtime is ready) and the sandbox is
// frozen. If Init fails as Lambda would fail it, Start returns the Sim
// together with an *InitError so the caller can read the Timeline and the
// extensions' output; the Sim must still be closed. For setup errors (bad
// config, listen failure) the Sim is nil.
func Start(ctx context.Context, cfg Config) (*Sim, error) {
	cfg.setDefaults()
	if cfg.LogFormat != "text" && cfg.LogFormat != "json" {
		return nil, fmt.Errorf("lambdasim: LogFormat %q: want \"text\" or \"json\"", cfg.LogFormat)
	}
	paths, err := extensionPaths(cfg)
	if err != nil {
		return nil, fmt.Errorf("lambdasim: find extensions: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("lambdasim: listen: %w", err)
	}
	s := &Sim{
		cfg:     cfg,
		base:    time.Now(),
		creds:   fakeCredentials(),
		arn:     fmt.Sprintf("arn:aws:lambda:%s:%s:function:%s", cfg.Region, cfg.AccountID, cfg.FunctionName),
		ln:      ln,
		closing: make(chan struct{}),
		changed: make(chan struct{}),
		exts:    map[string]*extension{},
		// Lambda's delivery timeout is not documented; 3 s bounds how long
		// a hung listener can hold up a freeze.
		deliver:  &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}, Timeout: 3 * time.Second},
		fnClient: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}},
	}
	s.life, s.endLife = context.WithCancel(context.Background())
	s.srv = &http.Server{Handler: s.mux(), ReadHeaderTimeout: 5 * time.Second}
	s.wg.Go(func() { _ = s.srv.Serve(ln) })

	s.mu.Lock()
	s.emitLocked(newEvent("platform.initStart", map[string]any{
		"initializationType": cfg.InitType,
		"phase":              "init",
		"runtimeVersion":     "lambdasim",
		"functionName":       cfg.FunctionName,
		"functionVersion":    cfg.FunctionVersion,
		"instanceMaxMemory":  cfg.MemoryMB,
	}))
	s.mu.Unlock()

	for _, p := range paths {
		if err := s.launch(p); err != nil {
			s.Close()
			return nil, fmt.Errorf("lambdasim: start extension %s: %w", p, err)
		}
	}
	if err := s.init(ctx); err != nil {
		return s, err
	}
	return s, nil
}

// Addr is the host:port of the emulated APIs (AWS_LAMBDA_RUNTIME_API).
func (s *Sim) Addr() string { return s.ln.Addr().String() }

// Credentials returns the fake credentials every process received.
func (s *Sim) Credentials() Credentials { return s.creds }

// InitDuration is how long the Init phase took (start of the sandbox until
// every extension and the runtime were in next).
func (s *Sim) InitDuration() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.initDur
}

// Close kills every process, stops the server and waits for every goroutine
// the Sim started. It is idempotent and safe after a failed Start.
func (s *Sim) Close() {
	s.closeOnce.Do(func() {
		close(s.closing)
		s.endLife()
		s.mu.Lock()
		procs := s.sandboxProcsLocked()
		s.mu.Unlock()
		for _, p := range procs {
			p.kill()
		}
		for _, p := range procs {
			<-p.done
		}
		_ = s.srv.Close()
		s.wg.Wait()
		s.deliver.CloseIdleConnections()
		s.fnClient.CloseIdleConnections()
	})
}

// notifyLocked wakes every waiter; s.mu must be held.
func (s *Sim) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

var errWaitTimeout = errors.New("lambdasim: timed out")

// waitUntil blocks until cond (called with s.mu held) is true, ctx is done,
// deadline passes (zero = none) or the Sim closes.
func (s *Sim) waitUntil(ctx context.Context, deadline time.Time, cond func() bool) error {
	var timer <-chan time.Time
	if !deadline.IsZero() {
		t := time.NewTimer(time.Until(deadline))
		defer t.Stop()
		timer = t.C
	}
	for {
		s.mu.Lock()
		ok := cond()
		ch := s.changed
		s.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		case <-timer:
			return errWaitTimeout
		case <-s.closing:
			return ErrClosed
		}
	}
}

func fakeCredentials() Credentials {
	r := func(n int) string {
		b := make([]byte, n)
		_, _ = rand.Read(b)
		return hex.EncodeToString(b)
	}
	return Credentials{
		AccessKeyID:     "ASIA" + "SIM" + r(7)[:13],
		SecretAccessKey: "simsecret/" + r(15),
		SessionToken:    "IQoJsimtoken" + r(48),
	}
}

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func randHex(n int) string {
	b := make([]byte, (n+1)/2)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)[:n]
}
