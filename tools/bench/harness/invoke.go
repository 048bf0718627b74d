// invoke.go owns the per-invocation section: the time from runtimeDone to
// the extension's next (lambdasim's InvokeResult.PostRuntime) per flush
// strategy, with a small OTLP payload per invocation and a local backend,
// split for the `end` plans into the Telemetry API's delivery delay, the
// export and what is left: the extension's own overhead.
package main

import (
	"context"
	"flag"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"otel-lambda-extension/internal/lambdasim"
	"otel-lambda-extension/internal/otlpsink"

	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// Targets of the per-invocation section.
const (
	// adaptiveTargetMs: in steady state the adaptive strategy exports off
	// the function's path, so next should follow runtimeDone within 1 ms.
	adaptiveTargetMs = 1.0
	// endSlackMs: `end` may cost the export and the Telemetry API's delivery
	// of runtimeDone, plus at most 2 ms of its own.
	endSlackMs = 2.0
	// adaptiveWarmup matches lifecycle.go: invocations before the adaptive
	// strategy trusts the invocation rate.
	adaptiveWarmup = 20
)

// strategies is a repeatable -strategy flag: the values contain commas.
type strategies []string

func (s *strategies) String() string     { return strings.Join(*s, " ") }
func (s *strategies) Set(v string) error { *s = append(*s, v); return nil }

var (
	planRE  = regexp.MustCompile(`invoke ([0-9a-f-]+): plan (\w+)`)
	flushRE = regexp.MustCompile(`flush \((end of invocation|background)\) took ([^:]+):`)
)

// smallPayload is one realistic small traces request: what an
// instrumented handler sends per invocation (a server span, two client
// spans), about 1 KB.
func smallPayload() []byte {
	str := func(k, v string) *commonpb.KeyValue {
		return &commonpb.KeyValue{Key: k, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: v}}}
	}
	now := uint64(time.Now().UnixNano())
	var spans []*tracepb.Span
	for i, name := range []string{"GET /orders/{id}", "DynamoDB.GetItem", "SQS.SendMessage"} {
		kind := tracepb.Span_SPAN_KIND_CLIENT
		if i == 0 {
			kind = tracepb.Span_SPAN_KIND_SERVER
		}
		spans = append(spans, &tracepb.Span{
			TraceId: []byte("0123456789abcdef"), SpanId: []byte{1, 2, 3, 4, 5, 6, 7, byte(i)},
			Name: name, Kind: kind, StartTimeUnixNano: now, EndTimeUnixNano: now + 3_000_000,
			Attributes: []*commonpb.KeyValue{str("http.request.method", "GET"), str("url.path", "/orders/42"), str("rpc.system", "aws-api"), str("aws.region", "us-east-1")},
			Status:     &tracepb.Status{Code: tracepb.Status_STATUS_CODE_OK},
		})
	}
	td := &tracepb.TracesData{ResourceSpans: []*tracepb.ResourceSpans{{
		Resource:   &resourcepb.Resource{Attributes: []*commonpb.KeyValue{str("service.name", "orders"), str("telemetry.sdk.language", "nodejs"), str("telemetry.sdk.name", "opentelemetry")}},
		ScopeSpans: []*tracepb.ScopeSpans{{Scope: &commonpb.InstrumentationScope{Name: "@opentelemetry/instrumentation-http", Version: "0.57.0"}, Spans: spans}},
	}}}
	b, _ := proto.Marshal(td)
	return b
}

// invokeRun is one strategy's measurements, in ms, by invocation index.
type invokeRun struct {
	strategy string
	viaProxy bool      // a runtime process behind otel-instrument and the Runtime API proxy
	post     []float64 // runtimeDone → next
	plans    []string
	delay    []float64 // runtimeDone → its Telemetry API delivery accepted
	export   []float64 // the end-of-invocation flush, from the debug line; -1 if none
	bgFlush  []float64 // background flushes
}

func cmdInvoke(args []string) error {
	var c common
	var strats strategies
	fs := flag.NewFlagSet("invoke", flag.ContinueOnError)
	c.register(fs)
	ext := fs.String("ext", "", "extension binary")
	fs.Var(&strats, "strategy", "flush strategy (repeatable)")
	n := fs.Int("n", 1000, "invocations per strategy")
	rtBin := fs.String("runtime", "", "fakeruntime binary: also run `end` with a real runtime process through the Runtime API proxy")
	wrapper := fs.String("wrapper", "", "the otel-instrument exec wrapper (with -runtime)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	payload := smallPayload()
	var runs []*invokeRun
	for _, s := range strats {
		r, err := invokeStrategy(*ext, s, *n, payload, "", "")
		if err != nil {
			return fmt.Errorf("strategy %s: %w", s, err)
		}
		runs = append(runs, r)
	}
	var proxyErr error
	if *rtBin != "" {
		r, err := invokeStrategy(*ext, "end", *n, payload, *rtBin, *wrapper)
		if err != nil {
			proxyErr = err
		} else {
			r.strategy = "end"
			r.viaProxy = true
			runs = append(runs, r)
		}
	}

	o := &output{c: &c}
	o.p("## 3. Per-invocation cost")
	o.p("")
	o.p("Post-runtime time: from `platform.runtimeDone` to the extension's `event/next` (`lambdasim.InvokeResult.PostRuntime`), the time the extension adds to every invocation's billed duration. %d invocations per strategy, back to back, each posting one %d-byte OTLP/HTTP protobuf traces request (3 spans) to the extension; local `otlpsink` backend; `OTEL_LAMBDA_LOG_LEVEL=debug` for the flush timings, `OTEL_LAMBDA_TELEMETRY_TYPES=platform,function` so the debug lines are not themselves exported. The sandbox is frozen (SIGSTOP) between invocations as Lambda does. Times in ms.", *n, len(payload))
	o.p("")
	o.p("| strategy | invocations | plans | post-runtime median | p90 | p99 | max | background flushes (median) |")
	o.p("|---|---|---|---|---|---|---|---|")
	for _, r := range runs {
		d := summarise(r.post)
		o.p("| %s | %d | %s | %s | %s | %s | %s | %s |", r.label(), d.N, planCounts(r.plans), f(d.P50), f(d.P90), f(d.P99), f(d.Max), bgSummary(r.bgFlush))
	}
	o.p("")
	o.p("Where an `end` plan's time goes: Telemetry API delivery of `runtimeDone` (the emulator batches for the extension's `timeoutMs`, 25 ms, as Lambda does), the export (the extension's `flush (end of invocation) took` line), and the remainder, which is the extension's own overhead. Invocations with an `end` plan only; ms.")
	o.p("")
	o.p("| strategy | `end` plans | delivery median | export median | export p99 | overhead median | overhead p99 | target | verdict |")
	o.p("|---|---|---|---|---|---|---|---|---|")
	for _, r := range runs {
		if r.viaProxy {
			continue
		}
		var delay, export, over []float64
		for i := range r.post {
			if r.plans[i] != "end" || r.export[i] < 0 || r.delay[i] < 0 {
				continue
			}
			delay = append(delay, r.delay[i])
			export = append(export, r.export[i])
			over = append(over, r.post[i]-r.delay[i]-r.export[i])
		}
		if len(over) == 0 {
			continue
		}
		dd, de, do := summarise(delay), summarise(export), summarise(over)
		tgt, v := "", ""
		if r.strategy == "end" {
			pass := do.P50 <= endSlackMs
			tgt, v = fmt.Sprintf("overhead ≤ %.0f ms", endSlackMs), verdict(pass)
			o.target("per invocation", "`end`: post-runtime ≤ delivery + export + 2 ms (median)",
				fmt.Sprintf("%s ms = delivery %s + export %s + overhead %s (p99 overhead %s)", f(summarise(r.post).P50), f(dd.P50), f(de.P50), f(do.P50), f(do.P99)), pass)
		}
		o.p("| `%s` | %d | %s | %s | %s | %s | %s | %s | %s |", r.strategy, do.N, f(dd.P50), f(de.P50), f(de.P99), f(do.P50), f(do.P99), tgt, v)
	}
	o.p("")
	for _, r := range runs {
		if r.strategy != "adaptive" || len(r.post) <= adaptiveWarmup {
			continue
		}
		steady := r.post[adaptiveWarmup:]
		d := summarise(steady)
		pass := d.P50 <= adaptiveTargetMs
		o.p("Adaptive in steady state (invocations %d–%d, after the warm-up of %d; plans %s): post-runtime median %s ms, p90 %s, p99 %s, max %s. Target: median ≤ %.0f ms: **%s**.",
			adaptiveWarmup+1, len(r.post), adaptiveWarmup, planCounts(r.plans[adaptiveWarmup:]), f(d.P50), f(d.P90), f(d.P99), f(d.Max), adaptiveTargetMs, verdict(pass))
		o.p("")
		o.target("per invocation", "`adaptive` steady-state post-runtime median ≤ 1 ms",
			fmt.Sprintf("%s ms (p99 %s ms, n=%d)", f(d.P50), f(d.P99), d.N), pass)
	}
	for _, r := range runs {
		if !r.viaProxy {
			continue
		}
		var export, rest []float64
		for i := range r.post {
			if r.plans[i] == "end" && r.export[i] >= 0 {
				export = append(export, r.export[i])
				rest = append(rest, r.post[i]-r.export[i])
			}
		}
		d, de, dr := summarise(r.post), summarise(export), summarise(rest)
		o.p("With the runtime as a real process started through `otel-instrument` (`AWS_LAMBDA_EXEC_WRAPPER`), its Runtime API traffic goes through the extension's Runtime API proxy, which tells the extension the invocation is over when the runtime's response is accepted, without waiting for the Telemetry API. `internal/lambdasim/fakeruntime` posts one span as OTLP/JSON to the extension per invocation, then responds; `end` strategy: post-runtime median %s ms (p90 %s, p99 %s, max %s) with the export median %s ms (p99 %s): post-runtime − export median %s ms, p99 %s ms.",
			f(d.P50), f(d.P90), f(d.P99), f(d.Max), f(de.P50), f(de.P99), f(dr.P50), f(dr.P99))
		o.p("")
		pass := dr.P50 <= endSlackMs
		o.target("per invocation", "`end` through the Runtime API proxy: post-runtime ≤ export + 2 ms (median)",
			fmt.Sprintf("%s ms, export %s ms (p99 post-runtime %s ms)", f(d.P50), f(de.P50), f(d.P99)), pass)
	}
	if proxyErr != nil {
		o.p("The run through the Runtime API proxy failed: %v", proxyErr)
		o.p("")
		o.na("per invocation", "`end` through the Runtime API proxy", "failed: "+strings.SplitN(proxyErr.Error(), "\n", 2)[0])
	}
	o.p("`end,<ms>` and `periodically,<ms>` are one code path in `scheduler.plan` (an `end` flush once the interval has passed, else skip), so only `periodically,1000` is run.")
	o.p("")
	return o.write()
}

func planCounts(plans []string) string {
	counts := map[string]int{}
	for _, p := range plans {
		counts[p]++
	}
	var parts []string
	for _, p := range []string{"end", "skip", "async", "?"} {
		if counts[p] > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", p, counts[p]))
		}
	}
	return strings.Join(parts, ", ")
}

func bgSummary(xs []float64) string {
	if len(xs) == 0 {
		return "none"
	}
	return fmt.Sprintf("%d, %s ms", len(xs), f(summarise(xs).P50))
}

func invokeStrategy(ext, strategy string, n int, payload []byte, rtBin, wrapper string) (*invokeRun, error) {
	sink, err := otlpsink.New(otlpsink.Options{CountOnly: true})
	if err != nil {
		return nil, err
	}
	defer sink.Close()
	env := map[string]string{
		"OTEL_EXPORTER_OTLP_ENDPOINT": sink.URL(),
		"OTEL_LAMBDA_FLUSH_STRATEGY":  strategy,
		"OTEL_LAMBDA_LOG_LEVEL":       "debug",
		"OTEL_LAMBDA_TELEMETRY_TYPES": "platform,function",
	}
	var cfg lambdasim.Config
	var port int
	if rtBin != "" {
		// The receiver port is fixed up front here: the runtime process
		// posts its span to it.
		p, err := freePort()
		if err != nil {
			return nil, err
		}
		port = p
		env["OTEL_LAMBDA_RECEIVER_PORT"] = strconv.Itoa(port)
		env["AWS_LAMBDA_EXEC_WRAPPER"] = wrapper
		env["FAKERT_OTLP"] = "1"
		env["FAKERT_OTLP_ENDPOINT"] = "http://127.0.0.1:" + strconv.Itoa(port)
		cfg.Runtime = []string{rtBin}
	}
	sb, err := startSim(simOpts{bin: ext, extra: env, cfg: cfg})
	if err != nil {
		return nil, err
	}
	defer sb.sim.Close()
	if port != 0 {
		sb.port = port
	}
	url := sb.receiverURL()
	r := &invokeRun{strategy: strategy}
	var ids []string
	for i := range n {
		// 30 s bounds one invocation on a machine that stalls; the function
		// itself has Lambda's 3 s timeout.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		var res lambdasim.InvokeResult
		var err error
		if rtBin != "" {
			res, err = sb.sim.InvokeEvent(ctx, lambdasim.Event{})
		} else {
			res, err = sb.sim.Invoke(ctx, func(inv *lambdasim.Invocation) error {
				code, body, err := inv.PostOTLP(url, "traces", payload, false)
				if err != nil {
					return err
				}
				if code != 200 {
					return fmt.Errorf("receiver answered %d: %s", code, body)
				}
				return nil
			})
		}
		cancel()
		if err != nil {
			return nil, fmt.Errorf("invocation %d: %w", i, err)
		}
		if res.Status != "success" {
			return nil, fmt.Errorf("invocation %d: %s %s\n%s", i, res.Status, res.ErrorType, tail(sb.stderr(), 2000))
		}
		// No entry: the extension called next before runtimeDone (a skip
		// or async plan), so it added nothing after the runtime.
		post := res.PostRuntime[sb.name]
		r.post = append(r.post, ms(post))
		ids = append(ids, res.RequestID)
	}

	// Shut down and reap first: the output capture then holds every line.
	sb.sim.Shutdown("")
	sb.sim.Close()

	// Delivery delay: runtimeDone → the first accepted Telemetry API POST
	// after it, which carries it (the emulator batches in order). A POST
	// already in flight at runtimeDone would be counted instead, making
	// the delay look shorter and the overhead larger: conservative.
	done := map[string]time.Duration{}
	var delivers []time.Duration
	for _, rec := range sb.sim.Timeline() {
		switch rec.Kind {
		case lambdasim.KindRuntimeDone:
			done[rec.RequestID] = rec.At
		case lambdasim.KindDeliver:
			if rec.Ext == sb.name {
				delivers = append(delivers, rec.At)
			}
		}
	}
	// The plan and the export of each invocation, from the debug log: the
	// "flush (end of invocation)" line follows its invocation's plan line.
	plan := map[string]string{}
	export := map[string]float64{}
	cur := ""
	for line := range strings.SplitSeq(sb.stderr(), "\n") {
		if m := planRE.FindStringSubmatch(line); m != nil {
			cur = m[1]
			plan[cur] = m[2]
			continue
		}
		if m := flushRE.FindStringSubmatch(line); m != nil {
			d, err := time.ParseDuration(strings.TrimSpace(m[2]))
			if err != nil {
				return nil, fmt.Errorf("flush line %q: %w", line, err)
			}
			if m[1] == "background" {
				r.bgFlush = append(r.bgFlush, ms(d))
			} else if cur != "" {
				export[cur] = ms(d)
			}
		}
	}
	for _, id := range ids {
		p, ok := plan[id]
		if !ok {
			p = "?"
		}
		r.plans = append(r.plans, p)
		e, ok := export[id]
		if !ok {
			e = -1
		}
		r.export = append(r.export, e)
		delay := -1.0
		if at, ok := done[id]; ok {
			for _, d := range delivers {
				if d >= at {
					delay = ms(d - at)
					break
				}
			}
		}
		r.delay = append(r.delay, delay)
	}
	return r, nil
}

func (r *invokeRun) label() string {
	if r.viaProxy {
		return "`" + r.strategy + "`, runtime through the proxy"
	}
	return "`" + r.strategy + "`"
}
