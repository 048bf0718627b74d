// grpc_invalid_test.go: a real grpc-go client sends malformed OTLP messages
// to the extension's gRPC receiver and must get InvalidArgument, and the
// same ClientConn must then export successfully: one bad call does not
// cost the SDK its connection.
package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials/insecure"
	_ "google.golang.org/grpc/encoding/gzip" // the client can compress
	"google.golang.org/grpc/status"

	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	colmetricspb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
)

// rawCodec sends []byte as the gRPC message, unchanged. Its name is
// "proto" so the content type stays application/grpc+proto, as an SDK's.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) {
	b, ok := v.([]byte)
	if !ok {
		return nil, fmt.Errorf("rawCodec: marshal %T: want []byte", v)
	}
	return b, nil
}

func (rawCodec) Unmarshal(data []byte, v any) error {
	p, ok := v.(*[]byte)
	if !ok {
		return fmt.Errorf("rawCodec: unmarshal into %T: want *[]byte", v)
	}
	*p = append((*p)[:0], data...)
	return nil
}

func (rawCodec) Name() string { return "proto" }

const (
	traceExport   = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
	metricsExport = "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export"
	logsExport    = "/opentelemetry.proto.collector.logs.v1.LogsService/Export"
)

func strKV(k, v string) *commonpb.KeyValue {
	return &commonpb.KeyValue{Key: k, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: v}}}
}

func TestGRPCMalformedThenValid(t *testing.T) {
	rec := &recorder{}
	sb := sandboxFor(t, "http/protobuf", false, startHTTPBackend(t, rec).url)
	const cell = "grpc-invalid"

	tests := []struct {
		name, method string
		payload      []byte
		gzip         bool // send the message gzip-compressed
	}{
		{"truncated length", traceExport, []byte{0x0a, 0xff}, false},
		{"not protobuf", traceExport, []byte("this is not a protobuf message"), false},
		{"wrong wire type for resource_spans", traceExport, []byte{0x08, 0x01}, false},
		// ResourceSpans{ScopeSpans{Span{name: "\xff"}}}: invalid UTF-8.
		{"invalid UTF-8 span name", traceExport, []byte{0x0a, 0x07, 0x12, 0x05, 0x12, 0x03, 0x2a, 0x01, 0xff}, false},
		// ResourceSpans{ScopeSpans{Span{trace_id: 3 bytes}}}: ids are 16 bytes.
		{"short trace id", traceExport, []byte{0x0a, 0x09, 0x12, 0x07, 0x12, 0x05, 0x0a, 0x03, 1, 2, 3}, false},
		{"gzip-compressed short trace id", traceExport, []byte{0x0a, 0x09, 0x12, 0x07, 0x12, 0x05, 0x0a, 0x03, 1, 2, 3}, true},
		{"metrics truncated", metricsExport, []byte{0x0a, 0x05, 0x12}, false},
		{"logs truncated", logsExport, []byte{0x0a, 0x80}, false},
	}
	valid := &coltracepb.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{{
		Resource: &resourcepb.Resource{Attributes: []*commonpb.KeyValue{strKV("service.name", "grpc-raw"), strKV(cellKey, cell)}},
		ScopeSpans: []*tracepb.ScopeSpans{{
			Scope: &commonpb.InstrumentationScope{Name: "raw"},
			Spans: []*tracepb.Span{{
				TraceId: []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}, SpanId: []byte{1, 2, 3, 4, 5, 6, 7, 8},
				Name: "after the bad calls", Kind: tracepb.Span_SPAN_KIND_SERVER,
				StartTimeUnixNano: uint64(time.Now().UnixNano()), EndTimeUnixNano: uint64(time.Now().UnixNano()) + 1000,
			}},
		}},
	}}}

	sb.invoke(t, func(sandboxEvent) {
		// 8 s: inside the 10 s function timeout.
		ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
		defer cancel()
		conn, err := grpc.NewClient(fmt.Sprintf("127.0.0.1:%d", sb.grpcPort), grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatalf("grpc client: %v", err)
		}
		defer conn.Close()
		for _, tc := range tests {
			var out []byte
			opts := []grpc.CallOption{grpc.ForceCodec(rawCodec{})}
			if tc.gzip {
				opts = append(opts, grpc.UseCompressor("gzip"))
			}
			err := conn.Invoke(ctx, tc.method, tc.payload, &out, opts...)
			if got := status.Code(err); got != codes.InvalidArgument {
				t.Errorf("%s: got %v (%v); want InvalidArgument", tc.name, got, err)
			} else {
				t.Logf("%s: %v", tc.name, err)
			}
		}
		if st := conn.GetState(); st != connectivity.Ready {
			t.Errorf("ClientConn state after the bad calls: got %v; want READY", st)
		}
		if _, err := coltracepb.NewTraceServiceClient(conn).Export(ctx, valid); err != nil {
			t.Errorf("valid trace Export on the same ClientConn: %v", err)
		}
		// The other two services answer on the same connection as well.
		if _, err := colmetricspb.NewMetricsServiceClient(conn).Export(ctx, &colmetricspb.ExportMetricsServiceRequest{
			ResourceMetrics: []*metricspb.ResourceMetrics{}}); err != nil {
			t.Errorf("empty metrics Export on the same ClientConn: %v", err)
		}
		if _, err := collogspb.NewLogsServiceClient(conn).Export(ctx, &collogspb.ExportLogsServiceRequest{
			ResourceLogs: []*logspb.ResourceLogs{}}); err != nil {
			t.Errorf("empty logs Export on the same ClientConn: %v", err)
		}
	})
	reqs, errs := rec.take()
	for _, e := range errs {
		t.Errorf("backend: %s", e)
	}
	want, _ := flatten([]received{{traces: &tracepb.TracesData{ResourceSpans: valid.ResourceSpans}}}, "traces", cell)
	got, others := flatten(reqs, "traces", cell)
	if others != 0 {
		t.Errorf("%d spans of other origin arrived", others)
	}
	matched, probs := compareItems(got, want)
	for _, p := range probs {
		t.Error(p)
	}
	if matched != 1 {
		t.Errorf("backend got %d matching spans; want 1 (the valid one only)", matched)
	}
	for _, r := range reqs {
		if r.metrics != nil || r.logs != nil {
			if n := len(r.metrics.GetResourceMetrics()) + len(r.logs.GetResourceLogs()); n != 0 {
				t.Errorf("backend got %d metric/log resources; want none", n)
			}
		}
	}
	sb.shutdown(t)
}
