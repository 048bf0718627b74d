package lambdasim

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// inProcExt is the test itself acting as an internal extension (its name
// matches no launched file): it registers and subscribes from the runtime's
// init, records every telemetry POST, and answers every event with next.
type inProcExt struct {
	api, id  string
	mu       sync.Mutex
	batches  [][]tevent
	raws     []string
	onInvoke func(x *inProcExt, requestID string) // before answering INVOKE with next
	changed  chan struct{}
}

func (x *inProcExt) events() []tevent {
	x.mu.Lock()
	defer x.mu.Unlock()
	var out []tevent
	for _, b := range x.batches {
		out = append(out, b...)
	}
	return out
}

// waitFor polls (bounded) until cond holds for the received events.
func (x *inProcExt) waitFor(t *testing.T, what string, cond func([]tevent) bool) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		x.mu.Lock()
		ch := x.changed
		x.mu.Unlock()
		if cond(x.events()) {
			return
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func call(t *testing.T, method, url string, hdr map[string]string, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// startInProc starts a Sim without processes whose runtime init registers
// x. onInvoke (optional) runs before x answers an INVOKE. during (optional) runs while Init is still open, before x subscribes
// with sub (a JSON body where %s is the listener URI; "" = no subscription).
func startInProc(t *testing.T, cfg Config, sub string, during func(x *inProcExt), onInvoke func(x *inProcExt, requestID string)) (*Sim, *inProcExt) {
	t.Helper()
	x := &inProcExt{changed: make(chan struct{}), onInvoke: onInvoke}
	lis := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var batch []tevent
		x.mu.Lock()
		if json.Unmarshal(b, &batch) == nil {
			x.batches = append(x.batches, batch)
		} else {
			x.raws = append(x.raws, string(b))
		}
		close(x.changed)
		x.changed = make(chan struct{})
		x.mu.Unlock()
	}))
	t.Cleanup(lis.Close)
	var loops sync.WaitGroup
	t.Cleanup(loops.Wait) // runs after Close (cleanups are LIFO)
	cfg.InitFunc = func(ctx context.Context, env map[string]string) error {
		x.api = "http://" + env["AWS_LAMBDA_RUNTIME_API"]
		req, _ := http.NewRequest(http.MethodPost, x.api+"/2020-01-01/extension/register", strings.NewReader(`{"events":["INVOKE"]}`))
		req.Header.Set(hdrName, "tester")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("register: %s", resp.Status)
		}
		x.id = resp.Header.Get(hdrID)
		if during != nil {
			during(x)
		}
		if sub != "" {
			code, body := call(t, http.MethodPut, x.api+"/2022-07-01/telemetry", map[string]string{hdrID: x.id}, fmt.Sprintf(sub, lis.URL+"/t"))
			if code != 200 {
				return fmt.Errorf("subscribe: %d %s", code, body)
			}
		}
		loops.Go(func() {
			for {
				req, _ := http.NewRequest(http.MethodGet, x.api+"/2020-01-01/extension/event/next", nil)
				req.Header.Set(hdrID, x.id)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					return
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					return
				}
				var ev struct{ EventType, RequestID string }
				_ = json.Unmarshal(b, &ev)
				if ev.EventType == "INVOKE" && x.onInvoke != nil {
					x.onInvoke(x, ev.RequestID)
				}
			}
		})
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := Start(ctx, cfg)
	if s != nil {
		t.Cleanup(s.Close)
	}
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	return s, x
}

func TestSubscribeValidation(t *testing.T) {
	valid := map[string]any{
		"schemaVersion": "2022-12-13",
		"destination":   map[string]any{"protocol": "HTTP", "URI": "http://sandbox.localdomain:4243/t"},
		"types":         []string{"platform", "function"},
		"buffering":     map[string]any{"maxItems": 1000, "maxBytes": 262144, "timeoutMs": 25},
	}
	with := func(path string, v any) string {
		var m map[string]any
		b, _ := json.Marshal(valid)
		_ = json.Unmarshal(b, &m)
		keys := strings.Split(path, ".")
		cur := m
		for _, k := range keys[:len(keys)-1] {
			cur = cur[k].(map[string]any)
		}
		if v == nil {
			delete(cur, keys[len(keys)-1])
		} else {
			cur[keys[len(keys)-1]] = v
		}
		b, _ = json.Marshal(m)
		return string(b)
	}
	tests := []struct {
		name, body string
		code       int
		msg        string
	}{
		{"valid", with("types", []string{"platform"}), 200, ""},
		{"schema 2025", with("schemaVersion", "2025-01-29"), 200, ""},
		{"schema missing", with("schemaVersion", nil), 400, "schemaVersion \"\" is not supported, should be one of 2022-07-01, 2022-12-13, 2025-01-29"},
		{"schema unknown", with("schemaVersion", "2021-01-01"), 400, "schemaVersion \"2021-01-01\" is not supported"},
		{"protocol", with("destination.protocol", "HTTPS"), 400, "destination.protocol \"HTTPS\" is not supported, should be HTTP"},
		{"uri missing", with("destination.URI", nil), 400, "URI is not provided"},
		{"uri scheme", with("destination.URI", "https://sandbox.localdomain:4243/"), 400, "scheme should be http"},
		{"uri port missing", with("destination.URI", "http://sandbox.localdomain/t"), 400, "URI port is not provided"},
		{"uri port 9001", with("destination.URI", "http://sandbox.localdomain:9001/t"), 400, "URI port 9001 is reserved"},
		{"uri outside sandbox", with("destination.URI", "http://example.com:80/t"), 400, "does not point inside the sandbox"},
		{"types empty", with("types", []string{}), 400, "types should not be empty"},
		{"types unknown", with("types", []string{"platform", "logs"}), 400, "types: \"logs\" is not supported, should be any of platform, function, extension"},
		{"maxItems low", with("buffering.maxItems", 999), 400, "buffering.maxItems 999 is out of range, should be between 1000 and 10000"},
		{"maxItems high", with("buffering.maxItems", 10001), 400, "buffering.maxItems 10001 is out of range"},
		{"maxBytes low", with("buffering.maxBytes", 262143), 400, "buffering.maxBytes 262143 is out of range, should be between 262144 and 1048576"},
		{"maxBytes high", with("buffering.maxBytes", 1048577), 400, "buffering.maxBytes 1048577 is out of range"},
		{"timeoutMs low", with("buffering.timeoutMs", 24), 400, "buffering.timeoutMs 24 is out of range, should be between 25 and 30000"},
		{"timeoutMs high", with("buffering.timeoutMs", 30001), 400, "buffering.timeoutMs 30001 is out of range"},
		{"two problems", with("types", []string{}), 400, "types should not be empty"},
		{"not json", "{", 400, "request body is not valid JSON"},
	}
	tests[len(tests)-2].body = strings.Replace(tests[len(tests)-2].body, `"URI":"http://sandbox.localdomain:4243/t"`, `"URI":"http://sandbox.localdomain/t"`, 1)
	tests[len(tests)-2].msg = "URI port is not provided; types should not be empty"

	var api, id string
	startInProc(t, Config{}, "", func(x *inProcExt) {
		api, id = x.api, x.id
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				code, body := call(t, http.MethodPut, api+"/2022-07-01/telemetry", map[string]string{hdrID: id}, tt.body)
				if code != tt.code {
					t.Fatalf("got %d %s; want %d", code, body, tt.code)
				}
				if tt.code == 200 {
					if body != `"OK"` {
						t.Errorf("got body %s; want \"OK\"", body)
					}
					return
				}
				var e struct{ ErrorType, ErrorMessage string }
				_ = json.Unmarshal([]byte(body), &e)
				if e.ErrorType != "ValidationError" || !strings.Contains(e.ErrorMessage, tt.msg) {
					t.Errorf("got %s; want ValidationError containing %q", body, tt.msg)
				}
			})
		}
	}, nil)
	code, body := call(t, http.MethodPut, api+"/2022-07-01/telemetry", map[string]string{hdrID: id}, with("types", []string{"platform"}))
	if code != 403 || !strings.Contains(body, "Telemetry.SubscriptionClosed") {
		t.Errorf("subscribe after init: got %d %s; want 403 Telemetry.SubscriptionClosed", code, body)
	}
}

func TestExtensionsAPIErrors(t *testing.T) {
	type req struct {
		name, method, path string
		hdr                map[string]string
		body               string
		code               int
		errType            string
	}
	var api string
	var cases []req
	startInProc(t, Config{}, "", func(x *inProcExt) {
		api = x.api
		unknown := "00000000-0000-4000-8000-000000000000"
		cases = []req{
			{"register no name", "POST", "/2020-01-01/extension/register", nil, `{"events":["INVOKE"]}`, 403, "Extension.InvalidExtensionName"},
			{"internal cannot take SHUTDOWN", "POST", "/2020-01-01/extension/register", map[string]string{hdrName: "not-a-file"}, `{"events":["SHUTDOWN"]}`, 403, "Extension.InvalidEventType"},
			{"unknown event", "POST", "/2020-01-01/extension/register", map[string]string{hdrName: "other"}, `{"events":["BOOT"]}`, 403, "Extension.InvalidEventType"},
			{"duplicate name", "POST", "/2020-01-01/extension/register", map[string]string{hdrName: "tester"}, `{"events":["INVOKE"]}`, 403, "Extension.InvalidExtensionState"},
			{"next no id", "GET", "/2020-01-01/extension/event/next", nil, "", 403, "Extension.MissingExtensionIdentifier"},
			{"next bad id", "GET", "/2020-01-01/extension/event/next", map[string]string{hdrID: "nope"}, "", 403, "Extension.InvalidExtensionIdentifier"},
			{"next unknown id", "GET", "/2020-01-01/extension/event/next", map[string]string{hdrID: unknown}, "", 403, "Extension.UnknownExtensionIdentifier"},
			{"init error no type", "POST", "/2020-01-01/extension/init/error", map[string]string{hdrID: x.id}, "", 403, "Extension.MissingHeader"},
			{"subscribe unknown id", "PUT", "/2022-07-01/telemetry", map[string]string{hdrID: unknown}, "{}", 403, "Extension.UnknownExtensionIdentifier"},
		}
		for _, c := range cases {
			code, body := call(t, c.method, api+c.path, c.hdr, c.body)
			if code != c.code || !strings.Contains(body, `"errorType":"`+c.errType+`"`) {
				t.Errorf("%s: got %d %s; want %d %s", c.name, code, body, c.code, c.errType)
			}
		}
	}, nil)
	code, body := call(t, "POST", api+"/2020-01-01/extension/register", map[string]string{hdrName: "late"}, `{"events":["INVOKE"]}`)
	if code != 403 || !strings.Contains(body, "Extension.RegistrationClosed") {
		t.Errorf("register after init: got %d %s; want 403 Extension.RegistrationClosed", code, body)
	}
}

func TestDeliveryBatching(t *testing.T) {
	t.Run("maxItems", func(t *testing.T) {
		// timeoutMs is the maximum, so only maxItems can trigger a POST.
		s, x := startInProc(t, Config{}, `{"schemaVersion":"2022-12-13","destination":{"protocol":"HTTP","URI":"%s"},"types":["function"],"buffering":{"maxItems":1000,"timeoutMs":30000,"maxBytes":1048576}}`, nil,
			func(x *inProcExt, _ string) {
				x.waitFor(t, "two batches", func(evs []tevent) bool { return len(evs) >= 2000 })
			})
		invoke(t, s, func(inv *Invocation) error {
			for i := range 2500 {
				inv.Printf("line %d", i)
			}
			return nil
		})
		x.mu.Lock()
		defer x.mu.Unlock()
		if len(x.batches) != 2 || len(x.batches[0]) != 1000 || len(x.batches[1]) != 1000 {
			t.Errorf("got %d batches; want 2 of 1000 (the other 500 wait for timeoutMs)", len(x.batches))
		}
	})
	t.Run("maxBytes", func(t *testing.T) {
		s, x := startInProc(t, Config{}, `{"schemaVersion":"2022-12-13","destination":{"protocol":"HTTP","URI":"%s"},"types":["function"],"buffering":{"maxItems":1000,"timeoutMs":30000,"maxBytes":262144}}`, nil,
			func(x *inProcExt, _ string) {
				x.waitFor(t, "4 big lines", func(evs []tevent) bool { return len(evs) >= 4 })
			})
		line := strings.Repeat("x", 100<<10)
		invoke(t, s, func(inv *Invocation) error {
			for range 6 {
				inv.Print(line)
			}
			return nil
		})
		x.mu.Lock()
		defer x.mu.Unlock()
		for i, b := range x.batches {
			if len(b) != 2 {
				t.Errorf("batch %d has %d events; want 2 (3 would pass maxBytes)", i, len(b))
			}
		}
	})
	t.Run("timeoutMs", func(t *testing.T) {
		s, x := startInProc(t, Config{}, `{"schemaVersion":"2022-12-13","destination":{"protocol":"HTTP","URI":"%s"},"types":["platform","function"],"buffering":{"timeoutMs":25}}`, nil,
			func(x *inProcExt, id string) {
				x.waitFor(t, "runtimeDone", func(evs []tevent) bool { return hasEvent(evs, "platform.runtimeDone", id) })
			})
		var req string
		res := invoke(t, s, func(inv *Invocation) error { inv.Print("one"); return nil })
		req = res.RequestID
		evs := x.events()
		if !hasEvent(evs, "platform.start", req) || !hasEvent(evs, "function", "") {
			t.Errorf("start/function not delivered by timeout: %v", evs)
		}
		if hasEvent(evs, "platform.report", req) {
			t.Errorf("report delivered in its own invocation")
		}
		res2 := invoke(t, s, func(inv *Invocation) error { return nil })
		evs = x.events()
		if !hasEvent(evs, "platform.report", req) {
			t.Errorf("report of invoke 1 not delivered on the next thaw")
		}
		if hasEvent(evs, "platform.report", res2.RequestID) {
			t.Errorf("report of invoke 2 delivered before the next thaw")
		}
		if res.PostRuntime["tester"] <= 0 {
			t.Errorf("post-runtime = %v; want > 0 (waited for runtimeDone)", res.PostRuntime)
		}
	})
}

func TestJSONLogFormat(t *testing.T) {
	s, x := startInProc(t, Config{LogFormat: "json"}, `{"schemaVersion":"2022-12-13","destination":{"protocol":"HTTP","URI":"%s"},"types":["platform","function"],"buffering":{"timeoutMs":25}}`, nil, func(x *inProcExt, id string) {
		x.waitFor(t, "runtimeDone", func(evs []tevent) bool { return hasEvent(evs, "platform.runtimeDone", id) })
	})
	res := invoke(t, s, func(inv *Invocation) error {
		inv.Log("WARN", "plain")
		inv.Print(`{"msg":"already json","n":1}`)
		return nil
	})
	var recs []map[string]any
	for _, e := range x.events() {
		if e.Type == "function" {
			var m map[string]any
			if err := json.Unmarshal(e.Record, &m); err != nil {
				t.Fatalf("function record %s is not an object", e.Record)
			}
			recs = append(recs, m)
		}
	}
	if len(recs) != 2 {
		t.Fatalf("got %d function records; want 2", len(recs))
	}
	if recs[0]["message"] != "plain" || recs[0]["level"] != "WARN" || recs[0]["requestId"] != res.RequestID || recs[0]["timestamp"] == nil {
		t.Errorf("got %v; want {timestamp, level WARN, requestId, message}", recs[0])
	}
	if recs[1]["msg"] != "already json" {
		t.Errorf("got %v; want the line's own object", recs[1])
	}
}

func TestInjectTelemetry(t *testing.T) {
	s, x := startInProc(t, Config{}, `{"schemaVersion":"2022-12-13","destination":{"protocol":"HTTP","URI":"%s"},"types":["platform"],"buffering":{"timeoutMs":25}}`, nil, func(x *inProcExt, id string) {
		x.waitFor(t, "runtimeDone", func(evs []tevent) bool { return hasEvent(evs, "platform.runtimeDone", id) })
	})
	s.InjectTelemetry([]byte(`[{"type":"platform.start","record":`)) // malformed
	s.InjectEvent("platform.unknownThing", map[string]any{"a": 1})
	s.InjectLogsDropped(100, 2, "test")
	invoke(t, s, func(inv *Invocation) error { return nil })
	x.mu.Lock()
	raws := x.raws
	x.mu.Unlock()
	if len(raws) != 1 || raws[0] != `[{"type":"platform.start","record":` {
		t.Errorf("raw bodies = %q; want the injected one", raws)
	}
	evs := x.events()
	if !hasEvent(evs, "platform.unknownThing", "") || !hasEvent(evs, "platform.logsDropped", "") {
		t.Errorf("injected events not delivered")
	}
}
