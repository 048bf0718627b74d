// fault.go owns the description of how the sink misbehaves for one request.
package otlpsink

import "time"

// Fault is how the sink answers one request. The zero Fault answers
// normally. Fields combine: Delay happens first, then ResetConn, then the
// Authorization check (see RequireAuth), then Status.
type Fault struct {
	// Status, when neither 0 nor 200, is answered instead of accepting the
	// data, with a google.rpc.Status body (protobuf, or JSON for a JSON
	// request) whose message is Message, unless Body is set.
	Status int
	// RetryAfter is sent as the Retry-After header when not empty
	// (seconds, or an HTTP-date).
	RetryAfter string
	// Body replaces the error body of a Status answer byte for byte.
	Body []byte
	// Message is the Status message of an error answer, or the
	// partial_success error_message of a 200.
	Message string
	// Rejected, with a 200, is the partial_success rejected count
	// (rejected_spans, rejected_data_points, rejected_log_records).
	Rejected int64
	// Delay holds the answer back, e.g. past a client's timeout. When the
	// client goes away, or on Down or Close, the wait ends and the request
	// is recorded with Status 0 and its data not accepted.
	Delay time.Duration
	// ResetConn drops the connection after reading the request, without
	// an answer.
	ResetConn bool
}

// Statuses is a script of plain status answers: Statuses(503, 503, 200).
func Statuses(codes ...int) []Fault {
	fs := make([]Fault, len(codes))
	for i, c := range codes {
		fs[i] = Fault{Status: c}
	}
	return fs
}
