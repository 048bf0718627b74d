package lambdasim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeRuntimeBinary builds ./fakeruntime once per test run.
var fakeRuntimeBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "lambdasim-fakeruntime")
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, "fakeruntime")
	cmd := exec.Command("go", "build", "-o", out, "./fakeruntime")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build fakeruntime: %v\n%s", err, b)
	}
	return out, nil
})

// startRuntime starts a Sim with the fake extension (waiting for
// runtimeDone) and the fake runtime; it returns the Sim, the extension's
// record and the runtime's record.
func startRuntime(t *testing.T, cfg Config, env map[string]string) (*Sim, string, string, error) {
	t.Helper()
	bin, err := fakeRuntimeBinary()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	extRec, rtRec := filepath.Join(dir, "ext.jsonl"), filepath.Join(dir, "rt.jsonl")
	cfg.ExtensionsDir = fakeExt(t, "fake-ext")
	cfg.Runtime = []string{bin}
	cfg.Env = map[string]string{
		"FAKEEXT_RECORD":           extRec,
		"FAKEEXT_TELEMETRY":        "platform,function",
		"FAKEEXT_WAIT_RUNTIMEDONE": "1",
		"FAKERT_RECORD":            rtRec,
	}
	for k, v := range env {
		cfg.Env[k] = v
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := Start(ctx, cfg)
	if s != nil {
		t.Cleanup(s.Close)
	}
	return s, extRec, rtRec, err
}

func invokeEvent(t *testing.T, s *Sim, ev Event) InvokeResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := s.InvokeEvent(ctx, ev)
	if err != nil {
		t.Fatalf("InvokeEvent: %v", err)
	}
	return res
}

// rtInvokes is what the fake runtime recorded per event, by request id.
func rtInvokes(t *testing.T, path string) map[string]map[string]any {
	out := map[string]map[string]any{}
	for _, l := range readRecord(t, path) {
		if l.Kind != "invoke" {
			continue
		}
		var d map[string]any
		if err := json.Unmarshal(l.Data, &d); err != nil {
			t.Fatal(err)
		}
		out[d["requestId"].(string)] = d
	}
	return out
}

func TestExternalRuntime(t *testing.T) {
	s, extRec, rtRec, err := startRuntime(t, Config{FunctionName: "fn-rt"}, nil)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	// Init ended with the runtime in next, and the runtime is frozen.
	if got := len(s.Records(KindRuntimeNext)); got != 1 {
		t.Errorf("runtime nexts after init = %d; want 1", got)
	}
	if st := procState(t, s.RuntimePID()); st != "T" && st != "t" {
		t.Errorf("runtime state after init %q; want stopped", st)
	}

	evs := []Event{
		{Payload: []byte(`{"n":1}`)},
		{Payload: []byte(`{"n":2}`), ClientContext: `{"client":{"app_title":"a"}}`, CognitoIdentity: `{"cognitoIdentityId":"c"}`},
	}
	var results []InvokeResult
	for _, ev := range evs {
		res := invokeEvent(t, s, ev)
		results = append(results, res)
		if res.Status != "success" || res.Reset != nil {
			t.Fatalf("status %q reset %v; want success", res.Status, res.Reset)
		}
		var body struct {
			RequestID string          `json:"requestId"`
			Payload   json.RawMessage `json:"payload"`
		}
		if err := json.Unmarshal(res.Response, &body); err != nil || body.RequestID != res.RequestID || !bytes.Equal(body.Payload, ev.Payload) {
			t.Errorf("response %s (%v); want the request id %s and payload %s", res.Response, err, res.RequestID, ev.Payload)
		}
		if st := procState(t, s.RuntimePID()); st != "T" && st != "t" {
			t.Errorf("runtime state after invoke %q; want stopped", st)
		}
	}

	// The runtime got every header Lambda sends.
	got := rtInvokes(t, rtRec)
	for i, res := range results {
		h, _ := got[res.RequestID]["headers"].(map[string]any)
		want := map[string]string{
			"Lambda-Runtime-Aws-Request-Id":       res.RequestID,
			"Lambda-Runtime-Trace-Id":             res.TraceHeader,
			"Lambda-Runtime-Invoked-Function-Arn": "arn:aws:lambda:us-east-1:123456789012:function:fn-rt",
			"Lambda-Runtime-Client-Context":       evs[i].ClientContext,
			"Lambda-Runtime-Cognito-Identity":     evs[i].CognitoIdentity,
			"Content-Type":                        "application/json",
		}
		for k, v := range want {
			g, _ := h[k].(string)
			if g != v {
				t.Errorf("invoke %d: header %s = %q; want %q", i, k, g, v)
			}
		}
		dl, _ := strconv.ParseInt(fmt.Sprint(h["Lambda-Runtime-Deadline-Ms"]), 10, 64)
		if d := time.Until(time.UnixMilli(dl)); d < 0 || d > defaultFunctionTimeout {
			t.Errorf("invoke %d: deadline %v from now; want within the function timeout", i, d)
		}
	}

	// Per invocation: INVOKE, response accepted, the runtime's next (=
	// runtimeDone), then the extension's next, then the report.
	tl := s.Timeline()
	for _, res := range results {
		var order []Kind
		for _, r := range tl {
			if r.RequestID == res.RequestID {
				order = append(order, r.Kind)
			}
		}
		want := []Kind{KindInvoke, KindRuntimeResponse, KindRuntimeNext, KindRuntimeDone, KindNext, KindReport}
		if fmt.Sprint(order) != fmt.Sprint(want) {
			t.Errorf("timeline of %s: %v; want %v", res.RequestID, order, want)
		}
		if res.Responded <= res.Start || res.Overhead <= 0 || res.Overhead > res.Duration {
			t.Errorf("responded %v start %v overhead %v duration %v: want start < responded, 0 < overhead <= duration", res.Responded, res.Start, res.Overhead, res.Duration)
		}
	}

	// Telemetry: runtimeDone with its spans, and the runtime's output as
	// function log lines.
	s.Shutdown("")
	tev := telemetryEvents(t, readRecord(t, extRec))
	for _, res := range results {
		var rd tevent
		for _, e := range tev {
			if e.Type == "platform.runtimeDone" && e.requestID() == res.RequestID {
				rd = e
			}
		}
		var rec struct {
			Status  string `json:"status"`
			Metrics struct {
				ProducedBytes int `json:"producedBytes"`
			} `json:"metrics"`
			Spans []struct{ Name string } `json:"spans"`
		}
		if err := json.Unmarshal(rd.Record, &rec); err != nil {
			t.Fatalf("runtimeDone of %s: %v (%s)", res.RequestID, err, rd.Record)
		}
		var names []string
		for _, sp := range rec.Spans {
			names = append(names, sp.Name)
		}
		if rec.Status != "success" || rec.Metrics.ProducedBytes != len(res.Response) || strings.Join(names, ",") != "responseLatency,responseDuration,runtimeOverhead" {
			t.Errorf("runtimeDone %s; want success, producedBytes %d, spans responseLatency,responseDuration,runtimeOverhead", rd.Record, len(res.Response))
		}
		found := false
		for _, e := range tev {
			found = found || (e.Type == "function" && strings.Contains(string(e.Record), "fakeruntime: invoke "+res.RequestID))
		}
		if !found {
			t.Errorf("no function log line from the runtime for %s", res.RequestID)
		}
	}
	if got := s.Records(KindRuntimeExit); len(got) != 1 {
		t.Errorf("runtime exits %v; want one, at shutdown", got)
	}
}

func TestExternalRuntimeOutcomes(t *testing.T) {
	tests := []struct {
		name      string
		env       map[string]string
		status    string
		errType   string
		response  string
		reset     bool
		lastKinds []Kind // the runtime's records for the request, in order
	}{
		{name: "error report", env: map[string]string{"FAKERT_MODE": "error"}, status: "error", errType: "Handled.Error",
			lastKinds: []Kind{KindRuntimeError, KindRuntimeDone, KindRuntimeNext}},
		{name: "streamed response", env: map[string]string{"FAKERT_MODE": "stream"}, status: "success", response: "part one;part two",
			lastKinds: []Kind{KindRuntimeResponse, KindRuntimeNext, KindRuntimeDone}},
		{name: "streamed response failing in its trailer", env: map[string]string{"FAKERT_MODE": "stream", "FAKERT_STREAM_ERROR": "Runtime.StreamError"},
			status: "error", errType: "Runtime.StreamError",
			lastKinds: []Kind{KindRuntimeResponse, KindRuntimeNext, KindRuntimeDone}},
		{name: "response over 6 MB", env: map[string]string{"FAKERT_MODE": "large", "FAKERT_SIZE": "6291457"}, status: "error", errType: "Function.ResponseSizeTooLarge",
			lastKinds: []Kind{KindRuntimeResponse, KindRuntimeDone, KindRuntimeNext}},
		{name: "runtime exits", env: map[string]string{"FAKERT_MODE": "exit"}, status: "failure", errType: "Runtime.ExitError", reset: true,
			lastKinds: []Kind{KindRuntimeDone}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, _, rtRec, err := startRuntime(t, Config{}, tc.env)
			if err != nil {
				t.Fatalf("Start: %v", err)
			}
			res := invokeEvent(t, s, Event{Payload: []byte(`{}`)})
			if res.Status != tc.status || res.ErrorType != tc.errType || (res.Reset != nil) != tc.reset {
				t.Errorf("got %s/%s reset %v; want %s/%s reset %v", res.Status, res.ErrorType, res.Reset != nil, tc.status, tc.errType, tc.reset)
			}
			if tc.response != "" && string(res.Response) != tc.response {
				t.Errorf("response %q; want %q", res.Response, tc.response)
			}
			var kinds []Kind
			for _, r := range s.Timeline() {
				if r.RequestID == res.RequestID && (r.Kind == KindRuntimeResponse || r.Kind == KindRuntimeError || r.Kind == KindRuntimeNext || r.Kind == KindRuntimeDone) {
					kinds = append(kinds, r.Kind)
				}
			}
			if fmt.Sprint(kinds) != fmt.Sprint(tc.lastKinds) {
				t.Errorf("runtime records %v; want %v", kinds, tc.lastKinds)
			}
			if tc.env["FAKERT_MODE"] == "large" {
				for _, l := range readRecord(t, rtRec) {
					if l.Kind == "post" && !strings.Contains(string(l.Data), `"status":413`) {
						t.Errorf("the runtime's oversized response got %s; want 413", l.Data)
					}
				}
			}
		})
	}
}

func TestExternalRuntimeInitError(t *testing.T) {
	t.Parallel()
	s, _, _, err := startRuntime(t, Config{}, map[string]string{"FAKERT_MODE": "initerror"})
	var ie *InitError
	if !errors.As(err, &ie) || ie.ErrorType != "Runtime.InitError" || !strings.Contains(ie.Message, "Runtime.ImportModuleError") {
		t.Fatalf("Start: %v; want Runtime.InitError naming Runtime.ImportModuleError", err)
	}
	if got := s.Records(KindRuntimeInitError); len(got) != 1 || got[0].Detail != "Runtime.ImportModuleError" {
		t.Errorf("init error records %v", got)
	}
}

// AWS_LAMBDA_EXEC_WRAPPER runs as "wrapper runtime args" with the runtime's
// environment, and what it exports reaches the runtime.
func TestExternalRuntimeExecWrapper(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	wrapper := filepath.Join(dir, "wrapper")
	argvFile := filepath.Join(dir, "argv")
	script := "#!/bin/sh\nprintf '%s\\n' \"$@\" > " + argvFile + "\nFAKERT_MODE=error\nexport FAKERT_MODE\nexec \"$@\"\n"
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	s, _, _, err := startRuntime(t, Config{}, map[string]string{"AWS_LAMBDA_EXEC_WRAPPER": wrapper})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	res := invokeEvent(t, s, Event{})
	if res.Status != "error" || res.ErrorType != "Handled.Error" {
		t.Errorf("got %s/%s; want error/Handled.Error set by the wrapper", res.Status, res.ErrorType)
	}
	b, err := os.ReadFile(argvFile)
	bin, _ := fakeRuntimeBinary()
	if err != nil || strings.TrimSpace(string(b)) != bin {
		t.Errorf("wrapper argv %q (%v); want the runtime command %s", b, err, bin)
	}
}

// Scripted mode does not serve the Runtime API, and InvokeEvent needs a
// runtime.
func TestRuntimeAPIOnlyWithRuntime(t *testing.T) {
	t.Parallel()
	s, _ := startFake(t, Config{}, nil)
	if _, err := s.InvokeEvent(context.Background(), Event{}); err == nil {
		t.Error("InvokeEvent without Config.Runtime succeeded")
	}
	resp, err := s.fnClient.Get("http://" + s.Addr() + "/2018-06-01/runtime/invocation/next")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 403 {
		t.Errorf("next without a runtime: %d; want 403", resp.StatusCode)
	}
}
