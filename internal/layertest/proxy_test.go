//go:build unix

// proxy_test.go checks that otel-instrument points the runtime at the
// extension's Runtime API proxy only when the extension announced it in
// proxy.ready, and otherwise leaves AWS_LAMBDA_RUNTIME_API alone.
package layertest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestInstrumentRuntimeProxy(t *testing.T) {
	const lambdaAPI = "127.0.0.1:9001"
	tests := []struct {
		name     string
		marker   *string // content of proxy.ready; nil = no file
		set      map[string]string
		api      string // AWS_LAMBDA_RUNTIME_API the runtime gets
		upstream string // OTEL_LAMBDA_UPSTREAM_RUNTIME_API; "<unset>" = absent
		debug    string // wanted in debug stderr
	}{
		{name: "announced proxy is used", marker: ptr("9009\n"), api: "127.0.0.1:9009", upstream: lambdaAPI},
		{name: "announced port without newline", marker: ptr("41234"), api: "127.0.0.1:41234", upstream: lambdaAPI},
		{name: "configured port matches", marker: ptr("9009\n"), set: map[string]string{"OTEL_LAMBDA_RUNTIME_PROXY_PORT": "9009"},
			api: "127.0.0.1:9009", upstream: lambdaAPI},
		{name: "no marker: no extension proxy", api: lambdaAPI, upstream: "<unset>", debug: "no runtime API proxy announced"},
		{name: "switched off", marker: ptr("9009\n"), set: map[string]string{"OTEL_LAMBDA_RUNTIME_PROXY": "false"},
			api: lambdaAPI, upstream: "<unset>", debug: "runtime API proxy off (OTEL_LAMBDA_RUNTIME_PROXY)"},
		{name: "port off", marker: ptr("9009\n"), set: map[string]string{"OTEL_LAMBDA_RUNTIME_PROXY_PORT": "off"},
			api: lambdaAPI, upstream: "<unset>", debug: "runtime API proxy off (OTEL_LAMBDA_RUNTIME_PROXY_PORT)"},
		{name: "port 0", marker: ptr("9009\n"), set: map[string]string{"OTEL_LAMBDA_RUNTIME_PROXY_PORT": "0"}, api: lambdaAPI, upstream: "<unset>"},
		{name: "stale marker names another port", marker: ptr("9009\n"), set: map[string]string{"OTEL_LAMBDA_RUNTIME_PROXY_PORT": "9010"},
			api: lambdaAPI, upstream: "<unset>", debug: "not using it"},
		{name: "garbage marker", marker: ptr("90x9\n"), api: lambdaAPI, upstream: "<unset>"},
		{name: "empty marker", marker: ptr(""), api: lambdaAPI, upstream: "<unset>"},
		{name: "port out of range", marker: ptr("99999\n"), api: lambdaAPI, upstream: "<unset>"},
		{name: "leading zero", marker: ptr("09009\n"), api: lambdaAPI, upstream: "<unset>"},
		{name: "already pointing at the proxy", marker: ptr("9009\n"), set: map[string]string{"AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9009"},
			api: "127.0.0.1:9009", upstream: "<unset>"},
		{name: "outside Lambda", marker: ptr("9009\n"), set: map[string]string{"AWS_LAMBDA_RUNTIME_API": ""}, api: "<unset>", upstream: "<unset>"},
	}
	forEachShell(t, func(t *testing.T, shell []string) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				s := newSandbox(t, shell)
				handoff := filepath.Join(s.dir, "tmp", "otel-lambda-extension", "runtime.env")
				if tt.marker != nil {
					s.write(t, "tmp/otel-lambda-extension/proxy.ready", *tt.marker, 0o644)
				}
				env := map[string]string{
					"AWS_LAMBDA_RUNTIME_API":   lambdaAPI,
					"OTEL_LAMBDA_HANDOFF_FILE": handoff,
					"OTEL_LAMBDA_LOG_LEVEL":    "debug",
				}
				for k, v := range tt.set {
					if v == "" {
						delete(env, k)
					} else {
						env[k] = v
					}
				}
				rt := s.runtime(t, "var/runtime/bootstrap")
				r := s.run(t, env, rt)
				check := func(k, want string) {
					got, ok := r.env[k]
					switch {
					case want == "<unset>" && ok:
						t.Errorf("runtime env %s = %q; want unset", k, got)
					case want != "<unset>" && got != want:
						t.Errorf("runtime env %s = %q; want %q", k, got, want)
					}
				}
				check("AWS_LAMBDA_RUNTIME_API", tt.api)
				check("OTEL_LAMBDA_UPSTREAM_RUNTIME_API", tt.upstream)
				if !strings.Contains(r.stderr, tt.debug) {
					t.Errorf("debug stderr = %q; want it to contain %q", r.stderr, tt.debug)
				}
				if r.code != 0 {
					t.Errorf("exit %d; want 0", r.code)
				}
				// Outside debug mode the wrapper stays silent either way.
				env["OTEL_LAMBDA_LOG_LEVEL"] = "info"
				if r := s.run(t, env, rt); r.stderr != "" {
					t.Errorf("stderr outside debug mode = %q; want nothing", r.stderr)
				}
			})
		}
	})
}

func ptr(s string) *string { return &s }

// The marker directory follows the handoff file, so a wrapper whose handoff
// file has no directory part reads ./proxy.ready.
func TestInstrumentRuntimeProxyRelativeHandoff(t *testing.T) {
	forEachShell(t, func(t *testing.T, shell []string) {
		s := newSandbox(t, shell)
		s.write(t, "proxy.ready", "9123\n", 0o644)
		rt := s.runtime(t, "var/runtime/bootstrap")
		r := s.run(t, map[string]string{"AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9001", "OTEL_LAMBDA_HANDOFF_FILE": "runtime.env"}, rt)
		if got := r.env["AWS_LAMBDA_RUNTIME_API"]; got != "127.0.0.1:9123" {
			t.Errorf("AWS_LAMBDA_RUNTIME_API = %q; want 127.0.0.1:9123", got)
		}
		os.Remove(filepath.Join(s.dir, "runtime.env"))
	})
}
