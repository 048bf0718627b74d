package main

// Security properties of the running extension: receivers on loopback by
// default, a warning when told otherwise, and credentials that never
// appear in anything the extension writes or exports. TLS verification on
// by default is covered by TestScenarioTLSUntrusted and
// TestScenarioTLSNoCleartextFallback.

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	"otel-lambda-extension/internal/lambdasim"
	"otel-lambda-extension/internal/otlpsink"
)

// listeningSockets returns the local addresses ("127.0.0.1:4318") of the
// TCP sockets pid listens on, from /proc/<pid>/fd and /proc/net/tcp{,6}.
func listeningSockets(t testing.TB, pid int) []string {
	t.Helper()
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatalf("listing the extension's sockets: %v", err)
	}
	inodes := map[string]bool{}
	for _, fd := range fds {
		l, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
		if err == nil && strings.HasPrefix(l, "socket:[") {
			inodes[strings.TrimSuffix(strings.TrimPrefix(l, "socket:["), "]")] = true
		}
	}
	var out []string
	for _, file := range []string{"tcp", "tcp6"} {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/%s", pid, file))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			f := strings.Fields(line)
			// sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
			if len(f) < 10 || f[3] != "0A" || !inodes[f[9]] {
				continue
			}
			out = append(out, procAddr(t, f[1]))
		}
	}
	return out
}

// procAddr decodes /proc/net/tcp's "0100007F:10DE" (little-endian words).
func procAddr(t testing.TB, s string) string {
	host, port, _ := strings.Cut(s, ":")
	p, _ := strconv.ParseUint(port, 16, 16)
	var ip []byte
	for i := 0; i+8 <= len(host); i += 8 {
		w, err := strconv.ParseUint(host[i:i+8], 16, 32)
		if err != nil {
			t.Fatalf("bad /proc/net/tcp address %q", s)
		}
		ip = append(ip, byte(w), byte(w>>8), byte(w>>16), byte(w>>24))
	}
	if len(ip) == 16 && bytes.Equal(ip[:12], []byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff}) {
		ip = ip[12:]
	}
	if len(ip) == 4 {
		return fmt.Sprintf("%d.%d.%d.%d:%d", ip[0], ip[1], ip[2], ip[3], p)
	}
	return fmt.Sprintf("[%x]:%d", ip, p)
}

// With default settings every socket the extension listens on (OTLP/HTTP,
// OTLP/gRPC, the Telemetry API listener) is bound to 127.0.0.1.
func TestSecurityLoopbackByDefault(t *testing.T) {
	t.Parallel()
	sb := mustStart(t, sandboxOpts{env: map[string]string{"OTEL_LAMBDA_RECEIVER_HOST": ""}})
	addrs := listeningSockets(t, sb.sim.PID(extensionName))
	if len(addrs) < 3 {
		t.Fatalf("listening sockets %v; want the OTLP/HTTP, OTLP/gRPC and telemetry listeners", addrs)
	}
	for _, a := range addrs {
		if !strings.HasPrefix(a, "127.0.0.1:") {
			t.Errorf("the extension listens on %s; want 127.0.0.1 only", a)
		}
	}
	for _, p := range []int{sb.port, sb.grpcPort} {
		want := "127.0.0.1:" + itoa(p)
		if !strings.Contains(strings.Join(addrs, " "), want) {
			t.Errorf("no listener on %s among %v", want, addrs)
		}
	}
	checkShutdownClean(t, sb, "spindown")
}

// A receiver host that is not loopback is allowed but warned about,
// naming the address and the variable. (It binds all interfaces on a
// random port for the second the test lasts; nothing connects to it.)
func TestSecurityNonLoopbackHostWarns(t *testing.T) {
	t.Parallel()
	sb := mustStart(t, sandboxOpts{env: map[string]string{"OTEL_LAMBDA_RECEIVER_HOST": "0.0.0.0"}})
	checkShutdownClean(t, sb, "spindown")
	var warned bool
	for l := range strings.SplitSeq(sb.stderr.String(), "\n") {
		if strings.Contains(l, "WARN") && strings.Contains(l, "0.0.0.0") && strings.Contains(l, "OTEL_LAMBDA_RECEIVER_HOST") {
			warned = true
		}
	}
	if !warned {
		t.Errorf("no warning naming 0.0.0.0 and OTEL_LAMBDA_RECEIVER_HOST:\n%s", sb.stderr.String())
	}
}

// Marker credentials, set as the OTLP Authorization header and the
// OpenObserve one, must never appear in the extension's output, its init
// error report, or anything it exports (its own log lines come back
// through the Telemetry API and are exported as log records), whatever
// happens: success at debug level, a 401, a configuration error, a backend
// that is down, --help, an init error.
func TestSecurityNoCredentialLeak(t *testing.T) {
	t.Parallel()
	const otlpMarker = "MARKER-7f3a9c1e5b"
	const o2Marker = "MARKER-O2-b4d2e8"
	secrets := []string{otlpMarker, o2Marker}
	credEnv := func(sink *otlpsink.Sink, extra map[string]string) map[string]string {
		env := map[string]string{
			"OTEL_EXPORTER_OTLP_HEADERS": "Authorization=Bearer " + otlpMarker + ",X-Other=1",
			"O2_ORGANIZATION_ID":         "org",
			"O2_AUTHORIZATION_HEADER":    "Basic " + o2Marker,
		}
		if sink != nil {
			env["O2_ENDPOINT"] = sink.URL()
		}
		for k, v := range extra {
			env[k] = v
		}
		return env
	}
	check := func(t *testing.T, what string, texts ...[]byte) {
		t.Helper()
		for _, txt := range texts {
			for _, s := range secrets {
				if i := bytes.Index(txt, []byte(s)); i >= 0 {
					lo, hi := max(0, i-80), min(len(txt), i+len(s)+20)
					t.Errorf("%s contains the credential %s: …%q…", what, s, txt[lo:hi])
				}
			}
		}
	}
	checkSandbox := func(t *testing.T, sb *sandbox) {
		t.Helper()
		stdout, stderr := sb.sim.Output(extensionName)
		check(t, "the extension's output", []byte(sb.stderr.String()), stdout, stderr)
		for _, e := range sb.sim.Extensions() {
			check(t, "the init/exit error report", []byte(e.ErrorType), e.ErrorBody)
		}
		if sb.sink == nil {
			return
		}
		for _, r := range sb.sink.Requests() {
			body := r.Body
			if r.Header.Get("Content-Encoding") == "gzip" {
				if b, err := gunzipLimit(nil, body, 64<<20); err == nil {
					body = b
				}
			}
			check(t, "a request body at the backend ("+r.Path+")", body)
		}
	}

	t.Run("success at debug level", func(t *testing.T) {
		t.Parallel()
		// Two backends, each taking only its own credential: the OTLP one
		// and OpenObserve's _json, where the extension's own log lines go
		// in OpenObserve mode.
		sink := otlpsink.Start(t, otlpsink.Options{})
		sink.RequireAuth("Bearer " + otlpMarker)
		o2 := otlpsink.Start(t, otlpsink.Options{})
		o2.RequireAuth("Basic " + o2Marker)
		sb := mustStart(t, sandboxOpts{noSink: true, env: credEnv(o2, map[string]string{
			"OTEL_EXPORTER_OTLP_ENDPOINT": sink.URL(),
			"OTEL_LAMBDA_LOG_LEVEL":       "debug",
		})})
		sb.sink = sink
		for i := range 2 {
			sb.invoke(func(inv *lambdasim.Invocation) error {
				inv.Printf("function line %d", i)
				postSpans(t, inv, sb, "cred", 1)
				return nil
			})
		}
		checkShutdownClean(t, sb, "spindown")
		if len(functionSpans(sink)) != 2 {
			t.Errorf("the spans were not delivered with the configured header")
		}
		var extLogs int
		for _, r := range o2.JSONRecords() {
			if strings.Contains(fmt.Sprint(r.Fields["record"]), "Extension registered") {
				extLogs++
			}
		}
		if extLogs == 0 {
			t.Errorf("the extension's own log lines never reached OpenObserve: nothing to check there")
		}
		for _, r := range o2.Requests() {
			body := r.Body
			if r.Header.Get("Content-Encoding") == "gzip" {
				if b, err := gunzipLimit(nil, body, 64<<20); err == nil {
					body = b
				}
			}
			check(t, "a request body at OpenObserve ("+r.Path+")", body)
		}
		checkSandbox(t, sb)
	})

	t.Run("401 from the backend", func(t *testing.T) {
		t.Parallel()
		sink := otlpsink.Start(t, otlpsink.Options{})
		sink.RequireAuth("Bearer something-else")
		sb := mustStart(t, sandboxOpts{noSink: true, env: credEnv(sink, map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": sink.URL()})})
		sb.sink = sink
		sb.invoke(func(inv *lambdasim.Invocation) error { postSpans(t, inv, sb, "unauth", 1); return nil })
		checkShutdownClean(t, sb, "spindown")
		if !strings.Contains(sb.stderr.String(), "authentication failed") {
			t.Errorf("no authentication error in the output:\n%s", sb.stderr.String())
		}
		checkSandbox(t, sb)
	})

	t.Run("configuration error", func(t *testing.T) {
		t.Parallel()
		sb, err := startSandbox(t, sandboxOpts{env: credEnv(nil, map[string]string{
			"OTEL_EXPORTER_OTLP_HEADERS": "Authorization=Bearer%zz" + otlpMarker,
			"O2_MAX_RETRIES":             "many",
		})})
		if _, ok := isInitError(err); !ok {
			t.Fatalf("init error = %v; want a configuration error", err)
		}
		body := string(sb.extInfo().ErrorBody)
		t.Logf("init error: %s", body)
		if !strings.Contains(body, "OTEL_EXPORTER_OTLP_HEADERS") {
			t.Errorf("the init error does not name OTEL_EXPORTER_OTLP_HEADERS: %s", body)
		}
		sb.waitExit()
		checkSandbox(t, sb)
	})

	t.Run("backend down", func(t *testing.T) {
		t.Parallel()
		sb := mustStart(t, sandboxOpts{noSink: true, env: credEnv(nil, map[string]string{
			"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:" + itoa(freePort(t)),
			"O2_ENDPOINT":                 "http://127.0.0.1:" + itoa(freePort(t)),
			"OTEL_LAMBDA_FLUSH_TIMEOUT":   "300ms",
			"OTEL_LAMBDA_LOG_LEVEL":       "debug",
		})})
		sb.invoke(func(inv *lambdasim.Invocation) error { postSpans(t, inv, sb, "down", 1); return nil })
		checkShutdownClean(t, sb, "spindown")
		checkSandbox(t, sb)
	})

	t.Run("init error", func(t *testing.T) {
		t.Parallel()
		taken := freePort(t)
		ln := listenOn(t, taken)
		defer ln.Close()
		sb, err := startSandbox(t, sandboxOpts{env: credEnv(nil, map[string]string{"OTEL_LAMBDA_RECEIVER_PORT": itoa(taken)})})
		if _, ok := isInitError(err); !ok {
			t.Fatalf("init error = %v; want port in use", err)
		}
		sb.waitExit()
		checkSandbox(t, sb)
	})

	t.Run("help and version", func(t *testing.T) {
		t.Parallel()
		env := []string{"OTEL_EXPORTER_OTLP_HEADERS=Authorization=Bearer " + otlpMarker, "O2_AUTHORIZATION_HEADER=Basic " + o2Marker, "O2_ORGANIZATION_ID=org"}
		for _, args := range [][]string{{"--help"}, {"--version"}, {"--frobnicate"}, nil} {
			_, out, errOut := runBinary(t, env, args...)
			check(t, fmt.Sprintf("the output of %v", args), []byte(out), []byte(errOut))
		}
	})
}
