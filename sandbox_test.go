package main

// The integration harness: the built extension binary as a child process
// under the Lambda emulator, exporting to a local OTLP backend, all on
// 127.0.0.1. Every scenario test starts here.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"otel-lambda-extension/internal/lambdasim"
	"otel-lambda-extension/internal/otlpsink"

	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
)

// sandbox is one emulated Lambda execution environment running our
// extension, with its backend.
type sandbox struct {
	t        testing.TB
	sim      *lambdasim.Sim
	sink     *otlpsink.Sink
	port     int // the extension's OTLP/HTTP receiver
	grpcPort int
	stderr   *syncBuffer
}

type sandboxOpts struct {
	env      map[string]string // added to (and overriding) the defaults below
	sim      lambdasim.Config  // emulator settings; extension paths and env are filled in
	noSink   bool              // do not start a backend (the env says where to export)
	sinkOpts otlpsink.Options
}

// freePort asks the kernel for a free loopback port. Another process could
// take it before the extension binds it; the extension then fails init with
// a clear port-in-use error, which startSandbox retries once.
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startSandbox runs the Init phase. On a Lambda init failure it returns the
// sandbox and the *lambdasim.InitError so tests can assert on it.
func startSandbox(t testing.TB, o sandboxOpts) (*sandbox, error) {
	t.Helper()
	bin := extensionBinary(t)
	sb := &sandbox{t: t, stderr: &syncBuffer{}}
	if !o.noSink {
		sink, err := otlpsink.New(o.sinkOpts)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(sink.Close)
		sb.sink = sink
	}
	for attempt := 0; ; attempt++ {
		sb.port, sb.grpcPort = freePort(t), freePort(t)
		env := map[string]string{
			"OTEL_LAMBDA_RECEIVER_PORT":  strconv.Itoa(sb.port),
			"OTEL_LAMBDA_GRPC_PORT":      strconv.Itoa(sb.grpcPort),
			"OTEL_LAMBDA_FLUSH_STRATEGY": "end",
		}
		if sb.sink != nil {
			env["OTEL_EXPORTER_OTLP_ENDPOINT"] = sb.sink.URL()
		}
		maps.Copy(env, o.env)
		cfg := o.sim
		cfg.ExtensionPaths = []string{bin}
		cfg.Env = env
		if cfg.FunctionName == "" {
			cfg.FunctionName = "orders"
		}
		cfg.Stderr = sb.stderr
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		sim, err := lambdasim.Start(ctx, cfg)
		cancel()
		if sim != nil {
			t.Cleanup(sim.Close)
		}
		sb.sim = sim
		if err != nil && attempt == 0 && strings.Contains(sb.stderr.String(), "already in use") {
			sim.Close()
			sb.stderr = &syncBuffer{}
			continue
		}
		if err != nil {
			return sb, err
		}
		return sb, nil
	}
}

// mustStart is startSandbox for tests where init must succeed.
func mustStart(t testing.TB, o sandboxOpts) *sandbox {
	t.Helper()
	sb, err := startSandbox(t, o)
	if err != nil {
		t.Fatalf("init failed: %v\nextension output:\n%s", err, sb.stderr.String())
	}
	return sb
}

func (sb *sandbox) receiverURL() string { return "http://127.0.0.1:" + strconv.Itoa(sb.port) }

// invoke runs one invocation of fn and fails the test on emulator errors.
func (sb *sandbox) invoke(fn func(*lambdasim.Invocation) error) lambdasim.InvokeResult {
	sb.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := sb.sim.Invoke(ctx, fn)
	if err != nil {
		sb.t.Fatalf("invoke: %v\nextension output:\n%s", err, sb.stderr.String())
	}
	return res
}

// shutdown runs SHUTDOWN and returns our extension's exit.
func (sb *sandbox) shutdown(reason string) (lambdasim.ShutdownResult, lambdasim.ExitInfo) {
	sb.t.Helper()
	res := sb.sim.Shutdown(reason)
	for _, e := range res.Extensions {
		if e.Name == extensionName {
			return res, e
		}
	}
	sb.t.Fatalf("our extension is not in the shutdown result: %+v", res)
	return res, lambdasim.ExitInfo{}
}

// postOTLP sends one OTLP/HTTP request to the extension from inside an
// invocation and fails the test unless it is accepted.
func postOTLP(t testing.TB, inv *lambdasim.Invocation, url, signal, contentType string, gz bool, body []byte) {
	t.Helper()
	enc := ""
	if gz {
		enc = "gzip"
	}
	code, resp, err := inv.Post(url+"/v1/"+signal, contentType, enc, body)
	if err != nil || code != 200 {
		t.Errorf("POST /v1/%s (%s, gzip %v): %d %q %v", signal, contentType, gz, code, resp, err)
	}
}

// testSpans builds a traces request with n spans named prefix-i, with a
// resource that sets service.name and faas.name itself (the extension must
// keep them) and a few attributes of every kind.
func testSpans(prefix string, n int) *tracepb.TracesData {
	spans := make([]*tracepb.Span, n)
	for i := range spans {
		spans[i] = &tracepb.Span{
			TraceId:           bytes.Repeat([]byte{byte(i + 1)}, 16),
			SpanId:            bytes.Repeat([]byte{byte(i + 1)}, 8),
			Name:              fmt.Sprintf("%s-%d", prefix, i),
			Kind:              tracepb.Span_SPAN_KIND_SERVER,
			StartTimeUnixNano: uint64(1_700_000_000_000_000_000 + i),
			EndTimeUnixNano:   uint64(1_700_000_000_100_000_000 + i),
			Attributes: []*commonpb.KeyValue{
				{Key: "http.route", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: "/orders/{id}"}}},
				{Key: "retry", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_IntValue{IntValue: int64(i)}}},
				{Key: "ok", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_BoolValue{BoolValue: true}}},
				{Key: "ratio", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_DoubleValue{DoubleValue: 0.25}}},
			},
			Status: &tracepb.Status{Code: tracepb.Status_STATUS_CODE_OK},
		}
	}
	return &tracepb.TracesData{ResourceSpans: []*tracepb.ResourceSpans{{
		Resource: &resourcepb.Resource{Attributes: []*commonpb.KeyValue{
			{Key: "service.name", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: "checkout"}}},
			{Key: "faas.name", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: "set-by-sdk"}}},
		}},
		ScopeSpans: []*tracepb.ScopeSpans{{
			Scope: &commonpb.InstrumentationScope{Name: "test", Version: "1"},
			Spans: spans,
		}},
	}}}
}

func testLogs(body string) *logspb.LogsData {
	return &logspb.LogsData{ResourceLogs: []*logspb.ResourceLogs{{
		ScopeLogs: []*logspb.ScopeLogs{{LogRecords: []*logspb.LogRecord{{
			TimeUnixNano:   1_700_000_000_000_000_000,
			SeverityNumber: logspb.SeverityNumber_SEVERITY_NUMBER_WARN,
			SeverityText:   "WARN",
			Body:           &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: body}},
		}}}},
	}}}
}

// functionSpans returns the spans at the backend that the function sent
// (scope "test"), leaving out the extension's platform spans.
func functionSpans(s *otlpsink.Sink) []otlpsink.Span {
	var out []otlpsink.Span
	for _, sp := range s.Spans() {
		if sp.Scope.GetName() == "test" {
			out = append(out, sp)
		}
	}
	return out
}

// waitFor waits (bounded) until cond holds at the sink.
func waitFor(t testing.TB, s *otlpsink.Sink, what string, cond func(*otlpsink.Sink) bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := s.WaitFor(ctx, cond); err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

func isInitError(err error) (*lambdasim.InitError, bool) {
	var ie *lambdasim.InitError
	ok := errors.As(err, &ie)
	return ie, ok
}

func writeFile(t testing.TB, dir, name, content string) string {
	t.Helper()
	p := dir + "/" + name
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func itoa(n int) string { return strconv.Itoa(n) }

// listenOn holds a loopback port, as another process would.
func listenOn(t testing.TB, port int) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// extInfo is what the emulator knows of our extension (error reports).
func (sb *sandbox) extInfo() lambdasim.ExtensionInfo {
	sb.t.Helper()
	for _, e := range sb.sim.Extensions() {
		if e.Name == extensionName {
			return e
		}
	}
	sb.t.Fatalf("our extension never registered")
	return lambdasim.ExtensionInfo{}
}

// waitExit waits (bounded) for our extension process to exit and returns
// its exit code.
func (sb *sandbox) waitExit() int {
	sb.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for _, r := range sb.sim.Records(lambdasim.KindProcessExit) {
			return r.Code
		}
		time.Sleep(20 * time.Millisecond)
	}
	sb.t.Fatalf("the extension did not exit")
	return -1
}

// waitOutput waits (bounded) until the extension's output satisfies cond
// and returns it. Output arrives through a pipe the emulator reads in the
// background, so a line written just before next may still be in flight
// when Invoke returns.
func (sb *sandbox) waitOutput(cond func(out string) bool) (string, bool) {
	sb.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		out := sb.stderr.String()
		if cond(out) || time.Now().After(deadline) {
			return out, cond(out)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
