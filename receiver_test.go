package main

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
)

// queued records what the receiver pushed to the ring, copied as ring.push
// does: the receiver reuses its buffer once push returns.
type queued struct {
	mu     sync.Mutex
	chunks [][]byte
	items  []int
	sigs   []signal
}

func (q *queued) push(sig signal, chunk []byte, items int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.sigs, q.chunks, q.items = append(q.sigs, sig), append(q.chunks, bytes.Clone(chunk)), append(q.items, items)
}

func newTestReceiver(t *testing.T, maxBody int64) (*httptest.Server, *queued) {
	t.Helper()
	q := &queued{}
	en := newEnricher([]encodedKV{{key: "cloud.provider", kv: appendKVString(nil, 0, "cloud.provider", "aws")[2:]}})
	rc := newReceiver(maxBody, en, fillInto(q.push), newLogger(io.Discard, levelError))
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

func TestGunzipLimit(t *testing.T) {
	t.Parallel()
	data := bytes.Repeat([]byte("otlp "), 2000) // 10000 bytes
	member := gz(t, data)
	lying := bytes.Clone(member)
	lying[len(lying)-4] ^= 0x40 // ISIZE says more than there is
	tests := []struct {
		name    string
		dst     string
		src     []byte
		limit   int64
		want    []byte // nil: an error
		wantErr error
	}{
		{name: "under the limit", src: member, limit: 20000, want: data},
		{name: "exactly the limit", src: member, limit: 10000, want: data},
		{name: "one byte over", src: member, limit: 9999, wantErr: errTooLarge},
		{name: "appends to dst", dst: "pre:", src: member, limit: 10000, want: append([]byte("pre:"), data...)},
		{name: "two members, the hint is the last one's", src: append(bytes.Clone(member), member...), limit: 20000, want: append(bytes.Clone(data), data...)},
		{name: "two members over the limit", src: append(bytes.Clone(member), member...), limit: 19999, wantErr: errTooLarge},
		{name: "empty stream", src: gz(t, nil), limit: 10, want: []byte{}},
		{name: "lying trailer", src: lying, limit: 1 << 20, wantErr: errBadData},
		{name: "truncated", src: member[:len(member)-3], limit: 1 << 20, wantErr: errBadData},
		{name: "not gzip", src: []byte("plain text, not gzip at all"), limit: 1 << 20, wantErr: errBadData},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := newReceiver(tt.limit, newEnricher(nil), fillInto(func(signal, []byte, int) {}), newLogger(io.Discard, levelError))
			for _, impl := range []struct {
				name string
				f    func(dst []byte) ([]byte, error)
			}{
				{"gunzipLimit", func(dst []byte) ([]byte, error) { return gunzipLimit(dst, tt.src, tt.limit) }},
				{"receiver.gunzip", func(dst []byte) ([]byte, error) { return rc.gunzip(dst, tt.src) }},
			} {
				got, err := impl.f([]byte(tt.dst))
				if tt.wantErr != nil {
					if !errors.Is(err, tt.wantErr) {
						t.Errorf("%s: error %v; want %v", impl.name, err, tt.wantErr)
					}
					continue
				}
				if err != nil || !bytes.Equal(got, tt.want) {
					t.Errorf("%s: got %d bytes, %v; want %d bytes, nil", impl.name, len(got), err, len(tt.want))
				}
				if int64(cap(got)-len(tt.dst)) > tt.limit+1 {
					t.Errorf("%s: capacity %d; want at most limit+1 = %d beyond dst", impl.name, cap(got), tt.limit+1)
				}
			}
		})
	}
}

// TestGunzipBombAllocationBounded: a 1 GiB bomb against a 16 MiB limit
// costs about the limit (the room it may fill, grown in steps of 4×: 4/3 of
// it in all), not the doublings of a growing buffer past the limit.
// Not parallel: it reads the process's allocation counter.
func TestGunzipBombAllocationBounded(t *testing.T) {
	const limit = 16 << 20
	bomb := gzipBomb(1024) // 1 GiB, 1 MiB on the wire
	if len(bomb) > limit {
		t.Fatalf("the bomb is %d bytes on the wire; want under the %d-byte body limit", len(bomb), limit)
	}
	rc := newReceiver(limit, newEnricher(nil), fillInto(func(signal, []byte, int) {}), newLogger(io.Discard, levelError))
	for _, impl := range []struct {
		name string
		f    func() ([]byte, error)
	}{
		{"gunzipLimit", func() ([]byte, error) { return gunzipLimit(nil, bomb, limit) }},
		{"receiver.gunzip", func() ([]byte, error) { return rc.gunzip(nil, bomb) }},
	} {
		var got []byte
		var err error
		alloc := allocDuring(func() { got, err = impl.f() })
		t.Logf("%s: %d KiB allocated", impl.name, alloc>>10)
		if !errors.Is(err, errTooLarge) {
			t.Errorf("%s: error %v; want errTooLarge", impl.name, err)
		}
		if want := uint64(limit + limit/2); alloc > want {
			t.Errorf("%s: allocated %d bytes; want at most %d (1.5 × the limit)", impl.name, alloc, want)
		}
		if cap(got) > limit+1 {
			t.Errorf("%s: output capacity %d; want at most %d", impl.name, cap(got), limit+1)
		}
	}
}

// raceEnabled is set by race_test.go when the race detector is on.
var raceEnabled bool

// TestReceiverGunzipReuses: the pooled gzip reader and a warm destination
// make decompression allocate a fraction of a fresh reader's 45 KB (what is
// left is compress/flate's Huffman links, a few bytes per block).
// Not parallel: it reads the process's allocation counter.
func TestReceiverGunzipReuses(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool drop what is put back")
	}
	body := gz(t, mustMarshal(t, sampleTraces(64)))
	rc := newReceiver(1<<20, newEnricher(nil), fillInto(func(signal, []byte, int) {}), newLogger(io.Discard, levelError))
	dst, err := rc.gunzip(nil, body)
	if err != nil {
		t.Fatal(err)
	}
	const n = 20
	pooled := allocDuring(func() {
		for range n {
			dst, _ = rc.gunzip(dst[:0], body)
		}
	}) / n
	fresh := allocDuring(func() {
		for range n {
			dst, _ = gunzipLimit(dst[:0], body, 1<<20)
		}
	}) / n
	t.Logf("bytes allocated per gunzip: pooled %d, fresh reader %d", pooled, fresh)
	if pooled > fresh/4 {
		t.Errorf("pooled gunzip allocates %d bytes; want under a quarter of a fresh reader's %d", pooled, fresh)
	}
}

// TestReceiverIngestCopies: ingest queues through push, which copies, so the
// receiver's scratch buffer is reused from one request to the next without
// changing what the ring holds.
func TestReceiverIngestCopies(t *testing.T) {
	r, _, _ := testRing(1<<20, 0, 0)
	rc := newReceiver(1<<20, newEnricher(testAttrs()), r.pushFill, newLogger(io.Discard, levelError))
	var want [][]byte
	for i := range 3 {
		pb := mustMarshal(t, testSpans(fmt.Sprint("req", i), 2+i))
		if err := rc.ingest(sigTraces, pb); err != nil {
			t.Fatal(err)
		}
		want = append(want, rc.enrich.Load().enrich(nil, sigTraces, pb))
	}
	b := r.take(sigTraces, noSeqLimit)
	if len(b.chunks) != len(want) {
		t.Fatalf("queued %d chunks; want %d", len(b.chunks), len(want))
	}
	for i, c := range b.chunks {
		if !bytes.Equal(c.data, want[i]) {
			t.Errorf("chunk %d differs from request %d enriched", i, i)
		}
	}
}

// TestEnrichedMax: the bound holds for requests with several resources,
// with and without the attributes, so enrich never grows its buffer.
func TestEnrichedMax(t *testing.T) {
	t.Parallel()
	en := newEnricher(testAttrs())
	withSome := mustMarshal(t, testSpans("a", 3))
	several := append(append(bytes.Clone(withSome), withSome...), mustMarshal(t, sampleTraces(5))...)
	for _, pb := range [][]byte{nil, withSome, several, mustMarshal(t, sampleTraces(64))} {
		max := enrichedMax(en, pb)
		got := en.enrich(make([]byte, 0, max), sigTraces, pb)
		if len(got) > max || cap(got) != max {
			t.Errorf("%d-byte request enriched to %d bytes (capacity %d); want at most the bound %d, in place", len(pb), len(got), cap(got), max)
		}
		if len(pb) > 0 && len(got) <= len(pb) {
			t.Errorf("%d-byte request not enriched: the test proves nothing", len(pb))
		}
	}
}

// fillInto adapts a test's push(sig, chunk, items) to the receiver's
// ring.pushFill: the chunk is filled into a buffer of exactly the bound's
// capacity, so a fill that outgrows its bound shows up as a reallocation.
func fillInto(push func(sig signal, chunk []byte, items int)) func(sig signal, n, items int, fill func([]byte) []byte) {
	return func(sig signal, n, items int, fill func([]byte) []byte) {
		buf := make([]byte, 0, n)
		chunk := fill(buf)
		if cap(chunk) != n {
			panic(fmt.Sprintf("fill outgrew its bound: %d bytes, bound %d", len(chunk), n))
		}
		push(sig, chunk, items)
	}
}
