package main

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
)

// queued records what the receiver pushed to the ring.
type queued struct {
	mu     sync.Mutex
	chunks [][]byte
	items  []int
	sigs   []signal
}

func (q *queued) push(sig signal, chunk []byte, items int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.sigs, q.chunks, q.items = append(q.sigs, sig), append(q.chunks, chunk), append(q.items, items)
}

func newTestReceiver(t *testing.T, maxBody int64) (*httptest.Server, *queued) {
	t.Helper()
	q := &queued{}
	en := newEnricher([]encodedKV{{key: "cloud.provider", kv: appendKVString(nil, 0, "cloud.provider", "aws")[2:]}})
	rc := newReceiver(maxBody, en, q.push, newLogger(io.Discard, levelError))
	srv := httptest.NewServer(rc.routes())
	t.Cleanup(srv.Close)
	return srv, q
}

func gz(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(b)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// rpcMessage decodes google.rpc.Status.message from a protobuf body.
func rpcMessage(b []byte) string {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return ""
		}
		b = b[n:]
		if num == 2 && typ == protowire.BytesType {
			v, _ := protowire.ConsumeBytes(b)
			return string(v)
		}
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			return ""
		}
		b = b[n:]
	}
	return ""
}

func TestReceiverAnswers(t *testing.T) {
	t.Parallel()
	srv, q := newTestReceiver(t, 64<<10)
	spans := mustMarshal(t, testSpans("r", 2))
	js := []byte(`{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"5B8EFFF798038103D269B633813FC60C","spanId":"EEE19B7EC3C1B174","name":"j","kind":2}]}]}]}`)
	bomb := gz(t, bytes.Repeat([]byte{0}, 1<<20)) // 1 MiB of zeros: ~1 KiB on the wire

	tests := []struct {
		name        string
		method      string
		path        string
		ctype       string
		enc         string
		body        []byte
		chunked     bool
		wantCode    int
		wantType    string
		wantMessage string // in the google.rpc.Status
		wantItems   int    // queued
	}{
		{name: "protobuf", path: "/v1/traces", ctype: ctProtobuf, body: spans, wantCode: 200, wantType: ctProtobuf, wantItems: 2},
		{name: "protobuf gzip", path: "/v1/traces", ctype: ctProtobuf, enc: "gzip", body: gz(t, spans), wantCode: 200, wantItems: 2},
		{name: "chunked, no Content-Length", path: "/v1/traces", ctype: ctProtobuf, body: spans, chunked: true, wantCode: 200, wantItems: 2},
		{name: "json", path: "/v1/traces", ctype: "application/json; charset=utf-8", body: js, wantCode: 200, wantType: ctJSON, wantItems: 1},
		{name: "json gzip", path: "/v1/traces", ctype: ctJSON, enc: "gzip", body: gz(t, js), wantCode: 200, wantItems: 1},
		{name: "empty request", path: "/v1/logs", ctype: ctProtobuf, body: nil, wantCode: 200},
		{name: "wrong path", path: "/v1/profiles", ctype: ctProtobuf, body: spans, wantCode: 404, wantMessage: "unknown path"},
		{name: "wrong method", method: "GET", path: "/v1/traces", wantCode: 405, wantMessage: "use POST"},
		{name: "wrong type", path: "/v1/traces", ctype: "text/plain", body: spans, wantCode: 415, wantMessage: "unsupported content type"},
		{name: "wrong encoding", path: "/v1/traces", ctype: ctProtobuf, enc: "br", body: spans, wantCode: 415, wantMessage: "content encoding"},
		{name: "malformed protobuf", path: "/v1/traces", ctype: ctProtobuf, body: []byte{0x0a, 0x05, 0x01}, wantCode: 400, wantMessage: "bad data"},
		{name: "malformed json", path: "/v1/metrics", ctype: ctJSON, body: []byte(`{"resourceMetrics":[`), wantCode: 400, wantType: ctJSON, wantMessage: "bad data"},
		{name: "bad gzip", path: "/v1/traces", ctype: ctProtobuf, enc: "gzip", body: []byte("not gzip"), wantCode: 400, wantMessage: "gzip"},
		{name: "too large on the wire", path: "/v1/traces", ctype: ctProtobuf, body: make([]byte, 65<<10), wantCode: 413, wantMessage: "over"},
		{name: "gzip bomb", path: "/v1/traces", ctype: ctProtobuf, enc: "gzip", body: bomb, wantCode: 413, wantMessage: "decompression"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := len(q.items)
			method := tc.method
			if method == "" {
				method = http.MethodPost
			}
			var body io.Reader = bytes.NewReader(tc.body)
			if tc.chunked {
				body = io.MultiReader(bytes.NewReader(tc.body)) // unknown length → chunked
			}
			req, _ := http.NewRequest(method, srv.URL+tc.path, body)
			if tc.ctype != "" {
				req.Header.Set("Content-Type", tc.ctype)
			}
			if tc.enc != "" {
				req.Header.Set("Content-Encoding", tc.enc)
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			rb, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.wantCode {
				t.Fatalf("status %d; want %d (body %q)", resp.StatusCode, tc.wantCode, rb)
			}
			if tc.wantType != "" && resp.Header.Get("Content-Type") != tc.wantType {
				t.Errorf("Content-Type %q; want %q", resp.Header.Get("Content-Type"), tc.wantType)
			}
			if tc.wantMessage != "" {
				msg := rpcMessage(rb)
				if strings.HasPrefix(resp.Header.Get("Content-Type"), ctJSON) {
					msg = string(rb)
				}
				if !strings.Contains(msg, tc.wantMessage) {
					t.Errorf("status message %q lacks %q", msg, tc.wantMessage)
				}
			}
			q.mu.Lock()
			var items int
			for _, n := range q.items[before:] {
				items += n
			}
			q.mu.Unlock()
			if items != tc.wantItems {
				t.Errorf("queued %d items; want %d", items, tc.wantItems)
			}
			if tc.wantCode == 200 && tc.wantItems > 0 {
				// The queued chunk is a valid request carrying the
				// resource attribute the payload lacked.
				q.mu.Lock()
				chunk := q.chunks[len(q.chunks)-1]
				q.mu.Unlock()
				if _, err := validateRequest(sigTraces, chunk); err != nil {
					t.Fatalf("queued chunk invalid: %v", err)
				}
				if !bytes.Contains(chunk, []byte("cloud.provider")) {
					t.Errorf("queued chunk was not enriched")
				}
			}
		})
	}
}
