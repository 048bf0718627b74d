//go:build unix

// instrument_test.go runs the real otel-instrument under a POSIX sh (dash
// when installed) with fake runtime commands: shell scripts that record
// their argv, environment and PID, so each test sees exactly what the
// function's runtime would have started with.
package layertest

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// wrapperTimeout bounds one run of otel-instrument and the fake runtime: both
// are a few shell builtins and a handful of tiny processes.
const wrapperTimeout = 30 * time.Second

// posixShells are the shells the wrapper is run under: dash proves the
// script is POSIX (no bash-isms); bash in POSIX mode is what /bin/sh is on
// Amazon Linux, where Lambda really runs it. Each is used when installed.
func posixShells(t *testing.T) [][]string {
	t.Helper()
	var shells [][]string
	if p, err := exec.LookPath("dash"); err == nil {
		shells = append(shells, []string{p})
	}
	if p, err := exec.LookPath("bash"); err == nil {
		shells = append(shells, []string{p, "--posix"})
	}
	if len(shells) == 0 {
		p, err := exec.LookPath("sh")
		if err != nil {
			t.Skip("no POSIX sh found")
		}
		t.Logf("neither dash nor bash found; running otel-instrument under %s", p)
		shells = append(shells, []string{p})
	}
	return shells
}

// forEachShell runs f as a subtest per shell in posixShells.
func forEachShell(t *testing.T, f func(t *testing.T, shell []string)) {
	for _, sh := range posixShells(t) {
		t.Run(filepath.Base(sh[0]), func(t *testing.T) { f(t, sh) })
	}
}

// sandbox is a fake Lambda file system for one run of the wrapper.
type sandbox struct {
	shell []string // the POSIX shell and its flags
	dir   string
	bin   string // on PATH: fake tools such as opentelemetry-instrument
	tools string // on PATH: symlinks to the few real tools the wrapper uses
	task  string // LAMBDA_TASK_ROOT
	opt   string // OTEL_LAMBDA_OPT_DIR (stands for /opt)
	dump  string // prefix of the fake runtime's record files
	env   string // absolute path of the real env(1)
}

func newSandbox(t *testing.T, shell []string) *sandbox {
	t.Helper()
	dir := t.TempDir()
	s := &sandbox{
		shell: shell,
		dir:   dir,
		bin:   filepath.Join(dir, "bin"),
		tools: filepath.Join(dir, "tools"),
		task:  filepath.Join(dir, "task"),
		opt:   filepath.Join(dir, "opt"),
		dump:  filepath.Join(dir, "dump"),
	}
	for _, d := range []string{s.bin, s.tools, s.task, s.opt} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// A PATH of symlinks keeps the test hermetic: no real
	// opentelemetry-instrument or python3 on the machine can leak in.
	for _, tool := range []string{"mkdir", "mv", "rm", "env"} {
		p, err := exec.LookPath(tool)
		if err != nil {
			t.Skipf("%s not found: %v", tool, err)
		}
		if err := os.Symlink(p, filepath.Join(s.tools, tool)); err != nil {
			t.Fatal(err)
		}
		if tool == "env" {
			s.env = p
		}
	}
	return s
}

// runtime writes a fake runtime command at rel (inside the sandbox) that
// records its PID, argv (one per line) and environment, then exits with
// $FAKE_EXIT.
func (s *sandbox) runtime(t *testing.T, rel string) string {
	t.Helper()
	p := filepath.Join(s.dir, rel)
	script := "#!/bin/sh\n" +
		"echo $$ > \"$FAKE_DUMP.pid\"\n" +
		"for a in \"$0\" \"$@\"; do printf '%s\\n' \"$a\"; done > \"$FAKE_DUMP.argv\"\n" +
		s.env + " > \"$FAKE_DUMP.env\"\n" +
		"exit \"${FAKE_EXIT:-0}\"\n"
	s.write(t, rel, script, 0o755)
	return p
}

// write creates a file (and its parents) inside the sandbox.
func (s *sandbox) write(t *testing.T, rel, content string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(s.dir, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	return p
}

// ran is what the fake runtime saw.
type ran struct {
	argv           []string
	env            map[string]string
	pid            int // the runtime's PID
	wrapperPID     int // the PID the wrapper was started with
	code           int
	stdout, stderr string
}

// run starts `sh otel-instrument argv...` with exactly env (plus PATH and
// the dump location) and returns what the fake runtime recorded.
func (s *sandbox) run(t *testing.T, env map[string]string, argv ...string) ran {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), wrapperTimeout)
	defer cancel()
	args := append(append(slices.Clone(s.shell[1:]), repoFile(t, "otel-instrument")), argv...)
	cmd := exec.CommandContext(ctx, s.shell[0], args...)
	cmd.Env = []string{"PATH=" + s.bin + ":" + s.tools, "FAKE_DUMP=" + s.dump}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Dir = s.dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	r := ran{stdout: stdout.String(), stderr: stderr.String()}
	var exitErr *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exitErr) && ctx.Err() == nil:
		r.code = exitErr.ExitCode()
	default:
		t.Fatalf("run otel-instrument %v: %v\nstderr:\n%s", argv, err, r.stderr)
	}
	r.wrapperPID = cmd.Process.Pid

	b, err := os.ReadFile(s.dump + ".argv")
	if err != nil {
		t.Fatalf("the fake runtime did not run (exit %d, stderr %q): %v", r.code, r.stderr, err)
	}
	r.argv = strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	b, err = os.ReadFile(s.dump + ".pid")
	if err != nil {
		t.Fatal(err)
	}
	r.pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
	b, err = os.ReadFile(s.dump + ".env")
	if err != nil {
		t.Fatal(err)
	}
	r.env = map[string]string{}
	for _, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		k, v, _ := strings.Cut(line, "=")
		r.env[k] = v
	}
	for _, f := range []string{".argv", ".pid", ".env"} {
		os.Remove(s.dump + f)
	}
	return r
}

// baseEnv is what Lambda would give a function whose user configured the
// extension through the shared environment (DESIGN.md "One environment, two
// readers"): a backend endpoint and its credentials.
func baseEnv() map[string]string {
	return map[string]string{
		"AWS_LAMBDA_FUNCTION_NAME":               "my-fn",
		"AWS_LAMBDA_FUNCTION_VERSION":            "$LATEST",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE":        "128",
		"AWS_REGION":                             "eu-west-1",
		"AWS_ACCESS_KEY_ID":                      "ASIAFUNCTIONROLE",
		"AWS_SECRET_ACCESS_KEY":                  "function-role-secret",
		"AWS_EXECUTION_ENV":                      "AWS_Lambda_ruby3.3",
		"OTEL_EXPORTER_OTLP_ENDPOINT":            "https://api.openobserve.ai/api/org",
		"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT":     "https://api.openobserve.ai/api/org/v1/traces",
		"OTEL_EXPORTER_OTLP_PROTOCOL":            "grpc",
		"OTEL_EXPORTER_OTLP_LOGS_PROTOCOL":       "http/json",
		"OTEL_EXPORTER_OTLP_HEADERS":             "Authorization=Basic c2VjcmV0LWhlYWRlcg==",
		"OTEL_EXPORTER_OTLP_TRACES_HEADERS":      "Authorization=Basic c2VjcmV0LXRyYWNlcw==",
		"OTEL_EXPORTER_OTLP_CLIENT_KEY":          "/var/task/secret-client.key",
		"OTEL_EXPORTER_OTLP_METRICS_CERTIFICATE": "/var/task/ca.pem",
		"OTEL_EXPORTER_OTLP_COMPRESSION":         "gzip",
		"O2_AUTHORIZATION_HEADER":                "Basic c2VjcmV0LW8y",
		"O2_ORGANIZATION_ID":                     "org",
		"OTEL_LAMBDA_HANDOFF_FILE":               "", // set per sandbox
	}
}

// secrets are the values that must never reach the runtime or the output.
var secrets = []string{"c2VjcmV0LWhlYWRlcg==", "c2VjcmV0LXRyYWNlcw==", "c2VjcmV0LW8y", "secret-client.key"}

// removedVars must be absent from the runtime's environment.
var removedVars = []string{
	"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_LOGS_PROTOCOL",
	"OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
	"OTEL_EXPORTER_OTLP_CLIENT_KEY", "OTEL_EXPORTER_OTLP_METRICS_CERTIFICATE",
	"O2_AUTHORIZATION_HEADER",
}

func TestInstrumentEnvironment(t *testing.T) {
	tests := []struct {
		name   string
		set    map[string]string // on top of baseEnv; "" value deletes
		want   map[string]string // exact values; "<unset>" means absent
		argv   []string          // runtime args after the command
		exit   int
		stderr string // substring wanted in stderr; "" = stderr must be empty
	}{
		{
			name: "plain exec rewrites endpoint and sets defaults",
			argv: []string{"--flag", "two words", "", "$HOME", "*"},
			want: map[string]string{
				"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318",
				"OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
				"OTEL_BSP_SCHEDULE_DELAY":     "1",
				"OTEL_BSP_EXPORT_TIMEOUT":     "500",
				"OTEL_EXPORTER_OTLP_TIMEOUT":  "500",
				"OTEL_TRACES_EXPORTER":        "otlp",
				"OTEL_TRACES_SAMPLER":         "always_on",
				"OTEL_SERVICE_NAME":           "my-fn",
				"OTEL_RESOURCE_ATTRIBUTES":    "cloud.provider=aws,cloud.platform=aws_lambda,cloud.region=eu-west-1,faas.name=my-fn,faas.version=$LATEST,faas.max_memory=134217728",
				// What the function needs stays.
				"AWS_ACCESS_KEY_ID":              "ASIAFUNCTIONROLE",
				"AWS_SECRET_ACCESS_KEY":          "function-role-secret",
				"O2_ORGANIZATION_ID":             "org",
				"OTEL_EXPORTER_OTLP_COMPRESSION": "gzip",
				"OTEL_PROPAGATORS":               "<unset>",
				"NODE_OPTIONS":                   "<unset>",
				"JAVA_TOOL_OPTIONS":              "<unset>",
			},
		},
		{
			name: "user-set values are kept",
			set: map[string]string{
				"OTEL_BSP_SCHEDULE_DELAY":    "200",
				"OTEL_BSP_EXPORT_TIMEOUT":    "1000",
				"OTEL_EXPORTER_OTLP_TIMEOUT": "2000",
				"OTEL_TRACES_EXPORTER":       "console",
				"OTEL_TRACES_SAMPLER":        "parentbased_traceidratio",
				"OTEL_PROPAGATORS":           "b3",
				"OTEL_SERVICE_NAME":          "checkout",
				"OTEL_RESOURCE_ATTRIBUTES":   "deployment.environment=prod,faas.name=custom",
			},
			want: map[string]string{
				"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318",
				"OTEL_BSP_SCHEDULE_DELAY":     "200",
				"OTEL_BSP_EXPORT_TIMEOUT":     "1000",
				"OTEL_EXPORTER_OTLP_TIMEOUT":  "2000",
				"OTEL_TRACES_EXPORTER":        "console",
				"OTEL_TRACES_SAMPLER":         "parentbased_traceidratio",
				"OTEL_PROPAGATORS":            "b3",
				"OTEL_SERVICE_NAME":           "checkout",
				"OTEL_RESOURCE_ATTRIBUTES":    "deployment.environment=prod,faas.name=custom,cloud.provider=aws,cloud.platform=aws_lambda,cloud.region=eu-west-1,faas.version=$LATEST,faas.max_memory=134217728",
			},
		},
		{
			name: "service.name in resource attributes wins over the function name",
			set:  map[string]string{"OTEL_RESOURCE_ATTRIBUTES": "service.name=from-attrs"},
			want: map[string]string{"OTEL_SERVICE_NAME": "<unset>"},
		},
		{
			name: "outside Lambda nothing is invented",
			set: map[string]string{
				"AWS_LAMBDA_FUNCTION_NAME": "", "AWS_LAMBDA_FUNCTION_VERSION": "",
				"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "", "AWS_REGION": "",
			},
			want: map[string]string{"OTEL_SERVICE_NAME": "<unset>", "OTEL_RESOURCE_ATTRIBUTES": "<unset>"},
		},
		{
			name: "attribute values that would need encoding are left out",
			set:  map[string]string{"AWS_LAMBDA_FUNCTION_VERSION": "a,b=c", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "0128"},
			want: map[string]string{"OTEL_RESOURCE_ATTRIBUTES": "cloud.provider=aws,cloud.platform=aws_lambda,cloud.region=eu-west-1,faas.name=my-fn"},
		},
		{
			name: "receiver port",
			set:  map[string]string{"OTEL_LAMBDA_RECEIVER_PORT": "4320"},
			want: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4320"},
		},
		{
			name: "bad receiver port falls back to 4318",
			set:  map[string]string{"OTEL_LAMBDA_RECEIVER_PORT": "99999"},
			want: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"},
		},
		{
			name: "runtime exit code passes through",
			set:  map[string]string{"FAKE_EXIT": "7"},
			exit: 7,
		},
		{
			name:   "debug prints what it did but no secret",
			set:    map[string]string{"OTEL_LAMBDA_LOG_LEVEL": "DEBUG"},
			stderr: "removed O2_AUTHORIZATION_HEADER",
		},
	}
	forEachShell(t, func(t *testing.T, shell []string) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				s := newSandbox(t, shell)
				env := baseEnv()
				env["OTEL_LAMBDA_HANDOFF_FILE"] = filepath.Join(s.dir, "handoff", "runtime.env")
				for k, v := range tt.set {
					if v == "" {
						delete(env, k)
					} else {
						env[k] = v
					}
				}
				rt := s.runtime(t, "var/runtime/bootstrap")
				r := s.run(t, env, append([]string{rt}, tt.argv...)...)

				if want := append([]string{rt}, tt.argv...); !slices.Equal(r.argv, want) {
					t.Errorf("runtime argv = %q; want %q", r.argv, want)
				}
				if r.pid != r.wrapperPID {
					t.Errorf("runtime PID = %d; want the wrapper's PID %d (the wrapper must exec, not fork)", r.pid, r.wrapperPID)
				}
				if r.code != tt.exit {
					t.Errorf("exit code = %d; want %d", r.code, tt.exit)
				}
				for _, k := range removedVars {
					if v, ok := r.env[k]; ok {
						t.Errorf("runtime env has %s=%q; want it removed", k, v)
					}
				}
				for k, want := range tt.want {
					got, ok := r.env[k]
					if want == "<unset>" {
						if ok {
							t.Errorf("runtime env %s = %q; want unset", k, got)
						}
						continue
					}
					if got != want {
						t.Errorf("runtime env %s = %q; want %q", k, got, want)
					}
				}
				if r.stdout != "" {
					t.Errorf("stdout = %q; want nothing", r.stdout)
				}
				if tt.stderr == "" && r.stderr != "" {
					t.Errorf("stderr = %q; want nothing outside debug mode", r.stderr)
				}
				if !strings.Contains(r.stderr, tt.stderr) {
					t.Errorf("stderr = %q; want it to contain %q", r.stderr, tt.stderr)
				}
				for _, secret := range secrets {
					if strings.Contains(r.stderr+r.stdout, secret) {
						t.Errorf("output contains the credential %q:\n%s", secret, r.stderr)
					}
					for k, v := range r.env {
						if strings.Contains(v, secret) {
							t.Errorf("runtime env %s carries the credential %q", k, secret)
						}
					}
				}
			})
		}
	})
}

// TestInstrumentAutoInstrumentation checks language detection with fake
// packages, agent jars and scripts in the task root, /opt and PATH.
func TestInstrumentAutoInstrumentation(t *testing.T) {
	const nodePkg = "node_modules/@opentelemetry/auto-instrumentations-node"
	const nodeRequire = "--require @opentelemetry/auto-instrumentations-node/register"
	type layout struct {
		dirs  []string          // created inside the sandbox
		files map[string]string // created inside the sandbox
	}
	tests := []struct {
		name    string
		runtime string // fake runtime path inside the sandbox
		execEnv string // AWS_EXECUTION_ENV; "" = unset
		layout  layout
		set     map[string]string
		// wantArgv is the recorded argv with {rt}, {sb} expanded; nil = unchanged.
		wantArgv []string
		want     map[string]string // {sb} expanded; "<unset>" means absent
	}{
		{
			name: "node in task root", runtime: "var/lang/bin/node", execEnv: "AWS_Lambda_nodejs20.x",
			layout: layout{dirs: []string{"task/" + nodePkg}},
			set:    map[string]string{"NODE_OPTIONS": "--max-old-space-size=100"},
			want: map[string]string{
				"NODE_OPTIONS":     "--max-old-space-size=100 " + nodeRequire,
				"OTEL_PROPAGATORS": "tracecontext,baggage,xray",
			},
		},
		{
			name: "node in a layer, detected by command name", runtime: "var/lang/bin/node",
			layout: layout{dirs: []string{"opt/nodejs/" + nodePkg}},
			want:   map[string]string{"NODE_OPTIONS": nodeRequire},
		},
		{
			name: "node already instrumented by the user", runtime: "var/lang/bin/node", execEnv: "AWS_Lambda_nodejs22.x",
			layout: layout{dirs: []string{"task/" + nodePkg}},
			set:    map[string]string{"NODE_OPTIONS": "--require @opentelemetry/auto-instrumentations-node/register"},
			want:   map[string]string{"NODE_OPTIONS": nodeRequire},
		},
		{
			name: "node without the package", runtime: "var/lang/bin/node", execEnv: "AWS_Lambda_nodejs20.x",
			want: map[string]string{"NODE_OPTIONS": "<unset>", "OTEL_PROPAGATORS": "<unset>"},
		},
		{
			name: "node package but a python runtime", runtime: "var/lang/bin/python3.12", execEnv: "AWS_Lambda_python3.12",
			layout: layout{dirs: []string{"task/" + nodePkg}},
			want:   map[string]string{"NODE_OPTIONS": "<unset>"},
		},
		{
			name: "python on PATH", runtime: "var/lang/bin/python3.12", execEnv: "AWS_Lambda_python3.12",
			layout:   layout{files: map[string]string{"bin/opentelemetry-instrument": "#!/nonexistent/python\n"}},
			set:      map[string]string{"PYTHONPATH": "/var/runtime"},
			wantArgv: []string{"{rt}", "{sb}/bin/opentelemetry-instrument", "{rt}", "/var/runtime/bootstrap.py"},
			want:     map[string]string{"PYTHONPATH": "/var/runtime:{sb}", "OTEL_PROPAGATORS": "<unset>"},
		},
		{
			name: "python in task root", runtime: "var/lang/bin/python3.13", execEnv: "AWS_Lambda_python3.13",
			layout:   layout{files: map[string]string{"task/bin/opentelemetry-instrument": "#!/nonexistent/python\n"}},
			set:      map[string]string{"PYTHONPATH": "/var/runtime"},
			wantArgv: []string{"{rt}", "{sb}/task/bin/opentelemetry-instrument", "{rt}", "/var/runtime/bootstrap.py"},
			want:     map[string]string{"PYTHONPATH": "/var/runtime:{sb}/task"},
		},
		{
			name: "python in a layer, detected by command name", runtime: "var/lang/bin/python3.9",
			layout: layout{
				dirs:  []string{"opt/python/lib/python3.9/site-packages"},
				files: map[string]string{"opt/python/bin/opentelemetry-instrument": "#!/nonexistent/python\n"},
			},
			wantArgv: []string{"{rt}", "{sb}/opt/python/bin/opentelemetry-instrument", "{rt}", "/var/runtime/bootstrap.py"},
			want:     map[string]string{"PYTHONPATH": "{sb}/opt/python:{sb}/opt/python/lib/python3.9/site-packages"},
		},
		{
			name: "python without opentelemetry-instrument", runtime: "var/lang/bin/python3.12", execEnv: "AWS_Lambda_python3.12",
			want: map[string]string{"PYTHONPATH": "<unset>"},
		},
		{
			name: "java agent in a layer", runtime: "var/lang/bin/java", execEnv: "AWS_Lambda_java21",
			layout: layout{files: map[string]string{"opt/opentelemetry-javaagent.jar": "PK"}},
			set:    map[string]string{"JAVA_TOOL_OPTIONS": "-Xshare:auto"},
			want: map[string]string{
				"JAVA_TOOL_OPTIONS": "-Xshare:auto -javaagent:{sb}/opt/opentelemetry-javaagent.jar",
				"OTEL_PROPAGATORS":  "tracecontext,baggage,xray",
			},
		},
		{
			name: "java agent in task root, detected by command name", runtime: "var/lang/bin/java",
			layout: layout{files: map[string]string{"task/opentelemetry-javaagent.jar": "PK"}},
			want:   map[string]string{"JAVA_TOOL_OPTIONS": "-javaagent:{sb}/task/opentelemetry-javaagent.jar"},
		},
		{
			name: "java without agent", runtime: "var/lang/bin/java", execEnv: "AWS_Lambda_java17",
			want: map[string]string{"JAVA_TOOL_OPTIONS": "<unset>"},
		},
		{
			name: "opt-out keeps node untouched", runtime: "var/lang/bin/node", execEnv: "AWS_Lambda_nodejs20.x",
			layout: layout{dirs: []string{"task/" + nodePkg}},
			set:    map[string]string{"OTEL_LAMBDA_AUTO_INSTRUMENT": "false"},
			want: map[string]string{
				"NODE_OPTIONS":                "<unset>",
				"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", // the rewrite still happens
			},
		},
		{
			name: "opt-out keeps python untouched", runtime: "var/lang/bin/python3.12", execEnv: "AWS_Lambda_python3.12",
			layout: layout{files: map[string]string{"bin/opentelemetry-instrument": "#!/nonexistent/python\n"}},
			set:    map[string]string{"OTEL_LAMBDA_AUTO_INSTRUMENT": "FALSE"},
		},
		{
			name: "opt-out keeps java untouched", runtime: "var/lang/bin/java", execEnv: "AWS_Lambda_java21",
			layout: layout{files: map[string]string{"opt/opentelemetry-javaagent.jar": "PK"}},
			set:    map[string]string{"OTEL_LAMBDA_AUTO_INSTRUMENT": "false"},
			want:   map[string]string{"JAVA_TOOL_OPTIONS": "<unset>"},
		},
	}
	forEachShell(t, func(t *testing.T, shell []string) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				s := newSandbox(t, shell)
				for _, d := range tt.layout.dirs {
					if err := os.MkdirAll(filepath.Join(s.dir, d), 0o755); err != nil {
						t.Fatal(err)
					}
				}
				for rel, content := range tt.layout.files {
					s.write(t, rel, content, 0o755)
				}
				env := map[string]string{
					"AWS_LAMBDA_FUNCTION_NAME": "my-fn",
					"LAMBDA_TASK_ROOT":         s.task,
					"OTEL_LAMBDA_OPT_DIR":      s.opt,
					"OTEL_LAMBDA_HANDOFF_FILE": filepath.Join(s.dir, "handoff", "runtime.env"),
				}
				if tt.execEnv != "" {
					env["AWS_EXECUTION_ENV"] = tt.execEnv
				}
				for k, v := range tt.set {
					env[k] = v
				}
				rt := s.runtime(t, tt.runtime)
				args := []string{rt, "/var/runtime/bootstrap.py"}
				r := s.run(t, env, args...)

				expand := strings.NewReplacer("{rt}", rt, "{sb}", s.dir).Replace
				want := args
				if tt.wantArgv != nil {
					want = nil
					for _, a := range tt.wantArgv {
						want = append(want, expand(a))
					}
				}
				if !slices.Equal(r.argv, want) {
					t.Errorf("runtime argv = %q; want %q", r.argv, want)
				}
				if r.pid != r.wrapperPID {
					t.Errorf("runtime PID = %d; want the wrapper's PID %d (exec, not fork)", r.pid, r.wrapperPID)
				}
				for k, w := range tt.want {
					got, ok := r.env[k]
					if w == "<unset>" {
						if ok {
							t.Errorf("runtime env %s = %q; want unset", k, got)
						}
						continue
					}
					if w = expand(w); got != w {
						t.Errorf("runtime env %s = %q; want %q", k, got, w)
					}
				}
				if r.stdout != "" || r.stderr != "" {
					t.Errorf("output = %q / %q; want nothing outside debug mode", r.stdout, r.stderr)
				}
			})
		}
	})
}

func TestInstrumentHandoff(t *testing.T) {
	forEachShell(t, func(t *testing.T, shell []string) {
		s := newSandbox(t, shell)
		file := filepath.Join(s.dir, "tmp", "otel-lambda-extension", "runtime.env") // parent dirs do not exist yet
		env := map[string]string{
			"AWS_LAMBDA_FUNCTION_NAME":   "my-fn",
			"AWS_LAMBDA_LOG_GROUP_NAME":  "/aws/lambda/my-fn",
			"AWS_LAMBDA_LOG_STREAM_NAME": "2025/01/02/[$LATEST]0123456789abcdef",
			"OTEL_LAMBDA_HANDOFF_FILE":   file,
		}
		rt := s.runtime(t, "var/runtime/bootstrap")
		r := s.run(t, env, rt)
		got, err := os.ReadFile(file)
		if err != nil {
			t.Fatalf("handoff file: %v", err)
		}
		want := "AWS_LAMBDA_LOG_GROUP_NAME=/aws/lambda/my-fn\nAWS_LAMBDA_LOG_STREAM_NAME=2025/01/02/[$LATEST]0123456789abcdef\n"
		if string(got) != want {
			t.Errorf("handoff file = %q; want %q", got, want)
		}
		// The runtime keeps both variables; the handoff is a copy.
		if r.env["AWS_LAMBDA_LOG_GROUP_NAME"] != "/aws/lambda/my-fn" {
			t.Errorf("runtime env AWS_LAMBDA_LOG_GROUP_NAME = %q; want it kept", r.env["AWS_LAMBDA_LOG_GROUP_NAME"])
		}
		if want := "faas.instance=2025/01/02/[$LATEST]0123456789abcdef"; !strings.Contains(r.env["OTEL_RESOURCE_ATTRIBUTES"], want) {
			t.Errorf("OTEL_RESOURCE_ATTRIBUTES = %q; want it to contain %q", r.env["OTEL_RESOURCE_ATTRIBUTES"], want)
		}
		entries, err := os.ReadDir(filepath.Dir(file))
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) != 1 {
			t.Errorf("handoff dir holds %d entries; want only runtime.env (no temporary file left)", len(entries))
		}

		// A second start (a new sandbox after SnapStart restore, or a missing
		// variable) replaces the file instead of appending to it.
		delete(env, "AWS_LAMBDA_LOG_STREAM_NAME")
		s.run(t, env, rt)
		got, err = os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if want := "AWS_LAMBDA_LOG_GROUP_NAME=/aws/lambda/my-fn\n"; string(got) != want {
			t.Errorf("handoff file after restart = %q; want %q", got, want)
		}
	})
}

func TestInstrumentHandoffUnwritable(t *testing.T) {
	forEachShell(t, func(t *testing.T, shell []string) {
		s := newSandbox(t, shell)
		// A regular file where the directory should be: mkdir fails even for
		// root, who ignores permission bits.
		blocker := s.write(t, "blocker", "", 0o644)
		for _, file := range []string{
			filepath.Join(blocker, "sub", "runtime.env"),
			filepath.Join(blocker, "runtime.env"),
		} {
			env := map[string]string{
				"AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/my-fn",
				"OTEL_LAMBDA_HANDOFF_FILE":  file,
			}
			rt := s.runtime(t, "var/runtime/bootstrap")
			r := s.run(t, env, rt, "arg")
			if want := []string{rt, "arg"}; !slices.Equal(r.argv, want) || r.code != 0 {
				t.Errorf("with handoff %s: argv %q, exit %d; want %q, 0", file, r.argv, r.code, want)
			}
			if r.stderr != "" {
				t.Errorf("with handoff %s: stderr = %q; want nothing", file, r.stderr)
			}
			// In debug mode the failure is reported, and the runtime still runs.
			env["OTEL_LAMBDA_LOG_LEVEL"] = "debug"
			r = s.run(t, env, rt, "arg")
			if !strings.Contains(r.stderr, "could not write") {
				t.Errorf("debug stderr = %q; want it to report the failed handoff", r.stderr)
			}
		}
	})
}

func TestInstrumentNoCommand(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), wrapperTimeout)
	defer cancel()
	sh := posixShells(t)[0]
	cmd := exec.CommandContext(ctx, sh[0], append(sh[1:], repoFile(t, "otel-instrument"))...)
	cmd.Env = []string{"PATH=/nonexistent"}
	out, err := cmd.CombinedOutput()
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) || exitErr.ExitCode() != 2 {
		t.Errorf("otel-instrument without a command: err %v; want exit status 2", err)
	}
	if !strings.Contains(string(out), "usage") {
		t.Errorf("output = %q; want a usage line", out)
	}
}

// TestInstrumentShellcheck lints both scripts when shellcheck is installed;
// the other tests never depend on it.
func TestInstrumentShellcheck(t *testing.T) {
	sc, err := exec.LookPath("shellcheck")
	if err != nil {
		t.Skip("shellcheck not installed")
	}
	ctx, cancel := context.WithTimeout(t.Context(), wrapperTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, sc, "-s", "sh", repoFile(t, "otel-instrument"), repoFile(t, "deploy.sh"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("shellcheck: %v\n%s", err, out)
	}
}
