// health.go owns --health-check (seed 002): run anywhere (no Lambda
// needed), it validates the whole configuration, then tests every
// configured destination with one real request each, and prints one ✓ or
// ✗ line per check:
//
//   - each distinct OTLP endpoint (per signal over HTTP; once per gRPC
//     server), with the signal's real client: TLS files, headers,
//     protocol, compression, timeout. The logs endpoint gets one log record
//     with the attribute otel.lambda.health_check=true; traces and metrics
//     endpoints get an empty export request, which tests reachability and
//     credentials without storing anything.
//   - OpenObserve's _json API when O2 is enabled: one record of type
//     "health_check".
//
// A 401/403 (gRPC UNAUTHENTICATED/PERMISSION_DENIED) is reported as an
// authentication failure naming the variable that holds the credential.
// Exit status 0 when every check passes, else 1.
//
// Invariants: bounded by healthCheckTimeout in all; never prints a
// credential (header values are never printed, URLs are shown without user
// info or query, transport errors without the request URL); every
// goroutine is waited for.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"
)

// healthCheckTimeout bounds the whole health check: it is run by hand or
// from a deploy pipeline, where a dead endpoint must give an answer, not a
// hang; ten seconds is long enough for a TLS handshake to a far region.
const healthCheckTimeout = 10 * time.Second

// healthCheckBody is the message of the test records.
const healthCheckBody = extensionName + " health check"

// healthCheck is one check: its label, and the test that returns ok and
// what to print after the label.
type healthCheck struct {
	label string
	run   func(ctx context.Context) (ok bool, detail string)
}

// runHealthCheck is --health-check; see the file comment. It returns the
// process exit code.
func runHealthCheck(ctx context.Context, getenv func(string) string, stdout, stderr io.Writer) int {
	ctx, cancel := context.WithTimeout(ctx, healthCheckTimeout)
	defer cancel()
	fmt.Fprintf(stdout, "%s %s health check\n", extensionName, version)

	cfg, err := loadConfig(getenv, os.ReadFile)
	if err != nil {
		problems := joined(err)
		fmt.Fprintf(stdout, "✗ configuration: %d problem%s\n", len(problems), plural(len(problems)))
		for _, p := range problems {
			fmt.Fprintf(stdout, "    %v\n", p)
		}
		fmt.Fprintf(stderr, "%s: health check failed: fix the configuration above\n", extensionName)
		return 1
	}
	from := "environment"
	if cfg.ConfigPath != "" {
		from = "environment and " + cfg.ConfigPath
	}
	fmt.Fprintf(stdout, "✓ configuration valid (%s)\n", from)

	lg := newLogger(io.Discard, levelError) // the checks print their own results
	st := &stats{}
	exp, err := newExporter(&cfg, newRing(&cfg, st, lg), st, lg)
	if err != nil {
		fmt.Fprintf(stdout, "✗ exporter: %v\n", err)
		fmt.Fprintf(stderr, "%s: health check failed\n", extensionName)
		return 1
	}
	defer exp.closeIdle()
	res := detectResource(&cfg, getenv)
	checks := otlpChecks(&cfg, exp, res)
	if cfg.O2.Enabled {
		o2 := newO2Exporter(&cfg, lg)
		defer o2.closeIdle()
		checks = append(checks, healthCheck{
			label: "OpenObserve logs " + o2.name,
			run:   func(ctx context.Context) (bool, string) { return o2HealthCheck(ctx, o2) },
		})
	}

	// The checks run in parallel, so the total stays within the timeout
	// however many there are; results print in a fixed order.
	type result struct {
		ok     bool
		detail string
	}
	results := make([]result, len(checks))
	var wg sync.WaitGroup
	for i, c := range checks {
		wg.Go(func() {
			start := time.Now()
			ok, detail := c.run(ctx)
			if ok {
				detail += fmt.Sprintf(" in %s", time.Since(start).Round(time.Millisecond))
			}
			results[i] = result{ok, detail}
		})
	}
	wg.Wait()
	failed := 0
	for i, c := range checks {
		mark := "✓"
		if !results[i].ok {
			mark = "✗"
			failed++
		}
		fmt.Fprintf(stdout, "%s %s: %s\n", mark, c.label, results[i].detail)
	}
	if failed > 0 {
		fmt.Fprintf(stdout, "%d of %d destination checks failed\n", failed, len(checks))
		fmt.Fprintf(stderr, "%s: health check failed\n", extensionName)
		return 1
	}
	fmt.Fprintf(stdout, "all %d destination checks passed\n", len(checks))
	return 0
}

// otlpChecks returns one check per distinct OTLP endpoint, logs first so
// that a gRPC server shared by all signals gets the test log record.
func otlpChecks(cfg *Config, exp *exporter, res *resource) []healthCheck {
	type key struct{ endpoint, protocol string }
	var order []key
	sigs := map[key][]signal{}
	for _, s := range []signal{sigLogs, sigTraces, sigMetrics} {
		t := exp.t[s]
		if t.cfg.Endpoint == "" {
			continue
		}
		k := key{t.cfg.Endpoint, t.cfg.Protocol}
		if sigs[k] == nil {
			order = append(order, k)
		}
		sigs[k] = append(sigs[k], s)
	}
	var checks []healthCheck
	for _, k := range order {
		ss := sigs[k]
		t := exp.t[ss[0]]
		names := make([]string, len(ss))
		for i, s := range ss {
			names[i] = s.String()
		}
		credVar := envNames(ss[0], "HEADERS")
		if cfg.O2.Enabled && t.cfg.Endpoint == o2Target(cfg, ss[0]).Endpoint {
			credVar = "O2_AUTHORIZATION_HEADER"
		}
		checks = append(checks, healthCheck{
			label: fmt.Sprintf("OTLP %s %s (%s)", strings.Join(names, ", "), t.name, t.cfg.Protocol),
			run: func(ctx context.Context) (bool, string) {
				return otlpHealthCheck(ctx, exp, t, res, credVar)
			},
		})
	}
	return checks
}

// otlpHealthCheck sends the test request of t's signal once.
func otlpHealthCheck(ctx context.Context, exp *exporter, t *target, res *resource, credVar string) (bool, string) {
	var pb []byte
	what := "empty " + t.sig.String() + " export"
	if t.sig == sigLogs {
		pb, what = appendHealthCheckLogs(nil, res, time.Now()), "test log record"
	}
	body, err := exp.encode(t, &batch{sig: t.sig, data: pb, items: 1})
	if err != nil {
		return false, fmt.Sprintf("cannot encode the test request: %v", err)
	}
	r, _ := exp.attempt(ctx, t, body)
	timeoutVar := envNames(t.sig, "TIMEOUT")
	if credVar == "O2_AUTHORIZATION_HEADER" {
		timeoutVar = "O2_REQUEST_TIMEOUT_MS"
	}
	switch {
	case r.err != nil:
		return false, describeHealthError(ctx, r.err, timeoutVar, t.cfg.Timeout, envNames(t.sig, "CERTIFICATE"))
	case t.grpc && r.status == 0, !t.grpc && r.status/100 == 2:
		if r.rejected > 0 {
			return false, fmt.Sprintf("the backend rejected the %s: %s", what, r.message)
		}
		if t.grpc {
			return true, what + " accepted (gRPC OK)"
		}
		return true, fmt.Sprintf("%s accepted (%d)", what, r.status)
	case t.grpc && (r.status == 16 || r.status == 7):
		name := map[int]string{16: "UNAUTHENTICATED", 7: "PERMISSION_DENIED"}[r.status]
		return false, fmt.Sprintf("authentication failed (gRPC %s): check %s", name, credVar)
	case !t.grpc && (r.status == http.StatusUnauthorized || r.status == http.StatusForbidden):
		return false, fmt.Sprintf("authentication failed (%d %s): check %s", r.status, http.StatusText(r.status), credVar)
	case t.grpc:
		return false, fmt.Sprintf("gRPC status %d%s", r.status, prefixed(": ", r.message))
	case r.status == http.StatusNotFound:
		return false, fmt.Sprintf("404 Not Found: check the endpoint's path (OTEL_EXPORTER_OTLP_ENDPOINT gets %s appended; a per-signal endpoint is used as given)", t.sig.urlPath())
	}
	return false, fmt.Sprintf("%d %s%s", r.status, http.StatusText(r.status), prefixed(": ", r.message))
}

// o2HealthCheck sends one _json record of type "health_check".
func o2HealthCheck(ctx context.Context, e *o2Exporter) (bool, string) {
	rec := appendO2Record(nil, "health_check", time.Now().UTC().Format("2006-01-02T15:04:05.000Z"),
		[]byte(`"`+healthCheckBody+`"`), "")
	body := appendGzip(nil, append(append([]byte{'['}, rec...), ']'))
	r, _ := e.attempt(ctx, body)
	switch {
	case r.err != nil:
		return false, describeHealthError(ctx, r.err, "O2_REQUEST_TIMEOUT_MS", e.cfg.O2.RequestTimeout, "")
	case r.status/100 == 2 && r.rejected > 0:
		return false, "OpenObserve did not ingest the test record" + prefixed(": ", r.message)
	case r.status/100 == 2:
		return true, fmt.Sprintf("test record accepted (%d) into stream %s", r.status, e.cfg.O2.Stream)
	case r.status == http.StatusUnauthorized || r.status == http.StatusForbidden:
		return false, fmt.Sprintf("authentication failed (%d %s): check O2_AUTHORIZATION_HEADER", r.status, http.StatusText(r.status))
	case r.status == http.StatusNotFound:
		return false, "404 Not Found: check O2_ENDPOINT and O2_ORGANIZATION_ID"
	}
	return false, fmt.Sprintf("%d %s%s", r.status, http.StatusText(r.status), prefixed(": ", r.message))
}

// describeHealthError says why a destination could not be reached, with
// the likely fix, and never the request URL.
func describeHealthError(ctx context.Context, err error, timeoutVar string, timeout time.Duration, caVar string) string {
	var dnsErr *net.DNSError
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused: nothing listens there (check the endpoint's host and port)"
	case errors.As(err, &dnsErr):
		return fmt.Sprintf("cannot resolve host %q (check the endpoint)", dnsErr.Name)
	case ctx.Err() != nil:
		return fmt.Sprintf("no answer before the health check's deadline (%s for all checks)", healthCheckTimeout)
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Sprintf("timed out after %s (%s)", timeout, timeoutVar)
	case permanent(err) && caVar != "":
		return describeTransportError(err, timeoutVar, timeout) + " (for a private CA set " + caVar + ")"
	}
	return describeTransportError(err, timeoutVar, timeout)
}

// appendHealthCheckLogs appends an ExportLogsServiceRequest holding one
// INFO log record marked otel.lambda.health_check=true, under the
// extension's resource and scope.
func appendHealthCheckLogs(b []byte, res *resource, now time.Time) []byte {
	b, rl := openLen(b, 1) // ResourceLogs
	b = res.appendResource(b, 1)
	b, sl := openLen(b, 2) // ScopeLogs
	b, sc := openLen(b, 1)
	b = appendString(b, 1, extensionName)
	b = appendString(b, 2, version)
	b = closeLen(b, sc)
	b, lr := openLen(b, 2) // LogRecord
	ts := uint64(now.UnixNano())
	b = appendFixed64(b, 1, ts)
	b = appendVarint(b, 2, 9) // SEVERITY_NUMBER_INFO
	b = appendString(b, 3, "INFO")
	b, body := openLen(b, 5)
	b = appendString(b, 1, healthCheckBody) // AnyValue.string_value
	b = closeLen(b, body)
	b = appendKVBool(b, 6, "otel.lambda.health_check", true)
	b = appendFixed64(b, 11, ts)
	b = closeLen(b, lr)
	b = closeLen(b, sl)
	return closeLen(b, rl)
}

// joined returns the errors joined in err, or err itself.
func joined(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
