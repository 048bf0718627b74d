// runtimeapi.go owns the external runtime mode: the Runtime API (2018-06-01:
// invocation/next, invocation/{id}/response and /error, init/error) served to
// a real runtime child process, that process (started through
// AWS_LAMBDA_EXEC_WRAPPER when set, frozen with the extensions, its output
// turned into `function` log events), and InvokeEvent, which drives one
// invocation through it.
//
// platform.runtimeDone is generated when the runtime calls next after its
// response, or when it reports an invocation error (lambda-apis.md §5.7);
// its runtimeOverhead span is the time from the response to that next.
package lambdasim

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Runtime API headers (AWS "Using the Lambda runtime API").
const (
	hdrRequestID       = "Lambda-Runtime-Aws-Request-Id"
	hdrDeadline        = "Lambda-Runtime-Deadline-Ms"
	hdrFunctionARN     = "Lambda-Runtime-Invoked-Function-Arn"
	hdrTraceID         = "Lambda-Runtime-Trace-Id"
	hdrClientContext   = "Lambda-Runtime-Client-Context"
	hdrCognito         = "Lambda-Runtime-Cognito-Identity"
	hdrRuntimeErrType  = "Lambda-Runtime-Function-Error-Type"
	hdrResponseMode    = "Lambda-Runtime-Function-Response-Mode"
	runtimeAPIPrefix   = "/2018-06-01/runtime/"
	runtimeProcessName = "runtime"
)

// Lambda's response payload limits: 6 MB buffered, 20 MB streamed (the
// streaming soft limit).
const (
	maxResponseBytes       = 6291456
	maxStreamResponseBytes = 20 << 20
)

// runtimeTermGrace is how long the runtime gets between SIGTERM and SIGKILL
// at shutdown (Lambda gives it 300 ms when extensions are registered;
// lambda-apis.md §8).
const runtimeTermGrace = 300 * time.Millisecond

// Event is what InvokeEvent hands to the external runtime.
type Event struct {
	Payload         []byte // the event; "{}" when empty
	ClientContext   string // Lambda-Runtime-Client-Context, sent only when set
	CognitoIdentity string // Lambda-Runtime-Cognito-Identity, sent only when set
}

// rtState is the Sim's view of the external runtime.
type rtState struct {
	proc     *proc
	waiting  bool // a next call is blocked right now
	nexts    int
	lastNext time.Duration
	initErr  string // type from /init/error
	inv      *rtInvocation
	lastID   string // request id of the last event handed out
}

// rtInvocation is one invocation handed to the external runtime.
type rtInvocation struct {
	inv    *Invocation
	ev     Event
	start  time.Time // INVOKE
	handed bool      // next returned it

	result             bool // a response or error was accepted
	status, errType    string
	response           []byte
	produced           int
	respStart, respEnd time.Time
	resultAt           time.Duration

	done     bool // platform.runtimeDone generated
	doneAt   time.Duration
	doneWall time.Time
}

// sandboxProcsLocked is every process Lambda freezes: the extensions and
// the external runtime.
func (s *Sim) sandboxProcsLocked() []*proc {
	ps := append([]*proc(nil), s.procs...)
	if s.rt.proc != nil {
		ps = append(ps, s.rt.proc)
	}
	return ps
}

// runtimeReadyLocked: no external runtime, or it is blocked in next (or
// gone), so it does not keep the sandbox from freezing.
func (s *Sim) runtimeReadyLocked() bool {
	p := s.rt.proc
	return p == nil || s.rt.waiting || p.exited()
}

// runtimeNextLocked is when the external runtime last called next (0 in
// scripted mode).
func (s *Sim) runtimeNextLocked() time.Duration {
	if s.rt.proc == nil {
		return 0
	}
	return s.rt.lastNext
}

// RuntimeOutput returns what the external runtime wrote so far.
func (s *Sim) RuntimeOutput() (stdout, stderr []byte) {
	s.mu.Lock()
	p := s.rt.proc
	s.mu.Unlock()
	if p == nil {
		return nil, nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return bytes.Clone(p.stdout.Bytes()), bytes.Clone(p.stderr.Bytes())
}

// RuntimePID is the external runtime's process id (0 without one).
func (s *Sim) RuntimePID() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.rt.proc == nil {
		return 0
	}
	return s.rt.proc.pid
}

// initRuntime starts the runtime and waits until it calls next, reports an
// init error, exits, or Init fails otherwise.
func (s *Sim) initRuntime(ctx context.Context, deadline time.Time) error {
	if err := s.launchRuntime(); err != nil {
		return &InitError{ErrorType: "Runtime.ExitError", Message: "start runtime: " + err.Error()}
	}
	err := s.waitUntil(ctx, deadline, func() bool {
		return s.rt.nexts > 0 || s.rt.initErr != "" || s.rt.proc.exited() || s.initFailureLocked() != nil
	})
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.rt.initErr != "":
		return &InitError{ErrorType: "Runtime.InitError", Message: "runtime reported " + s.rt.initErr}
	case s.rt.proc.exited():
		return &InitError{ErrorType: "Runtime.ExitError", Message: "runtime exited during init"}
	}
	return errorOrNil(s.initFailureLocked())
}

// launchRuntime starts Config.Runtime (behind AWS_LAMBDA_EXEC_WRAPPER when
// set) with the runtime's environment, in its own process group.
func (s *Sim) launchRuntime() error {
	env := s.runtimeEnv()
	argv := append([]string(nil), s.cfg.Runtime...)
	if w := env["AWS_LAMBDA_EXEC_WRAPPER"]; w != "" {
		argv = append([]string{w}, argv...)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Dir = s.cfg.RuntimeDir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return err
	}
	p := &proc{name: runtimeProcessName, path: argv[0], done: make(chan struct{})}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := cmd.Start(); err != nil {
		return err
	}
	p.cmd, p.pid = cmd, cmd.Process.Pid
	s.rt.proc = p
	s.recordLocked(Record{Kind: KindRuntimeStart, Ext: p.name, PID: p.pid, Detail: strings.Join(argv, " ")})

	var readers sync.WaitGroup
	readers.Go(func() { s.captureRuntime(p, stdout, &p.stdout) })
	readers.Go(func() { s.captureRuntime(p, stderr, &p.stderr) })
	s.wg.Go(func() {
		readers.Wait()
		err := cmd.Wait()
		code, sig := 0, ""
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				sig = ws.Signal().String()
			}
		}
		s.mu.Lock()
		p.mu.Lock()
		p.exitCode, p.signal, p.exitAt = code, sig, time.Since(s.base)
		p.mu.Unlock()
		s.recordLocked(Record{Kind: KindRuntimeExit, Ext: p.name, PID: p.pid, Code: code, Detail: sig})
		close(p.done)
		s.notifyLocked()
		s.mu.Unlock()
	})
	return nil
}

// captureRuntime turns each line of the runtime's output into a `function`
// log event, as Lambda does with the runtime's stdout and stderr.
func (s *Sim) captureRuntime(p *proc, r io.Reader, buf *bytes.Buffer) {
	scanLines(r, func(line string) {
		p.mu.Lock()
		if buf.Len() < maxCapture {
			buf.WriteString(line)
			buf.WriteByte('\n')
		}
		p.mu.Unlock()
		s.mu.Lock()
		reqID := ""
		if s.rt.inv != nil {
			reqID = s.rt.inv.inv.RequestID
		}
		s.emitLocked(s.functionEvent(reqID, "INFO", line))
		s.mu.Unlock()
		if s.cfg.Stderr != nil {
			fmt.Fprintf(s.cfg.Stderr, "[%s] %s\n", p.name, line)
		}
	})
}

// scanLines calls f for each line of r (split at maxLogLine), then drains r.
func scanLines(r io.Reader, f func(string)) {
	var line []byte
	buf := make([]byte, 32<<10)
	for {
		n, err := r.Read(buf)
		for _, b := range buf[:n] {
			if b == '\n' || len(line) >= maxLogLine {
				f(string(line))
				line = line[:0]
				if b == '\n' {
					continue
				}
			}
			line = append(line, b)
		}
		if err != nil {
			if len(line) > 0 {
				f(string(line))
			}
			return
		}
	}
}

// stopRuntime ends the external runtime as Lambda does at shutdown or
// reset: SIGTERM, then SIGKILL after runtimeTermGrace. It waits for the
// process to be reaped.
func (s *Sim) stopRuntime() {
	s.mu.Lock()
	p := s.rt.proc
	s.mu.Unlock()
	if p == nil || p.exited() {
		return
	}
	p.signalGroup(syscall.SIGTERM)
	p.signalGroup(syscall.SIGCONT)
	t := time.NewTimer(runtimeTermGrace)
	defer t.Stop()
	select {
	case <-p.done:
		return
	case <-t.C:
	}
	p.kill()
	<-p.done
}

// queueRuntimeLocked makes inv the event the runtime's next returns.
func (s *Sim) queueRuntimeLocked(inv *Invocation, ev Event, start time.Time) {
	if len(ev.Payload) == 0 {
		ev.Payload = []byte("{}")
	}
	s.rt.inv = &rtInvocation{inv: inv, ev: ev, start: start}
	s.notifyLocked()
}

// InvokeEvent runs one invocation through the external runtime
// (Config.Runtime): like Invoke, but the event goes to the runtime's
// invocation/next and the result is what it posts back. The runtime's
// response or error ends the runtime's part; a runtime that exits is a
// failure (Runtime.ExitError) and one that does not answer by the deadline a
// timeout, both followed by a reset.
func (s *Sim) InvokeEvent(ctx context.Context, ev Event) (InvokeResult, error) {
	if len(s.cfg.Runtime) == 0 {
		return InvokeResult{}, errors.New("lambdasim: InvokeEvent needs Config.Runtime")
	}
	return s.invoke(ctx, ev, nil)
}

// awaitRuntime waits for the runtime's part of inv to end and fills res.
func (s *Sim) awaitRuntime(ctx context.Context, inv *Invocation, res *InvokeResult) (time.Duration, time.Time, error) {
	err := s.waitUntil(ctx, inv.Deadline, func() bool {
		return s.rt.inv.done || s.rt.proc.exited()
	})
	s.mu.Lock()
	defer s.mu.Unlock()
	ri := s.rt.inv
	s.rt.inv = nil
	if !ri.done {
		status, errType := "", ""
		switch {
		case errors.Is(err, ErrClosed):
			return 0, time.Time{}, err
		case err == nil: // the runtime exited
			status, errType = "failure", "Runtime.ExitError"
		case errors.Is(err, errWaitTimeout):
			status, errType = "timeout", "Sandbox.Timedout"
		default:
			status, errType = "failure", "Runtime.Cancelled"
		}
		ri.done, ri.status, ri.errType = true, status, errType
		ri.doneAt, ri.doneWall = s.runtimeDoneLocked(inv, status, errType, time.Since(ri.start), ri.produced, []any{})
		ri.resultAt = ri.doneAt
	}
	res.Status, res.ErrorType = ri.status, ri.errType
	res.Response = ri.response
	res.RuntimeDuration = ri.doneWall.Sub(ri.start)
	res.Responded = ri.resultAt
	return ri.doneAt, ri.doneWall, nil
}

// finishRuntimeLocked generates platform.runtimeDone for ri now.
func (s *Sim) finishRuntimeLocked(ri *rtInvocation, withOverhead bool) {
	now := time.Now()
	spans := []any{}
	if !ri.respStart.IsZero() {
		spans = append(spans, span("responseLatency", ri.start, ri.respStart), span("responseDuration", ri.respStart, ri.respEnd))
	}
	if withOverhead {
		spans = append(spans, span("runtimeOverhead", ri.respEnd, now))
	}
	ri.done = true
	ri.doneAt, ri.doneWall = s.runtimeDoneLocked(ri.inv, ri.status, ri.errType, now.Sub(ri.start), ri.produced, spans)
}

func (s *Sim) handleRuntime(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	configured := s.rt.proc != nil
	s.mu.Unlock()
	if !configured {
		apiError(w, http.StatusForbidden, "Runtime.NotConfigured", "lambdasim runs a scripted function; set Config.Runtime to serve the Runtime API")
		return
	}
	rest := strings.TrimPrefix(r.URL.Path, runtimeAPIPrefix)
	switch {
	case rest == "invocation/next":
		if r.Method != http.MethodGet {
			apiError(w, http.StatusMethodNotAllowed, "InvalidRequest", "next wants GET")
			return
		}
		s.handleRuntimeNext(w, r)
	case rest == "init/error":
		if r.Method != http.MethodPost {
			apiError(w, http.StatusMethodNotAllowed, "InvalidRequest", "init/error wants POST")
			return
		}
		s.handleRuntimeInitError(w, r)
	case strings.HasPrefix(rest, "invocation/"):
		id, kind, ok := strings.Cut(strings.TrimPrefix(rest, "invocation/"), "/")
		if !ok || (kind != "response" && kind != "error") || id == "" {
			apiError(w, http.StatusNotFound, "InvalidRequest", "unknown Runtime API path "+r.URL.Path)
			return
		}
		if r.Method != http.MethodPost {
			apiError(w, http.StatusMethodNotAllowed, "InvalidRequest", kind+" wants POST")
			return
		}
		s.handleRuntimeResult(w, r, id, kind)
	default:
		apiError(w, http.StatusNotFound, "InvalidRequest", "unknown Runtime API path "+r.URL.Path)
	}
}

func (s *Sim) handleRuntimeNext(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	rt := &s.rt
	if rt.waiting {
		s.mu.Unlock()
		apiError(w, http.StatusForbidden, "InvalidStateTransition", "next is already being waited on")
		return
	}
	rt.waiting = true
	rt.nexts++
	// The next call ends the runtime's part of the last event it got.
	rec := Record{Kind: KindRuntimeNext, Ext: runtimeProcessName, PID: rt.proc.pid, RequestID: rt.lastID}
	rt.lastNext = s.recordLocked(rec).At
	if ri := rt.inv; ri != nil && ri.handed && ri.result && !ri.done {
		s.finishRuntimeLocked(ri, true)
	}
	s.notifyLocked()
	for {
		if ri := rt.inv; ri != nil && !ri.handed && !s.frozen {
			ri.handed = true
			rt.waiting = false
			rt.lastID = ri.inv.RequestID
			inv := ri.inv
			s.notifyLocked()
			s.mu.Unlock()
			h := w.Header()
			h.Set("Content-Type", "application/json")
			h.Set(hdrRequestID, inv.RequestID)
			h.Set(hdrDeadline, strconv.FormatInt(inv.Deadline.UnixMilli(), 10))
			h.Set(hdrFunctionARN, inv.FunctionARN)
			h.Set(hdrTraceID, inv.TraceHeader)
			if ri.ev.ClientContext != "" {
				h.Set(hdrClientContext, ri.ev.ClientContext)
			}
			if ri.ev.CognitoIdentity != "" {
				h.Set(hdrCognito, ri.ev.CognitoIdentity)
			}
			h.Set("Content-Length", strconv.Itoa(len(ri.ev.Payload)))
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write(ri.ev.Payload)
			return
		}
		ch := s.changed
		s.mu.Unlock()
		select {
		case <-ch:
		case <-r.Context().Done():
			s.mu.Lock()
			rt.waiting = false
			s.notifyLocked()
			s.mu.Unlock()
			return
		case <-s.closing:
			apiError(w, http.StatusInternalServerError, "Runtime.ContainerError", "sandbox is closing")
			return
		}
		s.mu.Lock()
	}
}

func (s *Sim) handleRuntimeInitError(w http.ResponseWriter, r *http.Request) {
	_, _ = io.ReadAll(http.MaxBytesReader(w, r.Body, maxAPIRequest))
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.phase != phaseInit {
		apiError(w, http.StatusForbidden, "InvalidStateTransition", "init/error after init")
		return
	}
	typ := r.Header.Get(hdrRuntimeErrType)
	if typ == "" {
		typ = "Runtime.Unknown"
	}
	s.rt.initErr = typ
	s.recordLocked(Record{Kind: KindRuntimeInitError, Ext: runtimeProcessName, PID: s.rt.proc.pid, Detail: typ})
	s.notifyLocked()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	_, _ = io.WriteString(w, `{"status":"OK"}`+"\n")
}

// checkResultLocked returns the invocation a response or error for id may
// complete, or writes the Runtime API's error.
func (s *Sim) checkResultLocked(w http.ResponseWriter, id string) *rtInvocation {
	ri := s.rt.inv
	switch {
	case ri == nil || !ri.handed || ri.inv.RequestID != id:
		apiError(w, http.StatusBadRequest, "InvalidRequestID", "Invalid request ID "+id)
		return nil
	case ri.result || ri.done:
		apiError(w, http.StatusForbidden, "InvalidStateTransition", "invocation "+id+" already has a result")
		return nil
	}
	return ri
}

func (s *Sim) handleRuntimeResult(w http.ResponseWriter, r *http.Request, id, kind string) {
	arrived := time.Now()
	s.mu.Lock()
	ok := s.checkResultLocked(w, id) != nil
	s.mu.Unlock()
	if !ok {
		return
	}
	status, errType := "success", ""
	var body []byte
	var first time.Time
	tooLarge := false
	if kind == "error" {
		body, _ = io.ReadAll(http.MaxBytesReader(w, r.Body, maxAPIRequest))
		status, errType = "error", r.Header.Get(hdrRuntimeErrType)
		if errType == "" {
			errType = "Runtime.Unknown"
		}
	} else {
		limit := maxResponseBytes
		streaming := strings.EqualFold(r.Header.Get(hdrResponseMode), "streaming")
		if streaming {
			limit = maxStreamResponseBytes
		}
		var err error
		body, first, err = readTimed(r.Body, limit)
		switch {
		case errors.Is(err, errTooLarge):
			tooLarge = true
			status, errType = "error", "Function.ResponseSizeTooLarge"
		case err != nil:
			// The runtime went away mid-response.
			return
		case streaming && r.Trailer.Get(hdrRuntimeErrType) != "":
			status, errType = "error", r.Trailer.Get(hdrRuntimeErrType)
		}
	}
	end := time.Now()
	if first.IsZero() {
		first = arrived
	}

	s.mu.Lock()
	ri := s.checkResultLocked(w, id)
	if ri == nil {
		s.mu.Unlock()
		return
	}
	ri.result, ri.status, ri.errType = true, status, errType
	ri.produced = len(body)
	if kind == "response" && !tooLarge {
		ri.response = body
	}
	ri.respStart, ri.respEnd = first, end
	k := KindRuntimeResponse
	if kind == "error" {
		k = KindRuntimeError
	}
	ri.resultAt = s.recordLocked(Record{Kind: k, Ext: runtimeProcessName, PID: s.rt.proc.pid, RequestID: id, Code: len(body), Detail: errType}).At
	if kind == "error" || tooLarge {
		// An invocation error ends the runtime's part at once (§5.7).
		s.finishRuntimeLocked(ri, false)
	}
	s.notifyLocked()
	s.mu.Unlock()
	if tooLarge {
		apiError(w, http.StatusRequestEntityTooLarge, "RequestEntityTooLarge", fmt.Sprintf("response payload exceeds %d bytes", maxResponseBytes))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	_, _ = io.WriteString(w, `{"status":"OK"}`+"\n")
}

var errTooLarge = errors.New("lambdasim: response too large")

// readTimed reads r up to limit bytes and notes when the first byte came.
func readTimed(r io.Reader, limit int) (body []byte, first time.Time, err error) {
	buf := make([]byte, 32<<10)
	for {
		n, rerr := r.Read(buf)
		if n > 0 {
			if first.IsZero() {
				first = time.Now()
			}
			if len(body)+n > limit {
				_, _ = io.Copy(io.Discard, io.LimitReader(r, 64<<20))
				return nil, first, errTooLarge
			}
			body = append(body, buf[:n]...)
		}
		if rerr == io.EOF {
			return body, first, nil
		}
		if rerr != nil {
			return body, first, rerr
		}
	}
}
