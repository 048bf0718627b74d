// js_test.go: the OpenTelemetry JS SDK (from npm, run with node) as a
// client of the extension. Its three trace exporters (OTLP/HTTP JSON,
// OTLP/HTTP protobuf, OTLP/gRPC) send through the extension to each export
// protocol; js/send.js tees every span to a reference backend, and the
// backend behind the extension must receive the same spans. The Node SDK
// sends chunked request bodies, which the Go SDK never does.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// jsExporters maps send.js's exporter kind to its npm package and the
// extension receiver it sends to.
var jsExporters = []struct{ kind, pkg, receiver string }{
	{"http", "exporter-trace-otlp-http (JSON)", "http"},
	{"proto", "exporter-trace-otlp-proto", "http"},
	{"grpc", "exporter-trace-otlp-grpc", "grpc"},
}

// npmInstall installs e2e/js's locked dependencies once per run.
func npmInstall(t *testing.T) string {
	t.Helper()
	node, nerr := exec.LookPath("node")
	npm, perr := exec.LookPath("npm")
	if nerr != nil || perr != nil {
		t.Skipf("node or npm not on PATH (node: %v, npm: %v): the JS SDK tests need Node.js >= 18 and npm", nerr, perr)
	}
	out, err := exec.Command(node, "--version").Output()
	if err != nil {
		t.Fatalf("node --version: %v", err)
	}
	t.Logf("node %s", bytes.TrimSpace(out))
	dir, err := filepath.Abs("js")
	if err != nil {
		t.Fatal(err)
	}
	// 3 minutes: a cold npm ci of ~50 packages on a slow network.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund", "--prefer-offline")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("npm ci in %s: %v\n%s", dir, err, out)
	}
	return node
}

// runSendJS runs js/send.js and returns how many spans it sent.
func runSendJS(t *testing.T, node, kind, url, refURL, cell string, gz bool) int {
	t.Helper()
	// 8 s: inside the 10 s function timeout.
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "send.js", kind, url, refURL, cell, onOff(gz))
	cmd.Dir = "js"
	// A clean environment: no OTEL_* of the developer's shell reaches the SDK.
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var res struct {
		Sent   int      `json:"sent"`
		Errors []string `json:"errors"`
	}
	if jerr := json.Unmarshal(out, &res); jerr != nil {
		t.Errorf("%s: node send.js %s: %v (output %q, stderr %s)", cell, kind, err, out, stderr.String())
		return 0
	}
	if err != nil || len(res.Errors) > 0 {
		t.Errorf("%s: node send.js %s: %v: %v\n%s", cell, kind, err, res.Errors, stderr.String())
	}
	return res.Sent
}

// TestJSSDK: 3 sandboxes (one per export protocol, with export gzip on for
// protobuf and gRPC and off for JSON), each with 6 invocations (3 JS
// exporters × SDK gzip on/off): 18 pairs.
func TestJSSDK(t *testing.T) {
	node := npmInstall(t)
	resultsMu.Lock()
	start := len(results)
	resultsMu.Unlock()
	for _, exp := range []struct {
		proto string
		gzip  bool
	}{{"http/protobuf", true}, {"http/json", false}, {"grpc", true}} {
		t.Run(fmt.Sprintf("export=%s,gzip=%v", strings.ReplaceAll(exp.proto, "/", "-"), exp.gzip), func(t *testing.T) {
			rec, refRec := &recorder{}, &recorder{}
			endpoint := exportBackend(t, exp.proto, rec)
			refHTTP := startHTTPBackend(t, refRec).url
			refGRPC := "http://" + startGRPCBackend(t, refRec).addr
			sb := sandboxFor(t, exp.proto, exp.gzip, endpoint)
			for _, je := range jsExporters {
				for _, sdkGz := range compressions {
					cell := fmt.Sprintf("js/%s/%s/%s/%s", je.kind, onOff(sdkGz), exp.proto, onOff(exp.gzip))
					url := fmt.Sprintf("http://127.0.0.1:%d/v1/traces", sb.recvPort)
					refURL := refHTTP + "/v1/traces"
					if je.receiver == "grpc" {
						url = fmt.Sprintf("http://127.0.0.1:%d", sb.grpcPort)
						refURL = refGRPC
					}
					sent := map[string]int{}
					sb.invoke(t, func(sandboxEvent) {
						sent["traces"] = runSendJS(t, node, je.kind, url, refURL, cell, sdkGz)
					})
					reqs, errs := rec.take()
					refReqs, refErrs := refRec.take()
					if je.receiver == "http" {
						chunked := 0
						for _, r := range refReqs {
							if r.chunked {
								chunked++
							}
						}
						t.Logf("%s: %d of the SDK's %d requests (to the reference) had chunked bodies", cell, chunked, len(refReqs))
					}
					for _, e := range append(errs, refErrs...) {
						t.Errorf("%s: backend: %s", cell, e)
					}
					checkCell(t, resultRow{client: "js " + je.pkg, receiver: je.receiver, sdkGzip: sdkGz,
						exporter: exp.proto, expGzip: exp.gzip}, cell, sent, reqs, refReqs)
				}
			}
			sb.shutdown(t)
		})
	}
	resultsMu.Lock()
	rows := slices.Clone(results[start:])
	resultsMu.Unlock()
	t.Logf("JS SDK:\n%s", resultTable(rows))
}
