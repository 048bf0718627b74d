package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestDemoAgainstFakeExtension runs the demo end to end with the fake
// extension, which forwards what its OTLP receiver gets to the sink.
func TestDemoAgainstFakeExtension(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "fake-ext")
	if b, err := exec.Command("go", "build", "-o", bin, "../../internal/lambdasim/fakeext").CombinedOutput(); err != nil {
		t.Fatalf("go build fakeext: %v\n%s", err, b)
	}
	// The fake extension needs a fixed receiver port; take a free one.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	code := run(ctx, []string{
		"-ext", bin, "-invokes", "3", "-otlp-port", fmt.Sprint(port),
		"-env", "FAKEEXT_OTLP_ADDR=127.0.0.1:" + fmt.Sprint(port),
		"-env", "FAKEEXT_TELEMETRY=platform",
		"-env", "FAKEEXT_WAIT_RUNTIMEDONE=1",
	}, &stdout, &stderr)
	out := stdout.String()
	if code != 0 {
		t.Fatalf("run = %d; want 0\nstdout:\n%s\nstderr:\n%s", code, out, stderr.String())
	}
	for _, want := range []string{"init: fake-ext ready in", "invoke 1: success", "invoke 3: success", "post-runtime fake-ext", "shutdown: fake-ext exited 0", "span demo-invocation", "x3", "OK"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestDemoFailsWithoutReceiver(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "fake-ext")
	if b, err := exec.Command("go", "build", "-o", bin, "../../internal/lambdasim/fakeext").CombinedOutput(); err != nil {
		t.Fatalf("go build fakeext: %v\n%s", err, b)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close() // nobody listens there: every span post fails
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	if code := run(ctx, []string{"-ext", bin, "-invokes", "1", "-otlp-port", fmt.Sprint(port)}, &stdout, &stderr); code != 1 {
		t.Errorf("run = %d; want 1\n%s", code, stdout.String())
	}
	if !strings.Contains(stdout.String(), "FAIL: invoke 1: span post") {
		t.Errorf("output lacks the span post failure:\n%s", stdout.String())
	}
}

func TestXrayIDs(t *testing.T) {
	tr, p := xrayIDs("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1")
	if got := fmt.Sprintf("%x/%x", tr, p); got != "5759e988bd862e3fe1be46a994272793/53995c3f42cd8ad8" {
		t.Errorf("got %s; want 5759e988bd862e3fe1be46a994272793/53995c3f42cd8ad8", got)
	}
}
