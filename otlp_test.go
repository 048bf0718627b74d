package main

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"

	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

func TestCloseLenLong(t *testing.T) {
	for _, n := range []int{0, 1, 127, 128, 300, 20000, 3 << 20} {
		val := string(bytes.Repeat([]byte("x"), n))
		b := appendKVString([]byte{0xAA}, 1, "k", val)
		if b[0] != 0xAA {
			t.Fatalf("n=%d: prefix clobbered", n)
		}
		// b[1:] is tag(1, LEN) + len + KeyValue.
		var holder commonpb.KeyValueList
		if err := proto.Unmarshal(b[1:], &holder); err != nil {
			t.Fatalf("n=%d: %v", n, err)
		}
		if len(holder.Values) != 1 || holder.Values[0].Key != "k" || holder.Values[0].Value.GetStringValue() != val {
			t.Fatalf("n=%d: decoded %v", n, holder.Values[0].GetKey())
		}
	}
}

func TestAppendKVKinds(t *testing.T) {
	var b []byte
	b = appendKVInt(b, 1, "i", -5)
	b = appendKVBool(b, 1, "b", true)
	b = appendKVDouble(b, 1, "d", 1.5)
	b = appendKVStrings(b, 1, "a", []string{"x", "y"})
	b = appendKVString(b, 1, "e", "")
	var l commonpb.KeyValueList
	if err := proto.Unmarshal(b, &l); err != nil {
		t.Fatal(err)
	}
	v := l.Values
	if v[0].Value.GetIntValue() != -5 || !v[1].Value.GetBoolValue() || v[2].Value.GetDoubleValue() != 1.5 ||
		len(v[3].Value.GetArrayValue().GetValues()) != 2 || v[3].Value.GetArrayValue().Values[1].GetStringValue() != "y" {
		t.Fatalf("decoded %v", v)
	}
	if _, ok := v[4].Value.Value.(*commonpb.AnyValue_StringValue); !ok {
		t.Fatalf("empty string lost its type: %v", v[4])
	}
}

// Realistic requests of the three signals, built with the generated OTLP
// types: the oracle side of the tests, the fuzz seeds and the benchmarks.

func anyStr(s string) *commonpb.AnyValue {
	return &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: s}}
}

func kv(k string, v *commonpb.AnyValue) *commonpb.KeyValue {
	return &commonpb.KeyValue{Key: k, Value: v}
}

// everyKindAttrs has an attribute of every AnyValue kind, nested ones too.
func everyKindAttrs() []*commonpb.KeyValue {
	return []*commonpb.KeyValue{
		kv("http.route", anyStr("/orders/{id}")),
		kv("empty", anyStr("")),
		kv("unicode", anyStr("héllo, 世界 \"quoted\"\n\t\\")),
		kv("ok", &commonpb.AnyValue{Value: &commonpb.AnyValue_BoolValue{BoolValue: true}}),
		kv("false", &commonpb.AnyValue{Value: &commonpb.AnyValue_BoolValue{}}),
		kv("http.status_code", &commonpb.AnyValue{Value: &commonpb.AnyValue_IntValue{IntValue: 200}}),
		kv("neg", &commonpb.AnyValue{Value: &commonpb.AnyValue_IntValue{IntValue: -9007199254740993}}),
		kv("ratio", &commonpb.AnyValue{Value: &commonpb.AnyValue_DoubleValue{DoubleValue: 0.25}}),
		kv("nan", &commonpb.AnyValue{Value: &commonpb.AnyValue_DoubleValue{DoubleValue: math.NaN()}}),
		kv("inf", &commonpb.AnyValue{Value: &commonpb.AnyValue_DoubleValue{DoubleValue: math.Inf(-1)}}),
		kv("blob", &commonpb.AnyValue{Value: &commonpb.AnyValue_BytesValue{BytesValue: []byte{0, 1, 2, 0xfe, 0xff}}}),
		kv("list", &commonpb.AnyValue{Value: &commonpb.AnyValue_ArrayValue{ArrayValue: &commonpb.ArrayValue{Values: []*commonpb.AnyValue{
			anyStr("a"), {Value: &commonpb.AnyValue_IntValue{IntValue: 7}}, {},
			{Value: &commonpb.AnyValue_ArrayValue{ArrayValue: &commonpb.ArrayValue{}}},
		}}}}),
		kv("map", &commonpb.AnyValue{Value: &commonpb.AnyValue_KvlistValue{KvlistValue: &commonpb.KeyValueList{Values: []*commonpb.KeyValue{
			kv("inner", anyStr("v")), kv("deep", &commonpb.AnyValue{Value: &commonpb.AnyValue_KvlistValue{KvlistValue: &commonpb.KeyValueList{
				Values: []*commonpb.KeyValue{kv("x", &commonpb.AnyValue{Value: &commonpb.AnyValue_DoubleValue{DoubleValue: -1e300}})}}}}),
			{Key: "novalue"},
		}}}}),
	}
}

func testResource(svc string) *resourcepb.Resource {
	return &resourcepb.Resource{
		Attributes: []*commonpb.KeyValue{
			kv("service.name", anyStr(svc)),
			kv("telemetry.sdk.language", anyStr("go")),
		},
		DroppedAttributesCount: 1,
		EntityRefs: []*commonpb.EntityRef{{SchemaUrl: "https://opentelemetry.io/schemas/1.26.0", Type: "service",
			IdKeys: []string{"service.name"}, DescriptionKeys: []string{"telemetry.sdk.language", "x"}}},
	}
}

func testScope() *commonpb.InstrumentationScope {
	return &commonpb.InstrumentationScope{Name: "github.com/acme/handler", Version: "1.2.3",
		Attributes: []*commonpb.KeyValue{kv("scope.attr", anyStr("s"))}, DroppedAttributesCount: 2}
}

func id(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = seed + byte(i*17)
	}
	return b
}

// sampleTraces returns a traces request with n spans (n ≥ 1) in two
// ResourceSpans; the second has no resource.
func sampleTraces(n int) *tracepb.TracesData {
	var spans []*tracepb.Span
	for i := 0; i < n; i++ {
		s := &tracepb.Span{
			TraceId:           id(16, byte(i)),
			SpanId:            id(8, byte(i+1)),
			Name:              "GET /orders/{id}",
			Kind:              tracepb.Span_SpanKind(i % 6),
			StartTimeUnixNano: 1700000000000000000 + uint64(i)*1000,
			EndTimeUnixNano:   1700000000000500000 + uint64(i)*1000,
			Attributes: []*commonpb.KeyValue{
				kv("http.request.method", anyStr("GET")),
				kv("http.response.status_code", &commonpb.AnyValue{Value: &commonpb.AnyValue_IntValue{IntValue: 200}}),
				kv("url.path", anyStr("/orders/12345")),
				kv("faas.coldstart", &commonpb.AnyValue{Value: &commonpb.AnyValue_BoolValue{BoolValue: i == 0}}),
			},
			Flags: 0x301,
		}
		if i > 0 {
			s.ParentSpanId = id(8, byte(i))
		}
		if i%4 == 0 {
			s.TraceState = "rojo=00f067aa0ba902b7"
			s.Attributes = append(s.Attributes, everyKindAttrs()...)
			s.DroppedAttributesCount = 3
			s.Events = []*tracepb.Span_Event{
				{TimeUnixNano: 1700000000000100000, Name: "exception", Attributes: []*commonpb.KeyValue{
					kv("exception.type", anyStr("*errors.errorString")), kv("exception.message", anyStr("boom"))}, DroppedAttributesCount: 1},
				{Name: "empty"},
			}
			s.DroppedEventsCount = 4
			s.Links = []*tracepb.Span_Link{{TraceId: id(16, 9), SpanId: id(8, 9), TraceState: "a=b",
				Attributes: []*commonpb.KeyValue{kv("link.kind", anyStr("follows"))}, DroppedAttributesCount: 5, Flags: 0x101}, {}}
			s.DroppedLinksCount = 6
			s.Status = &tracepb.Status{Code: tracepb.Status_STATUS_CODE_ERROR, Message: "boom"}
		}
		spans = append(spans, s)
	}
	half := (n + 1) / 2
	return &tracepb.TracesData{ResourceSpans: []*tracepb.ResourceSpans{
		{Resource: testResource("orders"), SchemaUrl: "https://opentelemetry.io/schemas/1.26.0",
			ScopeSpans: []*tracepb.ScopeSpans{{Scope: testScope(), Spans: spans[:half], SchemaUrl: "https://s"}}},
		{ScopeSpans: []*tracepb.ScopeSpans{{Spans: spans[half:]}, {}}},
	}}
}

func f64(v float64) *float64 { return &v }

// sampleMetrics returns a metrics request with every kind of metric; it
// holds sampleMetricsPoints data points.
func sampleMetrics() *metricspb.MetricsData {
	attrs := []*commonpb.KeyValue{kv("faas.name", anyStr("orders")), kv("cold", &commonpb.AnyValue{Value: &commonpb.AnyValue_BoolValue{BoolValue: true}})}
	ex := []*metricspb.Exemplar{
		{TimeUnixNano: 1700000000000000001, Value: &metricspb.Exemplar_AsDouble{AsDouble: 12.5}, TraceId: id(16, 3), SpanId: id(8, 4),
			FilteredAttributes: []*commonpb.KeyValue{kv("user", anyStr("u1"))}},
		{Value: &metricspb.Exemplar_AsInt{AsInt: -3}},
	}
	return &metricspb.MetricsData{ResourceMetrics: []*metricspb.ResourceMetrics{{
		Resource:  testResource("orders"),
		SchemaUrl: "https://opentelemetry.io/schemas/1.26.0",
		ScopeMetrics: []*metricspb.ScopeMetrics{{Scope: testScope(), SchemaUrl: "https://s", Metrics: []*metricspb.Metric{
			{Name: "faas.mem_usage", Description: "memory", Unit: "By", Data: &metricspb.Metric_Gauge{Gauge: &metricspb.Gauge{DataPoints: []*metricspb.NumberDataPoint{
				{Attributes: attrs, StartTimeUnixNano: 1, TimeUnixNano: 1700000000000000000, Value: &metricspb.NumberDataPoint_AsInt{AsInt: 134217728}, Exemplars: ex, Flags: 1},
				{TimeUnixNano: 1700000000000000000, Value: &metricspb.NumberDataPoint_AsDouble{AsDouble: math.Inf(1)}},
				{Value: &metricspb.NumberDataPoint_AsDouble{}},
			}}},
				Metadata: []*commonpb.KeyValue{kv("prometheus.type", anyStr("gauge"))}},
			{Name: "faas.invocations", Unit: "{invocation}", Data: &metricspb.Metric_Sum{Sum: &metricspb.Sum{
				AggregationTemporality: metricspb.AggregationTemporality_AGGREGATION_TEMPORALITY_DELTA, IsMonotonic: true,
				DataPoints: []*metricspb.NumberDataPoint{{Attributes: attrs, TimeUnixNano: 2, Value: &metricspb.NumberDataPoint_AsInt{AsInt: -42}}}}}},
			{Name: "faas.invoke_duration", Unit: "s", Data: &metricspb.Metric_Histogram{Histogram: &metricspb.Histogram{
				AggregationTemporality: metricspb.AggregationTemporality_AGGREGATION_TEMPORALITY_CUMULATIVE,
				DataPoints: []*metricspb.HistogramDataPoint{
					{Attributes: attrs, StartTimeUnixNano: 1, TimeUnixNano: 2, Count: 6, Sum: f64(10.5), BucketCounts: []uint64{1, 2, 0, 3},
						ExplicitBounds: []float64{0.005, 0.1, 2.5}, Exemplars: ex, Flags: 0, Min: f64(0.001), Max: f64(0)},
					{Count: 0, Sum: f64(0)},
				}}}},
			{Name: "latency.exp", Data: &metricspb.Metric_ExponentialHistogram{ExponentialHistogram: &metricspb.ExponentialHistogram{
				AggregationTemporality: metricspb.AggregationTemporality_AGGREGATION_TEMPORALITY_DELTA,
				DataPoints: []*metricspb.ExponentialHistogramDataPoint{
					{Attributes: attrs, StartTimeUnixNano: 1, TimeUnixNano: 2, Count: 9, Sum: f64(-3.25), Scale: -3, ZeroCount: 1,
						Positive: &metricspb.ExponentialHistogramDataPoint_Buckets{Offset: -2, BucketCounts: []uint64{1, 0, 300, 1 << 40}},
						Negative: &metricspb.ExponentialHistogramDataPoint_Buckets{Offset: 5, BucketCounts: []uint64{2}},
						Flags:    1, Exemplars: ex, Min: f64(-7), Max: f64(1e-9), ZeroThreshold: 1e-12},
					{Scale: 20, Positive: &metricspb.ExponentialHistogramDataPoint_Buckets{}},
				}}}},
			{Name: "summary", Data: &metricspb.Metric_Summary{Summary: &metricspb.Summary{DataPoints: []*metricspb.SummaryDataPoint{
				{Attributes: attrs, StartTimeUnixNano: 1, TimeUnixNano: 2, Count: 3, Sum: 7.5, Flags: 1,
					QuantileValues: []*metricspb.SummaryDataPoint_ValueAtQuantile{{Quantile: 0, Value: 1}, {Quantile: 0.99, Value: 4.5}, {}}},
			}}}},
			{Name: "nodata"},
		}}}}}}
}

const sampleMetricsPoints = 3 + 1 + 2 + 2 + 1

// sampleLogs returns a logs request with a log record per AnyValue kind of
// body (every kind, plus no body).
func sampleLogs() *logspb.LogsData {
	var recs []*logspb.LogRecord
	bodies := []*commonpb.AnyValue{nil}
	for _, a := range everyKindAttrs() {
		bodies = append(bodies, a.Value)
	}
	for i, b := range bodies {
		recs = append(recs, &logspb.LogRecord{
			TimeUnixNano:           uint64(1700000000000000000 + i),
			ObservedTimeUnixNano:   uint64(1700000000000000100 + i),
			SeverityNumber:         logspb.SeverityNumber(i % 25),
			SeverityText:           "INFO",
			Body:                   b,
			Attributes:             []*commonpb.KeyValue{kv("log.file.name", anyStr("handler.go")), kv("i", &commonpb.AnyValue{Value: &commonpb.AnyValue_IntValue{IntValue: int64(i)}})},
			DroppedAttributesCount: uint32(i),
			Flags:                  uint32(i % 2),
			TraceId:                id(16, byte(i)),
			SpanId:                 id(8, byte(i)),
			EventName:              "app.event",
		})
	}
	recs = append(recs, &logspb.LogRecord{})
	return &logspb.LogsData{ResourceLogs: []*logspb.ResourceLogs{
		{Resource: testResource("orders"), SchemaUrl: "https://opentelemetry.io/schemas/1.26.0",
			ScopeLogs: []*logspb.ScopeLogs{{Scope: testScope(), LogRecords: recs, SchemaUrl: "https://s"}}},
		{Resource: &resourcepb.Resource{}, ScopeLogs: []*logspb.ScopeLogs{{LogRecords: recs[:2]}}},
	}}
}

func mustMarshal(t testing.TB, m proto.Message) []byte {
	t.Helper()
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// newMsg returns an empty message of the request type of sig (the *Data
// messages are wire-identical to the Export*ServiceRequests).
func newMsg(sig signal) proto.Message {
	switch sig {
	case sigTraces:
		return &tracepb.TracesData{}
	case sigMetrics:
		return &metricspb.MetricsData{}
	}
	return &logspb.LogsData{}
}

// samples returns the sample request of each signal, with its item count.
func samples(t testing.TB) []struct {
	sig   signal
	msg   proto.Message
	items int
} {
	return []struct {
		sig   signal
		msg   proto.Message
		items int
	}{
		{sigTraces, sampleTraces(9), 9},
		{sigMetrics, sampleMetrics(), sampleMetricsPoints},
		{sigLogs, sampleLogs(), len(everyKindAttrs()) + 2 + 2},
	}
}

func TestValidateSamples(t *testing.T) {
	for _, s := range samples(t) {
		b := mustMarshal(t, s.msg)
		n, err := validateRequest(s.sig, b)
		if err != nil || n != s.items {
			t.Errorf("%v: validateRequest = %d, %v; want %d, nil", s.sig, n, err, s.items)
		}
		// Concatenation is one valid request holding both (DESIGN.md 1).
		n, err = validateRequest(s.sig, append(b[:len(b):len(b)], b...))
		if err != nil || n != 2*s.items {
			t.Errorf("%v: validateRequest(b+b) = %d, %v; want %d, nil", s.sig, n, err, 2*s.items)
		}
	}
	if n, err := validateRequest(sigTraces, nil); n != 0 || err != nil {
		t.Errorf("validateRequest(empty) = %d, %v; want 0, nil", n, err)
	}
	if _, err := validateRequest(numSignals, nil); !errors.Is(err, errBadData) {
		t.Errorf("validateRequest(bad signal) = %v; want errBadData", err)
	}
}

func TestValidateAllocs(t *testing.T) {
	for _, s := range samples(t) {
		b := mustMarshal(t, s.msg)
		if a := testing.AllocsPerRun(20, func() { validateRequest(s.sig, b) }); a != 0 {
			t.Errorf("%v: %v allocs per validateRequest; want 0", s.sig, a)
		}
	}
}

// wire helpers for hand-built requests.
func rec(num protowire.Number, content ...[]byte) []byte {
	b := protowire.AppendTag(nil, num, protowire.BytesType)
	return protowire.AppendBytes(b, bytes.Join(content, nil))
}

func TestValidateErrors(t *testing.T) {
	span := func(fields ...[]byte) []byte { return rec(1, rec(2, rec(2, fields...))) }
	attr := func(v []byte) []byte { return span(rec(9, rec(1, []byte("k")), rec(2, v))) }
	nest := func(levels int) []byte {
		v := rec(1, []byte("leaf")) // AnyValue{string_value}
		for i := 1; i < levels; i++ {
			v = rec(5, rec(1, v)) // AnyValue{array_value{values: [v]}}
		}
		return attr(v)
	}
	fixed64 := func(num protowire.Number) []byte {
		return protowire.AppendFixed64(protowire.AppendTag(nil, num, protowire.Fixed64Type), 1)
	}
	tests := []struct {
		name string
		sig  signal
		b    []byte
		code walkCode
		want string
	}{
		{"truncated tag", sigTraces, []byte{0x80}, codeMalformed, "bad data: malformed protobuf at byte 0: unexpected EOF"},
		{"truncated length", sigTraces, []byte{0x0a, 5, 1}, codeMalformed, "bad data: resource_spans[0]: malformed protobuf at byte 0: unexpected EOF"},
		{"field number too big", sigTraces, []byte("\x99\x99\x95\xd6000000000"), codeFieldNum, "bad data: malformed protobuf at byte 0: field number 1633200531 out of range"},
		{"field zero", sigTraces, []byte{0x02, 0}, codeMalformed, "bad data: malformed protobuf at byte 0: invalid field number"},
		{"end group", sigTraces, []byte{0x9c, 0x01}, codeMalformed, "bad data: field 19: malformed protobuf at byte 0: mismatching end group marker"},
		{"end group for known field", sigTraces, []byte{0x0c}, codeWireType, "bad data: resource_spans[0]: wire type end group, want len"},
		{"unknown group unterminated", sigTraces, rec(1, []byte{0x9b, 0x01, 0x08, 1}), codeMalformed, "bad data: resource_spans[0].field 19: malformed protobuf at byte 2: unexpected EOF"},
		{"group for known field", sigTraces, []byte{0x0b, 0x0c}, codeWireType, "bad data: resource_spans[0]: wire type start group, want len"},
		{"varint for message", sigTraces, []byte{0x08, 1}, codeWireType, "bad data: resource_spans[0]: wire type varint, want len"},
		{"trace id 15", sigTraces, append(span(rec(5, []byte("ok"))), span(rec(1, id(15, 0)))...), codeIDLen,
			"bad data: resource_spans[1].scope_spans[0].spans[0].trace_id: length 15, want 16"},
		{"span id 9", sigTraces, span(rec(1, id(16, 1)), rec(2, id(9, 0))), codeIDLen, "bad data: resource_spans[0].scope_spans[0].spans[0].span_id: length 9, want 8"},
		{"parent span id", sigTraces, span(rec(4, id(16, 1))), codeIDLen, "bad data: resource_spans[0].scope_spans[0].spans[0].parent_span_id: length 16, want 8"},
		{"link trace id", sigTraces, span(rec(13, rec(1, id(3, 1)))), codeIDLen, "bad data: resource_spans[0].scope_spans[0].spans[0].links[0].trace_id: length 3, want 16"},
		{"bad utf8 name", sigTraces, span(rec(5, []byte{0xff})), codeUTF8, "bad data: resource_spans[0].scope_spans[0].spans[0].name: invalid UTF-8 in string"},
		{"bad utf8 attr value", sigTraces, attr(rec(1, []byte{'a', 0xc3})), codeUTF8,
			"bad data: resource_spans[0].scope_spans[0].spans[0].attributes[0].value.string_value: invalid UTF-8 in string"},
		{"bad utf8 kvlist key", sigTraces, attr(rec(6, rec(1, rec(1, []byte{0xed, 0xa0, 0x80})))), codeUTF8,
			"bad data: resource_spans[0].scope_spans[0].spans[0].attributes[0].value.kvlist_value.values[0].key: invalid UTF-8 in string"},
		{"bad utf8 resource key", sigLogs, rec(1, rec(1, rec(1, rec(1, []byte{0x80})))), codeUTF8,
			"bad data: resource_logs[0].resource.attributes[0].key: invalid UTF-8 in string"},
		{"bad utf8 severity text", sigLogs, rec(1, rec(2, rec(2, rec(3, []byte{0xfe})))), codeUTF8,
			"bad data: resource_logs[0].scope_logs[0].log_records[0].severity_text: invalid UTF-8 in string"},
		{"bad utf8 entity ref id key", sigLogs, rec(1, rec(1, rec(3, rec(3, []byte("a")), rec(3, []byte{0xff})))), codeUTF8,
			"bad data: resource_logs[0].resource.entity_refs[0].id_keys[1]: invalid UTF-8 in string"},
		{"log trace id", sigLogs, rec(1, rec(2, rec(2, rec(9, id(8, 0))))), codeIDLen,
			"bad data: resource_logs[0].scope_logs[0].log_records[0].trace_id: length 8, want 16"},
		{"exemplar span id", sigMetrics, rec(1, rec(2, rec(2, rec(5, rec(1, rec(5, rec(4, id(7, 0)))))))), codeIDLen,
			"bad data: resource_metrics[0].scope_metrics[0].metrics[0].gauge.data_points[0].exemplars[0].span_id: length 7, want 8"},
		{"packed bucket counts", sigMetrics, rec(1, rec(2, rec(2, rec(9, rec(1, rec(6, id(12, 0))))))), codePacked,
			"bad data: resource_metrics[0].scope_metrics[0].metrics[0].histogram.data_points[0].bucket_counts: packed length 12 is not a multiple of 8"},
		{"packed exp buckets", sigMetrics, rec(1, rec(2, rec(2, rec(10, rec(1, rec(8, rec(2, []byte{0x80}))))))), codeMalformed,
			"bad data: resource_metrics[0].scope_metrics[0].metrics[0].exponential_histogram.data_points[0].positive.bucket_counts: malformed protobuf at byte 14: unexpected EOF"},
		{"fixed64 for sum", sigMetrics, rec(1, rec(2, rec(2, rec(9, rec(1, fixed64(6), rec(5, []byte{1})))))), codeWireType,
			"bad data: resource_metrics[0].scope_metrics[0].metrics[0].histogram.data_points[0].sum: wire type len, want i64"},
		{"truncated unknown field", sigLogs, rec(1, []byte{0x9a, 0x01, 3}), codeMalformed, "bad data: resource_logs[0].field 19: malformed protobuf at byte 2: unexpected EOF"},
		{"deep nesting", sigTraces, nest(maxAnyDepth + 1), codeDepth,
			"bad data: resource_spans[0].scope_spans[0].spans[0].attributes[0].value" + strings.Repeat(".array_value.values[0]", maxAnyDepth) + ": AnyValue nested deeper than 32 levels"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := validateRequest(tt.sig, tt.b)
			var we *wireError
			if !errors.As(err, &we) || !errors.Is(err, errBadData) {
				t.Fatalf("got %v; want a *wireError wrapping errBadData", err)
			}
			if we.code != tt.code || err.Error() != tt.want {
				t.Errorf("got %d %q;\nwant %d %q", we.code, err, tt.code, tt.want)
			}
		})
	}
}

func TestValidateAccepts(t *testing.T) {
	unpacked := func() []byte { // bucket_counts as unpacked fixed64 records, and packed ones, mixed
		var dp []byte
		for i := 0; i < 3; i++ {
			dp = protowire.AppendTag(dp, 6, protowire.Fixed64Type)
			dp = protowire.AppendFixed64(dp, uint64(i))
		}
		dp = append(dp, rec(6, id(16, 0))...)
		return rec(1, rec(2, rec(2, rec(9, rec(1, dp)))))
	}
	tests := []struct {
		name  string
		sig   signal
		b     []byte
		items int
	}{
		{"unknown fields of every wire type", sigTraces, rec(1, []byte{0xa8, 0x01, 5, 0xb1, 0x01, 1, 2, 3, 4, 5, 6, 7, 8, 0xbb, 0x01, 0x08, 1, 0xbc, 0x01, 0xc5, 0x01, 1, 2, 3, 4}), 0},
		{"unpacked and packed buckets", sigMetrics, unpacked(), 1},
		{"nesting at the limit", sigTraces, func() []byte {
			v := rec(1, []byte("leaf"))
			for i := 1; i < maxAnyDepth; i++ {
				v = rec(5, rec(1, v))
			}
			return rec(1, rec(2, rec(2, rec(9, rec(2, v)))))
		}(), 1},
		{"empty ids", sigTraces, rec(1, rec(2, rec(2, rec(1), rec(2), rec(4)))), 1},
		{"strindex fields", sigTraces, rec(1, rec(2, rec(2, rec(9, []byte{0x18, 3}, rec(2, []byte{0x40, 1}))))), 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := validateRequest(tt.sig, tt.b)
			if err != nil || n != tt.items {
				t.Fatalf("got %d, %v; want %d, nil", n, err, tt.items)
			}
			if err := proto.Unmarshal(tt.b, newMsg(tt.sig)); err != nil {
				t.Fatalf("proto.Unmarshal: %v", err)
			}
		})
	}
}

func testAttrs() []encodedKV {
	mk := func(k, v string) encodedKV {
		b := appendKVString(nil, 1, k, v)
		kvb, _ := protowire.ConsumeBytes(b[1:])
		return encodedKV{key: k, kv: kvb}
	}
	return []encodedKV{mk("service.name", "ext-default"), mk("cloud.provider", "aws"), mk("faas.name", "orders"), mk("cloud.provider", "dup")}
}

// checkEnriched checks that out is in with the attributes added where
// missing and nothing else changed.
func checkEnriched(t testing.TB, sig signal, in, out []byte, attrs []encodedKV) {
	t.Helper()
	got, want := newMsg(sig), newMsg(sig)
	if err := proto.Unmarshal(out, got); err != nil {
		t.Fatalf("enriched output does not parse: %v", err)
	}
	if err := proto.Unmarshal(in, want); err != nil {
		t.Fatal(err)
	}
	// Expected: every resource gets the first attribute of each key it lacks.
	forEachResource(want, func(r **resourcepb.Resource) {
		if *r == nil {
			*r = &resourcepb.Resource{}
		}
		have := map[string]bool{}
		for _, a := range (*r).Attributes {
			have[a.Key] = true
		}
		for _, a := range attrs {
			if have[a.key] {
				continue
			}
			have[a.key] = true
			var k commonpb.KeyValue
			if err := proto.Unmarshal(a.kv, &k); err != nil {
				t.Fatal(err)
			}
			(*r).Attributes = append((*r).Attributes, &k)
		}
	})
	if !proto.Equal(got, want) {
		t.Fatalf("enriched:\n%v\nwant:\n%v", got, want)
	}
}

func forEachResource(m proto.Message, f func(**resourcepb.Resource)) {
	switch m := m.(type) {
	case *tracepb.TracesData:
		for _, r := range m.ResourceSpans {
			f(&r.Resource)
		}
	case *metricspb.MetricsData:
		for _, r := range m.ResourceMetrics {
			f(&r.Resource)
		}
	case *logspb.LogsData:
		for _, r := range m.ResourceLogs {
			f(&r.Resource)
		}
	}
}

func TestEnrich(t *testing.T) {
	attrs := testAttrs()
	e := newEnricher(attrs)
	if len(e.attrs) != 3 {
		t.Fatalf("newEnricher kept %d attributes; want 3 (duplicate key dropped)", len(e.attrs))
	}
	for _, s := range samples(t) {
		in := mustMarshal(t, s.msg)
		out := e.enrich([]byte("prefix"), s.sig, in)
		if !bytes.HasPrefix(out, []byte("prefix")) {
			t.Fatalf("%v: dst prefix lost", s.sig)
		}
		checkEnriched(t, s.sig, in, out[6:], attrs)
		if n, err := validateRequest(s.sig, out[6:]); err != nil || n != s.items {
			t.Errorf("%v: validate(enriched) = %d, %v; want %d, nil", s.sig, n, err, s.items)
		}
		// Enriching again adds nothing: the fast path copies the bytes.
		if again := e.enrich(nil, s.sig, out[6:]); !bytes.Equal(again, out[6:]) {
			t.Errorf("%v: second enrich changed the request", s.sig)
		}
	}
	// Two resource records in one ResourceSpans (proto merges them) become one.
	res1 := rec(1, rec(1, appendKVString(nil, 1, "service.name", "sdk")[2:]))
	res2 := rec(1, rec(1, appendKVString(nil, 1, "faas.name", "sdk-fn")[2:]))
	in := rec(1, res1, rec(3, []byte("schema")), res2, rec(2))
	out := e.enrich(nil, sigTraces, in)
	checkEnriched(t, sigTraces, in, out, attrs)
	var td tracepb.TracesData
	if err := proto.Unmarshal(out, &td); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, a := range td.ResourceSpans[0].Resource.Attributes {
		got[a.Key] = a.Value.GetStringValue()
	}
	want := map[string]string{"service.name": "sdk", "faas.name": "sdk-fn", "cloud.provider": "aws"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got %v; want %v", got, want)
	}
	// No attributes: a plain copy.
	if out := newEnricher(nil).enrich(nil, sigLogs, in); !bytes.Equal(out, in) {
		t.Errorf("enrich without attributes changed the request")
	}
}

func TestEnrichManyAttrs(t *testing.T) {
	var attrs []encodedKV
	for i := 0; i < 300; i++ {
		k := fmt.Sprintf("k%d", i)
		b := appendKVInt(nil, 1, k, int64(i))
		kvb, _ := protowire.ConsumeBytes(b[1:])
		attrs = append(attrs, encodedKV{key: k, kv: kvb})
	}
	in := mustMarshal(t, sampleLogs())
	checkEnriched(t, sigLogs, in, newEnricher(attrs).enrich(nil, sigLogs, in), attrs)
}

func TestEnrichAllocs(t *testing.T) {
	e := newEnricher(testAttrs())
	for _, s := range samples(t) {
		in := mustMarshal(t, s.msg)
		dst := make([]byte, 0, 2*len(in)+1024)
		if a := testing.AllocsPerRun(20, func() { e.enrich(dst[:0], s.sig, in) }); a != 0 {
			t.Errorf("%v: %v allocs per enrich; want 0", s.sig, a)
		}
	}
}

func BenchmarkValidate(b *testing.B) {
	in := mustMarshal(b, sampleTraces(512))
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := validateRequest(sigTraces, in); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEnrich(b *testing.B) {
	in := mustMarshal(b, sampleTraces(512))
	e := newEnricher(testAttrs())
	dst := make([]byte, 0, 2*len(in))
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		dst = e.enrich(dst[:0], sigTraces, in)
	}
}

// fastSchemaOf derives fastSchema from schema: what the fast walk must do
// with each field for walker's checks (walker.message and walker.value).
func fastSchemaOf(t testing.TB) (tab [numMsgs][fastNums]fastField) {
	for m := range schema {
		for _, f := range schema[m].fields {
			if f.num >= fastNums {
				t.Fatalf("%s.%s: field number %d ≥ fastNums", schema[m].name, f.name, f.num)
			}
			var e fastField
			switch {
			case f.kind == fkMessage && f.flags&fItem != 0:
				e = fastField{opItem, f.msg}
			case f.kind == fkMessage && f.msg == mKeyValue:
				e.op = opKeyValue
			case f.kind == fkMessage && f.msg == mAnyValue:
				e = fastField{op: opAny}
			case f.kind == fkMessage:
				e = fastField{opMessage, f.msg}
			case f.kind == fkString:
				e.op = opString
			case f.kind == fkBytes:
				e.op = opBytes
			case f.kind == fkTraceID:
				e.op = opTraceID
			case f.kind == fkSpanID:
				e.op = opSpanID
			case f.packed() && f.kind == fkUint64:
				e.op = opPackedVarint
			case f.packed() && (f.kind == fkFixed64 || f.kind == fkSfixed64 || f.kind == fkDouble):
				e.op = opPacked8
			case f.packed():
				t.Fatalf("%s.%s: no fast op for packed %d", schema[m].name, f.name, f.kind)
			case f.kind.wireType() == wireVarintType:
				e.op = opVarint
			case f.kind.wireType() == wireFixed32Type:
				e.op = opFixed32
			case f.kind.wireType() == wireFixed64Type:
				e.op = opFixed64
			default:
				t.Fatalf("%s.%s: no fast op for kind %d", schema[m].name, f.name, f.kind)
			}
			tab[m][f.num] = e
		}
	}
	return tab
}

var fastOpNames = [...]string{opUnknown: "opUnknown", opVarint: "opVarint", opFixed32: "opFixed32", opFixed64: "opFixed64",
	opPacked8: "opPacked8", opPackedVarint: "opPackedVarint", opString: "opString", opBytes: "opBytes",
	opTraceID: "opTraceID", opSpanID: "opSpanID", opMessage: "opMessage", opItem: "opItem", opAny: "opAny",
	opKeyValue: "opKeyValue"}

// fastSchemaSource is the Go source of fastSchema's entries for tab.
func fastSchemaSource(tab [numMsgs][fastNums]fastField) string {
	var msgNames = map[msgID]string{}
	for _, n := range strings.Fields(`mTracesRequest mMetricsRequest mLogsRequest mResource mScope mKeyValue mAnyValue
		mArrayValue mKVList mEntityRef mResourceSpans mScopeSpans mSpan mEvent mLink mStatus mResourceMetrics
		mScopeMetrics mMetric mGauge mSum mHistogram mExpHistogram mSummary mNumberDP mHistogramDP mExpHistogramDP
		mBuckets mSummaryDP mQuantile mExemplar mResourceLogs mScopeLogs mLogRecord`) {
		msgNames[msgID(len(msgNames))] = n
	}
	var sb strings.Builder
	for m := range tab {
		var entries []string
		for num, e := range tab[m] {
			if e.op == opUnknown {
				continue
			}
			s := fmt.Sprintf("%d: {op: %s", num, fastOpNames[e.op])
			if e.op == opMessage || e.op == opItem {
				s += ", msg: " + msgNames[e.msg]
			}
			entries = append(entries, s+"}")
		}
		// A block per message, entries wrapped as gofmt leaves them.
		fmt.Fprintf(&sb, "\t%s: { // %s\n", msgNames[msgID(m)], schema[m].name)
		var line []string
		for i, e := range entries {
			line = append(line, e)
			if i == len(entries)-1 || len(strings.Join(line, ", "))+len(entries[i+1]) > 96 {
				sb.WriteString("\t\t" + strings.Join(line, ", ") + ",\n")
				line = nil
			}
		}
		sb.WriteString("\t},\n")
	}
	return sb.String()
}

func TestFastSchema(t *testing.T) {
	if want := fastSchemaOf(t); fastSchema != want {
		t.Fatalf("fastSchema does not match schema; want:\n%s", fastSchemaSource(want))
	}
}

// TestWalkersAgree: walkFast and walker agree on the seed requests, on
// every one-byte change and truncation of the samples, on every edit of one
// record of them (eachRecordEdit), and on random structured mutations
// (FuzzWalkers explores further).
func TestWalkersAgree(t *testing.T) {
	seeds := walkerSeeds(t)
	for _, s := range seeds {
		checkWalkersAgree(t, s.sig, s.b)
	}
	for _, s := range seeds[:len(samples(t))] {
		b := append([]byte(nil), s.b...)
		for i := range b {
			checkWalkersAgree(t, s.sig, b[:i])
			orig := b[i]
			for _, v := range []byte{0, 1, 7, 8, 0x0a, 0x7f, 0x80, 0xff, orig ^ 1, orig ^ 2, orig ^ 4, orig ^ 0x80, orig + 1, orig - 1} {
				b[i] = v
				checkWalkersAgree(t, s.sig, b)
			}
			b[i] = orig
		}
	}
	for _, s := range seeds {
		eachRecordEdit(s.b, func(b []byte) []byte { return b }, func(b []byte) { checkWalkersAgree(t, s.sig, b) })
	}
	rng := rand.New(rand.NewPCG(1, 2))
	ops := make([]byte, 64)
	for range 5000 {
		s := seeds[rng.IntN(len(seeds))]
		for i := range ops {
			ops[i] = byte(rng.Uint32())
		}
		c := &choices{b: ops[:1+rng.IntN(len(ops))]}
		b := s.b
		for c.left() {
			b = mutate(b, c)
			checkWalkersAgree(t, s.sig, b)
		}
	}
}

// TestFastKeyValue: fastKeyValue accepts no KeyValue that walker rejects,
// at any AnyValue depth, whatever byte of the seeds is changed to whatever
// value, or where they are cut; and it
// takes the attributes the SDKs send, else it would only cost time.
func TestFastKeyValue(t *testing.T) {
	for _, b := range fastKeyValueSeeds() {
		b = append([]byte(nil), b...)
		for _, depth := range []int{0, maxAnyDepth - 1, maxAnyDepth} {
			checkFastKeyValue(t, depth, b)
			for i := range b {
				checkFastKeyValue(t, depth, b[:i])
				orig := b[i]
				for v := range 256 {
					b[i] = byte(v)
					checkFastKeyValue(t, depth, b)
				}
				b[i] = orig
			}
		}
	}
	for _, b := range [][]byte{appendKVString(nil, 1, "http.route", "/orders/{id}"), appendKVInt(nil, 1, "n", -1),
		appendKVBool(nil, 1, "b", false), appendKVDouble(nil, 1, "d", 0.5), appendKVString(nil, 1, "é", "世界")} {
		if w := (fastWalker{}); !w.fastKeyValue(b[2:]) {
			t.Errorf("fastKeyValue(%x) = false; want true", b[2:])
		}
	}
}

// TestIsUTF8: isUTF8 is utf8.Valid, for strings of every length up to 24
// with a non-ASCII byte (or a valid sequence) at every position.
func TestIsUTF8(t *testing.T) {
	for n := 0; n <= 24; n++ {
		for pos := 0; pos < n; pos++ {
			for _, seq := range [][]byte{{0x80}, {0xc3}, {0xff}, {0x7f}, {0xc3, 0xa9}, {0xe4, 0xb8, 0x96}, {0xed, 0xa0, 0x80}} {
				v := bytes.Repeat([]byte("a"), n)
				copy(v[pos:], seq)
				if got, want := isUTF8(v), utf8.Valid(v); got != want {
					t.Errorf("isUTF8(%x) = %v; want %v", v, got, want)
				}
			}
		}
	}
}
