package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// testTimeout bounds every network exchange of these tests.
const testTimeout = 10 * time.Second

// newH2CServer serves h on 127.0.0.1 over HTTP/1.1 and h2c (prior
// knowledge), as the extension does, and counts accepted connections.
func newH2CServer(t *testing.T, h http.Handler) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.Config.Protocols = new(http.Protocols)
	srv.Config.Protocols.SetHTTP1(true)
	srv.Config.Protocols.SetUnencryptedHTTP2(true)
	srv.Config.ReadHeaderTimeout = testTimeout
	var conns atomic.Int32
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(func() {
		srv.CloseClientConnections()
		srv.Close()
	})
	return srv, &conns
}

// newH2CClient is a client that speaks only h2c, like the gRPC exporter's.
func newH2CClient(t *testing.T) *http.Client {
	tr := &http.Transport{}
	tr.Protocols = new(http.Protocols)
	tr.Protocols.SetUnencryptedHTTP2(true)
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: testTimeout}
}

type ingestCall struct {
	sig signal
	pb  []byte
}

// fakeIngest records what the handler hands over, and fails on payloads
// that start with a magic word.
type fakeIngest struct {
	mu    sync.Mutex
	calls []ingestCall
}

func (f *fakeIngest) ingest(sig signal, pb []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, ingestCall{sig, bytes.Clone(pb)})
	switch {
	case bytes.HasPrefix(pb, []byte("bad")):
		return fmt.Errorf("%w: resource_spans[0]: 100%% broken, café\n", errBadData)
	case bytes.HasPrefix(pb, []byte("big")):
		return fmt.Errorf("%w: 3 MiB after enrichment", errTooLarge)
	case bytes.HasPrefix(pb, []byte("down")):
		return errors.New("shutting down")
	}
	return nil
}

func (f *fakeIngest) got() []ingestCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]ingestCall(nil), f.calls...)
}

// grpcFrame is one length-prefixed message.
func grpcFrame(flag byte, msg []byte) []byte {
	b := []byte{flag, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(b[1:], uint32(len(msg)))
	return append(b, msg...)
}

func gzipBytes(t testing.TB, b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func tracesPayload(t testing.TB) []byte {
	td := &tracepb.TracesData{ResourceSpans: []*tracepb.ResourceSpans{{
		Resource: &resourcepb.Resource{Attributes: []*commonpb.KeyValue{{
			Key: "service.name", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: "checkout"}},
		}}},
		ScopeSpans: []*tracepb.ScopeSpans{{Spans: []*tracepb.Span{{
			TraceId: bytes.Repeat([]byte{1}, 16), SpanId: bytes.Repeat([]byte{2}, 8),
			Name: "GET /cart", StartTimeUnixNano: 1700000000000000000, EndTimeUnixNano: 1700000000250000000,
		}}}},
	}}}
	b, err := proto.Marshal(td)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// grpcReply is what a raw gRPC call got back.
type grpcReply struct {
	httpStatus int
	proto      int
	header     http.Header
	body       []byte
	status     string // grpc-status, from trailers (or headers for Trailers-Only)
	message    string // grpc-message, decoded
	reused     bool   // the call ran on an already open connection
}

// callGRPC posts body to url with content-type application/grpc plus hdr,
// and reads the whole answer, trailers included.
func callGRPC(t *testing.T, c *http.Client, url string, hdr map[string]string, body io.Reader) grpcReply {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	defer cancel()
	var r grpcReply
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) { r.reused = i.Reused }})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/grpc")
	req.Header.Set("Te", "trailers")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	r.body, err = io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read answer: %v", err)
	}
	r.httpStatus, r.proto, r.header = resp.StatusCode, resp.ProtoMajor, resp.Header
	md := resp.Trailer
	if resp.Header.Get("Grpc-Status") != "" {
		md = resp.Header
	}
	r.status, r.message = md.Get("Grpc-Status"), grpcDecodeMessage(md.Get("Grpc-Message"))
	return r
}

var emptyResponse = []byte{0, 0, 0, 0, 0}

func TestGRPCReceiverRoutesSignals(t *testing.T) {
	ing := &fakeIngest{}
	srv, _ := newH2CServer(t, newGRPCHandler(ing.ingest, 1<<20, nil))
	c := newH2CClient(t)
	for sig := sigTraces; sig < numSignals; sig++ {
		r := callGRPC(t, c, srv.URL+sig.grpcPath(), nil, bytes.NewReader(grpcFrame(0, []byte(sig.String()))))
		if r.status != "0" || !bytes.Equal(r.body, emptyResponse) {
			t.Errorf("%v: grpc-status %q, body %x; want 0, %x", sig, r.status, r.body, emptyResponse)
		}
	}
	calls := ing.got()
	if len(calls) != int(numSignals) {
		t.Fatalf("got %d ingest calls; want %d", len(calls), numSignals)
	}
	for i, c := range calls {
		if c.sig != signal(i) || string(c.pb) != signal(i).String() {
			t.Errorf("call %d: got %v %q; want %v %q", i, c.sig, c.pb, signal(i), signal(i))
		}
	}
}

func TestGRPCReceiverTraces(t *testing.T) {
	payload := tracesPayload(t)
	for _, tc := range []struct {
		name  string
		hdr   map[string]string
		frame []byte
	}{
		{"identity", nil, grpcFrame(0, payload)},
		{"gzip", map[string]string{"Grpc-Encoding": "gzip"}, grpcFrame(1, gzipBytes(t, payload))},
		{"gzip encoding, uncompressed message", map[string]string{"Grpc-Encoding": "gzip"}, grpcFrame(0, payload)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ing := &fakeIngest{}
			srv, _ := newH2CServer(t, newGRPCHandler(ing.ingest, 1<<20, nil))
			r := callGRPC(t, newH2CClient(t), srv.URL+sigTraces.grpcPath(), tc.hdr, bytes.NewReader(tc.frame))
			if r.proto != 2 || r.httpStatus != 200 || r.header.Get("Content-Type") != "application/grpc" {
				t.Errorf("got HTTP/%d %d %q; want HTTP/2 200 application/grpc", r.proto, r.httpStatus, r.header.Get("Content-Type"))
			}
			if r.status != "0" || !bytes.Equal(r.body, emptyResponse) {
				t.Errorf("got grpc-status %q body %x; want 0 and %x", r.status, r.body, emptyResponse)
			}
			calls := ing.got()
			if len(calls) != 1 || calls[0].sig != sigTraces || !bytes.Equal(calls[0].pb, payload) {
				t.Fatalf("ingest got %v; want one traces call with the %d payload bytes", calls, len(payload))
			}
			var td tracepb.TracesData
			if err := proto.Unmarshal(calls[0].pb, &td); err != nil || td.ResourceSpans[0].ScopeSpans[0].Spans[0].Name != "GET /cart" {
				t.Errorf("ingested payload does not decode to the span: %v", err)
			}
		})
	}
}

// TestGRPCReceiverStatuses sends every kind of bad call on ONE connection:
// each gets its grpc-status, and the connection keeps serving.
func TestGRPCReceiverStatuses(t *testing.T) {
	const limit = 1024
	ing := &fakeIngest{}
	srv, conns := newH2CServer(t, newGRPCHandler(ing.ingest, limit, nil))
	c := newH2CClient(t)
	gz := map[string]string{"Grpc-Encoding": "gzip"}
	header := func(flag byte, n uint32) []byte {
		b := []byte{flag, 0, 0, 0, 0}
		binary.BigEndian.PutUint32(b[1:], n)
		return b
	}
	for _, tc := range []struct {
		name     string
		path     string // default: traces
		hdr      map[string]string
		body     []byte
		status   string
		message  string // substring of grpc-message
		ingested bool
	}{
		{name: "ok", body: grpcFrame(0, []byte("x")), status: "0", ingested: true},
		{name: "zero-length message", body: grpcFrame(0, nil), status: "0", ingested: true},
		{name: "grpc+proto", hdr: map[string]string{"Content-Type": "application/grpc+proto"}, body: grpcFrame(0, []byte("x")), status: "0", ingested: true},
		{name: "identity encoding", hdr: map[string]string{"Grpc-Encoding": "identity"}, body: grpcFrame(0, []byte("x")), status: "0", ingested: true},
		{name: "grpc-timeout", hdr: map[string]string{"Grpc-Timeout": "10S"}, body: grpcFrame(0, []byte("x")), status: "0", ingested: true},
		{name: "bad data", body: grpcFrame(0, []byte("bad")), status: "3", message: "bad data: resource_spans[0]: 100% broken, café\n", ingested: true},
		{name: "ingest too large", body: grpcFrame(0, []byte("big")), status: "8", message: "payload too large", ingested: true},
		{name: "ingest failed", body: grpcFrame(0, []byte("down")), status: "14", message: "shutting down", ingested: true},
		{name: "over-size prefix only", body: header(0, 1<<30), status: "8", message: "over the 1024-byte limit"},
		{name: "over-size message", body: grpcFrame(0, make([]byte, 64<<10)), status: "8", message: "65536 bytes"},
		{name: "gzip bomb", hdr: gz, body: grpcFrame(1, gzipBytes(t, make([]byte, 256<<10))), status: "8", message: "after gzip"},
		{name: "bad gzip", hdr: gz, body: grpcFrame(1, []byte("not gzip")), status: "13", message: "decompress"},
		{name: "compressed without encoding", body: grpcFrame(1, gzipBytes(t, []byte("x"))), status: "13", message: "without grpc-encoding"},
		{name: "bad compressed flag", body: grpcFrame(2, []byte("x")), status: "13", message: "compressed flag 2"},
		{name: "unsupported encoding", hdr: map[string]string{"Grpc-Encoding": "snappy"}, body: grpcFrame(0, []byte("x")), status: "12", message: "snappy"},
		{name: "unknown method", path: "/opentelemetry.proto.collector.profiles.v1development.ProfilesService/Export", body: grpcFrame(0, []byte("x")), status: "12", message: "unknown method"},
		{name: "two messages", body: append(grpcFrame(0, []byte("x")), grpcFrame(0, []byte("y"))...), status: "13", message: "more than one"},
		{name: "truncated message", body: append(header(0, 10), "short"...), status: "13", message: "truncated"},
		{name: "truncated header", body: []byte{0, 0}, status: "13", message: "truncated"},
		{name: "no message", body: nil, status: "13", message: "no request message"},
		// 1ns has passed before the body is read: the client has given up.
		{name: "grpc-timeout passed", hdr: map[string]string{"Grpc-Timeout": "1n"}, body: grpcFrame(0, []byte("x")), status: "4"},
		{name: "malformed grpc-timeout", hdr: map[string]string{"Grpc-Timeout": "1.5S"}, body: grpcFrame(0, []byte("x")), status: "13", message: "grpc-timeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := tc.path
			if path == "" {
				path = sigTraces.grpcPath()
			}
			before := len(ing.got())
			r := callGRPC(t, c, srv.URL+path, tc.hdr, bytes.NewReader(tc.body))
			if r.httpStatus != 200 || r.status != tc.status {
				t.Errorf("got HTTP %d grpc-status %q (%s); want 200 %q", r.httpStatus, r.status, r.message, tc.status)
			}
			if !strings.Contains(r.message, tc.message) {
				t.Errorf("got grpc-message %q; want it to contain %q", r.message, tc.message)
			}
			if cl, ok := r.header["Content-Length"]; ok {
				t.Errorf("got content-length %q; want none, as gRPC servers send", cl)
			}
			if got := r.header.Get("Grpc-Accept-Encoding"); got != "gzip" {
				t.Errorf("got grpc-accept-encoding %q; want gzip", got)
			}
			if tc.status == "0" != bytes.Equal(r.body, emptyResponse) {
				t.Errorf("got body %x for grpc-status %s; want the empty response only for OK", r.body, r.status)
			}
			if got := len(ing.got()) - before; got != map[bool]int{false: 0, true: 1}[tc.ingested] {
				t.Errorf("got %d ingest calls; want ingested=%v", got, tc.ingested)
			}
		})
	}
	// After every error above, a valid request still succeeds on the same
	// connection.
	r := callGRPC(t, c, srv.URL+sigLogs.grpcPath(), nil, bytes.NewReader(grpcFrame(0, []byte("ok"))))
	if r.status != "0" || !r.reused {
		t.Errorf("final call: grpc-status %q reused %v; want 0 on a reused connection", r.status, r.reused)
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("server accepted %d connections; want 1", n)
	}
}

func TestGRPCReceiverBadDataKeepsConnection(t *testing.T) {
	ing := &fakeIngest{}
	srv, conns := newH2CServer(t, newGRPCHandler(ing.ingest, 1<<20, nil))
	c := newH2CClient(t)
	url := srv.URL + sigTraces.grpcPath()
	r := callGRPC(t, c, url, nil, bytes.NewReader(grpcFrame(0, []byte("bad span"))))
	if want := "bad data: resource_spans[0]: 100% broken, café\n"; r.status != "3" || r.message != want {
		t.Errorf("got grpc-status %q message %q; want 3 %q", r.status, r.message, want)
	}
	payload := tracesPayload(t)
	r = callGRPC(t, c, url, nil, bytes.NewReader(grpcFrame(0, payload)))
	if r.status != "0" || !r.reused {
		t.Errorf("second call: got grpc-status %q reused %v; want 0 on the same connection", r.status, r.reused)
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("server accepted %d connections; want 1", n)
	}
	if calls := ing.got(); len(calls) != 2 || !bytes.Equal(calls[1].pb, payload) {
		t.Errorf("ingest got %d calls; want 2, the second with the payload", len(calls))
	}
}

func TestGRPCReceiverNotGRPC(t *testing.T) {
	srv, _ := newH2CServer(t, newGRPCHandler((&fakeIngest{}).ingest, 1<<20, nil))
	url := srv.URL + sigTraces.grpcPath()
	h1 := &http.Transport{}
	t.Cleanup(h1.CloseIdleConnections)
	for _, tc := range []struct {
		name   string
		c      *http.Client
		method string
		ct     string
		want   int
		body   string
	}{
		{"HTTP/1.1", &http.Client{Transport: h1, Timeout: testTimeout}, "POST", "application/grpc", 505, "needs HTTP/2"},
		{"GET", newH2CClient(t), "GET", "application/grpc", 405, "want POST"},
		{"content-type", newH2CClient(t), "POST", "application/x-protobuf", 415, "application/x-protobuf"},
		{"grpc+json", newH2CClient(t), "POST", "application/grpc+json", 415, "want application/grpc"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequestWithContext(t.Context(), tc.method, url, bytes.NewReader(grpcFrame(0, nil)))
			req.Header.Set("Content-Type", tc.ct)
			resp, err := tc.c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.want || !strings.Contains(string(body), tc.body) {
				t.Errorf("got %d %q; want %d containing %q", resp.StatusCode, body, tc.want, tc.body)
			}
		})
	}
}

// notifyReader reports the size of every non-empty Read.
type notifyReader struct {
	io.ReadCloser
	reads chan<- int
}

func (r notifyReader) Read(p []byte) (int, error) {
	n, err := r.ReadCloser.Read(p)
	if n > 0 {
		r.reads <- n
	}
	return n, err
}

// TestGRPCReceiverSplitFrames sends the message in pieces, each in its own
// DATA frame: the client writes a piece only once the handler has read the
// previous one, so the 5-byte header itself arrives in two parts.
func TestGRPCReceiverSplitFrames(t *testing.T) {
	ing := &fakeIngest{}
	h := newGRPCHandler(ing.ingest, 1<<20, nil)
	reads := make(chan int, 64)
	var sizes []int // written by the writer goroutine, read after wg.Wait
	srv, _ := newH2CServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = notifyReader{r.Body, reads}
		h.ServeHTTP(w, r)
	}))
	payload := tracesPayload(t)
	frame := grpcFrame(0, payload)
	chunks := [][]byte{frame[:2], frame[2:4], frame[4:9], frame[9:]}

	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	defer cancel()
	pr, pw := io.Pipe()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for _, ch := range chunks {
			if _, err := pw.Write(ch); err != nil {
				return
			}
			for got := 0; got < len(ch); {
				select {
				case n := <-reads:
					got += n
					sizes = append(sizes, n)
				case <-ctx.Done():
					pw.CloseWithError(ctx.Err())
					return
				}
			}
		}
		pw.Close()
	}()
	r := callGRPC(t, newH2CClient(t), srv.URL+sigTraces.grpcPath(), nil, pr)
	pr.Close() // unblocks the writer if the call ended early
	wg.Wait()
	if r.status != "0" {
		t.Fatalf("got grpc-status %q (%s); want 0", r.status, r.message)
	}
	if len(sizes) < len(chunks) || sizes[0] != 2 {
		t.Errorf("handler reads were %v; want at least %d, the first of 2 bytes", sizes, len(chunks))
	}
	if calls := ing.got(); len(calls) != 1 || !bytes.Equal(calls[0].pb, payload) {
		t.Errorf("ingest did not get the payload byte for byte")
	}
}

// exportRequest is what the test backend saw of one export.
type exportRequest struct {
	path   string
	header http.Header
	body   []byte
}

// newTestBackend is an h2c gRPC server that records each request and
// answers with answer.
func newTestBackend(t *testing.T, answer func(w http.ResponseWriter)) (*httptest.Server, func() []exportRequest) {
	var mu sync.Mutex
	var got []exportRequest
	srv, _ := newH2CServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, exportRequest{r.URL.Path, r.Header.Clone(), body})
		mu.Unlock()
		answer(w)
	}))
	return srv, func() []exportRequest {
		mu.Lock()
		defer mu.Unlock()
		return append([]exportRequest(nil), got...)
	}
}

// grpcAnswer writes a gRPC answer: msg (nil for none) and trailers.
func grpcAnswer(hdr, trailers map[string]string, msg []byte) func(w http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "application/grpc")
		for k, v := range hdr {
			w.Header().Set(k, v)
		}
		w.WriteHeader(200)
		if msg != nil {
			w.Write(msg)
		}
		for k, v := range trailers {
			w.Header().Set(http.TrailerPrefix+k, v)
		}
	}
}

func statusDetails(s rpcStatus) string {
	return base64.RawStdEncoding.EncodeToString(appendRPCStatus(nil, s))
}

func TestGRPCSendAnswers(t *testing.T) {
	ok := map[string]string{"Grpc-Status": "0"}
	for _, tc := range []struct {
		name   string
		answer func(w http.ResponseWriter)
		want   sendResult
	}{
		{"ok, empty response", grpcAnswer(nil, ok, grpcFrame(0, nil)), sendResult{}},
		{"ok, no response message", grpcAnswer(nil, ok, nil), sendResult{}},
		{"partial success", grpcAnswer(nil, ok, grpcFrame(0, partialSuccess(3, "3 spans without a name"))),
			sendResult{rejected: 3, message: "3 spans without a name"}},
		{"partial success, gzip", grpcAnswer(map[string]string{"Grpc-Encoding": "gzip"}, ok, grpcFrame(1, gzipBytes(t, partialSuccess(7, "late")))),
			sendResult{rejected: 7, message: "late"}},
		{"partial success, unknown fields", grpcAnswer(nil, ok, grpcFrame(0, append(protowire.AppendTag(nil, 9, protowire.Fixed64Type), append(make([]byte, 8), partialSuccess(1, "x")...)...))),
			sendResult{rejected: 1, message: "x"}},
		{"unreadable response", grpcAnswer(nil, ok, []byte{0, 0, 0, 9, 1}),
			sendResult{message: "unreadable Export response: message length 2305, but 0 bytes follow"}},
		{"unavailable with RetryInfo", grpcAnswer(nil, map[string]string{"Grpc-Status": "14", "Grpc-Message": "busy",
			"Grpc-Status-Details-Bin": statusDetails(rpcStatus{code: 14, message: "busy", hasRetryInfo: true, retryDelay: 2500 * time.Millisecond})}, nil),
			sendResult{status: 14, retryable: true, retryAfter: 2500 * time.Millisecond, message: "busy"}},
		{"unavailable", grpcAnswer(nil, map[string]string{"Grpc-Status": "14"}, nil), sendResult{status: 14, retryable: true}},
		{"resource exhausted", grpcAnswer(nil, map[string]string{"Grpc-Status": "8", "Grpc-Message": "too big"}, nil),
			sendResult{status: 8, message: "too big"}},
		{"resource exhausted with RetryInfo, padded base64", grpcAnswer(nil, map[string]string{"Grpc-Status": "8",
			"Grpc-Status-Details-Bin": base64.StdEncoding.EncodeToString(appendRPCStatus(nil, rpcStatus{code: 8, message: "slow down", hasRetryInfo: true, retryDelay: time.Second}))}, nil),
			sendResult{status: 8, retryable: true, retryAfter: time.Second, message: "slow down"}},
		{"invalid argument", grpcAnswer(nil, map[string]string{"Grpc-Status": "3", "Grpc-Message": "span 2: 100%25 caf%C3%A9%0A"}, nil),
			sendResult{status: 3, message: "span 2: 100% café\n"}},
		{"deadline exceeded", grpcAnswer(nil, map[string]string{"Grpc-Status": "4"}, nil), sendResult{status: 4, retryable: true}},
		{"unauthenticated", grpcAnswer(nil, map[string]string{"Grpc-Status": "16"}, nil), sendResult{status: 16}},
		{"trailers-only", func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "application/grpc")
			w.Header().Set("Grpc-Status", "14")
			w.Header().Set("Grpc-Message", "draining")
			w.WriteHeader(200)
		}, sendResult{status: 14, retryable: true, message: "draining"}},
		{"missing grpc-status", grpcAnswer(nil, nil, grpcFrame(0, nil)), sendResult{status: 13, message: "response without grpc-status"}},
		{"malformed grpc-status", grpcAnswer(nil, map[string]string{"Grpc-Status": "OK"}, nil), sendResult{status: 13, message: `malformed grpc-status "OK"`}},
		{"HTTP 503", func(w http.ResponseWriter) { http.Error(w, "upstream overloaded", 503) },
			sendResult{status: 14, retryable: true, message: "HTTP 503 without grpc-status: upstream overloaded"}},
		{"HTTP 429 Retry-After", func(w http.ResponseWriter) {
			w.Header().Set("Retry-After", "7")
			w.WriteHeader(429)
		}, sendResult{status: 14, retryable: true, retryAfter: 7 * time.Second, message: "HTTP 429 without grpc-status: "}},
		{"HTTP 401", func(w http.ResponseWriter) { w.WriteHeader(401) }, sendResult{status: 16, message: "HTTP 401 without grpc-status: "}},
		{"HTTP 200 not gRPC", func(w http.ResponseWriter) { w.Write([]byte("<html>")) },
			sendResult{status: 2, message: `response content-type "text/html; charset=utf-8"; want application/grpc`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, _ := newTestBackend(t, tc.answer)
			ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
			defer cancel()
			got := grpcSend(ctx, newH2CClient(t), srv.URL, sigTraces, []byte("payload"), false, nil)
			if got.err != nil {
				t.Fatalf("got err %v; want an answer", got.err)
			}
			if got != tc.want {
				t.Errorf("got %+v; want %+v", got, tc.want)
			}
		})
	}
}

func TestGRPCSendRequest(t *testing.T) {
	payload := tracesPayload(t)
	for _, gz := range []bool{false, true} {
		t.Run(fmt.Sprint("gzip=", gz), func(t *testing.T) {
			srv, got := newTestBackend(t, grpcAnswer(nil, map[string]string{"Grpc-Status": "0"}, grpcFrame(0, nil)))
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			md := []header{{"Authorization", "Bearer s3cret"}, {"X-Tenant", "a"}, {"X-Token-Bin", "\x00\xffraw"}}
			res := grpcSend(ctx, newH2CClient(t), srv.URL+"/", sigMetrics, payload, gz, md)
			if res != (sendResult{}) {
				t.Fatalf("got %+v; want OK", res)
			}
			reqs := got()
			if len(reqs) != 1 {
				t.Fatalf("got %d requests; want 1", len(reqs))
			}
			r := reqs[0]
			if r.path != sigMetrics.grpcPath() {
				t.Errorf("got path %q; want %q", r.path, sigMetrics.grpcPath())
			}
			wantEnc := ""
			if gz {
				wantEnc = "gzip"
			}
			for k, want := range map[string]string{
				"Content-Type": "application/grpc", "Te": "trailers", "Grpc-Encoding": wantEnc,
				"Grpc-Accept-Encoding": "gzip", "Accept-Encoding": "identity",
				"Authorization": "Bearer s3cret", "X-Tenant": "a",
				"X-Token-Bin": base64.RawStdEncoding.EncodeToString([]byte("\x00\xffraw")),
				"User-Agent":  extensionName + "/" + version + " grpc-go-compatible",
			} {
				if v := r.header.Get(k); v != want {
					t.Errorf("got %s: %q; want %q", k, v, want)
				}
			}
			d, ok := parseGRPCTimeout(r.header.Get("Grpc-Timeout"))
			if !ok || d <= 0 || d > 30*time.Second {
				t.Errorf("got grpc-timeout %q; want a positive duration up to 30s", r.header.Get("Grpc-Timeout"))
			}
			if len(r.body) < 5 || int(binary.BigEndian.Uint32(r.body[1:5])) != len(r.body)-5 {
				t.Fatalf("body %x is not one length-prefixed message", r.body)
			}
			msg := r.body[5:]
			if gz {
				if r.body[0] != 1 {
					t.Fatalf("got compressed flag %d; want 1", r.body[0])
				}
				zr, err := gzip.NewReader(bytes.NewReader(msg))
				if err != nil {
					t.Fatal(err)
				}
				if msg, err = io.ReadAll(zr); err != nil {
					t.Fatal(err)
				}
			} else if r.body[0] != 0 {
				t.Fatalf("got compressed flag %d; want 0", r.body[0])
			}
			if !bytes.Equal(msg, payload) {
				t.Errorf("server got a message of %d bytes; want the %d payload bytes", len(msg), len(payload))
			}
		})
	}
}

func TestGRPCSendTransportErrors(t *testing.T) {
	t.Run("connection refused", func(t *testing.T) {
		srv, _ := newH2CServer(t, http.NotFoundHandler())
		url := srv.URL
		srv.Close()
		res := grpcSend(t.Context(), newH2CClient(t), url, sigLogs, nil, false, nil)
		if res.err == nil || !res.retryable {
			t.Errorf("got %+v; want a retryable error", res)
		}
	})
	t.Run("HTTP/1.1 answer", func(t *testing.T) {
		srv, _ := newTestBackend(t, grpcAnswer(nil, map[string]string{"Grpc-Status": "0"}, nil))
		h1 := &http.Transport{}
		t.Cleanup(h1.CloseIdleConnections)
		res := grpcSend(t.Context(), &http.Client{Transport: h1, Timeout: testTimeout}, srv.URL, sigLogs, nil, false, nil)
		if res.err == nil || res.retryable || !strings.Contains(res.err.Error(), "needs HTTP/2") {
			t.Errorf("got %+v; want a non-retryable error saying gRPC needs HTTP/2", res)
		}
	})
	t.Run("bad endpoint", func(t *testing.T) {
		res := grpcSend(t.Context(), newH2CClient(t), "http://127.0.0.1:bad", sigLogs, nil, false, nil)
		if res.err == nil || res.retryable {
			t.Errorf("got %+v; want a non-retryable error", res)
		}
	})
}

// TestGRPCRoundTrip runs the exporter against the receiver.
func TestGRPCRoundTrip(t *testing.T) {
	ing := &fakeIngest{}
	srv, conns := newH2CServer(t, newGRPCHandler(ing.ingest, 64<<10, nil))
	c := newH2CClient(t)
	payload := tracesPayload(t)
	for _, tc := range []struct {
		name    string
		body    []byte
		gz      bool
		want    sendResult
		ingests bool
	}{
		{"identity", payload, false, sendResult{}, true},
		{"gzip", payload, true, sendResult{}, true},
		{"bad data", []byte("bad"), true, sendResult{status: 3, message: "bad data: resource_spans[0]: 100% broken, café\n"}, true},
		{"ingest too large", []byte("big"), false, sendResult{status: 8, message: "payload too large: 3 MiB after enrichment"}, true},
		{"ingest failed", []byte("down"), false, sendResult{status: 14, retryable: true, message: "shutting down"}, true},
		// Bigger than the flow-control window: the receiver answers before
		// reading it, and the client must still get the status.
		{"over the limit", make([]byte, 1<<20), false, sendResult{status: 8, message: "request message of 1048576 bytes is over the 65536-byte limit"}, false},
		{"after the early answer", payload, false, sendResult{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(ing.got())
			ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
			defer cancel()
			got := grpcSend(ctx, c, srv.URL, sigTraces, tc.body, tc.gz, []header{{"authorization", "Bearer x"}})
			if got != tc.want {
				t.Errorf("got %+v; want %+v", got, tc.want)
			}
			calls := ing.got()[before:]
			if tc.ingests != (len(calls) == 1) || (tc.ingests && !bytes.Equal(calls[0].pb, tc.body)) {
				t.Errorf("ingest got %d calls; want the body ingested=%v", len(calls), tc.ingests)
			}
		})
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("server accepted %d connections; want 1", n)
	}
}

func TestGRPCRetryable(t *testing.T) {
	// otlp.md 4.4: the OTLP client retry table.
	retry := map[int]bool{grpcCanceled: true, grpcDeadlineExceeded: true, grpcAborted: true,
		grpcOutOfRange: true, grpcUnavailable: true, grpcDataLoss: true}
	for code := 0; code <= 16; code++ {
		if got := grpcRetryable(code, false); got != retry[code] {
			t.Errorf("grpcRetryable(%d, false) = %v; want %v", code, got, retry[code])
		}
		want := retry[code] || code == grpcResourceExhausted
		if got := grpcRetryable(code, true); got != want {
			t.Errorf("grpcRetryable(%d, true) = %v; want %v", code, got, want)
		}
	}
	for _, tc := range []struct{ http, code int }{
		{400, 13}, {401, 16}, {403, 7}, {404, 12}, {429, 14}, {431, 13},
		{502, 14}, {503, 14}, {504, 14}, {500, 2}, {200, 2}, {418, 2},
	} {
		if got := grpcCodeForHTTP(tc.http); got != tc.code {
			t.Errorf("grpcCodeForHTTP(%d) = %d; want %d", tc.http, got, tc.code)
		}
	}
}

func TestGRPCMessageEncoding(t *testing.T) {
	for _, tc := range []struct{ in, enc string }{
		{"", ""},
		{"plain text: ok", "plain text: ok"},
		{"100%", "100%25"},
		{"café", "caf%C3%A9"},
		{"a\nb\tc\x7f", "a%0Ab%09c%7F"},
		{"~ !", "~ !"},
	} {
		if got := grpcEncodeMessage(tc.in); got != tc.enc {
			t.Errorf("grpcEncodeMessage(%q) = %q; want %q", tc.in, got, tc.enc)
		}
		if got := grpcDecodeMessage(tc.enc); got != tc.in {
			t.Errorf("grpcDecodeMessage(%q) = %q; want %q", tc.enc, got, tc.in)
		}
	}
	for _, tc := range []struct{ in, want string }{
		{"%", "%"}, {"%4", "%4"}, {"%zz", "%zz"}, {"50%%41", "50%A"}, {"%c3%a9", "é"},
	} {
		if got := grpcDecodeMessage(tc.in); got != tc.want {
			t.Errorf("grpcDecodeMessage(%q) = %q; want %q", tc.in, got, tc.want)
		}
	}
	long := strings.Repeat("é", grpcMaxMessageLen) // 2 bytes each
	got := grpcDecodeMessage(grpcEncodeMessage(long))
	if len(got) != grpcMaxMessageLen || got != long[:grpcMaxMessageLen] {
		t.Errorf("long message cut to %d bytes; want %d at a rune boundary", len(got), grpcMaxMessageLen)
	}
}

func TestGRPCTimeout(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{-time.Second, "0n"},
		{0, "0n"},
		{1, "1n"},
		{99999999, "99999999n"},
		{100000000, "100000u"},
		{1234 * time.Millisecond, "1234000u"},
		{100001 * time.Microsecond, "100001u"},
		{100000001, "100001u"}, // rounds up, never down
		{30 * time.Minute, "1800000m"},
		{200000 * time.Second, "200000S"},
		{1<<63 - 1, "2562048H"},
	} {
		if got := formatGRPCTimeout(tc.d); got != tc.want {
			t.Errorf("formatGRPCTimeout(%v) = %q; want %q", tc.d, got, tc.want)
		}
	}
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"10S", 10 * time.Second, true},
		{"500m", 500 * time.Millisecond, true},
		{"1u", time.Microsecond, true},
		{"7n", 7, true},
		{"2M", 2 * time.Minute, true},
		{"1H", time.Hour, true},
		{"99999999H", 1<<63 - 1, true},
		{"0n", 0, true},
		{"", 0, false},
		{"S", 0, false},
		{"10", 0, false},
		{"10s", 0, false},
		{"123456789S", 0, false},
		{"-1S", 0, false},
		{"1.5S", 0, false},
	} {
		got, ok := parseGRPCTimeout(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("parseGRPCTimeout(%q) = %v, %v; want %v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestRPCStatus(t *testing.T) {
	for _, s := range []rpcStatus{
		{},
		{code: 3, message: "bad"},
		{code: 14, message: "busy", hasRetryInfo: true, retryDelay: 2500 * time.Millisecond},
		{code: 8, hasRetryInfo: true},
		{code: -1, message: strings.Repeat("x", 300), hasRetryInfo: true, retryDelay: 90 * time.Hour},
	} {
		got, err := parseRPCStatus(appendRPCStatus(nil, s))
		if err != nil || got != s {
			t.Errorf("parseRPCStatus(appendRPCStatus(%+v)) = %+v, %v; want it back", s, got, err)
		}
	}
	// A status as grpc-go writes it: other details first, then RetryInfo.
	b := appendVarint(nil, 1, 14)
	b, d := openLen(b, 3)
	b = appendString(b, 1, "type.googleapis.com/google.rpc.BadRequest")
	b = appendBytes(b, 2, []byte{0x0a, 0x02, 0x0a, 0x00})
	b = closeLen(b, d)
	b, d = openLen(b, 3)
	b = appendBytes(b, 2, []byte{0x0a, 0x04, 0x08, 0x05, 0x10, 0x01}) // value before type_url
	b = appendString(b, 1, grpcRetryInfoType)
	b = closeLen(b, d)
	got, err := parseRPCStatus(b)
	if want := (rpcStatus{code: 14, hasRetryInfo: true, retryDelay: 5*time.Second + 1}); err != nil || got != want {
		t.Errorf("got %+v, %v; want %+v", got, err, want)
	}
	// Negative delays become 0; truncated input is an error.
	neg := appendRPCStatus(nil, rpcStatus{hasRetryInfo: true, retryDelay: -3 * time.Second})
	if got, err := parseRPCStatus(neg); err != nil || got.retryDelay != 0 || !got.hasRetryInfo {
		t.Errorf("negative delay: got %+v, %v; want RetryInfo with 0", got, err)
	}
	if _, err := parseRPCStatus(b[:len(b)-1]); err == nil {
		t.Errorf("truncated status: got no error")
	}
}
