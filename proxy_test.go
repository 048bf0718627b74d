package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"otel-lambda-extension/internal/lambdasim"
	"otel-lambda-extension/internal/otlpsink"
)

// seen is one request as the upstream (the real Runtime API) received it.
type seen struct {
	method, uri, host string
	header            http.Header
	body              []byte
	trailer           http.Header
	chunked           bool
}

// proxyPair is a runtime proxy in front of an httptest upstream whose
// handler the test supplies; both on 127.0.0.1.
type proxyPair struct {
	up    *httptest.Server
	px    *runtimeProxy
	front *httptest.Server
	hc    *http.Client // the "runtime": no compression, no proxy from the environment
}

func newProxyPair(t *testing.T, upstream http.HandlerFunc) *proxyPair {
	t.Helper()
	pp := &proxyPair{}
	pp.up = httptest.NewServer(upstream)
	t.Cleanup(pp.up.Close)
	pp.px = newRuntimeProxy(strings.TrimPrefix(pp.up.URL, "http://"), newLogger(io.Discard, levelDebug))
	pp.front = httptest.NewServer(pp.px)
	t.Cleanup(pp.front.Close)
	t.Cleanup(pp.px.closeIdle)
	pp.hc = &http.Client{Transport: &http.Transport{DisableCompression: true}, Timeout: 20 * time.Second}
	t.Cleanup(pp.hc.CloseIdleConnections)
	return pp
}

func (pp *proxyPair) url(path string) string { return pp.front.URL + path }

// record reads r fully into a seen.
func record(r *http.Request) seen {
	b, _ := io.ReadAll(r.Body)
	return seen{
		method: r.Method, uri: r.URL.RequestURI(), host: r.Host,
		header: r.Header.Clone(), body: b, trailer: r.Trailer.Clone(),
		chunked: len(r.TransferEncoding) > 0 && r.TransferEncoding[0] == "chunked",
	}
}

func TestRuntimeProxyTransparent(t *testing.T) {
	t.Parallel()
	event := []byte(`{"path":"/orders","body":"{\"id\":7}"}`)
	tests := []struct {
		name       string
		method     string
		path       string
		reqHeader  map[string]string
		reqBody    []byte
		status     int
		respHeader map[string]string
		respBody   []byte
	}{
		{
			name: "next hands the event with every Lambda header", method: "GET", path: runtimeNextPath,
			reqHeader: map[string]string{"User-Agent": "aws-lambda-nodejs/20"},
			status:    200,
			respHeader: map[string]string{
				"Content-Type":                        "application/json",
				"Lambda-Runtime-Aws-Request-Id":       "8476a536-e9f4-11e8-9739-2dfe598c3fcd",
				"Lambda-Runtime-Deadline-Ms":          "1542409706888",
				"Lambda-Runtime-Invoked-Function-Arn": "arn:aws:lambda:us-east-2:123456789012:function:custom-runtime",
				"Lambda-Runtime-Trace-Id":             "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=1",
				"Lambda-Runtime-Client-Context":       `{"client":{"app_title":"x"},"custom":{"k":"v"},"env":{}}`,
				"Lambda-Runtime-Cognito-Identity":     `{"cognitoIdentityId":"id","cognitoIdentityPoolId":"pool"}`,
			},
			respBody: event,
		},
		{
			name: "response", method: "POST", path: runtimeInvocationPath + "abc/response",
			reqHeader: map[string]string{"Content-Type": "application/json", "User-Agent": "rt/1", "X-Custom": "a, b"},
			reqBody:   []byte(`{"statusCode":200}`),
			status:    202, respHeader: map[string]string{"Content-Type": "application/json"}, respBody: []byte(`{"status":"OK"}` + "\n"),
		},
		{
			name: "error with its type header", method: "POST", path: runtimeInvocationPath + "abc/error",
			reqHeader: map[string]string{"Lambda-Runtime-Function-Error-Type": "Runtime.HandlerError", "Content-Type": "application/json"},
			reqBody:   []byte(`{"errorMessage":"boom","errorType":"Error","stackTrace":[]}`),
			status:    202, respBody: []byte(`{"status":"OK"}`),
		},
		{
			name: "init error", method: "POST", path: "/2018-06-01/runtime/init/error",
			reqHeader: map[string]string{"Lambda-Runtime-Function-Error-Type": "Runtime.ImportModuleError"},
			reqBody:   []byte(`{"errorMessage":"cannot import"}`),
			status:    202, respBody: []byte(`{"status":"OK"}`),
		},
		{
			name: "an error status passes through", method: "POST", path: runtimeInvocationPath + "gone/response",
			reqBody: []byte(`x`), status: 400,
			respHeader: map[string]string{"Content-Type": "application/json"},
			respBody:   []byte(`{"errorMessage":"Invalid request ID","errorType":"InvalidRequestID"}`),
		},
		{
			name: "too large", method: "POST", path: runtimeInvocationPath + "big/response",
			reqBody: bytes.Repeat([]byte("z"), 1000), status: 413, respBody: []byte(`{"errorType":"RequestEntityTooLarge"}`),
		},
		{
			name: "unknown paths and query strings pass untouched", method: "PUT", path: "/2099-01-01/future/thing?a=1&b=%2F",
			reqHeader: map[string]string{"Accept": "text/plain"}, reqBody: []byte("put body"),
			status: 418, respHeader: map[string]string{"X-Upstream": "yes"}, respBody: []byte("teapot"),
		},
		{
			name: "no content type is not invented", method: "GET", path: "/2018-06-01/ping",
			status: 200, respBody: []byte("<html>not sniffed</html>"),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := make(chan seen, 1)
			pp := newProxyPair(t, func(w http.ResponseWriter, r *http.Request) {
				got <- record(r)
				for k, v := range tc.respHeader {
					w.Header().Set(k, v)
				}
				if _, ok := tc.respHeader["Content-Type"]; !ok {
					w.Header()["Content-Type"] = nil
				}
				w.WriteHeader(tc.status)
				w.Write(tc.respBody)
			})
			var body io.Reader
			if tc.reqBody != nil {
				body = bytes.NewReader(tc.reqBody)
			}
			req, err := http.NewRequest(tc.method, pp.url(tc.path), body)
			if err != nil {
				t.Fatal(err)
			}
			// Go's client would add its own User-Agent; a runtime that sends
			// none must reach the upstream without one.
			req.Header["User-Agent"] = []string{""}
			for k, v := range tc.reqHeader {
				req.Header.Set(k, v)
			}
			resp, err := pp.hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			respBody, _ := io.ReadAll(resp.Body)
			resp.Body.Close()

			up := <-got
			if up.method != tc.method || up.uri != tc.path {
				t.Errorf("upstream got %s %s; want %s %s", up.method, up.uri, tc.method, tc.path)
			}
			if want := strings.TrimPrefix(pp.up.URL, "http://"); up.host != want {
				t.Errorf("upstream Host %q; want the real API's %q", up.host, want)
			}
			if !bytes.Equal(up.body, tc.reqBody) {
				t.Errorf("upstream body %q; want %q", up.body, tc.reqBody)
			}
			for k, v := range tc.reqHeader {
				if g := up.header.Get(k); g != v {
					t.Errorf("upstream header %s = %q; want %q", k, g, v)
				}
			}
			if _, ok := tc.reqHeader["User-Agent"]; !ok {
				if ua, ok := up.header["User-Agent"]; ok {
					t.Errorf("upstream got User-Agent %q the runtime never sent", ua)
				}
			}
			for _, h := range []string{"Accept-Encoding", "X-Forwarded-For", "Via"} {
				if v := up.header.Get(h); v != "" {
					t.Errorf("upstream got %s %q the runtime never sent", h, v)
				}
			}
			if resp.StatusCode != tc.status {
				t.Errorf("runtime got status %d; want %d", resp.StatusCode, tc.status)
			}
			if !bytes.Equal(respBody, tc.respBody) {
				t.Errorf("runtime got body %q; want %q", respBody, tc.respBody)
			}
			for k, v := range tc.respHeader {
				if g := resp.Header.Get(k); g != v {
					t.Errorf("runtime got header %s = %q; want %q", k, g, v)
				}
			}
			if _, ok := tc.respHeader["Content-Type"]; !ok {
				if ct := resp.Header.Get("Content-Type"); ct != "" {
					t.Errorf("runtime got Content-Type %q the upstream never sent", ct)
				}
			}
		})
	}
}

// Hop-by-hop headers stop at the proxy, in both directions, including those
// named by Connection.
func TestRuntimeProxyHopByHop(t *testing.T) {
	t.Parallel()
	got := make(chan seen, 1)
	pp := newProxyPair(t, func(w http.ResponseWriter, r *http.Request) {
		got <- record(r)
		w.Header().Set("Connection", "X-Hop-Resp")
		w.Header().Set("X-Hop-Resp", "1")
		w.Header().Set("Keep-Alive", "timeout=5")
		w.Header().Set("X-End", "kept")
		w.WriteHeader(200)
	})
	req, _ := http.NewRequest("GET", pp.url(runtimeNextPath), nil)
	req.Header.Set("Connection", "X-Hop-Req")
	req.Header.Set("X-Hop-Req", "secret-to-this-hop")
	req.Header.Set("Proxy-Authorization", "Basic eA==")
	req.Header.Set("Te", "trailers")
	req.Header.Set("X-End", "kept")
	resp, err := pp.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	up := <-got
	for _, h := range []string{"X-Hop-Req", "Proxy-Authorization"} {
		if v := up.header.Get(h); v != "" {
			t.Errorf("upstream got hop-by-hop %s = %q", h, v)
		}
	}
	if v := up.header.Get("Te"); v != "trailers" {
		t.Errorf("upstream Te = %q; want trailers (kept, as httputil does)", v)
	}
	if up.header.Get("X-End") != "kept" || resp.Header.Get("X-End") != "kept" {
		t.Errorf("end-to-end header lost: upstream %q, runtime %q", up.header.Get("X-End"), resp.Header.Get("X-End"))
	}
	for _, h := range []string{"X-Hop-Resp", "Keep-Alive"} {
		if v := resp.Header.Get(h); v != "" {
			t.Errorf("runtime got hop-by-hop %s = %q", h, v)
		}
	}
}

// Large bodies pass both ways intact, chunked or with a length.
func TestRuntimeProxyLargeBodies(t *testing.T) {
	t.Parallel()
	big := make([]byte, 7<<20) // over Lambda's 6 MB buffered limit
	for i := range big {
		big[i] = byte(i*7 + i>>9)
	}
	sum := sha256.Sum256(big)
	got := make(chan seen, 4)
	pp := newProxyPair(t, func(w http.ResponseWriter, r *http.Request) {
		got <- record(r)
		if r.URL.Query().Get("chunked") == "" {
			w.Header().Set("Content-Length", strconv.Itoa(len(big)))
		}
		w.Write(big)
	})
	for _, chunked := range []bool{false, true} {
		var body io.Reader = bytes.NewReader(big)
		q := ""
		if chunked {
			body = io.MultiReader(bytes.NewReader(big[:1<<20]), bytes.NewReader(big[1<<20:])) // no length known
			q = "?chunked=1"
		}
		req, _ := http.NewRequest("POST", pp.url(runtimeInvocationPath+"id/response"+q), body)
		resp, err := pp.hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("chunked %v: read: %v", chunked, err)
		}
		up := <-got
		if sha256.Sum256(up.body) != sum || up.chunked != chunked {
			t.Errorf("chunked %v: upstream got %d bytes (chunked %v); want %d intact", chunked, len(up.body), up.chunked, len(big))
		}
		if sha256.Sum256(b) != sum {
			t.Errorf("chunked %v: runtime got %d bytes; want %d intact", chunked, len(b), len(big))
		}
		if wantLen := int64(len(big)); !chunked && resp.ContentLength != wantLen {
			t.Errorf("runtime Content-Length %d; want %d", resp.ContentLength, wantLen)
		}
	}
}

// A streamed response (Lambda-Runtime-Function-Response-Mode: streaming)
// reaches the upstream as it is written, with its trailers, and a streamed
// answer reaches the runtime the same way.
func TestRuntimeProxyStreaming(t *testing.T) {
	t.Parallel()
	firstIn := make(chan string, 1)  // upstream read the first request chunk
	secondOut := make(chan struct{}) // test lets upstream send its second chunk
	done := make(chan seen, 1)
	pp := newProxyPair(t, func(w http.ResponseWriter, r *http.Request) {
		buf := make([]byte, 5)
		if _, err := io.ReadFull(r.Body, buf); err != nil {
			t.Errorf("upstream read first chunk: %v", err)
		}
		firstIn <- string(buf)
		s := record(r)
		s.body = append(buf, s.body...)
		done <- s
		w.Header().Set("Trailer", "X-Up-Trailer")
		w.WriteHeader(http.StatusAccepted)
		w.Write([]byte("part1"))
		w.(http.Flusher).Flush()
		<-secondOut
		w.Write([]byte("part2"))
		w.Header().Set("X-Up-Trailer", "fin")
	})
	pr, pw := io.Pipe()
	req, _ := http.NewRequest("POST", pp.url(runtimeInvocationPath+"s1/response"), pr)
	req.Header.Set("Lambda-Runtime-Function-Response-Mode", "streaming")
	req.Header.Set("Content-Type", "application/vnd.awslambda.http-integration-response")
	req.Trailer = http.Header{"Lambda-Runtime-Function-Error-Type": nil, "Lambda-Runtime-Function-Error-Body": nil}
	type result struct {
		resp *http.Response
		err  error
	}
	resc := make(chan result, 1)
	go func() {
		resp, err := pp.hc.Do(req)
		resc <- result{resp, err}
	}()
	if _, err := pw.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	// The upstream sees the first chunk while the runtime is still writing.
	if got := <-firstIn; got != "hello" {
		t.Fatalf("first chunk %q; want hello", got)
	}
	if _, err := pw.Write([]byte(" world")); err != nil {
		t.Fatal(err)
	}
	req.Trailer.Set("Lambda-Runtime-Function-Error-Type", "Runtime.StreamError")
	req.Trailer.Set("Lambda-Runtime-Function-Error-Body", "Ym9vbQ==")
	pw.Close()
	up := <-done
	if string(up.body) != "hello world" || !up.chunked {
		t.Errorf("upstream body %q chunked %v; want \"hello world\" chunked", up.body, up.chunked)
	}
	if up.header.Get("Lambda-Runtime-Function-Response-Mode") != "streaming" {
		t.Errorf("response mode header lost: %v", up.header)
	}
	if g := up.trailer.Get("Lambda-Runtime-Function-Error-Type"); g != "Runtime.StreamError" {
		t.Errorf("upstream trailer error type %q; want Runtime.StreamError (trailers %v)", g, up.trailer)
	}
	if g := up.trailer.Get("Lambda-Runtime-Function-Error-Body"); g != "Ym9vbQ==" {
		t.Errorf("upstream trailer error body %q", g)
	}
	res := <-resc
	if res.err != nil {
		t.Fatal(res.err)
	}
	defer res.resp.Body.Close()
	buf := make([]byte, 5)
	// The runtime reads the upstream's first part before the second exists.
	if _, err := io.ReadFull(res.resp.Body, buf); err != nil || string(buf) != "part1" {
		t.Fatalf("first streamed part %q, %v; want part1", buf, err)
	}
	close(secondOut)
	rest, err := io.ReadAll(res.resp.Body)
	if err != nil || string(rest) != "part2" {
		t.Errorf("rest %q, %v; want part2", rest, err)
	}
	if g := res.resp.Trailer.Get("X-Up-Trailer"); g != "fin" {
		t.Errorf("runtime trailer %q; want fin", g)
	}
	if res.resp.StatusCode != http.StatusAccepted {
		t.Errorf("status %d; want 202", res.resp.StatusCode)
	}
}

func isDone(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// done closes once the upstream accepted the response or error, never
// before; a refused response does not close it, the runtime's next does.
func TestRuntimeProxyDone(t *testing.T) {
	t.Parallel()
	release := make(chan int)
	arrived := make(chan string, 8)
	var mu sync.Mutex
	nextID := "req-1"
	pp := newProxyPair(t, func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		if r.URL.Path == runtimeNextPath {
			mu.Lock()
			id := nextID
			mu.Unlock()
			w.Header().Set("Lambda-Runtime-Aws-Request-Id", id)
			w.Write([]byte("{}"))
			return
		}
		arrived <- r.URL.Path
		w.WriteHeader(<-release)
	})
	post := func(path string) chan int {
		c := make(chan int, 1)
		go func() {
			resp, err := pp.hc.Post(pp.url(path), "application/json", strings.NewReader(`{"ok":true}`))
			if err != nil {
				t.Error(err)
				c <- 0
				return
			}
			resp.Body.Close()
			c <- resp.StatusCode
		}()
		return c
	}
	next := func() {
		resp, err := pp.hc.Get(pp.url(runtimeNextPath))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}

	if pp.px.active() {
		t.Fatal("active before any next")
	}
	d1 := pp.px.done("req-1") // asked before anything happened
	next()
	if !pp.px.active() {
		t.Fatal("not active after the runtime's next")
	}
	c := post(runtimeInvocationPath + "req-1/response")
	<-arrived
	if isDone(d1) {
		t.Fatal("done closed before the upstream accepted the response")
	}
	release <- http.StatusAccepted
	if code := <-c; code != http.StatusAccepted {
		t.Fatalf("status %d", code)
	}
	if !isDone(d1) {
		t.Fatal("done not closed after the upstream accepted the response")
	}
	if !isDone(pp.px.done("req-1")) {
		t.Fatal("done asked after the fact is not closed")
	}

	// An error report closes it the same way.
	mu.Lock()
	nextID = "req-2"
	mu.Unlock()
	next() // also closes req-1 again: a no-op
	c = post(runtimeInvocationPath + "req-2/error")
	<-arrived
	d2 := pp.px.done("req-2")
	if isDone(d2) {
		t.Fatal("done closed before the upstream accepted the error")
	}
	release <- http.StatusAccepted
	<-c
	if !isDone(d2) {
		t.Fatal("done not closed after the error was accepted")
	}

	// A refused response leaves it open until the runtime moves on.
	mu.Lock()
	nextID = "req-3"
	mu.Unlock()
	next()
	c = post(runtimeInvocationPath + "req-3/response")
	<-arrived
	release <- http.StatusRequestEntityTooLarge
	<-c
	d3 := pp.px.done("req-3")
	if isDone(d3) {
		t.Fatal("done closed although the upstream refused the response")
	}
	mu.Lock()
	nextID = "req-4"
	mu.Unlock()
	next()
	if !isDone(d3) {
		t.Fatal("done not closed when the runtime asked for its next event")
	}
	if isDone(pp.px.done("req-4")) {
		t.Fatal("the event just handed out is already done")
	}
}

// The memory kept per request id is bounded.
func TestRuntimeProxyDoneBounded(t *testing.T) {
	t.Parallel()
	p := newRuntimeProxy("127.0.0.1:9", nil)
	for i := range 1000 {
		id := "id-" + strconv.Itoa(i)
		if i%2 == 0 {
			p.finish(id)
		} else {
			p.done(id)
		}
	}
	if len(p.reqs) > proxyDoneKept || len(p.order) > proxyDoneKept {
		t.Errorf("kept %d ids (%d in order); want at most %d", len(p.reqs), len(p.order), proxyDoneKept)
	}
	if !isDone(p.done("id-998")) || isDone(p.done("id-999")) {
		t.Error("recent ids lost their state")
	}
}

func TestInvocationResult(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ path, want string }{
		{runtimeInvocationPath + "abc-1/response", "abc-1"},
		{runtimeInvocationPath + "abc-1/error", "abc-1"},
		{runtimeInvocationPath + "/response", ""},
		{runtimeInvocationPath + "a/b/response", ""},
		{runtimeInvocationPath + "next", ""},
		{"/2018-06-01/runtime/init/error", ""},
		{"/2019-01-01/runtime/invocation/x/response", ""},
	} {
		if got := invocationResult(tc.path); got != tc.want {
			t.Errorf("invocationResult(%q) = %q; want %q", tc.path, got, tc.want)
		}
	}
}

// An upstream that is down, or hangs up mid-answer, is an error for the
// runtime at once, never a hang.
func TestRuntimeProxyUpstreamFailure(t *testing.T) {
	t.Parallel()
	t.Run("down", func(t *testing.T) {
		t.Parallel()
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		px := newRuntimeProxy(addr, newLogger(io.Discard, levelError))
		front := httptest.NewServer(px)
		defer front.Close()
		hc := &http.Client{Timeout: 10 * time.Second}
		for _, path := range []string{runtimeNextPath, runtimeInvocationPath + "x/response"} {
			resp, err := hc.Post(front.URL+path, "application/json", strings.NewReader("{}"))
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			var body struct{ ErrorType, ErrorMessage string }
			json.NewDecoder(resp.Body).Decode(&body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadGateway || body.ErrorType != "Extension.RuntimeProxyError" || !strings.Contains(body.ErrorMessage, path) {
				t.Errorf("%s: got %d %+v; want 502 Extension.RuntimeProxyError naming the path", path, resp.StatusCode, body)
			}
		}
		if isDone(px.done("x")) {
			t.Error("done closed for a response that never reached the upstream")
		}
	})
	t.Run("hangs up mid-body", func(t *testing.T) {
		t.Parallel()
		pp := newProxyPair(t, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "1000")
			w.WriteHeader(200)
			w.Write([]byte("partial"))
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler)
		})
		resp, err := pp.hc.Get(pp.url(runtimeNextPath))
		var b []byte
		if err == nil {
			b, err = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		if err == nil {
			t.Fatalf("the runtime read a complete-looking answer from a broken upstream: %d %q %v", resp.StatusCode, b, resp.Header)
		}
	})
}

func TestListenRuntimeProxy(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	marker := filepath.Join(dir, "sub", proxyMarkerName)
	ln, err := listenRuntimeProxy(0, marker)
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	b, err := os.ReadFile(marker)
	if err != nil || string(b) != strconv.Itoa(port)+"\n" {
		t.Errorf("marker %q, %v; want %d", b, err, port)
	}
	// A second extension on the same port fails, names the variable and
	// leaves no marker of its own (the stale one is removed).
	_, err = listenRuntimeProxy(port, marker)
	if err == nil || !strings.Contains(err.Error(), "OTEL_LAMBDA_RUNTIME_PROXY_PORT") || !strings.Contains(err.Error(), strconv.Itoa(port)) {
		t.Errorf("second listen: %v; want an in-use error naming the port and OTEL_LAMBDA_RUNTIME_PROXY_PORT", err)
	}
	if _, err := os.Stat(marker); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stale marker left behind: %v", err)
	}
	ln.Close()
	entries, _ := os.ReadDir(filepath.Dir(marker))
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp.") {
			t.Errorf("temporary file left: %s", e.Name())
		}
	}
}

func TestProxyMarkerPath(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ handoff, want string }{
		{"", "/tmp/otel-lambda-extension/proxy.ready"},
		{"/x/y/runtime.env", "/x/y/proxy.ready"},
		{"/runtime.env", "/proxy.ready"},
		{"runtime.env", "./proxy.ready"},
	} {
		got := proxyMarkerPath(func(k string) string {
			if k == "OTEL_LAMBDA_HANDOFF_FILE" {
				return tc.handoff
			}
			return ""
		})
		if got != tc.want {
			t.Errorf("handoff %q: got %q; want %q", tc.handoff, got, tc.want)
		}
	}
}

// The server the lifecycle runs the proxy on holds a long poll as long as
// the upstream does: no read, write or idle timeout cuts it.
func TestRuntimeProxyServerHasNoTimeouts(t *testing.T) {
	t.Parallel()
	srv := newRuntimeProxy("127.0.0.1:9", nil).server()
	if srv.ReadTimeout != 0 || srv.WriteTimeout != 0 || srv.IdleTimeout != 0 {
		t.Errorf("timeouts read %v write %v idle %v; want none", srv.ReadTimeout, srv.WriteTimeout, srv.IdleTimeout)
	}
}

func TestRuntimeProxyPortConfig(t *testing.T) {
	t.Parallel()
	noFile := func(string) ([]byte, error) { return nil, os.ErrNotExist }
	for _, tc := range []struct {
		value   string
		want    int
		wantErr string
	}{
		{"", 9009, ""},
		{"9100", 9100, ""},
		{"off", 0, ""},
		{"OFF", 0, ""},
		{"0", 0, ""},
		{"4318", 0, `OTEL_LAMBDA_RUNTIME_PROXY_PORT="4318": want a port other than the receivers' (4318, 4317)`},
		{"70000", 0, `OTEL_LAMBDA_RUNTIME_PROXY_PORT="70000": want a port 1..65535, or 0 or off`},
		{"x", 0, `OTEL_LAMBDA_RUNTIME_PROXY_PORT="x": want a port`},
	} {
		env := map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9", "OTEL_LAMBDA_RUNTIME_PROXY_PORT": tc.value}
		c, err := loadConfig(func(k string) string { return env[k] }, noFile)
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("%q: %v", tc.value, err)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("%q: got error %v; want %q", tc.value, err, tc.wantErr)
		case tc.wantErr == "" && c.Receiver.RuntimeProxyPort != tc.want:
			t.Errorf("%q: got port %d; want %d", tc.value, c.Receiver.RuntimeProxyPort, tc.want)
		}
	}
}

// fakeRuntimeOnce builds lambdasim's fake runtime once per test process.
var fakeRuntimeOnce = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "otel-ext-fakeruntime-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "fakeruntime")
	cmd := exec.Command("go", "build", "-o", bin, "./internal/lambdasim/fakeruntime")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", errors.New("go build fakeruntime: " + err.Error() + "\n" + string(out))
	}
	return bin, nil
})

// median of ds (0 for none).
func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// flushTimes parses the extension's debug lines "flush (end of invocation)
// took <d>".
func flushTimes(stderr string) []time.Duration {
	var out []time.Duration
	for line := range strings.SplitSeq(stderr, "\n") {
		_, rest, ok := strings.Cut(line, "flush (end of invocation) took ")
		if !ok {
			continue
		}
		d, err := time.ParseDuration(strings.TrimSuffix(strings.Fields(rest)[0], ":"))
		if err == nil {
			out = append(out, d)
		}
	}
	return out
}

// TestRuntimeProxyEndToEnd runs the built extension under the emulator with
// the fake runtime started through otel-instrument and the end strategy:
// every invocation's span is at the backend before the sandbox freezes, the
// runtime reaches Lambda through the proxy with every header intact, and
// the extension's next follows the runtime's response. With the proxy off,
// or without the wrapper, the same holds through platform.runtimeDone. The
// billed time after the response is logged (medians), never asserted.
func TestRuntimeProxyEndToEnd(t *testing.T) {
	t.Parallel()
	rtBin, err := fakeRuntimeOnce()
	if err != nil {
		t.Fatal(err)
	}
	wrapper, err := filepath.Abs("otel-instrument")
	if err != nil {
		t.Fatal(err)
	}
	runs := []struct {
		name      string
		wrapper   bool   // start the runtime through otel-instrument
		proxyPort string // OTEL_LAMBDA_RUNTIME_PROXY_PORT; "" = a free port
		invokes   int
		viaProxy  bool // the runtime must talk to the proxy
	}{
		{name: "wrapper and proxy", wrapper: true, invokes: 50, viaProxy: true},
		{name: "wrapper, proxy off", wrapper: true, proxyPort: "off", invokes: 50},
		{name: "no wrapper", invokes: 10},
	}
	for _, run := range runs {
		t.Run(run.name, func(t *testing.T) {
			dir := t.TempDir()
			rtRec := filepath.Join(dir, "rt.jsonl")
			port := run.proxyPort
			if port == "" {
				port = strconv.Itoa(freePort(t))
			}
			recvPort := freePort(t)
			env := map[string]string{
				"OTEL_LAMBDA_RECEIVER_PORT": strconv.Itoa(recvPort),
				// The marker lives next to the handoff file: one per test.
				"OTEL_LAMBDA_HANDOFF_FILE":       filepath.Join(dir, "handoff", "runtime.env"),
				"OTEL_LAMBDA_RUNTIME_PROXY_PORT": port,
				"OTEL_LAMBDA_LOG_LEVEL":          "debug",
				"FAKERT_RECORD":                  rtRec,
				"FAKERT_OTLP":                    "1",
				// Without the wrapper the runtime would send to the
				// backend the extension exports to; send it to the receiver.
				"FAKERT_OTLP_ENDPOINT": "http://127.0.0.1:" + strconv.Itoa(recvPort),
			}
			if run.wrapper {
				env["AWS_LAMBDA_EXEC_WRAPPER"] = wrapper
			}
			sb := mustStart(t, sandboxOpts{env: env, sim: lambdasim.Config{Runtime: []string{rtBin}, FunctionTimeout: 10 * time.Second}})

			var results []lambdasim.InvokeResult
			var overheads, durations []time.Duration
			for i := range run.invokes {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				res, err := sb.sim.InvokeEvent(ctx, lambdasim.Event{
					Payload:         []byte(`{"i":` + strconv.Itoa(i) + `}`),
					ClientContext:   `{"custom":{"i":"` + strconv.Itoa(i) + `"}}`,
					CognitoIdentity: `{"cognitoIdentityId":"id-` + strconv.Itoa(i) + `"}`,
				})
				cancel()
				if err != nil || res.Status != "success" {
					t.Fatalf("invoke %d: %v status %s %s\nextension:\n%s", i, err, res.Status, res.ErrorType, sb.stderr.String())
				}
				// The sandbox is frozen now: whatever is not at the backend
				// yet would wait for the next thaw.
				name := "fn-" + res.RequestID
				if !slices.ContainsFunc(sb.sink.Spans(), func(sp otlpsink.Span) bool { return sp.Span.GetName() == name }) {
					t.Errorf("invoke %d: span %s not exported before the freeze", i, name)
				}
				results = append(results, res)
				overheads = append(overheads, res.Overhead)
				durations = append(durations, res.Duration)
			}

			// The runtime talked to the proxy (or not) and got Lambda's
			// headers unchanged.
			var start struct{ RuntimeAPI, Upstream string }
			invokes := map[string]map[string]string{}
			for _, line := range strings.Split(strings.TrimSpace(string(mustRead(t, rtRec))), "\n") {
				var l struct {
					Kind string
					Data json.RawMessage
				}
				if err := json.Unmarshal([]byte(line), &l); err != nil {
					t.Fatal(err)
				}
				switch l.Kind {
				case "start":
					json.Unmarshal(l.Data, &start)
				case "invoke":
					var d struct {
						RequestID string `json:"requestId"`
						Headers   map[string]string
					}
					json.Unmarshal(l.Data, &d)
					invokes[d.RequestID] = d.Headers
				}
			}
			wantAPI := sb.sim.Addr()
			if run.viaProxy {
				wantAPI = "127.0.0.1:" + port
			}
			if start.RuntimeAPI != wantAPI {
				t.Errorf("the runtime used %s; want %s", start.RuntimeAPI, wantAPI)
			}
			if run.viaProxy && start.Upstream != sb.sim.Addr() {
				t.Errorf("OTEL_LAMBDA_UPSTREAM_RUNTIME_API %q; want %s", start.Upstream, sb.sim.Addr())
			}
			for i, res := range results {
				h := invokes[res.RequestID]
				for k, want := range map[string]string{
					"Lambda-Runtime-Aws-Request-Id":       res.RequestID,
					"Lambda-Runtime-Trace-Id":             res.TraceHeader,
					"Lambda-Runtime-Invoked-Function-Arn": "arn:aws:lambda:us-east-1:123456789012:function:orders",
					"Lambda-Runtime-Client-Context":       `{"custom":{"i":"` + strconv.Itoa(i) + `"}}`,
					"Lambda-Runtime-Cognito-Identity":     `{"cognitoIdentityId":"id-` + strconv.Itoa(i) + `"}`,
				} {
					if h[k] != want {
						t.Errorf("invoke %d: the runtime got %s = %q; want %q", i, k, h[k], want)
					}
				}
				if h["Lambda-Runtime-Deadline-Ms"] == "" {
					t.Errorf("invoke %d: no Lambda-Runtime-Deadline-Ms", i)
				}
			}

			// Order per invocation: the runtime's response is accepted
			// before our extension calls next.
			tl := sb.sim.Timeline()
			for _, res := range results {
				var resp, next time.Duration = -1, -1
				for _, r := range tl {
					if r.RequestID != res.RequestID {
						continue
					}
					switch {
					case r.Kind == lambdasim.KindRuntimeResponse:
						resp = r.At
					case r.Kind == lambdasim.KindNext && r.Ext == extensionName:
						next = r.At
					}
				}
				if resp < 0 || next < 0 || next < resp {
					t.Errorf("%s: response at %v, extension next at %v; want the next after the response", res.RequestID, resp, next)
				}
			}
			if strings.Contains(sb.stderr.String(), "no runtimeDone before the deadline") {
				t.Errorf("the extension waited for the deadline:\n%s", sb.stderr.String())
			}
			checkLogNames(t, sb, filepath.Join(dir, "handoff", "runtime.env"), run.wrapper)
			_, ext := sb.shutdown("")
			if ext.ExitCode != 0 {
				t.Errorf("extension exit %d", ext.ExitCode)
			}
			if _, err := os.Stat(filepath.Join(dir, "handoff", proxyMarkerName)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("proxy.ready left after exit: %v", err)
			}
			t.Logf("%s: %d invocations: median billed after the response %v, median duration %v, median end-of-invocation export %v",
				run.name, run.invokes, median(overheads), median(durations), median(flushTimes(sb.stderr.String())))
		})
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// FuzzInvocationResult checks the request-id extraction against a regular
// expression of the two result paths.
func FuzzInvocationResult(f *testing.F) {
	for _, s := range []string{runtimeInvocationPath + "abc/response", runtimeInvocationPath + "a/error", runtimeNextPath, runtimeInvocationPath + "/response", "/"} {
		f.Add(s)
	}
	re := regexp.MustCompile(`^/2018-06-01/runtime/invocation/([^/]+)/(?:response|error)$`)
	f.Fuzz(func(t *testing.T, path string) {
		want := ""
		if m := re.FindStringSubmatch(path); m != nil {
			want = m[1]
		}
		if got := invocationResult(path); got != want {
			t.Errorf("invocationResult(%q) = %q; want %q", path, got, want)
		}
	})
}

// checkLogNames: with the wrapper, the log group and stream it hands over
// (the runtime's own AWS_LAMBDA_LOG_*_NAME, which the extension cannot see)
// are on the resource of the function's spans from the first invocation on,
// and of the platform's; without it they are left out, never guessed.
func checkLogNames(t *testing.T, sb *sandbox, handoff string, wrapper bool) {
	t.Helper()
	var group, stream string
	if wrapper {
		for _, line := range strings.Split(string(mustRead(t, handoff)), "\n") {
			if v, ok := strings.CutPrefix(line, "AWS_LAMBDA_LOG_GROUP_NAME="); ok {
				group = v
			}
			if v, ok := strings.CutPrefix(line, "AWS_LAMBDA_LOG_STREAM_NAME="); ok {
				stream = v
			}
		}
		if group == "" || stream == "" {
			t.Fatalf("the wrapper's handoff file %s lacks the log names:\n%s", handoff, mustRead(t, handoff))
		}
	}
	checked := 0
	for _, sp := range sb.sink.Spans() {
		ra := sp.ResourceAttrs
		inst, _ := ra["faas.instance"].(string)
		groups, _ := ra["aws.log.group.names"].([]any)
		streams, _ := ra["aws.log.stream.names"].([]any)
		if !wrapper {
			if _, ok := ra["faas.instance"]; ok {
				t.Fatalf("span %s has faas.instance %v without the wrapper; want it left out", sp.Span.GetName(), ra["faas.instance"])
			}
			continue
		}
		if !strings.HasPrefix(sp.Span.GetName(), "fn-") {
			continue // platform spans of the init may precede the first INVOKE
		}
		checked++
		if inst != stream || len(groups) != 1 || groups[0] != group || len(streams) != 1 || streams[0] != stream {
			t.Fatalf("span %s: faas.instance %q, aws.log.group.names %v, aws.log.stream.names %v; want %q, [%s], [%s]",
				sp.Span.GetName(), inst, groups, streams, stream, group, stream)
		}
	}
	if wrapper && checked == 0 {
		t.Fatal("no function span reached the sink: the log names were not checked")
	}
}
