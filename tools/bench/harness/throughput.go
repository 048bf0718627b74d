// throughput.go owns the throughput and memory sections: otlpload against
// the extension (under lambdasim, one long invocation, `continuously,100`)
// and against an OpenTelemetry Collector (otlp receiver → otlphttp
// exporter) in the same run, both exporting to one local otlpsink; spans/s,
// CPU time per span from /proc/<pid>/stat, and peak RSS (VmHWM). memory
// fills the buffer with the backend down and reads the peak RSS.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"otel-lambda-extension/internal/lambdasim"
	"otel-lambda-extension/internal/otlpsink"
)

// cpuRatioTarget: the extension should move at least five times as many
// spans per CPU-second as the collector doing the same job.
const cpuRatioTarget = 5.0

// Memory targets.
const (
	idleRSSTarget = 8 << 20  // RSS after init
	peakSlack     = 12 << 20 // peak RSS over the buffer's byte budget
	defaultBuffer = 64 << 20 // bufferMaxBytes in config.go: the throughput runs' budget
)

// loadResult is otlpload's JSON line (the fields used here).
type loadResult struct {
	BodyBytes      int     `json:"body_bytes"`
	OK             int64   `json:"ok"`
	Errors         int64   `json:"errors"`
	Spans          int64   `json:"spans"`
	WallSeconds    float64 `json:"wall_s"`
	SpansPerSecond float64 `json:"spans_per_s"`
	P50Millis      float64 `json:"p50_ms"`
	P99Millis      float64 `json:"p99_ms"`
	FirstError     string  `json:"first_error"`
}

// runLoad runs otlpload once and parses its line. A run with failed
// requests still returns its result, with an error.
func runLoad(ctx context.Context, load string, args ...string) (loadResult, error) {
	var out, errb bytes.Buffer
	cmd := exec.CommandContext(ctx, load, args...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	runErr := cmd.Run()
	var r loadResult
	if err := json.Unmarshal(bytes.TrimSpace(out.Bytes()), &r); err != nil {
		return r, fmt.Errorf("otlpload %v: %v: %w: %s", args, runErr, err, errb.String())
	}
	if runErr != nil {
		return r, fmt.Errorf("otlpload: %v (%d errors, first: %s)", runErr, r.Errors, r.FirstError)
	}
	return r, nil
}

// collector is a running OpenTelemetry Collector.
type collector struct {
	cmd  *exec.Cmd
	url  string
	done chan struct{}
	log  bytes.Buffer
}

func startCollector(bin, sinkURL, dir, compression string) (*collector, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	// No batch processor and no memory limiter: the same job as the
	// extension's receiver → exporter. The collector's own metrics are off
	// (they would cost it CPU the extension does not spend), its logs at
	// warn. gzip is the otlphttp exporter's default, as it is ours.
	cfg := fmt.Sprintf(`receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:%d
exporters:
  otlphttp:
    endpoint: %s
    compression: %s
service:
  telemetry:
    logs:
      level: warn
    metrics:
      level: none
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [otlphttp]
`, port, sinkURL, compression)
	path := filepath.Join(dir, "otelcol.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		return nil, err
	}
	c := &collector{url: "http://127.0.0.1:" + strconv.Itoa(port), done: make(chan struct{})}
	c.cmd = exec.Command(bin, "--config", path)
	c.cmd.Stdout, c.cmd.Stderr = &c.log, &c.log
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := c.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { c.cmd.Wait(); close(c.done) }()
	// 30 s: the collector starts in well under a second; a loaded machine
	// gets plenty of room before we call it broken.
	for deadline := time.Now().Add(30 * time.Second); ; {
		conn, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), time.Second)
		if err == nil {
			conn.Close()
			return c, nil
		}
		select {
		case <-c.done:
			return nil, fmt.Errorf("collector exited: %s", c.log.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			c.stop()
			return nil, fmt.Errorf("collector did not listen within 30 s: %s", c.log.String())
		}
	}
}

func (c *collector) pid() int { return c.cmd.Process.Pid }

// stop asks the collector to shut down and kills it if it takes more than
// 5 s (its exporter queue drains into a live sink far faster).
func (c *collector) stop() {
	_ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
		<-c.done
	}
}

// loadCase is one load shape.
type loadCase struct {
	format string
	gzip   bool
}

func (lc loadCase) String() string {
	if lc.gzip {
		return lc.format + ", gzip"
	}
	return lc.format
}

// tpSample is one load run against one target.
type tpSample struct {
	target      string
	lc          loadCase
	ingest      float64 // spans/s as otlpload saw them accepted
	delivered   float64 // spans that reached the sink
	wall        float64 // s, load start → everything at the sink
	cpu         float64 // s of the target's CPU over the same span
	p50, p99    float64
	failed      int64
	bodyBytes   int
	requestsOK  int64
	loadWallSec float64
}

func cmdThroughput(args []string) error {
	var c common
	fs := flag.NewFlagSet("throughput", flag.ContinueOnError)
	c.register(fs)
	ext := fs.String("ext", "", "extension binary")
	col := fs.String("collector", "", "OpenTelemetry Collector binary (empty: not measured)")
	colNote := fs.String("collector-note", "", "why there is no collector, or how it was built")
	load := fs.String("load", "", "otlpload binary")
	reps := fs.Int("reps", 3, "runs per load shape and target")
	requests := fs.Int("requests", 400, "requests per run")
	spans := fs.Int("spans", 512, "spans per request")
	conc := fs.Int("concurrency", 4, "otlpload -concurrency")
	shapes := fs.String("shapes", "protobuf,protobuf+gzip,json,json+gzip", "load shapes, comma separated")
	extraEnv := fs.String("env", "", "extra extension environment, k=v,k=v (for experiments)")
	compression := fs.String("compression", "gzip", "export compression of both targets: gzip or none")
	heading := fs.String("heading", "## 4. Throughput", "the section's heading")
	hwmOut := fs.String("hwm-json", "", "write the peak RSS of both targets here (for memory -hwmjson)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var cases []loadCase
	for _, sh := range strings.Split(*shapes, ",") {
		format, gz := strings.CutSuffix(sh, "+gzip")
		if format != "protobuf" && format != "json" {
			return fmt.Errorf("-shapes: %q is not protobuf or json (with +gzip)", sh)
		}
		cases = append(cases, loadCase{format, gz})
	}
	dir, err := os.MkdirTemp("", "bench-throughput-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	// One sink per target: data of one that arrives late is never counted
	// for the other.
	sink, err := otlpsink.New(otlpsink.Options{CountOnly: true})
	if err != nil {
		return err
	}
	defer sink.Close()
	colSink, err := otlpsink.New(otlpsink.Options{CountOnly: true})
	if err != nil {
		return err
	}
	defer colSink.Close()

	var coll *collector
	if *col != "" {
		coll, err = startCollector(*col, colSink.URL(), dir, *compression)
		if err != nil {
			return err
		}
		defer coll.stop()
	}
	env := parseEnv(*extraEnv)
	env["OTEL_EXPORTER_OTLP_COMPRESSION"] = *compression
	sb, err := startSim(simOpts{bin: *ext, env: map[string]string{
		"OTEL_EXPORTER_OTLP_ENDPOINT": sink.URL(),
		"OTEL_LAMBDA_FLUSH_STRATEGY":  "continuously,100",
		// The largest default budget (a function of 1 GB or more): the
		// 128 MB function's 8 MB would drop most of a burst this size.
		"O2_MAX_BUFFER_SIZE_MB": strconv.Itoa(defaultBuffer >> 20),
	}, extra: env, cfg: lambdasim.Config{NoFreeze: true, FunctionTimeout: 30 * time.Minute}})
	if err != nil {
		return err
	}
	defer sb.sim.Close()

	var samples []tpSample
	measure := func(ctx context.Context, target, url string, pid int, sink *otlpsink.Sink, lc loadCase) error {
		before := sink.Counts().Spans
		cpu0, err := cpuSeconds(pid)
		if err != nil {
			return err
		}
		t0 := time.Now()
		args := []string{"-url", url, "-signal", "traces", "-spans", strconv.Itoa(*spans), "-requests", strconv.Itoa(*requests),
			"-concurrency", strconv.Itoa(*conc), "-format", lc.format, "-timeout", "5m"}
		if lc.gzip {
			args = append(args, "-gzip")
		}
		lr, lerr := runLoad(ctx, *load, args...)
		if lr.OK == 0 && lerr != nil {
			return fmt.Errorf("%s %s: %w", target, lc, lerr)
		}
		// Wait until everything accepted reached the sink, or nothing has
		// arrived for 10 s (the extension exports every 100 ms, the
		// collector at once; a stall that long even on a loaded machine
		// means data was dropped, which the table then shows).
		want := before + int(lr.Spans)
		last, lastAt := sink.Counts().Spans, time.Now()
		for {
			got := sink.Counts().Spans
			if got >= want {
				break
			}
			if got != last {
				last, lastAt = got, time.Now()
			}
			if time.Since(lastAt) > 10*time.Second {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		// A stall ends at the last arrival, not when we gave up waiting.
		wall := lastAt.Sub(t0).Seconds()
		if got := sink.Counts().Spans; got >= want {
			wall = time.Since(t0).Seconds()
		}
		cpu1, err := cpuSeconds(pid)
		if err != nil {
			return err
		}
		samples = append(samples, tpSample{target: target, lc: lc, ingest: lr.SpansPerSecond, delivered: float64(sink.Counts().Spans - before),
			wall: wall, cpu: cpu1 - cpu0, p50: lr.P50Millis, p99: lr.P99Millis, failed: lr.Errors, bodyBytes: lr.BodyBytes, requestsOK: lr.OK, loadWallSec: lr.WallSeconds})
		return nil
	}
	var runErr error
	var extHWM, colHWM float64
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Minute)
	defer cancel()
	res, err := sb.sim.Invoke(ctx, func(inv *lambdasim.Invocation) error {
		for rep := range *reps {
			for _, lc := range cases {
				// Alternate which target goes first, so drift is shared.
				order := []string{"extension", "collector"}
				if rep%2 == 1 {
					order[0], order[1] = order[1], order[0]
				}
				for _, t := range order {
					var err error
					switch {
					case t == "extension":
						err = measure(inv.Context(), t, sb.receiverURL(), sb.pid(), sink, lc)
					case coll != nil:
						err = measure(inv.Context(), t, coll.url, coll.pid(), colSink, lc)
					}
					if err != nil {
						runErr = err
						return err
					}
				}
			}
		}
		extHWM, _ = procStatus(sb.pid(), "VmHWM")
		if coll != nil {
			colHWM, _ = procStatus(coll.pid(), "VmHWM")
		}
		return nil
	})
	if runErr != nil {
		return runErr
	}
	if err != nil {
		return err
	}
	if res.Status != "success" {
		return fmt.Errorf("the load invocation ended %s %s", res.Status, res.ErrorType)
	}

	o := &output{c: &c}
	o.p("%s", *heading)
	o.p("")
	o.p("`tools/otlpload` (%d requests × %d spans, %d connections) to the extension's OTLP/HTTP receiver, which exports to a local `otlpsink` (CountOnly) with `OTEL_LAMBDA_FLUSH_STRATEGY=continuously,100` and a 64 MB buffer (`O2_MAX_BUFFER_SIZE_MB=64`), running under lambdasim in one long invocation without SIGSTOP; and the same load to an OpenTelemetry Collector (%s) exporting to its own identical sink, interleaved, %d runs per shape and target. Both export OTLP/HTTP protobuf with compression %s. Ingest spans/s is what otlpload saw accepted; end-to-end spans/s is spans at the sink per second from the start of the load until the last one arrived; CPU is the target process's utime+stime (/proc/<pid>/stat) from the start of the load until every accepted span reached the sink; spans per CPU-second counts spans that reached the sink. Load generator, sink and target share this machine's cores.", *requests, *spans, *conc, *colNote, *reps, *compression)
	o.p("")
	o.p("| load | target | body | ingest spans/s (median) | min–max | end-to-end spans/s (median) | µs CPU per span (median) | spans per CPU-s (median) | delivered/sent | p50 / p99 request ms |")
	o.p("|---|---|---|---|---|---|---|---|---|---|")
	perCPU := map[string]map[loadCase]float64{"extension": {}, "collector": {}}
	for _, lc := range cases {
		for _, t := range []string{"extension", "collector"} {
			var ingest, e2e, cpuPer, per, p50, p99 []float64
			var delivered, sent float64
			body := 0
			for _, s := range samples {
				if s.target != t || s.lc != lc {
					continue
				}
				ingest = append(ingest, s.ingest)
				e2e = append(e2e, s.delivered/s.wall)
				cpuPer = append(cpuPer, 1e6*s.cpu/max(s.delivered, 1))
				per = append(per, s.delivered/max(s.cpu, 0.01))
				p50 = append(p50, s.p50)
				p99 = append(p99, s.p99)
				delivered += s.delivered
				sent += float64(s.requestsOK) * float64(*spans)
				body = s.bodyBytes
			}
			if len(ingest) == 0 {
				continue
			}
			di := summarise(ingest)
			perCPU[t][lc] = summarise(per).P50
			o.p("| %s | %s | %s | %.0f | %.0f–%.0f | %.0f | %s | %.0f | %.3f | %s / %s |", lc, t, mb(float64(body)), di.P50, di.Min, di.Max, summarise(e2e).P50, f(summarise(cpuPer).P50), summarise(per).P50, delivered/max(sent, 1), f(summarise(p50).P50), f(summarise(p99).P50))
		}
	}
	o.p("")
	if coll == nil {
		o.p("No collector was measured: %s", *colNote)
		o.p("")
		o.na("throughput", "spans per CPU-second ≥ 5× the collector", "collector not built: "+*colNote)
	} else {
		o.p("| load | extension spans per CPU-s | collector spans per CPU-s | ratio | target | verdict |")
		o.p("|---|---|---|---|---|---|")
		var ratios []float64
		for _, lc := range cases {
			r := perCPU["extension"][lc] / max(perCPU["collector"][lc], 1)
			ratios = append(ratios, r)
			o.p("| %s | %.0f | %.0f | %.1f× | ≥ %.0f× | %s |", lc, perCPU["extension"][lc], perCPU["collector"][lc], r, cpuRatioTarget, verdict(r >= cpuRatioTarget))
		}
		o.p("")
		minR := summarise(ratios).Min
		o.target("throughput", "spans per CPU-second ≥ 5× the collector (every load shape)",
			fmt.Sprintf("%.1f× (protobuf) … %.1f× worst shape", ratios[0], minR), minR >= cpuRatioTarget)
	}
	o.p("Peak RSS (VmHWM) over all these runs: extension %s; collector %s.", mb(extHWM), func() string {
		if coll == nil {
			return "not measured"
		}
		return mb(colHWM)
	}())
	o.p("")
	pass := extHWM <= defaultBuffer+peakSlack
	o.target("memory", "peak RSS under the throughput load ≤ buffer (64 MB) + 12 MB", mb(extHWM), pass)
	if *hwmOut != "" {
		if err := writeJSON(*hwmOut, map[string]float64{"extension": extHWM, "collector": colHWM}); err != nil {
			return err
		}
	}
	return o.write()
}

func writeJSON(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

func cmdMemory(args []string) error {
	var c common
	fs := flag.NewFlagSet("memory", flag.ContinueOnError)
	c.register(fs)
	ext := fs.String("ext", "", "extension binary")
	load := fs.String("load", "", "otlpload binary")
	bufMB := fs.Int("buffer-mb", 16, "O2_MAX_BUFFER_SIZE_MB")
	factor := fs.Float64("fill", 3, "push this many times the buffer")
	cold := fs.String("coldjson", "", "coldstart -json output, for RSS after init")
	hwm := fs.String("hwmjson", "", "throughput's peak RSS file")
	reps := fs.Int("reps", 3, "buffer-full runs (each a fresh sandbox)")
	extraEnv := fs.String("env", "", "extra extension environment, k=v,k=v (for experiments)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	o := &output{c: &c}
	o.p("## 5. Memory")
	o.p("")
	o.p("| measure | median | min | max | target | verdict |")
	o.p("|---|---|---|---|---|---|")
	if *cold != "" {
		var cr coldResult
		b, err := os.ReadFile(*cold)
		if err == nil {
			err = json.Unmarshal(b, &cr)
		}
		if err != nil {
			return fmt.Errorf("read %s: %w", *cold, err)
		}
		for _, label := range sortedKeys(cr.RSS) {
			d := summarise(cr.RSS[label])
			tgt, v := "", ""
			if label == "ours" {
				tgt, v = "≤ 8 MB", verdict(d.P50 <= idleRSSTarget)
				o.target("memory", "RSS after init ≤ 8 MB", fmt.Sprintf("%s (median of %d)", mb(d.P50), d.N), d.P50 <= idleRSSTarget)
			}
			o.p("| RSS after init (VmRSS), %s, %d cold starts | %s | %s | %s | %s | %s |", label, d.N, mb(d.P50), mb(d.Min), mb(d.Max), tgt, v)
		}
	}
	if *hwm != "" {
		var h map[string]float64
		if b, err := os.ReadFile(*hwm); err == nil && json.Unmarshal(b, &h) == nil {
			o.p("| peak RSS (VmHWM) under the throughput load, extension (section 4) | %s | | | ≤ 64 + 12 MB | %s |", mb(h["extension"]), verdict(h["extension"] <= defaultBuffer+peakSlack))
			if h["collector"] > 0 {
				o.p("| peak RSS (VmHWM) under the throughput load, collector (section 4) | %s | | | | |", mb(h["collector"]))
			}
		}
	}
	var peaks, rss []float64
	var pushed float64
	for range *reps {
		p, r, n, err := bufferFull(*ext, *load, *bufMB, *factor, parseEnv(*extraEnv))
		if err != nil {
			return err
		}
		peaks, rss, pushed = append(peaks, p), append(rss, r), n
	}
	d := summarise(peaks)
	limit := float64(*bufMB<<20 + peakSlack)
	pass := d.P50 <= limit
	o.p("| peak RSS (VmHWM) with the buffer full: backend down, `O2_MAX_BUFFER_SIZE_MB=%d`, %s pushed | %s | %s | %s | ≤ %d + 12 MB | %s |", *bufMB, mb(pushed), mb(d.P50), mb(d.Min), mb(d.Max), *bufMB, verdict(pass))
	dr := summarise(rss)
	o.p("| RSS (VmRSS) at the end of that load | %s | %s | %s | | |", mb(dr.P50), mb(dr.Min), mb(dr.Max))
	o.p("")
	o.target("memory", fmt.Sprintf("peak RSS with the buffer full ≤ %d MB buffer + 12 MB", *bufMB), fmt.Sprintf("%s (median of %d)", mb(d.P50), d.N), pass)
	o.p("The buffer-full runs post protobuf traces (512 spans per request, not compressed) while the backend refuses connections (`otlpsink.Down`); the extension retries in the background every 100 ms (`continuously,100`) and drops the oldest chunks once the ring is full. Each run is a fresh sandbox without SIGSTOP.")
	o.p("")
	return o.write()
}

func sortedKeys(m map[string][]float64) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	// "ours" first, then the rest in name order.
	for i := range ks {
		for j := i + 1; j < len(ks); j++ {
			if ks[j] == "ours" || (ks[i] != "ours" && ks[j] < ks[i]) {
				ks[i], ks[j] = ks[j], ks[i]
			}
		}
	}
	return ks
}

// bufferFull pushes factor × the buffer into a sandbox whose backend is
// down and returns VmHWM, VmRSS and the bytes pushed.
func bufferFull(ext, load string, bufMB int, factor float64, extra map[string]string) (hwm, rss, pushed float64, err error) {
	sink, err := otlpsink.New(otlpsink.Options{CountOnly: true})
	if err != nil {
		return 0, 0, 0, err
	}
	defer sink.Close()
	if err := sink.Down(); err != nil {
		return 0, 0, 0, err
	}
	sb, err := startSim(simOpts{bin: ext, env: map[string]string{
		"OTEL_EXPORTER_OTLP_ENDPOINT": sink.URL(),
		"OTEL_LAMBDA_FLUSH_STRATEGY":  "continuously,100",
		"O2_MAX_BUFFER_SIZE_MB":       strconv.Itoa(bufMB),
	}, extra: extra, cfg: lambdasim.Config{NoFreeze: true, FunctionTimeout: 10 * time.Minute}})
	if err != nil {
		return 0, 0, 0, err
	}
	defer sb.sim.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 9*time.Minute)
	defer cancel()
	var inner error
	_, err = sb.sim.Invoke(ctx, func(inv *lambdasim.Invocation) error {
		probe, err := runLoad(inv.Context(), load, "-url", sb.receiverURL(), "-spans", "512", "-requests", "1", "-concurrency", "1")
		if err != nil {
			inner = err
			return err
		}
		n := int(factor*float64(bufMB<<20)/float64(probe.BodyBytes)) + 1
		r, err := runLoad(inv.Context(), load, "-url", sb.receiverURL(), "-spans", "512", "-requests", strconv.Itoa(n), "-concurrency", "4", "-timeout", "5m")
		if err != nil {
			inner = err
			return err
		}
		pushed = float64(probe.BodyBytes) * float64(r.OK+probe.OK)
		hwm, err = procStatus(sb.pid(), "VmHWM")
		if err == nil {
			rss, err = procStatus(sb.pid(), "VmRSS")
		}
		inner = err
		return err
	})
	if path := os.Getenv("HARNESS_STDERR"); path != "" {
		// For experiments (GODEBUG=gctrace=1 through -env): the
		// extension's output of the last run.
		sb.sim.Close()
		_ = os.WriteFile(path, []byte(sb.stderr()), 0o644)
	}
	return hwm, rss, pushed, errors.Join(inner, err)
}

func parseEnv(s string) map[string]string {
	env := map[string]string{}
	for kv := range strings.SplitSeq(s, ",") {
		if k, v, ok := strings.Cut(kv, "="); ok && k != "" {
			env[k] = v
		}
	}
	return env
}
