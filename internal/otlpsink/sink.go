// Package otlpsink is the local OTLP/HTTP backend that integration tests and
// benchmarks export to. It is a real HTTP server on 127.0.0.1 (plain, or TLS
// with a self-signed CA written to a PEM file) that accepts
//
//	POST /v1/{traces,metrics,logs}                 OTLP/HTTP
//	POST /api/{org}/v1/{traces,metrics,logs}       OpenObserve's OTLP paths
//	POST /api/{org}/{stream}/_json                 OpenObserve JSON array ingest
//
// in protobuf or JSON, gzip or not, decodes every request with the generated
// OTLP types, records it, and answers as a real backend would: 200 with an
// Export*ServiceResponse, 400 with a google.rpc.Status for bad data, 415 for
// an unknown content type or encoding.
//
// Faults are switchable at run time (see Fault): scripted statuses with
// Retry-After and bodies, delays, connection resets, partial success, a
// required Authorization header, and Down/Up on the same port.
//
// The package is test-only tooling: nothing in the extension imports it.
package otlpsink

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"mime"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// Signal names what a request carried.
type Signal string

const (
	Traces  Signal = "traces"
	Metrics Signal = "metrics"
	Logs    Signal = "logs"
	// JSONArray is OpenObserve's /api/{org}/{stream}/_json ingest.
	JSONArray Signal = "_json"
)

// Limits of one request body. A test backend must hold anything a correct
// exporter sends (the extension's batches are a few MiB at most), while a
// runaway client still cannot exhaust the test machine's memory.
const (
	maxWireBytes  = 32 << 20
	maxPlainBytes = 64 << 20
)

// Options configure New.
type Options struct {
	// TLS serves HTTPS with a fresh self-signed CA; CAFile names its PEM.
	TLS bool
	// ClientAuth (with TLS) requires a client certificate signed by the CA;
	// ClientCertFile and ClientKeyFile name one the sink made.
	ClientAuth bool
	// Dir receives the PEM files. Empty: a temporary directory that Close
	// removes.
	Dir string
	// CountOnly keeps counts but no bodies, decoded messages or items, so a
	// benchmark can push millions of spans through without the sink's
	// memory growing with them.
	CountOnly bool
}

// Request is one request the sink received, whatever it answered.
type Request struct {
	Time   time.Time
	Method string
	Proto  string // "HTTP/1.1" or "HTTP/2.0"
	Path   string
	Signal Signal // "" when the path is not one the sink serves
	Org    string // OpenObserve organization from /api/{org}/...
	Stream string // OpenObserve stream from /api/{org}/{stream}/_json
	Header http.Header
	// Body is the body as it came over the wire (still gzipped if it was),
	// Payload the body after Content-Encoding. Both nil with CountOnly.
	Body, Payload []byte
	// Message is the decoded *tracepb.TracesData, *metricspb.MetricsData or
	// *logspb.LogsData; nil when it did not decode, for _json, or with
	// CountOnly. JSON holds the objects of a _json array.
	Message proto.Message
	JSON    []map[string]any
	// Items counts spans, metric data points, log records or JSON objects
	// in the payload.
	Items     int
	DecodeErr error
	Fault     Fault // the fault applied (the zero Fault for a normal answer)
	Status    int   // the status answered; 0 when reset or abandoned in a Delay
}

// Span is one received span with the resource and scope it came under.
type Span struct {
	Resource      *resourcepb.Resource
	ResourceAttrs map[string]any
	Scope         *commonpb.InstrumentationScope
	Span          *tracepb.Span
}

// Metric is one received metric with the resource and scope it came under.
type Metric struct {
	Resource      *resourcepb.Resource
	ResourceAttrs map[string]any
	Scope         *commonpb.InstrumentationScope
	Metric        *metricspb.Metric
}

// LogRecord is one received log record with its resource and scope.
type LogRecord struct {
	Resource      *resourcepb.Resource
	ResourceAttrs map[string]any
	Scope         *commonpb.InstrumentationScope
	Record        *logspb.LogRecord
}

// JSONRecord is one object of an OpenObserve _json array.
type JSONRecord struct {
	Org, Stream string
	Fields      map[string]any
}

// Counts summarises what the sink received. Items count only data of
// accepted requests (answered 200, including partial success), so a retried
// batch is counted once per acceptance, not per attempt.
type Counts struct {
	Requests    int // every request answered (or reset), whatever the answer
	Accepted    int // requests answered 200
	InFlight    int // requests being read, delayed or answered right now
	Spans       int
	Metrics     int
	DataPoints  int
	LogRecords  int
	JSONRecords int
}

// Sink is a running backend. All methods are safe for concurrent use.
type Sink struct {
	opts   Options
	addr   string // host:port, fixed by the first listen so Up reuses it
	scheme string
	tlsCfg *tls.Config
	files  tlsFiles
	ownDir string

	handlers sync.WaitGroup

	mu       sync.Mutex
	closed   bool
	srv      *http.Server  // nil while down
	served   chan struct{} // closed when the current Serve returns
	down     chan struct{} // closed by Down: releases this generation's handlers
	changed  chan struct{} // closed and replaced on every recorded request
	client   *http.Client
	script   []Fault
	fallback Fault
	auth     string

	requests []Request
	spans    []Span
	metrics  []Metric
	logs     []LogRecord
	records  []JSONRecord
	counts   Counts
	bySignal map[Signal]int
}

// New starts a sink on 127.0.0.1 on a free port.
func New(opts Options) (*Sink, error) {
	s := &Sink{
		opts:     opts,
		scheme:   "http",
		changed:  make(chan struct{}),
		bySignal: map[Signal]int{},
	}
	if opts.TLS {
		s.scheme = "https"
		dir := opts.Dir
		if dir == "" {
			d, err := os.MkdirTemp("", "otlpsink-")
			if err != nil {
				return nil, fmt.Errorf("otlpsink: temp dir: %w", err)
			}
			dir, s.ownDir = d, d
		}
		cfg, files, err := newTLS(dir, opts.ClientAuth)
		if err != nil {
			s.removeDir()
			return nil, fmt.Errorf("otlpsink: %w", err)
		}
		s.tlsCfg, s.files = cfg, files
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		s.removeDir()
		return nil, fmt.Errorf("otlpsink: listen: %w", err)
	}
	s.addr = ln.Addr().String()
	s.mu.Lock()
	s.serveLocked(ln)
	s.mu.Unlock()
	return s, nil
}

// Start is New for tests: it fails t on error and closes the sink when the
// test ends.
func Start(t testing.TB, opts Options) *Sink {
	t.Helper()
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func (s *Sink) removeDir() {
	if s.ownDir != "" {
		os.RemoveAll(s.ownDir)
	}
}

// serveLocked starts serving ln in a goroutine that Down waits for.
func (s *Sink) serveLocked(ln net.Listener) {
	var protos http.Protocols
	protos.SetHTTP1(true)
	protos.SetHTTP2(true)
	protos.SetUnencryptedHTTP2(true)
	srv := &http.Server{
		Handler:   s,
		Protocols: &protos,
		TLSConfig: s.tlsCfg,
		// Generous for a loopback peer, but a stuck client cannot pin a
		// connection for the whole test run.
		ReadHeaderTimeout: 10 * time.Second,
		// Clients under test provoke TLS and protocol errors on purpose;
		// the test asserts on them, the log would only be noise.
		ErrorLog: log.New(io.Discard, "", 0),
	}
	served := make(chan struct{})
	s.srv, s.served, s.down = srv, served, make(chan struct{})
	go func() {
		defer close(served)
		if s.tlsCfg != nil {
			srv.ServeTLS(ln, "", "")
		} else {
			srv.Serve(ln)
		}
	}()
}

// URL is the base URL, e.g. "http://127.0.0.1:39211", without a path.
func (s *Sink) URL() string { return s.scheme + "://" + s.addr }

// Addr is the host:port the sink listens on, the same across Down and Up.
func (s *Sink) Addr() string { return s.addr }

// CAFile is the PEM file of the CA that signed the server certificate; ""
// without TLS.
func (s *Sink) CAFile() string { return s.files.ca }

// ClientCertFile and ClientKeyFile are a client certificate and key the
// sink accepts; "" without ClientAuth.
func (s *Sink) ClientCertFile() string { return s.files.clientCert }
func (s *Sink) ClientKeyFile() string  { return s.files.clientKey }

// Client returns an HTTP client that trusts the sink's CA (and presents the
// client certificate with ClientAuth). Close closes its idle connections.
func (s *Sink) Client() *http.Client {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.client != nil {
		return s.client
	}
	tr := &http.Transport{}
	if s.tlsCfg != nil {
		pool := x509.NewCertPool()
		pool.AddCert(s.tlsCfg.Certificates[0].Leaf)
		cfg := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
		if s.opts.ClientAuth {
			cert, err := tls.LoadX509KeyPair(s.files.clientCert, s.files.clientKey)
			if err == nil {
				cfg.Certificates = []tls.Certificate{cert}
			}
		}
		tr.TLSClientConfig = cfg
		tr.ForceAttemptHTTP2 = true
	}
	s.client = &http.Client{Transport: tr}
	return s.client
}

// Down closes the listener and every connection, so new connections are
// refused, until Up. Requests in a Delay are abandoned without an answer.
// A client keeps its idle keep-alive connections until it notices they
// are closed, so its next request may fail with EOF rather than a refused
// connection.
func (s *Sink) Down() error {
	s.mu.Lock()
	srv, served := s.srv, s.served
	if srv == nil {
		s.mu.Unlock()
		return nil
	}
	s.srv = nil
	down := s.down
	s.mu.Unlock()
	// Close the connections before releasing delayed handlers, so that
	// none of them can still answer.
	err := srv.Close()
	close(down)
	<-served
	if err != nil {
		return fmt.Errorf("otlpsink: down: %w", err)
	}
	return nil
}

// Up listens again on the same address after Down.
func (s *Sink) Up() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("otlpsink: up: sink is closed")
	}
	if s.srv != nil {
		return nil
	}
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		return fmt.Errorf("otlpsink: up on %s: %w", s.addr, err)
	}
	s.serveLocked(ln)
	return nil
}

// Close stops the sink, waits for every handler, and removes the PEM files
// it created. It is idempotent.
func (s *Sink) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	client := s.client
	s.mu.Unlock()
	s.Down()
	s.handlers.Wait()
	if client != nil {
		client.CloseIdleConnections()
	}
	s.removeDir()
}

// Script queues faults: each request the sink receives on a served path
// takes the next one; when the script is used up, the default applies.
// Script(Fault{Status: 503}, Fault{Status: 503}) fails two requests, then
// answers normally.
func (s *Sink) Script(faults ...Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.script = append(s.script, faults...)
}

// SetDefault sets the fault applied to every request once the script is
// used up; the zero Fault (the initial default) answers normally.
func (s *Sink) SetDefault(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fallback = f
}

// RequireAuth makes every request without exactly this Authorization
// header value fail with 401; "" turns the check off.
func (s *Sink) RequireAuth(value string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.auth = value
}

// Clear forgets every recorded request and item (faults stay).
func (s *Sink) Clear() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests, s.spans, s.metrics, s.logs, s.records = nil, nil, nil, nil, nil
	s.counts = Counts{InFlight: s.counts.InFlight}
	s.bySignal = map[Signal]int{}
	s.notifyLocked()
}

// Requests returns every request received, in order.
func (s *Sink) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// RequestCount is the number of requests for sig, whatever they were
// answered.
func (s *Sink) RequestCount(sig Signal) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bySignal[sig]
}

// Counts returns the current counts.
func (s *Sink) Counts() Counts {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts
}

// Spans returns the spans of accepted requests, in arrival order.
func (s *Sink) Spans() []Span {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Span(nil), s.spans...)
}

// Metrics returns the metrics of accepted requests, in arrival order.
func (s *Sink) Metrics() []Metric {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Metric(nil), s.metrics...)
}

// LogRecords returns the log records of accepted requests, in arrival
// order.
func (s *Sink) LogRecords() []LogRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]LogRecord(nil), s.logs...)
}

// JSONRecords returns the objects of accepted _json requests.
func (s *Sink) JSONRecords() []JSONRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]JSONRecord(nil), s.records...)
}

// WaitFor returns nil as soon as cond(s) is true, checking again after
// every request the sink records, or ctx's error (with the counts at that
// moment) if ctx ends first. cond may call any method of s.
func (s *Sink) WaitFor(ctx context.Context, cond func(*Sink) bool) error {
	for {
		s.mu.Lock()
		changed := s.changed
		s.mu.Unlock()
		if cond(s) {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("otlpsink: wait (counts %+v): %w", s.Counts(), ctx.Err())
		}
	}
}

func (s *Sink) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

func (s *Sink) nextFault() Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.script) > 0 {
		f := s.script[0]
		s.script = s.script[1:]
		return f
	}
	return s.fallback
}

// ServeHTTP answers one request; see the package doc.
func (s *Sink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		http.Error(w, "otlpsink: closed", http.StatusServiceUnavailable)
		return
	}
	// Close sets closed under mu before it waits, so every Add happens
	// before that Wait.
	s.handlers.Add(1)
	down, auth := s.down, s.auth
	s.counts.InFlight++
	s.notifyLocked()
	s.mu.Unlock()
	defer s.handlers.Done()

	req := Request{Time: time.Now(), Method: r.Method, Proto: r.Proto, Path: r.URL.Path, Header: r.Header.Clone()}
	var ok bool
	req.Signal, req.Org, req.Stream, ok = route(r.URL.Path)
	if !ok {
		req.Status = http.StatusNotFound
		s.record(&req, nil)
		http.Error(w, "otlpsink: no such path "+r.URL.Path, req.Status)
		return
	}
	if r.Method != http.MethodPost {
		req.Status = http.StatusMethodNotAllowed
		s.record(&req, nil)
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "otlpsink: method "+r.Method+" not allowed", req.Status)
		return
	}

	// Decode everything first, so even a request that is failed on purpose
	// is recorded with its content.
	isJSON := false
	status, decodeErr := 0, error(nil)
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxWireBytes))
	req.Body = body
	var items any
	switch {
	case err != nil:
		status, decodeErr = http.StatusBadRequest, fmt.Errorf("read body: %w", err)
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			status = http.StatusRequestEntityTooLarge
		}
	default:
		isJSON, items, status, decodeErr = s.decode(&req, r.Header)
	}
	req.DecodeErr = decodeErr

	f := s.nextFault()
	req.Fault = f
	if f.Delay > 0 {
		t := time.NewTimer(f.Delay)
		abandoned := false
		select {
		case <-t.C:
		case <-r.Context().Done():
			abandoned = true
		case <-down:
			abandoned = true
		}
		t.Stop()
		if abandoned {
			req.Status = 0
			s.record(&req, nil)
			return
		}
	}
	if f.ResetConn {
		req.Status = 0
		s.record(&req, nil)
		resetConn(w)
		return
	}

	var ps PartialSuccess
	switch {
	case auth != "" && r.Header.Get("Authorization") != auth:
		status, decodeErr = http.StatusUnauthorized, errors.New("missing or wrong Authorization header")
	case f.Status != 0 && f.Status != http.StatusOK:
		status = f.Status
		if decodeErr == nil {
			decodeErr = fmt.Errorf("fault injected: %d", f.Status)
		}
	case decodeErr != nil:
		// status from decode
	default:
		status = http.StatusOK
		ps = PartialSuccess{Rejected: f.Rejected, Message: f.Message}
	}
	req.Status = status
	if status == http.StatusOK {
		s.record(&req, items)
	} else {
		s.record(&req, nil)
	}

	if f.RetryAfter != "" {
		w.Header().Set("Retry-After", f.RetryAfter)
	}
	switch {
	case status == http.StatusOK && req.Signal == JSONArray:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		w.Write(openObserveResponse(req.Stream, req.Items, ps))
	case status == http.StatusOK && isJSON:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		w.Write(exportResponseJSON(req.Signal, ps))
	case status == http.StatusOK:
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.WriteHeader(status)
		w.Write(AppendExportResponse(nil, ps))
	case status == http.StatusUnsupportedMediaType:
		// The collector answers 415 in plain text: it cannot know which
		// encoding the client would understand.
		http.Error(w, decodeErr.Error(), status)
	default:
		st := Status{Code: grpcCode(status), Message: decodeErr.Error()}
		if f.Message != "" && f.Status == status {
			st.Message = f.Message
		}
		b, ct := AppendStatus(nil, st), "application/x-protobuf"
		if isJSON {
			b, ct = statusJSON(st), "application/json"
		}
		if f.Body != nil && f.Status == status {
			b = f.Body
		}
		w.Header().Set("Content-Type", ct)
		w.WriteHeader(status)
		w.Write(b)
	}
}

// route splits a request path into what it addresses.
func route(path string) (sig Signal, org, stream string, ok bool) {
	parts := strings.Split(strings.TrimPrefix(path, "/"), "/")
	switch {
	case len(parts) == 2 && parts[0] == "v1":
		sig = Signal(parts[1])
	case len(parts) == 4 && parts[0] == "api" && parts[2] == "v1" && parts[1] != "":
		sig, org = Signal(parts[3]), parts[1]
	case len(parts) == 4 && parts[0] == "api" && parts[3] == "_json" && parts[1] != "" && parts[2] != "":
		return JSONArray, parts[1], parts[2], true
	default:
		return "", "", "", false
	}
	switch sig {
	case Traces, Metrics, Logs:
		return sig, org, "", true
	}
	return "", "", "", false
}

// decode fills req.Payload, Message, JSON and Items from req.Body. status
// is the answer a failure deserves.
func (s *Sink) decode(req *Request, h http.Header) (isJSON bool, items any, status int, err error) {
	payload := req.Body
	switch enc := strings.ToLower(strings.TrimSpace(h.Get("Content-Encoding"))); enc {
	case "", "identity":
	case "gzip":
		zr, err := gzip.NewReader(bytes.NewReader(req.Body))
		if err != nil {
			return false, nil, http.StatusBadRequest, fmt.Errorf("gzip: %w", err)
		}
		payload, err = io.ReadAll(io.LimitReader(zr, maxPlainBytes+1))
		if err != nil {
			return false, nil, http.StatusBadRequest, fmt.Errorf("gzip: %w", err)
		}
		if len(payload) > maxPlainBytes {
			return false, nil, http.StatusRequestEntityTooLarge, fmt.Errorf("gzip: more than %d bytes decompressed", maxPlainBytes)
		}
	default:
		return false, nil, http.StatusUnsupportedMediaType, fmt.Errorf("unsupported Content-Encoding %q", enc)
	}
	req.Payload = payload

	ct, _, _ := mime.ParseMediaType(h.Get("Content-Type"))
	switch ct {
	case "application/json":
		isJSON = true
	case "application/x-protobuf", "application/protobuf":
	default:
		if req.Signal != JSONArray || ct != "" {
			return false, nil, http.StatusUnsupportedMediaType, fmt.Errorf("unsupported Content-Type %q", h.Get("Content-Type"))
		}
		isJSON = true // OpenObserve's _json is JSON whatever the header says
	}

	if req.Signal == JSONArray {
		var objs []map[string]any
		if err := json.Unmarshal(payload, &objs); err != nil {
			return true, nil, http.StatusBadRequest, fmt.Errorf("_json: %w", err)
		}
		req.JSON, req.Items = objs, len(objs)
		return true, objs, 0, nil
	}

	var m proto.Message
	switch req.Signal {
	case Traces:
		m = &tracepb.TracesData{}
	case Metrics:
		m = &metricspb.MetricsData{}
	case Logs:
		m = &logspb.LogsData{}
	}
	if isJSON {
		err = UnmarshalJSON(payload, m)
	} else {
		err = proto.Unmarshal(payload, m)
	}
	if err != nil {
		return isJSON, nil, http.StatusBadRequest, fmt.Errorf("decode %s: %w", req.Signal, err)
	}
	req.Message = m
	req.Items = countItems(m)
	return isJSON, m, 0, nil
}

// record appends req and, when items is not nil, the data it accepted.
// Every request that got past the closed check is recorded exactly once.
func (s *Sink) record(req *Request, items any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.counts.InFlight--
	s.counts.Requests++
	if req.Signal != "" {
		s.bySignal[req.Signal]++
	}
	if items != nil {
		s.counts.Accepted++
		s.accept(req, items)
	}
	if s.opts.CountOnly {
		req.Body, req.Payload, req.Message, req.JSON = nil, nil, nil, nil
	}
	s.requests = append(s.requests, *req)
	s.notifyLocked()
}

func (s *Sink) accept(req *Request, items any) {
	keep := !s.opts.CountOnly
	switch m := items.(type) {
	case []map[string]any:
		s.counts.JSONRecords += len(m)
		for _, o := range m {
			if keep {
				s.records = append(s.records, JSONRecord{Org: req.Org, Stream: req.Stream, Fields: o})
			}
		}
	case *tracepb.TracesData:
		for _, rs := range m.ResourceSpans {
			attrs := Attrs(rs.GetResource().GetAttributes())
			for _, ss := range rs.ScopeSpans {
				s.counts.Spans += len(ss.Spans)
				for _, sp := range ss.Spans {
					if keep {
						s.spans = append(s.spans, Span{rs.Resource, attrs, ss.Scope, sp})
					}
				}
			}
		}
	case *metricspb.MetricsData:
		for _, rm := range m.ResourceMetrics {
			attrs := Attrs(rm.GetResource().GetAttributes())
			for _, sm := range rm.ScopeMetrics {
				s.counts.Metrics += len(sm.Metrics)
				for _, mt := range sm.Metrics {
					s.counts.DataPoints += DataPoints(mt)
					if keep {
						s.metrics = append(s.metrics, Metric{rm.Resource, attrs, sm.Scope, mt})
					}
				}
			}
		}
	case *logspb.LogsData:
		for _, rl := range m.ResourceLogs {
			attrs := Attrs(rl.GetResource().GetAttributes())
			for _, sl := range rl.ScopeLogs {
				s.counts.LogRecords += len(sl.LogRecords)
				for _, lr := range sl.LogRecords {
					if keep {
						s.logs = append(s.logs, LogRecord{rl.Resource, attrs, sl.Scope, lr})
					}
				}
			}
		}
	}
}

// countItems counts the spans, data points or log records of m.
func countItems(m proto.Message) int {
	n := 0
	switch m := m.(type) {
	case *tracepb.TracesData:
		for _, rs := range m.ResourceSpans {
			for _, ss := range rs.ScopeSpans {
				n += len(ss.Spans)
			}
		}
	case *metricspb.MetricsData:
		for _, rm := range m.ResourceMetrics {
			for _, sm := range rm.ScopeMetrics {
				for _, mt := range sm.Metrics {
					n += DataPoints(mt)
				}
			}
		}
	case *logspb.LogsData:
		for _, rl := range m.ResourceLogs {
			for _, sl := range rl.ScopeLogs {
				n += len(sl.LogRecords)
			}
		}
	}
	return n
}

// DataPoints is the number of data points of m, whatever its type.
func DataPoints(m *metricspb.Metric) int {
	switch d := m.Data.(type) {
	case *metricspb.Metric_Gauge:
		return len(d.Gauge.GetDataPoints())
	case *metricspb.Metric_Sum:
		return len(d.Sum.GetDataPoints())
	case *metricspb.Metric_Histogram:
		return len(d.Histogram.GetDataPoints())
	case *metricspb.Metric_ExponentialHistogram:
		return len(d.ExponentialHistogram.GetDataPoints())
	case *metricspb.Metric_Summary:
		return len(d.Summary.GetDataPoints())
	}
	return 0
}

// Attrs flattens OTLP attributes into a map: strings, int64, float64,
// bool, []byte, []any for arrays and map[string]any for key-value lists.
func Attrs(kvs []*commonpb.KeyValue) map[string]any {
	m := make(map[string]any, len(kvs))
	for _, kv := range kvs {
		m[kv.Key] = AnyValue(kv.Value)
	}
	return m
}

// AnyValue converts one OTLP AnyValue to the Go value Attrs uses; nil for
// an empty value.
func AnyValue(v *commonpb.AnyValue) any {
	switch v := v.GetValue().(type) {
	case *commonpb.AnyValue_StringValue:
		return v.StringValue
	case *commonpb.AnyValue_IntValue:
		return v.IntValue
	case *commonpb.AnyValue_DoubleValue:
		return v.DoubleValue
	case *commonpb.AnyValue_BoolValue:
		return v.BoolValue
	case *commonpb.AnyValue_BytesValue:
		return v.BytesValue
	case *commonpb.AnyValue_ArrayValue:
		out := make([]any, 0, len(v.ArrayValue.GetValues()))
		for _, e := range v.ArrayValue.GetValues() {
			out = append(out, AnyValue(e))
		}
		return out
	case *commonpb.AnyValue_KvlistValue:
		return Attrs(v.KvlistValue.GetValues())
	}
	return nil
}

// openObserveResponse is OpenObserve's answer to a _json ingest.
func openObserveResponse(stream string, n int, ps PartialSuccess) []byte {
	type streamStatus struct {
		Name       string `json:"name"`
		Successful int    `json:"successful"`
		Failed     int    `json:"failed"`
		Error      string `json:"error,omitempty"`
	}
	failed := min(int(ps.Rejected), n)
	b, _ := json.Marshal(struct {
		Code   int            `json:"code"`
		Status []streamStatus `json:"status"`
	}{200, []streamStatus{{stream, n - failed, failed, ps.Message}}})
	return b
}

// resetConn drops the connection without an answer: for HTTP/1 it hijacks
// the connection and closes it with SO_LINGER 0 so the client sees a reset,
// for HTTP/2 it aborts the stream.
func resetConn(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*tls.Conn); ok {
		conn = tc.NetConn() // no close_notify: the point is an abrupt end
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	conn.Close()
}
