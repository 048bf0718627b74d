package main

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// buildOnce builds the extension binary once per test process, as Lambda
// would run it: a file named otel-lambda-extension.
var buildOnce = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "otel-ext-bin-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, extensionName)
	args := []string{"build", "-trimpath", "-o", bin}
	if testing.CoverMode() != "" {
		args = append(args, "-cover")
	}
	cmd := exec.Command("go", append(args, ".")...)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", errors.New("go build: " + err.Error() + "\n" + string(out))
	}
	return bin, nil
})

func extensionBinary(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the extension binary")
	}
	bin, err := buildOnce()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// runBinary runs the built extension with args and env (nothing inherited
// but PATH), bounded in time, and returns its exit code and output.
func runBinary(t *testing.T, env []string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	bin := extensionBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, env...)
	var o, e strings.Builder
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("%v %v did not finish in time; stderr:\n%s", bin, args, e.String())
	}
	code = 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, o.String(), e.String()
}

func TestCLIFlags(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		args      []string
		env       []string
		code      int
		outHas    []string
		stderrHas []string
		noStdout  bool
	}{
		{name: "help", args: []string{"--help"}, code: 0,
			outHas: []string{"--version", "--health-check", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_LAMBDA_FLUSH_STRATEGY", "O2_ORGANIZATION_ID"}},
		{name: "short help", args: []string{"-h"}, code: 0, outHas: []string{"OTEL_LAMBDA_RECEIVER_PORT"}},
		{name: "version", args: []string{"--version"}, code: 0, outHas: []string{extensionName, "go1."}},
		{name: "unknown flag", args: []string{"--frobnicate"}, code: 2, noStdout: true,
			stderrHas: []string{"frobnicate", "OTEL_EXPORTER_OTLP_ENDPOINT"}},
		{name: "stray argument", args: []string{"serve"}, code: 2, stderrHas: []string{`"serve"`}},
		{name: "outside lambda", code: 1, noStdout: true,
			stderrHas: []string{"AWS Lambda extension", "AWS_LAMBDA_RUNTIME_API is not set", "./build.sh demo"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			code, out, errOut := runBinary(t, tc.env, tc.args...)
			if code != tc.code {
				t.Fatalf("exit code %d; want %d\nstdout:\n%s\nstderr:\n%s", code, tc.code, out, errOut)
			}
			for _, s := range tc.outHas {
				if !strings.Contains(out, s) {
					t.Errorf("stdout lacks %q:\n%s", s, out)
				}
			}
			for _, s := range tc.stderrHas {
				if !strings.Contains(errOut, s) {
					t.Errorf("stderr lacks %q:\n%s", s, errOut)
				}
			}
			if tc.noStdout && out != "" {
				t.Errorf("stdout should be empty, got:\n%s", out)
			}
		})
	}
}

// A Runtime API that is not there is a clear message and a prompt exit,
// never a hang or a hot retry loop.
func TestUnreachableRuntimeAPI(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now: connections are refused
	start := time.Now()
	code, _, errOut := runBinary(t, []string{
		"AWS_LAMBDA_RUNTIME_API=" + addr,
		"OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:9",
		"OTEL_LAMBDA_RECEIVER_PORT=0", "OTEL_LAMBDA_GRPC_PORT=0",
	})
	if code != 1 {
		t.Fatalf("exit code %d; want 1; stderr:\n%s", code, errOut)
	}
	if !strings.Contains(errOut, "cannot register") || !strings.Contains(errOut, addr) {
		t.Errorf("stderr should say it cannot register with %s:\n%s", addr, errOut)
	}
	if n := strings.Count(errOut, "\n"); n > 5 {
		t.Errorf("%d lines of output for one failure (a retry loop?):\n%s", n, errOut)
	}
	t.Logf("exited after %v", time.Since(start))
}

// TestDependencies guards the design card: the binary links nothing outside
// the standard library. (protowire went too: its internal/detrand init reads
// and hashes our executable on every cold start; wire.go replaces it.)
func TestDependencies(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("the go tool is not on PATH: cannot list the binary's dependencies")
	}
	// Without -test: the dependencies of the binary, not of its tests,
	// which may use protowire and the OTLP protos.
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, p := range strings.Fields(string(out)) {
		if p != "otel-lambda-extension" {
			t.Errorf("the binary links %s: only the standard library is allowed", p)
		}
	}
	// Standard packages that cost more than they give: encoding/json is
	// about 280 KB of the stripped binary, and jsonlite.go reads and
	// writes the few JSON shapes we have.
	out, err = exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, p := range strings.Fields(string(out)) {
		switch p {
		case "encoding/json":
			t.Errorf("the binary links %s", p)
		}
	}
}

// TestREADMEListsEveryVariable keeps the README's configuration table true:
// every variable the parser reads is documented there.
func TestREADMEListsEveryVariable(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range configVars() {
		if !strings.Contains(string(readme), "`"+v.env+"`") {
			t.Errorf("README.md does not document %s", v.env)
		}
	}
}
