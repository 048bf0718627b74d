package otlpsink

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// testTimeout bounds every network exchange of these tests.
const testTimeout = 10 * time.Second

func strKV(k, v string) *commonpb.KeyValue {
	return &commonpb.KeyValue{Key: k, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: v}}}
}

func testResource() *resourcepb.Resource {
	return &resourcepb.Resource{Attributes: []*commonpb.KeyValue{
		strKV("service.name", "checkout"),
		strKV("faas.name", "checkout-fn"),
		{Key: "faas.max_memory", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_IntValue{IntValue: 512 << 20}}},
	}}
}

var (
	testTraceID = []byte{0x5b, 0x8e, 0xff, 0xf7, 0x98, 0x03, 0x81, 0x03, 0xd2, 0x69, 0xb6, 0x33, 0x81, 0x3f, 0xc6, 0x0c}
	testSpanID  = []byte{0xee, 0xe1, 0x9b, 0x7e, 0xc3, 0xc1, 0xb1, 0x74}
)

func testTraces(n int) *tracepb.TracesData {
	ss := &tracepb.ScopeSpans{Scope: &commonpb.InstrumentationScope{Name: "test", Version: "1.0"}}
	for i := range n {
		ss.Spans = append(ss.Spans, &tracepb.Span{
			TraceId: testTraceID, SpanId: append([]byte{byte(i)}, testSpanID[1:]...), ParentSpanId: testSpanID,
			Name: fmt.Sprintf("GET /items/%d", i), Kind: tracepb.Span_SPAN_KIND_SERVER,
			StartTimeUnixNano: 1_700_000_000_000_000_000, EndTimeUnixNano: 1_700_000_000_150_000_000,
			Attributes: []*commonpb.KeyValue{strKV("http.request.method", "GET")},
			Status:     &tracepb.Status{Code: tracepb.Status_STATUS_CODE_OK},
		})
	}
	return &tracepb.TracesData{ResourceSpans: []*tracepb.ResourceSpans{{Resource: testResource(), ScopeSpans: []*tracepb.ScopeSpans{ss}}}}
}

func testMetrics() *metricspb.MetricsData {
	return &metricspb.MetricsData{ResourceMetrics: []*metricspb.ResourceMetrics{{
		Resource: testResource(),
		ScopeMetrics: []*metricspb.ScopeMetrics{{Metrics: []*metricspb.Metric{
			{Name: "faas.invocations", Unit: "1", Data: &metricspb.Metric_Sum{Sum: &metricspb.Sum{
				AggregationTemporality: metricspb.AggregationTemporality_AGGREGATION_TEMPORALITY_DELTA, IsMonotonic: true,
				DataPoints: []*metricspb.NumberDataPoint{
					{TimeUnixNano: 1_700_000_000_000_000_000, Value: &metricspb.NumberDataPoint_AsInt{AsInt: 3}},
					{TimeUnixNano: 1_700_000_001_000_000_000, Value: &metricspb.NumberDataPoint_AsInt{AsInt: 4}},
				},
			}}},
			{Name: "faas.mem_usage", Unit: "By", Data: &metricspb.Metric_Gauge{Gauge: &metricspb.Gauge{
				DataPoints: []*metricspb.NumberDataPoint{{TimeUnixNano: 1_700_000_000_000_000_000, Value: &metricspb.NumberDataPoint_AsDouble{AsDouble: 1.5e8}}},
			}}},
		}}},
	}}}
}

func testLogs() *logspb.LogsData {
	return &logspb.LogsData{ResourceLogs: []*logspb.ResourceLogs{{
		Resource: testResource(),
		ScopeLogs: []*logspb.ScopeLogs{{LogRecords: []*logspb.LogRecord{
			{TimeUnixNano: 1_700_000_000_000_000_000, SeverityNumber: logspb.SeverityNumber_SEVERITY_NUMBER_INFO, SeverityText: "INFO",
				Body: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: "order placed"}}, TraceId: testTraceID, SpanId: testSpanID},
		}}},
	}}}
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

// post sends one request and returns the response with its body read.
func post(t testing.TB, c *http.Client, url, contentType, encoding string, body []byte, header ...string) (*http.Response, []byte, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if encoding != "" {
		req.Header.Set("Content-Encoding", encoding)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, b, err
}

func mustPost(t testing.TB, c *http.Client, url, contentType, encoding string, body []byte, header ...string) (*http.Response, []byte) {
	t.Helper()
	resp, b, err := post(t, c, url, contentType, encoding, body, header...)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	return resp, b
}

func TestDecode(t *testing.T) {
	s := Start(t, Options{})
	msgs := map[Signal]proto.Message{Traces: testTraces(3), Metrics: testMetrics(), Logs: testLogs()}
	wantItems := map[Signal]int{Traces: 3, Metrics: 3, Logs: 1}
	for _, sig := range []Signal{Traces, Metrics, Logs} {
		for _, format := range []string{"protobuf", "json"} {
			for _, enc := range []string{"", "gzip"} {
				for _, prefix := range []string{"", "/api/org1"} {
					name := fmt.Sprintf("%s/%s/%s%s", sig, format, enc, prefix)
					t.Run(name, func(t *testing.T) {
						s.Clear()
						var body []byte
						var err error
						ct := "application/x-protobuf"
						if format == "json" {
							ct = "application/json"
							body, err = MarshalJSON(msgs[sig])
						} else {
							body, err = proto.Marshal(msgs[sig])
						}
						if err != nil {
							t.Fatal(err)
						}
						if enc == "gzip" {
							body = gz(t, body)
						}
						resp, rb := mustPost(t, s.Client(), s.URL()+prefix+"/v1/"+string(sig), ct, enc, body)
						if resp.StatusCode != 200 {
							t.Fatalf("status: got %d; want 200 (%s)", resp.StatusCode, rb)
						}
						if got := resp.Header.Get("Content-Type"); got != ct {
							t.Errorf("response Content-Type: got %q; want %q", got, ct)
						}
						if format == "json" && string(rb) != "{}" {
							t.Errorf("response body: got %q; want {}", rb)
						}
						if format == "protobuf" && len(rb) != 0 {
							t.Errorf("response body: got %x; want empty", rb)
						}
						reqs := s.Requests()
						if len(reqs) != 1 {
							t.Fatalf("requests: got %d; want 1", len(reqs))
						}
						r := reqs[0]
						if r.Signal != sig || r.Status != 200 || r.DecodeErr != nil || r.Items != wantItems[sig] {
							t.Errorf("request: got signal %q status %d err %v items %d; want %q 200 <nil> %d", r.Signal, r.Status, r.DecodeErr, r.Items, sig, wantItems[sig])
						}
						if want := strings.TrimPrefix(prefix, "/api/"); r.Org != want {
							t.Errorf("org: got %q; want %q", r.Org, want)
						}
						if !bytes.Equal(r.Body, body) {
							t.Errorf("raw body not kept as sent")
						}
						if !proto.Equal(r.Message, msgs[sig]) {
							t.Errorf("decoded: got %v; want %v", r.Message, msgs[sig])
						}
					})
				}
			}
		}
	}
}

func TestAccessors(t *testing.T) {
	s := Start(t, Options{})
	c := s.Client()
	for _, m := range []struct {
		sig Signal
		msg proto.Message
	}{{Traces, testTraces(2)}, {Metrics, testMetrics()}, {Logs, testLogs()}} {
		b, _ := proto.Marshal(m.msg)
		if resp, rb := mustPost(t, c, s.URL()+"/v1/"+string(m.sig), "application/x-protobuf", "", b); resp.StatusCode != 200 {
			t.Fatalf("%s: status %d: %s", m.sig, resp.StatusCode, rb)
		}
	}
	got := s.Counts()
	want := Counts{Requests: 3, Accepted: 3, Spans: 2, Metrics: 2, DataPoints: 3, LogRecords: 1}
	if got != want {
		t.Errorf("counts: got %+v; want %+v", got, want)
	}
	spans := s.Spans()
	if len(spans) != 2 || spans[1].Span.Name != "GET /items/1" || spans[0].ResourceAttrs["service.name"] != "checkout" ||
		spans[0].ResourceAttrs["faas.max_memory"] != int64(512<<20) || spans[0].Scope.GetName() != "test" {
		t.Errorf("spans: got %v", spans)
	}
	if ms := s.Metrics(); len(ms) != 2 || ms[1].Metric.Name != "faas.mem_usage" || ms[1].ResourceAttrs["faas.name"] != "checkout-fn" {
		t.Errorf("metrics: got %v", ms)
	}
	if ls := s.LogRecords(); len(ls) != 1 || ls[0].Record.Body.GetStringValue() != "order placed" {
		t.Errorf("logs: got %v", ls)
	}
	for sig, want := range map[Signal]int{Traces: 1, Metrics: 1, Logs: 1, JSONArray: 0} {
		if got := s.RequestCount(sig); got != want {
			t.Errorf("RequestCount(%s): got %d; want %d", sig, got, want)
		}
	}
}

// TestOTLPJSONFixture decodes OTLP/JSON written by hand as the spec shows
// it (hex ids, integer enums, string int64s, an unknown field), so the
// decoder is checked against something other than its own encoder.
func TestOTLPJSONFixture(t *testing.T) {
	const fixture = `{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"checkout"}},
	{"key":"traceId","value":{"stringValue":"not-an-id"}}]},
	"scopeSpans":[{"scope":{"name":"test"},"spans":[{"traceId":"5B8EFFF798038103D269B633813FC60C","spanId":"EEE19B7EC3C1B174",
	"parentSpanId":"","name":"I'm a server span","kind":2,"startTimeUnixNano":"1544712660000000000","endTimeUnixNano":1544712661000000000,
	"attributes":[{"key":"my.span.attr","value":{"intValue":"42"}}],"futureField":true}]}]}]}`
	s := Start(t, Options{})
	resp, rb := mustPost(t, s.Client(), s.URL()+"/v1/traces", "application/json; charset=utf-8", "", []byte(fixture))
	if resp.StatusCode != 200 {
		t.Fatalf("status: got %d; want 200 (%s)", resp.StatusCode, rb)
	}
	spans := s.Spans()
	if len(spans) != 1 {
		t.Fatalf("spans: got %d; want 1", len(spans))
	}
	sp := spans[0]
	if !bytes.Equal(sp.Span.TraceId, testTraceID) || !bytes.Equal(sp.Span.SpanId, testSpanID) || len(sp.Span.ParentSpanId) != 0 {
		t.Errorf("ids: got %x %x %x; want %x %x empty", sp.Span.TraceId, sp.Span.SpanId, sp.Span.ParentSpanId, testTraceID, testSpanID)
	}
	if sp.Span.Kind != tracepb.Span_SPAN_KIND_SERVER || sp.Span.StartTimeUnixNano != 1544712660000000000 || sp.Span.EndTimeUnixNano != 1544712661000000000 {
		t.Errorf("span: got %v", sp.Span)
	}
	if got := sp.ResourceAttrs["traceId"]; got != "not-an-id" {
		t.Errorf("attribute named traceId: got %v; want it untouched", got)
	}
	if got := Attrs(sp.Span.Attributes)["my.span.attr"]; got != int64(42) {
		t.Errorf("span attr: got %v; want 42", got)
	}
}

func TestOpenObserveJSON(t *testing.T) {
	s := Start(t, Options{})
	body := `[{"time":"2023-08-30T12:34:56.789Z","type":"function","record":"INFO hello","requestId":"abc"},{"type":"platform","record":"x"}]`
	for _, enc := range []string{"", "gzip"} {
		b := []byte(body)
		if enc == "gzip" {
			b = gz(t, b)
		}
		resp, rb := mustPost(t, s.Client(), s.URL()+"/api/myorg/lambda_logs/_json", "application/json", enc, b, "Authorization", "Basic dTpw")
		if resp.StatusCode != 200 {
			t.Fatalf("%q: status: got %d; want 200 (%s)", enc, resp.StatusCode, rb)
		}
		var got struct {
			Code   int
			Status []struct {
				Name               string
				Successful, Failed int
			}
		}
		if err := json.Unmarshal(rb, &got); err != nil || got.Code != 200 || len(got.Status) != 1 || got.Status[0].Name != "lambda_logs" || got.Status[0].Successful != 2 {
			t.Errorf("%q: response: got %s (%v)", enc, rb, err)
		}
	}
	recs := s.JSONRecords()
	if len(recs) != 4 || recs[0].Org != "myorg" || recs[0].Stream != "lambda_logs" || recs[0].Fields["requestId"] != "abc" || recs[3].Fields["type"] != "platform" {
		t.Errorf("records: got %+v", recs)
	}
	if got := s.RequestCount(JSONArray); got != 2 {
		t.Errorf("RequestCount(JSONArray): got %d; want 2", got)
	}
	if got := s.Requests()[0].Header.Get("Authorization"); got != "Basic dTpw" {
		t.Errorf("recorded header: got %q", got)
	}
}

func TestRejects(t *testing.T) {
	s := Start(t, Options{})
	good, _ := proto.Marshal(testTraces(1))
	tests := []struct {
		name, method, path, ct, enc string
		body                        []byte
		want                        int
		wantCT                      string
	}{
		{"unknown path", "POST", "/v1/profiles", "application/x-protobuf", "", good, 404, ""},
		{"root", "POST", "/", "application/x-protobuf", "", good, 404, ""},
		{"GET", "GET", "/v1/traces", "", "", nil, 405, ""},
		{"content type", "POST", "/v1/traces", "text/plain", "", good, 415, "text/plain; charset=utf-8"},
		{"no content type", "POST", "/v1/traces", "", "", good, 415, "text/plain; charset=utf-8"},
		{"encoding", "POST", "/v1/traces", "application/x-protobuf", "br", good, 415, "text/plain; charset=utf-8"},
		{"bad protobuf", "POST", "/v1/traces", "application/x-protobuf", "", []byte{0x0a, 0x05, 0x01}, 400, "application/x-protobuf"},
		{"bad json", "POST", "/v1/logs", "application/json", "", []byte(`{"resourceLogs":[`), 400, "application/json"},
		{"bad hex id", "POST", "/v1/traces", "application/json", "", []byte(`{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"zz"}]}]}]}`), 400, "application/json"},
		{"bad gzip", "POST", "/v1/traces", "application/x-protobuf", "gzip", good, 400, "application/x-protobuf"},
		{"json array not array", "POST", "/api/o/s/_json", "application/json", "", []byte(`{"a":1}`), 400, "application/json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s.Clear()
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, tt.method, s.URL()+tt.path, bytes.NewReader(tt.body))
			if tt.ct != "" {
				req.Header.Set("Content-Type", tt.ct)
			}
			if tt.enc != "" {
				req.Header.Set("Content-Encoding", tt.enc)
			}
			resp, err := s.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			rb, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Errorf("status: got %d; want %d (%s)", resp.StatusCode, tt.want, rb)
			}
			if tt.wantCT != "" && resp.Header.Get("Content-Type") != tt.wantCT {
				t.Errorf("Content-Type: got %q; want %q", resp.Header.Get("Content-Type"), tt.wantCT)
			}
			switch tt.wantCT {
			case "application/x-protobuf":
				st, err := ParseStatus(rb)
				if err != nil || st.Code != 3 || st.Message == "" {
					t.Errorf("status body: got %+v, %v; want code 3 with a message", st, err)
				}
			case "application/json":
				var st struct {
					Code    int32
					Message string
				}
				if err := json.Unmarshal(rb, &st); err != nil || st.Code != 3 || st.Message == "" {
					t.Errorf("status body: got %s, %v; want code 3 with a message", rb, err)
				}
			}
			got := s.Counts()
			if got.Requests != 1 || got.Accepted != 0 || got.Spans != 0 || got.JSONRecords != 0 {
				t.Errorf("counts: got %+v; want 1 request, nothing accepted", got)
			}
			if r := s.Requests()[0]; r.Status != tt.want {
				t.Errorf("recorded status: got %d; want %d", r.Status, tt.want)
			}
		})
	}
}

func TestFaultScript(t *testing.T) {
	s := Start(t, Options{})
	body, _ := proto.Marshal(testTraces(4))
	s.Script(Fault{Status: 503, RetryAfter: "2", Message: "overloaded"}, Fault{Status: 429, Body: []byte("raw")})
	s.Script(Statuses(502)...)
	tests := []struct {
		status     int
		retryAfter string
		body       []byte
	}{
		{503, "2", AppendStatus(nil, Status{Code: 14, Message: "overloaded"})},
		{429, "", []byte("raw")},
		{502, "", AppendStatus(nil, Status{Code: 14, Message: "fault injected: 502"})},
		{200, "", nil},
		{200, "", nil},
	}
	for i, tt := range tests {
		resp, rb := mustPost(t, s.Client(), s.URL()+"/v1/traces", "application/x-protobuf", "", body)
		if resp.StatusCode != tt.status || resp.Header.Get("Retry-After") != tt.retryAfter || !bytes.Equal(rb, tt.body) {
			t.Errorf("request %d: got %d Retry-After %q body %q; want %d %q %q", i, resp.StatusCode, resp.Header.Get("Retry-After"), rb, tt.status, tt.retryAfter, tt.body)
		}
	}
	if got, want := s.Counts(), (Counts{Requests: 5, Accepted: 2, Spans: 8}); got != want {
		t.Errorf("counts: got %+v; want %+v", got, want)
	}
	reqs := s.Requests()
	if reqs[0].Fault.Status != 503 || reqs[0].Message == nil || reqs[0].Items != 4 {
		t.Errorf("failed request not recorded with its content: %+v", reqs[0])
	}

	// The default applies once the script is used up, and can change
	// while requests are in flight.
	s.SetDefault(Fault{Status: 504})
	if resp, _ := mustPost(t, s.Client(), s.URL()+"/v1/traces", "application/x-protobuf", "", body); resp.StatusCode != 504 {
		t.Errorf("default: got %d; want 504", resp.StatusCode)
	}
	s.SetDefault(Fault{})
	if resp, _ := mustPost(t, s.Client(), s.URL()+"/v1/traces", "application/x-protobuf", "", body); resp.StatusCode != 200 {
		t.Errorf("default reset: got %d; want 200", resp.StatusCode)
	}
}

func TestFaultJSONBody(t *testing.T) {
	s := Start(t, Options{})
	s.Script(Fault{Status: 503, Message: "busy"})
	body, _ := MarshalJSON(testLogs())
	resp, rb := mustPost(t, s.Client(), s.URL()+"/v1/logs", "application/json", "", body)
	if resp.StatusCode != 503 || resp.Header.Get("Content-Type") != "application/json" || string(rb) != `{"code":14,"message":"busy"}` {
		t.Errorf("got %d %q %s; want 503 application/json {\"code\":14,\"message\":\"busy\"}", resp.StatusCode, resp.Header.Get("Content-Type"), rb)
	}
}

// TestPartialSuccess decodes the response with protowire directly, field
// by field as opentelemetry-proto defines ExportTraceServiceResponse, so
// the check does not depend on the sink's own parser.
func TestPartialSuccess(t *testing.T) {
	s := Start(t, Options{})
	s.SetDefault(Fault{Rejected: 3, Message: "3 spans too old"})
	body, _ := proto.Marshal(testTraces(5))
	resp, rb := mustPost(t, s.Client(), s.URL()+"/v1/traces", "application/x-protobuf", "", body)
	if resp.StatusCode != 200 {
		t.Fatalf("status: got %d; want 200", resp.StatusCode)
	}
	num, typ, n := protowire.ConsumeTag(rb)
	if num != 1 || typ != protowire.BytesType {
		t.Fatalf("response: got field %d type %d; want partial_success (1, LEN)", num, typ)
	}
	inner, m := protowire.ConsumeBytes(rb[n:])
	if m < 0 || n+m != len(rb) {
		t.Fatalf("response: bad length in %x", rb)
	}
	var rejected uint64
	var msg string
	for len(inner) > 0 {
		num, typ, n := protowire.ConsumeTag(inner)
		inner = inner[n:]
		switch {
		case num == 1 && typ == protowire.VarintType:
			rejected, n = protowire.ConsumeVarint(inner)
		case num == 2 && typ == protowire.BytesType:
			msg, n = protowire.ConsumeString(inner)
		default:
			t.Fatalf("unexpected field %d type %d", num, typ)
		}
		inner = inner[n:]
	}
	if rejected != 3 || msg != "3 spans too old" {
		t.Errorf("partial_success: got %d %q; want 3 %q", rejected, msg, "3 spans too old")
	}
	if ps, ok, err := ParseExportResponse(rb); err != nil || !ok || ps != (PartialSuccess{3, "3 spans too old"}) {
		t.Errorf("ParseExportResponse: got %+v %v %v", ps, ok, err)
	}
	if got := s.Counts().Spans; got != 5 {
		t.Errorf("spans kept: got %d; want 5 (a partial success still stores the request)", got)
	}

	tests := []struct {
		sig  Signal
		body proto.Message
		want string
	}{
		{Traces, testTraces(1), `{"partialSuccess":{"errorMessage":"3 spans too old","rejectedSpans":"3"}}`},
		{Metrics, testMetrics(), `{"partialSuccess":{"errorMessage":"3 spans too old","rejectedDataPoints":"3"}}`},
		{Logs, testLogs(), `{"partialSuccess":{"errorMessage":"3 spans too old","rejectedLogRecords":"3"}}`},
	}
	for _, tt := range tests {
		b, _ := MarshalJSON(tt.body)
		_, rb := mustPost(t, s.Client(), s.URL()+"/v1/"+string(tt.sig), "application/json", "", b)
		if string(rb) != tt.want {
			t.Errorf("%s json: got %s; want %s", tt.sig, rb, tt.want)
		}
	}
}

func TestRequireAuth(t *testing.T) {
	s := Start(t, Options{})
	s.RequireAuth("Basic cm9vdDpwYXNz")
	body, _ := proto.Marshal(testLogs())
	tests := []struct {
		header []string
		want   int
	}{
		{nil, 401},
		{[]string{"Authorization", "Basic d3Jvbmc="}, 401},
		{[]string{"Authorization", "Basic cm9vdDpwYXNz"}, 200},
	}
	for _, tt := range tests {
		resp, rb := mustPost(t, s.Client(), s.URL()+"/api/org/v1/logs", "application/x-protobuf", "", body, tt.header...)
		if resp.StatusCode != tt.want {
			t.Errorf("%v: got %d; want %d", tt.header, resp.StatusCode, tt.want)
		}
		if tt.want == 401 {
			if st, err := ParseStatus(rb); err != nil || st.Code != 16 {
				t.Errorf("401 body: got %+v %v; want code 16", st, err)
			}
		}
	}
	if got := s.Counts().LogRecords; got != 1 {
		t.Errorf("log records: got %d; want 1", got)
	}
}

func TestDelay(t *testing.T) {
	s := Start(t, Options{})
	// Far longer than the client waits: the request can only end by the
	// client's deadline.
	s.SetDefault(Fault{Delay: time.Hour})
	body, _ := proto.Marshal(testTraces(1))
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.URL()+"/v1/traces", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/x-protobuf")
	resp, err := s.Client().Do(req)
	if err == nil {
		resp.Body.Close()
		t.Fatalf("got status %d; want the client's deadline to pass first", resp.StatusCode)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("got %v; want context.DeadlineExceeded", err)
	}
	// The handler notices the client left and records the request.
	wctx, wcancel := context.WithTimeout(context.Background(), testTimeout)
	defer wcancel()
	if err := s.WaitFor(wctx, func(s *Sink) bool { return s.Counts().Requests == 1 }); err != nil {
		t.Fatal(err)
	}
	if r := s.Requests()[0]; r.Status != 0 || s.Counts().Spans != 0 {
		t.Errorf("abandoned request: got status %d, %d spans; want 0, 0", r.Status, s.Counts().Spans)
	}
}

// TestDelayReleasedByClose checks that Close does not wait out a Delay.
func TestDelayReleasedByClose(t *testing.T) {
	s, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.SetDefault(Fault{Delay: time.Hour})
	body, _ := proto.Marshal(testTraces(1))
	done := make(chan error, 1)
	go func() {
		_, _, err := post(t, s.Client(), s.URL()+"/v1/traces", "application/x-protobuf", "", body)
		done <- err
	}()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	if err := s.WaitFor(ctx, func(s *Sink) bool { return s.Counts().InFlight == 1 }); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if err := <-done; err == nil {
		t.Errorf("client got an answer; want the connection closed")
	}
}

func TestDownUp(t *testing.T) {
	s := Start(t, Options{})
	body, _ := proto.Marshal(testTraces(1))
	addr := s.Addr()
	if resp, _ := mustPost(t, s.Client(), s.URL()+"/v1/traces", "application/x-protobuf", "", body); resp.StatusCode != 200 {
		t.Fatalf("before down: got %d", resp.StatusCode)
	}
	if err := s.Down(); err != nil {
		t.Fatal(err)
	}
	if err := s.Down(); err != nil {
		t.Fatalf("second Down: %v", err)
	}
	s.Client().CloseIdleConnections()
	_, _, err := post(t, s.Client(), s.URL()+"/v1/traces", "application/x-protobuf", "", body)
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("while down: got %v; want connection refused", err)
	}
	if err := s.Up(); err != nil {
		t.Fatal(err)
	}
	if s.Addr() != addr {
		t.Errorf("address: got %s; want %s", s.Addr(), addr)
	}
	if resp, _ := mustPost(t, s.Client(), s.URL()+"/v1/traces", "application/x-protobuf", "", body); resp.StatusCode != 200 {
		t.Fatalf("after up: got %d", resp.StatusCode)
	}
	if got := s.Counts(); got.Requests != 2 || got.Spans != 2 {
		t.Errorf("counts: got %+v; want 2 requests, 2 spans", got)
	}
}

func TestResetConn(t *testing.T) {
	for _, tlsOn := range []bool{false, true} {
		t.Run(fmt.Sprintf("tls=%v", tlsOn), func(t *testing.T) {
			s := Start(t, Options{TLS: tlsOn})
			s.Script(Fault{ResetConn: true})
			body, _ := proto.Marshal(testTraces(2))
			resp, _, err := post(t, s.Client(), s.URL()+"/v1/traces", "application/x-protobuf", "", body)
			if err == nil {
				t.Fatalf("got status %d; want a transport error", resp.StatusCode)
			}
			reqs := s.Requests()
			if len(reqs) != 1 || reqs[0].Status != 0 || !reqs[0].Fault.ResetConn || reqs[0].Items != 2 {
				t.Errorf("recorded: got %+v; want one reset request with 2 items", reqs)
			}
			if got := s.Counts().Spans; got != 0 {
				t.Errorf("spans: got %d; want 0", got)
			}
			if resp, _ := mustPost(t, s.Client(), s.URL()+"/v1/traces", "application/x-protobuf", "", body); resp.StatusCode != 200 {
				t.Errorf("after reset: got %d; want 200", resp.StatusCode)
			}
			if tlsOn && s.Requests()[1].Proto != "HTTP/2.0" {
				t.Errorf("proto over TLS: got %s; want HTTP/2.0", s.Requests()[1].Proto)
			}
		})
	}
}

func TestTLS(t *testing.T) {
	s := Start(t, Options{TLS: true, ClientAuth: true, Dir: t.TempDir()})
	pemBytes, err := os.ReadFile(s.CAFile())
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemBytes) {
		t.Fatal("CA file holds no certificate")
	}
	body, _ := proto.Marshal(testLogs())
	url := strings.Replace(s.URL(), "127.0.0.1", "localhost", 1) + "/v1/logs"

	noCert := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	defer noCert.CloseIdleConnections()
	if _, _, err := post(t, noCert, url, "application/x-protobuf", "", body); err == nil {
		t.Errorf("without a client certificate: got an answer; want a TLS error")
	}

	cert, err := tls.LoadX509KeyPair(s.ClientCertFile(), s.ClientKeyFile())
	if err != nil {
		t.Fatal(err)
	}
	withCert := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}}}}
	defer withCert.CloseIdleConnections()
	if resp, _ := mustPost(t, withCert, url, "application/x-protobuf", "", body); resp.StatusCode != 200 {
		t.Errorf("with a client certificate: got %d; want 200", resp.StatusCode)
	}
	if !strings.HasPrefix(s.URL(), "https://127.0.0.1:") {
		t.Errorf("URL: got %s", s.URL())
	}
}

func TestWaitFor(t *testing.T) {
	s := Start(t, Options{})
	raw, _ := proto.Marshal(testTraces(10))
	body := gz(t, raw)
	const senders = 4
	var wg sync.WaitGroup
	for range senders {
		wg.Go(func() {
			post(t, s.Client(), s.URL()+"/v1/traces", "application/x-protobuf", "gzip", body)
		})
	}
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	err := s.WaitFor(ctx, func(s *Sink) bool { return s.Counts().Spans >= senders*10 })
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}

	cctx, ccancel := context.WithCancel(context.Background())
	ccancel()
	err = s.WaitFor(cctx, func(s *Sink) bool { return false })
	if !errors.Is(err, context.Canceled) {
		t.Errorf("canceled: got %v; want context.Canceled", err)
	}
}

func TestCountOnly(t *testing.T) {
	s := Start(t, Options{CountOnly: true})
	body, _ := proto.Marshal(testTraces(7))
	for range 3 {
		mustPost(t, s.Client(), s.URL()+"/v1/traces", "application/x-protobuf", "", body)
	}
	if got := s.Counts(); got.Spans != 21 || got.Accepted != 3 {
		t.Errorf("counts: got %+v; want 21 spans in 3 requests", got)
	}
	if len(s.Spans()) != 0 || s.Requests()[0].Body != nil || s.Requests()[0].Message != nil {
		t.Errorf("CountOnly kept data")
	}
}

func TestIDRoundTrip(t *testing.T) {
	tests := []struct{ in, want string }{
		{`{"traceId":"5B8EFFF798038103D269B633813FC60C"}`, `{"traceId":"W47/95gDgQPSabYzgT/GDA=="}`},
		{`{"a":[{"spanId":"eee19b7ec3c1b174","n":12345678901234567890}]}`, `{"a":[{"n":12345678901234567890,"spanId":"7uGbfsPBsXQ="}]}`},
		{`{"parentSpanId":""}`, `{"parentSpanId":""}`},
		{`{"key":"traceId","value":{"stringValue":"x"}}`, `{"key":"traceId","value":{"stringValue":"x"}}`},
	}
	for _, tt := range tests {
		got, err := HexIDsToBase64([]byte(tt.in))
		if err != nil || string(got) != tt.want {
			t.Errorf("HexIDsToBase64(%s): got %s, %v; want %s", tt.in, got, err, tt.want)
		}
	}
	if _, err := HexIDsToBase64([]byte(`{"spanId":"xyz"}`)); err == nil {
		t.Errorf("bad hex: got no error")
	}
	if _, err := HexIDsToBase64([]byte(`{} {}`)); err == nil {
		t.Errorf("two values: got no error")
	}
}

// FuzzUnmarshalJSON: whatever OTLP/JSON the decoder accepts must survive
// MarshalJSON and decode again to an equal message.
func FuzzUnmarshalJSON(f *testing.F) {
	for _, m := range []proto.Message{testTraces(2), testLogs()} {
		b, _ := MarshalJSON(m)
		f.Add(b)
	}
	f.Add([]byte(`{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"5B8EFFF798038103D269B633813FC60C","kind":2}]}]}]}`))
	f.Add([]byte(`{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"spanId":"","severityNumber":9,"body":{"kvlistValue":{}}}]}]}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, m := range []proto.Message{&tracepb.TracesData{}, &logspb.LogsData{}} {
			if UnmarshalJSON(b, m) != nil {
				continue
			}
			js, err := MarshalJSON(m)
			if err != nil {
				t.Fatalf("MarshalJSON of an accepted message: %v", err)
			}
			m2 := m.ProtoReflect().New().Interface()
			if err := UnmarshalJSON(js, m2); err != nil {
				t.Fatalf("re-decode %s: %v", js, err)
			}
			if !proto.Equal(m, m2) {
				t.Fatalf("round trip: got %v; want %v", m2, m)
			}
		}
	})
}
