// Command fakeext is a tiny Lambda extension used to test lambdasim and the
// lambdasim demo before the real extension exists. It registers, optionally
// subscribes to the Telemetry API, appends everything it receives to a JSON
// lines file, calls next, and exits on SHUTDOWN. Its behaviour is chosen by
// environment variables (all optional):
//
//	FAKEEXT_RECORD          file to append JSON lines to ({"kind","data"})
//	FAKEEXT_NAME            name to register with (default: base name of argv[0])
//	FAKEEXT_EVENTS          events to register for (default "INVOKE,SHUTDOWN")
//	FAKEEXT_TELEMETRY       types to subscribe to, e.g. "platform,function,extension"
//	FAKEEXT_SCHEMA          schemaVersion (default 2022-12-13)
//	FAKEEXT_TIMEOUT_MS      buffering.timeoutMs (default 25)
//	FAKEEXT_MAX_ITEMS       buffering.maxItems (default 1000)
//	FAKEEXT_WAIT_RUNTIMEDONE  "1": after INVOKE wait (≤5 s) for platform.runtimeDone of the request
//	FAKEEXT_POST_SLEEP_MS   sleep this long after runtimeDone before next
//	FAKEEXT_IGNORE_SHUTDOWN "1": on SHUTDOWN ignore it (and SIGTERM) and hang
//	FAKEEXT_INIT_ERROR      call /init/error with this type, then exit 1
//	FAKEEXT_OTLP_ADDR       listen for OTLP/HTTP there and forward each request
//	                        verbatim to OTEL_EXPORTER_OTLP_ENDPOINT + path
//	FAKEEXT_EXIT_CODE       exit code after SHUTDOWN (default 0)
//
// It writes one stderr line per event ("fakeext: event INVOKE <id>") so
// tests can see extension log lines come back as `extension` events.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
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
	api := "http://" + os.Getenv("AWS_LAMBDA_RUNTIME_API")
	rec := &recorder{}
	if p := os.Getenv("FAKEEXT_RECORD"); p != "" {
		f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			fmt.Fprintln(os.Stderr, "fakeext: open record:", err)
			return 1
		}
		defer f.Close()
		rec.f = f
	}
	rec.add("env", os.Environ())

	name := os.Getenv("FAKEEXT_NAME")
	if name == "" {
		name = filepath.Base(os.Args[0])
	}
	events := []string{"INVOKE", "SHUTDOWN"}
	if v, ok := os.LookupEnv("FAKEEXT_EVENTS"); ok {
		events = nil
		for e := range strings.SplitSeq(v, ",") {
			if e != "" {
				events = append(events, e)
			}
		}
	}
	body, _ := json.Marshal(map[string]any{"events": events})
	req, _ := http.NewRequest(http.MethodPost, api+"/2020-01-01/extension/register", bytes.NewReader(body))
	req.Header.Set("Lambda-Extension-Name", name)
	req.Header.Set("Lambda-Extension-Accept-Feature", "accountId")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Fprintln(os.Stderr, "fakeext: register:", err)
		return 1
	}
	rb, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	rec.add("register", map[string]any{"status": resp.StatusCode, "body": string(rb), "id": resp.Header.Get("Lambda-Extension-Identifier")})
	if resp.StatusCode != 200 {
		fmt.Fprintf(os.Stderr, "fakeext: register: %s %s\n", resp.Status, rb)
		return 1
	}
	id := resp.Header.Get("Lambda-Extension-Identifier")

	if t := os.Getenv("FAKEEXT_INIT_ERROR"); t != "" {
		req, _ := http.NewRequest(http.MethodPost, api+"/2020-01-01/extension/init/error", strings.NewReader(`{"errorMessage":"fake init failure","errorType":"`+t+`"}`))
		req.Header.Set("Lambda-Extension-Identifier", id)
		req.Header.Set("Lambda-Extension-Function-Error-Type", t)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			rec.add("init.error", resp.StatusCode)
			resp.Body.Close()
		}
		return 1
	}

	// Telemetry listener (bound before subscribing).
	var tmu sync.Mutex
	seen := map[string]chan struct{}{}
	signalOf := func(key string) chan struct{} {
		tmu.Lock()
		defer tmu.Unlock()
		ch, ok := seen[key]
		if !ok {
			ch = make(chan struct{})
			seen[key] = ch
		}
		return ch
	}
	doneCh := func(reqID string) chan struct{} { return signalOf("runtimeDone/" + reqID) }
	reportCh := func(reqID string) chan struct{} { return signalOf("report/" + reqID) }
	if types := os.Getenv("FAKEEXT_TELEMETRY"); types != "" {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			fmt.Fprintln(os.Stderr, "fakeext: telemetry listen:", err)
			return 1
		}
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			var batch []json.RawMessage
			if json.Unmarshal(b, &batch) != nil {
				rec.add("telemetry.raw", string(b))
				return
			}
			rec.add("telemetry", batch)
			for _, raw := range batch {
				var ev struct {
					Type   string `json:"type"`
					Record struct {
						RequestID string `json:"requestId"`
					} `json:"record"`
				}
				if json.Unmarshal(raw, &ev) == nil && (ev.Type == "platform.runtimeDone" || ev.Type == "platform.report") {
					ch := signalOf(strings.TrimPrefix(ev.Type, "platform.") + "/" + ev.Record.RequestID)
					tmu.Lock()
					select {
					case <-ch:
					default:
						close(ch)
					}
					tmu.Unlock()
				}
			}
		})}
		go func() { _ = srv.Serve(ln) }()
		sub := map[string]any{
			"schemaVersion": envOr("FAKEEXT_SCHEMA", "2022-12-13"),
			"destination":   map[string]any{"protocol": "HTTP", "URI": fmt.Sprintf("http://sandbox.localdomain:%d/telemetry", ln.Addr().(*net.TCPAddr).Port)},
			"types":         strings.Split(types, ","),
			"buffering":     map[string]any{"timeoutMs": envInt("FAKEEXT_TIMEOUT_MS", 25), "maxItems": envInt("FAKEEXT_MAX_ITEMS", 1000), "maxBytes": 262144},
		}
		sb, _ := json.Marshal(sub)
		req, _ := http.NewRequest(http.MethodPut, api+"/2022-07-01/telemetry", bytes.NewReader(sb))
		req.Header.Set("Lambda-Extension-Identifier", id)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			fmt.Fprintln(os.Stderr, "fakeext: subscribe:", err)
			return 1
		}
		rb, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		rec.add("subscribe", map[string]any{"status": resp.StatusCode, "body": string(rb)})
	}

	if addr := os.Getenv("FAKEEXT_OTLP_ADDR"); addr != "" {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			fmt.Fprintln(os.Stderr, "fakeext: otlp listen:", err)
			return 1
		}
		target := strings.TrimSuffix(os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT"), "/")
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			rec.add("otlp", map[string]any{"path": r.URL.Path, "bytes": len(b)})
			if target == "" {
				return
			}
			fw, _ := http.NewRequest(http.MethodPost, target+r.URL.Path, bytes.NewReader(b))
			fw.Header.Set("Content-Type", r.Header.Get("Content-Type"))
			if ce := r.Header.Get("Content-Encoding"); ce != "" {
				fw.Header.Set("Content-Encoding", ce)
			}
			resp, err := http.DefaultClient.Do(fw)
			if err != nil {
				w.WriteHeader(http.StatusBadGateway)
				return
			}
			resp.Body.Close()
			w.WriteHeader(resp.StatusCode)
		})}
		go func() { _ = srv.Serve(ln) }()
	}

	lastReq := ""
	ignoreShutdown := os.Getenv("FAKEEXT_IGNORE_SHUTDOWN") == "1"
	if ignoreShutdown {
		signal.Ignore(syscall.SIGTERM)
	}
	for {
		req, _ := http.NewRequest(http.MethodGet, api+"/2020-01-01/extension/event/next", nil)
		req.Header.Set("Lambda-Extension-Identifier", id)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			fmt.Fprintln(os.Stderr, "fakeext: next:", err)
			return 1
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			fmt.Fprintf(os.Stderr, "fakeext: next: %s %s\n", resp.Status, b)
			return 1
		}
		var ev struct {
			EventType string `json:"eventType"`
			RequestID string `json:"requestId"`
		}
		_ = json.Unmarshal(b, &ev)
		rec.add("event", json.RawMessage(b))
		fmt.Fprintf(os.Stderr, "fakeext: event %s %s\n", ev.EventType, ev.RequestID)
		switch ev.EventType {
		case "SHUTDOWN":
			if ignoreShutdown {
				select {}
			}
			if lastReq != "" && os.Getenv("FAKEEXT_TELEMETRY") != "" {
				// Like real extensions: wait briefly for the last report.
				select {
				case <-reportCh(lastReq):
				case <-time.After(time.Second):
					fmt.Fprintln(os.Stderr, "fakeext: no report for", lastReq)
				}
			}
			return envInt("FAKEEXT_EXIT_CODE", 0)
		case "INVOKE":
			lastReq = ev.RequestID
			if os.Getenv("FAKEEXT_WAIT_RUNTIMEDONE") == "1" {
				select {
				case <-doneCh(ev.RequestID):
				case <-time.After(5 * time.Second):
					fmt.Fprintln(os.Stderr, "fakeext: no runtimeDone for", ev.RequestID)
				}
			}
			if d := envInt("FAKEEXT_POST_SLEEP_MS", 0); d > 0 {
				time.Sleep(time.Duration(d) * time.Millisecond)
			}
		}
	}
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func envInt(k string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(k)); err == nil {
		return n
	}
	return def
}
