package main

// End-to-end tests of the extension's lifecycle and pipeline: the built
// binary under the Lambda emulator, exporting to a local backend.

import (
	"context"
	"strings"
	"testing"
	"time"

	"otel-lambda-extension/internal/lambdasim"
	"otel-lambda-extension/internal/otlpsink"
)

func TestLifecycleColdStartInvokesShutdown(t *testing.T) {
	t.Parallel()
	sb := mustStart(t, sandboxOpts{})

	// Init: bound, registered, subscribed, then the first next.
	for _, k := range []lambdasim.Kind{lambdasim.KindProcessStart, lambdasim.KindRegister, lambdasim.KindSubscribe, lambdasim.KindInitNext} {
		if len(sb.sim.Records(k)) == 0 {
			t.Fatalf("no %s record; timeline:\n%v", k, sb.sim.Timeline())
		}
	}
	if d := sb.sim.InitDurations()[extensionName]; d <= 0 {
		t.Errorf("init duration %v", d)
	}

	const invokes = 3
	for i := range invokes {
		res := sb.invoke(func(inv *lambdasim.Invocation) error {
			inv.Printf("invocation %d", i)
			return nil
		})
		if res.Status != "success" || res.Cold != (i == 0) {
			t.Fatalf("invoke %d: status %s cold %v", i, res.Status, res.Cold)
		}
	}
	// Frozen after init and after each invocation, thawed for each event.
	if f, th := len(sb.sim.Records(lambdasim.KindFreeze)), len(sb.sim.Records(lambdasim.KindThaw)); f < invokes+1 || th < invokes {
		t.Errorf("%d freezes and %d thaws for %d invocations", f, th, invokes)
	}

	res, exit := sb.shutdown("spindown")
	if exit.ExitCode != 0 || !exit.BeforeDeadline || exit.Killed {
		t.Fatalf("shutdown: %+v (of %+v)\n%s", exit, res, sb.stderr.String())
	}
	out := sb.stderr.String()
	for _, want := range []string{"Extension registered successfully", "Starting shutdown sequence", "Final flush completed successfully", "traces received"} {
		if !strings.Contains(out, want) {
			t.Errorf("extension output lacks %q:\n%s", want, out)
		}
	}
	// The platform telemetry of all three invocations reached the backend,
	// including the last report, delivered only at SHUTDOWN.
	var invocations int
	for _, m := range sb.sink.Metrics() {
		if m.Metric.GetName() == "faas.invocations" {
			for _, p := range m.Metric.GetSum().GetDataPoints() {
				invocations += int(p.GetAsInt())
			}
		}
	}
	if invocations != invokes {
		t.Errorf("faas.invocations = %d; want %d", invocations, invokes)
	}
}

// A bad configuration reaches init/error naming the variable, and the
// process exits non-zero.
func TestLifecycleBadConfigInitError(t *testing.T) {
	t.Parallel()
	sb, err := startSandbox(t, sandboxOpts{env: map[string]string{
		"OTEL_LAMBDA_FLUSH_TIMEOUT":  "soon",
		"OTEL_LAMBDA_FLUSH_STRATEGY": "sometimes",
	}})
	if _, ok := isInitError(err); !ok {
		t.Fatalf("init error = %v; want a *lambdasim.InitError\n%s", err, sb.stderr.String())
	}
	info := sb.extInfo()
	if info.ErrorType != "Extension.ConfigInvalid" {
		t.Errorf("error type %q; want Extension.ConfigInvalid", info.ErrorType)
	}
	for _, want := range []string{`OTEL_LAMBDA_FLUSH_TIMEOUT=\"soon\"`, `OTEL_LAMBDA_FLUSH_STRATEGY=\"sometimes\"`} {
		if !strings.Contains(string(info.ErrorBody), want) {
			t.Errorf("init error body lacks %s: %s", want, info.ErrorBody)
		}
	}
	if code := sb.waitExit(); code == 0 {
		t.Errorf("extension exited 0 after a configuration error")
	}
	if len(sb.sim.Records(lambdasim.KindInitError)) != 1 {
		t.Errorf("want exactly one init/error call")
	}
}

// The receiver port already taken is an init error that names the port and
// the variable.
func TestLifecyclePortInUse(t *testing.T) {
	t.Parallel()
	taken := freePort(t)
	ln := listenOn(t, taken)
	defer ln.Close()
	sb, err := startSandbox(t, sandboxOpts{env: map[string]string{"OTEL_LAMBDA_RECEIVER_PORT": itoa(taken)}})
	if _, ok := isInitError(err); !ok {
		t.Fatalf("init error = %v; want a *lambdasim.InitError\n%s", err, sb.stderr.String())
	}
	info := sb.extInfo()
	if msg := string(info.ErrorBody); info.ErrorType != "Extension.PortInUse" || !strings.Contains(msg, itoa(taken)) || !strings.Contains(msg, "OTEL_LAMBDA_RECEIVER_PORT") {
		t.Errorf("init error %s: %s; want Extension.PortInUse naming port %d and OTEL_LAMBDA_RECEIVER_PORT", info.ErrorType, msg, taken)
	}
}

// config.toml configures the extension; the environment wins over it.
func TestLifecycleConfigTOMLAndEnv(t *testing.T) {
	t.Parallel()
	sink := otlpsink.Start(t, otlpsink.Options{})
	dir := t.TempDir()
	path := writeFile(t, dir, "config.toml", `
# the extension's own settings, out of the function's environment
[exporter]
endpoint = "`+sink.URL()+`"
compression = "none"

[service]
name = "from-toml"

[flush]
strategy = "periodically,60000"
`)
	sb := mustStart(t, sandboxOpts{noSink: true, env: map[string]string{
		"OTEL_LAMBDA_CONFIG":          path,
		"OTEL_EXPORTER_OTLP_ENDPOINT": "", // unset: the file's endpoint applies
		"OTEL_LAMBDA_FLUSH_STRATEGY":  "", // unset: the file's strategy applies
		"OTEL_SERVICE_NAME":           "from-env",
	}})
	sb.invoke(func(inv *lambdasim.Invocation) error { return nil })
	sb.shutdown("spindown")

	out := sb.stderr.String()
	if !strings.Contains(out, "flush strategy periodically,60000") {
		t.Errorf("the config.toml flush strategy is not in force:\n%s", out)
	}
	if !strings.Contains(out, "compression none") {
		t.Errorf("the config.toml compression is not in force:\n%s", out)
	}
	spans := sink.Spans()
	if len(spans) == 0 {
		t.Fatalf("nothing reached the config.toml endpoint")
	}
	for _, sp := range spans {
		if got := sp.ResourceAttrs["service.name"]; got != "from-env" {
			t.Fatalf("service.name = %v; want from-env (environment over config.toml)", got)
		}
	}
	for _, r := range sink.Requests() {
		if r.Header.Get("Content-Encoding") == "gzip" {
			t.Fatalf("request compressed although config.toml says none")
		}
	}
}

// SHUTDOWN while a background export hangs on a slow backend: the extension
// cancels it, makes its final attempt and exits before the deadline, and
// says what was lost.
func TestLifecycleShutdownDuringBackgroundExport(t *testing.T) {
	t.Parallel()
	sb := mustStart(t, sandboxOpts{env: map[string]string{
		"OTEL_LAMBDA_FLUSH_STRATEGY": "continuously,20",
		"OTEL_LAMBDA_TELEMETRY":      "false",
		"OTEL_EXPORTER_OTLP_TIMEOUT": "30000", // the request would wait for the backend
	}})
	sb.sink.SetDefault(otlpsink.Fault{Delay: time.Minute})
	sb.invoke(func(inv *lambdasim.Invocation) error {
		postOTLP(t, inv, sb.receiverURL(), "traces", ctProtobuf, false, mustMarshal(t, testSpans("stuck", 3)))
		// Hold the invocation until the export is inside the backend.
		ctx, cancel := context.WithTimeout(inv.Context(), 10*time.Second)
		defer cancel()
		if err := sb.sink.WaitFor(ctx, func(s *otlpsink.Sink) bool { return s.Counts().InFlight > 0 }); err != nil {
			t.Errorf("no export reached the backend: %v", err)
		}
		return nil
	})
	res, exit := sb.shutdown("spindown")
	if exit.ExitCode != 0 || !exit.BeforeDeadline || exit.Killed {
		t.Fatalf("shutdown with an export in flight: %+v (took %v)\n%s", exit, res.Duration, sb.stderr.String())
	}
	if out := sb.stderr.String(); !strings.Contains(out, "Final flush incomplete") && !strings.Contains(out, "dropped") {
		t.Errorf("the loss is not reported:\n%s", out)
	}
}

// Where the Telemetry API answers 202 and never delivers (AWS's RIE, SAM
// local), the extension says so once, never holds an invocation, and still
// delivers everything: at the next event and at SHUTDOWN.
func TestLifecycleTelemetryUnsupported(t *testing.T) {
	t.Parallel()
	sb := mustStart(t, sandboxOpts{
		env: map[string]string{"OTEL_LAMBDA_FLUSH_STRATEGY": "end", "OTEL_LAMBDA_LOG_LEVEL": "debug"},
		sim: lambdasim.Config{TelemetryUnsupported: true},
	})
	for i := range 3 {
		name := "rie" + itoa(i)
		sb.invoke(func(inv *lambdasim.Invocation) error {
			postOTLP(t, inv, sb.receiverURL(), "traces", ctProtobuf, false, mustMarshal(t, testSpans(name, 1)))
			return nil
		})
	}
	if _, exit := sb.shutdown("spindown"); exit.ExitCode != 0 {
		t.Fatalf("exit %+v", exit)
	}
	out := sb.stderr.String()
	if n := strings.Count(out, "Telemetry API is not available"); n != 1 {
		t.Errorf("said %d times that the Telemetry API is unavailable; want once:\n%s", n, out)
	}
	if strings.Contains(out, ": plan end") {
		t.Errorf("an invocation waited for a runtimeDone that cannot come:\n%s", out)
	}
	if n := len(functionSpans(sb.sink)); n != 3 {
		t.Errorf("%d function spans at the backend; want 3", n)
	}
}
