// invoke.go owns the phases: Init (register → runtime init → every
// extension in next → freeze), Invoke (thaw, platform.start, INVOKE, the
// scripted function, platform.runtimeDone, waiting for every extension's
// next, platform.report, freeze) and Shutdown/reset (thaw, SHUTDOWN with
// the 2,000 ms budget, SIGKILL for what is left). It also owns the
// Invocation handle the scripted function uses.
package lambdasim

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// init runs the Init phase and freezes the sandbox at its end.
func (s *Sim) init(ctx context.Context) error {
	deadline := s.base.Add(s.cfg.InitTimeout)
	// Extension init: every launched process registers (or fails).
	err := s.waitUntil(ctx, deadline, func() bool {
		return s.initFailureLocked() != nil || s.allRegisteredLocked()
	})
	if err == nil {
		s.mu.Lock()
		err = errorOrNil(s.initFailureLocked())
		s.mu.Unlock()
	}
	runtimeStart := time.Now()
	if err == nil && len(s.cfg.Runtime) > 0 {
		err = s.initRuntime(ctx, deadline)
	}
	if err == nil && s.cfg.InitFunc != nil {
		ictx, cancel := context.WithDeadline(ctx, deadline)
		ferr := s.cfg.InitFunc(ictx, s.runtimeEnv())
		cancel()
		if ferr != nil {
			err = &InitError{ErrorType: "Runtime.InitError", Message: ferr.Error()}
		}
	}
	if err == nil {
		s.mu.Lock()
		s.emitLocked(newEvent("platform.initRuntimeDone", map[string]any{
			"initializationType": s.cfg.InitType,
			"phase":              "init",
			"status":             "success",
			"spans":              []any{span("runtimeInit", runtimeStart, time.Now())},
		}))
		s.mu.Unlock()
		// Init ends when the runtime and every extension are in next.
		err = s.waitUntil(ctx, deadline, func() bool {
			return s.initFailureLocked() != nil || (s.allRegisteredLocked() && s.allReadyLocked(s.extOrder) && s.runtimeReadyLocked())
		})
		if err == nil {
			s.mu.Lock()
			err = errorOrNil(s.initFailureLocked())
			s.mu.Unlock()
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	var ie *InitError
	switch {
	case err == nil:
	case errors.As(err, &ie):
	case errors.Is(err, errWaitTimeout):
		ie = &InitError{ErrorType: "Sandbox.Timedout", Message: fmt.Sprintf("init did not finish within %v", s.cfg.InitTimeout)}
	default:
		ie = &InitError{ErrorType: "Runtime.Unknown", Message: err.Error()}
	}
	s.initDur = time.Since(s.base)
	report := map[string]any{
		"initializationType": s.cfg.InitType,
		"phase":              "init",
		"status":             "success",
		"metrics":            map[string]any{"durationMs": ms(s.initDur)},
	}
	if ie != nil {
		report["status"] = "error"
		if ie.ErrorType == "Sandbox.Timedout" {
			report["status"] = "timeout"
		}
		report["errorType"] = ie.ErrorType
	}
	s.emitLocked(newEvent("platform.initReport", report))
	s.recordLocked(Record{Kind: KindInitDone, Detail: report["status"].(string)})
	s.backlog = nil
	if ie != nil {
		s.initErr = ie
		s.phase = phaseDone
		s.notifyLocked()
		return ie
	}
	s.phase = phaseIdle
	s.freezeLocked()
	return nil
}

func errorOrNil(e *InitError) error {
	if e == nil {
		return nil
	}
	return e
}

// initFailureLocked is the Init failure Lambda would see so far, if any.
func (s *Sim) initFailureLocked() *InitError {
	for _, e := range s.extOrder {
		if e.errType != "" {
			return &InitError{ErrorType: "Extension.InitError", Message: e.name + " reported " + e.errType}
		}
	}
	for _, p := range s.procs {
		if p.exited() || p.exitAt != 0 {
			return &InitError{ErrorType: "Extension.Crash", Message: p.name + " exited during init"}
		}
	}
	return nil
}

// allRegisteredLocked: every launched process has registered under its
// file name.
func (s *Sim) allRegisteredLocked() bool {
	for _, p := range s.procs {
		if !slices.ContainsFunc(s.extOrder, func(e *extension) bool { return e.proc == p }) {
			return false
		}
	}
	return true
}

// InvokeResult is what one invocation did.
type InvokeResult struct {
	RequestID   string
	TraceHeader string // the X-Amzn-Trace-Id value sent with INVOKE
	Cold        bool   // first invocation after Init
	Status      string // success, error, failure or timeout (platform.runtimeDone)
	ErrorType   string
	Response    []byte

	Start           time.Duration            // when INVOKE was dispatched, since the Sim started
	RuntimeDuration time.Duration            // function start → runtimeDone
	Duration        time.Duration            // INVOKE → last extension next (Lambda's billed phase)
	PostRuntime     map[string]time.Duration // per extension: runtimeDone → its next
	// Responded is when the function's result was in, since the Sim
	// started: the external runtime's response or error accepted, or the
	// scripted function's return. Overhead is the billed time after it:
	// Start+Duration-Responded, what extensions (and the runtime's way back
	// to next) added to the invocation.
	Responded time.Duration
	Overhead  time.Duration

	// Reset is set when the invocation ended in a reset (timeout, crash,
	// extension failure): the extensions got SHUTDOWN and the sandbox is gone.
	Reset *ShutdownResult
}

// HandlerError is an error a scripted function can return to choose the
// runtimeDone errorType. Any other error gets "Runtime.HandlerError".
type HandlerError struct {
	Type    string
	Message string
}

func (e *HandlerError) Error() string { return e.Type + ": " + e.Message }

// Invoke runs one invocation of fn as Lambda would: it thaws the sandbox,
// emits platform.start, dispatches INVOKE, runs fn, emits
// platform.runtimeDone, waits (within the function timeout) for every
// extension's next, generates platform.report (delivered on the next thaw)
// and freezes. fn must return once inv.Context() is done. With
// Config.Runtime set, use InvokeEvent instead.
func (s *Sim) Invoke(ctx context.Context, fn func(*Invocation) error) (InvokeResult, error) {
	if fn == nil {
		return InvokeResult{}, errors.New("lambdasim: Invoke needs a function (InvokeEvent drives an external runtime)")
	}
	return s.invoke(ctx, Event{}, fn)
}

// invoke is Invoke (fn set) and InvokeEvent (fn nil: the external runtime
// gets ev through the Runtime API).
func (s *Sim) invoke(ctx context.Context, ev Event, fn func(*Invocation) error) (InvokeResult, error) {
	s.opMu.Lock()
	defer s.opMu.Unlock()
	s.mu.Lock()
	switch {
	case isClosed(s.closing):
		s.mu.Unlock()
		return InvokeResult{}, ErrClosed
	case s.initErr != nil:
		s.mu.Unlock()
		return InvokeResult{}, fmt.Errorf("%w: %v", ErrInitFailed, s.initErr)
	case s.phase != phaseIdle:
		s.mu.Unlock()
		return InvokeResult{}, ErrSandboxGone
	}
	s.invokes++
	now := time.Now()
	inv := &Invocation{
		RequestID:   newUUID(),
		TraceHeader: fmt.Sprintf("Root=1-%08x-%s;Parent=%s;Sampled=1", now.Unix(), randHex(24), randHex(16)),
		Deadline:    now.Add(s.cfg.FunctionTimeout),
		FunctionARN: s.arn,
		s:           s,
	}
	res := InvokeResult{RequestID: inv.RequestID, TraceHeader: inv.TraceHeader, Cold: s.invokes == 1, PostRuntime: map[string]time.Duration{}}
	s.cur = &invocation{requestID: inv.RequestID}
	s.phase = phaseInvoke
	s.thawLocked()
	res.Start = s.recordLocked(Record{Kind: KindInvoke, RequestID: inv.RequestID}).At
	tracing := map[string]any{"type": "X-Amzn-Trace-Id", "value": inv.TraceHeader}
	s.emitLocked(newEvent("platform.start", map[string]any{"requestId": inv.RequestID, "version": s.cfg.FunctionVersion, "tracing": tracing}))
	targets := s.dispatchLocked("INVOKE", map[string]any{
		"eventType":          "INVOKE",
		"deadlineMs":         inv.Deadline.UnixMilli(),
		"requestId":          inv.RequestID,
		"invokedFunctionArn": s.arn,
		"tracing":            tracing,
	})
	if fn == nil {
		s.queueRuntimeLocked(inv, ev, now)
	}
	s.mu.Unlock()

	var doneAt time.Duration
	var doneWall time.Time
	if fn != nil {
		fnStart := time.Now()
		res.Status, res.ErrorType = s.runFunction(ctx, inv, fn)
		fnEnd := time.Now()
		inv.mu.Lock()
		res.Response = bytes.Clone(inv.response)
		respAt := inv.respondedAt
		inv.mu.Unlock()
		if respAt.IsZero() || respAt.After(fnEnd) {
			respAt = fnEnd
		}
		res.RuntimeDuration = fnEnd.Sub(fnStart)
		s.mu.Lock()
		doneAt, doneWall = s.runtimeDoneLocked(inv, res.Status, res.ErrorType, res.RuntimeDuration, len(res.Response), []any{
			span("responseLatency", now, respAt),
			span("responseDuration", respAt, fnEnd),
		})
		s.mu.Unlock()
		res.Responded = doneAt
	} else {
		var err error
		if doneAt, doneWall, err = s.awaitRuntime(ctx, inv, &res); err != nil {
			return res, err
		}
	}

	reset := ""
	switch res.Status {
	case "timeout":
		reset = "timeout"
	case "failure":
		reset = "failure"
	default:
		// The function timeout covers extension post-processing too.
		err := s.waitUntil(context.Background(), inv.Deadline, func() bool { return s.allReadyLocked(targets) && s.runtimeReadyLocked() })
		switch {
		case errors.Is(err, errWaitTimeout):
			res.Status, res.ErrorType, reset = "timeout", "Sandbox.Timedout", "timeout"
		case err != nil:
			return res, err
		}
	}

	s.mu.Lock()
	last := doneAt
	for _, e := range targets {
		if e.nexts > 0 && e.lastNext >= doneAt && !e.dead {
			res.PostRuntime[e.name] = e.lastNext - doneAt
			last = max(last, e.lastNext)
		}
		if e.dead && reset == "" {
			res.Status, reset = "failure", "failure"
			res.ErrorType = "Extension.Crash"
			if e.errType != "" {
				res.ErrorType = "Extension.ExitError"
			}
		}
	}
	if at := s.runtimeNextLocked(); at > last {
		last = at // the external runtime's next after its /error
	}
	if reset != "" {
		last = time.Since(s.base)
	}
	res.Duration = last - res.Start
	res.Overhead = max(0, last-res.Responded)
	metrics := map[string]any{
		"durationMs":       ms(res.Duration),
		"billedDurationMs": int64(math.Ceil(ms(res.Duration))),
		"memorySizeMB":     s.cfg.MemoryMB,
		"maxMemoryUsedMB":  s.maxMemoryUsedMBLocked(),
	}
	if res.Cold {
		metrics["initDurationMs"] = ms(s.initDur)
	}
	report := map[string]any{
		"requestId": inv.RequestID,
		"status":    res.Status,
		"metrics":   metrics,
		"spans":     []any{span("extensionOverhead", doneWall, doneWall.Add(last-doneAt))},
		"tracing":   map[string]any{"type": "X-Amzn-Trace-Id", "value": inv.TraceHeader},
	}
	if res.ErrorType != "" {
		report["errorType"] = res.ErrorType
	}
	// platform.report exists only once every extension is in next; it is
	// queued here and the freeze below keeps it until the next thaw.
	s.emitLocked(newEvent("platform.report", report))
	s.recordLocked(Record{Kind: KindReport, RequestID: inv.RequestID, Detail: res.Status})
	s.cur = nil
	if reset == "" {
		s.phase = phaseIdle
		s.freezeLocked()
		s.mu.Unlock()
		return res, nil
	}
	s.mu.Unlock()
	sr := s.doShutdown(reset)
	res.Reset = &sr
	return res, nil
}

// invocation is the Sim's side of the invoke in progress.
type invocation struct {
	requestID   string
	runtimeDone time.Duration
}

// runtimeDoneLocked records the end of the runtime's part of inv and emits
// platform.runtimeDone; dur is its durationMs, produced the response size.
func (s *Sim) runtimeDoneLocked(inv *Invocation, status, errType string, dur time.Duration, produced int, spans []any) (at time.Duration, wall time.Time) {
	at = s.recordLocked(Record{Kind: KindRuntimeDone, RequestID: inv.RequestID, Detail: status}).At
	wall = time.Now()
	rd := map[string]any{
		"requestId": inv.RequestID,
		"status":    status,
		"metrics":   map[string]any{"durationMs": ms(dur), "producedBytes": produced},
		"spans":     spans,
		"tracing":   map[string]any{"spanId": randHex(16), "type": "X-Amzn-Trace-Id", "value": inv.TraceHeader},
	}
	if errType != "" {
		rd["errorType"] = errType
	}
	s.emitLocked(newEvent("platform.runtimeDone", rd))
	if s.cur != nil {
		s.cur.runtimeDone = at
	}
	return at, wall
}

// runFunction runs fn in a goroutine owned by the Sim and maps how it ended
// to a runtimeDone status and errorType.
func (s *Sim) runFunction(ctx context.Context, inv *Invocation, fn func(*Invocation) error) (status, errType string) {
	fctx, cancel := context.WithDeadline(ctx, inv.Deadline)
	defer cancel()
	inv.ctx = fctx
	type outcome struct{ status, errType string }
	done := make(chan outcome, 1)
	s.wg.Go(func() {
		finished := false
		defer func() {
			if finished {
				return
			}
			// A panic (or Crash, or runtime.Goexit) kills the runtime
			// process in real Lambda: status failure.
			_ = recover()
			done <- outcome{"failure", "Runtime.ExitError"}
		}()
		err := fn(inv)
		finished = true
		var he *HandlerError
		switch {
		case err == nil:
			done <- outcome{"success", ""}
		case errors.As(err, &he):
			done <- outcome{"error", he.Type}
		default:
			done <- outcome{"error", "Runtime.HandlerError"}
		}
	})
	select {
	case o := <-done:
		if o.status == "success" && fctx.Err() != nil && errors.Is(fctx.Err(), context.DeadlineExceeded) {
			return "timeout", "Sandbox.Timedout"
		}
		return o.status, o.errType
	case <-fctx.Done():
		if ctx.Err() != nil {
			return "failure", "Runtime.Cancelled"
		}
		return "timeout", "Sandbox.Timedout"
	}
}

// maxMemoryUsedMBLocked is the peak RSS (VmHWM) of the extension processes,
// in MB rounded up; the in-process runtime has no RSS of its own to add.
func (s *Sim) maxMemoryUsedMBLocked() int {
	kb := 0
	for _, p := range s.sandboxProcsLocked() {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.pid))
		if err != nil {
			continue
		}
		for line := range strings.SplitSeq(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
				n, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
				kb += n
			}
		}
	}
	return max(1, (kb+1023)/1024)
}

// ExitInfo is how one extension process ended.
type ExitInfo struct {
	Name           string
	PID            int
	ExitCode       int    // -1 when ended by a signal
	Signal         string // e.g. "killed"
	Killed         bool   // SIGKILLed by the Sim after the budget
	BeforeDeadline bool   // exited on its own before deadlineMs
	Elapsed        time.Duration
}

// ShutdownResult is what the SHUTDOWN phase did.
type ShutdownResult struct {
	Reason     string
	Deadline   time.Time // deadlineMs sent with SHUTDOWN
	Duration   time.Duration
	Extensions []ExitInfo
}

// Shutdown runs the SHUTDOWN phase: thaw, SHUTDOWN{shutdownReason,
// deadlineMs=now+2000} to every extension registered for it, then SIGKILL
// for every process still alive at the deadline (or, for processes that
// never registered for SHUTDOWN, once the others are gone). reason defaults
// to "spindown". Calling it again returns the first result.
func (s *Sim) Shutdown(reason string) ShutdownResult {
	s.opMu.Lock()
	defer s.opMu.Unlock()
	if reason == "" {
		reason = "spindown"
	}
	return s.doShutdown(reason)
}

func (s *Sim) doShutdown(reason string) ShutdownResult {
	s.mu.Lock()
	if s.shutdown != nil {
		r := *s.shutdown
		s.mu.Unlock()
		return r
	}
	s.phase = phaseShutdown
	s.thawLocked()
	s.mu.Unlock()
	s.stopRuntime()
	s.mu.Lock()
	budget := shutdownBudget
	if len(s.procs) == 0 {
		budget = 0
	}
	start := time.Now()
	deadline := start.Add(budget)
	s.recordLocked(Record{Kind: KindShutdown, Detail: reason})
	targets := s.dispatchLocked("SHUTDOWN", map[string]any{
		"eventType":      "SHUTDOWN",
		"shutdownReason": reason,
		"deadlineMs":     deadline.UnixMilli(),
	})
	procs := slices.Clone(s.procs)
	s.mu.Unlock()

	_ = s.waitUntil(context.Background(), deadline, func() bool {
		return !slices.ContainsFunc(targets, func(e *extension) bool { return e.proc != nil && !e.proc.exited() })
	})
	for _, p := range procs {
		if p.exited() {
			continue
		}
		p.mu.Lock()
		p.killed = true
		p.mu.Unlock()
		s.mu.Lock()
		s.recordLocked(Record{Kind: KindKill, Ext: p.name, PID: p.pid})
		s.mu.Unlock()
		p.kill()
	}
	for _, p := range procs {
		<-p.done
	}
	res := ShutdownResult{Reason: reason, Deadline: deadline, Duration: time.Since(start)}
	for _, p := range procs {
		p.mu.Lock()
		res.Extensions = append(res.Extensions, ExitInfo{
			Name: p.name, PID: p.pid, ExitCode: p.exitCode, Signal: p.signal, Killed: p.killed,
			BeforeDeadline: !p.killed && p.exitAt <= deadline.Sub(s.base),
			Elapsed:        max(0, p.exitAt-start.Sub(s.base)),
		})
		p.mu.Unlock()
	}
	s.mu.Lock()
	s.phase = phaseDone
	for _, sub := range s.subs {
		sub.stopped = true
	}
	s.shutdown = &res
	s.notifyLocked()
	s.mu.Unlock()
	return res
}

// Invocation is the scripted function's handle on its invocation.
type Invocation struct {
	RequestID   string
	TraceHeader string    // X-Amzn-Trace-Id value (the runtime's _X_AMZN_TRACE_ID)
	Deadline    time.Time // when the function times out
	FunctionARN string

	s           *Sim
	ctx         context.Context
	mu          sync.Mutex
	response    []byte
	respondedAt time.Time
}

// Context is done at the function timeout (or when the caller's ctx ends).
func (inv *Invocation) Context() context.Context { return inv.ctx }

// Env is the runtime process's environment for this invocation: what
// extensions see plus the runtime-only keys and _X_AMZN_TRACE_ID.
func (inv *Invocation) Env() map[string]string {
	env := inv.s.runtimeEnv()
	env["_X_AMZN_TRACE_ID"] = inv.TraceHeader
	return env
}

// Print writes one function log line (a `function` telemetry event). In
// JSON log format it becomes {timestamp, level: INFO, requestId, message};
// a line that is itself a JSON object arrives as that object.
func (inv *Invocation) Print(line string) { inv.Log("INFO", line) }

// Printf is Print with formatting.
func (inv *Invocation) Printf(format string, args ...any) {
	inv.Log("INFO", fmt.Sprintf(format, args...))
}

// Log writes one function log line with a level (used in JSON format).
func (inv *Invocation) Log(level, msg string) {
	s := inv.s
	ev := s.functionEvent(inv.RequestID, level, msg)
	s.mu.Lock()
	s.emitLocked(ev)
	s.mu.Unlock()
}

// functionEvent renders one function log line in the configured format.
func (s *Sim) functionEvent(requestID, level, msg string) event {
	ev := newEvent("function", msg)
	if s.cfg.LogFormat == "json" {
		var obj map[string]any
		if json.Unmarshal([]byte(msg), &obj) == nil {
			ev.record = obj
		} else {
			ev.record = map[string]any{
				"timestamp": ev.time.UTC().Format("2006-01-02T15:04:05.000Z"),
				"level":     level,
				"requestId": requestID,
				"message":   msg,
			}
		}
		b, _ := json.Marshal(ev.record)
		ev.text = string(b)
	}
	return ev
}

// Sleep waits d or until the invocation's context ends (then it returns
// the context's error).
func (inv *Invocation) Sleep(d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-inv.ctx.Done():
		return inv.ctx.Err()
	}
}

// Respond sets the response payload (its size is runtimeDone's
// producedBytes; the first call marks the end of responseLatency).
func (inv *Invocation) Respond(payload []byte) {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	if inv.respondedAt.IsZero() {
		inv.respondedAt = time.Now()
	}
	inv.response = bytes.Clone(payload)
}

// Crash kills the "runtime process": runtimeDone status failure
// (Runtime.ExitError) followed by a reset. It does not return.
func (inv *Invocation) Crash(msg string) {
	panic("lambdasim: runtime crashed: " + msg)
}

// Post sends body to url the way a function's SDK would, within the
// invocation's context. contentEncoding "gzip" compresses body first.
func (inv *Invocation) Post(url, contentType, contentEncoding string, body []byte) (status int, respBody []byte, err error) {
	if contentEncoding == "gzip" {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		_, _ = zw.Write(body)
		if err := zw.Close(); err != nil {
			return 0, nil, fmt.Errorf("gzip request body: %w", err)
		}
		body = buf.Bytes()
	}
	req, err := http.NewRequestWithContext(inv.ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, nil, fmt.Errorf("post %s: %w", url, err)
	}
	req.Header.Set("Content-Type", contentType)
	if contentEncoding != "" {
		req.Header.Set("Content-Encoding", contentEncoding)
	}
	resp, err := inv.s.fnClient.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("post %s: %w", url, err)
	}
	defer resp.Body.Close()
	respBody, err = io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return resp.StatusCode, respBody, fmt.Errorf("post %s: read response: %w", url, err)
	}
	return resp.StatusCode, respBody, nil
}

// PostOTLP posts an OTLP/HTTP protobuf request for signal ("traces",
// "metrics" or "logs") to endpoint (e.g. "http://127.0.0.1:4318"),
// gzip-compressed when gz is true.
func (inv *Invocation) PostOTLP(endpoint, signal string, body []byte, gz bool) (status int, respBody []byte, err error) {
	enc := ""
	if gz {
		enc = "gzip"
	}
	return inv.Post(strings.TrimSuffix(endpoint, "/")+"/v1/"+signal, "application/x-protobuf", enc, body)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func span(name string, start, end time.Time) map[string]any {
	return map[string]any{
		"name":       name,
		"start":      start.UTC().Format("2006-01-02T15:04:05.000Z"),
		"durationMs": ms(end.Sub(start)),
	}
}
