// Command capture records what the OpenTelemetry Go SDK really sends over
// OTLP/HTTP, so the extension's fuzz targets and receiver tests start from
// genuine payloads rather than our own encoder's idea of them.
//
// It runs the SDK's otlptracehttp, otlpmetrichttp and otlploghttp exporters
// against a capturing httptest server on 127.0.0.1, once with gzip and once
// without, and writes every request body as received (still compressed when
// the SDK compressed it) to the output folder:
//
//	<signal>.<compression>.<n>.binpb   e.g. traces.gzip.0.binpb
//
// plus MANIFEST.txt: one line per file with its Content-Type,
// Content-Encoding and User-Agent. The Go SDK sends protobuf only; it has no
// OTLP/JSON exporter.
//
// Usage: go run . ../   (from testdata/sdk/capture)
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploghttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	otellog "go.opentelemetry.io/otel/log"
	"go.opentelemetry.io/otel/metric"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
	"go.opentelemetry.io/otel/trace"
)

type capture struct {
	mu   sync.Mutex
	dir  string
	comp string
	n    map[string]int
	man  []string
}

func (c *capture) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	sig := strings.TrimPrefix(r.URL.Path, "/v1/")
	c.mu.Lock()
	name := fmt.Sprintf("%s.%s.%d.binpb", sig, c.comp, c.n[sig+c.comp])
	c.n[sig+c.comp]++
	c.man = append(c.man, fmt.Sprintf("%s\tContent-Type: %s\tContent-Encoding: %s\tUser-Agent: %s",
		name, r.Header.Get("Content-Type"), r.Header.Get("Content-Encoding"), r.Header.Get("User-Agent")))
	c.mu.Unlock()
	if err := os.WriteFile(filepath.Join(c.dir, name), body, 0o644); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.WriteHeader(http.StatusOK)
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: capture <output folder>")
		os.Exit(2)
	}
	c := &capture{dir: os.Args[1], n: map[string]int{}}
	srv := httptest.NewServer(c)
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	for _, comp := range []string{"none", "gzip"} {
		c.mu.Lock()
		c.comp = comp
		c.mu.Unlock()
		if err := run(host, comp == "gzip"); err != nil {
			fmt.Fprintln(os.Stderr, "capture:", err)
			os.Exit(1)
		}
	}
	sort.Strings(c.man)
	man := "# written by testdata/sdk/capture with the OpenTelemetry Go SDK; see README.md\n" + strings.Join(c.man, "\n") + "\n"
	if err := os.WriteFile(filepath.Join(c.dir, "MANIFEST.txt"), []byte(man), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "capture:", err)
		os.Exit(1)
	}
}

// run produces a realistic mix of each signal: a Lambda-like resource,
// nested spans with events, links, errors and attributes of every type;
// counters, gauges, histograms (explicit and exponential) and up-down
// counters; log records with every body kind.
func run(host string, gz bool) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res := resource.NewWithAttributes(semconv.SchemaURL,
		semconv.ServiceName("checkout"),
		semconv.FaaSName("orders"),
		semconv.CloudProviderAWS,
		semconv.CloudRegion("us-east-1"),
		attribute.String("deployment.environment", "prod"),
	)

	tOpts := []otlptracehttp.Option{otlptracehttp.WithEndpoint(host), otlptracehttp.WithInsecure()}
	mOpts := []otlpmetrichttp.Option{otlpmetrichttp.WithEndpoint(host), otlpmetrichttp.WithInsecure()}
	lOpts := []otlploghttp.Option{otlploghttp.WithEndpoint(host), otlploghttp.WithInsecure()}
	if gz {
		tOpts = append(tOpts, otlptracehttp.WithCompression(otlptracehttp.GzipCompression))
		mOpts = append(mOpts, otlpmetrichttp.WithCompression(otlpmetrichttp.GzipCompression))
		lOpts = append(lOpts, otlploghttp.WithCompression(otlploghttp.GzipCompression))
	} else {
		tOpts = append(tOpts, otlptracehttp.WithCompression(otlptracehttp.NoCompression))
		mOpts = append(mOpts, otlpmetrichttp.WithCompression(otlpmetrichttp.NoCompression))
		lOpts = append(lOpts, otlploghttp.WithCompression(otlploghttp.NoCompression))
	}

	// Traces.
	te, err := otlptracehttp.New(ctx, tOpts...)
	if err != nil {
		return err
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithResource(res), sdktrace.WithBatcher(te))
	tr := tp.Tracer("capture/handler", trace.WithInstrumentationVersion("1.2.3"))
	root, rs := tr.Start(ctx, "GET /orders/{id}", trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(
			attribute.String("http.request.method", "GET"),
			attribute.Int("http.response.status_code", 200),
			attribute.Bool("faas.coldstart", true),
			attribute.Float64("ratio", 0.25),
			attribute.StringSlice("tags", []string{"a", "b", "ü"}),
			attribute.Int64Slice("ids", []int64{1, -2, 1 << 40}),
			attribute.Float64Slice("weights", []float64{0.5, -1e300}),
			attribute.BoolSlice("flags", []bool{true, false}),
		))
	_, child := tr.Start(root, "SELECT orders", trace.WithSpanKind(trace.SpanKindClient),
		trace.WithLinks(trace.Link{SpanContext: rs.SpanContext(), Attributes: []attribute.KeyValue{attribute.String("link", "self")}}))
	child.AddEvent("retry", trace.WithAttributes(attribute.Int("attempt", 2)))
	child.RecordError(errors.New("connection reset"))
	child.SetStatus(codes.Error, "db unavailable")
	child.End()
	rs.End()
	for i := range 3 {
		_, s := tr.Start(root, fmt.Sprintf("batch-%d", i), trace.WithSpanKind(trace.SpanKindInternal))
		s.End()
	}
	if err := tp.Shutdown(ctx); err != nil {
		return fmt.Errorf("traces: %w", err)
	}

	// Metrics.
	me, err := otlpmetrichttp.New(ctx, mOpts...)
	if err != nil {
		return err
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithResource(res),
		sdkmetric.WithReader(sdkmetric.NewPeriodicReader(me, sdkmetric.WithInterval(time.Hour))),
		sdkmetric.WithView(sdkmetric.NewView(sdkmetric.Instrument{Name: "latency.exp"},
			sdkmetric.Stream{Aggregation: sdkmetric.AggregationBase2ExponentialHistogram{MaxSize: 160, MaxScale: 20}})))
	m := mp.Meter("capture/meter")
	cnt, _ := m.Int64Counter("requests")
	cnt.Add(ctx, 3, metricAttrs("GET"))
	cnt.Add(ctx, 1, metricAttrs("POST"))
	fc, _ := m.Float64Counter("bytes.out")
	fc.Add(ctx, 1234.5)
	ud, _ := m.Int64UpDownCounter("inflight")
	ud.Add(ctx, -2)
	h, _ := m.Float64Histogram("latency")
	for _, v := range []float64{0.001, 0.02, 0.3, 4, 50} {
		h.Record(ctx, v, metricAttrs("GET"))
	}
	eh, _ := m.Float64Histogram("latency.exp")
	for _, v := range []float64{0.001, 0.02, 0.3, 4, 50, 0} {
		eh.Record(ctx, v)
	}
	g, _ := m.Int64Gauge("queue.depth")
	g.Record(ctx, 17)
	if err := mp.Shutdown(ctx); err != nil {
		return fmt.Errorf("metrics: %w", err)
	}

	// Logs.
	le, err := otlploghttp.New(ctx, lOpts...)
	if err != nil {
		return err
	}
	lp := sdklog.NewLoggerProvider(sdklog.WithResource(res), sdklog.WithProcessor(sdklog.NewBatchProcessor(le)))
	lg := lp.Logger("capture/logger", otellog.WithInstrumentationVersion("0.1"))
	lctx, ls := tr.Start(ctx, "with-logs")
	bodies := []attribute.Value{
		attribute.StringValue("order 42 shipped"),
		attribute.IntValue(7),
		attribute.BoolValue(false),
		attribute.Float64Value(3.5),
		attribute.ByteSliceValue([]byte{0, 1, 0xff}),
		attribute.SliceValue(attribute.StringValue("x"), attribute.IntValue(1)),
		attribute.MapValue(attribute.String("k", "v"), attribute.Map("nested", attribute.Int("n", 1))),
	}
	for i, b := range bodies {
		var r otellog.Record
		r.SetTimestamp(time.Unix(1_700_000_000, int64(i)))
		r.SetObservedTimestamp(time.Unix(1_700_000_001, 0))
		r.SetSeverity(otellog.Severity(1 + 4*(i%6)))
		r.SetSeverityText([]string{"TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"}[i%6])
		r.SetBody(b)
		r.SetEventName("capture.event")
		r.AddAttributes(attribute.String("aws.request_id", "8f5e"), attribute.Int("i", i))
		lg.Emit(lctx, r)
	}
	ls.End()
	if err := lp.Shutdown(ctx); err != nil {
		return fmt.Errorf("logs: %w", err)
	}
	return nil
}

func metricAttrs(method string) metric.MeasurementOption {
	return metric.WithAttributes(attribute.String("http.request.method", method))
}
