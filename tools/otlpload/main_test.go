package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"otel-lambda-extension/internal/otlpsink"
)

func runLoad(t *testing.T, args ...string) (result, int, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), args, &stdout, &stderr)
	var res result
	if code != 2 {
		if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
			t.Fatalf("output %q: %v (stderr %s)", stdout.String(), err, stderr.String())
		}
		if strings.Count(stdout.String(), "\n") != 1 {
			t.Errorf("output: got %q; want one line", stdout.String())
		}
	}
	return res, code, stderr.String()
}

// TestLoad sends every signal in every encoding to a real sink and checks
// that the sink decoded exactly what otlpload claims it sent.
func TestLoad(t *testing.T) {
	for _, sig := range []string{"traces", "metrics", "logs"} {
		for _, format := range []string{"protobuf", "json"} {
			for _, gz := range []bool{false, true} {
				t.Run(fmt.Sprintf("%s/%s/gzip=%v", sig, format, gz), func(t *testing.T) {
					s := otlpsink.Start(t, otlpsink.Options{})
					args := []string{"-url", s.URL(), "-signal", sig, "-spans", "50", "-requests", "6", "-concurrency", "2", "-format", format, "-timeout", "30s", "-header", "Authorization=Bearer x"}
					if gz {
						args = append(args, "-gzip")
					}
					res, code, stderr := runLoad(t, args...)
					if code != 0 {
						t.Fatalf("exit %d: %s %+v", code, stderr, res)
					}
					if res.Requests != 6 || res.OK != 6 || res.Errors != 0 || res.Spans != 300 || res.TimedOut || res.P99Millis < res.P50Millis {
						t.Errorf("result: got %+v; want 6 requests, 300 items", res)
					}
					c := s.Counts()
					got := map[string]int{"traces": c.Spans, "metrics": c.DataPoints, "logs": c.LogRecords}[sig]
					if c.Accepted != 6 || got != 300 {
						t.Errorf("sink: got %+v; want 6 accepted requests with 300 %s items", c, sig)
					}
					r := s.Requests()[0]
					if r.Path != "/v1/"+sig || r.Header.Get("Authorization") != "Bearer x" || (r.Header.Get("Content-Encoding") == "gzip") != gz {
						t.Errorf("request: got path %s headers %v", r.Path, r.Header)
					}
				})
			}
		}
	}
}

// TestSpansRealistic checks the shape the brief asks for: about ten
// attributes per span, events, valid ids, parent links within a trace.
func TestSpansRealistic(t *testing.T) {
	s := otlpsink.Start(t, otlpsink.Options{})
	if _, code, stderr := runLoad(t, "-url", s.URL()+"/v1/traces", "-spans", "512", "-requests", "1"); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	spans := s.Spans()
	if len(spans) != 512 {
		t.Fatalf("spans: got %d; want 512", len(spans))
	}
	events, ids := 0, map[string]bool{}
	for _, sp := range spans {
		if n := len(sp.Span.Attributes); n < 9 || n > 12 {
			t.Errorf("%s: got %d attributes; want about 10", sp.Span.Name, n)
		}
		if len(sp.Span.TraceId) != 16 || len(sp.Span.SpanId) != 8 || sp.Span.EndTimeUnixNano <= sp.Span.StartTimeUnixNano {
			t.Errorf("%s: bad ids or times: %v", sp.Span.Name, sp.Span)
		}
		ids[string(sp.Span.SpanId)] = true
		events += len(sp.Span.Events)
	}
	if len(ids) != 512 {
		t.Errorf("distinct span ids: got %d; want 512", len(ids))
	}
	if events < 512/len(traceShape) {
		t.Errorf("events: got %d; want at least one per trace", events)
	}
	if got := spans[0].ResourceAttrs["cloud.provider"]; got != "aws" {
		t.Errorf("resource: got cloud.provider %v", got)
	}
}

func TestLoadErrors(t *testing.T) {
	s := otlpsink.Start(t, otlpsink.Options{})
	s.SetDefault(otlpsink.Fault{Status: 503})
	res, code, _ := runLoad(t, "-url", s.URL(), "-spans", "5", "-requests", "3", "-concurrency", "1")
	if code != 1 || res.Errors != 3 || res.OK != 0 || res.Spans != 0 || !strings.Contains(res.FirstError, "503") {
		t.Errorf("got exit %d %+v; want exit 1 with 3 errors naming 503", code, res)
	}
}

func TestLoadTimeout(t *testing.T) {
	s := otlpsink.Start(t, otlpsink.Options{})
	// Longer than any test runs: only -timeout can end the request.
	s.SetDefault(otlpsink.Fault{Delay: time.Hour})
	res, code, _ := runLoad(t, "-url", s.URL(), "-spans", "5", "-requests", "100", "-concurrency", "2", "-timeout", "200ms")
	if code != 1 || !res.TimedOut || res.Requests > 2 || res.OK != 0 {
		t.Errorf("got exit %d %+v; want exit 1, timed out after at most 2 requests", code, res)
	}
}

func TestUsage(t *testing.T) {
	tests := [][]string{
		{"-signal", "profiles"},
		{"-format", "xml"},
		{"-url", "127.0.0.1:4318"},
		{"-spans", "0"},
		{"-concurrency", "0"},
		{"-header", "novalue"},
		{"-timeout", "0s"},
	}
	for _, args := range tests {
		_, code, stderr := runLoad(t, args...)
		if code != 2 || stderr == "" {
			t.Errorf("%v: got exit %d, stderr %q; want 2 with a message", args, code, stderr)
		}
	}
}
