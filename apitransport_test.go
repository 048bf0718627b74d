package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// apiServer is an httptest server on 127.0.0.1 that counts the
// connections apiTransport opens to it.
func apiServer(t *testing.T, h http.HandlerFunc) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, &conns
}

func apiGet(t *testing.T, c *http.Client, url string) (int, string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: reading the body: %v", url, err)
	}
	return resp.StatusCode, string(b)
}

// TestAPITransportOneConnection: register, subscribe and next go over one
// kept-alive connection, whatever the answer's framing (Content-Length,
// chunked, empty, an error status, a 1xx before the answer).
func TestAPITransportOneConnection(t *testing.T) {
	t.Parallel()
	srv, conns := apiServer(t, func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		switch r.URL.Path {
		case "/chunked":
			w.Write([]byte("part one, "))
			w.(http.Flusher).Flush()
			w.Write([]byte("part two"))
		case "/empty":
			w.WriteHeader(http.StatusNoContent)
		case "/error":
			http.Error(w, "bad request", http.StatusBadRequest)
		case "/hints":
			w.Header().Set("Link", "</x>; rel=preload")
			w.WriteHeader(http.StatusEarlyHints)
			fmt.Fprint(w, "after the hints")
		default:
			fmt.Fprintf(w, "%s %s", r.Method, r.URL.Path)
		}
	})
	c := &http.Client{Transport: &apiTransport{}}
	tests := []struct {
		path   string
		status int
		body   string
	}{
		{"/register", 200, "GET /register"},
		{"/chunked", 200, "part one, part two"},
		{"/empty", 204, ""},
		{"/error", 400, "bad request\n"},
		{"/hints", 200, "after the hints"},
		{"/next", 200, "GET /next"},
	}
	for _, tt := range tests {
		status, body := apiGet(t, c, srv.URL+tt.path)
		if status != tt.status || body != tt.body {
			t.Errorf("GET %s = %d %q; want %d %q", tt.path, status, body, tt.status, tt.body)
		}
	}
	resp, err := c.Post(srv.URL+"/subscribe", "application/json", strings.NewReader(`{"a":1}`))
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if n := conns.Load(); n != 1 {
		t.Errorf("%d connections for %d requests; want 1, kept alive", n, len(tests)+1)
	}
}

// TestAPITransportUnreadBody: a body closed before its end leaves the rest
// on the connection, so the connection is not reused; the next request
// gets its own answer on a new one.
func TestAPITransportUnreadBody(t *testing.T) {
	t.Parallel()
	srv, conns := apiServer(t, func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s%s", r.URL.Path, strings.Repeat(".", 64<<10))
	})
	c := &http.Client{Transport: &apiTransport{}}
	resp, err := c.Get(srv.URL + "/first")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Read(make([]byte, 10))
	resp.Body.Close()
	if _, body := apiGet(t, c, srv.URL+"/second"); !strings.HasPrefix(body, "/second.") {
		t.Errorf("second answer starts %q; want /second", body[:min(len(body), 20)])
	}
	if n := conns.Load(); n != 2 {
		t.Errorf("%d connections; want 2 (the first one was not read to its end)", n)
	}
}

// TestAPITransportServerClosedIdle: a kept-alive connection the server
// closed while idle costs a GET (event/next) nothing, it goes again on a
// new connection; a POST is not replayed, as net/http would not.
func TestAPITransportServerClosedIdle(t *testing.T) {
	t.Parallel()
	srv, conns := apiServer(t, func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		fmt.Fprint(w, r.URL.Path)
	})
	c := &http.Client{Transport: &apiTransport{}}
	apiGet(t, c, srv.URL+"/register")
	srv.CloseClientConnections()
	if status, body := apiGet(t, c, srv.URL+"/next"); status != 200 || body != "/next" {
		t.Errorf("GET after the server closed the idle connection = %d %q; want 200 /next", status, body)
	}
	if n := conns.Load(); n != 2 {
		t.Errorf("%d connections; want 2", n)
	}
	srv.CloseClientConnections()
	resp, err := c.Post(srv.URL+"/exit/error", "text/plain", strings.NewReader("x"))
	if err == nil {
		resp.Body.Close()
		t.Error("POST on a connection the server closed succeeded; want the error, not a replay (it may have been acted on)")
	}
	if n := conns.Load(); n != 2 {
		t.Errorf("%d connections after the POST; want still 2 (a POST is never replayed)", n)
	}
}

// TestAPITransportCancel: cancelling the context ends a long poll in
// progress (event/next waits for as long as the sandbox lives).
func TestAPITransportCancel(t *testing.T) {
	t.Parallel()
	arrived := make(chan struct{})
	release := make(chan struct{})
	srv, _ := apiServer(t, func(w http.ResponseWriter, r *http.Request) {
		close(arrived)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	defer close(release)
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/next", nil)
	errc := make(chan error, 1)
	go func() {
		resp, err := (&http.Client{Transport: &apiTransport{}}).Do(req)
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	<-arrived
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("long poll cancelled: err = %v; want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a cancelled long poll did not return within 10 s")
	}
}

// TestAPITransportScheme: anything but http is refused before any I/O.
func TestAPITransportScheme(t *testing.T) {
	t.Parallel()
	_, err := (&http.Client{Transport: &apiTransport{}}).Get("https://127.0.0.1:1/")
	if err == nil || !strings.Contains(err.Error(), `unsupported protocol scheme "https"`) {
		t.Errorf("https request: err = %v; want unsupported protocol scheme", err)
	}
}

// TestRegisterBodyGate: with a gate, register's headers reach the server
// while the body waits; the body goes once the gate opens, and register
// then succeeds.
func TestRegisterBodyGate(t *testing.T) {
	t.Parallel()
	headers := make(chan struct{})
	srv, _ := apiServer(t, func(w http.ResponseWriter, r *http.Request) {
		close(headers)
		body, _ := io.ReadAll(r.Body)
		if string(body) != registerBody {
			http.Error(w, "body "+string(body), http.StatusBadRequest)
			return
		}
		w.Header().Set("Lambda-Extension-Identifier", "id-1")
		fmt.Fprint(w, `{"functionName":"f","functionVersion":"$LATEST","handler":"h"}`)
	})
	c := newExtClient(strings.TrimPrefix(srv.URL, "http://"))
	c.base = srv.URL
	gate := newBodyGate()
	type result struct {
		rr  registerResponse
		err error
	}
	done := make(chan result, 1)
	go func() {
		rr, err := c.register(context.Background(), "ext", gate)
		done <- result{rr, err}
	}()
	select {
	case <-headers:
	case <-time.After(10 * time.Second):
		t.Fatal("register's headers did not reach the server before the gate opened")
	}
	select {
	case <-gate.taken:
		t.Fatal("the body went before the gate opened")
	default:
	}
	close(gate.open)
	r := <-done
	if r.err != nil || r.rr.FunctionName != "f" || c.id != "id-1" {
		t.Fatalf("register = %+v, %v, id %q; want function f, id id-1", r.rr, r.err, c.id)
	}
	<-gate.taken
}
