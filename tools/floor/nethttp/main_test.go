package main

import (
	"context"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// build compiles this command the way its size is measured.
func build(t *testing.T) string {
	t.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command in PATH")
	}
	out := filepath.Join(t.TempDir(), "nethttp")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, gobin, "build", "-trimpath", "-ldflags=-s -w", "-o", out, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	return out
}

func TestNetHTTPFloor(t *testing.T) {
	bin := build(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	if b, err := exec.CommandContext(ctx, bin).CombinedOutput(); err != nil || len(b) != 0 {
		t.Errorf("no args: got %v, %q; want exit 0 and no output", err, b)
	}

	// A real TLS handshake proves crypto/tls is linked and working; the
	// child trusts the test server through SSL_CERT_FILE.
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, bin, "get", srv.URL)
	cmd.Env = append(os.Environ(), "SSL_CERT_FILE="+caFile)
	b, err := cmd.CombinedOutput()
	if err != nil || string(b) != "200 OK\n" {
		t.Errorf("get: got %v, %q; want 200 OK", err, b)
	}
}
