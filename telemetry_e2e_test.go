package main

// The Telemetry API end to end: the emulator's real event stream, through
// the built extension, to the backend. The assertions are on the exact OTLP
// the backend decodes.

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"otel-lambda-extension/internal/lambdasim"
	"otel-lambda-extension/internal/otlpsink"

	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
)

// xrayIDs turns an X-Ray trace header into the W3C trace id and parent id.
func xrayIDs(t *testing.T, header string) (traceID, parentID string) {
	t.Helper()
	for _, kv := range strings.Split(header, ";") {
		k, v, _ := strings.Cut(strings.TrimSpace(kv), "=")
		switch k {
		case "Root":
			parts := strings.Split(v, "-")
			if len(parts) != 3 {
				t.Fatalf("bad Root in %q", header)
			}
			traceID = parts[1] + parts[2]
		case "Parent":
			parentID = v
		}
	}
	return traceID, parentID
}

// metricSum adds up a metric's points: sums (as int) or histogram counts.
func metricTotals(ms []otlpsink.Metric) map[string]*metricspb.Metric {
	out := map[string]*metricspb.Metric{}
	for _, m := range ms {
		out[m.Metric.GetName()] = m.Metric // the last one is enough for type and unit
	}
	return out
}

func sumOf(ms []otlpsink.Metric, name string) (total float64, points int) {
	for _, m := range ms {
		if m.Metric.GetName() != name {
			continue
		}
		for _, p := range m.Metric.GetSum().GetDataPoints() {
			total += float64(p.GetAsInt()) + p.GetAsDouble()
			points++
		}
		for _, p := range m.Metric.GetHistogram().GetDataPoints() {
			total += float64(p.GetCount())
			points++
		}
	}
	return total, points
}

func TestTelemetryE2EColdWarmTextLogs(t *testing.T) {
	t.Parallel()
	sb := mustStart(t, sandboxOpts{sim: lambdasim.Config{FunctionName: "orders", MemoryMB: 512, Region: "eu-west-1"}})
	var results []lambdasim.InvokeResult
	for i := range 2 {
		res := sb.invoke(func(inv *lambdasim.Invocation) error {
			// Node.js's text layout, then Python's.
			inv.Print(fmt.Sprintf("2026-11-21T10:00:00.000Z\t%s\tINFO\thello %d", inv.RequestID, i))
			inv.Print(fmt.Sprintf("[ERROR]\t2026-11-21T10:00:00.001Z\t%s\tpayment failed %d", inv.RequestID, i))
			return nil
		})
		results = append(results, res)
	}
	if _, exit := sb.shutdown("spindown"); exit.ExitCode != 0 {
		t.Fatalf("exit %+v", exit)
	}

	// Metrics: names, units, types, temporality and values.
	ms := sb.sink.Metrics()
	byName := metricTotals(ms)
	for _, c := range []struct {
		name, unit string
		histogram  bool
		total      float64
	}{
		{"faas.invoke_duration", "s", true, 2},
		{"faas.init_duration", "s", true, 1},
		{"faas.mem_usage", "By", true, 2},
		{"aws.lambda.billed_duration", "s", true, 2},
		{"faas.coldstarts", "{coldstart}", false, 1},
		{"faas.invocations", "{invocation}", false, 2},
	} {
		m := byName[c.name]
		if m == nil {
			t.Errorf("metric %s missing; got %v", c.name, keys(byName))
			continue
		}
		if m.GetUnit() != c.unit {
			t.Errorf("%s unit %q; want %q", c.name, m.GetUnit(), c.unit)
		}
		var temporality metricspb.AggregationTemporality
		if c.histogram {
			if m.GetHistogram() == nil {
				t.Errorf("%s is not a histogram", c.name)
			}
			temporality = m.GetHistogram().GetAggregationTemporality()
		} else {
			if m.GetSum() == nil || !m.GetSum().GetIsMonotonic() {
				t.Errorf("%s is not a monotonic sum", c.name)
			}
			temporality = m.GetSum().GetAggregationTemporality()
		}
		if temporality != metricspb.AggregationTemporality_AGGREGATION_TEMPORALITY_DELTA {
			t.Errorf("%s temporality %v; want delta", c.name, temporality)
		}
		if got, _ := sumOf(ms, c.name); got != c.total {
			t.Errorf("%s total %v; want %v", c.name, got, c.total)
		}
	}
	for _, m := range ms {
		for _, p := range m.Metric.GetHistogram().GetDataPoints() {
			for _, a := range p.GetAttributes() {
				if a.GetKey() == "faas.invocation_id" {
					t.Errorf("%s carries a request id (cardinality)", m.Metric.GetName())
				}
			}
		}
	}
	// Memory in bytes: Lambda's MB are MiB.
	for _, m := range ms {
		if m.Metric.GetName() == "faas.mem_usage" {
			for _, p := range m.Metric.GetHistogram().GetDataPoints() {
				if s := p.GetSum(); s <= 0 || int64(s)%(1<<20) != 0 {
					t.Errorf("faas.mem_usage sum %v is not a whole number of MiB in bytes", s)
				}
			}
		}
	}

	// Spans: one SERVER span per invocation in the X-Ray trace Lambda
	// passed, children for the runtime's phases, an init span.
	spans := sb.sink.Spans()
	invSpans := map[string]*tracepb.Span{}
	var initSpans int
	for _, sp := range spans {
		attrs := otlpsink.Attrs(sp.Span.GetAttributes())
		if id, ok := attrs["faas.invocation_id"].(string); ok && sp.Span.GetKind() == tracepb.Span_SPAN_KIND_SERVER {
			invSpans[id] = sp.Span
		}
		if sp.Span.GetName() == "init" || strings.Contains(sp.Span.GetName(), "init") && attrs["faas.coldstart"] == true && sp.Span.GetKind() != tracepb.Span_SPAN_KIND_SERVER {
			initSpans++
		}
	}
	for i, res := range results {
		sp := invSpans[res.RequestID]
		if sp == nil {
			t.Fatalf("no invocation span for %s; spans: %v", res.RequestID, sinkSpanNames(spans))
		}
		wantTrace, wantParent := xrayIDs(t, res.TraceHeader)
		if got := hex.EncodeToString(sp.GetTraceId()); got != wantTrace {
			t.Errorf("invocation %d span trace id %s; want %s from %q", i, got, wantTrace, res.TraceHeader)
		}
		if got := hex.EncodeToString(sp.GetParentSpanId()); got != wantParent {
			t.Errorf("invocation %d span parent %s; want %s", i, got, wantParent)
		}
		if sp.GetName() != "orders" || sp.GetStatus().GetCode() == tracepb.Status_STATUS_CODE_ERROR {
			t.Errorf("invocation %d span %q status %v", i, sp.GetName(), sp.GetStatus())
		}
		if cold := otlpsink.Attrs(sp.GetAttributes())["faas.coldstart"]; cold != (i == 0) {
			t.Errorf("invocation %d faas.coldstart = %v", i, cold)
		}
		if sp.GetEndTimeUnixNano() < sp.GetStartTimeUnixNano() {
			t.Errorf("invocation %d span ends before it starts", i)
		}
		var children []string
		for _, c := range spans {
			if string(c.Span.GetParentSpanId()) == string(sp.GetSpanId()) {
				children = append(children, c.Span.GetName())
				if string(c.Span.GetTraceId()) != string(sp.GetTraceId()) {
					t.Errorf("child %s in another trace", c.Span.GetName())
				}
			}
		}
		if !contains(children, "responseLatency") || !contains(children, "responseDuration") {
			t.Errorf("invocation %d children %v; want responseLatency and responseDuration", i, children)
		}
	}
	if initSpans == 0 {
		t.Errorf("no init span on the cold start; spans: %v", sinkSpanNames(spans))
	}

	// Logs: severity from the runtimes' layouts, the invocation's id and
	// trace.
	found := 0
	for _, l := range sb.sink.LogRecords() {
		body := l.Record.GetBody().GetStringValue()
		var i int
		var want logspb.SeverityNumber
		// In the text format the body is the whole line, as printed.
		last := body[strings.LastIndexByte(body, '\t')+1:]
		switch {
		case strings.HasPrefix(last, "hello "):
			fmt.Sscanf(last, "hello %d", &i)
			want = logspb.SeverityNumber_SEVERITY_NUMBER_INFO
		case strings.HasPrefix(last, "payment failed "):
			fmt.Sscanf(last, "payment failed %d", &i)
			want = logspb.SeverityNumber_SEVERITY_NUMBER_ERROR
		default:
			continue
		}
		found++
		if l.Record.GetSeverityNumber() != want {
			t.Errorf("%q severity %v; want %v", body, l.Record.GetSeverityNumber(), want)
		}
		attrs := otlpsink.Attrs(l.Record.GetAttributes())
		if attrs["faas.invocation_id"] != results[i].RequestID {
			t.Errorf("%q faas.invocation_id %v; want %s", body, attrs["faas.invocation_id"], results[i].RequestID)
		}
		if sp := invSpans[results[i].RequestID]; sp != nil && string(l.Record.GetTraceId()) != string(sp.GetTraceId()) {
			t.Errorf("%q is not in its invocation's trace", body)
		}
		if l.ResourceAttrs["faas.name"] != "orders" || l.ResourceAttrs["cloud.region"] != "eu-west-1" {
			t.Errorf("log resource %v", l.ResourceAttrs)
		}
	}
	if found != 4 {
		t.Errorf("found %d of the 4 function log lines", found)
	}
}

func TestTelemetryE2EJSONLogFormat(t *testing.T) {
	t.Parallel()
	sb := mustStart(t, sandboxOpts{sim: lambdasim.Config{LogFormat: "json"}})
	res := sb.invoke(func(inv *lambdasim.Invocation) error {
		inv.Log("WARN", "careful")
		inv.Print(`{"level":"ERROR","message":"order failed","orderId":"o-17"}`)
		return nil
	})
	sb.shutdown("spindown")
	got := map[string]*logspb.LogRecord{}
	for _, l := range sb.sink.LogRecords() {
		got[l.Record.GetBody().GetStringValue()] = l.Record
	}
	if r := got["careful"]; r == nil || r.GetSeverityNumber() != logspb.SeverityNumber_SEVERITY_NUMBER_WARN ||
		otlpsink.Attrs(r.GetAttributes())["faas.invocation_id"] != res.RequestID {
		t.Errorf("careful: %v", r)
	}
	r := got["order failed"]
	if r == nil || r.GetSeverityNumber() != logspb.SeverityNumber_SEVERITY_NUMBER_ERROR || otlpsink.Attrs(r.GetAttributes())["orderId"] != "o-17" {
		t.Errorf("order failed: %v", r)
	}
}

// Failures made visible: an error, then a timeout that resets the sandbox.
func TestTelemetryE2EFailures(t *testing.T) {
	t.Parallel()
	sb := mustStart(t, sandboxOpts{sim: lambdasim.Config{FunctionTimeout: 500 * time.Millisecond}})
	errRes := sb.invoke(func(inv *lambdasim.Invocation) error {
		return &lambdasim.HandlerError{Type: "OrderError", Message: "no stock"}
	})
	sb.sim.InjectLogsDropped(2048, 12, "Consumer seems to have fallen behind")
	toRes := sb.invoke(func(inv *lambdasim.Invocation) error {
		inv.Sleep(5 * time.Second) // past the timeout
		return nil
	})
	if errRes.Status != "error" || toRes.Status != "timeout" || toRes.Reset == nil {
		t.Fatalf("statuses %s, %s (reset %v)", errRes.Status, toRes.Status, toRes.Reset)
	}
	for _, e := range toRes.Reset.Extensions {
		if e.Name == extensionName && (e.ExitCode != 0 || !e.BeforeDeadline) {
			t.Errorf("after the timeout's SHUTDOWN: %+v\n%s", e, sb.stderr.String())
		}
	}
	ms := sb.sink.Metrics()
	if n, _ := sumOf(ms, "faas.errors"); n != 1 {
		t.Errorf("faas.errors = %v; want 1", n)
	}
	if n, _ := sumOf(ms, "faas.timeouts"); n != 1 {
		t.Errorf("faas.timeouts = %v; want 1", n)
	}
	statusOf := func(id string) *tracepb.Status {
		for _, sp := range sb.sink.Spans() {
			if otlpsink.Attrs(sp.Span.GetAttributes())["faas.invocation_id"] == id && sp.Span.GetKind() == tracepb.Span_SPAN_KIND_SERVER {
				return sp.Span.GetStatus()
			}
		}
		return nil
	}
	for _, id := range []string{errRes.RequestID, toRes.RequestID} {
		if st := statusOf(id); st.GetCode() != tracepb.Status_STATUS_CODE_ERROR {
			t.Errorf("invocation %s span status %v; want ERROR", id, st)
		}
	}
	var errorLogs, dropWarn int
	for _, l := range sb.sink.LogRecords() {
		attrs := otlpsink.Attrs(l.Record.GetAttributes())
		if l.Record.GetSeverityNumber() >= logspb.SeverityNumber_SEVERITY_NUMBER_ERROR &&
			(attrs["faas.invocation_id"] == errRes.RequestID || attrs["faas.invocation_id"] == toRes.RequestID || strings.Contains(l.Record.GetBody().GetStringValue(), "SHUTDOWN")) {
			errorLogs++
		}
		if attrs["aws.lambda.dropped_records"] == int64(12) && l.Record.GetSeverityNumber() == logspb.SeverityNumber_SEVERITY_NUMBER_WARN {
			dropWarn++
		}
	}
	if errorLogs < 2 {
		t.Errorf("%d error log records for the failed invocations; want at least 2", errorLogs)
	}
	if dropWarn != 1 {
		t.Errorf("%d WARN records for logsDropped; want 1", dropWarn)
	}
	if _, err := sb.sim.Invoke(t.Context(), func(*lambdasim.Invocation) error { return nil }); !errors.Is(err, lambdasim.ErrSandboxGone) {
		t.Errorf("invoke after the reset: %v; want ErrSandboxGone", err)
	}
}

// An unknown event type becomes a generic log record, never dropped.
func TestTelemetryE2EUnknownEvent(t *testing.T) {
	t.Parallel()
	sb := mustStart(t, sandboxOpts{})
	sb.sim.InjectEvent("platform.futureThing", map[string]any{"answer": 42})
	sb.invoke(func(inv *lambdasim.Invocation) error { return nil })
	sb.shutdown("spindown")
	for _, l := range sb.sink.LogRecords() {
		if otlpsink.Attrs(l.Record.GetAttributes())["aws.lambda.telemetry.type"] == "platform.futureThing" {
			if !strings.Contains(l.Record.GetBody().GetStringValue(), "42") {
				t.Errorf("unknown event body %v lacks the record", l.Record.GetBody())
			}
			return
		}
	}
	t.Errorf("the unknown event did not reach the backend")
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func sinkSpanNames(spans []otlpsink.Span) []string {
	var out []string
	for _, s := range spans {
		out = append(out, s.Span.GetName())
	}
	return out
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
