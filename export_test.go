package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"encoding/binary"
	"google.golang.org/protobuf/encoding/protowire"
	"testing/iotest"
)

// received is one request as the fake collector saw it.
type received struct {
	path    string
	remote  string // client address: one per connection
	header  http.Header
	body    []byte // after gunzip when Content-Encoding was gzip
	wireLen int
}

// collector is a fake OTLP/HTTP backend on 127.0.0.1 that records what it
// receives and answers with respond (200 and an empty body when nil).
type collector struct {
	srv     *httptest.Server
	mu      sync.Mutex
	reqs    []received
	respond func(n int, w http.ResponseWriter) // n counts requests from 0
}

func newCollector(t *testing.T, respond func(n int, w http.ResponseWriter)) *collector {
	t.Helper()
	c := &collector{respond: respond}
	c.srv = httptest.NewServer(http.HandlerFunc(c.handle))
	t.Cleanup(c.srv.Close)
	return c
}

func (c *collector) handle(w http.ResponseWriter, r *http.Request) {
	wire, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	body := wire
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(bytes.NewReader(wire))
		if err == nil {
			body, err = io.ReadAll(zr)
		}
		if err != nil {
			http.Error(w, "gunzip: "+err.Error(), http.StatusBadRequest)
			return
		}
	}
	c.mu.Lock()
	n := len(c.reqs)
	c.reqs = append(c.reqs, received{path: r.URL.Path, remote: r.RemoteAddr, header: r.Header.Clone(), body: body, wireLen: len(wire)})
	c.mu.Unlock()
	if c.respond != nil {
		c.respond(n, w)
	}
}

func (c *collector) requests() []received {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]received(nil), c.reqs...)
}

// testConfig points every signal at base with OTLP/HTTP protobuf and short
// retry delays.
func testConfig(base string) *Config {
	cfg := new(Config)
	for s := range numSignals {
		cfg.Export[s] = exportTarget{
			Endpoint:    base + s.urlPath(),
			Protocol:    protoHTTPProtobuf,
			Compression: "none",
			Timeout:     10 * time.Second,
		}
	}
	cfg.OTLPConfigured = true
	cfg.Buffer.MaxBytes = 4 << 20
	cfg.Buffer.BatchMaxBytes = 1 << 20
	cfg.Retry.MaxRetries = 3
	cfg.Retry.InitialDelay = time.Millisecond
	cfg.Retry.MaxDelay = 4 * time.Millisecond
	return cfg
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type testExporter struct {
	*exporter
	r    *ring
	st   *stats
	logs *syncBuffer
}

func newTestExporter(t *testing.T, cfg *Config) testExporter {
	t.Helper()
	st := new(stats)
	logs := new(syncBuffer)
	lg := newLogger(logs, levelDebug)
	r := newRing(cfg, st, lg)
	e, err := newExporter(cfg, r, st, lg)
	if err != nil {
		t.Fatalf("newExporter: %v", err)
	}
	t.Cleanup(e.closeIdle)
	t.Cleanup(func() {
		if testing.Verbose() && logs.String() != "" {
			t.Logf("extension log:\n%s", logs)
		}
	})
	return testExporter{e, r, st, logs}
}

// roundTripFunc is an in-memory transport for tests that run inside a
// synctest bubble, where real sockets must not be.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func answer(status int, header http.Header, body string) *http.Response {
	if header == nil {
		header = http.Header{}
	}
	return &http.Response{StatusCode: status, Header: header, Body: io.NopCloser(strings.NewReader(body))}
}

// useTransport replaces every signal's client with one using rt.
func (e testExporter) useTransport(rt http.RoundTripper) {
	for _, t := range e.t {
		t.client = &http.Client{Transport: rt}
	}
}

func TestExportBody(t *testing.T) {
	for _, compression := range []string{"none", "gzip"} {
		t.Run(compression, func(t *testing.T) {
			c := newCollector(t, nil)
			cfg := testConfig(c.srv.URL)
			for s := range numSignals {
				cfg.Export[s].Compression = compression
				cfg.Export[s].Headers = []header{{"Authorization", "Bearer s3cret"}, {"X-Org", "acme"}}
			}
			e := newTestExporter(t, cfg)
			t1, t2 := traceChunk(t, "a", 3), traceChunk(t, "b", 2)
			l1 := logChunk(t, "hello")
			e.r.push(sigTraces, t1, 3)
			e.r.push(sigLogs, l1, 1)
			e.r.push(sigTraces, t2, 2)

			res := e.flush(context.Background())
			if res.batches != 2 || res.records != 6 || res.dropped != 0 || res.requeued != 0 {
				t.Errorf("flush = %v; want 2 batches, 6 records, none dropped or requeued", res)
			}
			if !e.r.empty() {
				t.Error("ring not empty after flush")
			}
			got := map[string]received{}
			for _, r := range c.requests() {
				got[r.path] = r
			}
			if len(got) != 2 {
				t.Fatalf("requests to %d paths; want 2 (/v1/traces, /v1/logs)", len(got))
			}
			wantBodies := map[string][]byte{"/v1/traces": append(append([]byte(nil), t1...), t2...), "/v1/logs": l1}
			for path, want := range wantBodies {
				r := got[path]
				if !bytes.Equal(r.body, want) {
					t.Errorf("%s body = %d bytes; want the %d bytes buffered", path, len(r.body), len(want))
				}
				for _, h := range [][2]string{
					{"Content-Type", "application/x-protobuf"},
					{"User-Agent", "otel-lambda-extension/" + version},
					{"Authorization", "Bearer s3cret"},
					{"X-Org", "acme"},
				} {
					if v := r.header.Get(h[0]); v != h[1] {
						t.Errorf("%s header %s = %q; want %q", path, h[0], v, h[1])
					}
				}
				wantEnc := ""
				if compression == "gzip" {
					wantEnc = "gzip"
					if len(want) > 100 && r.wireLen >= len(want) {
						t.Errorf("%s gzipped %d bytes to %d; want smaller", path, len(want), r.wireLen)
					}
				}
				if v := r.header.Get("Content-Encoding"); v != wantEnc {
					t.Errorf("%s Content-Encoding = %q; want %q", path, v, wantEnc)
				}
			}
			if got := strings.Join(spanNames(t, got["/v1/traces"].body), " "); got != "a-0 a-1 a-2 b-0 b-1" {
				t.Errorf("spans received = %s; want a-0 a-1 a-2 b-0 b-1", got)
			}
			if got := e.st.sig[sigTraces].exported.records.Load(); got != 5 {
				t.Errorf("traces exported = %d; want 5", got)
			}
			if strings.Contains(e.logs.String(), "s3cret") {
				t.Errorf("credentials in the log: %s", e.logs)
			}
		})
	}
}

func TestExportJSON(t *testing.T) {
	c := newCollector(t, func(_ int, w http.ResponseWriter) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"partialSuccess":{"rejectedSpans":"1","errorMessage":"too old"}}`)
	})
	cfg := testConfig(c.srv.URL)
	cfg.Export[sigTraces].Protocol = protoHTTPJSON
	e := newTestExporter(t, cfg)
	e.r.push(sigTraces, traceChunk(t, "x", 2), 2)
	e.flush(context.Background())
	reqs := c.requests()
	if len(reqs) != 1 || reqs[0].header.Get("Content-Type") != "application/json" || !bytes.HasPrefix(reqs[0].body, []byte("{")) {
		t.Fatalf("requests = %d; want one JSON body", len(reqs))
	}
	if !strings.Contains(e.logs.String(), "1 of 2 records rejected: too old") {
		t.Errorf("log %q; want the partial success", e.logs)
	}
}

func TestExportRetriesThenSucceeds(t *testing.T) {
	tests := []struct {
		status  int
		retried bool
	}{
		{http.StatusTooManyRequests, true},
		{http.StatusBadGateway, true},
		{http.StatusServiceUnavailable, true},
		{http.StatusGatewayTimeout, true},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.status), func(t *testing.T) {
			c := newCollector(t, func(n int, w http.ResponseWriter) {
				if n == 0 {
					w.WriteHeader(tt.status)
				}
			})
			e := newTestExporter(t, testConfig(c.srv.URL))
			chunk := traceChunk(t, "r", 4)
			e.r.push(sigTraces, chunk, 4)
			res := e.flush(context.Background())
			if res.batches != 1 || res.retries != 1 || res.dropped != 0 {
				t.Errorf("flush = %v; want 1 batch sent after 1 retry", res)
			}
			reqs := c.requests()
			if len(reqs) != 2 || !bytes.Equal(reqs[0].body, chunk) || !bytes.Equal(reqs[1].body, chunk) {
				t.Fatalf("requests = %d; want the same body twice", len(reqs))
			}
			st := &e.st.sig[sigTraces]
			if st.retries.Load() != 1 || st.retried.records.Load() != 4 || st.exported.records.Load() != 4 {
				t.Errorf("stats retries %d retried %d exported %d; want 1 4 4",
					st.retries.Load(), st.retried.records.Load(), st.exported.records.Load())
			}
			if !strings.Contains(e.logs.String(), "retry attempt 1/3") {
				t.Errorf("log %q; want the retry attempt", e.logs)
			}
		})
	}
}

func TestExportRetryAfterHonoured(t *testing.T) {
	for _, ra := range []string{"3", "date"} {
		t.Run(ra, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				cfg := testConfig("http://collector.invalid")
				cfg.Retry.InitialDelay = 100 * time.Millisecond
				cfg.Retry.MaxDelay = 10 * time.Second
				e := newTestExporter(t, cfg)
				var times []time.Time
				e.useTransport(roundTripFunc(func(r *http.Request) (*http.Response, error) {
					times = append(times, time.Now())
					if len(times) == 1 {
						v := ra
						if ra == "date" {
							// HTTP-dates have whole seconds; the bubble starts on one.
							v = time.Now().Add(3 * time.Second).UTC().Format(http.TimeFormat)
						}
						return answer(http.StatusTooManyRequests, http.Header{"Retry-After": {v}}, ""), nil
					}
					return answer(http.StatusOK, nil, ""), nil
				}))
				e.r.push(sigMetrics, make([]byte, 10), 1)
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				res := e.flush(ctx)
				if res.batches != 1 || res.retries != 1 {
					t.Fatalf("flush = %v; want sent after 1 retry", res)
				}
				if got := times[1].Sub(times[0]); got != 3*time.Second {
					t.Errorf("retried after %v; want 3s (Retry-After)", got)
				}
			})
		})
	}
}

func TestExportBackoffBetweenRetries(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := testConfig("http://collector.invalid")
		cfg.Retry.MaxRetries = 4
		cfg.Retry.InitialDelay = time.Second
		cfg.Retry.MaxDelay = 3 * time.Second
		e := newTestExporter(t, cfg)
		var times []time.Time
		e.useTransport(roundTripFunc(func(r *http.Request) (*http.Response, error) {
			times = append(times, time.Now())
			return answer(http.StatusServiceUnavailable, nil, ""), nil
		}))
		e.r.push(sigLogs, make([]byte, 10), 1)
		res := e.flush(context.Background())
		if len(times) != 5 || res.requeued != 1 || res.dropped != 0 {
			t.Fatalf("attempts %d, flush %v; want 5 attempts then requeued", len(times), res)
		}
		// Nominal delays 1s 2s 3s 3s (capped), each with equal jitter: [d/2, d].
		nominal := []time.Duration{time.Second, 2 * time.Second, 3 * time.Second, 3 * time.Second}
		for i, d := range nominal {
			if got := times[i+1].Sub(times[i]); got < d/2 || got > d {
				t.Errorf("wait before retry %d = %v; want within [%v, %v]", i+1, got, d/2, d)
			}
		}
		if e.r.records(sigLogs) != 1 {
			t.Errorf("ring holds %d records; want the requeued 1", e.r.records(sigLogs))
		}
	})
}

func TestExportRetryAfterPastDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := testConfig("http://collector.invalid")
		cfg.Retry.MaxDelay = time.Minute
		e := newTestExporter(t, cfg)
		attempts := 0
		e.useTransport(roundTripFunc(func(r *http.Request) (*http.Response, error) {
			attempts++
			if attempts == 1 {
				return answer(http.StatusServiceUnavailable, http.Header{"Retry-After": {"30"}}, ""), nil
			}
			return answer(http.StatusOK, nil, ""), nil
		}))
		e.r.push(sigTraces, traceChunk(t, "k", 2), 2)
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		res := e.flush(ctx)
		cancel()
		if res.requeued != 2 || res.dropped != 0 || attempts != 1 {
			t.Fatalf("flush = %v after %d attempts; want 2 requeued after 1 attempt", res, attempts)
		}
		if time.Since(start) != 0 {
			t.Errorf("flush waited %v; want no wait when the retry cannot fit", time.Since(start))
		}
		if e.st.sig[sigTraces].dropped.records.Load() != 0 || e.r.records(sigTraces) != 2 {
			t.Errorf("dropped %d, buffered %d; want 0 and 2", e.st.sig[sigTraces].dropped.records.Load(), e.r.records(sigTraces))
		}

		// The server's 30 s still hold: a short flush does not call it...
		ctx, cancel = context.WithTimeout(context.Background(), 5*time.Second)
		e.flush(ctx)
		cancel()
		if attempts != 1 {
			t.Errorf("attempts = %d; want 1: a flush inside Retry-After must not call the server", attempts)
		}
		// ...and a long one waits for them, then sends.
		ctx, cancel = context.WithTimeout(context.Background(), time.Minute)
		res = e.flush(ctx)
		cancel()
		if res.batches != 1 || attempts != 2 {
			t.Errorf("flush = %v after %d attempts; want sent on the second attempt", res, attempts)
		}
		if got := time.Since(start); got != 30*time.Second {
			t.Errorf("sent after %v; want 30s (Retry-After)", got)
		}
	})
}

func TestExportNonRetryable(t *testing.T) {
	tests := []struct {
		status  int
		body    string
		ctype   string
		wantLog string
	}{
		{400, "field resource_spans: invalid wire type", "text/plain", `status 400: "field resource_spans: invalid wire type"`},
		{401, "", "", "authentication failed"},
		{403, "forbidden", "", "authentication failed"},
		{404, "404 page not found", "text/plain", `"404 page not found"`},
		{413, strings.Repeat("x", 500), "", `"` + strings.Repeat("x", 200) + `"…`},
		{500, "", "", "status 500"},
		{301, "", "", "redirected to"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.status), func(t *testing.T) {
			c := newCollector(t, func(n int, w http.ResponseWriter) {
				if tt.ctype != "" {
					w.Header().Set("Content-Type", tt.ctype)
				}
				if tt.status == 301 {
					w.Header().Set("Location", "https://user:pw@elsewhere.example/v1/traces")
				}
				w.WriteHeader(tt.status)
				io.WriteString(w, tt.body)
			})
			cfg := testConfig(c.srv.URL)
			cfg.Export[sigTraces].Headers = []header{{"Authorization", "Basic dXNlcjpwYXNz"}}
			e := newTestExporter(t, cfg)
			e.r.push(sigTraces, traceChunk(t, "n", 3), 3)
			res := e.flush(context.Background())
			if res.dropped != 3 || res.retries != 0 || len(c.requests()) != 1 {
				t.Errorf("flush = %v with %d requests; want 3 dropped after 1 request", res, len(c.requests()))
			}
			if got := e.st.sig[sigTraces].dropped.records.Load(); got != 3 {
				t.Errorf("dropped records = %d; want 3", got)
			}
			logs := e.logs.String()
			wantLog := tt.wantLog
			if !strings.Contains(logs, "ERROR ") || !strings.Contains(logs, wantLog) || !strings.Contains(logs, "dropped 3 records") {
				t.Errorf("log %q; want an error with %q", logs, wantLog)
			}
			if strings.Contains(logs, "dXNlcjpwYXNz") || strings.Contains(logs, "pw@") {
				t.Errorf("credentials in the log: %s", logs)
			}
		})
	}
}

func TestErrorMessageFromStatus(t *testing.T) {
	// google.rpc.Status{code: 3, message: "bad span"} in protobuf.
	st := protowire.AppendTag(nil, 1, protowire.VarintType)
	st = protowire.AppendVarint(st, 3)
	st = protowire.AppendTag(st, 2, protowire.BytesType)
	st = protowire.AppendString(st, "bad span")
	tests := []struct {
		body, ctype, want string
	}{
		{string(st), "application/x-protobuf", `"bad span"`},
		{"plain", "text/plain", `"plain"`},
		{"", "application/x-protobuf", ""},
		{"\xff\xff", "application/x-protobuf", `"\xff\xff"`},
	}
	for _, tt := range tests {
		if got := errorMessage([]byte(tt.body), tt.ctype); got != tt.want {
			t.Errorf("errorMessage(%q, %s) = %s; want %s", tt.body, tt.ctype, got, tt.want)
		}
	}
}

// partialSuccess encodes an Export*ServiceResponse with partial_success set.
func partialSuccess(rejected int64, msg string) []byte {
	b, start := openLen(nil, 1)
	b = appendVarint(b, 1, uint64(rejected))
	b = appendString(b, 2, msg)
	return closeLen(b, start)
}

func TestExportPartialSuccess(t *testing.T) {
	c := newCollector(t, func(_ int, w http.ResponseWriter) {
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.Write(partialSuccess(2, "span too old"))
	})
	e := newTestExporter(t, testConfig(c.srv.URL))
	e.r.push(sigTraces, traceChunk(t, "p", 3), 3)
	res := e.flush(context.Background())
	if res.batches != 1 || res.retries != 0 || res.dropped != 2 {
		t.Errorf("flush = %v; want 1 batch, not retried, 2 dropped (rejected)", res)
	}
	st := &e.st.sig[sigTraces]
	if st.exported.records.Load() != 1 || st.dropped.records.Load() != 2 {
		t.Errorf("exported %d dropped %d; want 1 and 2", st.exported.records.Load(), st.dropped.records.Load())
	}
	if want := "partial success: 2 of 3 records rejected: span too old"; !strings.Contains(e.logs.String(), want) {
		t.Errorf("log %q; want %q", e.logs, want)
	}
}

func TestParsePartialSuccess(t *testing.T) {
	tests := []struct {
		name    string
		body    []byte
		json    bool
		wantN   int64
		wantMsg string
	}{
		{"empty", nil, false, 0, ""},
		{"full success", partialSuccess(0, ""), false, 0, ""},
		{"rejected", partialSuccess(7, "bad"), false, 7, "bad"},
		{"warning only", partialSuccess(0, "deprecated field"), false, 0, "deprecated field"},
		{"unknown field first", append(protowire.AppendVarint(protowire.AppendTag(nil, 9, protowire.VarintType), 1), partialSuccess(1, "x")...), false, 1, "x"},
		{"truncated", partialSuccess(5, "cut")[:4], false, 0, ""},
		{"json", []byte(`{"partialSuccess":{"rejectedDataPoints":"4","errorMessage":"nan"}}`), true, 4, "nan"},
		{"json number", []byte(`{"partial_success":{"rejected_log_records":2}}`), true, 2, ""},
		{"json empty", []byte(`{}`), true, 0, ""},
		{"json garbage", []byte(`<html>`), true, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, msg := parsePartialSuccess(tt.body, tt.json)
			if n != tt.wantN || msg != tt.wantMsg {
				t.Errorf("got %d %q; want %d %q", n, msg, tt.wantN, tt.wantMsg)
			}
		})
	}
}

func FuzzParsePartialSuccess(f *testing.F) {
	f.Add(partialSuccess(3, "x"), false)
	f.Add([]byte(`{"partialSuccess":{"rejectedSpans":"1"}}`), true)
	f.Fuzz(func(t *testing.T, b []byte, isJSON bool) {
		n, msg := parsePartialSuccess(b, isJSON)
		if !isJSON && n == 0 && msg == "" {
			return
		}
		// Oracle for protobuf: re-encoding what was read and reading it
		// again gives the same answer.
		if !isJSON {
			n2, msg2 := parsePartialSuccess(partialSuccess(n, msg), false)
			if n2 != n || msg2 != msg {
				t.Errorf("round trip %d %q; got %d %q", n, msg, n2, msg2)
			}
		}
	})
}

func TestExportRequestTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := testConfig("http://collector.invalid")
		cfg.Export[sigLogs].Timeout = 2 * time.Second
		cfg.Retry.MaxRetries = 1
		cfg.Retry.InitialDelay = time.Second
		cfg.Retry.MaxDelay = time.Second
		e := newTestExporter(t, cfg)
		attempts := 0
		e.useTransport(roundTripFunc(func(r *http.Request) (*http.Response, error) {
			attempts++
			<-r.Context().Done() // a backend that never answers
			return nil, r.Context().Err()
		}))
		e.r.push(sigLogs, logChunk(t, "slow"), 1)
		start := time.Now()
		res := e.flush(context.Background())
		if attempts != 2 || res.requeued != 1 || res.dropped != 0 {
			t.Fatalf("flush = %v after %d attempts; want 2 timed-out attempts, then requeued", res, attempts)
		}
		// 2s timeout, a jittered wait in [0.5s, 1s], 2s timeout.
		if got := time.Since(start); got < 4500*time.Millisecond || got > 5*time.Second {
			t.Errorf("flush took %v; want between 4.5s and 5s", got)
		}
		if !strings.Contains(e.logs.String(), "deadline exceeded") {
			t.Errorf("log %q; want the timeout named", e.logs)
		}
	})
}

func TestExportFlushDeadlineCutsAttempt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newTestExporter(t, testConfig("http://collector.invalid"))
		e.useTransport(roundTripFunc(func(r *http.Request) (*http.Response, error) {
			<-r.Context().Done()
			return nil, r.Context().Err()
		}))
		e.r.push(sigTraces, traceChunk(t, "d", 1), 1)
		e.r.push(sigMetrics, make([]byte, 8), 1)
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		res := e.flush(ctx)
		if res.requeued != 2 || res.dropped != 0 || res.retries != 0 {
			t.Errorf("flush = %v; want both batches requeued, none dropped", res)
		}
		if e.r.len(sigTraces) != 1 || e.r.len(sigMetrics) != 1 {
			t.Errorf("ring lens %d %d; want 1 1", e.r.len(sigTraces), e.r.len(sigMetrics))
		}
	})
}

// refusedAddr returns a 127.0.0.1 address where nothing listens.
func refusedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestExportBackendDown(t *testing.T) {
	t.Run("retries exhausted", func(t *testing.T) {
		e := newTestExporter(t, testConfig("http://"+refusedAddr(t)))
		e.r.push(sigTraces, traceChunk(t, "down", 2), 2)
		res := e.flush(context.Background())
		if res.retries != 3 || res.requeued != 2 || res.dropped != 0 {
			t.Errorf("flush = %v; want 3 retries, 2 requeued, none dropped", res)
		}
		if !strings.Contains(e.logs.String(), "connection refused") {
			t.Errorf("log %q; want the connection error", e.logs)
		}
	})
	t.Run("deadline", func(t *testing.T) {
		cfg := testConfig("http://" + refusedAddr(t))
		cfg.Retry.MaxRetries = 1000
		cfg.Retry.InitialDelay = 20 * time.Millisecond
		cfg.Retry.MaxDelay = 40 * time.Millisecond
		e := newTestExporter(t, cfg)
		e.r.push(sigLogs, logChunk(t, "down"), 1)
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		res := e.flush(ctx)
		if res.retries == 0 || res.requeued != 1 || res.dropped != 0 {
			t.Errorf("flush = %v; want some retries, then 1 requeued before the deadline", res)
		}
		if dl, _ := ctx.Deadline(); time.Now().After(dl.Add(100 * time.Millisecond)) {
			t.Errorf("flush ran past its deadline") // ordering, with slack for a loaded machine
		}
		if e.r.records(sigLogs) != 1 {
			t.Errorf("ring holds %d records; want 1", e.r.records(sigLogs))
		}
	})
}

// flakyKeepAlive is a raw HTTP/1.1 server on 127.0.0.1: on each connection
// it answers the first request with 200 and keep-alive, then reads the next
// request and closes without answering, like a connection that died while
// the sandbox was frozen.
type flakyKeepAlive struct {
	ln    net.Listener
	conns atomic.Int32
	reqs  atomic.Int32
	wg    sync.WaitGroup
}

func newFlakyKeepAlive(t *testing.T) *flakyKeepAlive {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &flakyKeepAlive{ln: ln}
	s.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.conns.Add(1)
			s.wg.Go(func() { s.serve(c) })
		}
	})
	t.Cleanup(func() { ln.Close(); s.wg.Wait() })
	return s
}

func (s *flakyKeepAlive) serve(c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second)) // bound the test
	br := bufio.NewReader(c)
	for i := 0; ; i++ {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		io.Copy(io.Discard, req.Body)
		s.reqs.Add(1)
		if i > 0 {
			return // the dead connection
		}
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
	}
}

func TestExportStaleConnectionRetriedAtOnce(t *testing.T) {
	s := newFlakyKeepAlive(t)
	cfg := testConfig("http://" + s.ln.Addr().String())
	cfg.Retry.MaxRetries = 0 // the immediate retry is not a backoff retry
	e := newTestExporter(t, cfg)
	e.r.push(sigTraces, traceChunk(t, "first", 1), 1)
	if res := e.flush(context.Background()); res.batches != 1 {
		t.Fatalf("first flush = %v; want sent", res)
	}
	e.r.push(sigTraces, traceChunk(t, "second", 1), 1)
	res := e.flush(context.Background())
	if res.batches != 1 || res.retries != 1 || res.dropped != 0 || res.requeued != 0 {
		t.Errorf("second flush = %v; want sent after one immediate retry", res)
	}
	if got := s.conns.Load(); got != 2 {
		t.Errorf("connections = %d; want 2 (the stale one, then a new one)", got)
	}
	if got := s.reqs.Load(); got != 3 {
		t.Errorf("requests = %d; want 3", got)
	}
}

func TestExportCloseIdle(t *testing.T) {
	c := newCollector(t, nil)
	conns := func() int {
		seen := map[string]bool{}
		for _, r := range c.requests() {
			seen[r.remote] = true
		}
		return len(seen)
	}
	e := newTestExporter(t, testConfig(c.srv.URL))
	send := func() {
		t.Helper()
		e.r.push(sigLogs, logChunk(t, "x"), 1)
		if res := e.flush(context.Background()); res.batches != 1 {
			t.Fatalf("flush = %v; want sent", res)
		}
	}
	send()
	send()
	if got := conns(); got != 1 {
		t.Errorf("connections after two flushes = %d; want 1 (kept alive)", got)
	}
	e.closeIdle()
	send()
	if got := conns(); got != 2 {
		t.Errorf("connections after closeIdle = %d; want 2", got)
	}
}

// writePEM writes PEM blocks to a file in dir and returns its path.
func writePEM(t *testing.T, dir, name, typ string, der []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// clientCert makes a self-signed client certificate and writes it and its
// key to dir.
func clientCert(t *testing.T, dir string) (cert *x509.Certificate, certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "otel-lambda-extension test client"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ = x509.ParseCertificate(der)
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return cert, writePEM(t, dir, "client.pem", "CERTIFICATE", der), writePEM(t, dir, "client-key.pem", "PRIVATE KEY", kder)
}

func TestExportTLS(t *testing.T) {
	dir := t.TempDir()
	clientX509, clientFile, keyFile := clientCert(t, dir)
	var handled atomic.Int32
	pool := x509.NewCertPool()
	pool.AddCert(clientX509)
	// Two servers, one that requires a client certificate: a server's TLS
	// settings cannot change while it runs.
	start := func(auth tls.ClientAuthType) *httptest.Server {
		srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			handled.Add(1)
			io.Copy(io.Discard, r.Body)
		}))
		srv.Config.ErrorLog = log.New(io.Discard, "", 0) // handshake failures are expected here
		srv.TLS = &tls.Config{ClientAuth: auth, ClientCAs: pool}
		srv.StartTLS()
		t.Cleanup(srv.Close)
		return srv
	}
	srv, mtls := start(tls.VerifyClientCertIfGiven), start(tls.RequireAndVerifyClientCert)
	caFile := writePEM(t, dir, "ca.pem", "CERTIFICATE", srv.Certificate().Raw)

	tests := []struct {
		name        string
		ca          string
		key, cert   string
		requireMTLS bool
		wantSent    bool
		wantLog     string
	}{
		{name: "private CA", ca: caFile, wantSent: true},
		{name: "mTLS", ca: caFile, key: keyFile, cert: clientFile, requireMTLS: true, wantSent: true},
		{name: "untrusted", wantLog: "set OTEL_EXPORTER_OTLP_CERTIFICATE"},
		{name: "mTLS without client certificate", ca: caFile, requireMTLS: true, wantLog: "CLIENT_CERTIFICATE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url := srv.URL
			if tt.requireMTLS {
				url = mtls.URL
			}
			before := handled.Load()
			cfg := testConfig(url)
			for s := range numSignals {
				cfg.Export[s].Certificate = tt.ca
				cfg.Export[s].ClientKey = tt.key
				cfg.Export[s].ClientCertificate = tt.cert
			}
			e := newTestExporter(t, cfg)
			e.r.push(sigTraces, traceChunk(t, "tls", 1), 1)
			res := e.flush(context.Background())
			if tt.wantSent {
				if res.batches != 1 || handled.Load() != before+1 {
					t.Errorf("flush = %v; want sent over TLS (log %s)", res, e.logs)
				}
				return
			}
			if res.batches != 0 || res.dropped != 1 || res.retries != 0 || handled.Load() != before {
				t.Errorf("flush = %v; want dropped without retries and never delivered", res)
			}
			if logs := e.logs.String(); !strings.Contains(logs, "ERROR") || !strings.Contains(logs, tt.wantLog) {
				t.Errorf("log %q; want an error naming the %s", logs, tt.wantLog)
			}
		})
	}
}

func TestLoadTLSErrors(t *testing.T) {
	dir := t.TempDir()
	_, certFile, keyFile := clientCert(t, dir)
	notPEM := filepath.Join(dir, "not.pem")
	os.WriteFile(notPEM, []byte("hello"), 0o600)
	tests := []struct {
		name string
		c    exportTarget
		want []string
	}{
		{"missing CA file", exportTarget{Certificate: filepath.Join(dir, "nope.pem")},
			[]string{"OTEL_EXPORTER_OTLP_CERTIFICATE", "OTEL_EXPORTER_OTLP_LOGS_CERTIFICATE", "nope.pem", "no such file"}},
		{"CA not PEM", exportTarget{Certificate: notPEM}, []string{"not.pem", "no PEM certificate"}},
		{"key without certificate", exportTarget{ClientKey: keyFile},
			[]string{"OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", "OTEL_EXPORTER_OTLP_CLIENT_KEY", "needs both"}},
		{"key and certificate swapped", exportTarget{ClientKey: certFile, ClientCertificate: keyFile},
			[]string{"OTEL_EXPORTER_OTLP_CLIENT_KEY", "client-key.pem"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig("https://collector.example")
			cfg.Export[sigLogs].Certificate = tt.c.Certificate
			cfg.Export[sigLogs].ClientKey = tt.c.ClientKey
			cfg.Export[sigLogs].ClientCertificate = tt.c.ClientCertificate
			_, err := newExporter(cfg, newRing(cfg, new(stats), nil), new(stats), nil)
			if err == nil {
				t.Fatal("newExporter succeeded; want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q; want it to mention %q", err, w)
				}
			}
		})
	}
}

func TestNewExporterClients(t *testing.T) {
	cfg := testConfig("http://127.0.0.1:4318")
	cfg.Export[sigMetrics] = exportTarget{Endpoint: "http://127.0.0.1:4317", Protocol: protoGRPC}
	cfg.Export[sigLogs] = exportTarget{Endpoint: "https://collector.example:4317", Protocol: protoGRPC}
	e, err := newExporter(cfg, newRing(cfg, new(stats), nil), new(stats), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(e.transports) != 3 {
		t.Fatalf("transports = %d; want 3 (http, h2c, h2)", len(e.transports))
	}
	tests := []struct {
		sig              signal
		http1, h2c, h2   bool
		wantNilProtocols bool
	}{
		{sig: sigTraces, wantNilProtocols: true},
		{sig: sigMetrics, h2c: true},
		{sig: sigLogs, h2: true},
	}
	for _, tt := range tests {
		tr := e.t[tt.sig].client.Transport.(*http.Transport)
		if tr == http.DefaultTransport {
			t.Errorf("%s uses http.DefaultTransport", tt.sig)
		}
		if tt.wantNilProtocols {
			if tr.Protocols != nil {
				t.Errorf("%s protocols = %v; want the default (HTTP/1.1, HTTP/2 over TLS)", tt.sig, tr.Protocols)
			}
			continue
		}
		p := tr.Protocols
		if p.HTTP1() != tt.http1 || p.UnencryptedHTTP2() != tt.h2c || p.HTTP2() != tt.h2 {
			t.Errorf("%s protocols = %v; want http1 %v h2c %v h2 %v", tt.sig, p, tt.http1, tt.h2c, tt.h2)
		}
	}
	// Signals with the same protocol and TLS files share one client.
	cfg = testConfig("http://127.0.0.1:4318")
	e, err = newExporter(cfg, newRing(cfg, new(stats), nil), new(stats), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(e.transports) != 1 || e.t[sigTraces].client != e.t[sigLogs].client {
		t.Errorf("transports = %d; want one shared client", len(e.transports))
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 8, 20, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		v    string
		want time.Duration
	}{
		{"", 0},
		{"0", 0},
		{"5", 5 * time.Second},
		{" 7 ", 7 * time.Second},
		{"-3", 0},
		{"99999999999", maxRetryAfter},
		{"Thu, 20 Aug 2026 12:00:30 GMT", 30 * time.Second},
		{"Thu, 20 Aug 2026 11:59:00 GMT", 0},
		{"soon", 0},
	}
	for _, tt := range tests {
		if got := parseRetryAfter(tt.v, now); got != tt.want {
			t.Errorf("parseRetryAfter(%q) = %v; want %v", tt.v, got, tt.want)
		}
	}
}

func TestBackoff(t *testing.T) {
	tests := []struct {
		initial, max time.Duration
		n            int
		nominal      time.Duration
	}{
		{time.Second, 30 * time.Second, 0, time.Second},
		{time.Second, 30 * time.Second, 3, 8 * time.Second},
		{time.Second, 30 * time.Second, 10, 30 * time.Second},
		{time.Second, 30 * time.Second, 200, 30 * time.Second},
		{0, 30 * time.Second, 3, 0},
		{time.Second, 0, 2, 4 * time.Second},
	}
	for _, tt := range tests {
		for i := 0; i < 50; i++ {
			got := backoff(tt.initial, tt.max, tt.n)
			if got < tt.nominal/2 || got > tt.nominal {
				t.Fatalf("backoff(%v, %v, %d) = %v; want within [%v, %v]", tt.initial, tt.max, tt.n, got, tt.nominal/2, tt.nominal)
			}
		}
	}
}

func TestRedactURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"https://user:pw@api.example.com/v1/traces?token=x", "https://api.example.com/v1/traces"},
		{"http://127.0.0.1:4318/v1/logs", "http://127.0.0.1:4318/v1/logs"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := redactURL(tt.in); got != tt.want {
			t.Errorf("redactURL(%q) = %q; want %q", tt.in, got, tt.want)
		}
	}
}

func TestExportNoEndpointDrops(t *testing.T) {
	cfg := testConfig("")
	cfg.Export[sigMetrics].Endpoint = ""
	e := newTestExporter(t, cfg)
	e.r.push(sigMetrics, make([]byte, 10), 4)
	res := e.flush(context.Background())
	if res.dropped != 4 || e.st.sig[sigMetrics].dropped.records.Load() != 4 {
		t.Errorf("flush = %v; want 4 dropped and counted", res)
	}
}

func TestExportFlushesOnlyWhatWasThere(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := testConfig("http://collector.invalid")
		cfg.Buffer.BatchMaxItems = 1
		e := newTestExporter(t, cfg)
		sent := 0
		e.useTransport(roundTripFunc(func(r *http.Request) (*http.Response, error) {
			sent++
			e.r.push(sigLogs, logChunk(t, "more"), 1) // the function keeps logging
			return answer(http.StatusOK, nil, ""), nil
		}))
		e.r.push(sigLogs, logChunk(t, "a"), 1)
		e.r.push(sigLogs, logChunk(t, "b"), 1)
		res := e.flush(context.Background())
		if res.batches != 2 || sent != 2 || e.r.len(sigLogs) != 2 {
			t.Errorf("flush = %v, %d sent, %d left; want the 2 that were there sent, 2 new left", res, sent, e.r.len(sigLogs))
		}
	})
}

func TestExportFlushesDoNotOverlap(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := testConfig("http://collector.invalid")
		cfg.Buffer.BatchMaxItems = 1
		e := newTestExporter(t, cfg)
		var inFlight, most int
		var mu sync.Mutex
		e.useTransport(roundTripFunc(func(r *http.Request) (*http.Response, error) {
			mu.Lock()
			inFlight++
			most = max(most, inFlight)
			mu.Unlock()
			time.Sleep(time.Second)
			mu.Lock()
			inFlight--
			mu.Unlock()
			return answer(http.StatusOK, nil, ""), nil
		}))
		for i := 0; i < 3; i++ {
			e.r.push(sigTraces, traceChunk(t, "a", 1), 1)
		}
		var wg sync.WaitGroup
		for i := 0; i < 3; i++ {
			wg.Go(func() { e.flush(context.Background()) })
		}
		wg.Wait()
		if most != 1 {
			t.Errorf("concurrent sends of one signal = %d; want 1", most)
		}
	})
}

// traceBatch is a realistic traces export request: 8 chunks of 512 spans
// from one function, as the ring would concatenate them.
func traceBatch(b *testing.B) []byte {
	var out []byte
	for i := 0; i < 8; i++ {
		out = append(out, traceChunk(b, fmt.Sprintf("GET /orders/{id} %d", i), 512)...)
	}
	return out
}

// BenchmarkGzip compares BestSpeed (our gzipLevel) with the default level
// on a realistic batch; out-bytes and ratio are reported per level.
func BenchmarkGzip(b *testing.B) {
	src := traceBatch(b)
	for _, lv := range []struct {
		name  string
		level int
	}{{"BestSpeed", gzip.BestSpeed}, {"Default", gzip.DefaultCompression}} {
		b.Run(lv.name, func(b *testing.B) {
			w, _ := gzip.NewWriterLevel(nil, lv.level)
			var buf bytes.Buffer
			b.SetBytes(int64(len(src)))
			b.ReportAllocs()
			for b.Loop() {
				buf.Reset()
				w.Reset(&buf)
				w.Write(src)
				w.Close()
			}
			b.ReportMetric(float64(len(src)), "in-bytes")
			b.ReportMetric(float64(buf.Len()), "out-bytes")
			b.ReportMetric(float64(len(src))/float64(buf.Len()), "ratio")
		})
	}
}

// TestEncodeParts: every target kind encodes a batch straight from its
// chunks into what encoding the concatenation would give.
func TestEncodeParts(t *testing.T) {
	chunks := [][]byte{traceChunk(t, "a", 3), traceChunk(t, "b", 1), traceChunk(t, "c", 2)}
	cat := bytes.Join(chunks, nil)
	js, err := protoToJSON(sigTraces, nil, cat)
	if err != nil {
		t.Fatal(err)
	}
	gunzip := func(b []byte) []byte {
		t.Helper()
		out, err := gunzipLimit(nil, b, 1<<20)
		if err != nil {
			t.Fatalf("gunzip: %v", err)
		}
		return out
	}
	frame := func(flag byte, msg []byte) []byte { return grpcFrame(flag, msg) }
	tests := []struct {
		name             string
		grpc, gzip, json bool
		decode           func(body []byte) []byte // what the backend would read
		want             []byte
	}{
		{name: "protobuf", decode: func(b []byte) []byte { return b }, want: cat},
		{name: "protobuf gzip", gzip: true, decode: gunzip, want: cat},
		{name: "json", json: true, decode: func(b []byte) []byte { return b }, want: js},
		{name: "json gzip", json: true, gzip: true, decode: gunzip, want: js},
		{name: "grpc", grpc: true, decode: func(b []byte) []byte { return b }, want: frame(0, cat)},
		{name: "grpc gzip", grpc: true, gzip: true, decode: func(b []byte) []byte {
			if len(b) < grpcHeaderLen || b[0] != 1 || int(binary.BigEndian.Uint32(b[1:5])) != len(b)-grpcHeaderLen {
				t.Fatalf("gRPC frame header % x for %d bytes", b[:min(len(b), 5)], len(b))
			}
			return frame(0, gunzip(b[grpcHeaderLen:]))
		}, want: frame(0, cat)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, _, _ := testRing(1<<20, 0, 0)
			e := &exporter{ring: r}
			tg := &target{sig: sigTraces, grpc: tt.grpc, gzip: tt.gzip, json: tt.json}
			for round := range 2 { // the second reuses the target's scratch
				for _, c := range chunks {
					r.push(sigTraces, c, 1)
				}
				b := r.take(sigTraces, noSeqLimit)
				body, err := e.encode(tg, b)
				if err != nil {
					t.Fatal(err)
				}
				wire, err := io.ReadAll(body.reader())
				if err != nil || int64(len(wire)) != body.n {
					t.Fatalf("round %d: read %d bytes, %v; want %d", round, len(wire), err, body.n)
				}
				if got := tt.decode(wire); !bytes.Equal(got, tt.want) {
					t.Errorf("round %d: decoded %d bytes; want the %d bytes of the concatenation", round, len(got), len(tt.want))
				}
				r.release(b)
			}
			// A batch made outside the ring (the health check's).
			body, err := e.encode(tg, &batch{sig: sigTraces, data: cat, items: 6})
			if err != nil {
				t.Fatal(err)
			}
			wire, _ := io.ReadAll(body.reader())
			if got := tt.decode(wire); !bytes.Equal(got, tt.want) {
				t.Errorf("data batch: decoded %d bytes; want %d", len(got), len(tt.want))
			}
		})
	}
}

func TestPartsReader(t *testing.T) {
	parts := [][]byte{[]byte("ab"), nil, []byte("c"), {}, []byte("defgh")}
	want := []byte("abcdefgh")
	if err := iotest.TestReader(&partsReader{parts: parts}, want); err != nil {
		t.Error(err)
	}
	if got, _ := io.ReadAll(&partsReader{parts: parts}); !bytes.Equal(got, want) {
		t.Errorf("a second reader read %q; want %q (readers must not consume the parts)", got, want)
	}
	if got, err := io.ReadAll(reqBody{}.reader()); len(got) != 0 || err != nil {
		t.Errorf("empty body read %q, %v", got, err)
	}
}

// BenchmarkExportEncode: a 4 MiB batch of 512-span chunks gzipped straight
// from the chunks into the target's reused buffer (the export's CPU, minus
// the network); allocations per op should be a handful of small ones.
func BenchmarkExportEncode(b *testing.B) {
	c := traceChunk(b, "bench", 512)
	r, _, _ := testRing(64<<20, 4<<20, 0)
	e := &exporter{ring: r}
	for _, gz := range []bool{false, true} {
		name := "none"
		if gz {
			name = "gzip"
		}
		b.Run(name, func(b *testing.B) {
			tg := &target{sig: sigTraces, gzip: gz}
			n := (4 << 20) / len(c)
			b.SetBytes(int64(n * len(c)))
			b.ReportAllocs()
			for b.Loop() {
				for range n {
					r.push(sigTraces, c, 512)
				}
				bt := r.take(sigTraces, noSeqLimit)
				body, _ := e.encode(tg, bt)
				io.Copy(io.Discard, body.reader())
				r.release(bt)
			}
		})
	}
}
