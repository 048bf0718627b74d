package lambdasim

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeExtBinary builds ./fakeext once per test run.
var fakeExtBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "lambdasim-fakeext")
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, "fakeext")
	cmd := exec.Command("go", "build", "-o", out, "./fakeext")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build fakeext: %v\n%s", err, b)
	}
	return out, nil
})

// fakeExt places the fake extension in a fresh extensions directory under
// the given file name and returns the directory.
func fakeExt(t *testing.T, name string) string {
	t.Helper()
	bin, err := fakeExtBinary()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.Symlink(bin, filepath.Join(dir, name)); err != nil {
		t.Fatal(err)
	}
	return dir
}

// startFake starts a Sim with one fake extension named "fake-ext" and
// returns it with the path of its record file.
func startFake(t *testing.T, cfg Config, env map[string]string) (*Sim, string) {
	t.Helper()
	rec := filepath.Join(t.TempDir(), "record.jsonl")
	cfg.ExtensionsDir = fakeExt(t, "fake-ext")
	cfg.Env = map[string]string{"FAKEEXT_RECORD": rec}
	for k, v := range env {
		cfg.Env[k] = v
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := Start(ctx, cfg)
	if s != nil {
		t.Cleanup(s.Close)
	}
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	return s, rec
}

type recLine struct {
	Kind string          `json:"kind"`
	Data json.RawMessage `json:"data"`
}

func readRecord(t *testing.T, path string) []recLine {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []recLine
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		var l recLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("record line %q: %v", sc.Text(), err)
		}
		out = append(out, l)
	}
	return out
}

type tevent struct {
	Time   string          `json:"time"`
	Type   string          `json:"type"`
	Record json.RawMessage `json:"record"`
}

func (e tevent) requestID() string {
	var r struct {
		RequestID string `json:"requestId"`
	}
	_ = json.Unmarshal(e.Record, &r)
	return r.RequestID
}

// telemetryEvents flattens every batch the fake extension received.
func telemetryEvents(t *testing.T, lines []recLine) []tevent {
	var out []tevent
	for _, l := range lines {
		if l.Kind != "telemetry" {
			continue
		}
		var batch []tevent
		if err := json.Unmarshal(l.Data, &batch); err != nil {
			t.Fatal(err)
		}
		out = append(out, batch...)
	}
	return out
}

func hasEvent(evs []tevent, typ, reqID string) bool {
	return slices.ContainsFunc(evs, func(e tevent) bool { return e.Type == typ && (reqID == "" || e.requestID() == reqID) })
}

func invoke(t *testing.T, s *Sim, fn func(*Invocation) error) InvokeResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := s.Invoke(ctx, fn)
	if err != nil {
		t.Fatalf("Invoke: %v", err)
	}
	return res
}

func TestInvokeShutdownFlow(t *testing.T) {
	s, rec := startFake(t, Config{FunctionName: "fn-flow", MemoryMB: 256},
		map[string]string{
			"FAKEEXT_TELEMETRY":         "platform,function,extension",
			"FAKEEXT_WAIT_RUNTIMEDONE":  "1",
			"USER_VAR":                  "user-value",
			"_HANDLER":                  "must-not-leak",
			"AWS_LAMBDA_LOG_GROUP_NAME": "must-not-leak",
		})
	var results []InvokeResult
	for i := range 2 {
		results = append(results, invoke(t, s, func(inv *Invocation) error {
			inv.Printf("hello %d", i)
			inv.Respond([]byte(`{"ok":true}`))
			return nil
		}))
	}
	// Before SHUTDOWN: report(1) came on the 2nd thaw, report(2) not yet.
	evs := telemetryEvents(t, readRecord(t, rec))
	if !hasEvent(evs, "platform.report", results[0].RequestID) {
		t.Errorf("report of invoke 1 not delivered during invoke 2")
	}
	if hasEvent(evs, "platform.report", results[1].RequestID) {
		t.Errorf("report of invoke 2 delivered before the next thaw")
	}
	sr := s.Shutdown("")

	if len(sr.Extensions) != 1 || sr.Extensions[0].ExitCode != 0 || !sr.Extensions[0].BeforeDeadline || sr.Extensions[0].Killed {
		t.Fatalf("shutdown = %+v; want fake-ext exit 0 before deadline", sr)
	}
	lines := readRecord(t, rec)

	t.Run("last report arrives at SHUTDOWN", func(t *testing.T) {
		if !hasEvent(telemetryEvents(t, lines), "platform.report", results[1].RequestID) {
			t.Errorf("report of the last invoke not delivered during SHUTDOWN")
		}
	})

	t.Run("register", func(t *testing.T) {
		var reg struct {
			Status int    `json:"status"`
			Body   string `json:"body"`
			ID     string `json:"id"`
		}
		for _, l := range lines {
			if l.Kind == "register" {
				_ = json.Unmarshal(l.Data, &reg)
			}
		}
		if reg.Status != 200 || !regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`).MatchString(reg.ID) {
			t.Errorf("register = %+v; want 200 and a UUID", reg)
		}
		var body map[string]string
		_ = json.Unmarshal([]byte(reg.Body), &body)
		want := map[string]string{"functionName": "fn-flow", "functionVersion": "$LATEST", "handler": "index.handler", "accountId": "123456789012"}
		for k, v := range want {
			if body[k] != v {
				t.Errorf("register body %s = %q; want %q", k, body[k], v)
			}
		}
	})

	t.Run("events", func(t *testing.T) {
		var got []map[string]any
		for _, l := range lines {
			if l.Kind == "event" {
				var m map[string]any
				_ = json.Unmarshal(l.Data, &m)
				got = append(got, m)
			}
		}
		if len(got) != 3 {
			t.Fatalf("got %d events; want 3", len(got))
		}
		trace := regexp.MustCompile(`^Root=1-[0-9a-f]{8}-[0-9a-f]{24};Parent=[0-9a-f]{16};Sampled=1$`)
		for i, res := range results {
			ev := got[i]
			tr, _ := ev["tracing"].(map[string]any)
			if ev["eventType"] != "INVOKE" || ev["requestId"] != res.RequestID || tr["type"] != "X-Amzn-Trace-Id" || !trace.MatchString(fmt.Sprint(tr["value"])) {
				t.Errorf("event %d = %v; want INVOKE %s with X-Ray tracing", i, ev, res.RequestID)
			}
			if !strings.HasSuffix(fmt.Sprint(ev["invokedFunctionArn"]), ":function:fn-flow") {
				t.Errorf("invokedFunctionArn = %v", ev["invokedFunctionArn"])
			}
			if dl, _ := ev["deadlineMs"].(float64); dl < float64(time.Now().Add(-time.Hour).UnixMilli()) {
				t.Errorf("deadlineMs = %v; want unix ms", ev["deadlineMs"])
			}
		}
		sd := got[2]
		if sd["eventType"] != "SHUTDOWN" || sd["shutdownReason"] != "spindown" || int64(sd["deadlineMs"].(float64)) != sr.Deadline.UnixMilli() {
			t.Errorf("shutdown event = %v; want SHUTDOWN spindown deadlineMs %d", sd, sr.Deadline.UnixMilli())
		}
	})

	t.Run("env", func(t *testing.T) {
		var env []string
		for _, l := range lines {
			if l.Kind == "env" {
				_ = json.Unmarshal(l.Data, &env)
			}
		}
		m := map[string]string{}
		for _, kv := range env {
			k, v, _ := strings.Cut(kv, "=")
			m[k] = v
		}
		want := map[string]string{
			"AWS_LAMBDA_RUNTIME_API": s.Addr(), "AWS_LAMBDA_FUNCTION_NAME": "fn-flow",
			"AWS_LAMBDA_FUNCTION_VERSION": "$LATEST", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
			"AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1", "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
			"TZ": ":UTC", "USER_VAR": "user-value", "AWS_ACCESS_KEY_ID": s.Credentials().AccessKeyID,
			"AWS_SECRET_ACCESS_KEY": s.Credentials().SecretAccessKey, "AWS_SESSION_TOKEN": s.Credentials().SessionToken,
		}
		for k, v := range want {
			if m[k] != v {
				t.Errorf("env %s = %q; want %q", k, m[k], v)
			}
		}
		for _, k := range append(slices.Clone(hiddenFromExtensions), "_X_AMZN_TRACE_ID") {
			if _, ok := m[k]; ok {
				t.Errorf("env has %s; Lambda hides it from extensions", k)
			}
		}
		if m["PATH"] == "" {
			t.Errorf("env has no PATH")
		}
	})

	t.Run("telemetry", func(t *testing.T) {
		evs := telemetryEvents(t, lines)
		for _, typ := range []string{"platform.initStart", "platform.initRuntimeDone", "platform.initReport", "platform.extension", "platform.telemetrySubscription"} {
			if !hasEvent(evs, typ, "") {
				t.Errorf("no %s delivered", typ)
			}
		}
		for _, res := range results {
			for _, typ := range []string{"platform.start", "platform.runtimeDone", "platform.report"} {
				if !hasEvent(evs, typ, res.RequestID) {
					t.Errorf("no %s for %s", typ, res.RequestID)
				}
			}
		}
		for _, e := range evs {
			if e.Type == "platform.report" && e.requestID() == results[0].RequestID {
				var r struct {
					Metrics map[string]float64 `json:"metrics"`
				}
				_ = json.Unmarshal(e.Record, &r)
				for _, k := range []string{"billedDurationMs", "durationMs", "maxMemoryUsedMB", "memorySizeMB", "initDurationMs"} {
					if _, ok := r.Metrics[k]; !ok {
						t.Errorf("cold report metrics lack %s: %s", k, e.Record)
					}
				}
				if r.Metrics["memorySizeMB"] != 256 {
					t.Errorf("memorySizeMB = %v; want 256", r.Metrics["memorySizeMB"])
				}
			}
			if e.Type == "platform.report" && e.requestID() == results[1].RequestID && strings.Contains(string(e.Record), "initDurationMs") {
				t.Errorf("warm report has initDurationMs: %s", e.Record)
			}
			if e.Type == "platform.runtimeDone" {
				var r struct {
					Status  string `json:"status"`
					Metrics struct {
						ProducedBytes int `json:"producedBytes"`
					} `json:"metrics"`
					Spans []struct {
						Name string `json:"name"`
					} `json:"spans"`
					Tracing struct {
						SpanID string `json:"spanId"`
					} `json:"tracing"`
				}
				_ = json.Unmarshal(e.Record, &r)
				if r.Status != "success" || r.Metrics.ProducedBytes != len(`{"ok":true}`) || len(r.Spans) != 2 || r.Spans[0].Name != "responseLatency" || len(r.Tracing.SpanID) != 16 {
					t.Errorf("runtimeDone = %s", e.Record)
				}
			}
		}
		if !slices.ContainsFunc(evs, func(e tevent) bool {
			return e.Type == "function" && string(e.Record) == `"hello 0"`
		}) {
			t.Errorf("function line \"hello 0\" not delivered")
		}
	})

	t.Run("extension stderr becomes extension events", func(t *testing.T) {
		evs := telemetryEvents(t, lines)
		want := fmt.Sprintf("%q", "fakeext: event INVOKE "+results[0].RequestID)
		if !slices.ContainsFunc(evs, func(e tevent) bool { return e.Type == "extension" && string(e.Record) == want }) {
			t.Errorf("no extension event %s", want)
		}
		_, stderr := s.Output("fake-ext")
		if !strings.Contains(string(stderr), "fakeext: event SHUTDOWN") {
			t.Errorf("captured stderr lacks the SHUTDOWN line: %q", stderr)
		}
	})

	t.Run("timeline order", func(t *testing.T) {
		var kinds []Kind
		for _, r := range s.Timeline() {
			if r.Kind != KindDeliver && r.Kind != KindDeliverFailed {
				kinds = append(kinds, r.Kind)
			}
		}
		want := []Kind{KindProcessStart, KindRegister, KindSubscribe, KindInitNext, KindInitDone, KindFreeze,
			KindThaw, KindInvoke, KindRuntimeDone, KindNext, KindReport, KindFreeze,
			KindThaw, KindInvoke, KindRuntimeDone, KindNext, KindReport, KindFreeze,
			KindThaw, KindShutdown, KindProcessExit}
		if !slices.Equal(kinds, want) {
			t.Errorf("timeline kinds\n got %v\nwant %v", kinds, want)
		}
		if d := s.InitDurations()["fake-ext"]; d <= 0 {
			t.Errorf("init duration = %v", d)
		}
		for _, res := range results {
			if _, ok := res.PostRuntime["fake-ext"]; !ok || res.Duration < res.RuntimeDuration {
				t.Errorf("result = %+v; want post-runtime time for fake-ext", res)
			}
		}
	})

	t.Run("no delivery while frozen", func(t *testing.T) {
		frozen := false
		for _, r := range s.Timeline() {
			switch r.Kind {
			case KindFreeze:
				frozen = true
			case KindThaw:
				frozen = false
			case KindDeliver:
				if frozen {
					t.Errorf("telemetry delivered while frozen at %v", r.At)
				}
			}
		}
	})

	t.Run("no credentials in output", func(t *testing.T) {
		stdout, stderr := s.Output("fake-ext")
		all := string(stdout) + string(stderr)
		c := s.Credentials()
		for _, secret := range []string{c.SecretAccessKey, c.SessionToken} {
			if strings.Contains(all, secret) {
				t.Errorf("extension output leaks a credential")
			}
		}
	})
}

// procState reads the state letter of /proc/<pid>/stat.
func procState(t *testing.T, pid int) string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.LastIndexByte(b, ')')
	return string(b[i+2 : i+3])
}

func TestFreezeStopsProcess(t *testing.T) {
	s, _ := startFake(t, Config{}, nil)
	pid := s.PID("fake-ext")
	if got := procState(t, pid); got != "T" {
		t.Errorf("after init: state %s; want T (stopped)", got)
	}
	var during string
	invoke(t, s, func(inv *Invocation) error {
		during = procState(t, pid)
		return nil
	})
	if during == "T" {
		t.Errorf("during invoke: state T; want running or sleeping")
	}
	if got := procState(t, pid); got != "T" {
		t.Errorf("after invoke: state %s; want T (stopped)", got)
	}
	sr := s.Shutdown("")
	if sr.Extensions[0].ExitCode != 0 {
		t.Errorf("shutdown = %+v", sr)
	}
}

func TestShutdownKillsAfterBudget(t *testing.T) {
	s, rec := startFake(t, Config{}, map[string]string{"FAKEEXT_IGNORE_SHUTDOWN": "1"})
	sr := s.Shutdown("spindown")
	x := sr.Extensions[0]
	if !x.Killed || x.BeforeDeadline || x.Signal != "killed" || x.ExitCode != -1 {
		t.Errorf("exit = %+v; want SIGKILLed after the deadline", x)
	}
	if sr.Duration < shutdownBudget {
		t.Errorf("shutdown took %v; want at least the %v budget", sr.Duration, shutdownBudget)
	}
	if len(s.Records(KindKill)) != 1 {
		t.Errorf("kill records = %v; want 1", s.Records(KindKill))
	}
	got := false
	for _, l := range readRecord(t, rec) {
		got = got || (l.Kind == "event" && strings.Contains(string(l.Data), `"SHUTDOWN"`))
	}
	if !got {
		t.Errorf("extension never saw SHUTDOWN")
	}
}

func TestInitErrorRecorded(t *testing.T) {
	cfg := Config{ExtensionsDir: fakeExt(t, "fake-ext"), Env: map[string]string{"FAKEEXT_INIT_ERROR": "Extension.ConfigInvalid"}}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := Start(ctx, cfg)
	if s == nil {
		t.Fatalf("Start = nil, %v; want the Sim with an init error", err)
	}
	defer s.Close()
	var ie *InitError
	if !errors.As(err, &ie) || ie.ErrorType != "Extension.InitError" {
		t.Fatalf("Start error = %v; want Extension.InitError", err)
	}
	recs := s.Records(KindInitError)
	if len(recs) != 1 || recs[0].Detail != "Extension.ConfigInvalid" || recs[0].Ext != "fake-ext" {
		t.Errorf("init.error records = %+v", recs)
	}
	exts := s.Extensions()
	if len(exts) != 1 || exts[0].ErrorType != "Extension.ConfigInvalid" || !strings.Contains(string(exts[0].ErrorBody), "fake init failure") {
		t.Errorf("extensions = %+v", exts)
	}
	if _, err := s.Invoke(ctx, func(*Invocation) error { return nil }); !errors.Is(err, ErrInitFailed) {
		t.Errorf("Invoke after failed init = %v; want ErrInitFailed", err)
	}
}

func TestTelemetryUnsupportedLikeRIE(t *testing.T) {
	s, rec := startFake(t, Config{TelemetryUnsupported: true}, map[string]string{"FAKEEXT_TELEMETRY": "platform"})
	invoke(t, s, func(inv *Invocation) error { inv.Print("x"); return nil })
	s.Shutdown("")
	for _, l := range readRecord(t, rec) {
		switch l.Kind {
		case "subscribe":
			var sub struct {
				Status int    `json:"status"`
				Body   string `json:"body"`
			}
			_ = json.Unmarshal(l.Data, &sub)
			if sub.Status != 202 || !strings.Contains(sub.Body, `"errorType":"Telemetry.NotSupported"`) {
				t.Errorf("subscribe = %+v; want 202 Telemetry.NotSupported", sub)
			}
		case "telemetry", "telemetry.raw":
			t.Errorf("telemetry delivered in RIE mode: %s", l.Data)
		}
	}
}

func TestFunctionOutcomes(t *testing.T) {
	tests := []struct {
		name            string
		fn              func(*Invocation) error
		status, errType string
		reset           string
	}{
		{"success", func(*Invocation) error { return nil }, "success", "", ""},
		{"error", func(*Invocation) error { return errors.New("boom") }, "error", "Runtime.HandlerError", ""},
		{"typed error", func(*Invocation) error { return &HandlerError{Type: "MyError", Message: "x"} }, "error", "MyError", ""},
		{"crash", func(inv *Invocation) error { inv.Crash("oom"); return nil }, "failure", "Runtime.ExitError", "failure"},
		{"timeout", func(inv *Invocation) error { return inv.Sleep(time.Minute) }, "timeout", "Sandbox.Timedout", "timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, rec := startFake(t, Config{FunctionTimeout: 500 * time.Millisecond}, nil)
			res := invoke(t, s, tt.fn)
			if res.Status != tt.status || res.ErrorType != tt.errType {
				t.Errorf("got %s/%s; want %s/%s", res.Status, res.ErrorType, tt.status, tt.errType)
			}
			if tt.reset == "" {
				if res.Reset != nil {
					t.Errorf("got reset %+v; want none", res.Reset)
				}
				return
			}
			if res.Reset == nil || res.Reset.Reason != tt.reset || res.Reset.Extensions[0].ExitCode != 0 {
				t.Fatalf("got reset %+v; want SHUTDOWN %s and a clean exit", res.Reset, tt.reset)
			}
			want := `"shutdownReason":"` + tt.reset + `"`
			if !slices.ContainsFunc(readRecord(t, rec), func(l recLine) bool { return l.Kind == "event" && strings.Contains(string(l.Data), want) }) {
				t.Errorf("extension did not get %s", want)
			}
			if _, err := s.Invoke(context.Background(), tt.fn); !errors.Is(err, ErrSandboxGone) {
				t.Errorf("Invoke after reset = %v; want ErrSandboxGone", err)
			}
		})
	}
}

func TestInitFailures(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		errType string
	}{
		// A name that matches no launched file registers as internal, so
		// the launched file itself never registers: Init times out.
		{"name mismatch times out", map[string]string{"FAKEEXT_NAME": "other", "FAKEEXT_EVENTS": "INVOKE"}, "Sandbox.Timedout"},
		// An internal extension may not take SHUTDOWN; the fake exits 1.
		{"internal SHUTDOWN rejected then crash", map[string]string{"FAKEEXT_NAME": "other"}, "Extension.Crash"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Config{ExtensionsDir: fakeExt(t, "fake-ext"), Env: tt.env, InitTimeout: 500 * time.Millisecond}
			s, err := Start(context.Background(), cfg)
			if s == nil {
				t.Fatalf("Start = nil, %v", err)
			}
			defer s.Close()
			var ie *InitError
			if !errors.As(err, &ie) || ie.ErrorType != tt.errType {
				t.Fatalf("Start error = %v; want %s", err, tt.errType)
			}
			if d := s.Records(KindInitDone); len(d) != 1 || d[0].Detail == "success" {
				t.Errorf("init.done = %+v; want one failed", d)
			}
		})
	}
}
