package main

// Hostile input at the receiver's door: a fuzz target that drives the real
// OTLP/HTTP handler (receiver.routes) with arbitrary bodies, content types
// and encodings, seeded with what the OpenTelemetry Go SDK really sends
// (testdata/sdk, captured by testdata/sdk/capture), and the plain tests of
// the attacks a fuzzer finds slowly: gzip bombs, deep nesting, invalid
// UTF-8, huge attribute counts.

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"otel-lambda-extension/internal/otlpsink"

	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// sdkPayload is one request body captured from the OpenTelemetry Go SDK.
type sdkPayload struct {
	name string
	sig  signal
	gzip bool   // the SDK compressed it (body is still compressed)
	body []byte // as sent on the wire
}

// sdkPayloads reads testdata/sdk/<signal>.<none|gzip>.<n>.binpb.
func sdkPayloads(t testing.TB) []sdkPayload {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "sdk", "*.binpb"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no SDK payloads in testdata/sdk (%v): run testdata/sdk/capture", err)
	}
	var out []sdkPayload
	for _, f := range files {
		parts := strings.Split(filepath.Base(f), ".")
		if len(parts) != 4 {
			t.Fatalf("%s: want <signal>.<none|gzip>.<n>.binpb", f)
		}
		sig, ok := signalByName(parts[0])
		if !ok {
			t.Fatalf("%s: unknown signal %q", f, parts[0])
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, sdkPayload{name: filepath.Base(f), sig: sig, gzip: parts[1] == "gzip", body: b})
	}
	return out
}

func signalByName(name string) (signal, bool) {
	for s := range numSignals {
		if s.String() == name {
			return s, true
		}
	}
	return 0, false
}

// plain returns the uncompressed protobuf of p.
func (p sdkPayload) plain(t testing.TB) []byte {
	t.Helper()
	if !p.gzip {
		return p.body
	}
	b, err := gunzipLimit(nil, p.body, 1<<20)
	if err != nil {
		t.Fatalf("%s: %v", p.name, err)
	}
	return b
}

// captured is what a receiver under test queued.
type captured struct {
	mu     sync.Mutex
	chunks []struct {
		sig   signal
		data  []byte
		items int
	}
}

func (c *captured) push(sig signal, data []byte, items int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.chunks = append(c.chunks, struct {
		sig   signal
		data  []byte
		items int
	}{sig, data, items})
}

func (c *captured) take() []struct {
	sig   signal
	data  []byte
	items int
} {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.chunks
	c.chunks = nil
	return out
}

// newTestReceiver is the real receiver with the real enricher, queueing
// into c, with a body limit of maxBody.
func newHostileReceiver(maxBody int64, c *captured) *receiver {
	return newReceiver(maxBody, newEnricher(testAttrs()), fillInto(c.push), newLogger(io.Discard, levelError))
}

// serveOnce runs one request through h in process and returns the status.
func serveOnce(h http.Handler, sig signal, ctype, encoding string, body []byte) (int, []byte) {
	req := httptest.NewRequest(http.MethodPost, sig.urlPath(), bytes.NewReader(body))
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if encoding != "" {
		req.Header.Set("Content-Encoding", encoding)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w.Code, w.Body.Bytes()
}

// Every payload the OpenTelemetry Go SDK sends is accepted as it comes
// (compressed or not), queued with the item count proto.Unmarshal sees,
// and its OTLP/JSON form (what the JS SDK would send) is accepted with the
// same count.
func TestSDKPayloadsAccepted(t *testing.T) {
	t.Parallel()
	var c captured
	h := newHostileReceiver(16<<20, &c).routes()
	for _, p := range sdkPayloads(t) {
		t.Run(p.name, func(t *testing.T) {
			m := newMsg(p.sig)
			if err := proto.Unmarshal(p.plain(t), m); err != nil {
				t.Fatalf("the captured body is not a valid %s request: %v", p.sig, err)
			}
			want := countItems(m)
			if want == 0 {
				t.Fatalf("captured request holds no items")
			}
			enc := ""
			if p.gzip {
				enc = "gzip"
			}
			js, err := otlpsink.MarshalJSON(m)
			if err != nil {
				t.Fatal(err)
			}
			for _, req := range []struct {
				ctype, enc string
				body       []byte
			}{{ctProtobuf, enc, p.body}, {ctJSON, "", js}} {
				code, resp := serveOnce(h, p.sig, req.ctype, req.enc, req.body)
				if code != http.StatusOK {
					t.Fatalf("%s: got %d %q; want 200", req.ctype, code, resp)
				}
				chunks := c.take()
				if len(chunks) != 1 || chunks[0].items != want {
					t.Fatalf("%s: queued %d chunks; want 1 with %d items", req.ctype, len(chunks), want)
				}
				if n, err := validateRequest(p.sig, chunks[0].data); err != nil || n != want {
					t.Fatalf("%s: queued chunk validates to %d, %v; want %d, nil", req.ctype, n, err, want)
				}
				back := newMsg(p.sig)
				if err := proto.Unmarshal(chunks[0].data, back); err != nil || countItems(back) != want {
					t.Fatalf("%s: queued chunk does not decode to %d items: %v", req.ctype, want, err)
				}
			}
		})
	}
}

// Content types and encodings the fuzzer picks from.
var fuzzContentTypes = []string{ctProtobuf, "application/protobuf", ctJSON, "application/json; charset=utf-8", "text/plain", "", "application/x-protobuf; proto=x", "multipart/form-data; boundary="}

// fuzzMaxBody is small so the fuzzer reaches the 413 paths cheaply.
const fuzzMaxBody = 64 << 10

// FuzzReceiverHTTP: the OTLP/HTTP handler never panics, answers only 200,
// 400, 413 or 415, queues exactly one chunk on 200 and nothing otherwise,
// and a queued chunk is a valid request whose item count validateRequest
// confirms. encMode 0 sends body as is, 1 labels it gzip as is (garbage
// gzip), 2 gzips it first.
func FuzzReceiverHTTP(f *testing.F) {
	for _, p := range sdkPayloads(f) {
		plain := p.plain(f)
		f.Add(uint8(p.sig), uint8(0), uint8(0), plain)
		f.Add(uint8(p.sig), uint8(0), uint8(1), p.body)
		f.Add(uint8(p.sig), uint8(1), uint8(2), plain)
		m := newMsg(p.sig)
		if proto.Unmarshal(plain, m) == nil {
			if js, err := otlpsink.MarshalJSON(m); err == nil {
				f.Add(uint8(p.sig), uint8(2), uint8(0), js)
				f.Add(uint8(p.sig), uint8(3), uint8(2), js)
			}
		}
	}
	f.Add(uint8(0), uint8(0), uint8(1), []byte("\x1f\x8b\x08\x00garbage"))
	f.Add(uint8(1), uint8(2), uint8(0), []byte(`{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"\udc00"}]}]}]}`))
	f.Add(uint8(2), uint8(4), uint8(0), []byte("hello"))
	var c captured
	h := newHostileReceiver(fuzzMaxBody, &c).routes()
	f.Fuzz(func(t *testing.T, s, ct, encMode uint8, body []byte) {
		sig := signal(s % uint8(numSignals))
		ctype := fuzzContentTypes[int(ct)%len(fuzzContentTypes)]
		enc := ""
		switch encMode % 3 {
		case 1:
			enc = "gzip"
		case 2:
			enc, body = "gzip", appendGzip(nil, body)
		}
		code, resp := serveOnce(h, sig, ctype, enc, body)
		chunks := c.take()
		switch code {
		case http.StatusOK:
			if len(chunks) > 1 {
				t.Fatalf("200 queued %d chunks; want at most 1", len(chunks))
			}
			for _, ch := range chunks {
				if ch.sig != sig {
					t.Fatalf("queued as %s; want %s", ch.sig, sig)
				}
				n, err := validateRequest(sig, ch.data)
				if err != nil || n != ch.items {
					t.Fatalf("queued chunk validates to %d, %v; want %d, nil", n, err, ch.items)
				}
			}
		case http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType:
			if len(chunks) != 0 {
				t.Fatalf("%d queued %d chunks; want none", code, len(chunks))
			}
			if len(resp) == 0 {
				t.Fatalf("%d without a Status message", code)
			}
		default:
			t.Fatalf("status %d (%q); want 200, 400, 413 or 415", code, resp)
		}
	})
}

// writeSeed writes one go-fuzz corpus file of (uint8, []byte).
func writeSeed(t testing.TB, target, name string, sig signal, b []byte) {
	t.Helper()
	dir := filepath.Join("testdata", "fuzz", target)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	content := "go test fuzz v1\nuint8(" + strconv.Itoa(int(sig)) + ")\n[]byte(" + strconv.Quote(string(b)) + ")\n"
	if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestWriteSDKSeeds regenerates the SDK seeds of the older targets
// (FuzzValidate, FuzzEnrich: protobuf; FuzzJSONToProto: OTLP/JSON) under
// testdata/fuzz after a new capture. It runs only with WRITE_SDK_SEEDS=1;
// the files are committed, so plain `go test` runs them as seeds.
func TestWriteSDKSeeds(t *testing.T) {
	if os.Getenv("WRITE_SDK_SEEDS") != "1" {
		t.Skip("set WRITE_SDK_SEEDS=1 to regenerate testdata/fuzz/*/sdk-* from testdata/sdk")
	}
	for _, p := range sdkPayloads(t) {
		plain := p.plain(t)
		name := "sdk-" + strings.TrimSuffix(p.name, ".binpb")
		writeSeed(t, "FuzzValidate", name, p.sig, plain)
		writeSeed(t, "FuzzEnrich", name, p.sig, plain)
		if p.gzip {
			continue // the JSON form is the same for both captures
		}
		m := newMsg(p.sig)
		if err := proto.Unmarshal(plain, m); err != nil {
			t.Fatal(err)
		}
		js, err := otlpsink.MarshalJSON(m)
		if err != nil {
			t.Fatal(err)
		}
		writeSeed(t, "FuzzJSONToProto", "sdk-"+p.sig.String(), p.sig, js)
	}
}

// --- hostile input, plain tests ---

// gzipBomb returns a gzip stream of n MiB of zeros: one compressed MiB
// repeated as n gzip members, which a gzip reader inflates back to back
// (multistream), so a bomb of any size costs nothing to build.
func gzipBomb(mib int) []byte {
	member := appendGzip(nil, make([]byte, 1<<20))
	return bytes.Repeat(member, mib)
}

// allocDuring returns the bytes allocated by the whole process while fn
// runs; callers must not run in parallel with other tests.
func allocDuring(fn func()) uint64 {
	var a, b runtime.MemStats
	runtime.ReadMemStats(&a)
	fn()
	runtime.ReadMemStats(&b)
	return b.TotalAlloc - a.TotalAlloc
}

// A gzip bomb is answered 413 after inflating at most the limit: a 100 MiB
// bomb against a 1 MiB limit, and a 1 GiB bomb (1 MiB on the wire) against
// the default 16 MiB limit, each allocate a small multiple of the limit,
// never the bomb's size.
func TestGzipBomb(t *testing.T) {
	tests := []struct {
		limit    int64
		inflated int
	}{
		{1 << 20, 100},
		{16 << 20, 1024},
	}
	for _, tc := range tests {
		bomb := gzipBomb(tc.inflated)
		var c captured
		h := newHostileReceiver(tc.limit, &c).routes()
		var code int
		var resp []byte
		alloc := allocDuring(func() { code, resp = serveOnce(h, sigTraces, ctProtobuf, "gzip", bomb) })
		t.Logf("%d MiB bomb, %d KiB on the wire, limit %d MiB: %d MiB allocated", tc.inflated, len(bomb)>>10, tc.limit>>20, alloc>>20)
		if code != http.StatusRequestEntityTooLarge {
			t.Fatalf("bomb of %d MiB with limit %d: got %d %q; want 413", tc.inflated, tc.limit, code, resp)
		}
		// The receiver grows one buffer to the limit by doubling (about
		// 4× the limit allocated in all, 8× under the race detector), plus
		// the wire body and the gzip reader: a multiple of the limit that
		// does not grow with the bomb.
		if max := uint64(10*tc.limit) + uint64(len(bomb)) + 2<<20; alloc > max || alloc > uint64(tc.inflated<<20)/4 {
			t.Errorf("inflating a %d MiB bomb allocated %d MiB; want under %d MiB", tc.inflated, alloc>>20, max>>20)
		}
		if !strings.Contains(string(resp), "after gzip decompression") {
			t.Errorf("413 message %q does not say why", resp)
		}
		if len(c.take()) != 0 {
			t.Errorf("a bomb was queued")
		}
	}
}

// nestedAnyValue encodes an AnyValue nested depth times through
// array_value (AnyValue.array_value = 5, ArrayValue.values = 1), written
// outside in so deep nesting costs linear time.
func nestedAnyValue(depth int) []byte {
	leaf := appendString(nil, 1, "x") // AnyValue.string_value
	// sizes[i] is the length of the AnyValue at level i (0 = outermost).
	sizes := make([]int, depth+1)
	sizes[depth] = len(leaf)
	for i := depth - 1; i >= 0; i-- {
		inner := sizes[i+1]
		arr := 1 + varintLen(inner) + inner // ArrayValue{values: inner}
		sizes[i] = 1 + varintLen(arr) + arr // AnyValue{array_value: arr}
	}
	var b []byte
	for i := 0; i < depth; i++ {
		inner := sizes[i+1]
		arr := 1 + varintLen(inner) + inner
		b = append(b, 5<<3|2)
		b = protowire.AppendVarint(b, uint64(arr))
		b = append(b, 1<<3|2)
		b = protowire.AppendVarint(b, uint64(inner))
	}
	return append(b, leaf...)
}

func varintLen(n int) int { return protowire.SizeVarint(uint64(n)) }

// traceWithAttr wraps one attribute value (an encoded AnyValue) into a
// traces request: ResourceSpans{ScopeSpans{Span{attributes: {k, v}}}}.
func traceWithAttr(anyValue []byte) []byte {
	kv := appendString(nil, 1, "k")
	kv = appendBytes(kv, 2, anyValue)
	span := appendBytes(nil, 1, bytes.Repeat([]byte{1}, 16)) // trace_id
	span = appendBytes(span, 2, bytes.Repeat([]byte{2}, 8))  // span_id
	span = appendString(span, 5, "deep")                     // name
	span = appendBytes(span, 9, kv)                          // attributes
	ss := appendBytes(nil, 2, span)
	rs := appendBytes(nil, 2, ss)
	return appendBytes(nil, 1, rs)
}

// Deeply nested AnyValues (protobuf and JSON) are refused with a 400 that
// says why, in bounded time and without a stack overflow (which would kill
// the process, not fail the test).
func TestDeepNesting(t *testing.T) {
	t.Parallel()
	var c captured
	h := newHostileReceiver(16<<20, &c).routes()
	for _, depth := range []int{maxAnyDepth + 1, 1000, 100_000} {
		pb := traceWithAttr(nestedAnyValue(depth))
		if err := proto.Unmarshal(pb, &tracepb.TracesData{}); depth <= 1000 && err != nil {
			t.Fatalf("test encoder: %v", err)
		}
		code, resp := serveOnce(h, sigTraces, ctProtobuf, "", pb)
		if code != http.StatusBadRequest || !strings.Contains(string(resp), "nested deeper than") {
			t.Errorf("protobuf depth %d: got %d %q; want 400 naming the nesting", depth, code, resp)
		}
		js := `{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"01010101010101010101010101010101","spanId":"0202020202020202","name":"deep","attributes":[{"key":"k","value":` +
			strings.Repeat(`{"arrayValue":{"values":[`, depth) + `{"stringValue":"x"}` + strings.Repeat(`]}}`, depth) + `}]}]}]}]}`
		code, resp = serveOnce(h, sigTraces, ctJSON, "", []byte(js))
		if code != http.StatusBadRequest || len(resp) == 0 {
			t.Errorf("JSON depth %d: got %d %q; want 400 with a message", depth, code, resp)
		}
		if n := len(c.take()); n != 0 {
			t.Errorf("depth %d: %d chunks queued", depth, n)
		}
	}
}

// Invalid UTF-8 in a string field is refused with 400, in protobuf (which
// proto3 forbids) and JSON (which cannot carry it).
func TestInvalidUTF8(t *testing.T) {
	t.Parallel()
	var c captured
	h := newHostileReceiver(16<<20, &c).routes()
	bad := "caf\xe9 \xff\xfe"
	span := appendBytes(nil, 1, bytes.Repeat([]byte{1}, 16))
	span = appendBytes(span, 2, bytes.Repeat([]byte{2}, 8))
	span = appendString(span, 5, bad)
	pb := appendBytes(nil, 1, appendBytes(nil, 2, appendBytes(nil, 2, span)))
	if proto.Unmarshal(pb, &tracepb.TracesData{}) == nil {
		t.Fatal("test encoder: proto.Unmarshal accepts the invalid UTF-8")
	}
	code, resp := serveOnce(h, sigTraces, ctProtobuf, "", pb)
	if code != http.StatusBadRequest {
		t.Errorf("protobuf with invalid UTF-8: got %d %q; want 400", code, resp)
	}
	js := []byte(`{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"01010101010101010101010101010101","spanId":"0202020202020202","name":"` + bad + `"}]}]}]}`)
	code, resp = serveOnce(h, sigTraces, ctJSON, "", js)
	if code != http.StatusBadRequest {
		t.Errorf("JSON with invalid UTF-8: got %d %q; want 400", code, resp)
	}
	if n := len(c.take()); n != 0 {
		t.Errorf("%d chunks queued", n)
	}
}

// A span with 100k attributes is accepted (it is within the body limit)
// or refused with 413, in bounded time, in both encodings.
func TestHugeAttributeCount(t *testing.T) {
	t.Parallel()
	const n = 100_000
	attrs := make([]*commonpb.KeyValue, n)
	for i := range attrs {
		attrs[i] = &commonpb.KeyValue{Key: "k" + strconv.Itoa(i), Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_IntValue{IntValue: int64(i)}}}
	}
	td := testSpans("wide", 1)
	td.ResourceSpans[0].ScopeSpans[0].Spans[0].Attributes = attrs
	pb := mustMarshal(t, td)
	// The JSON by hand: protojson takes seconds for this under -race.
	var jb strings.Builder
	jb.WriteString(`{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"01010101010101010101010101010101","spanId":"0101010101010101","name":"wide","attributes":[`)
	for i := range n {
		if i > 0 {
			jb.WriteByte(',')
		}
		fmt.Fprintf(&jb, `{"key":"k%d","value":{"intValue":"%d"}}`, i, i)
	}
	jb.WriteString(`]}]}]}]}`)
	js := []byte(jb.String())
	for _, limit := range []int64{16 << 20, 1 << 20} {
		var c captured
		h := newHostileReceiver(limit, &c).routes()
		for _, req := range []struct {
			ctype string
			body  []byte
		}{{ctProtobuf, pb}, {ctJSON, js}} {
			done := make(chan int, 1)
			start := time.Now()
			go func() {
				code, _ := serveOnce(h, sigTraces, req.ctype, "", req.body)
				done <- code
			}()
			select {
			case code := <-done:
				t.Logf("%s, %d KiB, limit %d MiB: %d in %v", req.ctype, len(req.body)>>10, limit>>20, code, time.Since(start).Round(time.Millisecond))
				want := http.StatusOK
				if int64(len(req.body)) > limit {
					want = http.StatusRequestEntityTooLarge
				}
				if code != want {
					t.Errorf("%s, %d KB body, limit %d KB: got %d; want %d", req.ctype, len(req.body)>>10, limit>>10, code, want)
				}
				chunks := c.take()
				if want == http.StatusOK && (len(chunks) != 1 || chunks[0].items != 1) {
					t.Errorf("%s: queued %d chunks; want 1 with the span", req.ctype, len(chunks))
				}
			case <-time.After(20 * time.Second):
				t.Fatalf("%s with %d attributes: no answer within 20 s", req.ctype, n)
			}
		}
	}
}

// FuzzEnrich and FuzzValidate receive the SDK seeds through the corpus
// files TestWriteSDKSeeds writes; make sure they are there.
func TestSDKSeedFilesPresent(t *testing.T) {
	t.Parallel()
	for _, target := range []string{"FuzzValidate", "FuzzEnrich", "FuzzJSONToProto"} {
		m, _ := filepath.Glob(filepath.Join("testdata", "fuzz", target, "sdk-*"))
		if len(m) == 0 {
			t.Errorf("no SDK seeds for %s: run WRITE_SDK_SEEDS=1 go test -run TestWriteSDKSeeds .", target)
		}
	}
}
