package main

// End-to-end tests of the OTLP pipeline: what a function sends reaches the
// backend, equal to what was sent plus only the resource attributes it
// lacked, exported at the moments the flush strategy promises.

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"otel-lambda-extension/internal/lambdasim"
	"otel-lambda-extension/internal/otlpsink"

	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	"google.golang.org/protobuf/proto"
)

// noPlatform keeps the extension's own platform telemetry out of the way
// where a test compares the function's data only.
var noPlatform = map[string]string{"OTEL_LAMBDA_TELEMETRY": "false"}

func testMetrics() *metricspb.MetricsData {
	pt := func(v float64) *metricspb.NumberDataPoint {
		return &metricspb.NumberDataPoint{TimeUnixNano: 1_700_000_000_000_000_000, Value: &metricspb.NumberDataPoint_AsDouble{AsDouble: v}}
	}
	return &metricspb.MetricsData{ResourceMetrics: []*metricspb.ResourceMetrics{{
		Resource: &resourcepb.Resource{Attributes: []*commonpb.KeyValue{
			{Key: "service.name", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: "checkout"}}},
		}},
		ScopeMetrics: []*metricspb.ScopeMetrics{{
			Scope: &commonpb.InstrumentationScope{Name: "test"},
			Metrics: []*metricspb.Metric{
				{Name: "queue.depth", Unit: "{item}", Data: &metricspb.Metric_Gauge{Gauge: &metricspb.Gauge{DataPoints: []*metricspb.NumberDataPoint{pt(7)}}}},
				{Name: "orders", Data: &metricspb.Metric_Sum{Sum: &metricspb.Sum{
					AggregationTemporality: metricspb.AggregationTemporality_AGGREGATION_TEMPORALITY_DELTA, IsMonotonic: true,
					DataPoints: []*metricspb.NumberDataPoint{{TimeUnixNano: 1_700_000_000_000_000_000, Value: &metricspb.NumberDataPoint_AsInt{AsInt: 3}}}}}},
				{Name: "latency", Unit: "s", Data: &metricspb.Metric_Histogram{Histogram: &metricspb.Histogram{
					AggregationTemporality: metricspb.AggregationTemporality_AGGREGATION_TEMPORALITY_DELTA,
					DataPoints: []*metricspb.HistogramDataPoint{{TimeUnixNano: 1_700_000_000_000_000_000, Count: 3, Sum: proto.Float64(0.6),
						BucketCounts: []uint64{1, 2}, ExplicitBounds: []float64{0.1}}}}}},
			},
		}},
	}}}
}

// TestPipelineEncodings sends every signal as protobuf and JSON, with and
// without gzip, and checks the backend gets each item equal to what was
// sent, the resource attributes the SDK set untouched, and the Lambda ones
// it lacked added.
func TestPipelineEncodings(t *testing.T) {
	t.Parallel()
	sb := mustStart(t, sandboxOpts{env: noPlatform, sim: lambdasim.Config{FunctionName: "orders", Region: "eu-west-1", MemoryMB: 256}})

	type payload struct {
		signal string
		msg    proto.Message
	}
	payloads := []payload{
		{"traces", testSpans("enc", 3)},
		{"metrics", testMetrics()},
		{"logs", testLogs("disk almost full")},
	}
	var sent int
	for _, p := range payloads {
		for _, format := range []string{"protobuf", "json"} {
			for _, gz := range []bool{false, true} {
				body, ct := mustMarshal(t, p.msg), ctProtobuf
				if format == "json" {
					js, err := otlpsink.MarshalJSON(p.msg)
					if err != nil {
						t.Fatal(err)
					}
					body, ct = js, ctJSON
				}
				sb.invoke(func(inv *lambdasim.Invocation) error {
					postOTLP(t, inv, sb.receiverURL(), p.signal, ct, gz, body)
					return nil
				})
				sent++
			}
		}
	}
	// Strategy end: each invocation was exported before its next, so
	// everything is at the backend now, with the sandbox frozen.
	if got := len(sb.sink.Requests()); got < 3 {
		t.Fatalf("%d requests at the backend after %d invocations", got, sent)
	}

	wantSpans := testSpans("enc", 3).ResourceSpans[0].ScopeSpans[0].Spans
	spans := functionSpans(sb.sink)
	if len(spans) != 4*len(wantSpans) {
		t.Fatalf("%d spans at the backend; want %d", len(spans), 4*len(wantSpans))
	}
	for i, sp := range spans {
		if !proto.Equal(sp.Span, wantSpans[i%len(wantSpans)]) {
			t.Errorf("span %d changed on the way:\n got %v\nwant %v", i, sp.Span, wantSpans[i%len(wantSpans)])
		}
		checkResource(t, sp.ResourceAttrs, map[string]any{"service.name": "checkout", "faas.name": "set-by-sdk"})
	}

	wantMetrics := testMetrics().ResourceMetrics[0].ScopeMetrics[0].Metrics
	var metrics []otlpsink.Metric
	for _, m := range sb.sink.Metrics() {
		if m.Scope.GetName() == "test" {
			metrics = append(metrics, m)
		}
	}
	if len(metrics) != 4*len(wantMetrics) {
		t.Fatalf("%d metrics at the backend; want %d", len(metrics), 4*len(wantMetrics))
	}
	for i, m := range metrics {
		if !proto.Equal(m.Metric, wantMetrics[i%len(wantMetrics)]) {
			t.Errorf("metric %d changed:\n got %v\nwant %v", i, m.Metric, wantMetrics[i%len(wantMetrics)])
		}
		checkResource(t, m.ResourceAttrs, map[string]any{"service.name": "checkout", "faas.name": "orders"})
	}

	wantLog := testLogs("x").ResourceLogs[0].ScopeLogs[0].LogRecords[0]
	wantLog.Body = &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: "disk almost full"}}
	logs := sb.sink.LogRecords()
	if len(logs) != 4 {
		t.Fatalf("%d log records at the backend; want 4", len(logs))
	}
	for _, l := range logs {
		if !proto.Equal(l.Record, wantLog) {
			t.Errorf("log record changed:\n got %v\nwant %v", l.Record, wantLog)
		}
		// The SDK sent no resource at all: the extension adds one, with
		// service.name from the function name.
		checkResource(t, l.ResourceAttrs, map[string]any{"service.name": "orders", "faas.name": "orders"})
	}
}

// checkResource asserts the Lambda resource attributes are present with the
// values the sandbox has, and that keep (set by the SDK) were not changed.
func checkResource(t *testing.T, got map[string]any, keep map[string]any) {
	t.Helper()
	want := map[string]any{
		"cloud.provider":  "aws",
		"cloud.platform":  "aws_lambda",
		"cloud.region":    "eu-west-1",
		"faas.version":    "$LATEST",
		"faas.max_memory": int64(256 << 20),
	}
	for k, v := range keep {
		want[k] = v
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("resource %s = %v (%T); want %v (%T); resource: %v", k, got[k], got[k], v, v, got)
		}
	}
}

// TestPipelineEndExportsBeforeFreeze: with the end strategy an invocation's
// data is at the backend by the time the sandbox freezes.
func TestPipelineEndExportsBeforeFreeze(t *testing.T) {
	t.Parallel()
	sb := mustStart(t, sandboxOpts{env: map[string]string{"OTEL_LAMBDA_FLUSH_STRATEGY": "end"}})
	for i := range 5 {
		name := fmt.Sprintf("inv%d", i)
		res := sb.invoke(func(inv *lambdasim.Invocation) error {
			postOTLP(t, inv, sb.receiverURL(), "traces", ctProtobuf, false, mustMarshal(t, testSpans(name, 1)))
			return nil
		})
		// No waiting here: the sandbox is frozen and the span must
		// already be out.
		spans := functionSpans(sb.sink)
		if len(spans) != i+1 || spans[i].Span.GetName() != name+"-0" {
			t.Fatalf("after invocation %d the backend has %d function spans; want %d ending with %s", i, len(spans), i+1, name+"-0")
		}
		if _, held := res.PostRuntime[extensionName]; !held {
			t.Errorf("invocation %d: the extension did not hold next after runtimeDone (end strategy)", i)
		}
	}
}

// TestPipelinePeriodically: with periodically,<ms> the first invocation
// exports (nothing was exported yet); the next ones within the period do
// not hold next, and their data goes out later (here at SHUTDOWN).
func TestPipelinePeriodically(t *testing.T) {
	t.Parallel()
	sb := mustStart(t, sandboxOpts{env: map[string]string{"OTEL_LAMBDA_FLUSH_STRATEGY": "periodically,600000", "OTEL_LAMBDA_LOG_LEVEL": "debug"}})
	post := func(name string) func(*lambdasim.Invocation) error {
		return func(inv *lambdasim.Invocation) error {
			postOTLP(t, inv, sb.receiverURL(), "traces", ctProtobuf, false, mustMarshal(t, testSpans(name, 1)))
			return nil
		}
	}
	sb.invoke(post("first"))
	if n := len(functionSpans(sb.sink)); n != 1 {
		t.Fatalf("after the first invocation: %d spans at the backend; want 1", n)
	}
	sb.invoke(post("second"))
	if n := len(functionSpans(sb.sink)); n != 1 {
		t.Fatalf("the second invocation exported although the period has not passed: %d spans", n)
	}
	if out, ok := sb.waitOutput(func(out string) bool {
		return strings.Count(out, ": plan end") == 1 && strings.Count(out, ": plan skip") == 1
	}); !ok {
		t.Errorf("want one end plan then one skip:\n%s", out)
	}
	if _, exit := sb.shutdown("spindown"); exit.ExitCode != 0 {
		t.Fatalf("exit %+v", exit)
	}
	if n := len(functionSpans(sb.sink)); n != 2 {
		t.Fatalf("after SHUTDOWN: %d spans; want 2", n)
	}
}

// TestPipelineContinuously: continuously,<ms> exports while the function
// runs and never holds next.
func TestPipelineContinuously(t *testing.T) {
	t.Parallel()
	sb := mustStart(t, sandboxOpts{
		env: map[string]string{"OTEL_LAMBDA_FLUSH_STRATEGY": "continuously,50", "OTEL_LAMBDA_LOG_LEVEL": "debug"},
		sim: lambdasim.Config{FunctionTimeout: 20 * time.Second},
	})
	sb.invoke(func(inv *lambdasim.Invocation) error {
		postOTLP(t, inv, sb.receiverURL(), "traces", ctProtobuf, false, mustMarshal(t, testSpans("running", 1)))
		// The span must reach the backend while this invocation still runs.
		ctx, cancel := context.WithTimeout(inv.Context(), 10*time.Second)
		defer cancel()
		if err := sb.sink.WaitFor(ctx, func(s *otlpsink.Sink) bool { return len(functionSpans(s)) == 1 }); err != nil {
			t.Errorf("the span was not exported while the function ran: %v", err)
		}
		return nil
	})
	if out, ok := sb.waitOutput(func(out string) bool { return strings.Contains(out, ": plan skip") }); !ok || strings.Contains(out, ": plan end") {
		t.Errorf("continuously must never hold next for an export:\n%s", out)
	}
}

// TestPipelineHundredInvocations: 100 invocations with a freeze between
// each and a final SHUTDOWN lose nothing and duplicate nothing, with the
// default (adaptive) strategy, which moves exports off the function's path
// once the invocation rate is known.
func TestPipelineHundredInvocations(t *testing.T) {
	t.Parallel()
	sb := mustStart(t, sandboxOpts{env: map[string]string{"OTEL_LAMBDA_FLUSH_STRATEGY": "", "OTEL_LAMBDA_LOG_LEVEL": "debug"}})
	const n = 100
	for i := range n {
		name := fmt.Sprintf("call%03d", i)
		sb.invoke(func(inv *lambdasim.Invocation) error {
			postOTLP(t, inv, sb.receiverURL(), "traces", ctProtobuf, i%2 == 0, mustMarshal(t, testSpans(name, 1)))
			inv.Printf("handled %s", name)
			return nil
		})
	}
	if _, exit := sb.shutdown("spindown"); exit.ExitCode != 0 || !exit.BeforeDeadline {
		t.Fatalf("exit %+v\n%s", exit, sb.stderr.String())
	}
	var names []string
	for _, sp := range functionSpans(sb.sink) {
		names = append(names, sp.Span.GetName())
	}
	slices.Sort(names)
	if len(names) != n || len(slices.Compact(slices.Clone(names))) != n {
		t.Fatalf("%d function spans (%d distinct) at the backend; want %d", len(names), len(slices.Compact(slices.Clone(names))), n)
	}
	// The function's log lines came through the Telemetry API, all of them.
	var lines int
	for _, l := range sb.sink.LogRecords() {
		if strings.HasPrefix(l.Record.GetBody().GetStringValue(), "handled call") {
			lines++
		}
	}
	if lines != n {
		t.Errorf("%d function log lines at the backend; want %d", lines, n)
	}
	// The first adaptiveWarmup invocations wait for their end and export;
	// once the rate is known to be frequent, adaptive exports off the
	// function's path and calls next at once.
	out := sb.stderr.String()
	if ends, asyncs := strings.Count(out, ": plan end"), strings.Count(out, ": plan async"); ends != adaptiveWarmup || asyncs != n-adaptiveWarmup {
		t.Errorf("adaptive plans: %d end, %d async; want %d end then %d async", ends, asyncs, adaptiveWarmup, n-adaptiveWarmup)
	}
	if !strings.Contains(out, "traces received") || !strings.Contains(out, "dropped 0") {
		t.Errorf("summary line missing or reports drops:\n%s", out)
	}
}

// TestPipelineBackend400Drops: a non-retryable answer drops the batch,
// counts it and logs the status with the start of the body.
func TestPipelineBackend400Drops(t *testing.T) {
	t.Parallel()
	sb := mustStart(t, sandboxOpts{env: noPlatform})
	sb.sink.Script(otlpsink.Fault{Status: 400, Message: "span name too long"})
	sb.invoke(func(inv *lambdasim.Invocation) error {
		postOTLP(t, inv, sb.receiverURL(), "traces", ctProtobuf, false, mustMarshal(t, testSpans("bad", 2)))
		return nil
	})
	sb.invoke(func(inv *lambdasim.Invocation) error {
		postOTLP(t, inv, sb.receiverURL(), "traces", ctProtobuf, false, mustMarshal(t, testSpans("good", 1)))
		return nil
	})
	sb.shutdown("spindown")
	spans := functionSpans(sb.sink)
	if len(spans) != 1 || spans[0].Span.GetName() != "good-0" {
		t.Fatalf("backend accepted %d spans; want only good-0", len(spans))
	}
	out := sb.stderr.String()
	for _, want := range []string{"400", "span name too long", "traces received 3", "dropped 2"} {
		if !strings.Contains(out, want) {
			t.Errorf("extension output lacks %q:\n%s", want, out)
		}
	}
}
