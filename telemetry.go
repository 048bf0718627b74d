// telemetry.go owns the Lambda Telemetry API: the subscription, the local
// listener Lambda POSTs event batches to, and the conversion of those events
// into OTLP (lambda-apis.md §5, otlp.md §7 and §9):
//
//   - function and extension lines → log records (severity from the JSON
//     level or the runtime's text layout, invocation id, trace context);
//   - platform events → log records like CloudWatch's START/END/REPORT lines
//     (Config.Telemetry.PlatformLogs), platform metrics
//     (Config.Telemetry.PlatformMetrics) and spans (Config.Telemetry.PlatformSpans);
//   - any event type we don't know → a generic log record, never dropped.
//
// Invariants:
//   - A batch is converted and handed to the sink before the 200 answer,
//     so Lambda never considers delivered what we have not taken.
//   - Nothing on the delivery path logs per record: our own stderr lines
//     come back as `extension` events (a feedback loop). Malformed input is
//     counted and reported at most once per malformedLogEvery.
//   - Memory is bounded: the body is capped, and per-invocation state,
//     runtimeDone waiters and finished ids are kept for the last
//     maxTrackedInvocations request ids only.
//
// Attribute names of our own (no semantic convention exists):
//
//	aws.lambda.telemetry.type  the event's `type` verbatim: function,
//	                           extension, platform.start, ..., or an unknown
//	                           type. It says where a log record came from.
//	aws.lambda.init_type       initializationType of an init span
//	aws.lambda.dropped_records, aws.lambda.dropped_bytes, aws.lambda.drop_reason
//	                           of platform.logsDropped
//
// Metrics (all DELTA, one data point per event, no request id):
//
//	faas.invoke_duration       s    histogram  runtimeDone metrics.durationMs
//	faas.init_duration         s    histogram  initReport / restoreReport durationMs
//	faas.mem_usage             By   histogram  report maxMemoryUsedMB × 1,048,576
//	aws.lambda.billed_duration s    histogram  report billedDurationMs (no
//	                                           semconv name; unit s like the
//	                                           faas.* durations)
//	faas.coldstarts            {coldstart}  sum  +1 per initStart / restoreStart
//	faas.invocations           {invocation} sum  runtimeDone status success
//	faas.errors                {error}      sum  runtimeDone/initReport/restoreReport error|failure
//	faas.timeouts              {timeout}    sum  runtimeDone/initReport/restoreReport timeout
package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

const (
	// telemetrySchemaVersion is 2022-12-13: older schemas render JSON-format
	// function logs as strings (lambda-apis.md §5.1); 2025-01-29 is only
	// required for Managed Instances, whose extensions can't use INVOKE.
	telemetrySchemaVersion = "2022-12-13"

	// Buffering defaults (lambda-apis.md §5.1). timeoutMs 25, the minimum,
	// makes platform.runtimeDone reach us ~25 ms after the runtime is done
	// instead of up to 1 s (the default), which the function would pay for.
	defaultTelemetryTimeoutMs = 25
	defaultTelemetryMaxItems  = 1000
	defaultTelemetryMaxBytes  = 262144

	// telemetryBodyFactor caps a POST at 4 × maxBytes: Lambda sends at most
	// 2 × maxBytes plus metadata (lambda-apis.md §5.1); the rest is margin.
	telemetryBodyFactor = 4

	// maxTrackedInvocations bounds the per-invocation state, waiters and
	// finished ids. A report arrives one invocation late and late logs a few
	// later; 64 covers that and Managed Instances' concurrency.
	maxTrackedInvocations = 64

	// subscribeResponseLimit bounds what we read of a subscribe answer
	// ("OK" or a small JSON error).
	subscribeResponseLimit = 64 << 10

	// malformedLogEvery rate-limits the one log line about malformed input:
	// our stderr comes back to us as telemetry, so never per batch.
	malformedLogEvery = time.Minute

	// maxLogJSONDepth bounds recursion when a JSON log line becomes an AnyValue.
	maxLogJSONDepth = 32

	// attrTelemetryType marks each log record with the event type it came from.
	attrTelemetryType = "aws.lambda.telemetry.type"
)

// Severity numbers (otlp.md §7.f).
const (
	sevTrace int32 = 1
	sevDebug int32 = 5
	sevInfo  int32 = 9
	sevWarn  int32 = 13
	sevError int32 = 17
	sevFatal int32 = 21
)

// Span kinds and status codes (otlp.md §7.f).
const (
	spanKindInternal = 1
	spanKindServer   = 2
	statusUnset      = 0
	statusOK         = 1
	statusError      = 2
	// spanFlagHasIsRemote/spanFlagIsRemote: whether the parent is remote is
	// known / it is (a parent from X-Ray is another service's span).
	spanFlagHasIsRemote = 0x100
	spanFlagIsRemote    = 0x200
)

// platMetric indexes the platform metrics.
type platMetric int

const (
	mInvokeDuration platMetric = iota
	mInitDuration
	mMemUsage
	mBilledDuration
	mColdstarts
	mInvocations
	mErrors
	mTimeouts
	numPlatMetrics
)

// durationBounds are the semantic conventions' advisory buckets for
// faas.invoke_duration and faas.init_duration (otlp.md §9.3), in seconds.
var durationBounds = []float64{0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10}

// memBounds bucket faas.mem_usage (no advisory buckets exist) by the memory
// sizes people configure: 64 MiB to Lambda's 10,240 MiB maximum.
var memBounds = []float64{64 << 20, 128 << 20, 256 << 20, 512 << 20, 1 << 30, 2 << 30, 4 << 30, 8 << 30, 10 << 30}

var platMetrics = [numPlatMetrics]struct {
	name, unit, desc string
	bounds           []float64 // nil: a monotonic sum
}{
	mInvokeDuration: {"faas.invoke_duration", "s", "Duration of the function's logic per invocation", durationBounds},
	mInitDuration:   {"faas.init_duration", "s", "Duration of the function's initialization (cold start or SnapStart restore)", durationBounds},
	mMemUsage:       {"faas.mem_usage", "By", "Maximum memory used per invocation", memBounds},
	mBilledDuration: {"aws.lambda.billed_duration", "s", "Billed duration per invocation", durationBounds},
	mColdstarts:     {"faas.coldstarts", "{coldstart}", "Number of cold starts", nil},
	mInvocations:    {"faas.invocations", "{invocation}", "Number of successful invocations", nil},
	mErrors:         {"faas.errors", "{error}", "Number of invocation errors", nil},
	mTimeouts:       {"faas.timeouts", "{timeout}", "Number of invocation timeouts", nil},
}

// telemetryStats counts what the listener saw, for tests and diagnostics.
type telemetryStats struct {
	batches, events                     uint64
	malformedBatches, malformedEvents   uint64 // unparsable JSON (batch or event)
	oversizedBatches, unknownEvents     uint64
	lambdaDroppedRecords, lambdaDropped uint64 // platform.logsDropped totals
}

// invocation is what we know about one request id.
type invocation struct {
	id       string
	arn      string
	deadline time.Time
	start    int64 // platform.start time, unix ns; 0 = not seen

	traceID  [16]byte
	spanID   [8]byte
	parentID [8]byte
	sampled  bool
	fixed    bool // ids used by a record: never change them again

	coldstart bool
	done      bool // platform.runtimeDone seen
	spanDone  bool // invocation span emitted
}

// applyTracing takes the trace context from an X-Ray header and an
// optional span id (tracing.spanId), unless the ids are already in use.
func (inv *invocation) applyTracing(xray, spanID string) {
	if inv.fixed {
		return
	}
	if tid, pid, sampled, ok := parseXRay(xray); ok {
		inv.traceID, inv.parentID, inv.sampled = tid, pid, sampled
	}
	if sid, ok := parseSpanID(spanID); ok {
		inv.spanID = sid
	}
}

// ids fixes and returns the invocation's trace context, generating what no
// event supplied (a root trace of our own is recorded, so sampled).
func (inv *invocation) ids() *invocation {
	if !inv.fixed {
		if inv.traceID == [16]byte{} {
			inv.traceID = randomTraceID()
			inv.sampled = true
		}
		if inv.spanID == [8]byte{} {
			inv.spanID = randomSpanID()
		}
		inv.fixed = true
	}
	return inv
}

// phaseSpan is an init or restore phase waiting for the invocation it
// belongs to.
type phaseSpan struct {
	name              string
	start, end        int64
	status, errorType string
	initType          string
}

// batchOut accumulates one batch's OTLP output. Owned by serveMu.
type batchOut struct {
	logs, spans  []byte // LogRecord / Span fields (field 2 of ScopeLogs / ScopeSpans)
	nLogs        int
	nSpans       int
	points       [numPlatMetrics][]byte // data point fields (field 1 of Histogram / Sum)
	nPoints      [numPlatMetrics]int
	attrs, body  []byte // scratch for one record
	text         []byte // scratch for platform log lines
	done         []string
	observedTime int64
}

func (o *batchOut) reset(now int64) {
	o.logs, o.spans = o.logs[:0], o.spans[:0]
	o.nLogs, o.nSpans = 0, 0
	for i := range o.points {
		o.points[i] = o.points[i][:0]
		o.nPoints[i] = 0
	}
	o.done = o.done[:0]
	o.observedTime = now
}

// telemetry is the Telemetry API subscriber and listener. Safe for
// concurrent use.
type telemetry struct {
	cfg  *Config
	res  *resource
	sink func(sig signal, chunk []byte, items int)
	lg   *logger

	platformSubscribed bool // "platform" is among the subscribed types

	// raw, set in OpenObserve mode (openobserve.go), receives every event
	// as Lambda sent it, with its request id; the events then make no OTLP
	// log records (they would be stored twice), only metrics and spans.
	raw func(typ, time string, record []byte, requestID string)

	// serveMu serializes conversion and sink hand-off, so batches reach the
	// sink in the order they were converted.
	serveMu sync.Mutex
	out     batchOut

	mu          sync.Mutex
	invs        map[string]*invocation
	invOrder    [maxTrackedInvocations]string // ring, for eviction
	invNext     int
	streamCur   *invocation // last platform.start seen in the event stream
	lifeCur     *invocation // last invokeStarted from the lifecycle
	coldPending bool        // the next invocation is the sandbox's first
	initStart   int64       // last platform.initStart time
	restoreAt   int64       // last platform.restoreStart time
	pending     *phaseSpan
	waiters     map[string]chan struct{}
	waitOrder   [maxTrackedInvocations]string
	waitNext    int
	doneIDs     [maxTrackedInvocations]string
	doneNext    int
	stats       telemetryStats
	lastWarn    time.Time
	sinceWarn   telemetryStats // stats at the last warning
}

// newTelemetry returns the Telemetry API listener. sink receives complete
// ExportLogsServiceRequest, ExportMetricsServiceRequest and
// ExportTraceServiceRequest messages; each chunk is a fresh slice the sink
// may keep.
func newTelemetry(cfg *Config, res *resource, sink func(sig signal, chunk []byte, items int), lg *logger) *telemetry {
	t := &telemetry{
		cfg:         cfg,
		res:         res,
		sink:        sink,
		lg:          lg,
		invs:        make(map[string]*invocation),
		waiters:     make(map[string]chan struct{}),
		coldPending: true, // the extension starts with its sandbox
	}
	t.platformSubscribed = len(cfg.Telemetry.Types) == 0
	for _, ty := range cfg.Telemetry.Types {
		if ty == "platform" {
			t.platformSubscribed = true
		}
	}
	return t
}

// subscribeRequest is the body of PUT /2022-07-01/telemetry.
type subscribeRequest struct {
	SchemaVersion string `json:"schemaVersion"`
	Destination   struct {
		Protocol string `json:"protocol"`
		URI      string `json:"URI"`
	} `json:"destination"`
	Types     []string `json:"types"`
	Buffering struct {
		MaxItems  int `json:"maxItems"`
		MaxBytes  int `json:"maxBytes"`
		TimeoutMs int `json:"timeoutMs"`
	} `json:"buffering"`
}

// subscribe asks Lambda to POST telemetry to listenerURI. It returns
// supported=false and no error when the API answers 202 (local emulators
// such as AWS's RIE answer 202 with Telemetry.NotSupported and deliver
// nothing, lambda-apis.md §5.8), and an error naming the status and the
// errorType/errorMessage of the body for any other non-200 answer.
func (t *telemetry) subscribe(ctx context.Context, hc *http.Client, runtimeAPI, extensionID, listenerURI string) (supported bool, err error) {
	var req subscribeRequest
	req.SchemaVersion = telemetrySchemaVersion
	req.Destination.Protocol = "HTTP"
	req.Destination.URI = listenerURI
	req.Types = t.cfg.Telemetry.Types
	if len(req.Types) == 0 {
		req.Types = []string{"platform", "function", "extension"}
	}
	req.Buffering.MaxItems = orDefault(t.cfg.Telemetry.MaxItems, defaultTelemetryMaxItems)
	req.Buffering.MaxBytes = orDefault(t.cfg.Telemetry.MaxBytes, defaultTelemetryMaxBytes)
	req.Buffering.TimeoutMs = orDefault(t.cfg.Telemetry.TimeoutMs, defaultTelemetryTimeoutMs)
	body := req.appendJSON(nil)
	hr, err := http.NewRequestWithContext(ctx, http.MethodPut, "http://"+runtimeAPI+"/2022-07-01/telemetry", bytes.NewReader(body))
	if err != nil {
		return false, fmt.Errorf("telemetry subscribe: %w", err)
	}
	hr.Header.Set("Content-Type", "application/json")
	hr.Header.Set("Lambda-Extension-Identifier", extensionID)
	resp, err := hc.Do(hr)
	if err != nil {
		return false, fmt.Errorf("telemetry subscribe: %w", err)
	}
	defer resp.Body.Close()
	rb, _ := io.ReadAll(io.LimitReader(resp.Body, subscribeResponseLimit))
	var e telemetryAPIError
	switch resp.StatusCode {
	case http.StatusOK:
		return true, nil
	case http.StatusAccepted:
		_ = e.decode(rb)
		t.lg.warnf("the Telemetry API is not available here (status 202 %s, a local emulator?): no platform telemetry or function logs, and flushing falls back to the next event and SHUTDOWN", e.ErrorType)
		return false, nil
	}
	if e.decode(rb) == nil && (e.ErrorType != "" || e.ErrorMessage != "") {
		return false, fmt.Errorf("telemetry subscribe: status %d: %s: %s", resp.StatusCode, e.ErrorType, e.ErrorMessage)
	}
	if len(rb) > 256 {
		rb = rb[:256]
	}
	return false, fmt.Errorf("telemetry subscribe: status %d: %q", resp.StatusCode, rb)
}

// appendJSON appends the request as json.Marshal would write it.
func (r *subscribeRequest) appendJSON(b []byte) []byte {
	b = appendJSONQuote(append(b, `{"schemaVersion":`...), r.SchemaVersion)
	b = appendJSONQuote(append(b, `,"destination":{"protocol":`...), r.Destination.Protocol)
	b = appendJSONQuote(append(b, `,"URI":`...), r.Destination.URI)
	b = append(b, `},"types":`...)
	if r.Types == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, typ := range r.Types {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONQuote(b, typ)
		}
		b = append(b, ']')
	}
	b = strconv.AppendInt(append(b, `,"buffering":{"maxItems":`...), int64(r.Buffering.MaxItems), 10)
	b = strconv.AppendInt(append(b, `,"maxBytes":`...), int64(r.Buffering.MaxBytes), 10)
	b = strconv.AppendInt(append(b, `,"timeoutMs":`...), int64(r.Buffering.TimeoutMs), 10)
	return append(b, "}}"...)
}

// telemetryAPIError is a Telemetry API error body.
type telemetryAPIError struct {
	ErrorType    string `json:"errorType"`
	ErrorMessage string `json:"errorMessage"`
}

// decode fills e from b as json.Unmarshal would: nothing when b is not
// JSON, and the fields that decode when one has the wrong type (then the
// error says so).
func (e *telemetryAPIError) decode(b []byte) error {
	if err := jsonCheck(b); err != nil {
		return err
	}
	var first error
	err := jsonObject(b, func(k, v []byte) error {
		var err error
		switch {
		case jsonKeyIs(k, "errorType"):
			err = jsonSetString(v, &e.ErrorType)
		case jsonKeyIs(k, "errorMessage"):
			err = jsonSetString(v, &e.ErrorMessage)
		}
		if first == nil {
			first = err
		}
		return nil
	})
	if err != nil {
		return err
	}
	return first
}

func orDefault(v, def int) int {
	if v <= 0 {
		return def
	}
	return v
}

// bodyLimit is the largest POST body we read.
func (t *telemetry) bodyLimit() int64 {
	return telemetryBodyFactor * int64(orDefault(t.cfg.Telemetry.MaxBytes, defaultTelemetryMaxBytes))
}

// ServeHTTP is the listener Lambda POSTs event batches to. It answers 200
// once the batch is converted and in the sink, and also for malformed or
// oversized batches (after keeping what parsed): any other answer only
// makes Lambda retry the same bytes (lambda-apis.md §5.2).
func (t *telemetry) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	limit := t.bodyLimit()
	var buf bytes.Buffer
	if n := r.ContentLength; n > 0 && n <= limit {
		buf.Grow(int(n))
	}
	_, err := buf.ReadFrom(io.LimitReader(r.Body, limit+1))
	body := buf.Bytes()
	oversized := int64(len(body)) > limit
	if oversized {
		body = body[:limit]
	}
	t.handleBatch(body, oversized || err != nil, time.Now())
	w.WriteHeader(http.StatusOK)
}

// handleBatch converts one POST body and hands the result to the sink.
// cut says the body is incomplete: the events before the cut are kept.
func (t *telemetry) handleBatch(body []byte, cut bool, now time.Time) {
	t.serveMu.Lock()
	defer t.serveMu.Unlock()
	o := &t.out
	o.reset(now.UnixNano())

	t.mu.Lock()
	t.stats.batches++
	if cut {
		t.stats.oversizedBatches++
	}
	if !t.convert(o, body) && !cut {
		t.stats.malformedBatches++
	}
	t.mu.Unlock()

	t.emit(o)
	t.finish(o, now)
}

// convert decodes a JSON array of events, one at a time, so a broken
// element or a cut body keeps everything before it. It reports whether the
// whole body was a well-formed array. Called with mu held.
func (t *telemetry) convert(o *batchOut, body []byte) bool {
	// TrimSpace as the encoding/json version did, which took a whole batch
	// with any Unicode white space around it.
	body = bytes.TrimSpace(body)
	if len(body) == 0 || body[0] != '[' {
		return false
	}
	return jsonArray(body, func(raw []byte) error {
		t.stats.events++
		t.event(o, raw)
		return nil
	}) == nil
}

// envelope is one Telemetry API event (lambda-apis.md §5.3).
type envelope struct {
	Time   string `json:"time"`
	Type   string `json:"type"`
	Record []byte // the raw JSON value, aliasing the batch
}

// decode fills ev from the JSON object b as json.Unmarshal would.
func (ev *envelope) decode(b []byte) error {
	return jsonObject(b, func(k, v []byte) error {
		switch {
		case jsonKeyIs(k, "time"):
			return jsonSetString(v, &ev.Time)
		case jsonKeyIs(k, "type"):
			return jsonSetString(v, &ev.Type)
		case jsonKeyIs(k, "record"):
			ev.Record = v
		}
		return nil
	})
}

// platformRecord holds the fields of every platform event type
// (lambda-apis.md §5.4, §5.5); each type uses some of them.
type platformRecord struct {
	RequestID          string `json:"requestId"`
	Status             string `json:"status"`
	ErrorType          string `json:"errorType"`
	Version            string `json:"version"`
	InitializationType string `json:"initializationType"`
	Phase              string `json:"phase"`
	RuntimeVersion     string `json:"runtimeVersion"`
	RuntimeVersionArn  string `json:"runtimeVersionArn"`

	Metrics *platformMetrics `json:"metrics"`
	Spans   []platformSpan   `json:"spans"`
	Tracing *platformTracing `json:"tracing"`

	Name           string   `json:"name"`
	State          string   `json:"state"`
	Events         []string `json:"events"`
	Types          []string `json:"types"`
	DroppedBytes   float64  `json:"droppedBytes"`
	DroppedRecords float64  `json:"droppedRecords"`
	Reason         string   `json:"reason"`
}

type platformMetrics struct {
	DurationMs        float64  `json:"durationMs"`
	ProducedBytes     float64  `json:"producedBytes"`
	BilledDurationMs  float64  `json:"billedDurationMs"`
	MaxMemoryUsedMB   float64  `json:"maxMemoryUsedMB"`
	MemorySizeMB      float64  `json:"memorySizeMB"`
	InitDurationMs    *float64 `json:"initDurationMs"`
	RestoreDurationMs *float64 `json:"restoreDurationMs"`
}

type platformSpan struct {
	Name       string  `json:"name"`
	Start      string  `json:"start"`
	DurationMs float64 `json:"durationMs"`
}

type platformTracing struct {
	SpanID string `json:"spanId"`
	Type   string `json:"type"`
	Value  string `json:"value"`
}

// decode fills r from the JSON object b as json.Unmarshal would (the tags
// are the wire names; FuzzJSONLite holds the two to the same result).
func (r *platformRecord) decode(b []byte) error {
	return jsonObject(b, func(k, v []byte) error {
		switch {
		case jsonKeyIs(k, "requestId"):
			return jsonSetString(v, &r.RequestID)
		case jsonKeyIs(k, "status"):
			return jsonSetString(v, &r.Status)
		case jsonKeyIs(k, "errorType"):
			return jsonSetString(v, &r.ErrorType)
		case jsonKeyIs(k, "version"):
			return jsonSetString(v, &r.Version)
		case jsonKeyIs(k, "initializationType"):
			return jsonSetString(v, &r.InitializationType)
		case jsonKeyIs(k, "phase"):
			return jsonSetString(v, &r.Phase)
		case jsonKeyIs(k, "runtimeVersion"):
			return jsonSetString(v, &r.RuntimeVersion)
		case jsonKeyIs(k, "runtimeVersionArn"):
			return jsonSetString(v, &r.RuntimeVersionArn)
		case jsonKeyIs(k, "metrics"):
			return jsonPtr(v, &r.Metrics, decodePlatformMetrics)
		case jsonKeyIs(k, "spans"):
			return jsonSlice(v, &r.Spans, decodePlatformSpan)
		case jsonKeyIs(k, "tracing"):
			return jsonPtr(v, &r.Tracing, decodePlatformTracing)
		case jsonKeyIs(k, "name"):
			return jsonSetString(v, &r.Name)
		case jsonKeyIs(k, "state"):
			return jsonSetString(v, &r.State)
		case jsonKeyIs(k, "events"):
			return jsonSlice(v, &r.Events, jsonSetString)
		case jsonKeyIs(k, "types"):
			return jsonSlice(v, &r.Types, jsonSetString)
		case jsonKeyIs(k, "droppedBytes"):
			return jsonSetNumber(v, &r.DroppedBytes)
		case jsonKeyIs(k, "droppedRecords"):
			return jsonSetNumber(v, &r.DroppedRecords)
		case jsonKeyIs(k, "reason"):
			return jsonSetString(v, &r.Reason)
		}
		return nil
	})
}

func decodePlatformMetrics(b []byte, m *platformMetrics) error {
	return jsonObject(b, func(k, v []byte) error {
		switch {
		case jsonKeyIs(k, "durationMs"):
			return jsonSetNumber(v, &m.DurationMs)
		case jsonKeyIs(k, "producedBytes"):
			return jsonSetNumber(v, &m.ProducedBytes)
		case jsonKeyIs(k, "billedDurationMs"):
			return jsonSetNumber(v, &m.BilledDurationMs)
		case jsonKeyIs(k, "maxMemoryUsedMB"):
			return jsonSetNumber(v, &m.MaxMemoryUsedMB)
		case jsonKeyIs(k, "memorySizeMB"):
			return jsonSetNumber(v, &m.MemorySizeMB)
		case jsonKeyIs(k, "initDurationMs"):
			return jsonPtr(v, &m.InitDurationMs, jsonSetNumber)
		case jsonKeyIs(k, "restoreDurationMs"):
			return jsonPtr(v, &m.RestoreDurationMs, jsonSetNumber)
		}
		return nil
	})
}

func decodePlatformSpan(b []byte, s *platformSpan) error {
	return jsonObject(b, func(k, v []byte) error {
		switch {
		case jsonKeyIs(k, "name"):
			return jsonSetString(v, &s.Name)
		case jsonKeyIs(k, "start"):
			return jsonSetString(v, &s.Start)
		case jsonKeyIs(k, "durationMs"):
			return jsonSetNumber(v, &s.DurationMs)
		}
		return nil
	})
}

func decodePlatformTracing(b []byte, tr *platformTracing) error {
	return jsonObject(b, func(k, v []byte) error {
		switch {
		case jsonKeyIs(k, "spanId"):
			return jsonSetString(v, &tr.SpanID)
		case jsonKeyIs(k, "type"):
			return jsonSetString(v, &tr.Type)
		case jsonKeyIs(k, "value"):
			return jsonSetString(v, &tr.Value)
		}
		return nil
	})
}

// event converts one event. Called with mu held.
func (t *telemetry) event(o *batchOut, raw []byte) {
	var ev envelope
	if err := ev.decode(raw); err != nil {
		t.stats.malformedEvents++
		if t.raw != nil {
			t.raw("", "", raw, "")
			return
		}
		t.genericLog(o, "", 0, raw)
		return
	}
	t.envelope(o, &ev)
}

// envelope converts one decoded event. Called with mu held.
func (t *telemetry) envelope(o *batchOut, ev *envelope) {
	if t.raw != nil {
		t.raw(ev.Type, ev.Time, ev.Record, t.rawRequestID(ev))
		if ev.Type == "function" || ev.Type == "extension" {
			return // a line makes nothing but a log record
		}
	}
	ts := parseEventTime(ev.Time)
	switch ev.Type {
	case "function", "extension":
		t.lineLog(o, ev.Type, ts, ev.Record)
	case "platform.initStart", "platform.initRuntimeDone", "platform.initReport",
		"platform.start", "platform.runtimeDone", "platform.report",
		"platform.restoreStart", "platform.restoreRuntimeDone", "platform.restoreReport",
		"platform.extension", "platform.telemetrySubscription", "platform.logsDropped":
		var rec platformRecord
		if err := rec.decode(ev.Record); err != nil {
			t.stats.malformedEvents++
			t.genericLog(o, ev.Type, ts, ev.Record)
			return
		}
		t.platform(o, ev.Type, ts, &rec)
	default:
		t.stats.unknownEvents++
		t.genericLog(o, ev.Type, ts, ev.Record)
	}
}

// invocation returns the state of request id, creating it. An empty id
// gets a fresh state that is not remembered. Called with mu held.
func (t *telemetry) invocation(id string) *invocation {
	if inv := t.invs[id]; inv != nil {
		return inv
	}
	inv := &invocation{id: id, coldstart: t.coldPending}
	t.coldPending = false
	if id == "" {
		return inv
	}
	if old := t.invOrder[t.invNext]; old != "" {
		delete(t.invs, old)
	}
	t.invOrder[t.invNext] = id
	t.invNext = (t.invNext + 1) % maxTrackedInvocations
	t.invs[id] = inv
	return inv
}

// currentFor returns the invocation a line without a request id belongs
// to: the last platform.start in the stream when we get platform events
// (so init-time lines are not blamed on the first invocation), else the
// one the lifecycle last started. Called with mu held.
func (t *telemetry) currentFor() *invocation {
	if t.platformSubscribed {
		return t.streamCur
	}
	return t.lifeCur
}

// platform converts one platform event into its log record (always for
// failures and logsDropped, else with PlatformLogs), metrics and spans.
// Called with mu held.
func (t *telemetry) platform(o *batchOut, typ string, ts int64, rec *platformRecord) {
	cfg := &t.cfg.Telemetry
	// at is ts for spans and metrics, which need a time; a log record
	// keeps 0, "unknown".
	at := ts
	if at <= 0 {
		at = o.observedTime
	}
	failed := rec.Status != "" && rec.Status != "success"
	sev := sevInfo
	if failed {
		sev = sevError
	}
	var inv *invocation
	text := o.text[:0]
	switch typ {
	case "platform.initStart":
		t.initStart = at
		t.streamCur = nil // lines from here on belong to the init phase
		t.count(o, mColdstarts, at, at)
		text = append(text, "INIT_START"...)
		text = appendReportField(text, "Runtime Version", rec.RuntimeVersion)
		text = appendReportField(text, "Runtime Version ARN", rec.RuntimeVersionArn)
		text = appendReportField(text, "Initialization Type", rec.InitializationType)
		text = appendReportField(text, "Phase", rec.Phase)
	case "platform.restoreStart":
		t.restoreAt = at
		t.streamCur = nil
		t.count(o, mColdstarts, at, at)
		text = append(text, "RESTORE_START"...)
		text = appendReportField(text, "Runtime Version", rec.RuntimeVersion)
		text = appendReportField(text, "Runtime Version ARN", rec.RuntimeVersionArn)
	case "platform.initRuntimeDone", "platform.restoreRuntimeDone":
		ps := phaseSpan{name: "init", start: t.initStart, end: at, status: rec.Status,
			errorType: rec.ErrorType, initType: rec.InitializationType}
		text = append(text, "INIT_RUNTIME_DONE"...)
		if typ == "platform.restoreRuntimeDone" {
			ps.name, ps.start = "restore", t.restoreAt
			text = append(text[:0], "RESTORE_RUNTIME_DONE"...)
		}
		if cfg.PlatformSpans {
			t.phaseDone(o, ps)
		}
		text = appendReportField(text, "Phase", rec.Phase)
		text = appendReportField(text, "Status", rec.Status)
		text = appendReportField(text, "Error Type", rec.ErrorType)
	case "platform.initReport", "platform.restoreReport":
		text = append(text, "INIT_REPORT Init Duration:"...)
		if typ == "platform.restoreReport" {
			text = append(text[:0], "RESTORE_REPORT Restore Duration:"...)
		}
		if m := rec.Metrics; m != nil {
			t.hist(o, mInitDuration, at-msToNs(m.DurationMs), at, m.DurationMs/1e3)
			text = appendMs(text, m.DurationMs)
		}
		t.countStatus(o, rec.Status, at, at)
		text = appendReportField(text, "Phase", rec.Phase)
		text = appendReportField(text, "Status", rec.Status)
		text = appendReportField(text, "Error Type", rec.ErrorType)
	case "platform.start":
		inv = t.invocation(rec.RequestID)
		inv.start = at
		if rec.Tracing != nil {
			inv.applyTracing(rec.Tracing.Value, rec.Tracing.SpanID)
		}
		t.streamCur = inv
		if t.pending != nil && cfg.PlatformSpans {
			t.emitPhase(o, t.pending, inv)
			t.pending = nil
		}
		text = append(text, "START RequestId: "...)
		text = append(text, rec.RequestID...)
		text = appendReportField(text, "Version", rec.Version)
	case "platform.runtimeDone":
		inv = t.invocation(rec.RequestID)
		t.endInvocation(o, at, inv, rec)
		text = append(text, "END RequestId: "...)
		text = append(text, rec.RequestID...)
		if failed {
			text = appendReportField(text, "Status", rec.Status)
			text = appendReportField(text, "Error Type", rec.ErrorType)
		}
	case "platform.report":
		inv = t.invs[rec.RequestID]
		t.report(o, at, inv, rec)
		text = append(text, "REPORT RequestId: "...)
		text = append(text, rec.RequestID...)
		if m := rec.Metrics; m != nil {
			text = append(text, " Duration:"...)
			text = appendMs(text, m.DurationMs)
			text = append(text, " Billed Duration:"...)
			text = appendMs(text, m.BilledDurationMs)
			text = append(text, " Memory Size: "...)
			text = strconv.AppendFloat(text, m.MemorySizeMB, 'f', -1, 64)
			text = append(text, " MB Max Memory Used: "...)
			text = strconv.AppendFloat(text, m.MaxMemoryUsedMB, 'f', -1, 64)
			text = append(text, " MB"...)
			if m.InitDurationMs != nil {
				text = append(text, " Init Duration:"...)
				text = appendMs(text, *m.InitDurationMs)
			}
			if m.RestoreDurationMs != nil {
				text = append(text, " Restore Duration:"...)
				text = appendMs(text, *m.RestoreDurationMs)
			}
		}
		if failed {
			text = appendReportField(text, "Status", rec.Status)
			text = appendReportField(text, "Error Type", rec.ErrorType)
		}
	case "platform.extension":
		text = append(text, "EXTENSION"...)
		text = appendReportField(text, "Name", rec.Name)
		text = appendReportField(text, "State", rec.State)
		text = appendReportField(text, "Events", "["+strings.Join(rec.Events, ", ")+"]")
	case "platform.telemetrySubscription":
		text = append(text, "TELEMETRY"...)
		text = appendReportField(text, "Name", rec.Name)
		text = appendReportField(text, "State", rec.State)
		text = appendReportField(text, "Types", "["+strings.Join(rec.Types, ", ")+"]")
	case "platform.logsDropped":
		// Always visible: telemetry was lost.
		t.stats.lambdaDroppedRecords += uint64(rec.DroppedRecords)
		t.stats.lambdaDropped++
		text = append(text, "LOGS_DROPPED Lambda dropped "...)
		text = strconv.AppendInt(text, int64(rec.DroppedRecords), 10)
		text = append(text, " records ("...)
		text = strconv.AppendInt(text, int64(rec.DroppedBytes), 10)
		text = append(text, " bytes) of telemetry: "...)
		text = append(text, rec.Reason...)
		a := o.attrs[:0]
		a = appendKVInt(a, 6, "aws.lambda.dropped_records", int64(rec.DroppedRecords))
		a = appendKVInt(a, 6, "aws.lambda.dropped_bytes", int64(rec.DroppedBytes))
		a = appendKVString(a, 6, "aws.lambda.drop_reason", rec.Reason)
		o.attrs = a
		o.text = text
		t.appendLog(o, logRec{time: ts, sev: sevWarn, typ: typ, text: text, attrs: a})
		return
	}
	o.text = text
	// Failures are always logged; the rest only with PlatformLogs.
	if !cfg.PlatformLogs && !failed {
		return
	}
	var a []byte
	if rec.RequestID != "" {
		a = appendKVString(o.attrs[:0], 6, "faas.invocation_id", rec.RequestID)
	}
	if rec.ErrorType != "" {
		a = appendKVString(a, 6, "error.type", rec.ErrorType)
	}
	if a != nil {
		o.attrs = a
	}
	t.appendLog(o, logRec{time: ts, sev: sev, typ: typ, text: text, attrs: a, inv: inv})
}

// endInvocation ends the invocation: its span and child spans, its metrics.
func (t *telemetry) endInvocation(o *batchOut, ts int64, inv *invocation, rec *platformRecord) {
	cfg := &t.cfg.Telemetry
	if rec.Tracing != nil {
		inv.applyTracing(rec.Tracing.Value, rec.Tracing.SpanID)
	}
	var dur float64
	if rec.Metrics != nil {
		dur = rec.Metrics.DurationMs
	}
	start := inv.start
	if start == 0 {
		start = ts - msToNs(dur)
	}
	if cfg.PlatformSpans && !inv.spanDone {
		if t.pending != nil {
			t.emitPhase(o, t.pending, inv)
			t.pending = nil
		}
		t.invocationSpan(o, inv, start, ts, rec.Status, rec.ErrorType)
		for _, s := range rec.Spans {
			cs := parseEventTime(s.Start)
			if cs == 0 {
				cs = start
			}
			t.childSpan(o, inv, s.Name, cs, cs+msToNs(s.DurationMs))
		}
	}
	if rec.Metrics != nil {
		t.hist(o, mInvokeDuration, start, ts, dur/1e3)
	}
	t.countStatus(o, rec.Status, start, ts)
	if rec.Status == "success" {
		t.count(o, mInvocations, start, ts)
	}
	inv.done = true
	if inv.id != "" {
		o.done = append(o.done, inv.id)
	}
}

// report turns platform.report (which arrives an invocation late) into the
// memory and billed-duration metrics and, while the invocation is still
// known, child spans such as extensionOverhead.
func (t *telemetry) report(o *batchOut, ts int64, inv *invocation, rec *platformRecord) {
	m := rec.Metrics
	if m == nil {
		return
	}
	start := ts - msToNs(m.DurationMs)
	t.hist(o, mMemUsage, start, ts, m.MaxMemoryUsedMB*bytesPerMB)
	t.hist(o, mBilledDuration, start, ts, m.BilledDurationMs/1e3)
	if inv != nil && inv.spanDone && t.cfg.Telemetry.PlatformSpans {
		for _, s := range rec.Spans {
			cs := parseEventTime(s.Start)
			if cs == 0 {
				cs = start
			}
			t.childSpan(o, inv, s.Name, cs, cs+msToNs(s.DurationMs))
		}
	}
}

// phaseDone handles the end of init or restore: attach the phase span to
// the invocation in progress (an on-demand cold start or a SnapStart restore
// happens for it) or keep it for the next platform.start; or, for
// provisioned concurrency (init long before any invocation), emit it as its
// own trace.
func (t *telemetry) phaseDone(o *batchOut, ps phaseSpan) {
	if t.pending != nil {
		t.emitPhase(o, t.pending, nil)
		t.pending = nil
	}
	if ps.initType == "provisioned-concurrency" {
		t.emitPhase(o, &ps, nil)
		return
	}
	// Attach now only if platform.start was seen: it may still bring the
	// invocation's span id (tracing.spanId), and ids never change once used.
	if cur := t.lifeCur; cur != nil && cur.start != 0 && !cur.done && !cur.spanDone {
		t.emitPhase(o, &ps, cur)
		return
	}
	t.pending = &ps
}

// emitPhase appends the init/restore span, as a child of inv's span or as
// a new trace when inv is nil.
func (t *telemetry) emitPhase(o *batchOut, ps *phaseSpan, inv *invocation) {
	var sp spanRec
	sp.name, sp.kind = ps.name, spanKindInternal
	sp.start, sp.end = ps.start, ps.end
	if sp.start == 0 {
		sp.start = sp.end
	}
	if inv != nil {
		inv.ids()
		sp.traceID, sp.parentID, sp.sampled = inv.traceID, inv.spanID, inv.sampled
	} else {
		sp.traceID, sp.sampled = randomTraceID(), true
	}
	sp.spanID = randomSpanID()
	a := appendKVBool(o.attrs[:0], 9, "faas.coldstart", true)
	if ps.initType != "" {
		a = appendKVString(a, 9, "aws.lambda.init_type", ps.initType)
	}
	sp.code = statusOK
	if ps.status != "" && ps.status != "success" {
		sp.code, sp.message = statusError, ps.errorType
		if sp.message == "" {
			sp.message = ps.status
		}
		a = appendKVString(a, 9, "error.type", sp.message)
	}
	o.attrs = a
	sp.attrs = a
	o.appendSpan(&sp)
}

// invocationSpan appends the SERVER span of one invocation.
func (t *telemetry) invocationSpan(o *batchOut, inv *invocation, start, end int64, status, errorType string) {
	inv.ids()
	var sp spanRec
	sp.traceID, sp.spanID, sp.parentID, sp.sampled = inv.traceID, inv.spanID, inv.parentID, inv.sampled
	sp.remoteParent = inv.parentID != [8]byte{}
	sp.name = t.res.functionName
	if sp.name == "" {
		sp.name = "invoke"
	}
	sp.kind = spanKindServer
	sp.start, sp.end = start, end
	a := appendKVString(o.attrs[:0], 9, "faas.invocation_id", inv.id)
	a = appendKVBool(a, 9, "faas.coldstart", inv.coldstart)
	if inv.arn != "" {
		a = appendKVString(a, 9, "aws.lambda.invoked_arn", inv.arn)
	}
	switch status {
	case "success":
		sp.code = statusOK
	case "":
		sp.code = statusUnset
	default:
		sp.code, sp.message = statusError, errorType
		if sp.message == "" {
			sp.message = status
		}
		a = appendKVString(a, 9, "error.type", sp.message)
	}
	o.attrs = a
	sp.attrs = a
	o.appendSpan(&sp)
	inv.spanDone = true
}

// childSpan appends one of runtimeDone's or report's spans under inv.
func (t *telemetry) childSpan(o *batchOut, inv *invocation, name string, start, end int64) {
	if name == "" {
		name = "unnamed"
	}
	sp := spanRec{traceID: inv.traceID, spanID: randomSpanID(), parentID: inv.spanID, sampled: inv.sampled,
		name: name, kind: spanKindInternal, start: start, end: end}
	o.appendSpan(&sp)
}

// countStatus counts a failed status as faas.errors or faas.timeouts.
func (t *telemetry) countStatus(o *batchOut, status string, start, end int64) {
	switch status {
	case "timeout":
		t.count(o, mTimeouts, start, end)
	case "error", "failure":
		t.count(o, mErrors, start, end)
	}
}

// lineLog converts a function or extension log line (lambda-apis.md §5.6):
// a string is a text line; an object is a JSON-format line, whose message
// becomes the body and whose other fields become attributes (without a
// message, the whole object is the body).
func (t *telemetry) lineLog(o *batchOut, typ string, ts int64, raw []byte) {
	raw = bytes.TrimSpace(raw)
	lr := logRec{time: ts, typ: typ}
	var reqID string
	a := o.attrs[:0]
	b := o.body[:0]
	switch {
	case len(raw) > 0 && raw[0] == '"':
		line, err := jsonString(raw)
		if err != nil {
			t.stats.malformedEvents++
			b = appendAnyString(b, string(raw))
			break
		}
		lr.sev, lr.sevText, reqID = textSeverity(line)
		b = appendAnyString(b, line)
	case len(raw) > 0 && raw[0] == '{':
		var ok bool
		b, a, lr.sev, lr.sevText, reqID, ok = appendJSONLine(b, a, raw)
		if !ok {
			t.stats.malformedEvents++
		}
	default:
		b = appendAnyJSON(b, raw)
	}
	var inv *invocation
	if reqID != "" {
		inv = t.invs[reqID]
	} else if inv = t.currentFor(); inv != nil {
		reqID = inv.id
	}
	if reqID != "" {
		a = appendKVString(a, 6, "faas.invocation_id", reqID)
	}
	o.attrs, o.body = a, b
	lr.attrs, lr.body, lr.inv = a, b, inv
	t.appendLog(o, lr)
}

// genericLog keeps an event we can't interpret: the raw record is the body.
func (t *telemetry) genericLog(o *batchOut, typ string, ts int64, raw []byte) {
	// raw is unparsed input: protobuf strings must be valid UTF-8, or the
	// whole export request holding this record is invalid.
	o.body = appendAnyString(o.body[:0], strings.ToValidUTF8(string(raw), "\uFFFD"))
	t.appendLog(o, logRec{time: ts, typ: typ, body: o.body})
}

// logRec is one log record to encode.
type logRec struct {
	time    int64
	sev     int32
	sevText string
	typ     string // aws.lambda.telemetry.type; platform types are also the event name
	text    []byte // body as a string, or
	body    []byte // body as encoded AnyValue content
	attrs   []byte // KeyValue fields (field 6), tags included
	inv     *invocation
}

// appendLog appends a LogRecord as field 2 of ScopeLogs.
func (t *telemetry) appendLog(o *batchOut, lr logRec) {
	b, start := openLen(o.logs, 2)
	b = appendFixed64(b, 1, uint64(max(lr.time, 0)))
	b = appendVarint(b, 2, uint64(lr.sev))
	text := lr.sevText
	if text == "" && lr.sev != 0 {
		text = severityName(lr.sev)
	}
	b = appendString(b, 3, text)
	if lr.text != nil {
		var v int
		b, v = openLen(b, 5)
		b = wireAppendTag(b, anyString, wireBytesType)
		b = wireAppendBytes(b, lr.text)
		b = closeLen(b, v)
	} else if lr.body != nil {
		b = wireAppendTag(b, 5, wireBytesType)
		b = wireAppendBytes(b, lr.body)
	}
	b = appendKVString(b, 6, attrTelemetryType, lr.typ)
	b = append(b, lr.attrs...)
	if inv := lr.inv; inv != nil {
		inv.ids()
		if inv.sampled {
			b = wireAppendTag(b, 8, wireFixed32Type)
			b = wireAppendFixed32(b, 1)
		}
		b = appendBytes(b, 9, inv.traceID[:])
		b = appendBytes(b, 10, inv.spanID[:])
	}
	b = appendFixed64(b, 11, uint64(o.observedTime))
	if strings.HasPrefix(lr.typ, "platform.") {
		b = appendString(b, 12, lr.typ)
	}
	o.logs = closeLen(b, start)
	o.nLogs++
}

// spanRec is one span to encode.
type spanRec struct {
	traceID               [16]byte
	spanID, parentID      [8]byte
	sampled, remoteParent bool
	name                  string
	kind                  int
	start, end            int64
	attrs                 []byte // KeyValue fields (field 9), tags included
	code                  int
	message               string
}

// appendSpan appends a Span as field 2 of ScopeSpans.
func (o *batchOut) appendSpan(sp *spanRec) {
	if sp.end <= 0 {
		sp.end = o.observedTime
	}
	if sp.start <= 0 {
		sp.start = sp.end
	}
	if sp.end < sp.start {
		sp.end = sp.start
	}
	b, start := openLen(o.spans, 2)
	b = appendBytes(b, 1, sp.traceID[:])
	b = appendBytes(b, 2, sp.spanID[:])
	if sp.parentID != [8]byte{} {
		b = appendBytes(b, 4, sp.parentID[:])
	}
	b = appendString(b, 5, sp.name)
	b = appendVarint(b, 6, uint64(sp.kind))
	b = appendFixed64(b, 7, uint64(sp.start))
	b = appendFixed64(b, 8, uint64(sp.end))
	b = append(b, sp.attrs...)
	if sp.code != statusUnset {
		var st int
		b, st = openLen(b, 15)
		b = appendString(b, 2, sp.message)
		b = appendVarint(b, 3, uint64(sp.code))
		b = closeLen(b, st)
	}
	flags := uint32(spanFlagHasIsRemote)
	if sp.remoteParent {
		flags |= spanFlagIsRemote
	}
	if sp.sampled {
		flags |= 1
	}
	b = wireAppendTag(b, 16, wireFixed32Type)
	b = wireAppendFixed32(b, flags)
	o.spans = closeLen(b, start)
	o.nSpans++
}

// hist records one measurement of a histogram metric as its own data point.
func (t *telemetry) hist(o *batchOut, m platMetric, start, end int64, v float64) {
	if !t.cfg.Telemetry.PlatformMetrics || math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
		return
	}
	if start > end || start <= 0 {
		start = end
	}
	bounds := platMetrics[m].bounds
	b, dp := openLen(o.points[m], 1)
	b = appendFixed64(b, 2, uint64(start))
	b = appendFixed64(b, 3, uint64(end))
	b = appendFixed64(b, 4, 1)
	b = appendDouble(b, 5, v)
	var p int
	b, p = openLen(b, 6)
	for i := 0; i <= len(bounds); i++ {
		var c uint64
		if (i == len(bounds) || v <= bounds[i]) && (i == 0 || v > bounds[i-1]) {
			c = 1
		}
		b = wireAppendFixed64(b, c)
	}
	b = closeLen(b, p)
	b, p = openLen(b, 7)
	for _, x := range bounds {
		b = wireAppendFixed64(b, math.Float64bits(x))
	}
	b = closeLen(b, p)
	b = appendDouble(b, 11, v)
	b = appendDouble(b, 12, v)
	o.points[m] = closeLen(b, dp)
	o.nPoints[m]++
}

// count records +1 of a counter as its own data point.
func (t *telemetry) count(o *batchOut, m platMetric, start, end int64) {
	if !t.cfg.Telemetry.PlatformMetrics {
		return
	}
	if start > end || start <= 0 {
		start = end
	}
	b, dp := openLen(o.points[m], 1)
	b = appendFixed64(b, 2, uint64(start))
	b = appendFixed64(b, 3, uint64(end))
	b = wireAppendTag(b, 6, wireFixed64Type)
	b = wireAppendFixed64(b, 1)
	o.points[m] = closeLen(b, dp)
	o.nPoints[m]++
}

// emit hands the batch's logs, metrics and spans to the sink, each as one
// complete Export*ServiceRequest.
func (t *telemetry) emit(o *batchOut) {
	if o.nSpans > 0 {
		t.sink(sigTraces, t.wrap(o.spans), o.nSpans)
	}
	points := 0
	var ms []byte
	for m := range o.points {
		if o.nPoints[m] == 0 {
			continue
		}
		points += o.nPoints[m]
		def := &platMetrics[m]
		var mt, d int
		ms, mt = openLen(ms, 2)
		ms = appendString(ms, 1, def.name)
		ms = appendString(ms, 2, def.desc)
		ms = appendString(ms, 3, def.unit)
		if def.bounds != nil {
			ms, d = openLen(ms, 9)
		} else {
			ms, d = openLen(ms, 7)
		}
		ms = append(ms, o.points[m]...)
		ms = appendVarint(ms, 2, 1) // AGGREGATION_TEMPORALITY_DELTA
		if def.bounds == nil {
			ms = appendVarint(ms, 3, 1) // is_monotonic
		}
		ms = closeLen(ms, d)
		ms = closeLen(ms, mt)
	}
	if points > 0 {
		t.sink(sigMetrics, t.wrap(ms), points)
	}
	if o.nLogs > 0 && t.raw == nil {
		t.sink(sigLogs, t.wrap(o.logs), o.nLogs)
	}
}

// wrap builds Export*ServiceRequest{Resource*{resource, Scope*{scope,
// items}}} in one exact-size allocation. The three signals share the
// layout: field 1 resource, field 2 scope list, whose field 1 is the scope
// and whose field-2 items are in items.
func (t *telemetry) wrap(items []byte) []byte {
	var scope [64]byte
	sc, s := openLen(scope[:0], 1)
	sc = appendString(sc, 1, extensionName)
	sc = appendString(sc, 2, version)
	sc = closeLen(sc, s)
	res := t.res.appendResource(nil, 1)
	scopeLen := len(sc) + len(items)
	rsLen := len(res) + 1 + wireSizeVarint(uint64(scopeLen)) + scopeLen
	b := make([]byte, 0, 1+wireSizeVarint(uint64(rsLen))+rsLen)
	b = wireAppendTag(b, 1, wireBytesType)
	b = wireAppendVarint(b, uint64(rsLen))
	b = append(b, res...)
	b = wireAppendTag(b, 2, wireBytesType)
	b = wireAppendVarint(b, uint64(scopeLen))
	b = append(b, sc...)
	return append(b, items...)
}

// finish releases the runtimeDone waiters of the batch (its data is in the
// sink now) and reports malformed input, at most once per
// malformedLogEvery.
func (t *telemetry) finish(o *batchOut, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, id := range o.done {
		t.doneIDs[t.doneNext] = id
		t.doneNext = (t.doneNext + 1) % maxTrackedInvocations
		if ch := t.waiters[id]; ch != nil {
			close(ch)
			delete(t.waiters, id)
		}
	}
	s, w := t.stats, t.sinceWarn
	bad := s.malformedBatches - w.malformedBatches + s.malformedEvents - w.malformedEvents + s.oversizedBatches - w.oversizedBatches
	if bad == 0 || (!t.lastWarn.IsZero() && now.Sub(t.lastWarn) < malformedLogEvery) {
		return
	}
	t.lg.warnf("telemetry api: kept what parsed of %d malformed batches, %d malformed events and %d oversized batches (over %d bytes)",
		s.malformedBatches-w.malformedBatches, s.malformedEvents-w.malformedEvents, s.oversizedBatches-w.oversizedBatches, t.bodyLimit())
	t.lastWarn, t.sinceWarn = now, s
}

// invokeStarted tells the listener the lifecycle received INVOKE: its
// request id, invoked ARN (also the account id's source), X-Ray header and
// deadline. Lines without a request id, and spans, use this trace context
// when the Telemetry API gives none.
func (t *telemetry) invokeStarted(requestID, invokedARN, xrayTracing string, deadline time.Time) {
	if acct := accountFromARN(invokedARN); acct != "" {
		t.res.setAccountID(acct)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	inv := t.invocation(requestID)
	if invokedARN != "" {
		inv.arn = invokedARN
	}
	inv.deadline = deadline
	inv.applyTracing(xrayTracing, "")
	t.lifeCur = inv
}

// closedChan is returned for ids whose runtimeDone is already in the sink.
func closedChan() chan struct{} {
	ch := make(chan struct{})
	close(ch)
	return ch
}

// runtimeDone returns a channel that is closed once platform.runtimeDone
// for requestID has been received and its batch handed to the sink; it is
// already closed when that happened before. Waiters are kept for the last
// maxTrackedInvocations ids only: callers bound their wait (invoke deadline,
// flush timeout) anyway.
func (t *telemetry) runtimeDone(requestID string) <-chan struct{} {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, id := range t.doneIDs {
		if id == requestID && id != "" {
			return closedChan()
		}
	}
	if ch := t.waiters[requestID]; ch != nil {
		return ch
	}
	ch := make(chan struct{})
	if old := t.waitOrder[t.waitNext]; old != "" {
		delete(t.waiters, old)
	}
	t.waitOrder[t.waitNext] = requestID
	t.waitNext = (t.waitNext + 1) % maxTrackedInvocations
	t.waiters[requestID] = ch
	return ch
}

// shutdown is called by the lifecycle on SHUTDOWN. On reason timeout or
// failure it emits an ERROR log record and closes every invocation still
// open as an error span ending at its deadline (or now); on spindown open
// invocations end with an unset status. A phase span still waiting for its
// invocation is emitted as its own trace.
func (t *telemetry) shutdown(reason string) {
	now := time.Now()
	t.serveMu.Lock()
	defer t.serveMu.Unlock()
	o := &t.out
	o.reset(now.UnixNano())
	failed := strings.EqualFold(reason, "timeout") || strings.EqualFold(reason, "failure")

	t.mu.Lock()
	var open []*invocation
	for _, id := range t.invOrder {
		if inv := t.invs[id]; inv != nil && !inv.done {
			open = append(open, inv)
		}
	}
	if t.lifeCur != nil && t.lifeCur.id == "" && !t.lifeCur.done {
		open = append(open, t.lifeCur)
	}
	for _, inv := range open {
		end := now.UnixNano()
		if !inv.deadline.IsZero() && inv.deadline.Before(now) {
			end = inv.deadline.UnixNano()
		}
		if t.cfg.Telemetry.PlatformSpans && !inv.spanDone {
			status := ""
			if failed {
				status = strings.ToLower(reason)
			}
			start := inv.start
			if start == 0 {
				start = end
			}
			t.invocationSpan(o, inv, start, end, status, "Shutdown."+reason)
		}
		inv.done = true
	}
	if failed {
		text := append(o.text[:0], "SHUTDOWN Reason: "...)
		text = append(text, reason...)
		var a []byte
		var inv *invocation
		if len(open) > 0 {
			inv = open[len(open)-1]
			text = append(text, " RequestId: "...)
			text = append(text, inv.id...)
			text = append(text, " did not finish"...)
			a = appendKVString(o.attrs[:0], 6, "faas.invocation_id", inv.id)
			o.attrs = a
		}
		o.text = text
		t.appendLog(o, logRec{time: now.UnixNano(), sev: sevError, typ: "platform.shutdown", text: text, attrs: a, inv: inv})
	}
	if t.pending != nil && t.cfg.Telemetry.PlatformSpans {
		t.emitPhase(o, t.pending, nil)
		t.pending = nil
	}
	t.mu.Unlock()
	t.emit(o)
}

// statsSnapshot returns the counters.
func (t *telemetry) statsSnapshot() telemetryStats {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.stats
}

// parseEventTime parses the RFC 3339 `time` of an event into unix ns; 0 if
// absent or malformed (a log record's "unknown").
func parseEventTime(s string) int64 {
	if s == "" {
		return 0
	}
	tm, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return 0
	}
	return tm.UnixNano()
}

func msToNs(ms float64) int64 {
	if ms <= 0 || math.IsNaN(ms) || ms > 1e12 {
		return 0
	}
	return int64(math.Round(ms * 1e6))
}

// appendReportField appends " Name: value" when value is set, the CloudWatch
// platform line style.
func appendReportField(b []byte, name, value string) []byte {
	if value == "" {
		return b
	}
	b = append(b, ' ')
	b = append(b, name...)
	b = append(b, ": "...)
	return append(b, value...)
}

// appendMs appends " 12.34 ms".
func appendMs(b []byte, ms float64) []byte {
	b = append(b, ' ')
	b = strconv.AppendFloat(b, ms, 'f', 2, 64)
	return append(b, " ms"...)
}

// parseXRay maps an X-Ray trace header to W3C ids (lambda-apis.md §6):
// trace id = Root without "1-" and the second "-"; parent = Parent;
// sampled only for Sampled=1. Keys are case-insensitive, spaces tolerated.
func parseXRay(h string) (traceID [16]byte, parentID [8]byte, sampled, ok bool) {
	for h != "" {
		var part string
		part, h, _ = strings.Cut(h, ";")
		k, v, _ := strings.Cut(part, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		switch {
		case strings.EqualFold(k, "Root"):
			if len(v) == 35 && v[0] == '1' && v[1] == '-' && v[10] == '-' {
				_, e1 := hex.Decode(traceID[:4], []byte(v[2:10]))
				_, e2 := hex.Decode(traceID[4:], []byte(v[11:]))
				ok = e1 == nil && e2 == nil && traceID != [16]byte{}
			}
		case strings.EqualFold(k, "Parent"):
			if id, good := parseSpanID(v); good {
				parentID = id
			}
		case strings.EqualFold(k, "Sampled"):
			sampled = v == "1"
		}
	}
	if !ok {
		return [16]byte{}, [8]byte{}, false, false
	}
	return traceID, parentID, sampled, true
}

// parseSpanID decodes 16 hex digits into a non-zero span id.
func parseSpanID(s string) (id [8]byte, ok bool) {
	if len(s) != 16 {
		return id, false
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil || id == [8]byte{} {
		return [8]byte{}, false
	}
	return id, true
}

// randomSpanID and randomTraceID use math/rand/v2's per-process ChaCha8
// source: ids need uniqueness, not secrecy, and it never blocks.
func randomSpanID() (id [8]byte) {
	v := rand.Uint64()
	for v == 0 {
		v = rand.Uint64()
	}
	for i := range id {
		id[i] = byte(v >> (56 - 8*i))
	}
	return id
}

func randomTraceID() (id [16]byte) {
	hi, lo := randomSpanID(), randomSpanID()
	copy(id[:8], hi[:])
	copy(id[8:], lo[:])
	return id
}

// severityName is the canonical text of a severity number.
func severityName(n int32) string {
	switch {
	case n >= sevFatal:
		return "FATAL"
	case n >= sevError:
		return "ERROR"
	case n >= sevWarn:
		return "WARN"
	case n >= sevInfo:
		return "INFO"
	case n >= sevDebug:
		return "DEBUG"
	case n >= sevTrace:
		return "TRACE"
	}
	return ""
}

// levelSeverity maps a level word to a severity number, 0 if it is none.
// Upper-case words are levels anywhere in a prefix; other spellings count
// only when anyCase (a bracketed "[info]", a JSON level, or the
// tab-separated layouts, where .NET writes "info", "fail", "crit").
func levelSeverity(w string, anyCase bool) int32 {
	if len(w) < 3 || len(w) > 9 {
		return 0
	}
	u := w
	if anyCase {
		u = strings.ToUpper(w)
	}
	// A 2..4 suffix (INFO2, ERROR3) raises the number (otlp.md §7.f).
	var add int32
	if c := u[len(u)-1]; c >= '2' && c <= '4' {
		add, u = int32(c-'1'), u[:len(u)-1]
	}
	var n int32
	switch u {
	case "TRACE", "TRCE":
		n = sevTrace
	case "DEBUG", "DBUG":
		n = sevDebug
	case "INFO", "NOTICE":
		n = sevInfo
	case "WARN", "WARNING":
		n = sevWarn
	case "ERROR", "FAIL", "SEVERE":
		n = sevError
	case "FATAL", "CRITICAL", "CRIT":
		n = sevFatal
	case "ALL":
		n = sevTrace
	default:
		return 0
	}
	if u == "ALL" {
		return n
	}
	return n + add
}

// textSeverity finds the level in a text line's prefix, the layouts of the
// Lambda runtimes:
//
//	Node.js   2024-05-01T10:00:00.123Z\t<request id>\tINFO\tmessage
//	Python    [INFO]\t2024-05-01T10:00:00.123Z\t<request id>\tmessage
//	Java      2024-05-01 10:00:00 <request id> INFO  Handler - message (log4j2)
//	.NET      2024-05-01T10:00:00.123Z\t<request id>\tinfo\tmessage
//	plain     ERROR: message, [WARN] message, WARNING message
//
// It skips timestamps, a request id (returned) and, first, one "name:"
// token, and stops at the first other word. Body text is never searched.
func textSeverity(line string) (sev int32, text, reqID string) {
	rest := line
	if len(rest) > 256 {
		rest = rest[:256]
	}
	tabbed := false
	for i := 0; i < 5; i++ {
		rest = strings.TrimLeft(rest, " \t")
		end := strings.IndexAny(rest, " \t\r\n")
		tok := rest
		if end >= 0 {
			tok = rest[:end]
			if rest[end] == '\t' {
				tabbed = true
			}
		}
		if tok == "" {
			return 0, "", reqID
		}
		bracketed := tok[0] == '[' || tok[0] == '<'
		bare := strings.Trim(tok, "[]<>:,")
		if n := levelSeverity(bare, bracketed || tabbed); n != 0 {
			return n, bare, reqID
		}
		switch {
		case isUUID(bare):
			reqID = bare
		case looksLikeTime(bare), bare == "undefined":
		case i == 0 && strings.HasSuffix(tok, ":"):
		default:
			return 0, "", reqID
		}
		if end < 0 || rest[end] == '\n' || rest[end] == '\r' {
			return 0, "", reqID
		}
		rest = rest[end:]
	}
	return 0, "", reqID
}

// isUUID reports whether s is 8-4-4-4-12 hex digits, a Lambda request id.
func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < 36; i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
		}
	}
	return true
}

// looksLikeTime reports a date or time token: starts with a digit, made of
// digits and date punctuation, and has a '-', ':' or '/'.
func looksLikeTime(s string) bool {
	if s == "" || s[0] < '0' || s[0] > '9' {
		return false
	}
	sep := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9', c == '.', c == ',', c == 'T', c == 'Z', c == '+':
		case c == '-', c == ':', c == '/':
			sep = true
		default:
			return false
		}
	}
	return sep
}

// appendAnyString appends the content of an AnyValue holding s.
func appendAnyString(b []byte, s string) []byte {
	b = wireAppendTag(b, anyString, wireBytesType)
	return wireAppendString(b, s)
}

// appendJSONLine converts a JSON-format log line: body and attributes
// (field 6), its level and request id. ok is false when raw is not a JSON
// object; the raw text is then the body.
func appendJSONLine(body, attrs, raw []byte) (b, a []byte, sev int32, sevText, reqID string, ok bool) {
	// First pass: check raw and look for a message.
	hasMsg := false
	if jsonKind(raw) != '{' || jsonObject(raw, func(k, v []byte) error {
		hasMsg = hasMsg || string(k) == "message"
		return nil
	}) != nil {
		return appendAnyString(body, string(raw)), attrs, 0, "", "", false
	}
	jsonObject(raw, func(k, v []byte) error {
		key := string(k)
		var s string
		isStr := false
		if key == "level" || key == "requestId" || key == "message" {
			var err error
			s, err = jsonString(v)
			isStr = jsonKind(v) == '"' && err == nil
		}
		switch {
		case key == "level" && isStr:
			sev, sevText = levelSeverity(s, true), s
			if hasMsg {
				return nil
			}
		case key == "requestId" && isStr:
			reqID = s
			if hasMsg {
				return nil
			}
		}
		if !hasMsg {
			return nil
		}
		switch key {
		case "message":
			if isStr {
				body = appendAnyString(body, s)
			} else {
				body = appendAnyJSON(body, v)
			}
		case "timestamp":
			// The event's time is the record's time.
		case "errorType":
			attrs = appendKVJSON(attrs, "exception.type", v)
		case "errorMessage":
			attrs = appendKVJSON(attrs, "exception.message", v)
		case "stackTrace":
			var lines []string
			if jsonSlice(v, &lines, jsonSetString) == nil {
				attrs = appendKVString(attrs, 6, "exception.stacktrace", strings.Join(lines, "\n"))
			} else {
				attrs = appendKVJSON(attrs, "exception.stacktrace", v)
			}
		default:
			attrs = appendKVJSON(attrs, key, v)
		}
		return nil
	})
	if !hasMsg {
		body = appendAnyJSON(body, raw)
	}
	return body, attrs, sev, sevText, reqID, true
}

// appendKVJSON appends a KeyValue (field 6 of LogRecord) whose value is the
// JSON value raw.
func appendKVJSON(b []byte, key string, raw []byte) []byte {
	b, kv := openLen(b, 6)
	b = appendString(b, 1, key)
	b, v := openLen(b, 2)
	b = appendAnyJSON(b, raw)
	b = closeLen(b, v)
	return closeLen(b, kv)
}

// appendAnyJSON appends the content of an AnyValue equal to the JSON value
// raw: strings, int64 or double numbers, bools, arrays, objects as
// kvlists, null as an empty AnyValue. Invalid or too deep JSON becomes its
// raw text as a string.
func appendAnyJSON(b, raw []byte) []byte {
	n := len(b)
	out, err := appendAnyValue(b, raw, 0)
	if err != nil {
		return appendAnyString(out[:n], string(raw))
	}
	return out
}

// appendAnyValue appends the AnyValue content of the JSON value val,
// depth levels down; an error leaves a partial encoding behind.
func appendAnyValue(b, val []byte, depth int) ([]byte, error) {
	if depth > maxLogJSONDepth {
		return b, errBadData
	}
	switch jsonKind(val) {
	case '"':
		s, err := jsonString(val)
		if err != nil {
			return b, err
		}
		return appendAnyString(b, s), nil
	case '0':
		if i, err := jsonInt64(val); err == nil {
			b = wireAppendTag(b, anyInt, wireVarintType)
			return wireAppendVarint(b, uint64(i)), nil
		}
		f, err := jsonNumber(val)
		if err != nil {
			return b, err
		}
		return appendDouble(b, anyDouble, f), nil
	case 't', 'f':
		v, err := jsonBool(val)
		if err != nil {
			return b, err
		}
		b = wireAppendTag(b, anyBool, wireVarintType)
		return wireAppendVarint(b, wireEncodeBool(v)), nil
	case 'n':
		return b, jsonNull(val) // an empty AnyValue
	case '[':
		b, arr := openLen(b, anyArray)
		err := jsonArray(val, func(e []byte) error {
			var el int
			var err error
			b, el = openLen(b, 1)
			if b, err = appendAnyValue(b, e, depth+1); err != nil {
				return err
			}
			b = closeLen(b, el)
			return nil
		})
		if err != nil {
			return b, err
		}
		return closeLen(b, arr), nil
	case '{':
		b, kvl := openLen(b, anyKVList)
		err := jsonObject(val, func(k, v []byte) error {
			var kv, vv int
			var err error
			b, kv = openLen(b, 1)
			b = appendBytes(b, 1, k)
			b, vv = openLen(b, 2)
			if b, err = appendAnyValue(b, v, depth+1); err != nil {
				return err
			}
			b = closeLen(b, vv)
			b = closeLen(b, kv)
			return nil
		})
		if err != nil {
			return b, err
		}
		return closeLen(b, kvl), nil
	}
	return b, errBadData
}
