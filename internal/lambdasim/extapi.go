// extapi.go owns the Extensions API (2020-01-01): register, the event/next
// long poll, init/error and exit/error, with RIE's error types and status
// codes (lambda-apis.md §4), and the per-extension event queue.
package lambdasim

import (
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"
)

const (
	hdrName       = "Lambda-Extension-Name"
	hdrID         = "Lambda-Extension-Identifier"
	hdrFeature    = "Lambda-Extension-Accept-Feature"
	hdrErrorType  = "Lambda-Extension-Function-Error-Type"
	hdrEventID    = "Lambda-Extension-Event-Identifier"
	maxAPIRequest = 1 << 20 // no Lambda API body is anywhere near 1 MiB
)

// extension is one registered extension.
type extension struct {
	id       string
	name     string
	external bool
	proc     *proc // nil for internal extensions
	invoke   bool  // registered for INVOKE
	shutdown bool  // registered for SHUTDOWN

	pending  [][]byte // events not yet handed out by next
	waiting  bool     // a next call is blocked right now
	nexts    int      // next calls so far
	lastNext time.Duration
	dead     bool   // exited, or init/exit error accepted: no further calls succeed
	errType  string // from init/error or exit/error
	errBody  []byte
	gotEvent bool // handed an event it has not yet answered with next
}

// ExtensionInfo describes a registered extension.
type ExtensionInfo struct {
	Name      string
	ID        string
	PID       int // 0 for internal extensions
	External  bool
	Events    []string
	ErrorType string // from init/error or exit/error, "" if none
	ErrorBody []byte
}

// Extensions lists the registered extensions in registration order.
func (s *Sim) Extensions() []ExtensionInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []ExtensionInfo
	for _, e := range s.extOrder {
		info := ExtensionInfo{Name: e.name, ID: e.id, External: e.external, Events: e.events(), ErrorType: e.errType, ErrorBody: e.errBody}
		if e.proc != nil {
			info.PID = e.proc.pid
		}
		out = append(out, info)
	}
	return out
}

func (e *extension) events() []string {
	ev := []string{}
	if e.invoke {
		ev = append(ev, "INVOKE")
	}
	if e.shutdown {
		ev = append(ev, "SHUTDOWN")
	}
	return ev
}

func (s *Sim) mux() *http.ServeMux {
	m := http.NewServeMux()
	m.HandleFunc("/2020-01-01/extension/register", s.handleRegister)
	m.HandleFunc("/2020-01-01/extension/event/next", s.handleNext)
	m.HandleFunc("/2020-01-01/extension/init/error", s.handleError(KindInitError))
	m.HandleFunc("/2020-01-01/extension/exit/error", s.handleError(KindExitError))
	m.HandleFunc("/2022-07-01/telemetry", s.handleSubscribe)
	m.HandleFunc("/2018-06-01/runtime/", s.handleRuntime)
	return m
}

// apiError writes RIE's error body {"errorMessage","errorType"}.
func apiError(w http.ResponseWriter, code int, errType, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"errorMessage": msg, "errorType": errType})
}

func (s *Sim) handleRegister(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		apiError(w, http.StatusMethodNotAllowed, "Extension.InvalidRequest", "register wants POST")
		return
	}
	name := r.Header.Get(hdrName)
	if name == "" {
		apiError(w, http.StatusForbidden, "Extension.InvalidExtensionName", "Empty extension name")
		return
	}
	var body struct {
		Events            []string        `json:"events"`
		ConfigurationKeys json.RawMessage `json:"configurationKeys"`
	}
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxAPIRequest))
	if err != nil {
		apiError(w, http.StatusBadRequest, "InvalidRequestFormat", "read body: "+err.Error())
		return
	}
	if len(strings.TrimSpace(string(raw))) > 0 {
		if err := json.Unmarshal(raw, &body); err != nil {
			apiError(w, http.StatusBadRequest, "InvalidRequestFormat", "body is not JSON: "+err.Error())
			return
		}
	}
	if body.ConfigurationKeys != nil {
		apiError(w, http.StatusBadRequest, "InvalidRequestFormat", "configurationKeys is not supported")
		return
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.phase != phaseInit {
		apiError(w, http.StatusForbidden, "Extension.RegistrationClosed", "Extension registration closed already")
		return
	}
	for _, e := range s.extOrder {
		if e.name == name {
			apiError(w, http.StatusForbidden, "Extension.InvalidExtensionState", "Extension "+name+" is already registered")
			return
		}
	}
	if len(s.extOrder) >= maxExtensions {
		apiError(w, http.StatusForbidden, "Extension.TooManyExtensions", "Too many extensions registered")
		return
	}
	e := &extension{id: newUUID(), name: name}
	for _, p := range s.procs {
		if p.name == name {
			e.proc, e.external = p, true
		}
	}
	for _, ev := range body.Events {
		switch ev {
		case "INVOKE":
			e.invoke = true
		case "SHUTDOWN":
			if !e.external {
				apiError(w, http.StatusForbidden, "Extension.InvalidEventType",
					"internal extension "+name+" cannot register for SHUTDOWN (the name matches no file in the extensions directory)")
				return
			}
			e.shutdown = true
		default:
			apiError(w, http.StatusForbidden, "Extension.InvalidEventType", "unknown event type "+ev)
			return
		}
	}
	s.exts[e.id] = e
	s.extOrder = append(s.extOrder, e)
	rec := Record{Kind: KindRegister, Ext: name, Detail: strings.Join(e.events(), ",")}
	if e.proc != nil {
		rec.PID = e.proc.pid
	}
	s.recordLocked(rec)
	s.emitLocked(newEvent("platform.extension", map[string]any{"name": name, "state": "Ready", "events": e.events()}))
	s.notifyLocked()

	resp := map[string]string{
		"functionName":    s.cfg.FunctionName,
		"functionVersion": s.cfg.FunctionVersion,
		"handler":         s.cfg.Handler,
	}
	for _, f := range strings.Split(r.Header.Get(hdrFeature), ",") {
		if strings.TrimSpace(f) == "accountId" {
			resp["accountId"] = s.cfg.AccountID
		}
	}
	w.Header().Set(hdrID, e.id)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_ = json.NewEncoder(w).Encode(resp)
}

// lookupLocked resolves the identifier header, writing RIE's 403 when it
// cannot. s.mu must be held.
func (s *Sim) lookupLocked(w http.ResponseWriter, r *http.Request) *extension {
	id := r.Header.Get(hdrID)
	if id == "" {
		apiError(w, http.StatusForbidden, "Extension.MissingExtensionIdentifier", "Missing Lambda-Extension-Identifier header")
		return nil
	}
	if len(id) != 36 || strings.Count(id, "-") != 4 {
		apiError(w, http.StatusForbidden, "Extension.InvalidExtensionIdentifier", "Invalid Lambda-Extension-Identifier")
		return nil
	}
	e := s.exts[id]
	if e == nil {
		apiError(w, http.StatusForbidden, "Extension.UnknownExtensionIdentifier", "Unknown extension "+id)
		return nil
	}
	if e.dead {
		apiError(w, http.StatusForbidden, "Extension.InvalidExtensionState", "Extension "+e.name+" already reported an error")
		return nil
	}
	return e
}

func (s *Sim) handleNext(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		apiError(w, http.StatusMethodNotAllowed, "Extension.InvalidRequest", "next wants GET")
		return
	}
	s.mu.Lock()
	e := s.lookupLocked(w, r)
	if e == nil {
		s.mu.Unlock()
		return
	}
	if e.waiting {
		s.mu.Unlock()
		apiError(w, http.StatusForbidden, "Extension.InvalidExtensionState", "next is already being waited on")
		return
	}
	s.nextCalledLocked(e)
	for {
		if len(e.pending) > 0 && !s.frozen {
			ev := e.pending[0]
			e.pending = e.pending[1:]
			e.waiting, e.gotEvent = false, true
			s.notifyLocked()
			s.mu.Unlock()
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set(hdrEventID, newUUID())
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write(ev)
			return
		}
		ch := s.changed
		s.mu.Unlock()
		select {
		case <-ch:
		case <-r.Context().Done():
			s.mu.Lock()
			e.waiting = false
			s.notifyLocked()
			s.mu.Unlock()
			return
		case <-s.closing:
			// The container is going away; RIE answers 500 here.
			apiError(w, http.StatusInternalServerError, "Extension.ContainerError", "sandbox is closing")
			return
		}
		s.mu.Lock()
	}
}

// nextCalledLocked records a next call: the end of init for the first one,
// post-runtime time for one answering an INVOKE.
func (s *Sim) nextCalledLocked(e *extension) {
	e.waiting, e.gotEvent = true, false
	e.nexts++
	rec := Record{Kind: KindNext, Ext: e.name}
	if e.proc != nil {
		rec.PID = e.proc.pid
	}
	if e.nexts == 1 {
		rec.Kind = KindInitNext
	} else if s.cur != nil {
		rec.RequestID = s.cur.requestID
	}
	e.lastNext = s.recordLocked(rec).At
	s.notifyLocked()
}

func (s *Sim) handleError(kind Kind) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			apiError(w, http.StatusMethodNotAllowed, "Extension.InvalidRequest", "wants POST")
			return
		}
		body, _ := io.ReadAll(http.MaxBytesReader(w, r.Body, maxAPIRequest))
		s.mu.Lock()
		defer s.mu.Unlock()
		e := s.lookupLocked(w, r)
		if e == nil {
			return
		}
		errType := r.Header.Get(hdrErrorType)
		if errType == "" {
			apiError(w, http.StatusForbidden, "Extension.MissingHeader", "Missing Lambda-Extension-Function-Error-Type header")
			return
		}
		e.dead, e.errType, e.errBody = true, errType, body
		rec := Record{Kind: kind, Ext: e.name, Detail: errType}
		if e.proc != nil {
			rec.PID = e.proc.pid
		}
		s.recordLocked(rec)
		s.notifyLocked()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusAccepted)
		_, _ = io.WriteString(w, `{"status":"OK"}`+"\n")
	}
}

// processExitedLocked marks the extensions of a dead process and stops
// their telemetry subscriptions.
func (s *Sim) processExitedLocked(p *proc) {
	for _, e := range s.extOrder {
		if e.proc == p {
			e.dead = true
		}
	}
	for _, sub := range s.subs {
		if sub.ext.proc == p {
			sub.stopped = true
		}
	}
}

// dispatchLocked queues an event for every live extension registered for
// it. It returns the extensions that got it.
func (s *Sim) dispatchLocked(eventType string, payload map[string]any) []*extension {
	b, _ := json.Marshal(payload)
	var got []*extension
	for _, e := range s.extOrder {
		if e.dead || (eventType == "INVOKE" && !e.invoke) || (eventType == "SHUTDOWN" && !e.shutdown) {
			continue
		}
		e.pending = append(e.pending, b)
		got = append(got, e)
	}
	s.notifyLocked()
	return got
}

// allReadyLocked reports whether every live extension is blocked in next
// with nothing pending (the condition for a freeze).
func (s *Sim) allReadyLocked(exts []*extension) bool {
	return !slices.ContainsFunc(exts, func(e *extension) bool {
		return !e.dead && (!e.waiting || len(e.pending) > 0)
	})
}
