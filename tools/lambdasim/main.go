// Command lambdasim runs a Lambda extension binary in the lambdasim emulator
// against a local OTLP/HTTP sink, and reports what happened.
//
//	go run ./tools/lambdasim -ext <extension binary> [-invokes 5] [-v]
//
// It starts an OTLP/HTTP sink on 127.0.0.1 and points the extension at it
// with OTEL_EXPORTER_OTLP_ENDPOINT, runs Init, then per invocation a sample
// function that sends one OTLP/HTTP protobuf span to the extension's
// receiver (http://127.0.0.1:<-otlp-port>/v1/traces) and prints two log
// lines, then SHUTDOWN. It prints the extension's init time, one line per
// invocation (duration, post-runtime time), the shutdown time and exit
// code, and what the sink received. The exit code is 1 if anything failed
// (init, an invocation, a span post, an unclean shutdown, or spans missing
// at the sink) and 2 for bad flags.
//
// This command and the OTLP proto types it uses are never linked into the
// extension binary.
package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"otel-lambda-extension/internal/lambdasim"

	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

const demoSpanName = "demo-invocation"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

type envFlags []string

func (e *envFlags) String() string { return strings.Join(*e, ",") }
func (e *envFlags) Set(v string) error {
	if !strings.Contains(v, "=") {
		return fmt.Errorf("-env %q: want KEY=VALUE", v)
	}
	*e = append(*e, v)
	return nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("lambdasim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	ext := fs.String("ext", "", "path to the extension binary (required)")
	invokes := fs.Int("invokes", 5, "number of invocations")
	verbose := fs.Bool("v", false, "copy the extension's stdout/stderr to stderr")
	otlpPort := fs.Int("otlp-port", 4318, "port of the extension's OTLP/HTTP receiver the function sends to")
	timeout := fs.Duration("timeout", 3*time.Second, "function timeout (covers extension post-processing)")
	memory := fs.Int("memory", 128, "function memory in MB")
	logFormat := fs.String("log-format", "text", "Lambda log format: text or json")
	var env envFlags
	fs.Var(&env, "env", "extra KEY=VALUE for the function environment (repeatable)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *ext == "" {
		fmt.Fprintln(stderr, "lambdasim: -ext is required")
		fs.Usage()
		return 2
	}
	extPath, err := filepath.Abs(*ext)
	if err != nil {
		fmt.Fprintf(stderr, "lambdasim: -ext %q: %v\n", *ext, err)
		return 2
	}

	sink, err := startSink()
	if err != nil {
		fmt.Fprintf(stderr, "lambdasim: sink: %v\n", err)
		return 1
	}
	defer sink.close()

	cfg := lambdasim.Config{
		ExtensionPaths: []string{extPath},
		Env: map[string]string{
			"OTEL_EXPORTER_OTLP_ENDPOINT": "http://" + sink.addr,
			"OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
			"OTEL_SERVICE_NAME":           "lambdasim-demo",
		},
		FunctionName:    "lambdasim-demo",
		MemoryMB:        *memory,
		FunctionTimeout: *timeout,
		LogFormat:       *logFormat,
	}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		cfg.Env[k] = v
	}
	if *verbose {
		cfg.Stderr = stderr
	}
	failed := false
	fail := func(format string, a ...any) {
		failed = true
		fmt.Fprintf(stdout, "FAIL: "+format+"\n", a...)
	}

	fmt.Fprintf(stdout, "sink: http://%s   extension: %s\n", sink.addr, extPath)
	sim, err := lambdasim.Start(ctx, cfg)
	if sim != nil {
		defer sim.Close()
	}
	if err != nil {
		fmt.Fprintf(stdout, "FAIL: init: %v\n", err)
		if sim != nil {
			printOutput(stdout, sim, filepath.Base(extPath))
		}
		return 1
	}
	for name, d := range sim.InitDurations() {
		fmt.Fprintf(stdout, "init: %s ready in %s (Init phase %s)\n", name, fmtDur(d), fmtDur(sim.InitDuration()))
	}

	endpoint := fmt.Sprintf("http://127.0.0.1:%d", *otlpPort)
	posted := 0
	for i := range *invokes {
		var postErr error
		res, err := sim.Invoke(ctx, func(inv *lambdasim.Invocation) error {
			inv.Printf("demo invocation %d starting", i+1)
			body, err := demoSpan(inv, i+1)
			if err != nil {
				return err
			}
			code, resp, err := inv.PostOTLP(endpoint, "traces", body, false)
			switch {
			case err != nil:
				postErr = err
			case code/100 != 2:
				postErr = fmt.Errorf("receiver answered %d: %.200s", code, resp)
			}
			inv.Printf("demo invocation %d done", i+1)
			inv.Respond([]byte(`{"statusCode":200}`))
			return nil
		})
		if err != nil {
			fail("invoke %d: %v", i+1, err)
			break
		}
		var post []string
		for name, d := range res.PostRuntime {
			post = append(post, fmt.Sprintf("%s %s", name, fmtDur(d)))
		}
		fmt.Fprintf(stdout, "invoke %d: %s  duration %s  runtime %s  post-runtime %s\n",
			i+1, res.Status, fmtDur(res.Duration), fmtDur(res.RuntimeDuration), strings.Join(post, ", "))
		if postErr != nil {
			fail("invoke %d: span post to %s: %v", i+1, endpoint, postErr)
		} else {
			posted++
		}
		if res.Status != "success" {
			fail("invoke %d: status %s %s", i+1, res.Status, res.ErrorType)
		}
		if res.Reset != nil {
			fail("invoke %d: sandbox reset (%s)", i+1, res.Reset.Reason)
			break
		}
	}

	sr := sim.Shutdown("spindown")
	for _, x := range sr.Extensions {
		fmt.Fprintf(stdout, "shutdown: %s exited %d after %s (budget %s)\n", x.Name, x.ExitCode, fmtDur(x.Elapsed), "2s")
		if x.Killed || x.ExitCode != 0 {
			fail("shutdown: %s exit code %d, killed %v", x.Name, x.ExitCode, x.Killed)
		}
	}
	if *verbose {
		printOutput(stdout, sim, filepath.Base(extPath))
	}

	got := sink.summary(stdout)
	if got < posted {
		fail("sink got %d of the function's %d %q spans", got, posted, demoSpanName)
	}
	if failed {
		return 1
	}
	fmt.Fprintln(stdout, "OK")
	return 0
}

func fmtDur(d time.Duration) string {
	return fmt.Sprintf("%.1fms", float64(d.Microseconds())/1000)
}

func printOutput(w io.Writer, sim *lambdasim.Sim, name string) {
	stdout, stderr := sim.Output(name)
	fmt.Fprintf(w, "--- %s stdout (%d bytes) / stderr (%d bytes)\n%s%s", name, len(stdout), len(stderr), stdout, stderr)
}

// demoSpan builds one OTLP span in the invocation's X-Ray trace.
func demoSpan(inv *lambdasim.Invocation, n int) ([]byte, error) {
	traceID, parent := xrayIDs(inv.TraceHeader)
	spanID := make([]byte, 8)
	copy(spanID, inv.RequestID[:8])
	now := time.Now()
	str := func(k, v string) *commonpb.KeyValue {
		return &commonpb.KeyValue{Key: k, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: v}}}
	}
	td := &tracepb.TracesData{ResourceSpans: []*tracepb.ResourceSpans{{
		Resource: &resourcepb.Resource{Attributes: []*commonpb.KeyValue{str("service.name", "lambdasim-demo-function")}},
		ScopeSpans: []*tracepb.ScopeSpans{{
			Scope: &commonpb.InstrumentationScope{Name: "lambdasim-demo"},
			Spans: []*tracepb.Span{{
				TraceId:           traceID,
				SpanId:            spanID,
				ParentSpanId:      parent,
				Name:              demoSpanName,
				Kind:              tracepb.Span_SPAN_KIND_SERVER,
				StartTimeUnixNano: uint64(now.Add(-time.Millisecond).UnixNano()),
				EndTimeUnixNano:   uint64(now.UnixNano()),
				Attributes:        []*commonpb.KeyValue{str("faas.invocation_id", inv.RequestID), str("demo.n", fmt.Sprint(n))},
			}},
		}},
	}}}
	return proto.Marshal(td)
}

// xrayIDs maps "Root=1-<8hex>-<24hex>;Parent=<16hex>" to W3C ids.
func xrayIDs(h string) (traceID, parent []byte) {
	for part := range strings.SplitSeq(h, ";") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch strings.ToLower(k) {
		case "root":
			if id, err := hex.DecodeString(strings.ReplaceAll(strings.TrimPrefix(v, "1-"), "-", "")); err == nil && len(id) == 16 {
				traceID = id
			}
		case "parent":
			if id, err := hex.DecodeString(v); err == nil && len(id) == 8 {
				parent = id
			}
		}
	}
	if traceID == nil {
		traceID = make([]byte, 16)
		traceID[15] = 1
	}
	return traceID, parent
}

// sink is a local OTLP/HTTP backend that decodes and remembers what it got.
type sink struct {
	addr string
	srv  *http.Server
	done chan struct{}

	mu       sync.Mutex
	requests map[string]int
	spans    map[string]int
	metrics  map[string]*metricTotal
	logs     []string
	errs     []string
}

func startSink() (*sink, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &sink{addr: ln.Addr().String(), done: make(chan struct{}), requests: map[string]int{}, spans: map[string]int{}, metrics: map[string]*metricTotal{}}
	s.srv = &http.Server{Handler: http.HandlerFunc(s.handle), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		defer close(s.done)
		_ = s.srv.Serve(ln)
	}()
	return s, nil
}

func (s *sink) close() {
	_ = s.srv.Close()
	<-s.done
}

func (s *sink) handle(w http.ResponseWriter, r *http.Request) {
	// 64 MiB: far above any OTLP batch the extension should send.
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 64<<20))
	if err == nil && r.Header.Get("Content-Encoding") == "gzip" {
		var zr *gzip.Reader
		if zr, err = gzip.NewReader(bytes.NewReader(body)); err == nil {
			body, err = io.ReadAll(io.LimitReader(zr, 256<<20))
		}
	}
	if err != nil {
		s.fail(w, r, "read body: %v", err)
		return
	}
	unmarshal := proto.Unmarshal
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		unmarshal = protojson.Unmarshal
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests[r.URL.Path]++
	switch r.URL.Path {
	case "/v1/traces":
		var td tracepb.TracesData
		if err := unmarshal(body, &td); err != nil {
			s.failLocked(w, r, "decode traces: %v", err)
			return
		}
		for _, rs := range td.ResourceSpans {
			for _, ss := range rs.ScopeSpans {
				for _, sp := range ss.Spans {
					s.spans[sp.Name]++
				}
			}
		}
	case "/v1/metrics":
		var md metricspb.MetricsData
		if err := unmarshal(body, &md); err != nil {
			s.failLocked(w, r, "decode metrics: %v", err)
			return
		}
		for _, rm := range md.ResourceMetrics {
			for _, sm := range rm.ScopeMetrics {
				for _, m := range sm.Metrics {
					t := s.metrics[m.Name]
					if t == nil {
						t = &metricTotal{}
						s.metrics[m.Name] = t
					}
					t.add(m)
				}
			}
		}
	case "/v1/logs":
		var ld logspb.LogsData
		if err := unmarshal(body, &ld); err != nil {
			s.failLocked(w, r, "decode logs: %v", err)
			return
		}
		for _, rl := range ld.ResourceLogs {
			for _, sl := range rl.ScopeLogs {
				for _, lr := range sl.LogRecords {
					s.logs = append(s.logs, anyString(lr.Body))
				}
			}
		}
	default:
		s.failLocked(w, r, "unknown path")
		return
	}
	w.Header().Set("Content-Type", r.Header.Get("Content-Type"))
	w.WriteHeader(http.StatusOK)
}

func (s *sink) fail(w http.ResponseWriter, r *http.Request, format string, a ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failLocked(w, r, format, a...)
}

func (s *sink) failLocked(w http.ResponseWriter, r *http.Request, format string, a ...any) {
	msg := r.URL.Path + ": " + fmt.Sprintf(format, a...)
	s.errs = append(s.errs, msg)
	http.Error(w, msg, http.StatusBadRequest)
}

// metricTotal adds up what arrived for one metric: the values of sums and
// gauges (gauges keep the last), the counts and sums of histograms.
type metricTotal struct {
	histogram  bool
	count      uint64
	sum, value float64
	points     int
}

func (t *metricTotal) add(m *metricspb.Metric) {
	num := func(p *metricspb.NumberDataPoint) float64 {
		if v, ok := p.Value.(*metricspb.NumberDataPoint_AsInt); ok {
			return float64(v.AsInt)
		}
		return p.GetAsDouble()
	}
	switch d := m.Data.(type) {
	case *metricspb.Metric_Gauge:
		for _, p := range d.Gauge.DataPoints {
			t.value, t.points = num(p), t.points+1
		}
	case *metricspb.Metric_Sum:
		for _, p := range d.Sum.DataPoints {
			t.value, t.points = t.value+num(p), t.points+1
		}
	case *metricspb.Metric_Histogram:
		t.histogram = true
		for _, p := range d.Histogram.DataPoints {
			t.count, t.sum, t.points = t.count+p.Count, t.sum+p.GetSum(), t.points+1
		}
	case *metricspb.Metric_ExponentialHistogram:
		t.histogram = true
		for _, p := range d.ExponentialHistogram.DataPoints {
			t.count, t.sum, t.points = t.count+p.Count, t.sum+p.GetSum(), t.points+1
		}
	}
}

func (t *metricTotal) String() string {
	if t.histogram {
		return fmt.Sprintf("count=%d sum=%g (%d points)", t.count, t.sum, t.points)
	}
	return fmt.Sprintf("%g (%d points)", t.value, t.points)
}

func anyString(v *commonpb.AnyValue) string {
	if v == nil {
		return ""
	}
	if sv, ok := v.Value.(*commonpb.AnyValue_StringValue); ok {
		return sv.StringValue
	}
	b, _ := protojson.Marshal(v)
	return string(b)
}

// summary prints what arrived and returns how many demo spans it holds.
func (s *sink) summary(w io.Writer) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	fmt.Fprintf(w, "sink: requests %v\n", s.requests)
	total := 0
	for _, n := range s.spans {
		total += n
	}
	fmt.Fprintf(w, "sink: %d spans\n", total)
	for _, name := range slices.Sorted(maps.Keys(s.spans)) {
		fmt.Fprintf(w, "  span %-40s x%d\n", name, s.spans[name])
	}
	fmt.Fprintf(w, "sink: %d metrics\n", len(s.metrics))
	for _, name := range slices.Sorted(maps.Keys(s.metrics)) {
		fmt.Fprintf(w, "  metric %-38s %s\n", name, s.metrics[name])
	}
	fmt.Fprintf(w, "sink: %d log records\n", len(s.logs))
	const maxShown = 20 // keep the demo output readable
	for i, l := range s.logs {
		if i == maxShown {
			fmt.Fprintf(w, "  … %d more\n", len(s.logs)-maxShown)
			break
		}
		fmt.Fprintf(w, "  log %.160q\n", l)
	}
	for _, e := range s.errs {
		fmt.Fprintf(w, "sink: rejected %s\n", e)
	}
	return s.spans[demoSpanName]
}
