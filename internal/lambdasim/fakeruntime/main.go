// Command fakeruntime is a tiny Lambda runtime used to test lambdasim's
// external runtime mode and the extension's Runtime API proxy. It loops
// invocation/next → (optionally) POST one span as OTLP/JSON to the
// extension → response, speaking the Runtime API at AWS_LAMBDA_RUNTIME_API
// like a real runtime (one keep-alive connection, no timeouts). Its
// behaviour is chosen by environment variables (all optional):
//
//	FAKERT_RECORD     file to append JSON lines to ({"kind","data"}): "start"
//	                  with the Runtime API address, one "invoke" per event with
//	                  every Lambda-Runtime-* header and the payload, and "post"
//	                  with the status of each result POST
//	FAKERT_OTLP       "1": before answering, POST a span named "fn-<request id>"
//	                  to $OTEL_EXPORTER_OTLP_ENDPOINT/v1/traces and wait for it
//	FAKERT_OTLP_ENDPOINT  overrides OTEL_EXPORTER_OTLP_ENDPOINT for that
//	FAKERT_MODE       echo (default: respond {"requestId","payload"}), error
//	                  (POST /error with type Handled.Error), stream (a streamed
//	                  response in two parts; FAKERT_STREAM_ERROR sets the error
//	                  trailer), initerror (POST /init/error, exit 1), exit
//	                  (exit 3 on the first event), large (respond
//	                  FAKERT_SIZE bytes)
//
// It prints one line per event ("fakeruntime: invoke <id>"), which Lambda
// turns into a `function` log event.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

func main() {
	os.Exit(run())
}

type recorder struct {
	mu sync.Mutex
	f  *os.File
}

func (r *recorder) add(kind string, data any) {
	if r.f == nil {
		return
	}
	b, _ := json.Marshal(map[string]any{"kind": kind, "data": data})
	r.mu.Lock()
	defer r.mu.Unlock()
	_, _ = r.f.Write(append(b, '\n'))
}

func run() int {
	api := os.Getenv("AWS_LAMBDA_RUNTIME_API")
	base := "http://" + api + "/2018-06-01/runtime"
	rec := &recorder{}
	if p := os.Getenv("FAKERT_RECORD"); p != "" {
		f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			fmt.Fprintln(os.Stderr, "fakeruntime: open record:", err)
			return 1
		}
		defer f.Close()
		rec.f = f
	}
	rec.add("start", map[string]string{
		"runtimeAPI": api,
		"upstream":   os.Getenv("OTEL_LAMBDA_UPSTREAM_RUNTIME_API"),
		"otlp":       os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT"),
	})
	// One client, no timeout: next is a long poll across freezes.
	hc := &http.Client{Transport: &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 2}}
	mode := os.Getenv("FAKERT_MODE")

	if mode == "initerror" {
		req, _ := http.NewRequest("POST", base+"/init/error", strings.NewReader(`{"errorMessage":"cannot load handler","errorType":"Runtime.ImportModuleError"}`))
		req.Header.Set("Lambda-Runtime-Function-Error-Type", "Runtime.ImportModuleError")
		if resp, err := hc.Do(req); err == nil {
			resp.Body.Close()
			rec.add("post", map[string]any{"path": "init/error", "status": resp.StatusCode})
		}
		return 1
	}

	for {
		resp, err := hc.Get(base + "/invocation/next")
		if err != nil {
			fmt.Fprintln(os.Stderr, "fakeruntime: next:", err)
			return 1
		}
		payload, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			fmt.Fprintf(os.Stderr, "fakeruntime: next: %d %q %v\n", resp.StatusCode, payload, err)
			return 1
		}
		id := resp.Header.Get("Lambda-Runtime-Aws-Request-Id")
		headers := map[string]string{}
		for k := range resp.Header {
			if strings.HasPrefix(k, "Lambda-Runtime-") || k == "Content-Type" {
				headers[k] = resp.Header.Get(k)
			}
		}
		rec.add("invoke", map[string]any{"requestId": id, "headers": headers, "payload": string(payload)})
		fmt.Println("fakeruntime: invoke " + id)

		if mode == "exit" {
			return 3
		}
		if os.Getenv("FAKERT_OTLP") == "1" {
			if err := postSpan(hc, id); err != nil {
				fmt.Fprintln(os.Stderr, "fakeruntime: otlp:", err)
			}
		}

		var req *http.Request
		switch mode {
		case "error":
			req, _ = http.NewRequest("POST", base+"/invocation/"+id+"/error",
				strings.NewReader(`{"errorMessage":"handled failure","errorType":"Handled.Error","stackTrace":[]}`))
			req.Header.Set("Lambda-Runtime-Function-Error-Type", "Handled.Error")
		case "stream":
			pr, pw := io.Pipe()
			req, _ = http.NewRequest("POST", base+"/invocation/"+id+"/response", pr)
			req.Header.Set("Lambda-Runtime-Function-Response-Mode", "streaming")
			req.Header.Set("Content-Type", "application/octet-stream")
			req.Trailer = http.Header{"Lambda-Runtime-Function-Error-Type": nil, "Lambda-Runtime-Function-Error-Body": nil}
			errType := os.Getenv("FAKERT_STREAM_ERROR")
			go func() {
				pw.Write([]byte("part one;"))
				time.Sleep(5 * time.Millisecond)
				pw.Write([]byte("part two"))
				if errType != "" {
					req.Trailer.Set("Lambda-Runtime-Function-Error-Type", errType)
					req.Trailer.Set("Lambda-Runtime-Function-Error-Body", "c3RyZWFtIGZhaWxlZA==")
				}
				pw.Close()
			}()
		case "large":
			n, _ := strconv.Atoi(os.Getenv("FAKERT_SIZE"))
			req, _ = http.NewRequest("POST", base+"/invocation/"+id+"/response", bytes.NewReader(bytes.Repeat([]byte("x"), n)))
		default:
			b, _ := json.Marshal(map[string]any{"requestId": id, "payload": json.RawMessage(payload)})
			req, _ = http.NewRequest("POST", base+"/invocation/"+id+"/response", bytes.NewReader(b))
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err = hc.Do(req)
		if err != nil {
			fmt.Fprintln(os.Stderr, "fakeruntime: post result:", err)
			return 1
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		rec.add("post", map[string]any{"requestId": id, "status": resp.StatusCode, "body": string(body)})
	}
}

// postSpan sends one span named fn-<id> as OTLP/JSON, the way an SDK's
// force-flush does before the handler returns.
func postSpan(hc *http.Client, id string) error {
	ep := os.Getenv("FAKERT_OTLP_ENDPOINT")
	if ep == "" {
		ep = os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT")
	}
	if ep == "" {
		ep = "http://127.0.0.1:4318"
	}
	now := time.Now().UnixNano()
	body := fmt.Sprintf(`{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"fakeruntime"}}]},`+
		`"scopeSpans":[{"scope":{"name":"test"},"spans":[{"traceId":"%032x","spanId":"%016x","name":"fn-%s","kind":2,`+
		`"startTimeUnixNano":"%d","endTimeUnixNano":"%d"}]}]}]}`, now, now, id, now-1000, now)
	resp, err := hc.Post(strings.TrimSuffix(ep, "/")+"/v1/traces", "application/json", strings.NewReader(body))
	if err != nil {
		return err
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%d %s", resp.StatusCode, b)
	}
	return nil
}
