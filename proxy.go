// proxy.go owns the Runtime API proxy: a transparent pass-through, on
// loopback, between the function's runtime and Lambda's Runtime API
// (2018-06-01), so the extension learns that an invocation is over the
// moment the runtime's response (or error) has been accepted, instead of
// waiting for platform.runtimeDone, which the Telemetry API delivers no
// sooner than its 25 ms buffering minimum.
//
// The runtime reaches the proxy only when the otel-instrument exec wrapper
// points AWS_LAMBDA_RUNTIME_API at it, and the wrapper does that only when
// the marker file written here names the port (so a runtime is never sent
// to a proxy that did not start). Without the wrapper nothing changes.
//
// Invariants: requests, responses, headers (hop-by-hop ones aside, as
// net/http/httputil handles them), status codes, bodies and trailers pass
// through unchanged and streamed in both directions; the long poll of
// /invocation/next has no timeout because it spans freezes; an upstream that
// fails is a 502 for the runtime, never a hang; the memory kept per request
// id is bounded; the proxy starts no goroutine of its own (net/http's server
// and transport own theirs).
package main

import (
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Runtime API paths (lambda-apis.md; AWS "Using the Lambda runtime API").
const (
	runtimeNextPath       = "/2018-06-01/runtime/invocation/next"
	runtimeInvocationPath = "/2018-06-01/runtime/invocation/"
)

// proxyDoneKept is how many request ids the proxy remembers. The lifecycle
// asks about the invocation in progress only, and a sandbox runs one at a
// time; 32 leaves room for a lifecycle that asks late without letting a
// long-lived sandbox grow a map.
const proxyDoneKept = 32

// proxyDialTimeout makes an upstream that is gone fail fast (a 502 to the
// runtime) instead of holding the runtime; loopback or the sandbox's own
// network answer in microseconds when they answer at all.
const proxyDialTimeout = 2 * time.Second

// proxyMarkerName is the file, next to the wrapper's handoff file, that says
// "the proxy is listening on this port". otel-instrument reads it.
const proxyMarkerName = "proxy.ready"

// runtimeProxy forwards the runtime's Runtime API calls to the real API and
// tells the lifecycle when each invocation's response has been accepted.
type runtimeProxy struct {
	upstream string // host:port of the real AWS_LAMBDA_RUNTIME_API
	lg       *logger
	tr       *http.Transport
	used     atomic.Bool // the runtime called next through us

	mu    sync.Mutex
	reqs  map[string]*proxyReq
	order []string // ids in reqs, oldest first
	cur   string   // request id of the last event handed to the runtime
}

// proxyReq is what the proxy knows of one request id.
type proxyReq struct {
	ch     chan struct{}
	closed bool
}

// newRuntimeProxy returns a proxy to the Runtime API at upstream (host:port,
// the extension's AWS_LAMBDA_RUNTIME_API).
func newRuntimeProxy(upstream string, lg *logger) *runtimeProxy {
	return &runtimeProxy{
		upstream: upstream,
		lg:       lg,
		tr: &http.Transport{
			// No Proxy: HTTP_PROXY in the function's environment is for
			// the function's traffic, never for the Runtime API.
			Proxy:       nil,
			DialContext: (&net.Dialer{Timeout: proxyDialTimeout}).DialContext,
			// The runtime is one client with at most a next and a response
			// in flight.
			MaxIdleConnsPerHost: 4,
			// Bodies pass through as they are: never ask for gzip and
			// decompress behind the runtime's back.
			DisableCompression: true,
			// No ResponseHeaderTimeout: /invocation/next is a long poll
			// that lasts as long as the sandbox stays frozen.
		},
		reqs: map[string]*proxyReq{},
	}
}

// server returns the HTTP server for the proxy's listener. It has no read,
// write or idle timeout: the runtime's next is a long poll that spans
// freezes, a streamed response may last the whole invocation, and wall-clock
// deadlines would expire during a freeze. The header timeout starts only
// when a request's first bytes arrive, so it never runs across a freeze.
func (p *runtimeProxy) server() *http.Server {
	return &http.Server{
		Handler:           p,
		ReadHeaderTimeout: 5 * time.Second,
		// Per-connection errors would come back as extension log events.
		ErrorLog: log.New(io.Discard, "", 0),
	}
}

// closeIdle drops idle upstream connections (at exit).
func (p *runtimeProxy) closeIdle() { p.tr.CloseIdleConnections() }

// active reports whether the runtime has called /invocation/next through the
// proxy: only then will done channels ever close.
func (p *runtimeProxy) active() bool { return p.used.Load() }

// done returns a channel that is closed once the runtime's response or error
// for requestID has been fully forwarded to, and accepted (2xx) by, the
// Runtime API, or once the runtime asks for its next event after having
// received requestID. It is already closed if that happened before the
// call. The channel never closes when the runtime does not use the proxy or
// dies mid-invocation: callers also wait on something else.
func (p *runtimeProxy) done(requestID string) <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.reqLocked(requestID).ch
}

// reqLocked finds or adds the entry for id, forgetting the oldest beyond
// proxyDoneKept. p.mu must be held.
func (p *runtimeProxy) reqLocked(id string) *proxyReq {
	if r := p.reqs[id]; r != nil {
		return r
	}
	r := &proxyReq{ch: make(chan struct{})}
	p.reqs[id] = r
	p.order = append(p.order, id)
	if len(p.order) > proxyDoneKept {
		delete(p.reqs, p.order[0])
		p.order = append(p.order[:0], p.order[1:]...)
	}
	return r
}

func (p *runtimeProxy) finish(id string) {
	if id == "" {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if r := p.reqLocked(id); !r.closed {
		r.closed = true
		close(r.ch)
	}
}

// invocationResult returns the request id of a /invocation/{id}/response or
// /invocation/{id}/error path, or "".
func invocationResult(path string) string {
	rest, ok := strings.CutPrefix(path, runtimeInvocationPath)
	if !ok {
		return ""
	}
	id, ok := strings.CutSuffix(rest, "/response")
	if !ok {
		id, ok = strings.CutSuffix(rest, "/error")
	}
	if !ok || id == "" || strings.Contains(id, "/") {
		return ""
	}
	return id
}

// isHopHeader reports the hop-by-hop headers of RFC 9110 §7.6.1 (and the
// older ones net/http/httputil also removes): they describe one connection
// and are never forwarded.
func isHopHeader(k string) bool {
	switch k {
	case "Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
		"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade":
		return true
	}
	return false
}

// copyEndToEnd copies the headers of src that are not hop-by-hop into dst.
func copyEndToEnd(dst, src http.Header) {
	var conn []string
	for _, v := range src["Connection"] {
		for f := range strings.SplitSeq(v, ",") {
			if f = strings.TrimSpace(f); f != "" {
				conn = append(conn, http.CanonicalHeaderKey(f))
			}
		}
	}
	for k, vv := range src {
		if isHopHeader(k) || slices.Contains(conn, k) {
			continue
		}
		dst[k] = append([]string(nil), vv...)
	}
}

// eofReader notes whether the body it wraps was read to its end.
type eofReader struct {
	r   io.ReadCloser
	eof atomic.Bool
}

func (e *eofReader) Read(b []byte) (int, error) {
	n, err := e.r.Read(b)
	if err == io.EOF {
		e.eof.Store(true)
	}
	return n, err
}

func (e *eofReader) Close() error { return e.r.Close() }

// ServeHTTP forwards one Runtime API call.
func (p *runtimeProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	isNext := r.URL.Path == runtimeNextPath
	if isNext {
		p.used.Store(true)
		// Asking for the next event means the runtime is done with the last
		// one, whatever became of its response (real Lambda emits
		// platform.runtimeDone at this point, lambda-apis.md §5.7).
		p.mu.Lock()
		prev := p.cur
		p.cur = ""
		p.mu.Unlock()
		p.finish(prev)
	}
	resultID := ""
	if r.Method == http.MethodPost {
		resultID = invocationResult(r.URL.Path)
	}

	// The request goes out as the runtime would have sent it to the real
	// API: same method, path and query, end-to-end headers, Host of the
	// real API, body and trailers streamed.
	out, err := http.NewRequestWithContext(r.Context(), r.Method, "http://"+p.upstream+r.URL.RequestURI(), nil)
	if err != nil {
		p.fail(w, fmt.Errorf("runtime proxy: build request for %s: %w", r.URL.Path, err))
		return
	}
	copyEndToEnd(out.Header, r.Header)
	if strings.Contains(strings.ToLower(strings.Join(r.Header["Te"], ",")), "trailers") {
		out.Header.Set("Te", "trailers")
	}
	if _, ok := out.Header["User-Agent"]; !ok {
		// Without this the transport would add its own Go-http-client.
		out.Header["User-Agent"] = []string{""}
	}
	var body *eofReader
	if r.Body != nil && r.Body != http.NoBody {
		body = &eofReader{r: r.Body}
		out.Body = body
		out.ContentLength = r.ContentLength
		// Same map: the server fills in the trailer values once the body
		// has been read, which is before the transport sends them.
		out.Trailer = r.Trailer
	}

	resp, err := p.tr.RoundTrip(out)
	if err != nil {
		p.fail(w, fmt.Errorf("runtime proxy: %s %s: %w", r.Method, r.URL.Path, err))
		return
	}
	defer resp.Body.Close()
	if resultID != "" && resp.StatusCode/100 == 2 && (body == nil || body.eof.Load()) {
		p.finish(resultID)
	}
	if isNext && resp.StatusCode == http.StatusOK {
		p.mu.Lock()
		p.cur = resp.Header.Get("Lambda-Runtime-Aws-Request-Id")
		p.mu.Unlock()
	}

	h := w.Header()
	copyEndToEnd(h, resp.Header)
	if _, ok := h["Content-Type"]; !ok {
		// Keep net/http from sniffing one the upstream did not send.
		h["Content-Type"] = nil
	}
	announced := len(resp.Trailer)
	if announced > 0 {
		keys := make([]string, 0, announced)
		for k := range resp.Trailer {
			keys = append(keys, k)
		}
		h.Set("Trailer", strings.Join(keys, ", "))
	}
	w.WriteHeader(resp.StatusCode)
	if err := copyFlushing(w, resp.Body, resp.ContentLength < 0); err != nil {
		// Headers are out: cut the connection so the runtime sees a
		// broken response, never a short one that looks complete.
		p.lg.debugf("runtime proxy: %s %s: copying the response: %v", r.Method, r.URL.Path, err)
		panic(http.ErrAbortHandler)
	}
	for k, vv := range resp.Trailer {
		if len(resp.Trailer) != announced {
			k = http.TrailerPrefix + k
		}
		h[k] = vv
	}
}

// copyFlushing copies src to w, flushing after every read when the body is
// streamed (no Content-Length), so a streamed answer reaches the runtime
// as it comes.
func copyFlushing(w http.ResponseWriter, src io.Reader, flush bool) error {
	rc := http.NewResponseController(w)
	buf := make([]byte, 32<<10)
	for {
		n, rerr := src.Read(buf)
		if n > 0 {
			if _, err := w.Write(buf[:n]); err != nil {
				return fmt.Errorf("write to the runtime: %w", err)
			}
			if flush {
				if err := rc.Flush(); err != nil {
					return fmt.Errorf("flush to the runtime: %w", err)
				}
			}
		}
		if rerr == io.EOF {
			return nil
		}
		if rerr != nil {
			return fmt.Errorf("read from the Runtime API: %w", rerr)
		}
	}
}

// fail answers a call the upstream could not: 502, with a body in the
// Runtime API's own error shape so a runtime can log something useful.
func (p *runtimeProxy) fail(w http.ResponseWriter, err error) {
	p.lg.warnf("%v", err)
	b := append([]byte(`{"errorMessage":`), appendJSONQuote(nil, err.Error())...)
	b = append(b, `,"errorType":"Extension.RuntimeProxyError"}`...)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusBadGateway)
	w.Write(b)
}

// handoffPath is the wrapper's handoff file (OTEL_LAMBDA_HANDOFF_FILE,
// default /tmp/otel-lambda-extension/runtime.env): the runtime-only values
// it writes (resource.go, readHandoff), and the directory both sides agree
// on for the proxy's marker.
func handoffPath(getenv func(string) string) string {
	if f := getenv("OTEL_LAMBDA_HANDOFF_FILE"); f != "" {
		return f
	}
	return "/tmp/otel-lambda-extension/runtime.env"
}

// proxyMarkerPath is where the marker file goes: next to the wrapper's
// handoff file.
func proxyMarkerPath(getenv func(string) string) string {
	f := handoffPath(getenv)
	dir := "."
	if i := strings.LastIndexByte(f, '/'); i >= 0 {
		dir = f[:i]
	}
	if dir == "" {
		dir = "/"
	}
	return strings.TrimSuffix(dir, "/") + "/" + proxyMarkerName
}

// listenRuntimeProxy binds the proxy on 127.0.0.1:port and then writes the
// marker file naming the port. A stale marker (from an earlier process in
// this sandbox: /tmp survives resets) is removed first, so the wrapper never
// points a runtime at a port nobody listens on. A port in use is an error
// that names the port and the variable; the caller goes on without the
// proxy, which only costs the Telemetry API's delay.
func listenRuntimeProxy(port int, marker string) (net.Listener, error) {
	os.Remove(marker)
	ln, err := listenTCP(net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("runtime API proxy: port %d on 127.0.0.1 is already in use (another extension?): set OTEL_LAMBDA_RUNTIME_PROXY_PORT to a free port, or off", port)
		}
		return nil, fmt.Errorf("runtime API proxy: listen on 127.0.0.1:%d: %w", port, err)
	}
	bound := ln.Addr().(*net.TCPAddr).Port
	if err := writeMarker(marker, strconv.Itoa(bound)+"\n"); err != nil {
		ln.Close()
		return nil, fmt.Errorf("runtime API proxy: write %s: %w", marker, err)
	}
	return ln, nil
}

// writeMarker writes content to path in one write. No temporary file and
// rename are needed: the wrapper runs in the runtime's process, which Lambda
// starts only after every extension has registered, and the marker is
// written before we register. (It was measured on the cold-start path.)
func writeMarker(path, content string) error {
	if i := strings.LastIndexByte(path, '/'); i > 0 {
		if err := os.MkdirAll(path[:i], 0o755); err != nil {
			return err
		}
	}
	return os.WriteFile(path, []byte(content), 0o644)
}
