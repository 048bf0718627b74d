// export.go owns the exporters: OTLP/HTTP (protobuf or JSON), OTLP/gRPC
// through grpc.go, and OpenObserve; compression, retries with backoff, and
// partial success.
package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// sendResult is what one attempt to send one batch learned.
type sendResult struct {
	status     int           // HTTP status, or the grpc-status code for gRPC
	retryable  bool          // the OTLP spec says this attempt may be retried
	retryAfter time.Duration // the server's hint (Retry-After, RetryInfo); 0 if none
	rejected   int64         // partial_success rejected count
	message    string        // partial_success error_message, or the start of an error body
	err        error         // transport or protocol error, nil on an answer
	wrote      bool          // the whole request was written to the connection
}

// gzipLevel is the compression level for exports; see BENCHMARKS.md for the
// bytes-versus-CPU measurement behind it.
const gzipLevel = gzip.BestSpeed

var gzipWriters = sync.Pool{New: func() any {
	w, _ := gzip.NewWriterLevel(nil, gzipLevel)
	return w
}}

// appendGzip appends the gzip compression of src to dst.
func appendGzip(dst, src []byte) []byte {
	return appendGzipParts(dst, [][]byte{src})
}

// appendGzipParts appends the gzip compression of parts, back to back, to
// dst: a batch is compressed straight from its chunks, never concatenated
// first. The output is the same as compressing the concatenation.
func appendGzipParts(dst []byte, parts [][]byte) []byte {
	w := gzipWriters.Get().(*gzip.Writer)
	dst = gzipWith(w, dst, parts)
	gzipWriters.Put(w)
	return dst
}

// gzipWith appends the gzip compression of parts to dst with w, and leaves
// w holding no reference to dst.
func gzipWith(w *gzip.Writer, dst []byte, parts [][]byte) []byte {
	out := &appendWriter{b: dst}
	w.Reset(out)
	for _, p := range parts {
		w.Write(p) // appendWriter never fails; Close reports the rest
	}
	w.Close()
	w.Reset(io.Discard)
	return out.b
}

// gzip is appendGzipParts with the exporter's own writer (see zw).
func (e *exporter) gzip(dst []byte, parts [][]byte) []byte {
	var w *gzip.Writer
	select {
	case w = <-e.zw:
	default:
		w, _ = gzip.NewWriterLevel(nil, gzipLevel)
	}
	dst = gzipWith(w, dst, parts)
	select {
	case e.zw <- w:
	default: // another signal's flush kept its writer: let this one go
	}
	return dst
}

// appendWriter is an io.Writer appending to a slice the caller reuses.
type appendWriter struct{ b []byte }

func (w *appendWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

// reqBody is an export request's body: its parts back to back (a batch's
// chunks, or a target's scratch buffer) and their total length. It is
// valid until the batch is released and the target encodes the next one.
type reqBody struct {
	parts [][]byte
	n     int64
}

// reader returns a fresh reader of the body; each attempt (and net/http's
// replay on a new connection, GetBody) reads it from the start. A body in
// one piece (compressed, or one chunk) is a bytes.Reader, which net/http
// writes with the headers in one packet; it flushes the headers on their
// own before a body of any other type (Issue 22088), which only costs a
// packet, though a server that refuses the connection (a TLS 1.3 client
// certificate check) then shows up as a reset on the body's write.
func (b reqBody) reader() io.ReadCloser {
	switch {
	case b.n == 0:
		return http.NoBody
	case len(b.parts) == 1:
		return io.NopCloser(bytes.NewReader(b.parts[0]))
	}
	return io.NopCloser(&partsReader{parts: b.parts})
}

// partsReader reads byte slices back to back without copying them into
// one. It never changes the slices, so several readers may share them.
type partsReader struct {
	parts  [][]byte
	i, off int // the next byte is parts[i][off]
}

func (r *partsReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) && r.i < len(r.parts) {
		c := copy(p[n:], r.parts[r.i][r.off:])
		n += c
		r.off += c
		if r.off == len(r.parts[r.i]) {
			r.i, r.off = r.i+1, 0
		}
	}
	if n == 0 && len(p) > 0 && r.i >= len(r.parts) {
		return 0, io.EOF
	}
	return n, nil
}

// newPost returns a POST of body to url that net/http can replay on a new
// connection (GetBody), with the Content-Length set.
func newPost(ctx context.Context, url string, body reqBody) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, nil)
	if err != nil {
		return nil, err
	}
	req.ContentLength = body.n
	req.Body = body.reader()
	req.GetBody = func() (io.ReadCloser, error) { return body.reader(), nil }
	return req, nil
}

// userAgent is what every export request says it is (otlp.md 8.3: exporters
// SHOULD send one; a distribution puts its own product token first).
func userAgent() string { return extensionName + "/" + version }

// Limits and timeouts of the export client, each with its reason.
const (
	// maxResponseBytes: OTLP clients limit responses to 4 MiB (otlp.md 1);
	// a larger answer is cut there, which at worst loses a partial-success
	// message.
	maxResponseBytes = 4 << 20
	// dialTimeout: a backend that cannot accept a TCP connection in 5 s
	// will not become useful within one invocation's flush; failing early
	// leaves time for a retry.
	dialTimeout = 5 * time.Second
	// tlsHandshakeTimeout: same reasoning for the TLS handshake.
	tlsHandshakeTimeout = 5 * time.Second
	// idleConnTimeout stays below the 60 s idle timeout of AWS load
	// balancers (ALB, API Gateway), so we close a kept-alive connection
	// before the other side silently does.
	idleConnTimeout = 50 * time.Second
	// tcpKeepAlive probes idle connections so a dead peer is noticed while
	// the sandbox runs; it does nothing while the sandbox is frozen, which
	// is what closeIdle is for.
	tcpKeepAlive = 30 * time.Second
	// maxIdleConnsPerHost: one export per signal runs at a time, so three
	// connections to one backend are the most we ever reuse.
	maxIdleConnsPerHost = int(numSignals)
	// errorBodyPrefix: how much of an error answer's body goes into the log;
	// enough for a collector's message, not a whole HTML error page.
	errorBodyPrefix = 200
)

// target is one signal's destination with everything an attempt needs
// precomputed, plus scratch buffers reused across batches. Only the flush
// goroutine of its signal touches the buffers and notBefore.
type target struct {
	sig         signal
	cfg         exportTarget
	client      *http.Client
	grpc, json  bool
	gzip        bool
	name        string   // endpoint for logs, credentials redacted
	grpcHeaders []header // configured headers plus User-Agent

	notBefore time.Time // a server's Retry-After that outlived the last flush
	// Scratch reused across batches: the request in one piece (JSON
	// transcoding only), its JSON, the compressed body, the answer, the
	// body's parts and a gRPC frame header.
	cat, js, gz, resp []byte
	parts             [][]byte
	frameHdr          [grpcHeaderLen]byte
	// encoded is the batch whose body parts and the scratch hold, so that
	// a batch taken again whole after a failed flush is not compressed
	// again (with the backend down, every flush would re-gzip it).
	encoded batchKey
	body    reqBody
}

// batchKey identifies a batch of chunks: arrival numbers are unique and
// queues keep their order, so the same first and last chunk and the same
// count mean the same chunks.
type batchKey struct {
	first, last uint64
	n           int
}

func keyOf(b *batch) batchKey {
	if len(b.chunks) == 0 {
		return batchKey{} // not from the ring: never reused
	}
	return batchKey{b.chunks[0].seq, b.chunks[len(b.chunks)-1].seq, len(b.chunks)}
}

// exporter sends batches from the ring to the configured OTLP backends.
type exporter struct {
	cfg  *Config
	ring *ring
	st   *stats
	lg   *logger

	t          [numSignals]*target
	transports []*http.Transport
	busy       chan struct{} // capacity 1: one flush at a time
	// zw holds the idle gzip writer (about 1.2 MB, mostly compress/flate's
	// tables), kept across flushes. A sync.Pool would keep one per P and
	// lose them to every other garbage collection, to be allocated again.
	zw chan *gzip.Writer

	// wait pauses for d or until ctx is done, and reports whether the full
	// wait elapsed. Tests may replace it; production uses a timer.
	wait func(ctx context.Context, d time.Duration) bool
}

// transportKey identifies the clients that can be shared: same wire
// protocol and the same TLS files.
type transportKey struct {
	kind                                      int // kindHTTP, kindH2C or kindH2
	certificate, clientKey, clientCertificate string
}

const (
	kindHTTP = iota // OTLP/HTTP: HTTP/1.1, or HTTP/2 when TLS negotiates it
	kindH2C         // OTLP/gRPC over cleartext HTTP/2 (prior knowledge)
	kindH2          // OTLP/gRPC over HTTP/2 with TLS only
)

// newExporter builds the exporter and its HTTP clients: one client per
// distinct protocol and TLS setting (usually one, two with gRPC). It reads
// the certificate files but does no network I/O, so it costs the cold
// start nothing; connections are made by the first export.
func newExporter(cfg *Config, r *ring, st *stats, lg *logger) (*exporter, error) {
	e := &exporter{cfg: cfg, ring: r, st: st, lg: lg, busy: make(chan struct{}, 1), zw: make(chan *gzip.Writer, 1), wait: waitCtx}
	clients := map[transportKey]*http.Client{}
	for s := range numSignals {
		c := cfg.Export[s]
		t := &target{
			sig:  s,
			cfg:  c,
			grpc: c.Protocol == protoGRPC,
			json: c.Protocol == protoHTTPJSON,
			gzip: c.Compression == "gzip",
			name: redactURL(c.Endpoint),
		}
		e.t[s] = t
		if c.Endpoint == "" {
			continue
		}
		key := transportKey{kind: kindHTTP, certificate: c.Certificate, clientKey: c.ClientKey, clientCertificate: c.ClientCertificate}
		if t.grpc {
			key.kind = kindH2
			if strings.HasPrefix(c.Endpoint, "http://") || (c.Insecure && !strings.HasPrefix(c.Endpoint, "https://")) {
				key.kind = kindH2C
			}
			t.grpcHeaders = append(append(t.grpcHeaders, c.Headers...), header{"User-Agent", userAgent()})
		}
		if cl := clients[key]; cl != nil {
			t.client = cl
			continue
		}
		tlsCfg, err := loadTLS(s, c)
		if err != nil {
			return nil, err
		}
		tr := newTransport(key.kind, tlsCfg)
		e.transports = append(e.transports, tr)
		t.client = &http.Client{
			Transport: tr,
			// An OTLP endpoint that redirects is misconfigured, and a 301
			// or 302 would turn the POST into a GET: report it instead.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
		clients[key] = t.client
	}
	return e, nil
}

// newTransport returns our own Transport (never DefaultTransport, which
// other code may change) for one kind of connection.
func newTransport(kind int, tlsCfg *tls.Config) *http.Transport {
	d := &net.Dialer{Timeout: dialTimeout, KeepAlive: tcpKeepAlive}
	tr := &http.Transport{
		Proxy:               http.ProxyFromEnvironment, // VPC functions often reach the internet through one
		DialContext:         d.DialContext,
		TLSClientConfig:     tlsCfg,
		TLSHandshakeTimeout: tlsHandshakeTimeout,
		IdleConnTimeout:     idleConnTimeout,
		MaxIdleConnsPerHost: maxIdleConnsPerHost,
		ForceAttemptHTTP2:   true,
	}
	switch kind {
	case kindH2C:
		// h2c needs UnencryptedHTTP2 without HTTP1, otherwise the transport
		// speaks HTTP/1.1 to http:// URLs (otlp.md 5).
		tr.Protocols = new(http.Protocols)
		tr.Protocols.SetUnencryptedHTTP2(true)
	case kindH2:
		// gRPC must never fall back to HTTP/1.1.
		tr.Protocols = new(http.Protocols)
		tr.Protocols.SetHTTP2(true)
	}
	return tr
}

// envNames names the generic and the per-signal variable of an option, for
// error messages.
func envNames(sig signal, option string) string {
	return fmt.Sprintf("OTEL_EXPORTER_OTLP_%s (or OTEL_EXPORTER_OTLP_%s_%s)", option, strings.ToUpper(sig.String()), option)
}

// loadTLS returns the TLS configuration for a target's certificate files,
// or nil (system roots, no client certificate) when none is set. Server
// verification is always on; a private CA replaces the system roots, as in
// the OpenTelemetry SDKs.
func loadTLS(sig signal, c exportTarget) (*tls.Config, error) {
	if c.Certificate == "" && c.ClientKey == "" && c.ClientCertificate == "" {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if c.Certificate != "" {
		pem, err := os.ReadFile(c.Certificate)
		if err != nil {
			return nil, fmt.Errorf("%s exporter: %s=%q: %w", sig, envNames(sig, "CERTIFICATE"), c.Certificate, err)
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s exporter: %s=%q: no PEM certificate in the file; want the PEM-encoded certificate of the CA that signed the backend's certificate",
				sig, envNames(sig, "CERTIFICATE"), c.Certificate)
		}
	}
	if (c.ClientKey == "") != (c.ClientCertificate == "") {
		return nil, fmt.Errorf("%s exporter: %s=%q and %s=%q: mTLS needs both the client certificate and its key",
			sig, envNames(sig, "CLIENT_CERTIFICATE"), c.ClientCertificate, envNames(sig, "CLIENT_KEY"), c.ClientKey)
	}
	if c.ClientKey != "" {
		cert, err := tls.LoadX509KeyPair(c.ClientCertificate, c.ClientKey)
		if err != nil {
			return nil, fmt.Errorf("%s exporter: %s=%q, %s=%q: %w",
				sig, envNames(sig, "CLIENT_CERTIFICATE"), c.ClientCertificate, envNames(sig, "CLIENT_KEY"), c.ClientKey, err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// redactURL returns the endpoint without user information or query, which
// may carry credentials, for log lines.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return s
	}
	u.User = nil
	u.RawQuery = ""
	u.Fragment = ""
	return u.String()
}

// closeIdle closes kept-alive connections. The lifecycle calls it after a
// long freeze: the backend or a load balancer has likely dropped them, and
// a stale connection would fail the first export.
func (e *exporter) closeIdle() {
	for _, tr := range e.transports {
		tr.CloseIdleConnections()
	}
}

// flushResult is what one flush did, summed over signals.
type flushResult struct {
	batches  int   // batches the backend accepted
	records  int   // records in them (partially rejected ones included)
	bytes    int64 // their size before compression
	dropped  int   // records lost: non-retryable answers, rejections, no destination
	requeued int   // records put back in the ring for the next flush
	retries  int
	duration time.Duration
}

func (r *flushResult) add(o flushResult) {
	r.batches += o.batches
	r.records += o.records
	r.bytes += o.bytes
	r.dropped += o.dropped
	r.requeued += o.requeued
	r.retries += o.retries
}

// String is the debug line of a flush.
func (r flushResult) String() string {
	return fmt.Sprintf("sent %d batches (%d records, %s) dropped %d requeued %d retries %d in %s",
		r.batches, r.records, humanBytes(r.bytes), r.dropped, r.requeued, r.retries, r.duration.Round(time.Millisecond))
}

// flush exports what the ring holds when it is called, signal by signal in
// parallel and batch by batch, until the ring has nothing older or ctx is
// done. A batch not sent by then, or whose next retry would pass ctx's
// deadline, goes back to the front of the ring for the next flush. Flushes
// do not overlap: a second caller waits for the first (or for its ctx).
func (e *exporter) flush(ctx context.Context) flushResult {
	start := time.Now()
	select {
	case e.busy <- struct{}{}:
	case <-ctx.Done():
		return flushResult{duration: time.Since(start)}
	}
	defer func() { <-e.busy }()

	maxSeq := e.ring.lastSeq()
	var per [numSignals]flushResult
	var wg sync.WaitGroup
	for s := range numSignals {
		if e.ring.len(s) == 0 {
			continue
		}
		wg.Go(func() { per[s] = e.flushSignal(ctx, e.t[s], maxSeq) })
	}
	wg.Wait()
	var res flushResult
	for _, p := range per {
		res.add(p)
	}
	res.duration = time.Since(start)
	return res
}

// outcome is what became of one batch.
type outcome int

const (
	sent outcome = iota
	dropped
	requeued
)

func (e *exporter) flushSignal(ctx context.Context, t *target, maxSeq uint64) (res flushResult) {
	if wait := time.Until(t.notBefore); wait > 0 {
		// A server asked for more time than the last flush had. Honour it
		// when this flush's deadline allows; otherwise leave the data.
		dl, ok := ctx.Deadline()
		if !ok || time.Now().Add(wait).After(dl) || !e.wait(ctx, wait) {
			e.lg.debugf("%s export to %s deferred for %s (Retry-After)", t.sig, t.name, wait.Round(time.Millisecond))
			return res
		}
	}
	st := &e.st.sig[t.sig]
	for ctx.Err() == nil {
		b := e.ring.take(t.sig, maxSeq)
		if b == nil {
			break
		}
		o, rejected := e.send(ctx, t, b, &res)
		t.forget()
		switch o {
		case sent:
			rejected = min(max(rejected, 0), int64(b.items))
			res.batches++
			res.records += b.items
			res.bytes += int64(b.size)
			res.dropped += int(rejected)
			st.exported.add(b.items-int(rejected), b.size)
			st.dropped.add(int(rejected), 0)
			e.ring.release(b)
		case dropped:
			res.dropped += b.items
			st.dropped.add(b.items, b.size)
			e.ring.release(b)
		case requeued:
			res.requeued += b.items
			e.ring.requeue(b)
			return res
		}
	}
	return res
}

// send delivers one batch with the OTLP retry policy and returns what
// became of it, and the partial-success rejected count when it was sent.
func (e *exporter) send(ctx context.Context, t *target, b *batch, res *flushResult) (outcome, int64) {
	if t.cfg.Endpoint == "" {
		e.lg.warnf("%s: no export endpoint configured; dropped %d records", t.sig, b.items)
		return dropped, 0
	}
	body, err := e.encode(t, b)
	if err != nil {
		e.lg.errorf("%s export: %v; dropped %d records", t.sig, err, b.items)
		return dropped, 0
	}
	st := &e.st.sig[t.sig]
	retries, staleRetried := 0, false
	for {
		if ctx.Err() != nil {
			return requeued, 0
		}
		r, reused := e.attempt(ctx, t, body)
		if r.err == nil && t.ok(r.status) {
			if r.rejected != 0 || r.message != "" {
				e.lg.warnf("%s export to %s: partial success: %d of %d records rejected: %s",
					t.sig, t.name, r.rejected, b.items, r.message)
			}
			return sent, r.rejected
		}
		if ctx.Err() != nil {
			// Our deadline cut the attempt short: not the backend's fault.
			// If the whole request had gone out, the backend may have taken
			// it (the answer can be waiting in the socket while the sandbox
			// is frozen past the deadline): the resend is then a possible
			// duplicate, so count it as a retry and say so.
			if r.wrote {
				st.retries.Add(1)
				st.retried.add(b.items, b.size)
				e.lg.warnf("%s export to %s: the flush deadline passed after the request was sent; %d records are kept and sent again, and may arrive twice",
					t.sig, t.name, b.items)
			}
			return requeued, 0
		}
		if r.err != nil && reused && !staleRetried && !permanent(r.err) {
			// A kept-alive connection that died while the sandbox was
			// frozen fails the first request on it; a new one will do.
			staleRetried = true
			e.lg.debugf("%s export to %s: reused connection failed (%v); retrying on a new one", t.sig, t.name, r.err)
			res.retries++
			st.retries.Add(1)
			st.retried.add(b.items, b.size)
			continue
		}
		if !t.retryable(r) {
			e.logFailure(t, b, r)
			return dropped, 0
		}
		if retries >= e.cfg.Retry.MaxRetries {
			e.lg.warnf("%s export to %s failed after %d retries: %s; keeping %d records for the next flush",
				t.sig, t.name, retries, describe(r), b.items)
			return requeued, 0
		}
		wait, stop, notBefore := nextRetry(ctx, e.cfg, r.retryAfter, retries)
		if !notBefore.IsZero() {
			t.notBefore = notBefore
		}
		switch stop {
		case retryHintTooLong:
			e.lg.warnf("%s export to %s: %s; server asks to retry in %s, keeping %d records for a later flush",
				t.sig, t.name, describe(r), wait, b.items)
			return requeued, 0
		case retryPastDeadline:
			e.lg.warnf("%s export to %s: %s; a retry in %s would pass the flush deadline, keeping %d records for the next flush",
				t.sig, t.name, describe(r), wait.Round(time.Millisecond), b.items)
			return requeued, 0
		}
		// Debug only: a retry that succeeds is a non-event, and the final
		// failure is logged once above with the last reason.
		e.lg.debugf("%s export to %s: retry attempt %d/%d after %s: %s",
			t.sig, t.name, retries+1, e.cfg.Retry.MaxRetries, wait.Round(time.Millisecond), describe(r))
		if !e.wait(ctx, wait) {
			return requeued, 0
		}
		retries++
		res.retries++
		st.retries.Add(1)
		st.retried.add(b.items, b.size)
	}
}

// encode returns the request body of a batch for its target: the chunks
// themselves for OTLP/HTTP protobuf without compression; gzipped straight
// from the chunks with gzip; in a gRPC frame for gRPC; transcoded to JSON
// for http/json. The parts live in the batch and the target's scratch
// buffers.
func (e *exporter) encode(t *target, b *batch) (reqBody, error) {
	key := keyOf(b)
	if key != (batchKey{}) && key == t.encoded {
		return t.body, nil
	}
	t.encoded = batchKey{}
	parts := t.parts[:0]
	switch {
	case t.json:
		pb := b.data
		switch len(b.chunks) {
		case 0:
		case 1:
			pb = b.chunks[0].data
		default:
			t.cat = b.appendTo(t.cat[:0])
			pb = t.cat
		}
		var err error
		t.js, err = protoToJSON(t.sig, t.js[:0], pb)
		if err != nil {
			return reqBody{}, fmt.Errorf("encode OTLP/JSON: %w", err)
		}
		if t.gzip {
			t.gz = e.gzip(t.gz[:0], append(parts, t.js))
			parts = append(parts[:0], t.gz)
		} else {
			parts = append(parts, t.js)
		}
	case t.grpc && t.gzip:
		// One length-prefixed message, compressed flag set (grpc.go).
		t.gz = append(t.gz[:0], 1, 0, 0, 0, 0)
		t.gz = e.gzip(t.gz, b.appendParts(parts))
		binary.BigEndian.PutUint32(t.gz[1:grpcHeaderLen], uint32(len(t.gz)-grpcHeaderLen))
		parts = append(parts[:0], t.gz)
	case t.grpc:
		parts = b.appendParts(append(parts, t.frameHdr[:]))
		var n int
		for _, p := range parts[1:] {
			n += len(p)
		}
		t.frameHdr[0] = 0
		binary.BigEndian.PutUint32(t.frameHdr[1:], uint32(n))
	case t.gzip:
		t.gz = e.gzip(t.gz[:0], b.appendParts(parts))
		parts = append(parts[:0], t.gz)
	default:
		parts = b.appendParts(parts)
	}
	clear(parts[len(parts):cap(parts)]) // no stale references to released chunks
	t.parts = parts
	var n int64
	for _, p := range parts {
		n += int64(len(p))
	}
	t.body = reqBody{parts: parts, n: n}
	if t.gzip || t.json {
		t.encoded = key // the body is in t's scratch, not in the chunks
	}
	return t.body, nil
}

// forget drops the target's references to a batch's chunks once it is
// sent or put back, so released buffers are not kept alive by the scratch;
// a body in the target's own scratch stays for a batch taken again.
func (t *target) forget() {
	if t.encoded == (batchKey{}) {
		clear(t.parts)
		t.parts, t.body = t.parts[:0], reqBody{}
	}
}

// Why nextRetry says not to retry within this flush.
const (
	retryNow          = iota
	retryHintTooLong  // the server asks for longer than MaxDelay
	retryPastDeadline // the wait would pass the flush's deadline
)

// nextRetry is the retry policy shared by every exporter: how long to wait
// before retry number retries (the server's hint when it gave one, else
// exponential backoff with jitter), and whether to keep the batch for a
// later flush instead. notBefore is set when a server's hint cannot be
// honoured in this flush: the backend is not to be called before then.
func nextRetry(ctx context.Context, cfg *Config, hint time.Duration, retries int) (wait time.Duration, stop int, notBefore time.Time) {
	wait = hint
	if wait <= 0 {
		wait = backoff(cfg.Retry.InitialDelay, cfg.Retry.MaxDelay, retries)
	} else if cfg.Retry.MaxDelay > 0 && wait > cfg.Retry.MaxDelay {
		// The server wants more time than we ever wait within a flush.
		return wait, retryHintTooLong, time.Now().Add(wait)
	}
	if dl, ok := ctx.Deadline(); ok && time.Now().Add(wait).After(dl) {
		if hint > 0 {
			notBefore = time.Now().Add(wait)
		}
		return wait, retryPastDeadline, notBefore
	}
	return wait, retryNow, time.Time{}
}

// attempt makes one request and reports whether it went over a reused
// (kept-alive) connection.
func (e *exporter) attempt(ctx context.Context, t *target, body reqBody) (sendResult, bool) {
	if t.cfg.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, t.cfg.Timeout)
		defer cancel()
	}
	var reused, wrote atomic.Bool
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		GotConn:      func(i httptrace.GotConnInfo) { reused.Store(i.Reused) },
		WroteRequest: func(i httptrace.WroteRequestInfo) { wrote.Store(i.Err == nil) },
	})
	var r sendResult
	if t.grpc {
		r = grpcPost(ctx, t.client, t.cfg.Endpoint, t.sig, body, t.gzip, t.grpcHeaders)
	} else {
		r = e.attemptHTTP(ctx, t, body)
	}
	r.wrote = wrote.Load()
	return r, reused.Load()
}

// attemptHTTP POSTs body once to an OTLP/HTTP endpoint and interprets the
// answer (otlp.md 2.2).
func (e *exporter) attemptHTTP(ctx context.Context, t *target, body reqBody) sendResult {
	req, err := newPost(ctx, t.cfg.Endpoint, body)
	if err != nil {
		return sendResult{err: fmt.Errorf("export %s: %w", t.sig, err)}
	}
	for _, h := range t.cfg.Headers {
		req.Header.Set(h.name, h.value)
	}
	ctype := "application/x-protobuf"
	if t.json {
		ctype = "application/json"
	}
	req.Header.Set("Content-Type", ctype)
	if t.gzip {
		req.Header.Set("Content-Encoding", "gzip")
	}
	req.Header.Set("User-Agent", userAgent())
	resp, err := t.client.Do(req)
	if err != nil {
		return sendResult{err: err}
	}
	defer resp.Body.Close()
	buf := bytes.NewBuffer(t.resp[:0])
	_, rerr := buf.ReadFrom(io.LimitReader(resp.Body, maxResponseBytes))
	t.resp = buf.Bytes()
	r := sendResult{status: resp.StatusCode}
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		// The data was accepted even if the body could not be read whole.
		if rerr == nil {
			// The answer is encoded like the request (otlp.md 2.2).
			r.rejected, r.message = parsePartialSuccess(t.resp, t.json)
		}
	case resp.StatusCode == http.StatusTooManyRequests, resp.StatusCode == http.StatusBadGateway,
		resp.StatusCode == http.StatusServiceUnavailable, resp.StatusCode == http.StatusGatewayTimeout:
		r.retryable = true
		r.retryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
		r.message = errorMessage(t.resp, resp.Header.Get("Content-Type"))
	default:
		r.message = errorMessage(t.resp, resp.Header.Get("Content-Type"))
		if loc := resp.Header.Get("Location"); loc != "" && resp.StatusCode/100 == 3 {
			r.message = "redirected to " + redactURL(loc) + "; set the endpoint to the final URL"
		}
	}
	return r
}

// ok reports whether status means the batch was accepted.
func (t *target) ok(status int) bool {
	if t.grpc {
		return status == 0
	}
	return status >= 200 && status < 300
}

// retryable applies the OTLP retry rules (otlp.md 2.2, 4.4, 8.3): HTTP
// 429/502/503/504 and transport failures other than a refused certificate;
// for gRPC what grpc.go decided.
func (t *target) retryable(r sendResult) bool {
	if t.grpc {
		return r.retryable
	}
	if r.err != nil {
		return !permanent(r.err)
	}
	return r.retryable
}

// permanent reports whether a transport error will not go away by itself:
// the server's certificate is not trusted, it does not speak TLS, or it
// refused our client certificate (a TLS alert).
// Retrying those only hides a configuration mistake.
func permanent(err error) bool {
	var (
		verr *tls.CertificateVerificationError
		uerr x509.UnknownAuthorityError
		herr x509.HostnameError
		cerr x509.CertificateInvalidError
		rerr tls.RecordHeaderError
		oerr *net.OpError
	)
	if errors.As(err, &oerr) && oerr.Op == "remote error" {
		return true // crypto/tls reports a received alert this way
	}
	return errors.As(err, &verr) || errors.As(err, &uerr) || errors.As(err, &herr) ||
		errors.As(err, &cerr) || errors.As(err, &rerr)
}

// describe is the short reason of a failed attempt, for logs.
func describe(r sendResult) string {
	if r.err != nil {
		return r.err.Error()
	}
	if r.message != "" {
		return fmt.Sprintf("status %d: %s", r.status, r.message)
	}
	return fmt.Sprintf("status %d", r.status)
}

// logFailure logs a batch dropped on a non-retryable answer, saying what a
// user can do about it; headers (credentials) are never logged.
func (e *exporter) logFailure(t *target, b *batch, r sendResult) {
	var hint string
	var oerr *net.OpError
	switch {
	case r.err != nil && errors.As(r.err, &oerr) && oerr.Op == "remote error":
		hint = "; the server refused the TLS connection: if it requires a client certificate, set " +
			envNames(t.sig, "CLIENT_CERTIFICATE") + " and " + envNames(t.sig, "CLIENT_KEY")
	case r.err != nil && permanent(r.err):
		hint = "; if the backend uses a private CA, set " + envNames(t.sig, "CERTIFICATE") + " to its PEM file"
	case !t.grpc && (r.status == http.StatusUnauthorized || r.status == http.StatusForbidden),
		t.grpc && (r.status == 16 || r.status == 7): // UNAUTHENTICATED, PERMISSION_DENIED
		e.lg.errorf("%s export to %s: authentication failed (%s); check the credentials in %s; dropped %d records",
			t.sig, t.name, describe(r), envNames(t.sig, "HEADERS"), b.items)
		return
	}
	e.lg.errorf("%s export to %s failed, not retryable: %s%s; dropped %d records", t.sig, t.name, describe(r), hint, b.items)
}

// backoff returns the wait before retry n (0-based): exponential from
// initial, capped at maxDelay, with equal jitter (half fixed, half random)
// so that many sandboxes throttled together do not retry in lockstep while
// each still waits at least half the nominal delay.
func backoff(initial, maxDelay time.Duration, n int) time.Duration {
	d := initial
	for i := 0; i < n && (maxDelay <= 0 || d < maxDelay); i++ {
		d *= 2
	}
	if maxDelay > 0 && d > maxDelay {
		d = maxDelay
	}
	if d <= 0 {
		return 0
	}
	half := d / 2
	return half + rand.N(d-half+1)
}

// maxRetryAfter bounds a Retry-After in seconds so the conversion cannot
// overflow; a day is far beyond any flush deadline anyway.
const maxRetryAfter = 24 * time.Hour

// parseRetryAfter reads a Retry-After value, delay-seconds or HTTP-date
// (RFC 9110 10.2.3); it returns 0 when absent, malformed or in the past.
func parseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil {
		if s <= 0 {
			return 0
		}
		return min(time.Duration(s)*time.Second, maxRetryAfter)
	}
	if at, err := http.ParseTime(v); err == nil {
		if d := at.Sub(now); d > 0 {
			return min(d, maxRetryAfter)
		}
	}
	return 0
}

// parsePartialSuccess reads partial_success from an
// Export*ServiceResponse: field 1 holding {1: rejected int64, 2:
// error_message}, the same numbers for all three signals (otlp.md 7.a).
// An empty or unreadable body means full success.
func parsePartialSuccess(b []byte, isJSON bool) (rejected int64, message string) {
	if isJSON {
		return parsePartialSuccessJSON(b)
	}
	for len(b) > 0 {
		num, typ, n := wireConsumeTag(b)
		if n < 0 {
			return rejected, message
		}
		b = b[n:]
		if num == 1 && typ == wireBytesType {
			ps, n := wireConsumeBytes(b)
			if n < 0 {
				return rejected, message
			}
			b = b[n:]
			for len(ps) > 0 {
				num, typ, n := wireConsumeTag(ps)
				if n < 0 {
					return rejected, message
				}
				ps = ps[n:]
				switch {
				case num == 1 && typ == wireVarintType:
					v, n := wireConsumeVarint(ps)
					if n < 0 {
						return rejected, message
					}
					rejected, ps = int64(v), ps[n:]
				case num == 2 && typ == wireBytesType:
					v, n := wireConsumeBytes(ps)
					if n < 0 {
						return rejected, message
					}
					message, ps = string(v), ps[n:]
				default:
					n := wireConsumeFieldValue(num, typ, ps)
					if n < 0 {
						return rejected, message
					}
					ps = ps[n:]
				}
			}
			continue
		}
		n = wireConsumeFieldValue(num, typ, b)
		if n < 0 {
			return rejected, message
		}
		b = b[n:]
	}
	return rejected, message
}

// parsePartialSuccessJSON reads {"partialSuccess": {"rejectedSpans": "3",
// "errorMessage": "..."}}; int64 is a string in ProtoJSON but a number is
// accepted too, as is the proto field name partial_success.
func parsePartialSuccessJSON(b []byte) (rejected int64, message string) {
	// As json.Unmarshal into two map fields would: keys matched like
	// struct fields, null resets a field, repeated objects merge, and
	// anything but an object or null fails the whole answer.
	var camel, snake [][]byte
	err := jsonObject(b, func(k, v []byte) error {
		var f *[][]byte
		switch {
		case jsonKeyIs(k, "partialSuccess"):
			f = &camel
		case jsonKeyIs(k, "partial_success"):
			f = &snake
		default:
			return nil
		}
		switch jsonKind(v) {
		case 'n':
			*f = nil
		case '{':
			*f = append(*f, v)
		default:
			return errBadData
		}
		return nil
	})
	if err != nil {
		return 0, ""
	}
	ps := camel
	if ps == nil {
		ps = snake
	}
	// A key given twice counts once, with its last value.
	var msg, msgSnake []byte
	snakeLast := false
	for _, obj := range ps {
		jsonObject(obj, func(k, v []byte) error {
			switch {
			case strings.HasPrefix(string(k), "rejected"):
				rejected, _ = strconv.ParseInt(strings.Trim(string(v), `"`), 10, 64)
			case string(k) == "errorMessage":
				msg, snakeLast = v, false
			case string(k) == "error_message":
				msgSnake, snakeLast = v, true
			}
			return nil
		})
	}
	first, last := msgSnake, msg
	if snakeLast {
		first, last = msg, msgSnake
	}
	jsonSetString(first, &message) // a non-string leaves it as it was
	jsonSetString(last, &message)
	return rejected, message
}

// errorMessage extracts a loggable reason from an error answer: the
// message of a protobuf google.rpc.Status (field 2), else the start of the
// body, quoted so a binary or multi-line body stays on one log line.
func errorMessage(b []byte, contentType string) string {
	if strings.HasPrefix(contentType, "application/x-protobuf") || strings.HasPrefix(contentType, "application/protobuf") {
		for rest := b; len(rest) > 0; {
			num, typ, n := wireConsumeTag(rest)
			if n < 0 {
				break
			}
			rest = rest[n:]
			if num == 2 && typ == wireBytesType {
				v, n := wireConsumeBytes(rest)
				if n < 0 {
					break
				}
				b = v
				break
			}
			n = wireConsumeFieldValue(num, typ, rest)
			if n < 0 {
				break
			}
			rest = rest[n:]
		}
	}
	if len(b) == 0 {
		return ""
	}
	if len(b) > errorBodyPrefix {
		return strconv.Quote(string(b[:errorBodyPrefix])) + "…"
	}
	return strconv.Quote(string(b))
}

// waitCtx waits for d or until ctx is done, with a timer rather than
// time.Sleep so a shutdown or a deadline never strands the wait; it
// reports whether the full wait elapsed.
func waitCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
