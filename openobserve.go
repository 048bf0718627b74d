// openobserve.go owns the OpenObserve destination of the Telemetry API's
// logs (seed 002): every function, extension and platform event, as Lambda
// sent it, goes to OpenObserve's JSON ingestion API as one record of a JSON
// array, in a bounded queue of its own until a flush sends it.
//
// What goes where in OpenObserve mode (Config.O2.Enabled):
//
//   - Telemetry API events (function and extension lines, platform.*
//     events) → POST {O2_ENDPOINT}/api/{org}/{O2_STREAM}/_json, records
//     shaped as seed 002 shows them:
//     [{"time": "...", "type": "function", "record": <as sent>, "requestId": "..."}]
//     They are NOT also converted into OTLP log records: that would store
//     every line twice in OpenObserve (telemetry.go skips its log records
//     when the raw hook is set).
//   - Platform metrics and spans derived from the same events, and the
//     function's own OTLP traces, metrics and logs → OpenObserve's OTLP
//     API, {O2_ENDPOINT}/api/{org}/v1/{signal}, through the O2 preset of
//     config.go and export.go.
//
// OpenObserve's ingestion API, from its documentation:
//
//   - JSON: "POST /api/{organization}/{stream}/_json ... upload multiple
//     records in batch with standard json format", answering
//     {"code":200,"status":[{"name":"stream1","successful":2,"failed":0}]}
//     ("Returns successful and failed count for each stream")
//     https://openobserve.ai/docs/reference/api/ingestion/logs/json/
//     (openobserve/openobserve-docs docs/api/ingestion/logs/json.md).
//     Without _timestamp or @timestamp in a record, OpenObserve stamps it
//     with the ingestion time; seed 002's shape carries "time" only.
//   - OTLP: "POST /api/{organization}/v1/logs ... we use custom http
//     header `stream-name` for specific stream name, default will push into
//     `default` stream" https://openobserve.ai/docs/reference/api/ingestion/logs/otlp/
//     and https://openobserve.ai/docs/ingestion/logs/otlp/.
//   - Authorization: "Basic <base64(email:password)>" (same pages).
//   - gzip: OpenObserve accepts gzip-compressed request bodies and
//     recommends them for log ingestion ("Compresses the payload in GZIP
//     format. OpenObserve supports and recommends setting this to gzip",
//     https://docs.fluentbit.io/manual/pipeline/outputs/openobserve; Vector's
//     openobserve sink posts to /_json with gzip by default).
//
// Invariants: add never blocks on I/O and never logs per record (our own
// log lines come back to us as extension events); the queue never holds
// more than its byte budget after add or requeue returns (oldest records
// dropped and counted, the seed's warning at most once per
// dropWarnInterval); flushes do not overlap; credentials are never logged.
package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// o2Exporter queues Telemetry API events and sends them to OpenObserve's
// _json API.
type o2Exporter struct {
	cfg    *Config
	lg     *logger
	url    string // {O2_ENDPOINT}/api/{org}/{stream}/_json
	name   string // url for log lines, credentials redacted
	tr     *http.Transport
	client *http.Client
	busy   chan struct{} // capacity 1: one flush at a time

	// wait pauses for d or until ctx is done, and reports whether the full
	// wait elapsed. Tests may replace it; production uses a timer.
	wait func(ctx context.Context, d time.Duration) bool

	mu       sync.Mutex
	q        chunkQueue // one record per chunk (items 1)
	maxBytes int64
	seq      uint64
	warned   time.Time                      // last "buffer full" warning
	pending  struct{ records, bytes int64 } // drops since that warning

	// Owned by the flush holding busy.
	take              []chunk
	body, gz, resp    []byte
	notBefore         time.Time // a Retry-After that outlived the last flush
	received, dropped atomic.Int64
	exported, retries atomic.Int64
}

// newO2Exporter returns the OpenObserve log exporter of cfg. It does no
// network I/O; the first flush connects.
func newO2Exporter(cfg *Config, lg *logger) *o2Exporter {
	maxBytes := cfg.Buffer.MaxBytes
	if maxBytes <= 0 {
		maxBytes = bufferO2MB << 20
	}
	e := &o2Exporter{
		cfg:      cfg,
		lg:       lg,
		url:      o2JSONURL(cfg),
		tr:       newTransport(kindHTTP, nil),
		busy:     make(chan struct{}, 1),
		wait:     waitCtx,
		maxBytes: maxBytes,
	}
	e.name = redactURL(e.url)
	e.client = &http.Client{
		Transport: e.tr,
		// A redirect would turn the POST into a GET: report it instead.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return e
}

// o2JSONURL is OpenObserve's JSON ingestion URL for cfg's organization and
// stream. config.go has already refused stream names with '/', '?', '#',
// '%' or spaces; the escape is for anything else unusual.
func o2JSONURL(cfg *Config) string {
	return strings.TrimRight(cfg.O2.Endpoint, "/") + "/api/" + url.PathEscape(cfg.O2.OrgID) + "/" +
		url.PathEscape(cfg.O2.Stream) + "/_json"
}

// add queues one Telemetry API event. It is telemetry.raw: called on the
// Telemetry API delivery path with the listener's lock held, so it only
// encodes and queues. record is the event's record as Lambda sent it (a
// JSON string or object), embedded unchanged.
func (e *o2Exporter) add(typ, tm string, record []byte, requestID string) {
	if tm == "" {
		tm = time.Now().UTC().Format("2006-01-02T15:04:05.000Z")
	}
	data := appendO2Record(make([]byte, 0, sizeO2Record(typ, tm, record, requestID)), typ, tm, record, requestID)
	e.received.Add(1)
	e.mu.Lock()
	if int64(len(data)) > e.maxBytes {
		e.dropLocked(1, len(data))
	} else {
		e.seq++
		e.q.pushBack(chunk{data: data, items: 1, seq: e.seq})
		e.trimLocked()
	}
	warn := e.warnLocked()
	e.mu.Unlock()
	if warn != "" {
		e.lg.warnf("%s", warn)
	}
}

// trimLocked drops the oldest records until the budget holds.
func (e *o2Exporter) trimLocked() {
	for e.q.bytes > e.maxBytes {
		c := e.q.popFront()
		e.dropLocked(1, len(c.data))
	}
}

func (e *o2Exporter) dropLocked(records, n int) {
	e.dropped.Add(int64(records))
	e.pending.records += int64(records)
	e.pending.bytes += int64(n)
}

// warnLocked returns seed 002's buffer-full warning when records were
// dropped and the last warning is older than dropWarnInterval (a line per
// drop would feed the overload through the Telemetry API), else "".
func (e *o2Exporter) warnLocked() string {
	if e.pending.records == 0 {
		return ""
	}
	now := time.Now()
	if !e.warned.IsZero() && now.Sub(e.warned) < dropWarnInterval {
		return ""
	}
	w := fmt.Sprintf("Log buffer full, dropping oldest batch: %d logs (%s) dropped; buffer %s of %s (O2_MAX_BUFFER_SIZE_MB)",
		e.pending.records, humanBytes(e.pending.bytes), humanBytes(e.q.bytes), humanBytes(e.maxBytes))
	e.warned, e.pending.records, e.pending.bytes = now, 0, 0
	return w
}

// len returns the number of records queued (a batch being sent is
// not counted).
func (e *o2Exporter) len() int {
	if e == nil {
		return 0
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.q.n
}

// empty reports whether nothing is queued. A nil *o2Exporter (OpenObserve
// off) is empty, flushes nothing and has no connections, so the lifecycle
// calls it unconditionally.
func (e *o2Exporter) empty() bool { return e.len() == 0 }

// closeIdle closes kept-alive connections, after a long freeze.
func (e *o2Exporter) closeIdle() {
	if e != nil {
		e.tr.CloseIdleConnections()
	}
}

// summary is the exporter's line in the SHUTDOWN summary.
func (e *o2Exporter) summary() string {
	return fmt.Sprintf("openobserve logs received %d exported %d dropped %d retried %d",
		e.received.Load(), e.exported.Load(), e.dropped.Load(), e.retries.Load())
}

// flush sends what was queued when it was called, O2_BATCH_SIZE records
// per request, until the queue has nothing older or ctx is done. A batch
// not sent by then, or whose next retry would pass ctx's deadline, goes
// back to the front of the queue for the next flush. Flushes do not
// overlap: a second caller waits for the first (or for its ctx).
func (e *o2Exporter) flush(ctx context.Context) flushResult {
	var res flushResult
	if e == nil {
		return res
	}
	start := time.Now()
	select {
	case e.busy <- struct{}{}:
	case <-ctx.Done():
		return res
	}
	defer func() { <-e.busy }()
	defer func() { res.duration = time.Since(start) }()

	if wait := time.Until(e.notBefore); wait > 0 {
		// OpenObserve asked for more time than the last flush had.
		dl, ok := ctx.Deadline()
		if !ok || time.Now().Add(wait).After(dl) || !e.wait(ctx, wait) {
			e.lg.debugf("OpenObserve export deferred for %s (Retry-After)", wait.Round(time.Millisecond))
			return res
		}
	}
	e.mu.Lock()
	maxSeq := e.seq
	e.mu.Unlock()
	for ctx.Err() == nil {
		recs := e.takeBatch(maxSeq)
		if len(recs) == 0 {
			break
		}
		o, failed := e.send(ctx, recs, &res)
		switch o {
		case sent:
			failed = min(max(failed, 0), len(recs))
			res.batches++
			res.records += len(recs)
			res.dropped += failed
			e.exported.Add(int64(len(recs) - failed))
			e.dropped.Add(int64(failed))
			for _, c := range recs {
				res.bytes += int64(len(c.data))
			}
		case dropped:
			res.dropped += len(recs)
			e.dropped.Add(int64(len(recs)))
		case requeued:
			res.requeued += len(recs)
			e.requeue(recs)
		}
		clear(e.take) // let the records be collected
		if o == requeued {
			break
		}
	}
	if n := res.records - res.dropped; n > 0 {
		e.lg.infof("Successfully sent %d logs to OpenObserve", n)
	}
	return res
}

// takeBatch removes up to O2_BATCH_SIZE records that arrived no later than
// maxSeq from the front of the queue, and no more bytes than
// OTEL_LAMBDA_MAX_BATCH_BYTES (at least one record). The slice is reused.
func (e *o2Exporter) takeBatch(maxSeq uint64) []chunk {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.take = e.take[:0]
	size := 0
	for e.q.n > 0 && e.q.front().seq <= maxSeq {
		c := e.q.front()
		if len(e.take) > 0 {
			if e.cfg.O2.BatchSize > 0 && len(e.take) >= e.cfg.O2.BatchSize {
				break
			}
			if e.cfg.Buffer.BatchMaxBytes > 0 && size+len(c.data)+1 > e.cfg.Buffer.BatchMaxBytes {
				break
			}
		}
		size += len(c.data) + 1
		e.take = append(e.take, e.q.popFront())
	}
	return e.take
}

// requeue puts records that could not be sent back at the front of the
// queue, in order, and enforces the budget again: they are the oldest, so
// the first to go if new records filled the queue meanwhile.
func (e *o2Exporter) requeue(recs []chunk) {
	e.mu.Lock()
	for i := len(recs) - 1; i >= 0; i-- {
		e.q.pushFront(recs[i])
	}
	e.trimLocked()
	warn := e.warnLocked()
	e.mu.Unlock()
	if warn != "" {
		e.lg.warnf("%s", warn)
	}
}

// encode builds the request body of recs, a JSON array, gzipped.
func (e *o2Exporter) encode(recs []chunk) []byte {
	b := append(e.body[:0], '[')
	for i, c := range recs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, c.data...)
	}
	e.body = append(b, ']')
	e.gz = appendGzip(e.gz[:0], e.body)
	return e.gz
}

// send delivers one batch with the retry policy (O2_MAX_RETRIES,
// O2_INITIAL_RETRY_DELAY_MS, O2_MAX_RETRY_DELAY_MS) and returns what
// became of it, and how many records OpenObserve reported failed when sent.
func (e *o2Exporter) send(ctx context.Context, recs []chunk, res *flushResult) (outcome, int) {
	body := e.encode(recs)
	n := len(recs)
	retries, staleRetried := 0, false
	for {
		if ctx.Err() != nil {
			return requeued, 0
		}
		r, reused := e.attempt(ctx, body)
		if r.err == nil && r.status/100 == 2 {
			if r.rejected > 0 {
				e.lg.warnf("OpenObserve accepted %d of %d logs; %d failed (stream %s)%s",
					int64(n)-r.rejected, n, r.rejected, e.cfg.O2.Stream, prefixed(": ", r.message))
			}
			return sent, int(r.rejected)
		}
		if ctx.Err() != nil {
			return requeued, 0 // our deadline cut the attempt short
		}
		if r.err != nil && reused && !staleRetried && !permanent(r.err) {
			// A kept-alive connection that died while the sandbox was
			// frozen fails the first request on it; a new one will do.
			staleRetried = true
			e.lg.debugf("OpenObserve: reused connection failed (%v); retrying on a new one", r.err)
			continue
		}
		if !o2Retryable(r) {
			e.logFailure(r, n)
			return dropped, 0
		}
		if retries > 0 {
			e.lg.warnf("Retry attempt %d/%d failed: %s", retries, e.cfg.Retry.MaxRetries, e.describe(r))
		}
		if retries >= e.cfg.Retry.MaxRetries {
			e.lg.warnf("OpenObserve request failed after %d retries: %s; keeping %d logs for the next flush", retries, e.describe(r), n)
			return requeued, 0
		}
		wait, stop, notBefore := nextRetry(ctx, e.cfg, r.retryAfter, retries)
		if !notBefore.IsZero() {
			e.notBefore = notBefore
		}
		switch stop {
		case retryHintTooLong:
			e.lg.warnf("OpenObserve request failed: %s; server asks to retry in %s, keeping %d logs for a later flush", e.describe(r), wait, n)
			return requeued, 0
		case retryPastDeadline:
			e.lg.warnf("OpenObserve request failed: %s; a retry in %s would pass the flush deadline, keeping %d logs for the next flush",
				e.describe(r), wait.Round(time.Millisecond), n)
			return requeued, 0
		}
		if retries == 0 {
			e.lg.debugf("OpenObserve request failed: %s; retry 1/%d in %s", e.describe(r), e.cfg.Retry.MaxRetries, wait.Round(time.Millisecond))
		}
		if !e.wait(ctx, wait) {
			return requeued, 0
		}
		retries++
		res.retries++
		e.retries.Add(1)
	}
}

// attempt POSTs body once and interprets the answer; it reports whether
// the request went over a reused (kept-alive) connection.
func (e *o2Exporter) attempt(ctx context.Context, body []byte) (sendResult, bool) {
	if e.cfg.O2.RequestTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, e.cfg.O2.RequestTimeout)
		defer cancel()
	}
	var reused atomic.Bool
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		GotConn: func(i httptrace.GotConnInfo) { reused.Store(i.Reused) },
	})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.url, bytes.NewReader(body))
	if err != nil {
		return sendResult{err: fmt.Errorf("openobserve request: %w", err)}, false
	}
	req.Header.Set("Authorization", e.cfg.O2.Authorization)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Content-Encoding", "gzip")
	req.Header.Set("User-Agent", userAgent())
	resp, err := e.client.Do(req)
	if err != nil {
		return sendResult{err: err}, reused.Load()
	}
	defer resp.Body.Close()
	buf := bytes.NewBuffer(e.resp[:0])
	_, rerr := buf.ReadFrom(io.LimitReader(resp.Body, maxResponseBytes))
	e.resp = buf.Bytes()
	r := sendResult{status: resp.StatusCode}
	switch {
	case resp.StatusCode/100 == 2:
		if rerr == nil {
			r.rejected, r.message = parseO2Response(e.resp)
		}
	default:
		r.retryable = o2RetryableStatus(resp.StatusCode)
		r.retryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
		r.message = errorMessage(e.resp, resp.Header.Get("Content-Type"))
	}
	return r, reused.Load()
}

// o2RetryableStatus: the OTLP set (429, 502, 503, 504) plus 408, which a
// proxy in front of OpenObserve answers for a slow upload. A 500 is a
// failure of OpenObserve on these very records: retrying repeats it.
func o2RetryableStatus(status int) bool {
	switch status {
	case http.StatusRequestTimeout, http.StatusTooManyRequests, http.StatusBadGateway,
		http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// o2Retryable reports whether a failed attempt may be retried: a retryable
// status, or a transport error other than a refused certificate.
func o2Retryable(r sendResult) bool {
	if r.err != nil {
		return !permanent(r.err)
	}
	return r.retryable
}

// parseO2Response reads OpenObserve's answer,
// {"code":200,"status":[{"name":"s","successful":2,"failed":0,"error":"..."}]},
// and returns the failed records and the first error message. Anything
// else counts as full success: the status code said so.
func parseO2Response(b []byte) (failed int64, message string) {
	// As json.Unmarshal into {"status":[{"name","successful","failed",
	// "error"}]} would: a wrong type anywhere fails the whole answer, and a
	// repeated "status" decodes into the elements already there.
	type o2Status struct {
		name              string
		successful, fails int64
		err               string
	}
	var status []o2Status
	err := jsonObject(b, func(k, v []byte) error {
		if !jsonKeyIs(k, "status") {
			return nil
		}
		if jsonKind(v) == 'n' {
			status = nil
			return nil
		}
		i := 0
		err := jsonArray(v, func(e []byte) error {
			if i < cap(status) {
				status = status[:i+1]
			} else {
				status = append(status[:i], o2Status{})
			}
			s := &status[i]
			i++
			return jsonObject(e, func(k, v []byte) error {
				switch {
				case jsonKeyIs(k, "name"):
					return jsonSetString(v, &s.name)
				case jsonKeyIs(k, "successful"):
					return jsonSetInt64(v, &s.successful)
				case jsonKeyIs(k, "failed"):
					return jsonSetInt64(v, &s.fails)
				case jsonKeyIs(k, "error"):
					return jsonSetString(v, &s.err)
				}
				return nil
			})
		})
		status = status[:i]
		if i == 0 {
			status = status[:0:0] // json.Unmarshal makes a new empty slice
		}
		return err
	})
	if err != nil {
		return 0, ""
	}
	for _, s := range status {
		failed += s.fails
		if message == "" {
			message = s.err
		}
	}
	return failed, message
}

// describe is the short reason of a failed attempt, for logs: seed 002's
// "Request timeout", else the transport error without the URL, else the
// status and the start of the answer.
func (e *o2Exporter) describe(r sendResult) string {
	if r.err != nil {
		return describeTransportError(r.err, "O2_REQUEST_TIMEOUT_MS", e.cfg.O2.RequestTimeout)
	}
	return fmt.Sprintf("status %d: %s%s", r.status, http.StatusText(r.status), prefixed(" ", r.message))
}

// describeTransportError renders a client error for a user: a timeout
// names the variable that sets it; otherwise the cause without the
// request URL (url.Error repeats the URL, which may hold user info).
func describeTransportError(err error, timeoutVar string, timeout time.Duration) string {
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Sprintf("Request timeout (%s=%d)", timeoutVar, timeout.Milliseconds())
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return err.Error()
}

// logFailure logs a batch dropped on a non-retryable answer in seed 002's
// words, with the fix when it is likely to be ours to tell.
func (e *o2Exporter) logFailure(r sendResult, n int) {
	if r.err != nil {
		hint := ""
		if permanent(r.err) {
			hint = "; check O2_ENDPOINT (TLS: the server's certificate must be trusted)"
		}
		e.lg.errorf("OpenObserve request to %s failed: %s%s; dropped %d logs", e.name, e.describe(r), hint, n)
		return
	}
	hint := prefixed(" ", r.message)
	switch r.status {
	case http.StatusUnauthorized, http.StatusForbidden:
		hint = " (check O2_AUTHORIZATION_HEADER)"
	case http.StatusNotFound:
		hint = " (check O2_ENDPOINT and O2_ORGANIZATION_ID: " + e.name + ")"
	}
	if r.status/100 == 3 {
		hint = " (a redirect: set O2_ENDPOINT to the final URL)"
	}
	e.lg.errorf("OpenObserve request failed with status %d: %s%s; dropped %d logs", r.status, http.StatusText(r.status), hint, n)
}

func prefixed(prefix, s string) string {
	if s == "" {
		return ""
	}
	return prefix + s
}

// appendO2Record appends one record of seed 002's shape:
// {"time":"...","type":"...","record":<record>,"requestId":"..."}; the
// requestId is left out when unknown, and a missing record is null.
func appendO2Record(b []byte, typ, tm string, record []byte, requestID string) []byte {
	record = validRecordUTF8(record)
	b = append(b, `{"time":`...)
	b = appendJSONQuote(b, validUTF8(tm))
	b = append(b, `,"type":`...)
	b = appendJSONQuote(b, validUTF8(typ))
	b = append(b, `,"record":`...)
	if len(record) == 0 {
		b = append(b, "null"...)
	} else {
		b = append(b, record...)
	}
	if requestID != "" {
		b = append(b, `,"requestId":`...)
		b = appendJSONQuote(b, validUTF8(requestID))
	}
	return append(b, '}')
}

// sizeO2Record is len(appendO2Record(nil, ...)).
func sizeO2Record(typ, tm string, record []byte, requestID string) int {
	record = validRecordUTF8(record)
	n := len(`{"time":,"type":,"record":}`) + sizeJSONQuote(validUTF8(tm)) + sizeJSONQuote(validUTF8(typ))
	if len(record) == 0 {
		n += len("null")
	} else {
		n += len(record)
	}
	if requestID != "" {
		n += len(`,"requestId":`) + sizeJSONQuote(validUTF8(requestID))
	}
	return n
}

// validUTF8 replaces each run of invalid UTF-8 with one U+FFFD (what the
// _json records have always carried) before the string is quoted.
func validUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

// rawRequestID is the requestId of an event's _json record: the record's
// own requestId (platform events, JSON-format log lines), the request id
// of a text line in the runtime's layout, else, for a line, the invocation
// it belongs to (telemetry.currentFor). Init-phase lines and platform
// events without one get none. Called with t.mu held.
func (t *telemetry) rawRequestID(ev *envelope) string {
	raw := bytes.TrimSpace(ev.Record)
	var id string
	switch {
	case len(raw) > 0 && raw[0] == '"':
		if line, err := jsonString(raw); err == nil {
			_, _, id = textSeverity(line)
		}
	case len(raw) > 0 && raw[0] == '{' && jsonValid(raw):
		// The last string requestId, matched as a struct field is; a record
		// without one leaves it empty.
		jsonObject(raw, func(k, v []byte) error {
			if jsonKeyIs(k, "requestId") {
				jsonSetString(v, &id)
			}
			return nil
		})
	}
	if id == "" && (ev.Type == "function" || ev.Type == "extension") {
		if inv := t.currentFor(); inv != nil {
			id = inv.id
		}
	}
	return id
}

// validRecordUTF8 replaces invalid UTF-8 in a record passed through as
// JSON. A valid JSON text can hold such bytes only inside strings (Lambda's
// own JSON encoder lets a function's stray bytes through), where U+FFFD
// keeps it valid; sent as is, one bad byte could make OpenObserve refuse the
// whole batch. Found by FuzzO2Record.
func validRecordUTF8(record []byte) []byte {
	if utf8.Valid(record) {
		return record
	}
	return bytes.ToValidUTF8(record, []byte("\uFFFD"))
}
