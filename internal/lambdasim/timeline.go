// timeline.go owns the Sim's record of what happened, with monotonic
// timestamps relative to the Sim's start, and the accessors built on it.
package lambdasim

import (
	"slices"
	"time"
)

// Kind names one kind of timeline record.
type Kind string

// Record kinds.
const (
	KindProcessStart  Kind = "process.start"  // an extension process was started
	KindProcessExit   Kind = "process.exit"   // it exited; Code is the exit code (-1 = signal)
	KindRegister      Kind = "register"       // Extensions API register accepted
	KindSubscribe     Kind = "subscribe"      // Telemetry API subscription accepted
	KindInitNext      Kind = "init.next"      // an extension's first next: end of its init
	KindInitDone      Kind = "init.done"      // the Init phase ended
	KindInvoke        Kind = "invoke"         // INVOKE dispatched (RequestID set)
	KindRuntimeDone   Kind = "runtime.done"   // the runtime finished the invocation
	KindNext          Kind = "next"           // an extension called next after runtimeDone
	KindReport        Kind = "report"         // platform.report generated
	KindFreeze        Kind = "freeze"         // the sandbox froze
	KindThaw          Kind = "thaw"           // the sandbox thawed
	KindShutdown      Kind = "shutdown"       // SHUTDOWN dispatched (Detail = reason)
	KindInitError     Kind = "init.error"     // /init/error (Detail = error type)
	KindExitError     Kind = "exit.error"     // /exit/error (Detail = error type)
	KindKill          Kind = "kill"           // SIGKILL after the shutdown budget
	KindDeliver       Kind = "telemetry.post" // a telemetry batch was accepted by a listener (Code = events)
	KindDeliverFailed Kind = "telemetry.fail" // a telemetry POST failed (Detail = why)
	KindDropped       Kind = "telemetry.drop" // a batch was dropped after the retry limit (Code = events)

	// External runtime mode (Config.Runtime).
	KindRuntimeStart     Kind = "runtime.start"      // the runtime process was started (Detail = argv)
	KindRuntimeExit      Kind = "runtime.exit"       // it exited; Code is the exit code (-1 = signal)
	KindRuntimeNext      Kind = "runtime.next"       // the runtime called invocation/next
	KindRuntimeResponse  Kind = "runtime.response"   // its response was accepted (Code = bytes, Detail = error type from a trailer)
	KindRuntimeError     Kind = "runtime.error"      // its invocation error was accepted (Detail = error type)
	KindRuntimeInitError Kind = "runtime.init.error" // it called init/error (Detail = error type)
)

// Record is one timeline entry.
type Record struct {
	At        time.Duration // since the Sim started (monotonic)
	Kind      Kind
	Ext       string // extension name, when about one
	PID       int
	RequestID string
	Code      int
	Detail    string
}

// recordLocked appends a record; s.mu must be held.
func (s *Sim) recordLocked(r Record) Record {
	r.At = time.Since(s.base)
	s.timeline = append(s.timeline, r)
	return r
}

// Timeline returns a copy of every record so far, in order.
func (s *Sim) Timeline() []Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.timeline)
}

// InitDurations returns, per extension name, the time from its process start
// to its first next call (the end of its init).
func (s *Sim) InitDurations() map[string]time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	start := map[string]time.Duration{}
	out := map[string]time.Duration{}
	for _, r := range s.timeline {
		switch r.Kind {
		case KindProcessStart:
			start[r.Ext] = r.At
		case KindInitNext:
			if _, done := out[r.Ext]; !done {
				out[r.Ext] = r.At - start[r.Ext]
			}
		}
	}
	return out
}

// Records returns the records of one kind.
func (s *Sim) Records(k Kind) []Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Record
	for _, r := range s.timeline {
		if r.Kind == k {
			out = append(out, r)
		}
	}
	return out
}
