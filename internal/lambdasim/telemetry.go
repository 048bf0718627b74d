// telemetry.go owns the Telemetry API (2022-07-01): subscription with
// Lambda's validation, the per-subscriber buffer batched by
// timeoutMs/maxItems/maxBytes, delivery by HTTP POST of JSON arrays only
// while the sandbox is thawed, bounded retries, and the event envelope of
// schema 2022-12-13 (lambda-apis.md §5).
package lambdasim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Buffering limits and defaults of the subscribe call (§5.1). maxItems
// defaults to 10,000 as in AWS-TEL's table and RIE (AWS-TELREF says 1,000).
const (
	minItems, maxItemsLimit, defItems = 1000, 10000, 10000
	minBytes, maxBytesLimit, defBytes = 262144, 1048576, 262144
	minTimeout, maxTimeout, defTimeMs = 25, 30000, 1000
)

// Delivery retries: Lambda retries with backoff but does not document the
// schedule. Five attempts starting at 100 ms keep a dead listener from
// holding the sandbox for more than a few seconds.
const (
	maxAttempts  = 5
	firstBackoff = 100 * time.Millisecond
)

var schemaVersions = []string{"2022-07-01", "2022-12-13", "2025-01-29"}

// event is one Telemetry API event, rendered per schema when queued.
type event struct {
	typ    string
	time   time.Time
	record any // map for platform events; string or map for logs
	// text is the record of a `function` JSON-format line rendered as the
	// string a 2022-07-01 subscriber gets.
	text string
}

func newEvent(typ string, record any) event {
	return event{typ: typ, time: time.Now(), record: record}
}

// category is the subscription type that selects an event.
func (e event) category() string {
	switch {
	case strings.HasPrefix(e.typ, "platform."):
		return "platform"
	case e.typ == "function":
		return "function"
	case e.typ == "extension":
		return "extension"
	}
	return e.typ
}

func (e event) render(schema string) []byte {
	rec := e.record
	if schema == "2022-07-01" && e.text != "" {
		rec = e.text
	}
	b, _ := json.Marshal(map[string]any{
		"time":   e.time.UTC().Format("2006-01-02T15:04:05.000Z"),
		"type":   e.typ,
		"record": rec,
	})
	return b
}

// subscription is one extension's Telemetry API subscriber.
type subscription struct {
	ext       *extension
	uri       string
	schema    string
	types     []string
	maxItems  int
	maxBytes  int
	timeout   time.Duration
	queue     [][]byte
	qBytes    int
	firstAt   time.Time // when the oldest queued event arrived
	raw       [][]byte  // injected raw bodies, sent as they are
	retry     [][]byte  // a failed batch waiting for its next attempt
	retryRaw  bool
	attempts  int
	retryAt   time.Time
	stopped   bool
	delivered int // events accepted by the listener
}

type subscribeBody struct {
	SchemaVersion string `json:"schemaVersion"`
	Destination   struct {
		Protocol string `json:"protocol"`
		URI      string `json:"URI"`
	} `json:"destination"`
	Types     []string `json:"types"`
	Buffering *struct {
		MaxItems  *int `json:"maxItems"`
		MaxBytes  *int `json:"maxBytes"`
		TimeoutMs *int `json:"timeoutMs"`
	} `json:"buffering"`
}

// validateSubscribe checks a subscribe body as Lambda does and returns the
// subscription settings or every problem joined with "; ".
func validateSubscribe(raw []byte) (*subscription, string) {
	var b subscribeBody
	if err := json.Unmarshal(raw, &b); err != nil {
		return nil, "request body is not valid JSON: " + err.Error()
	}
	var probs []string
	sub := &subscription{schema: b.SchemaVersion, maxItems: defItems, maxBytes: defBytes, timeout: defTimeMs * time.Millisecond}
	if !slices.Contains(schemaVersions, b.SchemaVersion) {
		probs = append(probs, fmt.Sprintf("schemaVersion %q is not supported, should be one of %s", b.SchemaVersion, strings.Join(schemaVersions, ", ")))
	}
	switch b.Destination.Protocol {
	case "HTTP":
		probs = append(probs, validateURI(b.Destination.URI, sub)...)
	case "TCP":
		// Real Lambda supports TCP (newline-delimited JSON); the emulator
		// does not, and says so rather than pretending to deliver.
		probs = append(probs, "destination.protocol TCP is not supported by lambdasim, use HTTP")
	default:
		probs = append(probs, fmt.Sprintf("destination.protocol %q is not supported, should be HTTP", b.Destination.Protocol))
	}
	if len(b.Types) == 0 {
		probs = append(probs, "types should not be empty")
	}
	for _, t := range b.Types {
		if t != "platform" && t != "function" && t != "extension" {
			probs = append(probs, fmt.Sprintf("types: %q is not supported, should be any of platform, function, extension", t))
		}
	}
	sub.types = b.Types
	if bf := b.Buffering; bf != nil {
		check := func(name string, v *int, lo, hi int, dst *int) {
			if v == nil {
				return
			}
			if *v < lo || *v > hi {
				probs = append(probs, fmt.Sprintf("buffering.%s %d is out of range, should be between %d and %d", name, *v, lo, hi))
				return
			}
			*dst = *v
		}
		ms := defTimeMs
		check("maxItems", bf.MaxItems, minItems, maxItemsLimit, &sub.maxItems)
		check("maxBytes", bf.MaxBytes, minBytes, maxBytesLimit, &sub.maxBytes)
		check("timeoutMs", bf.TimeoutMs, minTimeout, maxTimeout, &ms)
		sub.timeout = time.Duration(ms) * time.Millisecond
	}
	if len(probs) > 0 {
		return nil, strings.Join(probs, "; ")
	}
	return sub, ""
}

func validateURI(raw string, sub *subscription) []string {
	if raw == "" {
		return []string{"URI is not provided"}
	}
	u, err := url.Parse(raw)
	if err != nil {
		return []string{fmt.Sprintf("URI %q is not a valid URL", raw)}
	}
	if u.Scheme != "http" {
		return []string{fmt.Sprintf("URI %q: scheme should be http", raw)}
	}
	if u.Port() == "" {
		return []string{"URI port is not provided"}
	}
	port, err := strconv.Atoi(u.Port())
	if err != nil || port < 1 || port > 65535 {
		return []string{fmt.Sprintf("URI port %q is not a valid port", u.Port())}
	}
	if port == 9001 {
		return []string{"URI port 9001 is reserved"}
	}
	// The URI must point inside the sandbox; here that is loopback.
	switch u.Hostname() {
	case "sandbox.localdomain", "sandbox", "localhost":
		u.Host = net.JoinHostPort("127.0.0.1", u.Port())
	case "127.0.0.1":
	default:
		return []string{fmt.Sprintf("URI host %q does not point inside the sandbox", u.Hostname())}
	}
	sub.uri = u.String()
	return nil
}

func (s *Sim) handleSubscribe(w http.ResponseWriter, r *http.Request) {
	if s.cfg.TelemetryUnsupported {
		// What RIE and SAM local answer (lambda-apis.md §5.1, §5.8).
		apiError(w, http.StatusAccepted, "Telemetry.NotSupported", "Telemetry API is not supported")
		return
	}
	if r.Method != http.MethodPut {
		apiError(w, http.StatusMethodNotAllowed, "ValidationError", "subscribe wants PUT")
		return
	}
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxAPIRequest))
	if err != nil {
		apiError(w, http.StatusBadRequest, "ValidationError", "read body: "+err.Error())
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.lookupLocked(w, r)
	if e == nil {
		return
	}
	if s.phase != phaseInit {
		apiError(w, http.StatusForbidden, "Telemetry.SubscriptionClosed", "Telemetry API subscription is closed already")
		return
	}
	sub, msg := validateSubscribe(raw)
	if sub == nil {
		apiError(w, http.StatusBadRequest, "ValidationError", msg)
		return
	}
	sub.ext = e
	// A second subscription by the same extension replaces the first.
	for _, old := range s.subs {
		if old.ext == e {
			old.stopped = true
		}
	}
	s.subs = slices.DeleteFunc(s.subs, func(x *subscription) bool { return x.ext == e })
	s.subs = append(s.subs, sub)
	rec := Record{Kind: KindSubscribe, Ext: e.name, Detail: strings.Join(sub.types, ",")}
	if e.proc != nil {
		rec.PID = e.proc.pid
	}
	s.recordLocked(rec)
	// Init events generated before the subscription still reach it (OTL
	// relies on receiving platform.initStart).
	for _, ev := range s.backlog {
		sub.enqueue(ev)
	}
	s.emitLocked(newEvent("platform.telemetrySubscription", map[string]any{"name": e.name, "state": "Subscribed", "types": sub.types}))
	s.wg.Go(func() { s.runSubscription(sub) })
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, `"OK"`)
}

func (sub *subscription) enqueue(ev event) {
	if sub.stopped || !slices.Contains(sub.types, ev.category()) {
		return
	}
	b := ev.render(sub.schema)
	if len(sub.queue) == 0 {
		sub.firstAt = time.Now()
	}
	sub.queue = append(sub.queue, b)
	sub.qBytes += len(b)
}

// emitLocked hands an event to every subscriber; s.mu must be held.
func (s *Sim) emitLocked(ev event) {
	if s.phase == phaseInit {
		s.backlog = append(s.backlog, ev)
	}
	for _, sub := range s.subs {
		sub.enqueue(ev)
	}
	s.notifyLocked()
}

// takeLocked removes the next batch: up to maxItems events and maxBytes
// bytes (at least one event, however large).
func (sub *subscription) takeLocked() [][]byte {
	n, size := 0, 0
	for n < len(sub.queue) && n < sub.maxItems {
		if n > 0 && size+len(sub.queue[n]) > sub.maxBytes {
			break
		}
		size += len(sub.queue[n])
		n++
	}
	batch := slices.Clone(sub.queue[:n])
	sub.queue = slices.Delete(sub.queue, 0, n)
	sub.qBytes -= size
	sub.firstAt = time.Now()
	return batch
}

// runSubscription is the delivery loop of one subscriber. It never POSTs
// while the sandbox is frozen; freeze waits for a POST already in flight.
func (s *Sim) runSubscription(sub *subscription) {
	for {
		s.mu.Lock()
		if sub.stopped || isClosed(s.closing) {
			s.mu.Unlock()
			return
		}
		var body [][]byte
		isRaw := false
		var wait time.Duration = -1
		now := time.Now()
		if !s.frozen {
			switch {
			case sub.retry != nil:
				if now.Before(sub.retryAt) {
					wait = sub.retryAt.Sub(now)
				} else {
					body, isRaw = sub.retry, sub.retryRaw
					sub.retry = nil
				}
			case len(sub.raw) > 0:
				body, isRaw = sub.raw[:1], true
				sub.raw = sub.raw[1:]
				sub.attempts = 0
			case len(sub.queue) > 0:
				due := sub.firstAt.Add(sub.timeout)
				if len(sub.queue) >= sub.maxItems || sub.qBytes >= sub.maxBytes || !now.Before(due) {
					body = sub.takeLocked()
					sub.attempts = 0
				} else {
					wait = due.Sub(now)
				}
			}
		}
		if body == nil {
			ch := s.changed
			s.mu.Unlock()
			var timer *time.Timer
			var tc <-chan time.Time
			if wait >= 0 {
				timer = time.NewTimer(wait)
				tc = timer.C
			}
			select {
			case <-ch:
			case <-tc:
			case <-s.closing:
			}
			if timer != nil {
				timer.Stop()
			}
			continue
		}
		s.inflight++
		uri := sub.uri
		s.mu.Unlock()

		err := s.post(uri, body, isRaw)

		s.mu.Lock()
		s.inflight--
		sub.attempts++
		switch {
		case err == nil:
			sub.delivered += len(body)
			s.recordLocked(Record{Kind: KindDeliver, Ext: sub.ext.name, Code: len(body)})
		case sub.attempts >= maxAttempts:
			s.recordLocked(Record{Kind: KindDropped, Ext: sub.ext.name, Code: len(body), Detail: err.Error()})
			size := 0
			for _, b := range body {
				size += len(b)
			}
			sub.enqueue(newEvent("platform.logsDropped", map[string]any{
				"droppedBytes":   size,
				"droppedRecords": len(body),
				"reason":         "Consumer seems to have fallen behind as it has not acknowledged receipt of logs.",
			}))
		default:
			s.recordLocked(Record{Kind: KindDeliverFailed, Ext: sub.ext.name, Code: len(body), Detail: err.Error()})
			sub.retry, sub.retryRaw = body, isRaw
			sub.retryAt = time.Now().Add(firstBackoff << (sub.attempts - 1))
		}
		s.notifyLocked()
		s.mu.Unlock()
	}
}

// post sends one batch: a JSON array of events, or an injected raw body.
func (s *Sim) post(uri string, body [][]byte, isRaw bool) error {
	var buf []byte
	if isRaw {
		buf = body[0]
	} else {
		buf = append(buf, '[')
		buf = append(buf, bytes.Join(body, []byte{','})...)
		buf = append(buf, ']')
	}
	req, err := http.NewRequestWithContext(s.life, http.MethodPost, uri, bytes.NewReader(buf))
	if err != nil {
		return fmt.Errorf("telemetry post: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.deliver.Do(req)
	if err != nil {
		return fmt.Errorf("telemetry post: %w", err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("telemetry post: listener answered %s", resp.Status)
	}
	return nil
}

// InjectTelemetry queues raw as one POST body, sent as it is (malformed,
// oversized, unknown types…) to every subscriber at its next delivery
// opportunity, ahead of the normal batch and never while frozen.
func (s *Sim) InjectTelemetry(raw []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sub := range s.subs {
		sub.raw = append(sub.raw, bytes.Clone(raw))
	}
	s.notifyLocked()
}

// InjectEvent queues one well-formed event of any type (unknown types too)
// through the normal batching path.
func (s *Sim) InjectEvent(typ string, record any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.emitLocked(newEvent(typ, record))
}

// InjectLogsDropped queues a platform.logsDropped event.
func (s *Sim) InjectLogsDropped(droppedBytes, droppedRecords int, reason string) {
	s.InjectEvent("platform.logsDropped", map[string]any{
		"droppedBytes": droppedBytes, "droppedRecords": droppedRecords, "reason": reason,
	})
}

// Delivered returns how many events each extension's listener accepted.
func (s *Sim) Delivered() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int{}
	for _, sub := range s.subs {
		out[sub.ext.name] += sub.delivered
	}
	return out
}
