package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"otel-lambda-extension/internal/lambdasim"
	"otel-lambda-extension/internal/otlpsink"
)

const o2TestAuth = "Basic cm9vdEBleGFtcGxlLmNvbTpwYXNz"

// o2TestConfig loads a real configuration for OpenObserve at sink, with
// retry delays short enough for tests.
func o2TestConfig(t testing.TB, sink *otlpsink.Sink, extra map[string]string) *Config {
	t.Helper()
	env := map[string]string{
		"O2_ORGANIZATION_ID":        "acme",
		"O2_AUTHORIZATION_HEADER":   o2TestAuth,
		"O2_ENDPOINT":               sink.URL(),
		"O2_STREAM":                 "lambda_logs",
		"O2_INITIAL_RETRY_DELAY_MS": "1",
		"O2_MAX_RETRY_DELAY_MS":     "4",
	}
	maps.Copy(env, extra)
	cfg, err := loadConfig(func(k string) string { return env[k] }, func(string) ([]byte, error) { return nil, fs.ErrNotExist })
	if err != nil {
		t.Fatalf("loadConfig: %v", err)
	}
	return &cfg
}

func newTestO2(t testing.TB, cfg *Config) (*o2Exporter, *syncBuffer) {
	t.Helper()
	logs := new(syncBuffer)
	e := newO2Exporter(cfg, newLogger(logs, levelDebug))
	t.Cleanup(e.closeIdle)
	t.Cleanup(func() {
		if testing.Verbose() && logs.String() != "" {
			t.Logf("extension log:\n%s", logs)
		}
	})
	return e, logs
}

func flushFor(e *o2Exporter, d time.Duration) flushResult {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return e.flush(ctx)
}

// jsonRequests returns the _json requests the sink received.
func jsonRequests(s *otlpsink.Sink) []otlpsink.Request {
	var out []otlpsink.Request
	for _, r := range s.Requests() {
		if r.Signal == otlpsink.JSONArray {
			out = append(out, r)
		}
	}
	return out
}

func TestO2RecordEncoding(t *testing.T) {
	tests := []struct {
		name           string
		typ, tm, reqID string
		record         string
		want           string
	}{
		{name: "seed example", typ: "function", tm: "2023-08-30T12:34:56.789Z", reqID: "abc123-def456-ghi789",
			record: `"2023-08-30T12:34:56.789Z\tINFO\tYour log message here"`,
			want:   `{"time":"2023-08-30T12:34:56.789Z","type":"function","record":"2023-08-30T12:34:56.789Z\tINFO\tYour log message here","requestId":"abc123-def456-ghi789"}`},
		{name: "object record kept as sent", typ: "platform.start", tm: "2023-08-30T12:34:56.789Z", reqID: "r1",
			record: `{"requestId":"r1","version":"$LATEST"}`,
			want:   `{"time":"2023-08-30T12:34:56.789Z","type":"platform.start","record":{"requestId":"r1","version":"$LATEST"},"requestId":"r1"}`},
		{name: "no request id", typ: "extension", tm: "t", record: `"x"`,
			want: `{"time":"t","type":"extension","record":"x"}`},
		{name: "no record", typ: "platform.x", tm: "t",
			want: `{"time":"t","type":"platform.x","record":null}`},
		{name: "escapes", typ: "a\"b\\c\n\x01", tm: "t\t", reqID: "\u2028é", record: `1`,
			// U+2028 is escaped, as encoding/json writes it (the same value).
			want: `{"time":"t\t","type":"a\"b\\c\n\u0001","record":1,"requestId":"\u2028é"}`},
		{name: "invalid utf-8", typ: "f\xff", tm: "t", record: `true`,
			want: `{"time":"t","type":"f` + "\uFFFD" + `","record":true}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var rec json.RawMessage
			if tc.record != "" {
				rec = json.RawMessage(tc.record)
			}
			got := appendO2Record(nil, tc.typ, tc.tm, rec, tc.reqID)
			if string(got) != tc.want {
				t.Errorf("got %s; want %s", got, tc.want)
			}
			if n := sizeO2Record(tc.typ, tc.tm, rec, tc.reqID); n != len(got) {
				t.Errorf("size %d; want len %d", n, len(got))
			}
			if !json.Valid(got) {
				t.Errorf("not valid JSON: %s", got)
			}
		})
	}
}

// FuzzO2Record: any strings and any valid JSON record make a valid JSON
// object whose fields decode back to the (UTF-8-repaired) inputs, and the
// size function is exact.
func FuzzO2Record(f *testing.F) {
	f.Add("function", "2023-08-30T12:34:56.789Z", `"line\n"`, "8f5c5e3a-1b2c-4d5e-8f90-123456789abc")
	f.Add("a\"\\\x00\x1f", "\xff\xfe", `{"a":[1,2]}`, "")
	f.Add("", "", "", "\u2028")
	f.Fuzz(func(t *testing.T, typ, tm, record, reqID string) {
		var rec json.RawMessage
		if record != "" {
			if !json.Valid([]byte(record)) {
				return // the Telemetry API decoder only hands over valid JSON
			}
			rec = json.RawMessage(record)
		}
		b := appendO2Record(nil, typ, tm, rec, reqID)
		if n := sizeO2Record(typ, tm, rec, reqID); n != len(b) {
			t.Fatalf("size %d; len %d: %s", n, len(b), b)
		}
		var got struct {
			Time      string          `json:"time"`
			Type      string          `json:"type"`
			Record    json.RawMessage `json:"record"`
			RequestID *string         `json:"requestId"`
		}
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("invalid JSON %q: %v", b, err)
		}
		fix := func(s string) string { return strings.ToValidUTF8(s, "\uFFFD") }
		if got.Time != fix(tm) || got.Type != fix(typ) {
			t.Fatalf("time %q type %q; want %q %q", got.Time, got.Type, fix(tm), fix(typ))
		}
		if (got.RequestID == nil) != (reqID == "") || (got.RequestID != nil && *got.RequestID != fix(reqID)) {
			t.Fatalf("requestId %v; want %q", got.RequestID, reqID)
		}
		// The decoder hands the value without surrounding space; invalid
		// UTF-8 inside the record's strings becomes U+FFFD.
		wantRec := fix(strings.TrimSpace(record))
		if record == "" {
			wantRec = "null"
		}
		if string(got.Record) != wantRec {
			t.Fatalf("record %s; want %s", got.Record, wantRec)
		}
		if !utf8.Valid(b) {
			t.Fatalf("invalid UTF-8 in %q", b)
		}
	})
}

// telemetryBatch is a Telemetry API POST body with function, extension and
// platform events of one invocation, as Lambda sends them.
const o2RequestID = "8f5c5e3a-1b2c-4d5e-8f90-123456789abc"

func telemetryBatch() string {
	return `[
 {"time":"2024-05-01T10:00:00.000Z","type":"platform.start","record":{"requestId":"` + o2RequestID + `","version":"$LATEST"}},
 {"time":"2024-05-01T10:00:00.010Z","type":"function","record":"2024-05-01T10:00:00.010Z\t` + o2RequestID + `\tINFO\thello from the handler\n"},
 {"time":"2024-05-01T10:00:00.011Z","type":"function","record":"a line without a request id"},
 {"time":"2024-05-01T10:00:00.012Z","type":"function","record":{"timestamp":"2024-05-01T10:00:00.012Z","level":"ERROR","message":"boom","requestId":"` + o2RequestID + `"}},
 {"time":"2024-05-01T10:00:00.013Z","type":"extension","record":"otel-lambda-extension: INFO something"},
 {"time":"2024-05-01T10:00:00.050Z","type":"platform.runtimeDone","record":{"requestId":"` + o2RequestID + `","status":"success","metrics":{"durationMs":40.5,"producedBytes":12}}},
 {"time":"2024-05-01T10:00:00.060Z","type":"platform.report","record":{"requestId":"` + o2RequestID + `","status":"success","metrics":{"durationMs":41,"billedDurationMs":42,"memorySizeMB":128,"maxMemoryUsedMB":60}}}
]`
}

// The Telemetry API listener in OpenObserve mode hands every event, as
// sent, to OpenObserve's _json API in seed 002's shape; function and
// platform events make no OTLP log records, platform metrics still go to
// the ring.
func TestO2TelemetryEventsToJSON(t *testing.T) {
	t.Parallel()
	sink := otlpsink.Start(t, otlpsink.Options{})
	sink.RequireAuth(o2TestAuth)
	cfg := o2TestConfig(t, sink, map[string]string{"OTEL_LAMBDA_PLATFORM_METRICS": "true", "OTEL_LAMBDA_PLATFORM_LOGS": "true"})
	e, logs := newTestO2(t, cfg)
	st := new(stats)
	lg := newLogger(io.Discard, levelError)
	r := newRing(cfg, st, lg)
	tel := newTelemetry(cfg, detectResource(cfg, func(string) string { return "" }), r.push, lg)
	tel.raw = e.add
	tel.handleBatch([]byte(telemetryBatch()), false, time.Now())

	if n := r.records(sigLogs); n != 0 {
		t.Errorf("ring holds %d OTLP log records; want 0 (the events go to _json only)", n)
	}
	if n := r.records(sigMetrics); n == 0 {
		t.Errorf("ring holds no platform metrics; want them exported over OTLP still")
	}
	if n := e.len(); n != 7 {
		t.Fatalf("queued %d records; want 7", n)
	}
	res := flushFor(e, 5*time.Second)
	if res.records != 7 || res.dropped != 0 || res.batches != 1 {
		t.Errorf("flush: %v; want 7 records in 1 batch", res)
	}
	reqs := jsonRequests(sink)
	if len(reqs) != 1 {
		t.Fatalf("%d _json requests; want 1", len(reqs))
	}
	req := reqs[0]
	if req.Path != "/api/acme/lambda_logs/_json" || req.Method != http.MethodPost {
		t.Errorf("request %s %s; want POST /api/acme/lambda_logs/_json", req.Method, req.Path)
	}
	for h, want := range map[string]string{"Authorization": o2TestAuth, "Content-Type": "application/json", "Content-Encoding": "gzip"} {
		if got := req.Header.Get(h); got != want {
			t.Errorf("%s: %q; want %q", h, got, want)
		}
	}
	if req.Status != 200 {
		t.Errorf("answered %d; want 200", req.Status)
	}
	// The exact body: a JSON array of seed 002's records, records as sent.
	want := `[` +
		`{"time":"2024-05-01T10:00:00.000Z","type":"platform.start","record":{"requestId":"` + o2RequestID + `","version":"$LATEST"},"requestId":"` + o2RequestID + `"},` +
		`{"time":"2024-05-01T10:00:00.010Z","type":"function","record":"2024-05-01T10:00:00.010Z\t` + o2RequestID + `\tINFO\thello from the handler\n","requestId":"` + o2RequestID + `"},` +
		`{"time":"2024-05-01T10:00:00.011Z","type":"function","record":"a line without a request id","requestId":"` + o2RequestID + `"},` +
		`{"time":"2024-05-01T10:00:00.012Z","type":"function","record":{"timestamp":"2024-05-01T10:00:00.012Z","level":"ERROR","message":"boom","requestId":"` + o2RequestID + `"},"requestId":"` + o2RequestID + `"},` +
		`{"time":"2024-05-01T10:00:00.013Z","type":"extension","record":"otel-lambda-extension: INFO something","requestId":"` + o2RequestID + `"},` +
		`{"time":"2024-05-01T10:00:00.050Z","type":"platform.runtimeDone","record":{"requestId":"` + o2RequestID + `","status":"success","metrics":{"durationMs":40.5,"producedBytes":12}},"requestId":"` + o2RequestID + `"},` +
		`{"time":"2024-05-01T10:00:00.060Z","type":"platform.report","record":{"requestId":"` + o2RequestID + `","status":"success","metrics":{"durationMs":41,"billedDurationMs":42,"memorySizeMB":128,"maxMemoryUsedMB":60}},"requestId":"` + o2RequestID + `"}` +
		`]`
	if string(req.Payload) != want {
		t.Errorf("body:\n%s\nwant:\n%s", req.Payload, want)
	}
	if !strings.Contains(logs.String(), "INFO Successfully sent 7 logs to OpenObserve") {
		t.Errorf("log lacks the seed's success line:\n%s", logs)
	}
	if e.len() != 0 {
		t.Errorf("%d records left after the flush", e.len())
	}
}

// addN queues n function lines numbered from 0.
func addN(e *o2Exporter, n int) {
	for i := range n {
		e.add("function", "2024-05-01T10:00:00.000Z", json.RawMessage(fmt.Sprintf(`"line %d"`, i)), o2RequestID)
	}
}

// recordLines returns the "record" strings of the sink's accepted _json
// records, in order.
func recordLines(s *otlpsink.Sink) []string {
	var out []string
	for _, r := range s.JSONRecords() {
		line, _ := r.Fields["record"].(string)
		out = append(out, line)
	}
	return out
}

func TestO2BatchSize(t *testing.T) {
	t.Parallel()
	tests := []struct {
		batch, n int
		want     []int // records per request
	}{
		{batch: 100, n: 250, want: []int{100, 100, 50}},
		{batch: 1, n: 3, want: []int{1, 1, 1}},
		{batch: 100, n: 100, want: []int{100}},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%d by %d", tc.n, tc.batch), func(t *testing.T) {
			t.Parallel()
			sink := otlpsink.Start(t, otlpsink.Options{})
			e, _ := newTestO2(t, o2TestConfig(t, sink, map[string]string{"O2_BATCH_SIZE": fmt.Sprint(tc.batch)}))
			addN(e, tc.n)
			res := flushFor(e, 10*time.Second)
			var got []int
			for _, r := range jsonRequests(sink) {
				got = append(got, r.Items)
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("records per request %v; want %v", got, tc.want)
			}
			if res.records != tc.n {
				t.Errorf("flushed %d records; want %d", res.records, tc.n)
			}
			lines := recordLines(sink)
			for i, l := range lines {
				if l != fmt.Sprintf("line %d", i) {
					t.Fatalf("record %d is %q; want line %d (order kept)", i, l, i)
				}
			}
		})
	}
}

// Retryable answers are retried with backoff, then the batch is sent.
func TestO2RetriesThenSuccess(t *testing.T) {
	t.Parallel()
	sink := otlpsink.Start(t, otlpsink.Options{})
	sink.Script(otlpsink.Statuses(503, 429, 502)...)
	e, logs := newTestO2(t, o2TestConfig(t, sink, nil))
	addN(e, 5)
	res := flushFor(e, 10*time.Second)
	if res.records != 5 || res.retries != 3 || res.dropped != 0 {
		t.Errorf("flush %v; want 5 records after 3 retries", res)
	}
	var statuses []int
	for _, r := range jsonRequests(sink) {
		statuses = append(statuses, r.Status)
	}
	if fmt.Sprint(statuses) != "[503 429 502 200]" {
		t.Errorf("statuses %v; want [503 429 502 200]", statuses)
	}
	for _, want := range []string{
		"WARN Retry attempt 1/3 failed: status 429: Too Many Requests",
		"WARN Retry attempt 2/3 failed: status 502: Bad Gateway",
		"INFO Successfully sent 5 logs to OpenObserve",
	} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs)
		}
	}
	if got := len(sink.JSONRecords()); got != 5 {
		t.Errorf("sink accepted %d records; want 5", got)
	}
}

// A request that takes longer than O2_REQUEST_TIMEOUT_MS is a timeout, in
// the seed's words, and is retried.
func TestO2RequestTimeout(t *testing.T) {
	t.Parallel()
	sink := otlpsink.Start(t, otlpsink.Options{})
	sink.Script(otlpsink.Fault{Delay: 5 * time.Second}, otlpsink.Fault{Delay: 5 * time.Second})
	e, logs := newTestO2(t, o2TestConfig(t, sink, map[string]string{"O2_REQUEST_TIMEOUT_MS": "100"}))
	addN(e, 2)
	res := flushFor(e, 10*time.Second)
	if res.records != 2 || res.retries != 2 {
		t.Errorf("flush %v; want 2 records after 2 retries", res)
	}
	if want := "WARN Retry attempt 1/3 failed: Request timeout (O2_REQUEST_TIMEOUT_MS=100)"; !strings.Contains(logs.String(), want) {
		t.Errorf("log lacks %q:\n%s", want, logs)
	}
}

// When every retry fails, the batch stays queued for the next flush, which
// sends it.
func TestO2RetriesExhaustedKeepsBatch(t *testing.T) {
	t.Parallel()
	sink := otlpsink.Start(t, otlpsink.Options{})
	sink.Script(otlpsink.Statuses(503, 503, 503, 503)...)
	e, logs := newTestO2(t, o2TestConfig(t, sink, nil))
	addN(e, 3)
	res := flushFor(e, 10*time.Second)
	if res.requeued != 3 || res.records != 0 {
		t.Errorf("first flush %v; want 3 requeued", res)
	}
	if !strings.Contains(logs.String(), "OpenObserve request failed after 3 retries: status 503: Service Unavailable") {
		t.Errorf("log lacks the final failure:\n%s", logs)
	}
	if e.len() != 3 {
		t.Fatalf("%d records queued; want 3", e.len())
	}
	res = flushFor(e, 10*time.Second)
	if res.records != 3 {
		t.Errorf("second flush %v; want 3 records sent", res)
	}
	if got := recordLines(sink); fmt.Sprint(got) != "[line 0 line 1 line 2]" {
		t.Errorf("records %v; want the three lines once, in order", got)
	}
}

// A wrong credential is a 401: not retried, dropped, logged in the seed's
// words with the variable to fix, and the credential never logged.
func TestO2Unauthorized(t *testing.T) {
	t.Parallel()
	sink := otlpsink.Start(t, otlpsink.Options{})
	sink.RequireAuth("Basic the-right-one")
	e, logs := newTestO2(t, o2TestConfig(t, sink, nil))
	addN(e, 4)
	res := flushFor(e, 10*time.Second)
	if res.dropped != 4 || res.retries != 0 {
		t.Errorf("flush %v; want 4 dropped, no retries", res)
	}
	if n := len(jsonRequests(sink)); n != 1 {
		t.Errorf("%d requests; want 1 (a 401 is not retried)", n)
	}
	want := "ERROR OpenObserve request failed with status 401: Unauthorized (check O2_AUTHORIZATION_HEADER); dropped 4 logs"
	if !strings.Contains(logs.String(), want) {
		t.Errorf("log lacks %q:\n%s", want, logs)
	}
	if strings.Contains(logs.String(), o2TestAuth) || strings.Contains(logs.String(), "cm9vd") {
		t.Errorf("the credential is in the log:\n%s", logs)
	}
	if e.len() != 0 {
		t.Errorf("%d records still queued after a 401", e.len())
	}
}

// OpenObserve's per-stream "failed" count is reported and counted as
// dropped.
func TestO2PartialFailure(t *testing.T) {
	t.Parallel()
	sink := otlpsink.Start(t, otlpsink.Options{})
	sink.Script(otlpsink.Fault{Rejected: 2, Message: "too many fields"})
	e, logs := newTestO2(t, o2TestConfig(t, sink, nil))
	addN(e, 5)
	res := flushFor(e, 10*time.Second)
	if res.records != 5 || res.dropped != 2 {
		t.Errorf("flush %v; want 5 records, 2 dropped", res)
	}
	for _, want := range []string{"OpenObserve accepted 3 of 5 logs; 2 failed (stream lambda_logs): too many fields", "Successfully sent 3 logs to OpenObserve"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs)
		}
	}
}

// A full buffer drops the oldest records, counts them, warns once in the
// seed's words, and keeps the newest.
func TestO2BufferFullDropsOldest(t *testing.T) {
	t.Parallel()
	sink := otlpsink.Start(t, otlpsink.Options{})
	cfg := o2TestConfig(t, sink, nil)
	// Room for ten records of lines 10..24, which are all this long.
	recLen := len(appendO2Record(nil, "function", "2024-05-01T10:00:00.000Z", json.RawMessage(`"line 10"`), o2RequestID))
	cfg.Buffer.MaxBytes = int64(10 * recLen)
	e, logs := newTestO2(t, cfg)
	addN(e, 25)
	if n := e.len(); n != 10 {
		t.Errorf("queued %d; want 10 (the budget)", n)
	}
	if n := strings.Count(logs.String(), "WARN Log buffer full, dropping oldest batch"); n != 1 {
		t.Errorf("%d buffer-full warnings; want exactly 1 (rate limited):\n%s", n, logs)
	}
	if got := e.dropped.Load(); got != 15 {
		t.Errorf("dropped %d; want 15", got)
	}
	flushFor(e, 10*time.Second)
	lines := recordLines(sink)
	if len(lines) != 10 || lines[0] != "line 15" || lines[9] != "line 24" {
		t.Errorf("sent %v; want lines 15..24", lines)
	}
	if s := e.summary(); s != "openobserve logs received 25 exported 10 dropped 15 retried 0" {
		t.Errorf("summary %q", s)
	}
}

// A flush sends what was queued when it started; records added during it
// wait for the next one. A nil exporter (OpenObserve off) does nothing.
func TestO2FlushSnapshotAndNil(t *testing.T) {
	t.Parallel()
	var none *o2Exporter
	if res := flushFor(none, time.Second); res.records != 0 || !none.empty() || none.len() != 0 {
		t.Errorf("nil exporter flushed %v", res)
	}
	none.closeIdle()

	sink := otlpsink.Start(t, otlpsink.Options{})
	e, _ := newTestO2(t, o2TestConfig(t, sink, map[string]string{"O2_BATCH_SIZE": "1"}))
	addN(e, 2)
	sink.Script(otlpsink.Fault{Delay: 100 * time.Millisecond})
	done := make(chan flushResult)
	go func() { done <- flushFor(e, 10*time.Second) }()
	// Added while the first request is held back by the sink.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := sink.WaitFor(ctx, func(s *otlpsink.Sink) bool { return s.Counts().InFlight > 0 }); err != nil {
		t.Fatal(err)
	}
	e.add("function", "t", json.RawMessage(`"late"`), "")
	if res := <-done; res.records != 2 {
		t.Errorf("flush sent %d; want the 2 queued before it", res.records)
	}
	if e.len() != 1 {
		t.Errorf("%d left; want the late one", e.len())
	}
}

// The request body is gzip that decodes to the JSON array (checked on the
// wire, not through the sink's decoder).
func TestO2GzipOnTheWire(t *testing.T) {
	t.Parallel()
	sink := otlpsink.Start(t, otlpsink.Options{})
	e, _ := newTestO2(t, o2TestConfig(t, sink, nil))
	addN(e, 2)
	flushFor(e, 10*time.Second)
	reqs := jsonRequests(sink)
	if len(reqs) != 1 {
		t.Fatalf("%d requests", len(reqs))
	}
	zr, err := gzip.NewReader(bytes.NewReader(reqs[0].Body))
	if err != nil {
		t.Fatalf("body is not gzip: %v", err)
	}
	plain, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	var arr []map[string]any
	if err := json.Unmarshal(plain, &arr); err != nil || len(arr) != 2 {
		t.Errorf("gunzipped body %q: %v; want a JSON array of 2", plain, err)
	}
}

// End to end under the Lambda emulator: the built binary in OpenObserve
// mode sends the invocation's log lines and platform events to _json, its
// platform metrics to OpenObserve's OTLP API, and no OTLP log records for
// the Telemetry API events.
func TestO2EndToEnd(t *testing.T) {
	t.Parallel()
	sink := otlpsink.Start(t, otlpsink.Options{})
	sink.RequireAuth(o2TestAuth)
	sb := mustStart(t, sandboxOpts{noSink: true, env: map[string]string{
		"O2_ORGANIZATION_ID":           "acme",
		"O2_AUTHORIZATION_HEADER":      o2TestAuth,
		"O2_ENDPOINT":                  sink.URL(),
		"O2_STREAM":                    "lambda_logs",
		"OTEL_LAMBDA_PLATFORM_METRICS": "true",
	}})
	var reqID string
	sb.invoke(func(inv *lambdasim.Invocation) error {
		reqID = inv.RequestID
		inv.Print("hello from the handler")
		return nil
	})
	_, exit := sb.shutdown("spindown")
	if exit.ExitCode != 0 {
		t.Errorf("exit %+v; want 0\n%s", exit, sb.stderr.String())
	}
	var types []string
	var line map[string]any
	for _, r := range sink.JSONRecords() {
		if r.Org != "acme" || r.Stream != "lambda_logs" {
			t.Errorf("record for %s/%s; want acme/lambda_logs", r.Org, r.Stream)
		}
		typ, _ := r.Fields["type"].(string)
		types = append(types, typ)
		if s, _ := r.Fields["record"].(string); typ == "function" && strings.Contains(s, "hello from the handler") {
			line = r.Fields
		}
	}
	// platform.report comes only at SHUTDOWN: the final flush sends it.
	for _, want := range []string{"function", "extension", "platform.start", "platform.runtimeDone", "platform.report"} {
		if !contains(types, want) {
			t.Errorf("no %s record among %v", want, types)
		}
	}
	if line == nil {
		t.Fatalf("the handler's line is not among the _json records\n%s", sb.stderr.String())
	}
	if line["requestId"] != reqID || line["time"] == "" {
		t.Errorf("line record %v; want requestId %s and a time", line, reqID)
	}
	if n := len(sink.LogRecords()); n != 0 {
		t.Errorf("%d OTLP log records; want 0 (Telemetry API logs go to _json only)", n)
	}
	if len(sink.Metrics()) == 0 {
		t.Errorf("no platform metrics over OTLP")
	}
	for _, r := range sink.Requests() {
		if r.Signal != otlpsink.JSONArray && !strings.HasPrefix(r.Path, "/api/acme/v1/") {
			t.Errorf("OTLP request to %s; want /api/acme/v1/...", r.Path)
		}
		if r.Status != 200 {
			t.Errorf("%s answered %d", r.Path, r.Status)
		}
	}
	if !strings.Contains(sb.stderr.String(), "Successfully sent") || !strings.Contains(sb.stderr.String(), "logs to OpenObserve") {
		t.Errorf("stderr lacks the success line:\n%s", sb.stderr.String())
	}
	if strings.Contains(sb.stderr.String(), o2TestAuth) {
		t.Errorf("the credential is in the extension's output")
	}
}

// Seed 002's missing-variable message reaches stderr and init/error.
func TestO2MissingOrganizationE2E(t *testing.T) {
	t.Parallel()
	sb, err := startSandbox(t, sandboxOpts{noSink: true, env: map[string]string{
		"O2_AUTHORIZATION_HEADER": o2TestAuth,
	}})
	if _, ok := isInitError(err); !ok {
		t.Fatalf("init error = %v; want a *lambdasim.InitError\n%s", err, sb.stderr.String())
	}
	if code := sb.waitExit(); code == 0 {
		t.Errorf("extension exited 0 after a configuration error")
	}
	const want = "Configuration error: O2_ORGANIZATION_ID environment variable is required"
	// The emulator copies the output in its own goroutine: allow it a moment.
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end) && !strings.Contains(sb.stderr.String(), want); {
		time.Sleep(10 * time.Millisecond)
	}
	if !strings.Contains(sb.stderr.String(), "ERROR "+want) {
		t.Errorf("stderr lacks %q:\n%s", "ERROR "+want, sb.stderr.String())
	}
	if info := sb.extInfo(); !strings.Contains(string(info.ErrorBody), "O2_ORGANIZATION_ID environment variable is required") {
		t.Errorf("init/error body %s lacks the message", info.ErrorBody)
	}
	if strings.Contains(sb.stderr.String(), o2TestAuth) {
		t.Errorf("the credential is in the extension's output")
	}
}

// Events the listener cannot interpret are forwarded too, never dropped:
// an unknown type with its record as sent; an event whose envelope does
// not decode becomes a record of type "" holding the whole event.
func TestO2UnknownAndMalformedEvents(t *testing.T) {
	t.Parallel()
	sink := otlpsink.Start(t, otlpsink.Options{})
	cfg := o2TestConfig(t, sink, nil)
	e, _ := newTestO2(t, cfg)
	lg := newLogger(io.Discard, levelError)
	r := newRing(cfg, new(stats), lg)
	tel := newTelemetry(cfg, detectResource(cfg, func(string) string { return "" }), r.push, lg)
	tel.raw = e.add
	tel.handleBatch([]byte(`[{"time":"2024-05-01T10:00:00.000Z","type":"platform.future","record":{"a":1}},{"time":5,"type":"function","record":"x"}]`), false, time.Now())
	if n := r.records(sigLogs); n != 0 {
		t.Errorf("%d OTLP log records; want 0", n)
	}
	flushFor(e, 10*time.Second)
	recs := sink.JSONRecords()
	if len(recs) != 2 {
		t.Fatalf("%d records; want 2", len(recs))
	}
	if recs[0].Fields["type"] != "platform.future" || fmt.Sprint(recs[0].Fields["record"]) != "map[a:1]" {
		t.Errorf("unknown event became %v", recs[0].Fields)
	}
	if recs[1].Fields["type"] != "" || fmt.Sprint(recs[1].Fields["record"]) != "map[record:x time:5 type:function]" || recs[1].Fields["time"] == "" {
		t.Errorf("malformed event became %v; want the whole event as the record, stamped with the observed time", recs[1].Fields)
	}
}
