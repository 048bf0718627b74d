// sdk_test.go owns the Go SDK side: a known set of spans, metrics and log
// records produced through the real OpenTelemetry Go SDK and exported by
// its real OTLP exporters (otlp{trace,metric,log}{http,grpc}) to the
// extension's receivers. Every exporter is teed: the very same SDK batch is
// also exported, by an exporter of the same kind, to a reference backend,
// which gives the oracle: what the extension's backend receives must equal
// what the reference received.
package e2e

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploggrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploghttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	otellog "go.opentelemetry.io/otel/log"
	"go.opentelemetry.io/otel/metric"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdkresource "go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// sdkTimeout bounds each SDK export (no retries: a failure must show).
const sdkTimeout = 5 * time.Second

// cellKey is the resource attribute that tells one matrix cell's data from
// another's at the backend.
const cellKey = "e2e.cell"

// target is where one set of SDK exporters sends.
type target struct {
	proto string // "http" or "grpc"
	addr  string // host:port
	gzip  bool
}

func sdkResource(cell string) *sdkresource.Resource {
	return sdkresource.NewSchemaless(
		attribute.String("service.name", "e2e-go-sdk"),
		attribute.String(cellKey, cell),
		attribute.String("telemetry.sdk.language", "go"),
		attribute.Int("e2e.resource.int", 7),
	)
}

// teeErrs collects the errors of the exporters towards the extension.
type teeErrs struct {
	mu   sync.Mutex
	errs []error
}

func (e *teeErrs) add(err error) {
	if err == nil {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.errs = append(e.errs, err)
}

func (e *teeErrs) err() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return errors.Join(e.errs...)
}

// ---- traces

func newSpanExporter(ctx context.Context, tg target) (sdktrace.SpanExporter, error) {
	if tg.proto == "grpc" {
		opts := []otlptracegrpc.Option{otlptracegrpc.WithEndpoint(tg.addr), otlptracegrpc.WithInsecure(),
			otlptracegrpc.WithTimeout(sdkTimeout), otlptracegrpc.WithRetry(otlptracegrpc.RetryConfig{Enabled: false})}
		if tg.gzip {
			opts = append(opts, otlptracegrpc.WithCompressor("gzip"))
		}
		return otlptracegrpc.New(ctx, opts...)
	}
	comp := otlptracehttp.NoCompression
	if tg.gzip {
		comp = otlptracehttp.GzipCompression
	}
	return otlptracehttp.New(ctx, otlptracehttp.WithEndpoint(tg.addr), otlptracehttp.WithInsecure(),
		otlptracehttp.WithCompression(comp), otlptracehttp.WithTimeout(sdkTimeout),
		otlptracehttp.WithRetry(otlptracehttp.RetryConfig{Enabled: false}))
}

type teeSpanExporter struct {
	main, ref sdktrace.SpanExporter
	errs      *teeErrs
}

func (e teeSpanExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	err := e.main.ExportSpans(ctx, spans)
	e.errs.add(err)
	return errors.Join(err, e.ref.ExportSpans(ctx, spans))
}

func (e teeSpanExporter) Shutdown(ctx context.Context) error {
	return errors.Join(e.main.Shutdown(ctx), e.ref.Shutdown(ctx))
}

// sendTraces produces 5 spans in two scopes: attributes of every type,
// events, a link with attributes, an error status, every span kind the
// test needs, a remote parent.
func sendTraces(ctx context.Context, cell string, to, ref target) (int, error) {
	mainExp, err := newSpanExporter(ctx, to)
	if err != nil {
		return 0, fmt.Errorf("trace exporter: %w", err)
	}
	refExp, err := newSpanExporter(ctx, ref)
	if err != nil {
		return 0, fmt.Errorf("reference trace exporter: %w", err)
	}
	errs := &teeErrs{}
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithResource(sdkResource(cell)),
		sdktrace.WithSampler(sdktrace.AlwaysSample()),
		sdktrace.WithSpanProcessor(sdktrace.NewBatchSpanProcessor(teeSpanExporter{mainExp, refExp, errs})),
	)
	tr := tp.Tracer("e2e/tracer", trace.WithInstrumentationVersion("1.2.3"),
		trace.WithSchemaURL("https://opentelemetry.io/schemas/1.26.0"),
		trace.WithInstrumentationAttributes(attribute.String("scope.attr", "x")))
	other := tp.Tracer("e2e/other")

	remote := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID:    trace.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36},
		SpanID:     trace.SpanID{0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7},
		TraceFlags: trace.FlagsSampled,
		TraceState: mustTraceState("vendor=abc,other=1"),
		Remote:     true,
	})
	pctx := trace.ContextWithRemoteSpanContext(ctx, remote)
	t0 := time.Now()
	rctx, root := tr.Start(pctx, "handle /orders", trace.WithSpanKind(trace.SpanKindServer), trace.WithTimestamp(t0),
		trace.WithAttributes(
			attribute.String("http.request.method", "POST"),
			attribute.Int64("http.response.status_code", 201),
			attribute.Float64("e2e.ratio", 0.25),
			attribute.Bool("e2e.flag", true),
			attribute.StringSlice("e2e.tags", []string{"a", "b", "ünïcødé"}),
			attribute.Int64Slice("e2e.ints", []int64{-1, 0, 1 << 40}),
			attribute.Float64Slice("e2e.floats", []float64{1.5, -2}),
			attribute.BoolSlice("e2e.bools", []bool{true, false}),
		))
	root.AddEvent("order.received", trace.WithTimestamp(t0.Add(time.Millisecond)),
		trace.WithAttributes(attribute.String("order.id", "o-1"), attribute.Int("items", 3)))
	_, target := tr.Start(rctx, "lookup stock", trace.WithSpanKind(trace.SpanKindInternal), trace.WithTimestamp(t0.Add(2*time.Millisecond)))
	target.End(trace.WithTimestamp(t0.Add(3 * time.Millisecond)))
	_, child := tr.Start(rctx, "POST payments", trace.WithSpanKind(trace.SpanKindClient), trace.WithTimestamp(t0.Add(4*time.Millisecond)),
		trace.WithLinks(trace.Link{SpanContext: target.SpanContext(), Attributes: []attribute.KeyValue{attribute.String("link.kind", "follows")}}))
	child.RecordError(errors.New("payment declined"), trace.WithTimestamp(t0.Add(5*time.Millisecond)))
	child.SetStatus(codes.Error, "payment declined")
	child.End(trace.WithTimestamp(t0.Add(6 * time.Millisecond)))
	_, prod := other.Start(rctx, "publish order", trace.WithSpanKind(trace.SpanKindProducer), trace.WithTimestamp(t0.Add(7*time.Millisecond)))
	prod.SetStatus(codes.Ok, "")
	prod.End(trace.WithTimestamp(t0.Add(8 * time.Millisecond)))
	_, cons := other.Start(ctx, "consume order", trace.WithSpanKind(trace.SpanKindConsumer), trace.WithNewRoot(),
		trace.WithTimestamp(t0.Add(9*time.Millisecond)))
	cons.End(trace.WithTimestamp(t0.Add(10 * time.Millisecond)))
	root.End(trace.WithTimestamp(t0.Add(11 * time.Millisecond)))

	ferr := tp.ForceFlush(ctx)
	serr := tp.Shutdown(ctx)
	return 5, errors.Join(errs.err(), ferr, serr)
}

func mustTraceState(s string) trace.TraceState {
	ts, err := trace.ParseTraceState(s)
	if err != nil {
		panic(err)
	}
	return ts
}

// ---- metrics

func newMetricExporter(ctx context.Context, tg target) (sdkmetric.Exporter, error) {
	if tg.proto == "grpc" {
		opts := []otlpmetricgrpc.Option{otlpmetricgrpc.WithEndpoint(tg.addr), otlpmetricgrpc.WithInsecure(),
			otlpmetricgrpc.WithTimeout(sdkTimeout), otlpmetricgrpc.WithRetry(otlpmetricgrpc.RetryConfig{Enabled: false})}
		if tg.gzip {
			opts = append(opts, otlpmetricgrpc.WithCompressor("gzip"))
		}
		return otlpmetricgrpc.New(ctx, opts...)
	}
	comp := otlpmetrichttp.NoCompression
	if tg.gzip {
		comp = otlpmetrichttp.GzipCompression
	}
	return otlpmetrichttp.New(ctx, otlpmetrichttp.WithEndpoint(tg.addr), otlpmetrichttp.WithInsecure(),
		otlpmetrichttp.WithCompression(comp), otlpmetrichttp.WithTimeout(sdkTimeout),
		otlpmetrichttp.WithRetry(otlpmetrichttp.RetryConfig{Enabled: false}))
}

// teeMetricExporter exports each collection to both exporters. Once sealed
// it drops further exports: the reader's Shutdown collects once more, and
// the test wants exactly the force-flushed collection.
type teeMetricExporter struct {
	main, ref sdkmetric.Exporter
	errs      *teeErrs
	mu        sync.Mutex
	sealed    bool
}

func (e *teeMetricExporter) Temporality(k sdkmetric.InstrumentKind) metricdata.Temporality {
	return e.main.Temporality(k)
}

func (e *teeMetricExporter) Aggregation(k sdkmetric.InstrumentKind) sdkmetric.Aggregation {
	return e.main.Aggregation(k)
}

func (e *teeMetricExporter) Export(ctx context.Context, rm *metricdata.ResourceMetrics) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.sealed {
		return nil
	}
	err := e.main.Export(ctx, rm)
	e.errs.add(err)
	return errors.Join(err, e.ref.Export(ctx, rm))
}

func (e *teeMetricExporter) seal() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.sealed = true
}

func (e *teeMetricExporter) ForceFlush(ctx context.Context) error {
	return errors.Join(e.main.ForceFlush(ctx), e.ref.ForceFlush(ctx))
}

func (e *teeMetricExporter) Shutdown(ctx context.Context) error {
	return errors.Join(e.main.Shutdown(ctx), e.ref.Shutdown(ctx))
}

// sendMetrics records a counter (two attribute sets), an up-down counter, a
// gauge, an explicit-bucket histogram and an observable counter: 7 data
// points in one collection.
func sendMetrics(ctx context.Context, cell string, to, ref target) (int, error) {
	mainExp, err := newMetricExporter(ctx, to)
	if err != nil {
		return 0, fmt.Errorf("metric exporter: %w", err)
	}
	refExp, err := newMetricExporter(ctx, ref)
	if err != nil {
		return 0, fmt.Errorf("reference metric exporter: %w", err)
	}
	errs := &teeErrs{}
	tee := &teeMetricExporter{main: mainExp, ref: refExp, errs: errs}
	// 1 h: no periodic export; only ForceFlush exports.
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithResource(sdkResource(cell)),
		sdkmetric.WithReader(sdkmetric.NewPeriodicReader(tee, sdkmetric.WithInterval(time.Hour))))
	m := mp.Meter("e2e/meter", metric.WithInstrumentationVersion("0.9.0"))

	counter, err1 := m.Int64Counter("e2e.requests", metric.WithUnit("{request}"), metric.WithDescription("requests handled"))
	updown, err2 := m.Float64UpDownCounter("e2e.queue.depth", metric.WithUnit("{item}"))
	gauge, err3 := m.Float64Gauge("e2e.temperature", metric.WithUnit("Cel"), metric.WithDescription("room temperature"))
	hist, err4 := m.Float64Histogram("e2e.latency", metric.WithUnit("ms"),
		metric.WithExplicitBucketBoundaries(1, 5, 10, 50, 100))
	_, err5 := m.Int64ObservableCounter("e2e.cpu.ticks", metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
		o.Observe(12345, metric.WithAttributes(attribute.String("cpu", "0")))
		return nil
	}))
	if err := errors.Join(err1, err2, err3, err4, err5); err != nil {
		return 0, fmt.Errorf("instruments: %w", err)
	}
	a := metric.WithAttributes(attribute.String("http.route", "/a"), attribute.Bool("ok", true))
	b := metric.WithAttributes(attribute.String("http.route", "/b"), attribute.Bool("ok", false))
	counter.Add(ctx, 3, a)
	counter.Add(ctx, 4, a)
	counter.Add(ctx, 5, b)
	updown.Add(ctx, 10.5)
	updown.Add(ctx, -2.25)
	gauge.Record(ctx, 21.5, metric.WithAttributes(attribute.String("room", "lab")))
	for _, v := range []float64{0.5, 3, 7, 7, 42, 420} {
		hist.Record(ctx, v, a)
	}
	hist.Record(ctx, 99, b)

	ferr := mp.ForceFlush(ctx)
	tee.seal()
	serr := mp.Shutdown(ctx)
	return 7, errors.Join(errs.err(), ferr, serr)
}

// ---- logs

func newLogExporter(ctx context.Context, tg target) (sdklog.Exporter, error) {
	if tg.proto == "grpc" {
		opts := []otlploggrpc.Option{otlploggrpc.WithEndpoint(tg.addr), otlploggrpc.WithInsecure(),
			otlploggrpc.WithTimeout(sdkTimeout), otlploggrpc.WithRetry(otlploggrpc.RetryConfig{Enabled: false})}
		if tg.gzip {
			opts = append(opts, otlploggrpc.WithCompressor("gzip"))
		}
		return otlploggrpc.New(ctx, opts...)
	}
	comp := otlploghttp.NoCompression
	if tg.gzip {
		comp = otlploghttp.GzipCompression
	}
	return otlploghttp.New(ctx, otlploghttp.WithEndpoint(tg.addr), otlploghttp.WithInsecure(),
		otlploghttp.WithCompression(comp), otlploghttp.WithTimeout(sdkTimeout),
		otlploghttp.WithRetry(otlploghttp.RetryConfig{Enabled: false}))
}

type teeLogExporter struct {
	main, ref sdklog.Exporter
	errs      *teeErrs
}

func (e teeLogExporter) Export(ctx context.Context, records []sdklog.Record) error {
	err := e.main.Export(ctx, records)
	e.errs.add(err)
	return errors.Join(err, e.ref.Export(ctx, records))
}

func (e teeLogExporter) Shutdown(ctx context.Context) error {
	return errors.Join(e.main.Shutdown(ctx), e.ref.Shutdown(ctx))
}

func (e teeLogExporter) ForceFlush(ctx context.Context) error {
	return errors.Join(e.main.ForceFlush(ctx), e.ref.ForceFlush(ctx))
}

// sendLogs emits 4 records in two scopes: string, map, bytes and empty
// bodies, every severity field, attributes of every type, an event name,
// and trace correlation.
func sendLogs(ctx context.Context, cell string, to, ref target) (int, error) {
	mainExp, err := newLogExporter(ctx, to)
	if err != nil {
		return 0, fmt.Errorf("log exporter: %w", err)
	}
	refExp, err := newLogExporter(ctx, ref)
	if err != nil {
		return 0, fmt.Errorf("reference log exporter: %w", err)
	}
	errs := &teeErrs{}
	lp := sdklog.NewLoggerProvider(sdklog.WithResource(sdkResource(cell)),
		sdklog.WithProcessor(sdklog.NewBatchProcessor(teeLogExporter{mainExp, refExp, errs})))
	lg := lp.Logger("e2e/logger", otellog.WithInstrumentationVersion("0.1.0"),
		otellog.WithInstrumentationAttributes(attribute.String("scope.attr", "y")))
	lg2 := lp.Logger("e2e/other-logger")

	sc := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID:    trace.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16},
		SpanID:     trace.SpanID{0xa, 0xb, 0xc, 0xd, 0xe, 0xf, 1, 2},
		TraceFlags: trace.FlagsSampled,
	})
	tctx := trace.ContextWithSpanContext(ctx, sc)
	t0 := time.Now()

	var r1 otellog.Record
	r1.SetTimestamp(t0)
	r1.SetSeverity(otellog.SeverityInfo)
	r1.SetSeverityText("INFO")
	r1.SetBody(attribute.StringValue("order o-1 accepted"))
	r1.AddAttributes(attribute.String("order.id", "o-1"), attribute.Int("items", 3), attribute.Float64("total", 99.5),
		attribute.Bool("paid", true), attribute.StringSlice("tags", []string{"x", "y"}))
	lg.Emit(tctx, r1)

	var r2 otellog.Record
	r2.SetTimestamp(t0.Add(time.Millisecond))
	r2.SetSeverity(otellog.SeverityError2)
	r2.SetSeverityText("ERROR")
	r2.SetEventName("payment.failed")
	r2.SetBody(attribute.MapValue(attribute.String("reason", "declined"), attribute.Int("code", 51),
		attribute.Slice("steps", attribute.StringValue("auth"), attribute.IntValue(2))))
	r2.AddAttributes(attribute.Map("nested", attribute.String("k", "v")))
	lg.Emit(tctx, r2)

	var r3 otellog.Record
	r3.SetTimestamp(t0.Add(2 * time.Millisecond))
	r3.SetSeverity(otellog.SeverityDebug)
	r3.SetBody(attribute.ByteSliceValue([]byte{0, 1, 2, 0xff}))
	lg2.Emit(ctx, r3)

	var r4 otellog.Record // no body, no timestamp: only the observed time
	r4.SetSeverity(otellog.SeverityWarn)
	r4.AddAttributes(attribute.String("only", "attrs"))
	lg2.Emit(ctx, r4)

	ferr := lp.ForceFlush(ctx)
	serr := lp.Shutdown(ctx)
	return 4, errors.Join(errs.err(), ferr, serr)
}
