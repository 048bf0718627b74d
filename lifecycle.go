// lifecycle.go owns the Extensions API client and the invoke loop: bind the
// listeners, register, subscribe, then event/next until SHUTDOWN. It decides
// when to flush, so that nothing is left in memory when Lambda freezes the
// sandbox and, where the invocation rate allows, nothing is added to the
// function's billed time either.
//
// Invariants: no network I/O to the backend before the first next (cold
// start); every goroutine started here is waited for before run returns;
// every wait is bounded by the invocation's or SHUTDOWN's deadline.
package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// extClient speaks the Extensions API (lambda-apis.md §4).
type extClient struct {
	base string // http://<AWS_LAMBDA_RUNTIME_API>/2020-01-01/extension
	hc   *http.Client
	id   string // Lambda-Extension-Identifier from register
}

// nextEvent is the body of event/next, INVOKE and SHUTDOWN in one struct.
type nextEvent struct {
	EventType          string `json:"eventType"`
	DeadlineMs         int64  `json:"deadlineMs"`
	RequestID          string `json:"requestId"`
	InvokedFunctionArn string `json:"invokedFunctionArn"`
	Tracing            struct {
		Type  string `json:"type"`
		Value string `json:"value"`
	} `json:"tracing"`
	ShutdownReason string `json:"shutdownReason"`
}

type registerResponse struct {
	FunctionName    string `json:"functionName"`
	FunctionVersion string `json:"functionVersion"`
	Handler         string `json:"handler"`
	AccountID       string `json:"accountId"`
}

// decode fills ev from the JSON body of event/next as json.Unmarshal
// would: keys matched as struct fields are, unknown keys skipped.
func (ev *nextEvent) decode(body []byte) error {
	return jsonObject(body, func(k, v []byte) error {
		switch {
		case jsonKeyIs(k, "eventType"):
			return jsonSetString(v, &ev.EventType)
		case jsonKeyIs(k, "deadlineMs"):
			return jsonSetInt64(v, &ev.DeadlineMs)
		case jsonKeyIs(k, "requestId"):
			return jsonSetString(v, &ev.RequestID)
		case jsonKeyIs(k, "invokedFunctionArn"):
			return jsonSetString(v, &ev.InvokedFunctionArn)
		case jsonKeyIs(k, "shutdownReason"):
			return jsonSetString(v, &ev.ShutdownReason)
		case jsonKeyIs(k, "tracing"):
			return jsonObject(v, func(k, v []byte) error {
				switch {
				case jsonKeyIs(k, "type"):
					return jsonSetString(v, &ev.Tracing.Type)
				case jsonKeyIs(k, "value"):
					return jsonSetString(v, &ev.Tracing.Value)
				}
				return nil
			})
		}
		return nil
	})
}

// decode fills rr from the JSON body of register's answer.
func (rr *registerResponse) decode(body []byte) error {
	return jsonObject(body, func(k, v []byte) error {
		switch {
		case jsonKeyIs(k, "functionName"):
			return jsonSetString(v, &rr.FunctionName)
		case jsonKeyIs(k, "functionVersion"):
			return jsonSetString(v, &rr.FunctionVersion)
		case jsonKeyIs(k, "handler"):
			return jsonSetString(v, &rr.Handler)
		case jsonKeyIs(k, "accountId"):
			return jsonSetString(v, &rr.AccountID)
		}
		return nil
	})
}

func newExtClient(runtimeAPI string) *extClient {
	// No client timeout: event/next is a long poll that spans freezes
	// (lambda-apis.md §4.2).
	return &extClient{
		base: "http://" + runtimeAPI + "/2020-01-01/extension",
		hc:   &http.Client{Transport: &apiTransport{}},
	}
}

// apiDialTimeout makes a Runtime API that is gone fail fast instead of
// hanging init; on loopback a live one answers in microseconds.
const apiDialTimeout = 2 * time.Second

// apiTransport carries the Extensions and Telemetry API calls: HTTP/1.1 to
// the sandbox's own Runtime API over one kept-alive connection, written and
// read by the calling goroutine. net/http's Transport passes every request
// to two goroutines of the connection's own (and a first dial to a third):
// on a cold sandbox's one busy CPU every hand-off is a trip through the
// scheduler, and init is a chain of three calls (register, subscribe,
// next). The calls come one at a time, so one idle connection is the whole
// pool. It asks for no compression, uses no proxy and has no timeout of its
// own, as the Transport it replaces was configured; the request's context
// cancels it.
type apiTransport struct {
	mu   sync.Mutex
	idle *apiConn // a connection whose last response was read to its end
}

type apiConn struct {
	nc net.Conn
	br *bufio.Reader
}

// errNoResponse is a kept-alive connection that failed before the first
// byte of the answer: the server most likely closed it while it was idle.
type errNoResponse struct{ err error }

func (e errNoResponse) Error() string { return e.err.Error() }
func (e errNoResponse) Unwrap() error { return e.err }

func (t *apiTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme != "http" {
		closeBody(req)
		return nil, fmt.Errorf("unsupported protocol scheme %q", req.URL.Scheme)
	}
	ctx := req.Context()
	for {
		t.mu.Lock()
		c := t.idle
		t.idle = nil
		t.mu.Unlock()
		reused := c != nil
		if c == nil {
			port := req.URL.Port()
			if port == "" {
				port = "80"
			}
			d := net.Dialer{Timeout: apiDialTimeout}
			nc, err := d.DialContext(ctx, "tcp", net.JoinHostPort(req.URL.Hostname(), port))
			if err != nil {
				closeBody(req)
				return nil, err
			}
			c = &apiConn{nc: nc, br: bufio.NewReader(nc)}
		}
		resp, err := c.roundTrip(t, req)
		if err == nil {
			return resp, nil
		}
		c.nc.Close()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		// As net/http does: a request without a body that failed on a
		// kept-alive connection before any answer goes again, once, on a
		// new one. Anything else may have been acted on.
		var nr errNoResponse
		if !reused || !errors.As(err, &nr) || (req.Body != nil && req.Body != http.NoBody) ||
			(req.Method != http.MethodGet && req.Method != http.MethodHead) {
			return nil, err
		}
	}
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}

// roundTrip writes req and reads the answer's header. The body it returns
// puts the connection back as idle once read to its end.
func (c *apiConn) roundTrip(t *apiTransport, req *http.Request) (*http.Response, error) {
	// A cancelled context unblocks a read or write in progress.
	stop := context.AfterFunc(req.Context(), func() { c.nc.SetDeadline(time.Unix(1, 0)) })
	if err := req.Write(c.nc); err != nil {
		stop()
		return nil, err
	}
	if _, err := c.br.Peek(1); err != nil {
		stop()
		return nil, errNoResponse{err}
	}
	for {
		resp, err := http.ReadResponse(c.br, req)
		if err != nil {
			stop()
			return nil, err
		}
		if resp.StatusCode >= 200 || resp.StatusCode == http.StatusSwitchingProtocols {
			resp.Body = &apiBody{t: t, c: c, body: resp.Body, stop: stop, keep: !resp.Close}
			return resp, nil
		}
		// 1xx (100 Continue, 103 Early Hints): the answer follows.
		resp.Body.Close()
	}
}

// apiBody is an answer's body; at its end the connection is reusable.
type apiBody struct {
	t    *apiTransport
	c    *apiConn // nil once given back or closed
	body io.ReadCloser
	stop func() bool
	keep bool // the server keeps the connection open
}

func (b *apiBody) Read(p []byte) (int, error) {
	// Once given back, the body reads as its end (its framing is spent;
	// it no longer touches the connection) or as the connection's error.
	n, err := b.body.Read(p)
	if err != nil && b.c != nil {
		b.release(err == io.EOF)
	}
	return n, err
}

func (b *apiBody) Close() error {
	if b.c != nil {
		// Not read to its end: the rest would be read as the next answer.
		b.release(false)
	}
	return nil
}

func (b *apiBody) release(reusable bool) {
	c := b.c
	b.c = nil
	// stop reports false when the context's deadline is already set on
	// the connection: it is spent.
	if b.stop() && reusable && b.keep {
		b.t.mu.Lock()
		if b.t.idle == nil {
			b.t.idle, c = c, nil
		}
		b.t.mu.Unlock()
	}
	if c != nil {
		c.nc.Close()
	}
}

// apiTimeout bounds the calls that Lambda answers at once (register, the
// error reports): one that takes longer means the Runtime API is gone, and
// init has only 10 s in all.
const apiTimeout = 5 * time.Second

// bodyGate holds a request's body back until the caller opens it.
type bodyGate struct {
	open  chan struct{} // closed by the caller: the body may go
	taken chan struct{} // closed once the body has gone to the connection
}

func newBodyGate() *bodyGate {
	return &bodyGate{open: make(chan struct{}), taken: make(chan struct{})}
}

// register registers the extension as name. With a gate, the connection
// and the headers go out at once and the body, without which Lambda cannot
// act on the request, only once the gate opens: the caller overlaps the
// round trip with work that must be done before Lambda may start the
// runtime. A nil gate sends everything at once.
func (c *extClient) register(ctx context.Context, name string, gate *bodyGate) (registerResponse, error) {
	var rr registerResponse
	ctx, cancel := context.WithTimeout(ctx, apiTimeout)
	defer cancel()
	var body io.Reader = strings.NewReader(registerBody)
	if gate != nil {
		body = &heldReader{gate: gate, done: ctx.Done(), r: body}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/register", body)
	if err != nil {
		return rr, fmt.Errorf("register: %w", err)
	}
	// Known, so no chunked encoding; and a body that is not in memory has
	// its headers flushed before it is read.
	req.ContentLength = int64(len(registerBody))
	req.Header.Set("Lambda-Extension-Name", name)
	req.Header.Set("Lambda-Extension-Accept-Feature", "accountId")
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.hc.Do(req)
	if err != nil {
		return rr, fmt.Errorf("register: %w", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		return rr, fmt.Errorf("register: %s: %s", resp.Status, apiErrorText(b))
	}
	c.id = resp.Header.Get("Lambda-Extension-Identifier")
	if c.id == "" {
		return rr, errors.New("register: no Lambda-Extension-Identifier in the answer")
	}
	if err := rr.decode(b); err != nil {
		return rr, fmt.Errorf("register: decoding the answer: %w", err)
	}
	return rr, nil
}

// registerBody subscribes to both events an external extension can have.
const registerBody = `{"events":["INVOKE","SHUTDOWN"]}`

// heldReader reads r once its gate is open. done (the request's context)
// unblocks it with an error, so a gate never opened cannot leave the
// request's writer stuck.
type heldReader struct {
	gate *bodyGate
	done <-chan struct{}
	r    io.Reader
}

func (h *heldReader) Read(p []byte) (int, error) {
	if h.gate != nil {
		select {
		case <-h.gate.open:
			close(h.gate.taken)
			h.gate = nil
		case <-h.done:
			return 0, errors.New("request body held back: request cancelled")
		}
	}
	return h.r.Read(p)
}

// next blocks until the next event. It carries no timeout of its own: the
// process may be frozen while it waits.
func (c *extClient) next(ctx context.Context) (nextEvent, error) {
	var ev nextEvent
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/event/next", nil)
	if err != nil {
		return ev, fmt.Errorf("event/next: %w", err)
	}
	req.Header.Set("Lambda-Extension-Identifier", c.id)
	resp, err := c.hc.Do(req)
	if err != nil {
		return ev, fmt.Errorf("event/next: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return ev, fmt.Errorf("event/next: %s: %s", resp.Status, apiErrorText(body))
	}
	if err := ev.decode(body); err != nil {
		return ev, fmt.Errorf("event/next: decoding the event: %w", err)
	}
	return ev, nil
}

// reportError posts to init/error or exit/error. errType is a short
// Category.Reason, never free text (Lambda shows it as the error type).
func (c *extClient) reportError(ctx context.Context, which, errType, msg string) error {
	ctx, cancel := context.WithTimeout(ctx, apiTimeout)
	defer cancel()
	body := appendJSONQuote([]byte(`{"errorMessage":`), msg)
	body = appendJSONQuote(append(body, `,"errorType":`...), errType)
	body = append(body, '}')
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/"+which+"/error", strings.NewReader(string(body)))
	if err != nil {
		return fmt.Errorf("%s/error: %w", which, err)
	}
	req.Header.Set("Lambda-Extension-Identifier", c.id)
	req.Header.Set("Lambda-Extension-Function-Error-Type", errType)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("%s/error: %w", which, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s/error: %s: %s", which, resp.Status, apiErrorText(b))
	}
	return nil
}

// apiErrorText renders a Lambda API error body ({"errorType","errorMessage"})
// or the start of whatever else came back.
func apiErrorText(body []byte) string {
	var typ, msg string
	err := jsonObject(body, func(k, v []byte) error {
		switch {
		case jsonKeyIs(k, "errorType"):
			return jsonSetString(v, &typ)
		case jsonKeyIs(k, "errorMessage"):
			return jsonSetString(v, &msg)
		}
		return nil
	})
	if err == nil && (typ != "" || msg != "") {
		return strings.TrimSpace(typ + " " + msg)
	}
	if len(body) > 200 {
		body = body[:200]
	}
	return strings.TrimSpace(string(body))
}

// startError is a failure before the first next, with the Category.Reason
// Lambda records for it.
type startError struct {
	errType string
	err     error
}

func (e *startError) Error() string { return e.err.Error() }
func (e *startError) Unwrap() error { return e.err }

// extension is the running process: its listeners, pipeline and the state
// of the flush decision.
type extension struct {
	cfg   *Config
	lg    *logger
	api   *extClient
	res   *resource
	st    *stats
	ring  *ring
	exp   *exporter
	tel   *telemetry
	o2    *o2Exporter // Telemetry API logs to OpenObserve's _json; nil when off
	telOK bool        // the Telemetry API delivers (not a local emulator's 202)

	servers      []*http.Server
	wg           sync.WaitGroup     // serving goroutines and the background flusher
	bgCtx        context.Context    // parent of background flushes
	shuttingDown atomic.Bool        // SHUTDOWN began: the final flush owns exporting
	stopBG       context.CancelFunc // stops the background flusher and cancels its export

	flushMu sync.Mutex // one export at a time
	sched   scheduler

	lastNext time.Time // when we last called next: the start of a freeze

	// The receiver's enricher follows the resource (learnResource): the
	// attributes it was built from, and the wrapper's handoff file.
	rc           *receiver
	handoff      string
	resMu        sync.Mutex // guards the two below
	enrichAttrs  []encodedKV
	handoffTries int

	// Runtime API proxy (proxy.go); nil when off or its port was taken.
	proxy    *runtimeProxy
	proxySrv *http.Server
	marker   string // proxy.ready, removed at exit
}

// listeners are bound before register is joined, so the function's SDK and
// the Telemetry API never race them (DESIGN.md decision 6).
type listeners struct {
	otlp, grpc, tel net.Listener
	telURI          string
	proxy           net.Listener // Runtime API proxy; nil when off or its port is taken
	marker          string       // the proxy's proxy.ready
}

func (l *listeners) close() {
	for _, ln := range []net.Listener{l.otlp, l.grpc, l.tel, l.proxy} {
		if ln != nil {
			ln.Close()
		}
	}
	if l.proxy != nil {
		os.Remove(l.marker)
	}
}

// bind binds the OTLP/HTTP, OTLP/gRPC and Telemetry API listeners. A port
// in use is an error that names the port and the variable to change. What
// was bound before an error stays in l for close.
func (l *listeners) bind(cfg *Config, runtimeAPI string) error {
	var err error
	if l.otlp, err = listen(cfg.Receiver.Host, cfg.Receiver.Port, "OTLP/HTTP receiver", "OTEL_LAMBDA_RECEIVER_PORT"); err != nil {
		return err
	}
	if cfg.Receiver.GRPCPort != 0 {
		if l.grpc, err = listen(cfg.Receiver.Host, cfg.Receiver.GRPCPort, "OTLP/gRPC receiver", "OTEL_LAMBDA_GRPC_PORT"); err != nil {
			return err
		}
	}
	// Lambda delivers to sandbox.localdomain, which resolves to the
	// sandbox's own address (lambda-apis.md §5.2). A Runtime API on
	// loopback means an emulator, where that name does not exist.
	host := "sandbox.localdomain"
	if h, _, _ := net.SplitHostPort(runtimeAPI); isLoopbackHost(h) {
		host = "127.0.0.1"
	}
	ln, err := listenTCP(net.JoinHostPort(host, "0"))
	if err != nil {
		return &startError{"Extension.ListenerFailed", fmt.Errorf("telemetry listener on %s: %w", host, err)}
	}
	l.tel = ln
	port := ln.Addr().(*net.TCPAddr).Port
	l.telURI = "http://" + net.JoinHostPort(host, strconv.Itoa(port)) + "/"
	return nil
}

// listenTCP listens on a plain TCP socket. Go listens with Multipath TCP
// where the kernel has it; its first probe for it (and for IPv6) costs a
// handful of syscalls on the cold-start path, and our peers are on the
// same host (loopback, or the sandbox's own address), where a second path
// is of no use.
func listenTCP(addr string) (net.Listener, error) {
	var lc net.ListenConfig
	lc.SetMultipathTCP(false)
	return lc.Listen(context.Background(), "tcp", addr)
}

func listen(host string, port int, what, variable string) (net.Listener, error) {
	addr := net.JoinHostPort(host, strconv.Itoa(port))
	ln, err := listenTCP(addr)
	if err == nil {
		return ln, nil
	}
	if errors.Is(err, syscall.EADDRINUSE) {
		return nil, &startError{"Extension.PortInUse", fmt.Errorf(
			"%s: port %d on %s is already in use (another extension or process?): set %s to a free port", what, port, host, variable)}
	}
	return nil, &startError{"Extension.ListenerFailed", fmt.Errorf("%s on %s: %w", what, addr, err)}
}

// runExtension is the extension proper, once we know we are inside Lambda.
//
// Init is laid out for cold start (issue 7: process start to the first
// next), for one CPU: a goroutine here runs when another waits, so the
// work is put where the process would otherwise wait on Lambda. The
// register round trip needs nothing but the extension's name, so it starts
// first; the configuration, the listeners and the pipeline are built while
// it is in flight. Subscribe follows register's answer in the same
// goroutine, and the servers start while it is in flight. A failure before
// register answers is reported to init/error once it has, with the same
// type and message as when these steps ran one after another.
//
// watchSignals makes SIGINT and SIGTERM cancel ctx (a clean exit with a
// final flush); it is called once init is done, as its first use costs a
// thread (main.go, signalWatch).
func runExtension(ctx context.Context, runtimeAPI string, getenv func(string) string, stderr io.Writer, watchSignals func()) int {
	t0 := time.Now()
	lg := newLogger(stderr, levelInfo)
	api := newExtClient(runtimeAPI)
	name := extensionName
	if len(os.Args) > 0 && os.Args[0] != "" {
		// Lambda matches the registered name against the file name in
		// /opt/extensions (lambda-apis.md §2).
		name = baseName(os.Args[0])
	}

	// Lambda starts the runtime the moment the last extension's register is
	// accepted, and the otel-instrument wrapper reads the proxy's marker
	// first thing in the runtime's process: a marker not written yet costs
	// the proxy for the sandbox's life, a stale one (from an earlier process:
	// /tmp survives resets) sends the runtime to a port nobody serves. So
	// register's body waits behind a gate that opens once the marker is
	// settled: written, removed, or not ours to touch.
	gate := newBodyGate()
	type registered struct {
		rr  registerResponse
		err error
		at  time.Duration // since t0
	}
	type subscribed struct {
		ok  bool
		err error
	}
	regc := make(chan registered, 1)
	built := make(chan *extension, 1) // nil: init failed, no subscribe
	subc := make(chan subscribed, 1)
	var wg sync.WaitGroup
	defer wg.Wait()
	var telURI string // set before built is sent
	wg.Go(func() {
		rr, err := api.register(ctx, name, gate)
		regc <- registered{rr, err, time.Since(t0)}
		if err != nil {
			return
		}
		// Subscribe needs register's identifier and the bound listener; it
		// goes out as soon as both are there, and is joined before next
		// (Lambda takes subscriptions only during init).
		x := <-built
		if x == nil {
			return
		}
		sctx, cancel := context.WithTimeout(ctx, apiTimeout)
		defer cancel()
		ok, err := x.tel.subscribe(sctx, api.hc, runtimeAPI, api.id, telURI)
		subc <- subscribed{ok, err}
	})

	cfg, cfgErr := loadConfig(getenv, os.ReadFile)
	if cfgErr == nil {
		lg.level = cfg.LogLevel
		setMemoryLimit(&cfg, getenv)
	}
	tConfig := time.Since(t0)

	// The Runtime API proxy is optional: a failure costs the Telemetry
	// API's delay, not init.
	ls := &listeners{}
	var proxyErr error
	if cfgErr == nil && cfg.Receiver.RuntimeProxyPort != 0 {
		ls.marker = proxyMarkerPath(getenv)
		ls.proxy, proxyErr = listenRuntimeProxy(cfg.Receiver.RuntimeProxyPort, ls.marker)
	}
	tMarker := time.Since(t0)
	close(gate.open)
	// Wait for the body to be on its way before binding the rest: on one
	// CPU the register goroutine would otherwise run only after it.
	var reg registered
	regEarly := false
	select {
	case <-gate.taken:
	case reg = <-regc: // failed before sending its body
		regEarly = true
	}
	tSent := time.Since(t0)

	// The receivers and the Telemetry listener are bound before register
	// is joined below, so before the runtime can have started (Lambda starts
	// it once register is accepted; it then has its own process and its
	// SDK's to start) and before subscribe: nothing ever finds them closed
	// (DESIGN.md decision 6). A bound listener queues connections until its
	// server starts.
	var bindErr error
	if cfgErr == nil {
		bindErr = ls.bind(&cfg, runtimeAPI)
	}
	tBind := time.Since(t0)

	// The pipeline is built during register too; it starts nothing.
	var x *extension
	var xErr error
	if cfgErr == nil && bindErr == nil {
		x, xErr = newExtension(&cfg, lg, api, getenv)
	}
	tBuild := time.Since(t0)
	if x != nil && xErr == nil {
		telURI = ls.telURI
		built <- x
	} else {
		built <- nil
	}

	if !regEarly {
		reg = <-regc
	}
	if reg.err != nil {
		lg.errorf("cannot register with the Extensions API at %s: %v; exiting", runtimeAPI, reg.err)
		ls.close()
		return 1
	}

	// From here on a failure is reported to init/error, so Lambda records
	// why the extension did not start.
	fail := func(errType string, err error) int {
		lg.errorf("%v", err)
		if rerr := api.reportError(ctx, "init", errType, err.Error()); rerr != nil {
			lg.errorf("reporting the init error: %v", rerr)
		}
		ls.close()
		return 1
	}
	switch {
	case cfgErr != nil:
		return fail(configErrorType(cfgErr), fmt.Errorf("Configuration error: %w", cfgErr))
	case bindErr != nil:
		var se *startError
		if errors.As(bindErr, &se) {
			return fail(se.errType, se)
		}
		return fail("Extension.ListenerFailed", bindErr)
	case xErr != nil:
		return fail("Extension.ConfigInvalid", xErr)
	}

	// While subscribe is in flight.
	if reg.rr.AccountID != "" {
		x.res.setAccountID(reg.rr.AccountID)
	}
	lg.infof("Extension registered successfully: %s (function %s, version %s)", name, reg.rr.FunctionName, reg.rr.FunctionVersion)
	if !isLoopbackHost(cfg.Receiver.Host) || cfg.Receiver.Host == "0.0.0.0" || cfg.Receiver.Host == "::" {
		// The receivers are unauthenticated: anything that can reach them
		// can write telemetry under this function's name.
		lg.warnf("the OTLP receivers listen on %s, not loopback: anything that can reach this address can send telemetry as this function (set by OTEL_LAMBDA_RECEIVER_HOST)", cfg.Receiver.Host)
	}
	x.logDestinations()
	if proxyErr != nil {
		lg.warnf("%v; the end flush strategy waits for the Telemetry API instead", proxyErr)
	}
	if ls.proxy != nil {
		x.proxy, x.marker = newRuntimeProxy(runtimeAPI, lg), ls.marker
	}
	x.serve(ls)
	sub := <-subc
	switch {
	case sub.err != nil:
		x.stop()
		return fail("Extension.TelemetrySubscribeFailed", fmt.Errorf("telemetry subscribe: %w", sub.err))
	case !sub.ok:
		// subscribe has said so, once.
	default:
		x.telOK = true
		lg.infof("Successfully subscribed to Telemetry API on %s", ls.telURI)
	}
	// register is its whole round trip from the start and subscribe runs
	// from its answer to just before next: the two add up to init. config,
	// listeners (the proxy's before register's body goes, the others after)
	// and pipeline run while register is in flight. The bench harness
	// (tools/bench/harness/coldstart.go) parses this line.
	lg.debugf("init phases: config %v, listeners %v, register %v, subscribe %v, pipeline %v (config, listeners and pipeline overlap register)",
		tConfig, tMarker-tConfig+tBind-tSent, reg.at, time.Since(t0)-reg.at, tBuild-tBind)

	// It runs while the first next waits.
	watchSignals()
	code := x.loop(ctx)
	x.stop()
	return code
}

func baseName(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[i+1:]
	}
	return p
}

func newExtension(cfg *Config, lg *logger, api *extClient, getenv func(string) string) (*extension, error) {
	x := &extension{cfg: cfg, lg: lg, api: api}
	x.res = detectResource(cfg, getenv)
	x.handoff = handoffPath(getenv)
	x.st = &stats{}
	x.ring = newRing(cfg, x.st, lg)
	exp, err := newExporter(cfg, x.ring, x.st, lg)
	if err != nil {
		return nil, err
	}
	x.exp = exp
	if cfg.O2.Enabled {
		x.o2 = newO2Exporter(cfg, lg)
	}
	// The Telemetry API is also how the extension learns that an
	// invocation is done (platform.runtimeDone), so it subscribes to
	// platform events even when their data is switched off, and drops it.
	tcfg, sink := cfg, x.ring.push
	if !cfg.Telemetry.Enabled {
		c := *cfg
		c.Telemetry.Types = []string{"platform"}
		c.Telemetry.PlatformLogs, c.Telemetry.PlatformSpans, c.Telemetry.PlatformMetrics = false, false, false
		tcfg, sink = &c, func(signal, []byte, int) {}
	}
	x.tel = newTelemetry(tcfg, x.res, sink, lg)
	if x.o2 != nil && cfg.Telemetry.Enabled {
		x.tel.raw = x.o2.add
	}
	x.sched = scheduler{strategy: cfg.Flush.Strategy}
	return x, nil
}

// serve starts the HTTP servers on the bound listeners and the background
// flusher. stop waits for all of them.
func (x *extension) serve(ls *listeners) {
	x.enrichAttrs = x.res.attrs()
	rc := newReceiver(x.cfg.Receiver.MaxBodyBytes, newEnricher(x.enrichAttrs), x.ring.pushFill, x.lg)
	rc.beforeFirst = x.learnResource
	x.rc = rc
	quiet := log.New(io.Discard, "", 0)
	start := func(ln net.Listener, h http.Handler, h2c bool) {
		srv := &http.Server{
			Handler: h,
			// A client that trickles bytes must not hold a goroutine forever.
			ReadHeaderTimeout: 5 * time.Second,
			ReadTimeout:       30 * time.Second,
			IdleTimeout:       5 * time.Minute,
			// net/http's own per-connection errors would come back to us as
			// extension log events; they are not worth a line each.
			ErrorLog: quiet,
		}
		if h2c {
			srv.Protocols = new(http.Protocols)
			srv.Protocols.SetHTTP1(true)
			srv.Protocols.SetUnencryptedHTTP2(true)
		}
		x.servers = append(x.servers, srv)
		x.wg.Add(1)
		go func() {
			defer x.wg.Done()
			srv.Serve(ln)
		}()
	}
	start(ls.otlp, rc.routes(), false)
	if ls.grpc != nil {
		start(ls.grpc, newGRPCHandler(rc.ingest, x.cfg.Receiver.MaxBodyBytes, x.lg), true)
	}
	start(ls.tel, x.tel, false)
	if x.proxy != nil {
		x.proxySrv = x.proxy.server()
		x.wg.Add(1)
		go func() {
			defer x.wg.Done()
			x.proxySrv.Serve(ls.proxy)
		}()
	}
	x.lg.debugf("OTLP/HTTP receiver on %s", ls.otlp.Addr())

	bgCtx, cancel := context.WithCancel(context.Background())
	x.bgCtx, x.stopBG = bgCtx, cancel
	x.wg.Add(1)
	go func() {
		defer x.wg.Done()
		x.backgroundFlusher(bgCtx)
	}()
}

// stop closes the servers and waits for every goroutine started by serve.
func (x *extension) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	for _, s := range x.servers {
		if s.Shutdown(ctx) != nil {
			s.Close()
		}
	}
	if x.proxySrv != nil {
		// Not Shutdown: the runtime's next is a long poll that would hold
		// it for the whole grace period.
		x.proxySrv.Close()
		x.proxy.closeIdle()
		os.Remove(x.marker)
	}
	if x.stopBG != nil {
		x.stopBG()
	}
	x.wg.Wait()
}

func (x *extension) logDestinations() {
	for s := range numSignals {
		t := x.cfg.Export[s]
		if t.Endpoint == "" {
			continue
		}
		x.lg.infof("exporting %s to %s (%s, compression %s)", s, redactURL(t.Endpoint), t.Protocol, t.Compression)
	}
	if x.cfg.O2.Enabled {
		x.lg.infof("Telemetry API logs go to OpenObserve %s, organization %s, stream %s", redactURL(x.cfg.O2.Endpoint), x.cfg.O2.OrgID, x.cfg.O2.Stream)
	}
	x.lg.infof("flush strategy %s", x.cfg.Flush.Strategy)
}

// staleAfter is how long a freeze may last before the exporter's keep-alive
// connections are presumed dead: load balancers and backends close idle
// connections after tens of seconds, and the first export after a thaw
// should not be the one to find out.
const staleAfter = 30 * time.Second

// loop calls event/next until SHUTDOWN or a fatal error.
func (x *extension) loop(ctx context.Context) int {
	backoff := 0
	for {
		x.lastNext = time.Now()
		ev, err := x.api.next(ctx)
		if err != nil {
			if ctx.Err() != nil {
				x.lg.infof("stopping: %v", context.Cause(ctx))
				x.stopBG()
				x.finalFlush(time.Now().Add(500*time.Millisecond), "signal")
				return 0
			}
			// A Runtime API that refuses or disappears is fatal: report it
			// (best effort) and exit rather than spin. One retry covers a
			// connection dropped across a freeze.
			if backoff == 0 && isTransient(err) {
				backoff++
				x.lg.warnf("event/next failed, retrying once: %v", err)
				select {
				case <-time.After(100 * time.Millisecond):
				case <-ctx.Done():
				}
				continue
			}
			x.lg.errorf("the Extensions API failed: %v; exiting", err)
			x.api.reportError(context.Background(), "exit", "Extension.NextFailed", err.Error())
			x.stopBG()
			x.finalFlush(time.Now().Add(500*time.Millisecond), "fatal")
			return 1
		}
		backoff = 0
		switch strings.ToUpper(ev.EventType) {
		case "INVOKE":
			x.onInvoke(ctx, ev)
		case "SHUTDOWN":
			return x.onShutdown(ev)
		default:
			x.lg.warnf("ignoring unknown event type %q", ev.EventType)
		}
	}
}

func isTransient(err error) bool {
	var ne net.Error
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) ||
		(errors.As(err, &ne) && ne.Timeout())
}

// learnResource takes the wrapper's log names and gives the receiver a new
// enricher whenever the resource changed (those, or an account id learned
// from an INVOKE's ARN). It runs before the receiver enriches its first
// request and at every INVOKE. The wrapper writes the handoff file in the
// runtime's process before the function's code runs, so it is there by the
// function's first request and by the first INVOKE; the file is read at
// most twice, in case the first request came from elsewhere before the
// runtime started. Requests already queued keep their attributes.
func (x *extension) learnResource() {
	x.resMu.Lock()
	defer x.resMu.Unlock()
	if x.handoffTries < 2 {
		x.handoffTries++
		group, stream, err := readHandoff(x.handoff)
		switch {
		case err != nil:
			x.handoffTries = 2
			x.lg.warnf("%v; faas.instance and aws.log.* are left out", err)
		case group != "" || stream != "":
			x.handoffTries = 2
			x.res.setLogNames(group, stream)
			x.lg.debugf("handoff file %s: log group %q, log stream %q", x.handoff, group, stream)
		}
	}
	if x.rc == nil {
		return
	}
	if attrs := x.res.attrs(); !sameKVs(attrs, x.enrichAttrs) {
		x.enrichAttrs = attrs
		x.rc.enrich.Store(newEnricher(attrs))
	}
}

// sameKVs reports whether a and b are the same snapshot of the resource
// (resource.build makes a new slice for every change).
func sameKVs(a, b []encodedKV) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}

// onInvoke handles one INVOKE: it returns when the extension may call next.
func (x *extension) onInvoke(ctx context.Context, ev nextEvent) {
	now := time.Now()
	deadline := time.UnixMilli(ev.DeadlineMs)
	// This also takes the account id from the ARN when register had none.
	x.tel.invokeStarted(ev.RequestID, ev.InvokedFunctionArn, ev.Tracing.Value, deadline)
	x.learnResource()
	if !x.lastNext.IsZero() && now.Sub(x.lastNext) > staleAfter {
		x.exp.closeIdle()
		x.o2.closeIdle()
	}

	plan := x.sched.plan(now, x.ring.bytes() >= x.cfg.Buffer.MaxBytes/2)
	// The proxy (proxy.go) knows when the runtime is done once the runtime
	// uses it; then neither runtimeDone nor its delay is needed.
	var proxyDone <-chan struct{}
	if x.proxy != nil && x.proxy.active() {
		proxyDone = x.proxy.done(ev.RequestID)
	}
	if plan == planEnd && !x.telOK && proxyDone == nil {
		// Without runtimeDone the end of the invocation cannot be known:
		// holding next would hold the function to its deadline. Export
		// alongside the function now; this invocation's data goes at the
		// next event.
		plan = planAsync
	}
	x.lg.debugf("invoke %s: plan %s", ev.RequestID, plan)
	switch plan {
	case planAsync:
		// Export what earlier invocations left while this one runs: the
		// function got its event at the same time, so the export overlaps
		// its work and costs nothing unless it outlasts it. next waits for
		// it, so no export is ever in flight when the sandbox freezes (an
		// answer stuck in a frozen socket past the deadline would make the
		// batch go out twice).
		end := time.Now().Add(x.cfg.Flush.Timeout)
		if d := deadline.Add(-deadlineMargin); d.Before(end) {
			end = d
		}
		x.flush(end, "start of invocation")
	case planEnd:
		// Wait until the runtime is done with this request, so its last
		// spans and log lines are in the buffer, then export before the
		// sandbox freezes.
		select {
		case <-x.tel.runtimeDone(ev.RequestID):
		case <-proxyDone:
		case <-time.After(time.Until(deadline)):
			x.lg.warnf("invoke %s: no runtimeDone before the deadline", ev.RequestID)
			return
		case <-ctx.Done():
			return
		}
		end := time.Now().Add(x.cfg.Flush.Timeout)
		if d := deadline.Add(-deadlineMargin); d.Before(end) {
			end = d
		}
		x.flush(end, "end of invocation")
	}
}

// deadlineMargin is left between our last export and a deadline, so that
// calling next (or exiting) still happens in time.
const deadlineMargin = 50 * time.Millisecond

// onShutdown exports everything left before the deadline and exits 0.
func (x *extension) onShutdown(ev nextEvent) int {
	deadline := time.UnixMilli(ev.DeadlineMs)
	x.lg.infof("Starting shutdown sequence with %.1fs deadline (reason %s)", time.Until(deadline).Seconds(), ev.ShutdownReason)
	// No new background export from now on. One in flight gets half the
	// budget to finish: cancelling it at once could cut it off after the
	// backend accepted the batch, and the final flush would send it again.
	// Past that it is cancelled (what it had not sent is requeued), so the
	// final flush never waits behind it past the deadline.
	x.shuttingDown.Store(true)
	stop := time.AfterFunc(time.Until(deadline.Add(-shutdownMargin))/2, x.stopBG)
	defer stop.Stop()
	x.tel.shutdown(strings.ToLower(ev.ShutdownReason))
	if x.telOK {
		// The last invocation's platform.report is produced only now that
		// every extension called next; give the Telemetry API one buffering
		// period (plus delivery) to bring it.
		wait := time.Duration(x.cfg.Telemetry.TimeoutMs)*time.Millisecond + 25*time.Millisecond
		if rem := time.Until(deadline) / 4; wait > rem {
			wait = rem
		}
		t := time.NewTimer(wait)
		<-t.C
	}
	x.finalFlush(deadline.Add(-shutdownMargin), "shutdown")
	return 0
}

// shutdownMargin leaves time after the final export to close the servers
// and exit before Lambda's SIGKILL at the deadline.
const shutdownMargin = 150 * time.Millisecond

func (x *extension) finalFlush(end time.Time, why string) {
	res := x.flush(end, why)
	switch {
	case !x.ring.empty() || !x.o2.empty():
		// What is still buffered dies with the process: count it as
		// dropped so the summary below accounts for every record received.
		lost := x.o2.len()
		for s := range numSignals {
			n := x.ring.records(s)
			x.st.sig[s].dropped.add(n, 0)
			lost += n
		}
		x.lg.warnf("Final flush incomplete: %d records still buffered are lost", lost)
	case res.dropped > 0:
		x.lg.warnf("Final flush completed, %d records dropped", res.dropped)
	default:
		x.lg.infof("Final flush completed successfully")
	}
	x.lg.infof("%s", x.st.summary())
	if x.o2 != nil {
		x.lg.infof("%s", x.o2.summary())
	}
}

// flush exports what is buffered, until done or end.
func (x *extension) flush(end time.Time, why string) flushResult {
	return x.flushCtx(context.Background(), end, why)
}

// flushCtx is flush under a parent context: background flushes run under
// one that SHUTDOWN cancels, so the final flush never queues behind them.
func (x *extension) flushCtx(parent context.Context, end time.Time, why string) flushResult {
	x.flushMu.Lock()
	defer x.flushMu.Unlock()
	ctx, cancel := context.WithDeadline(parent, end)
	defer cancel()
	t := time.Now()
	var o2res flushResult
	var wg sync.WaitGroup
	if x.o2 != nil {
		wg.Go(func() { o2res = x.o2.flush(ctx) }) // in parallel with the OTLP signals
	}
	res := x.exp.flush(ctx)
	wg.Wait()
	res.add(o2res)
	x.sched.exported(time.Now())
	x.lg.debugf("flush (%s) took %v: %s", why, time.Since(t), res)
	return res
}

// backgroundFlusher exports off the function's path: when the buffer
// crosses its high-water mark, and on the continuous strategy's period (or,
// for adaptive, O2_FLUSH_INTERVAL_MS) during long invocations. It runs only while the sandbox
// is thawed, which is exactly when exporting is possible.
func (x *extension) backgroundFlusher(ctx context.Context) {
	var tick <-chan time.Time
	if iv := x.sched.backgroundInterval(x.cfg); iv > 0 {
		t := time.NewTicker(iv)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-x.ring.highWater():
		case <-tick:
		}
		if (x.ring.empty() && x.o2.empty()) || x.shuttingDown.Load() {
			continue
		}
		timeout := x.cfg.Flush.Timeout
		if timeout <= 0 {
			timeout = 5 * time.Second
		}
		x.flushCtx(ctx, time.Now().Add(timeout), "background")
	}
}

// flushPlan is what an INVOKE does about exporting.
type flushPlan int

const (
	planEnd   flushPlan = iota // wait for runtimeDone, export, then next
	planSkip                   // call next at once: nothing is due
	planAsync                  // export while the function runs, next when done; no wait for the end
)

func (p flushPlan) String() string {
	return [...]string{"end", "skip", "async"}[p]
}

// The adaptive strategy's numbers. Seed 002 calls a function with ten or
// more invocations a minute "high frequency": at that rate the next
// invocation comes within seconds, so exporting at its start (off the
// function's path) delays data by one gap at most, instead of adding the
// export to every invocation's billed time.
const (
	adaptiveWarmup   = 20              // invocations seen before the rate is trusted
	adaptiveFrequent = 6 * time.Second // median gap at or under which exports move off the path
	adaptivePause    = time.Minute     // a gap longer than this falls back to end for one invocation
)

// scheduler decides per invocation when to export, from the strategy and
// the history of invocation starts. Only the lifecycle goroutine calls plan;
// exported is called under flushMu, hence the mutex.
type scheduler struct {
	strategy flushStrategy

	starts [adaptiveWarmup]time.Time // ring of the last invocation starts
	n      int                       // invocations seen

	mu         sync.Mutex
	lastExport time.Time
}

func (s *scheduler) exported(t time.Time) {
	s.mu.Lock()
	s.lastExport = t
	s.mu.Unlock()
}

func (s *scheduler) sinceExport(now time.Time) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lastExport.IsZero() {
		return time.Duration(1<<63 - 1)
	}
	return now.Sub(s.lastExport)
}

// plan records an invocation starting at now and returns what to do.
// pressure says the buffer is past its high-water mark.
func (s *scheduler) plan(now time.Time, pressure bool) flushPlan {
	var prev time.Time
	if s.n > 0 {
		prev = s.starts[(s.n-1)%adaptiveWarmup]
	}
	s.starts[s.n%adaptiveWarmup] = now
	s.n++

	switch s.strategy.Mode {
	case flushEnd, flushPeriodically:
		if s.strategy.Interval > 0 && s.sinceExport(now) < s.strategy.Interval && !pressure {
			return planSkip
		}
		return planEnd
	case flushContinuously:
		return planSkip // the background ticker exports
	}
	// adaptive
	if s.n <= adaptiveWarmup || pressure || now.Sub(prev) > adaptivePause {
		return planEnd
	}
	if s.medianGap() <= adaptiveFrequent {
		return planAsync
	}
	return planEnd
}

// medianGap is the median time between the last adaptiveWarmup starts.
func (s *scheduler) medianGap() time.Duration {
	var gaps [adaptiveWarmup - 1]time.Duration
	ts := make([]time.Time, 0, adaptiveWarmup)
	for i := range adaptiveWarmup {
		ts = append(ts, s.starts[(s.n+i)%adaptiveWarmup])
	}
	for i := 1; i < len(ts); i++ {
		gaps[i-1] = ts[i].Sub(ts[i-1])
	}
	g := gaps[:]
	slices.Sort(g)
	return g[len(g)/2]
}

// backgroundInterval is the period of the background flusher: the
// continuous strategy's, or for adaptive the OpenObserve flush interval, so
// a long invocation still exports while it runs.
func (s *scheduler) backgroundInterval(cfg *Config) time.Duration {
	switch s.strategy.Mode {
	case flushContinuously:
		return s.strategy.Interval
	case flushAdaptive:
		return cfg.O2.FlushInterval
	}
	return 0
}

func (f flushStrategy) String() string {
	if f.Interval > 0 {
		return fmt.Sprintf("%s,%d", f.Mode, f.Interval.Milliseconds())
	}
	return f.Mode
}

// memoryHeadroom is what the extension's Go memory may take beyond its
// buffer: about 2 MiB of live data besides the ring (receiver and gzip
// scratch, queues, connections) and the garbage between collections.
// Measured with the buffer full (BENCHMARKS.md, memory): 16 MiB let the
// heap sit 1.6 MiB higher than 8 MiB does, which costs the collector
// nothing while the ring is below its budget (the live heap is then well
// under the limit) and a few more collections while it is full. Below
// about 4 MiB the collector runs back to back with the ring full.
const memoryHeadroom = 8 << 20

// setMemoryLimit makes the garbage collector keep the heap near what the
// buffer budget needs. With Go's default (GOGC=100 and no limit) a full
// buffer let the heap grow to twice its live size, about 60 MB for a 16 MB
// buffer, in a function that may have 128 MB in all. A GOMEMLIMIT set by
// the user wins.
func setMemoryLimit(cfg *Config, getenv func(string) string) {
	if getenv("GOMEMLIMIT") != "" || cfg.Buffer.MaxBytes <= 0 {
		return
	}
	debug.SetMemoryLimit(cfg.Buffer.MaxBytes + memoryHeadroom)
}
