package main

// Fault scenarios: the built extension under the Lambda emulator, exporting
// to a backend that fails in one specific way. Each test states its
// guarantee (what is delivered, what is dropped, where the drop is
// reported) and checks exactly that: counts at the backend against what the
// function sent, and the extension's SHUTDOWN summary line and warnings.
//
// Unless a test needs platform telemetry, it runs with
// OTEL_LAMBDA_TELEMETRY=false: the extension still learns runtimeDone from
// the Telemetry API but buffers only the function's own data, so every
// count is exact.

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"otel-lambda-extension/internal/lambdasim"
	"otel-lambda-extension/internal/otlpsink"

	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// quietEnv: only the function's data is buffered, and retries are quick
// so a scenario's retries fit in its flush.
func quietEnv(extra map[string]string) map[string]string {
	env := map[string]string{
		"OTEL_LAMBDA_TELEMETRY":     "false",
		"O2_INITIAL_RETRY_DELAY_MS": "20",
		"O2_MAX_RETRY_DELAY_MS":     "200",
	}
	maps.Copy(env, extra)
	return env
}

// sigSummary is one signal's part of the SHUTDOWN summary line.
type sigSummary struct{ received, exported, dropped, retried int }

var summaryRE = regexp.MustCompile(`(traces|metrics|logs) received (\d+) \([^)]*\) exported (\d+) dropped (\d+) retried (\d+)`)

// summary parses the last SHUTDOWN summary line of the extension's output.
func summary(t testing.TB, out string) map[string]sigSummary {
	t.Helper()
	var line string
	for l := range strings.SplitSeq(out, "\n") {
		if strings.Contains(l, "traces received") {
			line = l
		}
	}
	if line == "" {
		t.Fatalf("no summary line in the extension's output:\n%s", out)
	}
	got := map[string]sigSummary{}
	for _, m := range summaryRE.FindAllStringSubmatch(line, -1) {
		n := func(i int) int { v, _ := strconv.Atoi(m[i]); return v }
		got[m[1]] = sigSummary{n(2), n(3), n(4), n(5)}
	}
	if len(got) != 3 {
		t.Fatalf("cannot parse the summary line %q", line)
	}
	return got
}

var lostRE = regexp.MustCompile(`Final flush incomplete: (\d+) records still buffered are lost`)

// lostAtShutdown is the count of the "Final flush incomplete" warning, 0
// when there is none.
func lostAtShutdown(out string) int {
	m := lostRE.FindStringSubmatch(out)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// postSpans posts n spans named prefix-0..n-1, one request, protobuf.
func postSpans(t testing.TB, inv *lambdasim.Invocation, sb *sandbox, prefix string, n int) {
	t.Helper()
	postOTLP(t, inv, sb.receiverURL(), "traces", ctProtobuf, false, mustMarshal(t, testSpans(prefix, n)))
}

// bigSpans is a traces request of n spans of about size bytes each.
func bigSpans(t testing.TB, prefix string, n, size int) []byte {
	td := testSpans(prefix, n)
	pad := strings.Repeat("x", size)
	for _, sp := range td.ResourceSpans[0].ScopeSpans[0].Spans {
		sp.Attributes = append(sp.Attributes, &commonpb.KeyValue{Key: "pad", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: pad}}})
	}
	return mustMarshal(t, td)
}

// deliveredSpans counts the function's spans at the sink by name.
func deliveredSpans(s *otlpsink.Sink) map[string]int {
	out := map[string]int{}
	for _, sp := range functionSpans(s) {
		out[sp.Span.GetName()]++
	}
	return out
}

// checkExactlyOnce fails unless the sink holds each of want exactly once
// and no other function span.
func checkExactlyOnce(t testing.TB, s *otlpsink.Sink, want []string) {
	t.Helper()
	got := deliveredSpans(s)
	for _, n := range want {
		if got[n] != 1 {
			t.Errorf("span %s delivered %d times; want exactly once", n, got[n])
		}
		delete(got, n)
	}
	for n, c := range got {
		t.Errorf("unexpected span %s delivered %d times", n, c)
	}
}

func names(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%d", prefix, i)
	}
	return out
}

// postRuntimeBound is the most the extension may hold the sandbox after
// the runtime is done: the flush timeout, plus scheduling slack on a busy
// 2-core machine. It is a structural bound (the timeout is enforced), not
// a performance figure: the tests that use it allow 20 retries, which
// without the flush timeout would hold the sandbox for seconds more.
func postRuntimeBound(flushTimeout time.Duration) time.Duration {
	return flushTimeout + 1500*time.Millisecond
}

func checkPostRuntime(t testing.TB, res lambdasim.InvokeResult, flushTimeout time.Duration) {
	t.Helper()
	d, ok := res.PostRuntime[extensionName]
	if !ok {
		t.Fatalf("the extension did not call next after runtimeDone: %+v", res)
	}
	if d > postRuntimeBound(flushTimeout) {
		t.Errorf("the extension held next %v after runtimeDone; want at most the flush timeout %v (+slack)", d, flushTimeout)
	}
}

// vmHWM returns the peak resident set of pid in bytes.
func vmHWM(t testing.TB, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("reading the extension's memory: %v", err)
	}
	for l := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatalf("no VmHWM in /proc/%d/status", pid)
	return 0
}

// checkShutdownClean runs SHUTDOWN and fails unless the extension exits 0
// on its own before the deadline.
func checkShutdownClean(t testing.TB, sb *sandbox, reason string) {
	t.Helper()
	_, exit := sb.shutdown(reason)
	if exit.ExitCode != 0 || !exit.BeforeDeadline || exit.Killed {
		t.Fatalf("shutdown: %+v; want exit 0 before the deadline\n%s", exit, sb.stderr.String())
	}
}

// Backend down for the whole run (connection refused).
// Guarantee: the function is never held: next comes at most
// OTEL_LAMBDA_FLUSH_TIMEOUT after runtimeDone. Memory stays bounded by the
// buffer: the oldest data is dropped once the buffer is full, with a
// "buffer full" warning. Nothing is delivered; at SHUTDOWN the summary
// accounts for every record received (exported 0, dropped = received:
// the buffer overflow plus what the final flush could not send), and the
// final loss is also a warning.
func TestScenarioBackendDown(t *testing.T) {
	t.Parallel()
	const flushTimeout = 300 * time.Millisecond
	dead := freePort(t) // nothing listens there
	sb := mustStart(t, sandboxOpts{noSink: true, env: quietEnv(map[string]string{
		"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:" + itoa(dead),
		"OTEL_LAMBDA_FLUSH_TIMEOUT":   "300ms",
		"O2_MAX_BUFFER_SIZE_MB":       "2",
		"O2_MAX_RETRIES":              "20",
	})})
	const invokes, reqs, perReq, spanSize = 6, 4, 4, 64 << 10 // 6 MiB of spans through a 2 MiB buffer
	sent := 0
	for i := range invokes {
		res := sb.invoke(func(inv *lambdasim.Invocation) error {
			for j := range reqs {
				postOTLP(t, inv, sb.receiverURL(), "traces", ctProtobuf, false, bigSpans(t, fmt.Sprintf("down-%d-%d", i, j), perReq, spanSize))
			}
			return nil
		})
		sent += reqs * perReq
		checkPostRuntime(t, res, flushTimeout)
	}
	hwm := vmHWM(t, sb.sim.PID(extensionName))
	// Margin: the Go runtime and binary (~10 MiB), the receiver's pooled
	// scratch buffers, and the garbage collector's headroom (GOGC=100 lets
	// the heap reach twice the live data).
	const buffer, margin = 2 << 20, 30 << 20
	t.Logf("VmHWM %.1f MiB after %d MiB sent through a %d MiB buffer", float64(hwm)/(1<<20), sent*spanSize>>20, buffer>>20)
	if hwm > buffer+margin {
		t.Errorf("VmHWM %d MiB; want under the buffer (%d MiB) + %d MiB", hwm>>20, buffer>>20, margin>>20)
	}

	checkShutdownClean(t, sb, "spindown")
	out := sb.stderr.String()
	s := summary(t, out)["traces"]
	lost := lostAtShutdown(out)
	if s.received != sent || s.exported != 0 || s.dropped != sent {
		t.Errorf("summary %+v (and %d reported lost in a warning); want received %d exported 0 dropped %d: the summary must account for every record", s, lost, sent, sent)
	}
	if lost == 0 {
		t.Errorf("no 'Final flush incomplete' warning although the backend never took anything")
	}
	if !strings.Contains(out, "buffer full, dropping oldest") {
		t.Errorf("no 'buffer full' warning:\n%s", out)
	}
}

// The backend answers only after the export timeout, every time, then
// recovers.
// Guarantee: next is held at most OTEL_LAMBDA_FLUSH_TIMEOUT; each abandoned
// attempt is counted as a retry and the batch stays buffered; once the
// backend answers in time everything is delivered exactly once (an attempt
// the backend never answered was not taken by it).
func TestScenarioBackendSlow(t *testing.T) {
	t.Parallel()
	const flushTimeout = 500 * time.Millisecond
	sb := mustStart(t, sandboxOpts{env: quietEnv(map[string]string{
		"OTEL_EXPORTER_OTLP_TIMEOUT": "150ms",
		"OTEL_LAMBDA_FLUSH_TIMEOUT":  "500ms",
		"O2_MAX_RETRIES":             "20",
	})})
	sb.sink.SetDefault(otlpsink.Fault{Delay: 10 * time.Second})
	var want []string
	for i := range 2 {
		p := fmt.Sprintf("slow-%d", i)
		res := sb.invoke(func(inv *lambdasim.Invocation) error { postSpans(t, inv, sb, p, 5); return nil })
		want = append(want, names(p, 5)...)
		checkPostRuntime(t, res, flushTimeout)
	}
	if n := len(functionSpans(sb.sink)); n != 0 {
		t.Fatalf("%d spans accepted by a backend that never answered in time", n)
	}
	if sb.sink.RequestCount(otlpsink.Traces) == 0 {
		t.Fatalf("the extension never tried the slow backend")
	}
	sb.sink.SetDefault(otlpsink.Fault{})
	res := sb.invoke(func(inv *lambdasim.Invocation) error { postSpans(t, inv, sb, "slow-2", 5); return nil })
	want = append(want, names("slow-2", 5)...)
	checkPostRuntime(t, res, flushTimeout)
	// Delivered by the flush at the end of the invocation, before SHUTDOWN.
	checkExactlyOnce(t, sb.sink, want)

	checkShutdownClean(t, sb, "spindown")
	out := sb.stderr.String()
	s := summary(t, out)["traces"]
	if s.received != 15 || s.exported != 15 || s.dropped != 0 || s.retried == 0 {
		t.Errorf("summary %+v; want received 15 exported 15 dropped 0 and the retries counted", s)
	}
}

// A burst of retryable errors (503, 502, 504, 503, 429), then recovery.
// Guarantee: all delivered exactly once within the same flush, each failed
// attempt counted in "retried", nothing dropped, no warning (a retry that
// succeeds is a non-event).
func TestScenario5xxBurstThenRecovery(t *testing.T) {
	t.Parallel()
	sb := mustStart(t, sandboxOpts{env: quietEnv(map[string]string{"O2_MAX_RETRIES": "5"})})
	sb.sink.Script(otlpsink.Statuses(503, 502, 504, 503, 429)...)
	sb.invoke(func(inv *lambdasim.Invocation) error { postSpans(t, inv, sb, "burst", 10); return nil })
	checkExactlyOnce(t, sb.sink, names("burst", 10))
	var codes []int
	for _, r := range sb.sink.Requests() {
		codes = append(codes, r.Status)
	}
	if fmt.Sprint(codes) != "[503 502 504 503 429 200]" {
		t.Errorf("backend answers %v; want the burst then one success", codes)
	}
	checkShutdownClean(t, sb, "spindown")
	out := sb.stderr.String()
	if s := summary(t, out)["traces"]; s != (sigSummary{10, 10, 0, 5}) {
		t.Errorf("summary %+v; want received 10 exported 10 dropped 0 retried 5", s)
	}
	if strings.Contains(out, "WARN") || strings.Contains(out, "ERROR") {
		t.Errorf("a recovered burst logged a warning or error:\n%s", out)
	}
}

// 429 with a Retry-After longer than the flush allows.
// Guarantee: the batch is kept, the backend is not called again before
// Retry-After has passed (not by this flush, not by the next one), and the
// first flush after it delivers the batch exactly once. The wait is
// reported as a warning.
func TestScenario429RetryAfter(t *testing.T) {
	t.Parallel()
	sb := mustStart(t, sandboxOpts{env: quietEnv(map[string]string{"OTEL_LAMBDA_FLUSH_TIMEOUT": "400ms"})})
	sb.sink.Script(otlpsink.Fault{Status: 429, RetryAfter: "2"})
	sb.invoke(func(inv *lambdasim.Invocation) error { postSpans(t, inv, sb, "throttled", 3); return nil })
	first := sb.sink.Requests()
	if len(first) != 1 || first[0].Status != 429 {
		t.Fatalf("requests after the first invocation: %d; want exactly the one answered 429", len(first))
	}
	// Within the Retry-After: the flush of this invocation must leave the
	// backend alone.
	sb.invoke(func(inv *lambdasim.Invocation) error { postSpans(t, inv, sb, "during", 1); return nil })
	for _, r := range sb.sink.Requests()[1:] {
		if r.Time.Sub(first[0].Time) < 2*time.Second {
			t.Errorf("the backend was called %v after a 429 with Retry-After: 2", r.Time.Sub(first[0].Time))
		}
	}
	time.Sleep(time.Until(first[0].Time.Add(2100 * time.Millisecond)))
	sb.invoke(func(inv *lambdasim.Invocation) error { postSpans(t, inv, sb, "after", 1); return nil })
	checkExactlyOnce(t, sb.sink, append(names("throttled", 3), "during-0", "after-0"))
	checkShutdownClean(t, sb, "spindown")
	out := sb.stderr.String()
	if !strings.Contains(out, "429") {
		t.Errorf("the throttling is not reported:\n%s", out)
	}
	if s := summary(t, out)["traces"]; s.received != 5 || s.exported != 5 || s.dropped != 0 {
		t.Errorf("summary %+v; want received 5 exported 5 dropped 0", s)
	}
}

// The backend resets the connection after reading the request, twice.
// Guarantee: retried on a new connection, delivered exactly once (a reset
// request was not taken), both resets counted in "retried".
func TestScenarioConnectionReset(t *testing.T) {
	t.Parallel()
	sb := mustStart(t, sandboxOpts{env: quietEnv(nil)})
	sb.sink.Script(otlpsink.Fault{ResetConn: true}, otlpsink.Fault{ResetConn: true})
	sb.invoke(func(inv *lambdasim.Invocation) error { postSpans(t, inv, sb, "reset", 4); return nil })
	checkExactlyOnce(t, sb.sink, names("reset", 4))
	checkShutdownClean(t, sb, "spindown")
	if s := summary(t, sb.stderr.String())["traces"]; s.received != 4 || s.exported != 4 || s.dropped != 0 || s.retried < 2 {
		t.Errorf("summary %+v; want received 4 exported 4 dropped 0 retried ≥ 2", s)
	}
}

// An https backend whose certificate is signed by a CA we were not told
// about.
// Guarantee: nothing is sent, neither over TLS (verification fails) nor in
// clear (no fallback); the batch is dropped at once (retrying cannot help)
// with an error naming OTEL_EXPORTER_OTLP_CERTIFICATE, and the summary
// counts the drop.
func TestScenarioTLSUntrusted(t *testing.T) {
	t.Parallel()
	sb := mustStart(t, sandboxOpts{sinkOpts: otlpsink.Options{TLS: true}, env: quietEnv(nil)})
	sb.invoke(func(inv *lambdasim.Invocation) error { postSpans(t, inv, sb, "tls", 3); return nil })
	checkShutdownClean(t, sb, "spindown")
	if c := sb.sink.Counts(); c.Requests != 0 {
		t.Errorf("the untrusted backend received %d requests", c.Requests)
	}
	out := sb.stderr.String()
	if !regexp.MustCompile(`ERROR.*traces export to https://.*certificate.*OTEL_EXPORTER_OTLP_CERTIFICATE.*dropped 3 records`).MatchString(out) {
		t.Errorf("no clear TLS error naming OTEL_EXPORTER_OTLP_CERTIFICATE:\n%s", out)
	}
	if s := summary(t, out)["traces"]; s != (sigSummary{3, 0, 3, 0}) {
		t.Errorf("summary %+v; want received 3 exported 0 dropped 3 retried 0", s)
	}
}

// An https endpoint where a plain TCP server listens: it must see a TLS
// ClientHello and never an HTTP request in clear.
func TestScenarioTLSNoCleartextFallback(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var mu sync.Mutex
	var seen [][]byte
	var wg sync.WaitGroup
	defer wg.Wait()
	defer ln.Close()
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.SetDeadline(time.Now().Add(2 * time.Second))
			b, _ := io.ReadAll(io.LimitReader(c, 4096))
			c.Close()
			mu.Lock()
			seen = append(seen, b)
			mu.Unlock()
		}
	})
	sb := mustStart(t, sandboxOpts{noSink: true, env: quietEnv(map[string]string{
		"OTEL_EXPORTER_OTLP_ENDPOINT": "https://" + ln.Addr().String(),
		"OTEL_LAMBDA_FLUSH_TIMEOUT":   "500ms",
	})})
	sb.invoke(func(inv *lambdasim.Invocation) error { postSpans(t, inv, sb, "clear", 2); return nil })
	checkShutdownClean(t, sb, "spindown")
	mu.Lock()
	defer mu.Unlock()
	if len(seen) == 0 {
		t.Fatalf("the extension never connected")
	}
	for _, b := range seen {
		if len(b) > 0 && b[0] != 0x16 { // TLS handshake record
			t.Errorf("the extension sent %q to an https endpoint; want a TLS ClientHello", b[:min(len(b), 40)])
		}
		if bytes.Contains(b, []byte("POST")) || bytes.Contains(b, []byte("clear-0")) {
			t.Errorf("data sent in clear to an https endpoint")
		}
	}
}

// The same backend with OTEL_EXPORTER_OTLP_CERTIFICATE set to its CA.
// Guarantee: delivered, over TLS.
func TestScenarioTLSPrivateCA(t *testing.T) {
	t.Parallel()
	sink := otlpsink.Start(t, otlpsink.Options{TLS: true})
	sb := mustStart(t, sandboxOpts{noSink: true, env: quietEnv(map[string]string{
		"OTEL_EXPORTER_OTLP_ENDPOINT":    sink.URL(),
		"OTEL_EXPORTER_OTLP_CERTIFICATE": sink.CAFile(),
	})})
	sb.invoke(func(inv *lambdasim.Invocation) error { postSpans(t, inv, sb, "ca", 3); return nil })
	checkExactlyOnce(t, sink, names("ca", 3))
	checkShutdownClean(t, sb, "spindown")
	if s := summary(t, sb.stderr.String())["traces"]; s != (sigSummary{3, 3, 0, 0}) {
		t.Errorf("summary %+v; want received 3 exported 3 dropped 0 retried 0", s)
	}
}

// An endpoint whose name does not resolve.
// Guarantee: the function is not held past the flush timeout; the data
// stays buffered (the name may resolve later) and is reported lost at
// SHUTDOWN (summary and warning), with the resolution error in a warning
// naming the host.
func TestScenarioUnresolvableHost(t *testing.T) {
	t.Parallel()
	const flushTimeout = 300 * time.Millisecond
	sb := mustStart(t, sandboxOpts{noSink: true, env: quietEnv(map[string]string{
		"OTEL_EXPORTER_OTLP_ENDPOINT": "http://no-such-host.invalid:4318",
		"OTEL_LAMBDA_FLUSH_TIMEOUT":   "300ms",
		"O2_MAX_RETRIES":              "20",
	})})
	for i := range 2 {
		res := sb.invoke(func(inv *lambdasim.Invocation) error { postSpans(t, inv, sb, fmt.Sprintf("dns-%d", i), 2); return nil })
		checkPostRuntime(t, res, flushTimeout)
	}
	checkShutdownClean(t, sb, "spindown")
	out := sb.stderr.String()
	if !regexp.MustCompile(`WARN.*no-such-host\.invalid.*no such host`).MatchString(out) {
		t.Errorf("no warning naming the host that does not resolve:\n%s", out)
	}
	s := summary(t, out)["traces"]
	if lost := lostAtShutdown(out); s.received != 4 || s.exported != 0 || s.dropped != 4 || lost != 4 {
		t.Errorf("summary %+v, %d lost at shutdown; want received 4 exported 0 dropped 4, and the 4 in the final warning", s, lost)
	}
}

// A freeze in the middle of an export: the Telemetry API is unavailable,
// so the extension exports in the background at the next INVOKE and calls
// next at once; the backend holds its answer, so the sandbox freezes with
// the request in flight, and thaws at the following invocation.
// Guarantee: every batch is delivered, and never twice silently. When the
// backend's answer is read after the thaw and before the flush deadline
// (which runs on during the freeze), the batch is delivered exactly once.
// When the deadline passed during the freeze, the extension cannot know
// whether the backend took the batch: it sends it again (at least once)
// and counts the resend in "retried".
func TestScenarioFreezeMidExport(t *testing.T) {
	for _, tc := range []struct {
		name         string
		flushTimeout string
		freeze       time.Duration
	}{
		{"thaw before the flush deadline", "3s", 300 * time.Millisecond},
		{"thaw after the flush deadline", "1s", 2 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sb := mustStart(t, sandboxOpts{sim: lambdasim.Config{TelemetryUnsupported: true}, env: quietEnv(map[string]string{
				"OTEL_LAMBDA_FLUSH_TIMEOUT": tc.flushTimeout,
			})})
			sb.invoke(func(inv *lambdasim.Invocation) error { postSpans(t, inv, sb, "frozen", 3); return nil })
			sb.sink.Script(otlpsink.Fault{Delay: 300 * time.Millisecond})
			// The background export starts with this INVOKE. The function
			// returns as soon as the backend has the request, so the
			// sandbox freezes while the backend holds its answer.
			sb.invoke(func(inv *lambdasim.Invocation) error {
				ctx, cancel := context.WithTimeout(inv.Context(), 5*time.Second)
				defer cancel()
				if err := sb.sink.WaitFor(ctx, func(s *otlpsink.Sink) bool { c := s.Counts(); return c.InFlight+c.Requests > 0 }); err != nil {
					t.Errorf("no export in flight: %v", err)
				}
				return nil
			})
			time.Sleep(tc.freeze)
			sb.invoke(func(inv *lambdasim.Invocation) error { return nil }) // thaw
			checkShutdownClean(t, sb, "spindown")
			t.Logf("backend answers %v", statuses(sb.sink))
			out := sb.stderr.String()
			s := summary(t, out)["traces"]
			got := deliveredSpans(sb.sink)
			for _, n := range names("frozen", 3) {
				switch c := got[n]; {
				case c == 0:
					t.Errorf("span %s lost", n)
				case c > 1 && tc.freeze < time.Second:
					t.Errorf("span %s delivered %d times although the answer came before the deadline", n, c)
				case c > 1 && s.retried == 0:
					t.Errorf("span %s delivered %d times and the summary counts no resend (%+v): a silent duplicate", n, c, s)
				}
			}
			if s.received != 3 || s.exported < 3 {
				t.Errorf("summary %+v; want received 3 exported ≥ 3", s)
			}
		})
	}
}

func statuses(s *otlpsink.Sink) []int {
	var out []int
	for _, r := range s.Requests() {
		out = append(out, r.Status)
	}
	return out
}

// The backend goes away and comes back on the same address while the
// sandbox is frozen, so the extension's kept-alive connection is dead at
// thaw.
// Guarantee: the first export after the thaw succeeds (a dead kept-alive
// connection is retried on a new one at once): delivered before the next
// freeze, exactly once, with no warning.
func TestScenarioStaleKeepAliveAfterThaw(t *testing.T) {
	t.Parallel()
	sb := mustStart(t, sandboxOpts{env: quietEnv(nil)})
	sb.invoke(func(inv *lambdasim.Invocation) error { postSpans(t, inv, sb, "before", 2); return nil })
	checkExactlyOnce(t, sb.sink, names("before", 2))
	if err := sb.sink.Down(); err != nil {
		t.Fatal(err)
	}
	if err := sb.sink.Up(); err != nil {
		t.Fatal(err)
	}
	sb.invoke(func(inv *lambdasim.Invocation) error { postSpans(t, inv, sb, "after", 2); return nil })
	checkExactlyOnce(t, sb.sink, append(names("before", 2), names("after", 2)...))
	checkShutdownClean(t, sb, "spindown")
	out := sb.stderr.String()
	if strings.Contains(out, "WARN") || strings.Contains(out, "ERROR") {
		t.Errorf("a stale connection after a thaw logged a warning or error:\n%s", out)
	}
	if s := summary(t, out)["traces"]; s.received != 4 || s.exported != 4 || s.dropped != 0 {
		t.Errorf("summary %+v; want received 4 exported 4 dropped 0", s)
	}
}

// SHUTDOWN with a full buffer and a backend too slow to take anything.
// Guarantee: the extension exits 0 before the SHUTDOWN deadline; the
// summary line accounts for every record: received = exported + dropped,
// where dropped includes both the buffer overflow and what the final flush
// could not send, and the final loss is also a warning.
func TestScenarioShutdownFullBufferSlowBackend(t *testing.T) {
	t.Parallel()
	sb := mustStart(t, sandboxOpts{env: quietEnv(map[string]string{
		"O2_MAX_BUFFER_SIZE_MB":     "1",
		"OTEL_LAMBDA_FLUSH_TIMEOUT": "200ms",
	})})
	sb.sink.SetDefault(otlpsink.Fault{Delay: 30 * time.Second})
	sent := 0
	for i := range 2 {
		sb.invoke(func(inv *lambdasim.Invocation) error {
			for j := range 3 {
				postOTLP(t, inv, sb.receiverURL(), "traces", ctProtobuf, false, bigSpans(t, fmt.Sprintf("full-%d-%d", i, j), 4, 64<<10))
			}
			return nil
		})
		sent += 12
	}
	checkShutdownClean(t, sb, "spindown")
	if n := len(functionSpans(sb.sink)); n != 0 {
		t.Fatalf("%d spans accepted by a backend that never answered", n)
	}
	out := sb.stderr.String()
	s := summary(t, out)["traces"]
	lost := lostAtShutdown(out)
	if lost == 0 {
		t.Errorf("no 'Final flush incomplete' warning:\n%s", out)
	}
	if s.received != sent || s.exported != 0 || s.dropped != sent {
		t.Errorf("summary %+v (and %d reported lost in a warning); want received %d exported 0 dropped %d: the summary must account for every record", s, lost, sent, sent)
	}
}

// The function runs past its timeout.
// Guarantee: the extension gets SHUTDOWN with reason timeout, exports what
// the function sent and its own record of the failure (an error span for
// the invocation and an ERROR log saying it timed out) and exits 0 before
// the deadline.
func TestScenarioFunctionTimeout(t *testing.T) {
	t.Parallel()
	sb := mustStart(t, sandboxOpts{sim: lambdasim.Config{FunctionTimeout: time.Second}})
	res := sb.invoke(func(inv *lambdasim.Invocation) error {
		postSpans(t, inv, sb, "slowfn", 2)
		inv.Sleep(5 * time.Second) // returns at the timeout
		return nil
	})
	if res.Status != "timeout" || res.Reset == nil {
		t.Fatalf("invoke: status %s reset %v; want a timeout and a reset", res.Status, res.Reset)
	}
	var exit lambdasim.ExitInfo
	for _, e := range res.Reset.Extensions {
		if e.Name == extensionName {
			exit = e
		}
	}
	if res.Reset.Reason != "timeout" || exit.ExitCode != 0 || !exit.BeforeDeadline || exit.Killed {
		t.Fatalf("reset %s, exit %+v; want reason timeout, exit 0 before the deadline\n%s", res.Reset.Reason, exit, sb.stderr.String())
	}
	out := sb.stderr.String()
	if !strings.Contains(out, "reason timeout") && !strings.Contains(out, "reason TIMEOUT") {
		t.Errorf("the shutdown reason is not logged:\n%s", out)
	}
	checkExactlyOnce(t, sb.sink, names("slowfn", 2))
	var errSpan bool
	for _, sp := range sb.sink.Spans() {
		if sp.Scope.GetName() != "test" && sp.Span.GetStatus().GetCode() == tracepb.Status_STATUS_CODE_ERROR {
			errSpan = true
		}
	}
	if !errSpan {
		t.Errorf("no error span for the timed-out invocation at the backend: %v", sinkSpanNames(sb.sink.Spans()))
	}
	var errLog bool
	for _, l := range sb.sink.LogRecords() {
		if l.Record.GetSeverityNumber() >= 17 && strings.Contains(strings.ToLower(fmt.Sprint(otlpsink.AnyValue(l.Record.GetBody()))), "timeout") {
			errLog = true
		}
	}
	if !errLog {
		t.Errorf("no ERROR log record about the timeout at the backend")
	}
}

// The Telemetry API delivers a malformed batch and an oversized one.
// Guarantee: the extension stays up (the next invocation and SHUTDOWN work,
// exit 0), keeps the events before the bad spot in each batch, and logs
// the problem once (rate-limited), not once per batch.
func TestScenarioTelemetryMalformedAndOversized(t *testing.T) {
	t.Parallel()
	sb := mustStart(t, sandboxOpts{})
	ev := func(record string) string {
		return `{"time":"2024-05-01T12:00:00.000Z","type":"function","record":` + strconv.Quote(record) + `}`
	}
	malformed := `[` + ev("kept-before-bad-spot") + `,{"time":"2024-05-01T12:00:00.000Z","type":"function","record":` // cut mid-event
	oversized := `[` + ev("kept-before-cut") + `,` + ev(strings.Repeat("y", 1200<<10)) + `,` + ev("after-cut") + `]`
	sb.invoke(func(inv *lambdasim.Invocation) error {
		sb.sim.InjectTelemetry([]byte(malformed))
		sb.sim.InjectTelemetry([]byte(oversized))
		sb.sim.InjectTelemetry([]byte(`{"not":"an array"}`))
		return nil
	})
	res := sb.invoke(func(inv *lambdasim.Invocation) error { postSpans(t, inv, sb, "still-up", 1); return nil })
	if res.Status != "success" {
		t.Fatalf("invocation after bad telemetry: %s", res.Status)
	}
	checkShutdownClean(t, sb, "spindown")
	bodies := map[string]bool{}
	for _, l := range sb.sink.LogRecords() {
		bodies[fmt.Sprint(otlpsink.AnyValue(l.Record.GetBody()))] = true
	}
	for _, want := range []string{"kept-before-bad-spot", "kept-before-cut"} {
		if !bodies[want] {
			t.Errorf("log record %q before the bad spot was not kept", want)
		}
	}
	if bodies["after-cut"] {
		t.Errorf("an event after the size cut was delivered")
	}
	if got := deliveredSpans(sb.sink)["still-up-0"]; got != 1 {
		t.Errorf("the function's span after the bad batches delivered %d times", got)
	}
	out := sb.stderr.String()
	if n := strings.Count(out, "telemetry api: kept what parsed"); n != 1 {
		t.Errorf("the malformed input is logged %d times; want once:\n%s", n, out)
	}
}

// The gRPC receiver port is taken by another process.
// Guarantee: init fails with Extension.PortInUse naming the port and
// OTEL_LAMBDA_GRPC_PORT; the process exits non-zero.
func TestScenarioGRPCPortInUse(t *testing.T) {
	t.Parallel()
	taken := freePort(t)
	ln := listenOn(t, taken)
	defer ln.Close()
	sb, err := startSandbox(t, sandboxOpts{env: map[string]string{"OTEL_LAMBDA_GRPC_PORT": itoa(taken)}})
	if _, ok := isInitError(err); !ok {
		t.Fatalf("init error = %v; want a *lambdasim.InitError\n%s", err, sb.stderr.String())
	}
	info := sb.extInfo()
	if msg := string(info.ErrorBody); info.ErrorType != "Extension.PortInUse" || !strings.Contains(msg, itoa(taken)) || !strings.Contains(msg, "OTEL_LAMBDA_GRPC_PORT") {
		t.Errorf("init error %s: %s; want Extension.PortInUse naming port %d and OTEL_LAMBDA_GRPC_PORT", info.ErrorType, msg, taken)
	}
	if code := sb.waitExit(); code == 0 {
		t.Errorf("exit code 0 after a port-in-use init error")
	}
}

// posterEnv tells TestHelperPoster, run as a separate process, where to
// post and how much.
const posterEnv = "SCENARIO_POSTER_URL"

// TestHelperPoster is not a test: TestScenarioConcurrentPosters runs the
// test binary again with posterEnv set, as a second SDK process in the
// sandbox, and this posts 50 single-span requests to that URL.
func TestHelperPoster(t *testing.T) {
	url := os.Getenv(posterEnv)
	if url == "" {
		t.Skip("helper process for TestScenarioConcurrentPosters")
	}
	for i := range 50 {
		body, _ := proto.Marshal(testSpans(fmt.Sprintf("proc-%d", i), 1))
		resp, err := http.Post(url+"/v1/traces", ctProtobuf, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("POST: %s", resp.Status)
		}
	}
}

// Several SDK processes send at once: 8 goroutines × 50 requests from the
// function, and a second OS process with 50 more, all in one invocation.
// Guarantee: every request is answered 200 and every span is delivered
// exactly once; the summary counts all of them.
func TestScenarioConcurrentPosters(t *testing.T) {
	t.Parallel()
	sb := mustStart(t, sandboxOpts{sim: lambdasim.Config{FunctionTimeout: 20 * time.Second}, env: quietEnv(nil)})
	var want []string // testSpans(prefix, 1) names its span prefix-0
	for j := range 50 {
		for g := range 8 {
			want = append(want, fmt.Sprintf("g%d-%d-0", g, j))
		}
		want = append(want, fmt.Sprintf("proc-%d-0", j))
	}
	sb.invoke(func(inv *lambdasim.Invocation) error {
		ctx, cancel := context.WithTimeout(inv.Context(), 15*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestHelperPoster$", "-test.count=1")
		cmd.Env = append(os.Environ(), posterEnv+"="+sb.receiverURL())
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			return err
		}
		var wg sync.WaitGroup
		for g := range 8 {
			wg.Go(func() {
				for j := range 50 {
					postSpans(t, inv, sb, fmt.Sprintf("g%d-%d", g, j), 1)
				}
			})
		}
		wg.Wait()
		if err := cmd.Wait(); err != nil {
			t.Errorf("second poster process: %v\n%s", err, out.String())
		}
		return nil
	})
	checkExactlyOnce(t, sb.sink, want)
	checkShutdownClean(t, sb, "spindown")
	if s := summary(t, sb.stderr.String())["traces"]; s.received != 450 || s.exported != 450 || s.dropped != 0 {
		t.Errorf("summary %+v; want received 450 exported 450 dropped 0", s)
	}
}

// A client that sends its request header one byte at a time.
// Guarantee: the server's header read timeout closes it, and meanwhile
// the extension keeps serving others.
func TestScenarioTrickleClient(t *testing.T) {
	t.Parallel()
	sb := mustStart(t, sandboxOpts{sim: lambdasim.Config{FunctionTimeout: 20 * time.Second}, env: quietEnv(nil)})
	sb.invoke(func(inv *lambdasim.Invocation) error {
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+itoa(sb.port), time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		closed := make(chan time.Duration, 1)
		start := time.Now()
		go func() {
			// Read until the server closes the connection.
			c.SetReadDeadline(time.Now().Add(15 * time.Second))
			io.Copy(io.Discard, c)
			closed <- time.Since(start)
		}()
		header := "POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\nX-Padding: " + strings.Repeat("a", 200)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		sent := 0
		for i := 0; ; i++ {
			select {
			case d := <-closed:
				if d > 10*time.Second {
					t.Errorf("the trickling connection was closed after %v", d)
				}
				if sent >= len(header) {
					t.Errorf("the whole header was sent before the server gave up")
				}
				return nil
			case <-tick.C:
				if sent < len(header) {
					c.Write([]byte{header[sent]})
					sent++
				}
				if i%10 == 0 {
					// Others are served meanwhile.
					postSpans(t, inv, sb, fmt.Sprintf("other-%d", i/10), 1)
				}
			case <-inv.Context().Done():
				t.Errorf("the server never closed a trickling connection")
				return nil
			}
		}
	})
	if n := len(functionSpans(sb.sink)); n < 3 {
		t.Errorf("only %d requests served while a client trickled", n)
	}
	checkShutdownClean(t, sb, "spindown")
}

// A gzip bomb at the real receiver: 1 GiB of zeros, about 1 MiB on the
// wire. Guarantee: 413, the extension's peak memory stays far below the
// bomb (at most a few times the 16 MiB body limit), it keeps serving.
func TestScenarioGzipBombMemory(t *testing.T) {
	t.Parallel()
	bomb := gzipBomb(1024)
	sb := mustStart(t, sandboxOpts{env: quietEnv(nil)})
	sb.invoke(func(inv *lambdasim.Invocation) error {
		// inv.Post would compress the bomb again; send it as it is.
		req, _ := http.NewRequestWithContext(inv.Context(), http.MethodPost, sb.receiverURL()+"/v1/traces", bytes.NewReader(bomb))
		req.Header.Set("Content-Type", ctProtobuf)
		req.Header.Set("Content-Encoding", "gzip")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		msg, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Errorf("gzip bomb: %d %q; want 413", resp.StatusCode, msg)
		}
		postSpans(t, inv, sb, "after-bomb", 1)
		return nil
	})
	hwm := vmHWM(t, sb.sim.PID(extensionName))
	t.Logf("VmHWM %.1f MiB after a %d KiB gzip bomb of 1 GiB", float64(hwm)/(1<<20), len(bomb)>>10)
	if hwm > 100<<20 {
		t.Errorf("VmHWM %d MiB after a gzip bomb; want under 100 MiB (the limit is 16 MiB)", hwm>>20)
	}
	checkExactlyOnce(t, sb.sink, []string{"after-bomb-0"})
	checkShutdownClean(t, sb, "spindown")
}
