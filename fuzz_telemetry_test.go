package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// FuzzTelemetryBatch feeds arbitrary bodies to the listener. Oracle: it
// never panics and always answers 200; every chunk decodes with the
// generated OTLP types and holds the item count the sink was told; spans
// have valid ids and end ≥ start; the listener logs at most one line per
// batch (never per record); and with PlatformLogs on, a well-formed JSON
// array of n events yields exactly n log records (nothing silently dropped).
func FuzzTelemetryBatch(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "telemetry", "*.json"))
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{
		``, `[]`, `[null]`, `[1,"x",[],{}]`, `{"a":1}`,
		`[{"type":"function","record":{"message":{"deep":[1,2,{"x":null}]},"level":7}}]`,
		`[{"type":"platform.runtimeDone","record":{"requestId":"","status":"weird","spans":[{"name":"","start":"bad","durationMs":-5}],"metrics":{"durationMs":1e308}}}]`,
		`[{"type":"platform.report","record":{"requestId":"r","metrics":{"maxMemoryUsedMB":-1,"billedDurationMs":"x"}}}]`,
		`[{"time":"2024-05-01T10:00:00.000Z","type":"platform.start","record":{"requestId":"r","tracing":{"spanId":"zz","value":"Root=1-;Parent=;Sampled=1"}}}]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		cap := &telCapture{}
		logs := &telLogBuf{}
		cfg := telConfig()
		tel := newTelemetry(cfg, detectResource(cfg, telLambdaEnv(nil)), cap.sink, newLogger(logs, levelDebug))
		tel.invokeStarted("6f7f0961-83c2-4f6d-8d93-0c5a2d7a1f01", telArnA, telXrayA, time.Now().Add(time.Second))
		rec := httptest.NewRecorder()
		tel.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/telemetry", bytes.NewReader(body)))
		if rec.Code != http.StatusOK {
			t.Fatalf("status %v", rec.Code)
		}
		cap.mu.Lock()
		nLogs := len(cap.logs)
		cap.mu.Unlock()
		if out := logs.String(); strings.Count(out, "\n") > 1 {
			t.Fatalf("logged more than one line for one batch: %q", out)
		}
		var arr []json.RawMessage
		if json.Unmarshal(body, &arr) == nil && body != nil && bytes.TrimSpace(body)[0] == '[' && nLogs != len(arr) {
			t.Fatalf("%d events became %d log records", len(arr), nLogs)
		}
		tel.shutdown("failure")
		cap.mu.Lock()
		defer cap.mu.Unlock()
		if len(cap.errs) > 0 {
			t.Fatal(strings.Join(cap.errs, "; "))
		}
		for _, s := range cap.spans {
			if len(s.TraceId) != 16 || len(s.SpanId) != 8 || (len(s.ParentSpanId) != 0 && len(s.ParentSpanId) != 8) ||
				s.Name == "" || s.EndTimeUnixNano < s.StartTimeUnixNano || s.StartTimeUnixNano == 0 {
				t.Fatalf("bad span %v", fmt.Sprint(s))
			}
		}
		for _, l := range cap.logs {
			if l.ObservedTimeUnixNano == 0 {
				t.Fatal("log record without observed time")
			}
		}
	})
}
