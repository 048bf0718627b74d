package main

import (
	"context"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"otel-lambda-extension/internal/otlpsink"
)

// closedAddr returns a loopback address where nothing listens, so a
// connection is refused.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// runHC runs the health check in-process with exactly env (nothing from
// the test's own environment), bounded by d.
func runHC(t *testing.T, env map[string]string, d time.Duration) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var o, e strings.Builder
	code = runHealthCheck(ctx, func(k string) string { return env[k] }, &o, &e)
	return code, o.String(), e.String()
}

func o2Env(sink *otlpsink.Sink, auth string) map[string]string {
	return map[string]string{
		"O2_ORGANIZATION_ID":      "acme",
		"O2_AUTHORIZATION_HEADER": auth,
		"O2_ENDPOINT":             sink.URL(),
		"O2_STREAM":               "lambda_logs",
	}
}

func TestHealthCheck(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		setup   func(t *testing.T, sink *otlpsink.Sink) map[string]string
		code    int
		has     []string // stdout lines (or parts) in this order
		hasNot  []string
		records func(t *testing.T, sink *otlpsink.Sink)
	}{
		{
			name: "otlp ok",
			setup: func(t *testing.T, sink *otlpsink.Sink) map[string]string {
				return map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": sink.URL()}
			},
			code: 0,
			has: []string{
				"✓ configuration valid (environment)",
				"✓ OTLP logs " + "%SINK%/v1/logs (http/protobuf): test log record accepted (200) in ",
				"✓ OTLP traces %SINK%/v1/traces (http/protobuf): empty traces export accepted (200)",
				"✓ OTLP metrics %SINK%/v1/metrics (http/protobuf): empty metrics export accepted (200)",
				"all 3 destination checks passed",
			},
			hasNot: []string{"✗"},
			records: func(t *testing.T, sink *otlpsink.Sink) {
				lrs := sink.LogRecords()
				if len(lrs) != 1 {
					t.Fatalf("%d log records; want the one test record", len(lrs))
				}
				var marked bool
				for _, kv := range lrs[0].Record.GetAttributes() {
					if kv.GetKey() == "otel.lambda.health_check" && kv.GetValue().GetBoolValue() {
						marked = true
					}
				}
				if !marked || lrs[0].Record.GetBody().GetStringValue() != healthCheckBody {
					t.Errorf("test record %v; want body %q and otel.lambda.health_check=true", lrs[0].Record, healthCheckBody)
				}
				if n := sink.Counts().Spans + sink.Counts().DataPoints; n != 0 {
					t.Errorf("%d spans or points stored; want none (empty exports)", n)
				}
			},
		},
		{
			name: "otlp json",
			setup: func(t *testing.T, sink *otlpsink.Sink) map[string]string {
				return map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": sink.URL(), "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json", "OTEL_EXPORTER_OTLP_COMPRESSION": "gzip"}
			},
			code: 0,
			has:  []string{"✓ OTLP logs %SINK%/v1/logs (http/json): test log record accepted (200)", "all 3 destination checks passed"},
		},
		{
			name: "openobserve ok",
			setup: func(t *testing.T, sink *otlpsink.Sink) map[string]string {
				sink.RequireAuth("Basic good")
				return o2Env(sink, "Basic good")
			},
			code: 0,
			has: []string{
				"✓ configuration valid",
				"✓ OTLP logs %SINK%/api/acme/v1/logs (http/protobuf): test log record accepted (200)",
				"✓ OTLP traces %SINK%/api/acme/v1/traces",
				"✓ OTLP metrics %SINK%/api/acme/v1/metrics",
				"✓ OpenObserve logs %SINK%/api/acme/lambda_logs/_json: test record accepted (200) into stream lambda_logs",
				"all 4 destination checks passed",
			},
			records: func(t *testing.T, sink *otlpsink.Sink) {
				recs := sink.JSONRecords()
				if len(recs) != 1 || recs[0].Fields["type"] != "health_check" || recs[0].Fields["record"] != healthCheckBody || recs[0].Stream != "lambda_logs" {
					t.Errorf("_json records %v; want one of type health_check", recs)
				}
			},
		},
		{
			name: "openobserve 401",
			setup: func(t *testing.T, sink *otlpsink.Sink) map[string]string {
				sink.RequireAuth("Basic right")
				return o2Env(sink, "Basic wrong")
			},
			code: 1,
			has: []string{
				"✓ configuration valid",
				"✗ OTLP logs %SINK%/api/acme/v1/logs (http/protobuf): authentication failed (401 Unauthorized): check O2_AUTHORIZATION_HEADER",
				"✗ OpenObserve logs %SINK%/api/acme/lambda_logs/_json: authentication failed (401 Unauthorized): check O2_AUTHORIZATION_HEADER",
				"4 of 4 destination checks failed",
			},
		},
		{
			name: "otlp 403",
			setup: func(t *testing.T, sink *otlpsink.Sink) map[string]string {
				sink.SetDefault(otlpsink.Fault{Status: 403})
				return map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": sink.URL(), "OTEL_EXPORTER_OTLP_HEADERS": "x-api-key=nope"}
			},
			code: 1,
			has: []string{
				"✗ OTLP logs %SINK%/v1/logs (http/protobuf): authentication failed (403 Forbidden): check OTEL_EXPORTER_OTLP_HEADERS (or OTEL_EXPORTER_OTLP_LOGS_HEADERS)",
				"✗ OTLP traces %SINK%/v1/traces (http/protobuf): authentication failed (403 Forbidden): check OTEL_EXPORTER_OTLP_HEADERS (or OTEL_EXPORTER_OTLP_TRACES_HEADERS)",
			},
		},
		{
			name: "connection refused",
			setup: func(t *testing.T, sink *otlpsink.Sink) map[string]string {
				return map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://" + closedAddr(t)}
			},
			code: 1,
			has:  []string{"✓ configuration valid", "✗ OTLP logs http://", "connection refused", "3 of 3 destination checks failed"},
		},
		{
			name: "one of three fails",
			setup: func(t *testing.T, sink *otlpsink.Sink) map[string]string {
				return map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": sink.URL(), "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://" + closedAddr(t) + "/v1/traces"}
			},
			code: 1,
			has:  []string{"✓ OTLP logs", "✗ OTLP traces", "connection refused", "✓ OTLP metrics", "1 of 3 destination checks failed"},
		},
		{
			name: "wrong path",
			setup: func(t *testing.T, sink *otlpsink.Sink) map[string]string {
				return map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": sink.URL(), "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT": sink.URL() + "/otlp/logs"}
			},
			code: 1,
			has:  []string{"✗ OTLP logs %SINK%/otlp/logs (http/protobuf): 404 Not Found: check the endpoint's path"},
		},
		{
			name: "bad config",
			setup: func(t *testing.T, sink *otlpsink.Sink) map[string]string {
				return map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": sink.URL(), "O2_MAX_RETRIES": "many", "OTEL_LAMBDA_FLUSH_STRATEGY": "sometimes"}
			},
			code:   1,
			has:    []string{"✗ configuration: 2 problems", `OTEL_LAMBDA_FLUSH_STRATEGY="sometimes"`, `O2_MAX_RETRIES="many"`},
			hasNot: []string{"✓", "destination checks"},
			records: func(t *testing.T, sink *otlpsink.Sink) {
				if n := len(sink.Requests()); n != 0 {
					t.Errorf("%d requests with a bad configuration; want none", n)
				}
			},
		},
		{
			name: "missing organization",
			setup: func(t *testing.T, sink *otlpsink.Sink) map[string]string {
				return map[string]string{"O2_AUTHORIZATION_HEADER": "Basic x"}
			},
			code: 1,
			has:  []string{"✗ configuration: 1 problem", "O2_ORGANIZATION_ID environment variable is required"},
		},
		{
			name: "backend too slow",
			setup: func(t *testing.T, sink *otlpsink.Sink) map[string]string {
				sink.SetDefault(otlpsink.Fault{Delay: 10 * time.Second})
				return map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": sink.URL(), "OTEL_EXPORTER_OTLP_TIMEOUT": "200"}
			},
			code: 1,
			has:  []string{"✗ OTLP logs", "timed out after 200ms (OTEL_EXPORTER_OTLP_TIMEOUT (or OTEL_EXPORTER_OTLP_LOGS_TIMEOUT))"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sink := otlpsink.Start(t, otlpsink.Options{})
			code, out, errOut := runHC(t, tc.setup(t, sink), 20*time.Second)
			if code != tc.code {
				t.Errorf("exit %d; want %d", code, tc.code)
			}
			checkOrdered(t, out, tc.has, sink.URL())
			for _, s := range tc.hasNot {
				if strings.Contains(out, s) {
					t.Errorf("stdout has %q", s)
				}
			}
			if (code != 0) != strings.Contains(errOut, "health check failed") {
				t.Errorf("stderr %q; want \"health check failed\" exactly when the check fails", errOut)
			}
			if tc.records != nil {
				tc.records(t, sink)
			}
			if t.Failed() {
				t.Logf("stdout:\n%s\nstderr:\n%s", out, errOut)
			}
		})
	}
}

// checkOrdered asserts that out holds each of want, in order; %SINK% stands
// for the sink's URL.
func checkOrdered(t *testing.T, out string, want []string, sinkURL string) {
	t.Helper()
	rest := out
	for _, w := range want {
		w = strings.ReplaceAll(w, "%SINK%", sinkURL)
		i := strings.Index(rest, w)
		if i < 0 {
			t.Errorf("stdout lacks %q (after the previous expectation)", w)
			continue
		}
		rest = rest[i+len(w):]
	}
}

// The whole check is bounded: a parent deadline (like the 10 s total) cuts
// every check short with a clear line.
func TestHealthCheckBounded(t *testing.T) {
	t.Parallel()
	sink := otlpsink.Start(t, otlpsink.Options{})
	sink.SetDefault(otlpsink.Fault{Delay: 30 * time.Second})
	start := time.Now()
	code, out, _ := runHC(t, map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": sink.URL()}, 300*time.Millisecond)
	if code != 1 || strings.Count(out, "no answer before the health check's deadline") != 3 {
		t.Errorf("exit %d; want 1 and three deadline lines:\n%s", code, out)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("took %v; the deadline did not stop it", d)
	}
}

// The credential never appears in the output, whatever the outcome.
func TestHealthCheckNeverPrintsCredentials(t *testing.T) {
	t.Parallel()
	const marker = "s3cr3tMARKER7f"
	tests := []struct {
		name string
		code int // the outcome, so every kind of line is covered
		env  func(t *testing.T, sink *otlpsink.Sink) map[string]string
	}{
		{"openobserve ok", 0, func(t *testing.T, sink *otlpsink.Sink) map[string]string {
			sink.RequireAuth("Basic " + marker)
			return o2Env(sink, "Basic "+marker)
		}},
		{"openobserve 401", 1, func(t *testing.T, sink *otlpsink.Sink) map[string]string {
			sink.RequireAuth("Basic other")
			return o2Env(sink, "Basic "+marker)
		}},
		{"openobserve refused", 1, func(t *testing.T, sink *otlpsink.Sink) map[string]string {
			env := o2Env(sink, "Basic "+marker)
			env["O2_ENDPOINT"] = "http://" + closedAddr(t)
			return env
		}},
		{"openobserve bad header value", 1, func(t *testing.T, sink *otlpsink.Sink) map[string]string {
			return o2Env(sink, "Basic "+marker+"\x01")
		}},
		{"openobserve missing organization", 1, func(t *testing.T, sink *otlpsink.Sink) map[string]string {
			return map[string]string{"O2_AUTHORIZATION_HEADER": "Basic " + marker}
		}},
		{"otlp headers ok", 0, func(t *testing.T, sink *otlpsink.Sink) map[string]string {
			sink.RequireAuth("Bearer " + marker)
			return map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": sink.URL(), "OTEL_EXPORTER_OTLP_HEADERS": "Authorization=Bearer%20" + marker}
		}},
		{"otlp headers 401", 1, func(t *testing.T, sink *otlpsink.Sink) map[string]string {
			sink.RequireAuth("Bearer other")
			return map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": sink.URL(), "OTEL_EXPORTER_OTLP_HEADERS": "Authorization=Bearer%20" + marker}
		}},
		{"otlp headers malformed", 1, func(t *testing.T, sink *otlpsink.Sink) map[string]string {
			return map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": sink.URL(), "OTEL_EXPORTER_OTLP_HEADERS": "Authorization=Bearer " + marker + ",oops"}
		}},
		{"userinfo in the endpoint", 0, func(t *testing.T, sink *otlpsink.Sink) map[string]string {
			return map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": strings.Replace(sink.URL(), "http://", "http://user:"+marker+"@", 1)}
		}},
		{"userinfo in a refused endpoint", 1, func(t *testing.T, sink *otlpsink.Sink) map[string]string {
			return map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://user:" + marker + "@" + closedAddr(t)}
		}},
		{"token in the query", 0, func(t *testing.T, sink *otlpsink.Sink) map[string]string {
			return map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": sink.URL() + "/v1/traces?token=" + marker}
		}},
		{"timeout", 1, func(t *testing.T, sink *otlpsink.Sink) map[string]string {
			sink.SetDefault(otlpsink.Fault{Delay: 10 * time.Second})
			env := o2Env(sink, "Basic "+marker)
			env["O2_REQUEST_TIMEOUT_MS"] = "100"
			return env
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sink := otlpsink.Start(t, otlpsink.Options{})
			code, out, errOut := runHC(t, tc.env(t, sink), 20*time.Second)
			if strings.Contains(out+errOut, marker) {
				t.Errorf("the credential is printed (exit %d):\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
			}
			if code != tc.code {
				t.Errorf("exit %d; want %d:\n%s", code, tc.code, out)
			}
			if !strings.Contains(out, "configuration") {
				t.Errorf("no configuration line:\n%s", out)
			}
		})
	}
}

// The real binary: --health-check runs outside Lambda, exits 0 or 1, and
// prints the ✓/✗ lines (and no credential).
func TestHealthCheckBinary(t *testing.T) {
	t.Parallel()
	const marker = "s3cr3tMARKER7f"
	tests := []struct {
		name   string
		env    func(t *testing.T, sink *otlpsink.Sink) []string
		code   int
		stdout []string
	}{
		{"good", func(t *testing.T, sink *otlpsink.Sink) []string {
			sink.RequireAuth("Basic " + marker)
			return []string{"O2_ORGANIZATION_ID=acme", "O2_AUTHORIZATION_HEADER=Basic " + marker, "O2_ENDPOINT=" + sink.URL(), "O2_STREAM=lambda_logs"}
		}, 0, []string{"✓ configuration valid", "✓ OTLP logs", "✓ OpenObserve logs", "all 4 destination checks passed"}},
		{"bad config", func(t *testing.T, sink *otlpsink.Sink) []string {
			return []string{"O2_AUTHORIZATION_HEADER=Basic " + marker}
		}, 1, []string{"✗ configuration: 1 problem", "O2_ORGANIZATION_ID environment variable is required"}},
		{"unreachable", func(t *testing.T, sink *otlpsink.Sink) []string {
			return []string{"O2_ORGANIZATION_ID=acme", "O2_AUTHORIZATION_HEADER=Basic " + marker, "O2_ENDPOINT=http://" + closedAddr(t)}
		}, 1, []string{"✓ configuration valid", "✗ OTLP logs", "connection refused", "✗ OpenObserve logs", "connection refused", "4 of 4 destination checks failed"}},
		{"unauthorized", func(t *testing.T, sink *otlpsink.Sink) []string {
			sink.RequireAuth("Basic right")
			return []string{"O2_ORGANIZATION_ID=acme", "O2_AUTHORIZATION_HEADER=Basic " + marker, "O2_ENDPOINT=" + sink.URL()}
		}, 1, []string{"✗ OpenObserve logs", "authentication failed (401 Unauthorized): check O2_AUTHORIZATION_HEADER"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sink := otlpsink.Start(t, otlpsink.Options{})
			// No config.toml of the machine's: point OTEL_LAMBDA_CONFIG
			// nowhere only when a test wants one; /var/task is absent here.
			if _, err := os.Stat(defaultConfigPath); err == nil {
				t.Skip(defaultConfigPath + " exists on this machine")
			}
			code, out, errOut := runBinary(t, tc.env(t, sink), "--health-check")
			if code != tc.code {
				t.Errorf("exit %d; want %d", code, tc.code)
			}
			checkOrdered(t, out, tc.stdout, sink.URL())
			if strings.Contains(out+errOut, marker) {
				t.Errorf("the credential is printed")
			}
			if t.Failed() {
				t.Logf("stdout:\n%s\nstderr:\n%s", out, errOut)
			}
		})
	}
}
