// backend_test.go owns the OTLP backends the extension exports to (and the
// reference backends the SDKs also send to): a real grpc-go server with the
// three OTLP collector services, and a net/http server for OTLP/HTTP in
// protobuf and JSON. Both decode with the otlp proto types and record every
// request, with how it arrived (content type, compression).
package e2e

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	_ "google.golang.org/grpc/encoding/gzip" // the backend accepts gzip-compressed gRPC messages
	"google.golang.org/grpc/stats"

	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	colmetricspb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// received is one export request a backend got.
type received struct {
	transport   string // "grpc" or "http"
	contentType string // HTTP Content-Type, or "application/grpc"
	encoding    string // Content-Encoding / grpc-encoding; "" = none
	chunked     bool   // HTTP body sent without Content-Length (chunked)
	traces      *tracepb.TracesData
	metrics     *metricspb.MetricsData
	logs        *logspb.LogsData
}

// recorder keeps what a backend received. Safe for concurrent use.
type recorder struct {
	mu   sync.Mutex
	reqs []received
	errs []string
}

func (r *recorder) add(x received) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reqs = append(r.reqs, x)
}

func (r *recorder) fail(format string, a ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, fmt.Sprintf(format, a...))
}

// take returns and forgets everything received so far.
func (r *recorder) take() ([]received, []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	reqs, errs := r.reqs, r.errs
	r.reqs, r.errs = nil, nil
	return reqs, errs
}

// grpcBackend is a grpc-go server with the OTLP collector services.
type grpcBackend struct {
	addr string
	rec  *recorder
	srv  *grpc.Server
	done chan struct{}
}

// compressionKey carries, per RPC, the grpc-encoding the stats handler saw.
type compressionKey struct{}

type compressionStats struct{}

func (compressionStats) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context {
	return context.WithValue(ctx, compressionKey{}, new(string))
}

func (compressionStats) HandleRPC(ctx context.Context, s stats.RPCStats) {
	if h, ok := s.(*stats.InHeader); ok {
		if p, ok := ctx.Value(compressionKey{}).(*string); ok {
			*p = h.Compression
		}
	}
}

func (compressionStats) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context {
	return ctx
}
func (compressionStats) HandleConn(context.Context, stats.ConnStats) {}

func grpcEncoding(ctx context.Context) string {
	if p, ok := ctx.Value(compressionKey{}).(*string); ok && *p != "identity" {
		return *p
	}
	return ""
}

// startGRPCBackend serves plaintext HTTP/2 gRPC on 127.0.0.1:0 until the
// test ends.
func startGRPCBackend(t testing.TB, rec *recorder) *grpcBackend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("grpc backend: listen: %v", err)
	}
	b := &grpcBackend{addr: ln.Addr().String(), rec: rec, done: make(chan struct{}),
		srv: grpc.NewServer(grpc.StatsHandler(compressionStats{}))}
	coltracepb.RegisterTraceServiceServer(b.srv, traceSvc{b: b})
	colmetricspb.RegisterMetricsServiceServer(b.srv, metricsSvc{b: b})
	collogspb.RegisterLogsServiceServer(b.srv, logsSvc{b: b})
	go func() {
		defer close(b.done)
		_ = b.srv.Serve(ln)
	}()
	t.Cleanup(func() {
		b.srv.Stop()
		<-b.done
	})
	return b
}

type traceSvc struct {
	coltracepb.UnimplementedTraceServiceServer
	b *grpcBackend
}

func (s traceSvc) Export(ctx context.Context, req *coltracepb.ExportTraceServiceRequest) (*coltracepb.ExportTraceServiceResponse, error) {
	s.b.rec.add(received{transport: "grpc", contentType: "application/grpc", encoding: grpcEncoding(ctx),
		traces: &tracepb.TracesData{ResourceSpans: req.GetResourceSpans()}})
	return &coltracepb.ExportTraceServiceResponse{}, nil
}

type metricsSvc struct {
	colmetricspb.UnimplementedMetricsServiceServer
	b *grpcBackend
}

func (s metricsSvc) Export(ctx context.Context, req *colmetricspb.ExportMetricsServiceRequest) (*colmetricspb.ExportMetricsServiceResponse, error) {
	s.b.rec.add(received{transport: "grpc", contentType: "application/grpc", encoding: grpcEncoding(ctx),
		metrics: &metricspb.MetricsData{ResourceMetrics: req.GetResourceMetrics()}})
	return &colmetricspb.ExportMetricsServiceResponse{}, nil
}

type logsSvc struct {
	collogspb.UnimplementedLogsServiceServer
	b *grpcBackend
}

func (s logsSvc) Export(ctx context.Context, req *collogspb.ExportLogsServiceRequest) (*collogspb.ExportLogsServiceResponse, error) {
	s.b.rec.add(received{transport: "grpc", contentType: "application/grpc", encoding: grpcEncoding(ctx),
		logs: &logspb.LogsData{ResourceLogs: req.GetResourceLogs()}})
	return &collogspb.ExportLogsServiceResponse{}, nil
}

// httpBackend is an OTLP/HTTP server (protobuf and JSON, gzip or not).
type httpBackend struct {
	url string // http://127.0.0.1:port
	rec *recorder
}

// startHTTPBackend serves OTLP/HTTP on 127.0.0.1:0 until the test ends.
func startHTTPBackend(t testing.TB, rec *recorder) *httpBackend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("http backend: listen: %v", err)
	}
	b := &httpBackend{url: "http://" + ln.Addr().String(), rec: rec}
	// 5 s: a header that slow means a broken client, not a slow one.
	srv := &http.Server{Handler: http.HandlerFunc(b.handle), ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	t.Cleanup(func() {
		_ = srv.Close()
		<-done
	})
	return b
}

func (b *httpBackend) handle(w http.ResponseWriter, r *http.Request) {
	ct := r.Header.Get("Content-Type")
	enc := r.Header.Get("Content-Encoding")
	// 64 MiB: far above any batch of these tests.
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 64<<20))
	if err == nil && enc == "gzip" {
		body, err = gunzip(body)
	}
	if err != nil {
		b.rec.fail("%s: read body: %v", r.URL.Path, err)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	isJSON := strings.HasPrefix(ct, "application/json")
	if !isJSON && !strings.HasPrefix(ct, "application/x-protobuf") {
		b.rec.fail("%s: Content-Type %q", r.URL.Path, ct)
		http.Error(w, "unsupported content type", http.StatusUnsupportedMediaType)
		return
	}
	unmarshal := proto.Unmarshal
	if isJSON {
		unmarshal = otlpJSONUnmarshal
	}
	x := received{transport: "http", contentType: ct, encoding: enc, chunked: r.ContentLength < 0}
	var msg proto.Message
	switch r.URL.Path {
	case "/v1/traces":
		x.traces = &tracepb.TracesData{}
		msg = x.traces
	case "/v1/metrics":
		x.metrics = &metricspb.MetricsData{}
		msg = x.metrics
	case "/v1/logs":
		x.logs = &logspb.LogsData{}
		msg = x.logs
	default:
		b.rec.fail("unknown path %q", r.URL.Path)
		http.NotFound(w, r)
		return
	}
	if err := unmarshal(body, msg); err != nil {
		b.rec.fail("%s: decode %s: %v", r.URL.Path, ct, err)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	b.rec.add(x)
	// An empty Export*ServiceResponse: no bytes in protobuf, {} in JSON.
	if isJSON {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte("{}"))
		return
	}
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.WriteHeader(http.StatusOK)
}

func gunzip(b []byte) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("gunzip: %w", err)
	}
	// 256 MiB bounds a decompression bomb.
	out, err := io.ReadAll(io.LimitReader(zr, 256<<20))
	if err != nil {
		return nil, fmt.Errorf("gunzip: %w", err)
	}
	return out, nil
}

// otlpJSONUnmarshal decodes OTLP/JSON, which is protojson except that trace
// and span ids are hex strings instead of base64 (OTLP spec, "JSON Protobuf
// Encoding"). It rewrites the ids and hands the rest to protojson, which
// already accepts integer enums and int64 as numbers or strings.
func otlpJSONUnmarshal(b []byte, m proto.Message) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return fmt.Errorf("otlp json: %w", err)
	}
	if err := hexIDsToBase64(v); err != nil {
		return err
	}
	nb, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("otlp json: re-encode: %w", err)
	}
	return protojson.Unmarshal(nb, m)
}

func hexIDsToBase64(v any) error {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			switch k {
			case "traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id":
				if s, ok := e.(string); ok {
					id, err := hex.DecodeString(s)
					if err != nil {
						return fmt.Errorf("otlp json: %s %q: want hex: %w", k, s, err)
					}
					x[k] = base64.StdEncoding.EncodeToString(id)
					continue
				}
			}
			if err := hexIDsToBase64(e); err != nil {
				return err
			}
		}
	case []any:
		for _, e := range x {
			if err := hexIDsToBase64(e); err != nil {
				return err
			}
		}
	}
	return nil
}
