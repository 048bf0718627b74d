package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// build compiles this command the way its size is measured and returns the
// path of the binary, named name.
func build(t *testing.T, name string) string {
	t.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command in PATH")
	}
	out := filepath.Join(t.TempDir(), name)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, gobin, "build", "-trimpath", "-ldflags=-s -w", "-o", out, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	return out
}

func TestRegisterFloor(t *testing.T) {
	bin := build(t, "floor-ext")

	var mu sync.Mutex
	var name, nextID string
	events := []string{`{"eventType":"INVOKE","deadlineMs":1767225603000,"requestId":"8476a536-e9f4-11e8-9739-2dfe598c3fcd"}`,
		`{"eventType":"SHUTDOWN","shutdownReason":"spindown","deadlineMs":1767225605000}`}
	nexts := 0
	mux := http.NewServeMux()
	mux.HandleFunc("POST /2020-01-01/extension/register", func(w http.ResponseWriter, r *http.Request) {
		var body struct{ Events []string }
		json.NewDecoder(r.Body).Decode(&body)
		mu.Lock()
		name = r.Header.Get("Lambda-Extension-Name")
		mu.Unlock()
		if strings.Join(body.Events, ",") != "INVOKE,SHUTDOWN" {
			http.Error(w, "bad events", http.StatusBadRequest)
			return
		}
		w.Header().Set("Lambda-Extension-Identifier", "a1b2c3d4-0000-4000-8000-000000000001")
		w.Write([]byte(`{"functionName":"f","functionVersion":"$LATEST","handler":"index.handler"}`))
	})
	mux.HandleFunc("GET /2020-01-01/extension/event/next", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		nextID = r.Header.Get("Lambda-Extension-Identifier")
		if nexts >= len(events) {
			http.Error(w, "called after SHUTDOWN", http.StatusForbidden)
			return
		}
		w.Write([]byte(events[nexts]))
		nexts++
	})
	api := httptest.NewServer(mux)
	defer api.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin)
	cmd.Env = append(os.Environ(), "AWS_LAMBDA_RUNTIME_API="+strings.TrimPrefix(api.URL, "http://"))
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("run: %v\n%s", err, b)
	}
	mu.Lock()
	defer mu.Unlock()
	if name != "floor-ext" || nextID != "a1b2c3d4-0000-4000-8000-000000000001" || nexts != 2 {
		t.Errorf("got name %q, id %q, %d next calls; want floor-ext, the registered id, 2", name, nextID, nexts)
	}
}

func TestRegisterFloorNoAPI(t *testing.T) {
	bin := build(t, "floor-ext")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	b, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(string(b), "AWS_LAMBDA_RUNTIME_API") {
		t.Errorf("got %v, %q; want exit 1 naming AWS_LAMBDA_RUNTIME_API", err, b)
	}
}
