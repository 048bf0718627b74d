package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// telCapture is a sink that decodes every chunk with the generated OTLP
// types (TracesData etc. are wire-identical to the Export requests).
type telCapture struct {
	mu      sync.Mutex
	spans   []*tracepb.Span
	metrics []*metricspb.Metric
	logs    []*logspb.LogRecord
	chunks  [numSignals]int
	errs    []string
	block   chan struct{} // when set, the traces sink waits on it
	entered chan struct{} // closed-on-send signal that the traces sink was entered
}

func (c *telCapture) sink(sig signal, chunk []byte, items int) {
	if sig == sigTraces && c.block != nil {
		c.entered <- struct{}{}
		<-c.block
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.chunks[sig]++
	n := 0
	check := func(res interface{ GetAttributes() []*commonpb.KeyValue }, scope *commonpb.InstrumentationScope) {
		if telAttrs(res.GetAttributes())["cloud.provider"] != "aws" {
			c.errs = append(c.errs, fmt.Sprintf("%v chunk without the Lambda resource", sig))
		}
		if scope.GetName() != "otel-lambda-extension" || scope.GetVersion() != version {
			c.errs = append(c.errs, fmt.Sprintf("%v chunk scope %v", sig, scope))
		}
	}
	switch sig {
	case sigTraces:
		var d tracepb.TracesData
		if err := proto.Unmarshal(chunk, &d); err != nil {
			c.errs = append(c.errs, "traces: "+err.Error())
			return
		}
		for _, rs := range d.ResourceSpans {
			for _, ss := range rs.ScopeSpans {
				check(rs.Resource, ss.Scope)
				c.spans = append(c.spans, ss.Spans...)
				n += len(ss.Spans)
			}
		}
	case sigMetrics:
		var d metricspb.MetricsData
		if err := proto.Unmarshal(chunk, &d); err != nil {
			c.errs = append(c.errs, "metrics: "+err.Error())
			return
		}
		for _, rm := range d.ResourceMetrics {
			for _, sm := range rm.ScopeMetrics {
				check(rm.Resource, sm.Scope)
				c.metrics = append(c.metrics, sm.Metrics...)
				for _, m := range sm.Metrics {
					n += len(m.GetHistogram().GetDataPoints()) + len(m.GetSum().GetDataPoints())
				}
			}
		}
	case sigLogs:
		var d logspb.LogsData
		if err := proto.Unmarshal(chunk, &d); err != nil {
			c.errs = append(c.errs, "logs: "+err.Error())
			return
		}
		for _, rl := range d.ResourceLogs {
			for _, sl := range rl.ScopeLogs {
				check(rl.Resource, sl.Scope)
				c.logs = append(c.logs, sl.LogRecords...)
				n += len(sl.LogRecords)
			}
		}
	}
	if n != items {
		c.errs = append(c.errs, fmt.Sprintf("%v chunk: sink told %d items; decoded %d", sig, items, n))
	}
}

func (c *telCapture) check(t *testing.T) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range c.errs {
		t.Error(e)
	}
}

// telLogBuf is a goroutine-safe log destination.
type telLogBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *telLogBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *telLogBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func telConfig() *Config {
	cfg := &Config{}
	cfg.Telemetry.Enabled = true
	cfg.Telemetry.PlatformLogs = true
	cfg.Telemetry.PlatformSpans = true
	cfg.Telemetry.PlatformMetrics = true
	return cfg
}

type telHarness struct {
	tel  *telemetry
	cap  *telCapture
	srv  *httptest.Server
	logs *telLogBuf
}

func newTelHarness(t testing.TB, mod func(*Config)) *telHarness {
	cfg := telConfig()
	if mod != nil {
		mod(cfg)
	}
	h := &telHarness{cap: &telCapture{}, logs: &telLogBuf{}}
	res := detectResource(cfg, telLambdaEnv(nil))
	h.tel = newTelemetry(cfg, res, h.cap.sink, newLogger(h.logs, levelDebug))
	h.srv = httptest.NewServer(h.tel)
	t.Cleanup(h.srv.Close)
	return h
}

var telClient = &http.Client{Timeout: 10 * time.Second}

func (h *telHarness) post(t testing.TB, body []byte) int {
	t.Helper()
	resp, err := telClient.Post(h.srv.URL+"/telemetry", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatalf("post: %v", err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func (h *telHarness) postFile(t testing.TB, name string) {
	t.Helper()
	if got := h.post(t, telReadFile(t, name)); got != http.StatusOK {
		t.Fatalf("%s: status got %v; want 200", name, got)
	}
}

func telReadFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "telemetry", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func telAttrs(kvs []*commonpb.KeyValue) map[string]string {
	m := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		m[kv.Key] = telAnyText(kv.Value)
	}
	return m
}

func telTime(s string) uint64 {
	tm, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return uint64(tm.UnixNano())
}

func telHex(b []byte) string { return hex.EncodeToString(b) }

func (c *telCapture) spanByName(t *testing.T, name string) *tracepb.Span {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	var found *tracepb.Span
	for _, s := range c.spans {
		if s.Name == name {
			if found != nil {
				t.Fatalf("two spans named %q", name)
			}
			found = s
		}
	}
	if found == nil {
		t.Fatalf("no span named %q", name)
	}
	return found
}

func (c *telCapture) metric(t *testing.T, name string) *metricspb.Metric {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	var found *metricspb.Metric
	for _, m := range c.metrics {
		if m.Name == name {
			if found == nil {
				found = proto.Clone(m).(*metricspb.Metric)
				continue
			}
			// Merge data points of several batches.
			if h := found.GetHistogram(); h != nil {
				h.DataPoints = append(h.DataPoints, m.GetHistogram().GetDataPoints()...)
			} else {
				s := found.GetSum()
				s.DataPoints = append(s.DataPoints, m.GetSum().GetDataPoints()...)
			}
		}
	}
	return found
}

// logByBody returns the log record whose body text starts with prefix.
func (c *telCapture) logByBody(t *testing.T, prefix string) *logspb.LogRecord {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, l := range c.logs {
		if strings.HasPrefix(l.Body.GetStringValue(), prefix) {
			return l
		}
	}
	t.Fatalf("no log record with body %q", prefix)
	return nil
}

func telIsClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

const (
	telReqA    = "6f7f0961-83c2-4f6d-8d93-0c5a2d7a1f01"
	telReqB    = "0b3d7c4e-2a51-4d26-9f0e-2a1f5cb3e7d2"
	telArnA    = "arn:aws:lambda:eu-west-1:123456789012:function:orders-api:live"
	telTraceA  = "66321240a3ce929d0e0e4736b6ac8e51"
	telSpanA   = "4bf92f3577b34da6"
	telParentA = "53995c3f42cd8ad8"
	telXrayA   = "Root=1-66321240-a3ce929d0e0e4736b6ac8e51;Parent=53995c3f42cd8ad8;Sampled=1"
)

func TestTelemetryColdStart(t *testing.T) {
	h := newTelHarness(t, nil)
	// The lifecycle sees INVOKE before the first batch arrives.
	h.tel.invokeStarted(telReqA, telArnA, telXrayA, time.Date(2024, 5, 1, 10, 0, 3, 520e6, time.UTC))
	done := h.tel.runtimeDone(telReqA)
	if telIsClosed(done) {
		t.Fatal("runtimeDone channel closed before any batch")
	}
	h.postFile(t, "cold_start.json")
	if !telIsClosed(done) {
		t.Fatal("runtimeDone channel still open after the batch with runtimeDone was answered")
	}
	c := h.cap
	c.check(t)
	if c.chunks != [numSignals]int{1, 1, 1} {
		t.Errorf("chunks per signal: got %v; want one each", c.chunks)
	}

	// Spans.
	inv := c.spanByName(t, "orders-api")
	if got := telHex(inv.TraceId); got != telTraceA {
		t.Errorf("trace id: got %v; want %v", got, telTraceA)
	}
	if got := telHex(inv.SpanId); got != telSpanA {
		t.Errorf("span id: got %v; want %v", got, telSpanA)
	}
	if got := telHex(inv.ParentSpanId); got != telParentA {
		t.Errorf("parent: got %v; want %v", got, telParentA)
	}
	if inv.Kind != tracepb.Span_SPAN_KIND_SERVER {
		t.Errorf("kind: got %v; want SERVER", inv.Kind)
	}
	if inv.StartTimeUnixNano != telTime("2024-05-01T10:00:00.520Z") || inv.EndTimeUnixNano != telTime("2024-05-01T10:00:00.771Z") {
		t.Errorf("times: got %v..%v", inv.StartTimeUnixNano, inv.EndTimeUnixNano)
	}
	if inv.Status.GetCode() != tracepb.Status_STATUS_CODE_OK {
		t.Errorf("status: got %v; want OK", inv.Status)
	}
	if got, want := inv.Flags, uint32(0x301); got != want {
		t.Errorf("flags: got %#x; want %#x", got, want)
	}
	a := telAttrs(inv.Attributes)
	want := map[string]string{"faas.invocation_id": telReqA, "faas.coldstart": "bool:true", "aws.lambda.invoked_arn": telArnA}
	if fmt.Sprint(a) != fmt.Sprint(want) {
		t.Errorf("attributes: got %v; want %v", a, want)
	}

	ini := c.spanByName(t, "init")
	if telHex(ini.TraceId) != telTraceA || telHex(ini.ParentSpanId) != telSpanA {
		t.Errorf("init span: trace %v parent %v; want the invocation's", telHex(ini.TraceId), telHex(ini.ParentSpanId))
	}
	if ini.Kind != tracepb.Span_SPAN_KIND_INTERNAL || ini.StartTimeUnixNano != telTime("2024-05-01T10:00:00.101Z") ||
		ini.EndTimeUnixNano != telTime("2024-05-01T10:00:00.512Z") || ini.Status.GetCode() != tracepb.Status_STATUS_CODE_OK {
		t.Errorf("init span: got %v", ini)
	}
	if got := telAttrs(ini.Attributes)["faas.coldstart"]; got != "bool:true" {
		t.Errorf("init faas.coldstart: got %v; want true", got)
	}
	for _, cs := range []struct {
		name       string
		start, end string
	}{
		{"responseLatency", "2024-05-01T10:00:00.520Z", "2024-05-01T10:00:00.769Z"},
		{"responseDuration", "2024-05-01T10:00:00.769Z", "2024-05-01T10:00:00.7705Z"},
		{"runtimeOverhead", "2024-05-01T10:00:00.770Z", "2024-05-01T10:00:00.77075Z"},
	} {
		s := c.spanByName(t, cs.name)
		if telHex(s.TraceId) != telTraceA || telHex(s.ParentSpanId) != telSpanA || len(s.SpanId) != 8 {
			t.Errorf("%s: trace %v parent %v", cs.name, telHex(s.TraceId), telHex(s.ParentSpanId))
		}
		if s.StartTimeUnixNano != telTime(cs.start) || s.EndTimeUnixNano != telTime(cs.end) {
			t.Errorf("%s: got %v..%v; want %v..%v", cs.name, s.StartTimeUnixNano, s.EndTimeUnixNano, telTime(cs.start), telTime(cs.end))
		}
	}
	if len(c.spans) != 5 {
		t.Errorf("spans: got %v; want 5", len(c.spans))
	}

	// Metrics.
	telCheckSum(t, c.metric(t, "faas.coldstarts"), "{coldstart}", 1)
	telCheckSum(t, c.metric(t, "faas.invocations"), "{invocation}", 1)
	telCheckHist(t, c.metric(t, "faas.init_duration"), "s", 0.4115, 7, durationBounds)
	ivd := c.metric(t, "faas.invoke_duration")
	telCheckHist(t, ivd, "s", 0.25125, 7, durationBounds)
	if p := ivd.GetHistogram().DataPoints[0]; p.StartTimeUnixNano != telTime("2024-05-01T10:00:00.520Z") || p.TimeUnixNano != telTime("2024-05-01T10:00:00.771Z") {
		t.Errorf("invoke_duration point times: got %v..%v", p.StartTimeUnixNano, p.TimeUnixNano)
	}
	for _, name := range []string{"faas.errors", "faas.timeouts", "faas.mem_usage"} {
		if c.metric(t, name) != nil {
			t.Errorf("%s: unexpected in a successful cold start", name)
		}
	}

	// Logs: every event of the batch is one record.
	if len(c.logs) != 11 {
		t.Errorf("log records: got %v; want 11", len(c.logs))
	}
	l := c.logByBody(t, "2024-05-01T10:00:00.530Z\t"+telReqA+"\tINFO\tcreating order 1042")
	telCheckLog(t, l, 9, "INFO", "function", telReqA, telTraceA, telSpanA)
	if l.TimeUnixNano != telTime("2024-05-01T10:00:00.530Z") || l.ObservedTimeUnixNano == 0 || l.Flags != 1 {
		t.Errorf("times/flags: got %v %v %v", l.TimeUnixNano, l.ObservedTimeUnixNano, l.Flags)
	}
	telCheckLog(t, c.logByBody(t, "2024-05-01T10:00:00.600Z"), 13, "WARN", "function", telReqA, telTraceA, telSpanA)
	// Lines written during init belong to no invocation.
	telCheckLog(t, c.logByBody(t, "2024-05-01T10:00:00.310Z"), 9, "INFO", "function", "", "", "")
	telCheckLog(t, c.logByBody(t, "otel-lambda-extension: INFO listening"), 9, "INFO", "extension", "", "", "")
	st := c.logByBody(t, "START RequestId: "+telReqA+" Version: $LATEST")
	telCheckLog(t, st, 9, "INFO", "platform.start", telReqA, telTraceA, telSpanA)
	if st.EventName != "platform.start" {
		t.Errorf("event name: got %v; want platform.start", st.EventName)
	}
	c.logByBody(t, "INIT_START Runtime Version: nodejs:20.v22 Runtime Version ARN: arn:aws:lambda:eu-west-1::runtime:")
	c.logByBody(t, "EXTENSION Name: otel-lambda-extension State: Ready Events: [INVOKE, SHUTDOWN]")
	c.logByBody(t, "TELEMETRY Name: otel-lambda-extension State: Subscribed Types: [platform, function, extension]")
	c.logByBody(t, "INIT_REPORT Init Duration: 411.50 ms Phase: init Status: success")
	telCheckLog(t, c.logByBody(t, "END RequestId: "+telReqA), 9, "INFO", "platform.runtimeDone", telReqA, telTraceA, telSpanA)

	// The account id came from the invoked ARN.
	if got := h.tel.res.accountID(); got != "123456789012" {
		t.Errorf("account id: got %v; want 123456789012", got)
	}
	if out := h.logs.String(); out != "" {
		t.Errorf("the listener logged: %q", out)
	}
}

func telCheckLog(t *testing.T, l *logspb.LogRecord, sev int32, sevText, typ, reqID, traceID, spanID string) {
	t.Helper()
	if int32(l.SeverityNumber) != sev || l.SeverityText != sevText {
		t.Errorf("%q: severity got %v %q; want %v %q", l.Body.GetStringValue(), l.SeverityNumber, l.SeverityText, sev, sevText)
	}
	a := telAttrs(l.Attributes)
	if a[attrTelemetryType] != typ {
		t.Errorf("%q: type got %v; want %v", l.Body.GetStringValue(), a[attrTelemetryType], typ)
	}
	if a["faas.invocation_id"] != reqID {
		t.Errorf("%q: invocation got %q; want %q", l.Body.GetStringValue(), a["faas.invocation_id"], reqID)
	}
	if telHex(l.TraceId) != traceID || telHex(l.SpanId) != spanID {
		t.Errorf("%q: trace got %v/%v; want %v/%v", l.Body.GetStringValue(), telHex(l.TraceId), telHex(l.SpanId), traceID, spanID)
	}
}

func telCheckSum(t *testing.T, m *metricspb.Metric, unit string, points int) {
	t.Helper()
	if m == nil {
		t.Fatalf("metric missing")
	}
	s := m.GetSum()
	if s == nil || m.Unit != unit || !s.IsMonotonic || s.AggregationTemporality != metricspb.AggregationTemporality_AGGREGATION_TEMPORALITY_DELTA {
		t.Fatalf("%s: got %v; want a monotonic delta sum in %s", m.Name, m, unit)
	}
	if len(s.DataPoints) != points {
		t.Fatalf("%s: got %v points; want %v", m.Name, len(s.DataPoints), points)
	}
	for _, p := range s.DataPoints {
		if p.GetAsInt() != 1 || len(p.Attributes) != 0 || p.TimeUnixNano == 0 || p.StartTimeUnixNano > p.TimeUnixNano {
			t.Errorf("%s: point %v", m.Name, p)
		}
	}
}

func telCheckHist(t *testing.T, m *metricspb.Metric, unit string, v float64, bucket int, bounds []float64) {
	t.Helper()
	if m == nil {
		t.Fatalf("metric missing")
	}
	h := m.GetHistogram()
	if h == nil || m.Unit != unit || h.AggregationTemporality != metricspb.AggregationTemporality_AGGREGATION_TEMPORALITY_DELTA {
		t.Fatalf("%s: got %v; want a delta histogram in %s", m.Name, m, unit)
	}
	if len(h.DataPoints) != 1 {
		t.Fatalf("%s: got %v points; want 1", m.Name, len(h.DataPoints))
	}
	p := h.DataPoints[0]
	if p.Count != 1 || p.GetSum() != v || p.GetMin() != v || p.GetMax() != v || len(p.Attributes) != 0 {
		t.Errorf("%s: got count %v sum %v min %v max %v; want 1 and %v", m.Name, p.Count, p.GetSum(), p.GetMin(), p.GetMax(), v)
	}
	if fmt.Sprint(p.ExplicitBounds) != fmt.Sprint(bounds) || len(p.BucketCounts) != len(bounds)+1 {
		t.Errorf("%s: bounds %v, %d buckets", m.Name, p.ExplicitBounds, len(p.BucketCounts))
	}
	for i, c := range p.BucketCounts {
		if w := uint64(0); i == bucket && c != 1 || i != bucket && c != w {
			t.Errorf("%s: bucket %d count %v (want the value in bucket %d)", m.Name, i, c, bucket)
		}
	}
	if p.TimeUnixNano == 0 || p.StartTimeUnixNano > p.TimeUnixNano {
		t.Errorf("%s: times %v..%v", m.Name, p.StartTimeUnixNano, p.TimeUnixNano)
	}
}

func TestTelemetryWarmInvoke(t *testing.T) {
	h := newTelHarness(t, nil)
	h.tel.invokeStarted(telReqA, telArnA, telXrayA, time.Time{})
	h.postFile(t, "cold_start.json")
	h.tel.invokeStarted(telReqB, telArnA, "Root=1-66321245-1e2c502e358361800241fd45;Sampled=0", time.Time{})
	h.cap.mu.Lock()
	h.cap.spans, h.cap.metrics, h.cap.logs = nil, nil, nil
	h.cap.mu.Unlock()
	h.postFile(t, "warm_invoke.json")
	c := h.cap
	c.check(t)

	// report(A) arrives during B: memory and billed duration, and the
	// extensionOverhead span under A's span.
	telCheckHist(t, c.metric(t, "faas.mem_usage"), "By", 74*1048576, 1, memBounds)
	telCheckHist(t, c.metric(t, "aws.lambda.billed_duration"), "s", 0.252, 7, durationBounds)
	eo := c.spanByName(t, "extensionOverhead")
	if telHex(eo.TraceId) != telTraceA || telHex(eo.ParentSpanId) != telSpanA {
		t.Errorf("extensionOverhead: got trace %v parent %v", telHex(eo.TraceId), telHex(eo.ParentSpanId))
	}
	rep := c.logByBody(t, "REPORT RequestId: "+telReqA+" Duration: 251.25 ms Billed Duration: 252.00 ms Memory Size: 128 MB Max Memory Used: 74 MB Init Duration: 411.50 ms")
	telCheckLog(t, rep, 9, "INFO", "platform.report", telReqA, telTraceA, telSpanA)

	// B: not sampled, no parent, no spanId: the span id is ours.
	b := c.spanByName(t, "orders-api")
	if telHex(b.TraceId) != "663212451e2c502e358361800241fd45" || len(b.ParentSpanId) != 0 || len(b.SpanId) != 8 {
		t.Errorf("B ids: trace %v parent %v span %v", telHex(b.TraceId), telHex(b.ParentSpanId), telHex(b.SpanId))
	}
	if b.Flags != 0x100 {
		t.Errorf("B flags: got %#x; want 0x100", b.Flags)
	}
	if got := telAttrs(b.Attributes)["faas.coldstart"]; got != "bool:false" {
		t.Errorf("B faas.coldstart: got %v; want false", got)
	}
	l := c.logByBody(t, "2024-05-01T10:00:05.004Z")
	telCheckLog(t, l, 9, "INFO", "function", telReqB, telHex(b.TraceId), telHex(b.SpanId))
	if l.Flags != 0 {
		t.Errorf("B log flags: got %v; want 0 (not sampled)", l.Flags)
	}
	if c.metric(t, "faas.coldstarts") != nil {
		t.Error("a warm invoke counted a cold start")
	}
}

func TestTelemetryJSONLogs(t *testing.T) {
	h := newTelHarness(t, nil)
	h.postFile(t, "json_logs.json")
	c := h.cap
	c.check(t)
	const req = "c9b5d1e2-7f3a-4b8c-9d0e-1f2a3b4c5d6e"
	inv := c.spanByName(t, "orders-api")
	tr, sp := telHex(inv.TraceId), telHex(inv.SpanId)
	if len(inv.TraceId) != 16 || len(inv.SpanId) != 8 || len(inv.ParentSpanId) != 0 || inv.Flags != 0x101 {
		t.Errorf("generated ids: trace %v span %v parent %v flags %#x", tr, sp, telHex(inv.ParentSpanId), inv.Flags)
	}

	l := c.logByBody(t, "payment accepted")
	telCheckLog(t, l, 9, "INFO", "function", req, tr, sp)
	if got := telAttrs(l.Attributes); len(got) != 2 {
		t.Errorf("message-only record: attributes got %v; want type and invocation only", got)
	}

	l = c.logByBody(t, "retrying charge")
	telCheckLog(t, l, 13, "WARNING", "function", req, tr, sp)
	want := map[string]string{attrTelemetryType: "function", "faas.invocation_id": req,
		"logger": "payments", "attempt": "int:2", "ratio": "double:0.5", "idempotent": "bool:true"}
	if got := telAttrs(l.Attributes); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("attributes: got %v; want %v", got, want)
	}

	l = c.logByBody(t, "Invoke Error")
	telCheckLog(t, l, 17, "ERROR", "function", req, tr, sp)
	a := telAttrs(l.Attributes)
	if a["exception.type"] != "TypeError" || a["exception.message"] != "Cannot read properties of undefined (reading 'id')" ||
		a["exception.stacktrace"] != "TypeError: Cannot read properties of undefined (reading 'id')\n    at Runtime.handler (file:///var/task/index.mjs:12:20)" {
		t.Errorf("exception attributes: got %v", a)
	}

	// A line that was already JSON, without message: the object is the body.
	var obj *logspb.LogRecord
	c.mu.Lock()
	for _, r := range c.logs {
		if r.Body.GetKvlistValue() != nil {
			obj = r
		}
	}
	c.mu.Unlock()
	if obj == nil {
		t.Fatal("no kvlist body")
	}
	kv := obj.Body.GetKvlistValue().Values
	if len(kv) != 3 || kv[0].Key != "event" || kv[0].Value.GetStringValue() != "order_created" || kv[1].Key != "order" || kv[2].Key != "level" {
		t.Fatalf("kvlist body: got %v", kv)
	}
	order := telAttrs(kv[1].Value.GetKvlistValue().Values)
	items := kv[1].Value.GetKvlistValue().Values[1].Value.GetArrayValue().GetValues()
	if order["id"] != "int:1044" || len(items) != 2 || items[1].GetStringValue() != "B-2" {
		t.Errorf("nested body: got %v %v", order, items)
	}
	telCheckLog(t, obj, 5, "debug", "function", req, tr, sp)

	telCheckLog(t, c.logByBody(t, "otel-lambda-extension: INFO flushed"), 9, "INFO", "extension", req, tr, sp)
}

func TestTextSeverity(t *testing.T) {
	const id = "a1b2c3d4-0000-4000-8000-000000000001"
	tests := []struct {
		line    string
		sev     int32
		text    string
		reqID   string
		comment string
	}{
		{"2024-05-01T12:00:00.001Z\t" + id + "\tERROR\tInvoke Error", 17, "ERROR", id, "Node.js"},
		{"2024-05-01T12:00:00.001Z\tundefined\tINFO\tinit", 9, "INFO", "", "Node.js during init"},
		{"[INFO]\t2024-05-01T12:00:00.002Z\t" + id + "\tfetched 3 rows", 9, "INFO", "", "Python: level first"},
		{"[WARNING]\t2024-05-01T12:00:00.003Z\t" + id + "\tslow", 13, "WARNING", "", "Python warning"},
		{"2024-05-01 12:00:00 " + id + " DEBUG OrderHandler - parsed", 5, "DEBUG", id, "Java log4j2"},
		{"2024-05-01 12:00:00,005 <" + id + "> FATAL OrderHandler:42 - out", 21, "FATAL", id, "Java with <id>"},
		{"2024-05-01T12:00:00.006Z\t" + id + "\tfail\tfailed", 17, "fail", id, ".NET lower case"},
		{"2024-05-01T12:00:00.006Z\t" + id + "\tinfo\tok", 9, "info", id, ".NET info"},
		{"[ERROR] Runtime.ImportModuleError: Unable to import", 17, "ERROR", "", "Python runtime error"},
		{"[error] lower bracketed", 17, "error", "", "bracketed any case"},
		{"ERROR: disk full", 17, "ERROR", "", "plain with colon"},
		{"WARN low memory", 13, "WARN", "", "plain"},
		{"CRITICAL meltdown", 21, "CRITICAL", "", "critical is fatal"},
		{"TRACE entering", 1, "TRACE", "", "trace"},
		{"INFO2 detail", 10, "INFO2", "", "numbered severity"},
		{"otel-lambda-extension: WARN export failed", 13, "WARN", "", "one name: token"},
		{"Error: something went wrong", 0, "", "", "prose, not a level"},
		{"info about the order", 0, "", "", "lower-case word without layout"},
		{"2024/05/01 12:00:00 go handler says hi", 0, "", "", "Go log"},
		{"404 not found ERROR", 0, "", "", "level word in the body"},
		{"hello\nERROR on line 2", 0, "", "", "only the first line"},
		{"", 0, "", "", "empty"},
		{"   ", 0, "", "", "blank"},
	}
	for _, tt := range tests {
		sev, text, reqID := textSeverity(tt.line)
		if sev != tt.sev || text != tt.text || reqID != tt.reqID {
			t.Errorf("%s: textSeverity(%q) got %v %q %q; want %v %q %q", tt.comment, tt.line, sev, text, reqID, tt.sev, tt.text, tt.reqID)
		}
	}
}

func TestTelemetryLayouts(t *testing.T) {
	h := newTelHarness(t, nil)
	h.postFile(t, "layouts.json")
	h.cap.check(t)
	var got []string
	h.cap.mu.Lock()
	for _, l := range h.cap.logs {
		if telAttrs(l.Attributes)[attrTelemetryType] == "function" {
			got = append(got, fmt.Sprintf("%d:%s", l.SeverityNumber, l.SeverityText))
		}
	}
	h.cap.mu.Unlock()
	want := "[17:ERROR 9:INFO 13:WARNING 5:DEBUG 21:FATAL 17:fail 17:ERROR 0: 0: 21:CRITICAL 1:TRACE]"
	if fmt.Sprint(got) != want {
		t.Errorf("severities: got %v; want %v", got, want)
	}
}

func TestTelemetryFailures(t *testing.T) {
	t.Run("timeout", func(t *testing.T) {
		h := newTelHarness(t, func(c *Config) { c.Telemetry.PlatformLogs = false })
		h.postFile(t, "timeout.json")
		c := h.cap
		c.check(t)
		s := c.spanByName(t, "orders-api")
		if s.Status.GetCode() != tracepb.Status_STATUS_CODE_ERROR || s.Status.GetMessage() != "Sandbox.Timedout" {
			t.Errorf("status: got %v; want ERROR Sandbox.Timedout", s.Status)
		}
		if got := telAttrs(s.Attributes)["error.type"]; got != "Sandbox.Timedout" {
			t.Errorf("error.type: got %v", got)
		}
		telCheckSum(t, c.metric(t, "faas.timeouts"), "{timeout}", 1)
		if c.metric(t, "faas.invocations") != nil || c.metric(t, "faas.errors") != nil {
			t.Error("a timeout counted as success or error")
		}
		// Without PlatformLogs the failure is still logged, START is not.
		l := c.logByBody(t, "END RequestId: d4e5f6a7-1111-4222-8333-444455556666 Status: timeout Error Type: Sandbox.Timedout")
		telCheckLog(t, l, 17, "ERROR", "platform.runtimeDone", "d4e5f6a7-1111-4222-8333-444455556666", "66323e805759e988bd862e3fe1be46a9", telHex(s.SpanId))
		if len(c.logs) != 2 {
			t.Errorf("log records: got %v; want the function line and the failure", len(c.logs))
		}
	})
	t.Run("error", func(t *testing.T) {
		h := newTelHarness(t, nil)
		h.postFile(t, "error.json")
		c := h.cap
		c.check(t)
		telCheckSum(t, c.metric(t, "faas.errors"), "{error}", 1)
		l := c.logByBody(t, "[ERROR] KeyError: 'order_id'\nTraceback")
		if l.SeverityNumber != 17 {
			t.Errorf("multi-line python error: got %v", l.SeverityNumber)
		}
		if s := c.spanByName(t, "orders-api"); s.Status.GetMessage() != "Runtime.Unknown" {
			t.Errorf("status: got %v", s.Status)
		}
	})
	t.Run("crash during a suppressed init", func(t *testing.T) {
		h := newTelHarness(t, nil)
		h.postFile(t, "crash.json")
		c := h.cap
		c.check(t)
		ini := c.spanByName(t, "init")
		inv := c.spanByName(t, "orders-api")
		if ini.Status.GetCode() != tracepb.Status_STATUS_CODE_ERROR || ini.Status.GetMessage() != "Runtime.ImportModuleError" {
			t.Errorf("init status: got %v", ini.Status)
		}
		if !bytes.Equal(ini.ParentSpanId, inv.SpanId) || !bytes.Equal(ini.TraceId, inv.TraceId) {
			t.Error("pending init span not attached to the next invocation")
		}
		if inv.Status.GetMessage() != "Runtime.ExitError" {
			t.Errorf("invocation status: got %v", inv.Status)
		}
		telCheckSum(t, c.metric(t, "faas.errors"), "{error}", 2)
		telCheckSum(t, c.metric(t, "faas.coldstarts"), "{coldstart}", 1)
		ms := 120.4
		telCheckHist(t, c.metric(t, "faas.init_duration"), "s", ms/1e3, 6, durationBounds)
		telCheckLog(t, c.logByBody(t, "INIT_REPORT Init Duration: 120.40 ms Phase: invoke Status: error Error Type: Runtime.ImportModuleError"),
			17, "ERROR", "platform.initReport", "", "", "")
	})
	t.Run("snapstart restore", func(t *testing.T) {
		h := newTelHarness(t, nil)
		h.postFile(t, "restore.json")
		c := h.cap
		c.check(t)
		r := c.spanByName(t, "restore")
		inv := c.spanByName(t, "orders-api")
		if !bytes.Equal(r.ParentSpanId, inv.SpanId) || r.StartTimeUnixNano != telTime("2024-05-01T18:00:00Z") {
			t.Errorf("restore span: got %v", r)
		}
		telCheckHist(t, c.metric(t, "faas.init_duration"), "s", 0.25, 6, durationBounds)
		telCheckSum(t, c.metric(t, "faas.coldstarts"), "{coldstart}", 1)
		if got := telAttrs(inv.Attributes)["faas.coldstart"]; got != "bool:true" {
			t.Errorf("first invocation after restore: faas.coldstart got %v", got)
		}
	})
}

func TestTelemetryShutdown(t *testing.T) {
	h := newTelHarness(t, nil)
	const id = "12121212-3434-4567-89ab-cdef01234567"
	deadline := time.Date(2024, 5, 1, 13, 0, 3, 0, time.UTC)
	h.tel.invokeStarted(id, telArnA, telXrayA, deadline)
	h.postFile(t, "logs_dropped.json")
	h.tel.shutdown("spindown") // nothing failed: nothing logged
	h.cap.mu.Lock()
	spans := len(h.cap.spans)
	h.cap.mu.Unlock()
	if spans != 1 {
		t.Fatalf("spindown with an open invocation: got %v spans; want it closed", spans)
	}
	s := h.cap.spanByName(t, "orders-api")
	if s.Status.GetCode() != tracepb.Status_STATUS_CODE_UNSET || s.EndTimeUnixNano != uint64(deadline.UnixNano()) {
		t.Errorf("spindown span: got status %v end %v", s.Status, s.EndTimeUnixNano)
	}

	h2 := newTelHarness(t, nil)
	h2.tel.invokeStarted(id, telArnA, telXrayA, deadline)
	h2.tel.shutdown("TIMEOUT")
	c := h2.cap
	c.check(t)
	s = c.spanByName(t, "orders-api")
	if s.Status.GetCode() != tracepb.Status_STATUS_CODE_ERROR || s.Status.GetMessage() != "Shutdown.TIMEOUT" || telHex(s.TraceId) != telTraceA {
		t.Errorf("timeout span: got %v", s)
	}
	l := c.logByBody(t, "SHUTDOWN Reason: TIMEOUT RequestId: "+id+" did not finish")
	telCheckLog(t, l, 17, "ERROR", "platform.shutdown", id, telTraceA, telHex(s.SpanId))

	// The waiter of an invocation that never finished is released by its
	// caller's own timeout, not by shutdown: it stays open.
	if telIsClosed(h2.tel.runtimeDone(id)) {
		t.Error("runtimeDone closed without platform.runtimeDone")
	}
}

func TestTelemetryLogsDropped(t *testing.T) {
	h := newTelHarness(t, func(c *Config) { c.Telemetry.PlatformLogs = false })
	h.postFile(t, "logs_dropped.json")
	h.cap.check(t)
	l := h.cap.logByBody(t, "LOGS_DROPPED Lambda dropped 1200 records (524288 bytes) of telemetry: Some logs were dropped")
	if l.SeverityNumber != 13 || l.SeverityText != "WARN" {
		t.Errorf("severity: got %v %v", l.SeverityNumber, l.SeverityText)
	}
	a := telAttrs(l.Attributes)
	if a["aws.lambda.dropped_records"] != "int:1200" || a["aws.lambda.dropped_bytes"] != "int:524288" || !strings.HasPrefix(a["aws.lambda.drop_reason"], "Some logs") {
		t.Errorf("attributes: got %v", a)
	}
	if s := h.tel.statsSnapshot(); s.lambdaDroppedRecords != 1200 || s.lambdaDropped != 1 {
		t.Errorf("stats: got %+v", s)
	}
}

func TestTelemetryUnknownAndMalformed(t *testing.T) {
	h := newTelHarness(t, nil)
	h.postFile(t, "unknown.json")
	c := h.cap
	c.check(t)
	if len(c.logs) != 2 {
		t.Fatalf("unknown events: got %v records; want 2", len(c.logs))
	}
	l := c.logByBody(t, `"RequestId: 12345678`)
	if telAttrs(l.Attributes)[attrTelemetryType] != "platform.fault" || l.TimeUnixNano != telTime("2024-05-01T17:00:00Z") {
		t.Errorf("platform.fault: got %v", l)
	}
	c.logByBody(t, `{"answer":42,"nested":{"ok":true}}`)
	if s := h.tel.statsSnapshot(); s.unknownEvents != 2 || s.malformedBatches != 0 {
		t.Errorf("stats: got %+v", s)
	}

	// A cut batch keeps the events before the cut, answers 200 and logs
	// one line; the next malformed batch within a minute logs nothing.
	h2 := newTelHarness(t, nil)
	h2.postFile(t, "malformed.json")
	h2.cap.check(t)
	h2.cap.mu.Lock()
	kept := len(h2.cap.logs)
	h2.cap.mu.Unlock()
	if kept != 7 { // the 7 events before platform.start, which is cut
		t.Errorf("cut batch: kept %v records; want 7", kept)
	}
	for _, body := range []string{`{"not":"an array"}`, `[1, {"time":"2024-05-01T17:00:00Z","type":"function","record":"[INFO] ok"}]`, ``, `[{"type":"platform.start","record":{"requestId":5}}]`} {
		if got := h2.post(t, []byte(body)); got != http.StatusOK {
			t.Errorf("%q: status got %v; want 200", body, got)
		}
	}
	h2.cap.check(t)
	if got := strings.Count(h2.logs.String(), "\n"); got != 1 {
		t.Errorf("logged %d lines; want 1: %q", got, h2.logs.String())
	}
	s := h2.tel.statsSnapshot()
	if s.malformedBatches != 3 || s.malformedEvents != 2 || s.batches != 5 {
		t.Errorf("stats: got %+v", s)
	}
	// The number and the bad platform record became generic records; the
	// good function line survived.
	h2.cap.logByBody(t, "1")
	h2.cap.logByBody(t, `{"requestId":5}`)
	telCheckLog(t, h2.cap.logByBody(t, "[INFO] ok"), 9, "INFO", "function", "", "", "")
}

func TestTelemetryOversized(t *testing.T) {
	h := newTelHarness(t, func(c *Config) { c.Telemetry.MaxBytes = 262144 })
	line := strings.Repeat("x", 1000)
	var b bytes.Buffer
	b.WriteString("[")
	n := 0
	for b.Len() <= 4*262144+10000 {
		if n > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"time":"2024-05-01T10:00:00.000Z","type":"function","record":"%s"}`, line)
		n++
	}
	b.WriteString("]")
	if got := h.post(t, b.Bytes()); got != http.StatusOK {
		t.Fatalf("status got %v; want 200", got)
	}
	h.cap.check(t)
	h.cap.mu.Lock()
	kept := len(h.cap.logs)
	h.cap.mu.Unlock()
	if kept == 0 || kept >= n {
		t.Errorf("kept %v of %v records; want the ones before the cap", kept, n)
	}
	if s := h.tel.statsSnapshot(); s.oversizedBatches != 1 || s.malformedBatches != 0 {
		t.Errorf("stats: got %+v", s)
	}
	if !strings.Contains(h.logs.String(), "1 oversized batches (over 1048576 bytes)") {
		t.Errorf("log: got %q", h.logs.String())
	}
}

func TestTelemetryMethod(t *testing.T) {
	h := newTelHarness(t, nil)
	resp, err := telClient.Get(h.srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET: got %v; want 405", resp.StatusCode)
	}
}

func TestTelemetrySwitches(t *testing.T) {
	h := newTelHarness(t, func(c *Config) {
		c.Telemetry.PlatformLogs, c.Telemetry.PlatformSpans, c.Telemetry.PlatformMetrics = false, false, false
	})
	h.tel.invokeStarted(telReqA, telArnA, telXrayA, time.Time{})
	h.postFile(t, "cold_start.json")
	c := h.cap
	c.check(t)
	if c.chunks[sigTraces] != 0 || c.chunks[sigMetrics] != 0 {
		t.Errorf("chunks: got %v; want logs only", c.chunks)
	}
	if len(c.logs) != 4 { // 2 init-time lines, 2 invocation lines
		t.Errorf("log records: got %v; want the 4 function/extension lines", len(c.logs))
	}
	// Without a platform span, logs still carry the invocation's context.
	telCheckLog(t, c.logByBody(t, "2024-05-01T10:00:00.530Z"), 9, "INFO", "function", telReqA, telTraceA, telSpanA)
	if !telIsClosed(h.tel.runtimeDone(telReqA)) {
		t.Error("runtimeDone must not depend on PlatformSpans")
	}
}

func TestTelemetryFunctionTypeOnly(t *testing.T) {
	// Subscribed to function logs only: no platform.start, so lines without
	// a request id use the invocation the lifecycle started.
	h := newTelHarness(t, func(c *Config) { c.Telemetry.Types = []string{"function"} })
	h.tel.invokeStarted(telReqA, telArnA, telXrayA, time.Time{})
	body := `[{"time":"2024-05-01T10:00:00.530Z","type":"function","record":"plain line"}]`
	h.post(t, []byte(body))
	h.cap.check(t)
	l := h.cap.logByBody(t, "plain line")
	if a := telAttrs(l.Attributes); a["faas.invocation_id"] != telReqA || telHex(l.TraceId) != telTraceA || len(l.SpanId) != 8 {
		t.Errorf("got %v trace %v span %v", a, telHex(l.TraceId), telHex(l.SpanId))
	}
}

func TestTelemetrySubscribe(t *testing.T) {
	tests := []struct {
		name          string
		status        int
		body          string
		wantSupported bool
		wantErr       string
	}{
		{"ok", 200, `"OK"`, true, ""},
		{"emulator", 202, `{"errorMessage":"Telemetry API is not supported","errorType":"Telemetry.NotSupported"}`, false, ""},
		{"validation", 400, `{"errorType":"ValidationError","errorMessage":"URI port is not provided; types should not be empty"}`, false,
			"telemetry subscribe: status 400: ValidationError: URI port is not provided; types should not be empty"},
		{"closed", 403, `{"errorType":"Telemetry.SubscriptionClosed","errorMessage":"subscription closed"}`, false,
			"telemetry subscribe: status 403: Telemetry.SubscriptionClosed: subscription closed"},
		{"plain 500", 500, `internal`, false, `telemetry subscribe: status 500: "internal"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var (
				mu   sync.Mutex
				got  *http.Request
				body []byte
			)
			fake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				mu.Lock()
				got, body = r, b
				mu.Unlock()
				w.WriteHeader(tt.status)
				io.WriteString(w, tt.body)
			}))
			defer fake.Close()
			logs := &telLogBuf{}
			tel := newTelemetry(telConfig(), detectResource(telConfig(), telLambdaEnv(nil)), func(signal, []byte, int) {}, newLogger(logs, levelInfo))
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			supported, err := tel.subscribe(ctx, telClient, strings.TrimPrefix(fake.URL, "http://"), "ext-id-1", "http://sandbox.localdomain:4243/telemetry")
			if supported != tt.wantSupported {
				t.Errorf("supported: got %v; want %v", supported, tt.wantSupported)
			}
			if gotErr := fmt.Sprint(err); tt.wantErr == "" && err != nil || tt.wantErr != "" && gotErr != tt.wantErr {
				t.Errorf("err: got %v; want %v", err, tt.wantErr)
			}
			mu.Lock()
			defer mu.Unlock()
			if got.Method != http.MethodPut || got.URL.Path != "/2022-07-01/telemetry" || got.Header.Get("Lambda-Extension-Identifier") != "ext-id-1" ||
				got.Header.Get("Content-Type") != "application/json" {
				t.Errorf("request: %v %v %v", got.Method, got.URL.Path, got.Header)
			}
			var req map[string]any
			if err := json.Unmarshal(body, &req); err != nil {
				t.Fatal(err)
			}
			want := `map[buffering:map[maxBytes:262144 maxItems:1000 timeoutMs:25] destination:map[URI:http://sandbox.localdomain:4243/telemetry protocol:HTTP] schemaVersion:2022-12-13 types:[platform function extension]]`
			if fmt.Sprint(req) != want {
				t.Errorf("body: got %v; want %v", req, want)
			}
			if tt.status == 202 && !strings.Contains(logs.String(), "Telemetry.NotSupported") {
				t.Errorf("202 not reported: %q", logs.String())
			}
		})
	}

	t.Run("configured buffering and types", func(t *testing.T) {
		var body []byte
		fake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, _ = io.ReadAll(r.Body)
			io.WriteString(w, `"OK"`)
		}))
		defer fake.Close()
		cfg := telConfig()
		cfg.Telemetry.Types = []string{"platform", "function"}
		cfg.Telemetry.MaxItems, cfg.Telemetry.MaxBytes, cfg.Telemetry.TimeoutMs = 10000, 1048576, 100
		tel := newTelemetry(cfg, detectResource(cfg, telLambdaEnv(nil)), func(signal, []byte, int) {}, newLogger(io.Discard, levelInfo))
		if ok, err := tel.subscribe(context.Background(), telClient, strings.TrimPrefix(fake.URL, "http://"), "id", "http://x:1/"); !ok || err != nil {
			t.Fatalf("got %v %v", ok, err)
		}
		if !bytes.Contains(body, []byte(`"types":["platform","function"],"buffering":{"maxItems":10000,"maxBytes":1048576,"timeoutMs":100}`)) {
			t.Errorf("body: got %s", body)
		}
	})

	t.Run("unreachable", func(t *testing.T) {
		tel := newTelemetry(telConfig(), detectResource(telConfig(), telLambdaEnv(nil)), func(signal, []byte, int) {}, newLogger(io.Discard, levelInfo))
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if ok, err := tel.subscribe(ctx, telClient, "127.0.0.1:1", "id", "http://x:1/"); ok || err == nil || !strings.HasPrefix(err.Error(), "telemetry subscribe: ") {
			t.Errorf("got %v %v", ok, err)
		}
	})
}

func TestTelemetryRuntimeDoneChannel(t *testing.T) {
	const id = "0b3d7c4e-2a51-4d26-9f0e-2a1f5cb3e7d2"
	batch := []byte(`[{"time":"2024-05-01T10:00:05.000Z","type":"platform.start","record":{"requestId":"` + id + `"}},` +
		`{"time":"2024-05-01T10:00:05.031Z","type":"platform.runtimeDone","record":{"requestId":"` + id + `","status":"success","metrics":{"durationMs":31.0}}}]`)

	t.Run("closed only after the sink took the batch", func(t *testing.T) {
		h := newTelHarness(t, nil)
		h.cap.block, h.cap.entered = make(chan struct{}), make(chan struct{})
		ch := h.tel.runtimeDone(id)
		if ch != h.tel.runtimeDone(id) {
			t.Error("two waits for one id got different channels")
		}
		errc := make(chan int, 1)
		go func() { errc <- h.post(t, batch) }()
		<-h.cap.entered // the span is being handed over
		if telIsClosed(ch) {
			t.Fatal("closed before the sink returned")
		}
		close(h.cap.block)
		if got := <-errc; got != http.StatusOK {
			t.Fatalf("status %v", got)
		}
		select {
		case <-ch:
		case <-time.After(10 * time.Second):
			t.Fatal("not closed after the sink")
		}
		h.cap.check(t)
	})

	t.Run("already done", func(t *testing.T) {
		h := newTelHarness(t, nil)
		h.postFile(t, "timeout.json")
		if !telIsClosed(h.tel.runtimeDone("d4e5f6a7-1111-4222-8333-444455556666")) {
			t.Error("runtimeDone of a finished request is not closed")
		}
		if telIsClosed(h.tel.runtimeDone("99999999-1111-4222-8333-444455556666")) || telIsClosed(h.tel.runtimeDone("")) {
			t.Error("unknown id closed")
		}
	})

	t.Run("bounded", func(t *testing.T) {
		h := newTelHarness(t, nil)
		for i := 0; i < 10*maxTrackedInvocations; i++ {
			h.tel.runtimeDone(fmt.Sprintf("id-%d", i))
			h.tel.invokeStarted(fmt.Sprintf("id-%d", i), "", "", time.Time{})
		}
		h.tel.mu.Lock()
		w, inv := len(h.tel.waiters), len(h.tel.invs)
		h.tel.mu.Unlock()
		if w > maxTrackedInvocations || inv > maxTrackedInvocations {
			t.Errorf("waiters %v, invocations %v; want at most %v", w, inv, maxTrackedInvocations)
		}
	})
}

func TestParseXRay(t *testing.T) {
	tests := []struct {
		h             string
		trace, parent string
		sampled, ok   bool
	}{
		{"Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1;Lineage=1:e547cb94:0", "5759e988bd862e3fe1be46a994272793", "53995c3f42cd8ad8", true, true},
		{"root=1-5759e988-bd862e3fe1be46a994272793; sampled=0", "5759e988bd862e3fe1be46a994272793", "0000000000000000", false, true},
		{" Root = 1-5759e988-bd862e3fe1be46a994272793 ;Sampled=?", "5759e988bd862e3fe1be46a994272793", "0000000000000000", false, true},
		{"Root=1-5759e988-bd862e3fe1be46a99427279;Sampled=1", "00000000000000000000000000000000", "0000000000000000", false, false},
		{"Root=1-00000000-000000000000000000000000", "00000000000000000000000000000000", "0000000000000000", false, false},
		{"Root=1-5759e988-bd862e3fe1be46a99427279z", "00000000000000000000000000000000", "0000000000000000", false, false},
		{"Root=1-5759e988-bd862e3fe1be46a994272793;Parent=0000000000000000", "5759e988bd862e3fe1be46a994272793", "0000000000000000", false, true},
		{"", "00000000000000000000000000000000", "0000000000000000", false, false},
	}
	for _, tt := range tests {
		tr, p, s, ok := parseXRay(tt.h)
		if telHex(tr[:]) != tt.trace || telHex(p[:]) != tt.parent || s != tt.sampled || ok != tt.ok {
			t.Errorf("parseXRay(%q): got %x %x %v %v; want %v %v %v %v", tt.h, tr, p, s, ok, tt.trace, tt.parent, tt.sampled, tt.ok)
		}
	}
}

func TestAppendAnyJSON(t *testing.T) {
	tests := []struct{ in, want string }{
		{`"a\u00e9\n"`, "aé\n"},
		{`12`, "int:12"},
		{`-1.5e3`, "double:-1500"},
		{`123456789012345678901234567890`, "double:1.2345678901234568e+29"},
		{`true`, "bool:true"},
		{`null`, "<nil>"},
		{`{"a":[1,"x",{"b":null}]}`, "kvlist"},
		{`{"a":`, `{"a":`}, // invalid: the raw text
		{`[1] 2`, `[1] 2`},
		{strings.Repeat("[", 40) + strings.Repeat("]", 40), strings.Repeat("[", 40) + strings.Repeat("]", 40)},
	}
	for _, tt := range tests {
		b := appendAnyJSON(nil, []byte(tt.in))
		var v commonpb.AnyValue
		if err := proto.Unmarshal(b, &v); err != nil {
			t.Fatalf("%s: %v", tt.in, err)
		}
		got := telAnyText(&v)
		if v.Value == nil {
			got = "<nil>"
		}
		if v.GetKvlistValue() != nil {
			got = "kvlist"
			arr := v.GetKvlistValue().Values[0].Value.GetArrayValue().Values
			if len(arr) != 3 || arr[0].GetIntValue() != 1 || arr[1].GetStringValue() != "x" || arr[2].GetKvlistValue().Values[0].Key != "b" {
				t.Errorf("nested: got %v", arr)
			}
		}
		if got != tt.want {
			t.Errorf("appendAnyJSON(%s): got %v; want %v", tt.in, got, tt.want)
		}
	}
}

// telBenchBatches returns n typical batches with distinct request ids: the
// invocation's start, 8 Node.js text lines, 2 JSON lines, runtimeDone, and
// the previous invocation's report (13 events).
func telBenchBatches(n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		id := fmt.Sprintf("6f7f0961-83c2-4f6d-8d93-%012d", i)
		prev := fmt.Sprintf("6f7f0961-83c2-4f6d-8d93-%012d", (i+n-1)%n)
		var b bytes.Buffer
		b.WriteString(`[{"time":"2024-05-01T10:00:05.000Z","type":"platform.report","record":{"requestId":"` + prev + `","status":"success","metrics":{"durationMs":31.0,"billedDurationMs":32,"memorySizeMB":128,"maxMemoryUsedMB":74},"spans":[{"name":"extensionOverhead","start":"2024-05-01T10:00:04.990Z","durationMs":2.0}]}},`)
		b.WriteString(`{"time":"2024-05-01T10:00:05.000Z","type":"platform.start","record":{"requestId":"` + id + `","version":"$LATEST","tracing":{"spanId":"4bf92f3577b34da6","type":"X-Amzn-Trace-Id","value":"Root=1-66321245-1e2c502e358361800241fd45;Parent=53995c3f42cd8ad8;Sampled=1"}}},`)
		for j := 0; j < 8; j++ {
			fmt.Fprintf(&b, `{"time":"2024-05-01T10:00:05.004Z","type":"function","record":"2024-05-01T10:00:05.004Z\t%s\tINFO\tprocessing item %d of the order"},`, id, j)
		}
		for j := 0; j < 2; j++ {
			fmt.Fprintf(&b, `{"time":"2024-05-01T10:00:05.010Z","type":"function","record":{"timestamp":"2024-05-01T10:00:05.010Z","level":"INFO","requestId":"%s","message":"charged card","amount":12.5,"currency":"EUR"}},`, id)
		}
		b.WriteString(`{"time":"2024-05-01T10:00:05.031Z","type":"platform.runtimeDone","record":{"requestId":"` + id + `","status":"success","spans":[{"name":"responseLatency","start":"2024-05-01T10:00:05.000Z","durationMs":30.0},{"name":"responseDuration","start":"2024-05-01T10:00:05.030Z","durationMs":0.5}],"metrics":{"durationMs":31.0,"producedBytes":52}}}]`)
		out[i] = b.Bytes()
	}
	return out
}

const telBenchEvents = 13

// BenchmarkTelemetryBatch measures converting a typical batch through
// ServeHTTP (in process, no socket) into the three OTLP chunks.
func BenchmarkTelemetryBatch(b *testing.B) {
	// 2 × maxTrackedInvocations ids: every batch meets a forgotten id, as
	// in production, instead of an invocation whose span was already sent.
	batches := telBenchBatches(2 * maxTrackedInvocations)
	cfg := telConfig()
	tel := newTelemetry(cfg, detectResource(cfg, telLambdaEnv(nil)), func(signal, []byte, int) {}, newLogger(io.Discard, levelInfo))
	i := 0
	serve := func() {
		body := batches[i%len(batches)]
		i++
		req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
		tel.ServeHTTP(httptest.NewRecorder(), req)
	}
	b.ReportAllocs()
	for b.Loop() {
		serve()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*telBenchEvents), "ns/event")
	b.ReportMetric(testing.AllocsPerRun(50, serve)/telBenchEvents, "allocs/event")
}

// BenchmarkRuntimeDoneToSink measures the time from ServeHTTP receiving a
// batch that ends an invocation to that invocation's span being in the
// sink: in process, and over loopback HTTP (what Lambda's POST costs).
func BenchmarkRuntimeDoneToSink(b *testing.B) {
	batches := make([][]byte, 2*maxTrackedInvocations)
	for i := range batches {
		id := fmt.Sprintf("0b3d7c4e-2a51-4d26-9f0e-%012d", i)
		batches[i] = []byte(`[{"time":"2024-05-01T10:00:05.000Z","type":"platform.start","record":{"requestId":"` + id + `"}},` +
			`{"time":"2024-05-01T10:00:05.031Z","type":"platform.runtimeDone","record":{"requestId":"` + id + `","status":"success","spans":[{"name":"responseLatency","start":"2024-05-01T10:00:05.000Z","durationMs":30.0}],"metrics":{"durationMs":31.0}}}]`)
	}
	for _, mode := range []string{"inproc", "loopback"} {
		b.Run(mode, func(b *testing.B) {
			var t0 time.Time
			var total time.Duration
			cfg := telConfig()
			tel := newTelemetry(cfg, detectResource(cfg, telLambdaEnv(nil)), func(sig signal, _ []byte, _ int) {
				if sig == sigTraces {
					total += time.Since(t0)
				}
			}, newLogger(io.Discard, levelInfo))
			var srv *httptest.Server
			if mode == "loopback" {
				srv = httptest.NewServer(tel)
				defer srv.Close()
			}
			i := 0
			for b.Loop() {
				body := batches[i%len(batches)]
				i++
				t0 = time.Now()
				if srv == nil {
					tel.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body)))
					continue
				}
				resp, err := telClient.Post(srv.URL, "application/json", bytes.NewReader(body))
				if err != nil {
					b.Fatal(err)
				}
				resp.Body.Close()
			}
			b.ReportMetric(float64(total.Nanoseconds())/float64(b.N), "ns-to-sink")
		})
	}
}
