// grpc.go speaks OTLP/gRPC on net/http alone: HTTP/2 (h2c or TLS), the
// 5-byte length prefix, and grpc-status trailers. No grpc-go.
//
// It owns the gRPC receiver (newGRPCHandler), the gRPC exporter attempt
// (grpcSend) and their wire helpers: grpc-message percent-encoding,
// grpc-timeout, and google.rpc.Status with RetryInfo. Invariants: once a
// request is a gRPC call (HTTP/2, POST, gRPC content type) the receiver
// answers HTTP 200 with grpc-status in trailers, and it never hijacks or
// closes the connection, so one bad call does not cost the SDK its
// connection. See ../shared/docs/otlp.md sections 4 and 5.
package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// gRPC status codes (otlp.md 4.4).
const (
	grpcOK                  = 0
	grpcCanceled            = 1
	grpcUnknown             = 2
	grpcInvalidArgument     = 3
	grpcDeadlineExceeded    = 4
	grpcPermissionDenied    = 7
	grpcResourceExhausted   = 8
	grpcAborted             = 10
	grpcOutOfRange          = 11
	grpcUnimplemented       = 12
	grpcInternal            = 13
	grpcUnavailable         = 14
	grpcDataLoss            = 15
	grpcUnauthenticated     = 16
	grpcRetryInfoType       = "type.googleapis.com/google.rpc.RetryInfo"
	grpcHeaderLen           = 5 // compressed flag + big-endian uint32 length
	grpcMaxResponse         = 4 << 20
	grpcMaxMessageLen       = 1024
	grpcMaxHTTPErrorSnippet = 512
)

// Why the limits above are what they are:
//   - grpcMaxResponse: an Export*ServiceResponse is a few bytes; STYLE rule
//     22 caps every response body the extension reads at 4 MiB.
//   - grpcMaxMessageLen: the grpc-message we send is cut to 1 KiB (3 KiB at
//     most once percent-encoded) so our trailers stay far below grpc-go's
//     default 16 KiB header-list limit.
//   - grpcMaxHTTPErrorSnippet: a proxy's error page only needs its start
//     to be recognisable in a log line.

// grpcPath is the gRPC method path of the signal's Export call (otlp.md 4.1).
func (s signal) grpcPath() string {
	switch s {
	case sigTraces:
		return "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
	case sigMetrics:
		return "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export"
	case sigLogs:
		return "/opentelemetry.proto.collector.logs.v1.LogsService/Export"
	}
	return ""
}

// grpcSignal maps a request path to the signal whose Export method it names.
func grpcSignal(path string) (signal, bool) {
	for s := sigTraces; s < numSignals; s++ {
		if path == s.grpcPath() {
			return s, true
		}
	}
	return 0, false
}

// isGRPCContentType reports whether ct is a gRPC content type with the
// protobuf codec: application/grpc or application/grpc+proto, parameters
// allowed.
func isGRPCContentType(ct string) bool {
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = strings.TrimSpace(ct[:i])
	}
	return ct == "application/grpc" || ct == "application/grpc+proto"
}

// newGRPCHandler serves the three OTLP/gRPC Export methods. Each call carries
// exactly one length-prefixed Export*ServiceRequest of at most maxMsgBytes,
// on the wire and after gzip decompression. ingest gets the protobuf bytes,
// which it must not keep (the buffer is reused once it returns; the
// receiver's ingest copies into the ring), and its error decides the
// grpc-status: nil → OK, errBadData → INVALID_ARGUMENT with the reason,
// errTooLarge → RESOURCE_EXHAUSTED, anything else → UNAVAILABLE.
//
// Requests that are not gRPC calls get a plain HTTP error: 505 for HTTP/1.x,
// 405 for a method other than POST, 415 for a content type that is not
// gRPC's (otlp.md 4.3).
func newGRPCHandler(ingest func(sig signal, pb []byte) error, maxMsgBytes int64, lg *logger) http.Handler {
	var bufs sync.Pool // *[]byte: request messages and their decompression
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor != 2 {
			http.Error(w, "otlp grpc: "+r.Proto+" request; gRPC needs HTTP/2 (h2c with prior knowledge on this port)",
				http.StatusHTTPVersionNotSupported)
			return
		}
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			http.Error(w, "otlp grpc: method "+r.Method+" not allowed; want POST", http.StatusMethodNotAllowed)
			return
		}
		if ct := r.Header.Get("Content-Type"); !isGRPCContentType(ct) {
			http.Error(w, fmt.Sprintf("otlp grpc: content-type %q not supported; want application/grpc", ct),
				http.StatusUnsupportedMediaType)
			return
		}
		code, msg := serveGRPC(w, r, ingest, maxMsgBytes, &bufs)
		if code != grpcOK {
			lg.warnf("otlp grpc %s: rejected with grpc-status %d: %s", r.URL.Path, code, msg)
		}
		writeGRPCStatus(w, code, msg)
	})
}

// serveGRPC reads the one request message of a gRPC call and hands it to
// ingest. It returns the grpc-status and grpc-message to answer with.
func serveGRPC(w http.ResponseWriter, r *http.Request, ingest func(signal, []byte) error, limit int64, bufs *sync.Pool) (int, string) {
	sig, ok := grpcSignal(r.URL.Path)
	if !ok {
		return grpcUnimplemented, "unknown method " + r.URL.Path
	}
	var gz bool
	switch enc := r.Header.Get("Grpc-Encoding"); enc {
	case "", "identity":
	case "gzip":
		gz = true
	default:
		// grpc-accept-encoding, always in our headers, lists what we take.
		return grpcUnimplemented, fmt.Sprintf("grpc-encoding %q not supported; want gzip or identity", enc)
	}
	var deadline time.Time
	if v := r.Header.Get("Grpc-Timeout"); v != "" {
		d, ok := parseGRPCTimeout(v)
		if !ok {
			return grpcInternal, fmt.Sprintf("malformed grpc-timeout %q", v)
		}
		deadline = time.Now().Add(d)
		// A client that gives up will retry; stop waiting for its body then.
		// The server's own ReadTimeout stays in force when it is shorter.
		srv, _ := r.Context().Value(http.ServerContextKey).(*http.Server)
		if srv == nil || srv.ReadTimeout <= 0 || d < srv.ReadTimeout {
			http.NewResponseController(w).SetReadDeadline(deadline) // unsupported on recorders: then no deadline
		}
	}

	var hdr [grpcHeaderLen]byte
	if _, err := io.ReadFull(r.Body, hdr[:]); err != nil {
		return grpcReadError(err, "request message header")
	}
	n := binary.BigEndian.Uint32(hdr[1:])
	if int64(n) > limit {
		return grpcResourceExhausted, fmt.Sprintf("request message of %d bytes is over the %d-byte limit", n, limit)
	}
	switch hdr[0] {
	case 0:
	case 1:
		if !gz {
			return grpcInternal, "compressed flag set without grpc-encoding"
		}
	default:
		return grpcInternal, fmt.Sprintf("compressed flag %d; want 0 or 1", hdr[0])
	}
	msgBuf := grpcScratch(bufs)
	defer grpcPutScratch(bufs, msgBuf)
	*msgBuf = growTo((*msgBuf)[:0], int(n))
	pb := (*msgBuf)[:n]
	if _, err := io.ReadFull(r.Body, pb); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF // the header promised n > 0 bytes
		}
		return grpcReadError(err, "request message")
	}
	var more [1]byte
	if _, err := io.ReadFull(r.Body, more[:]); err == nil {
		return grpcInternal, "more than one request message for a unary method"
	} else if err != io.EOF {
		return grpcReadError(err, "end of request")
	}
	if hdr[0] == 1 {
		zbuf := grpcScratch(bufs)
		defer grpcPutScratch(bufs, zbuf)
		var err error
		pb, err = gunzipLimit((*zbuf)[:0], pb, limit)
		*zbuf = pb
		if err != nil {
			if errors.Is(err, errTooLarge) {
				return grpcResourceExhausted, err.Error()
			}
			return grpcInternal, "decompress request message: " + err.Error()
		}
	}
	if !deadline.IsZero() && time.Now().After(deadline) {
		// The client has given up and will retry: don't ingest a duplicate.
		return grpcDeadlineExceeded, "grpc-timeout passed before the request was read"
	}
	switch err := ingest(sig, pb); {
	case err == nil:
		return grpcOK, ""
	case errors.Is(err, errBadData):
		return grpcInvalidArgument, err.Error()
	case errors.Is(err, errTooLarge):
		return grpcResourceExhausted, err.Error()
	default:
		return grpcUnavailable, err.Error()
	}
}

// grpcScratch returns a pooled message buffer; give it back with
// grpcPutScratch.
func grpcScratch(bufs *sync.Pool) *[]byte {
	if p, ok := bufs.Get().(*[]byte); ok {
		return p
	}
	return new([]byte)
}

// grpcPutScratch returns p to the pool, without its buffer when one huge
// message grew it past maxPooledBuf.
func grpcPutScratch(bufs *sync.Pool, p *[]byte) {
	if cap(*p) > maxPooledBuf {
		*p = nil
	}
	bufs.Put(p)
}

// grpcReadError turns an error reading the request body into a status.
func grpcReadError(err error, what string) (int, string) {
	switch {
	case err == io.EOF:
		return grpcInternal, "no " + what
	case err == io.ErrUnexpectedEOF:
		return grpcInternal, "truncated " + what
	case errors.Is(err, os.ErrDeadlineExceeded):
		return grpcDeadlineExceeded, "read " + what + ": " + err.Error()
	}
	return grpcCanceled, "read " + what + ": " + err.Error()
}

// writeGRPCStatus answers a gRPC call: HTTP 200, the empty
// Export*ServiceResponse when code is OK, and grpc-status (plus grpc-message)
// as trailers. net/http cannot send a one-frame Trailers-Only answer, and
// clients accept this form for errors too (otlp.md 5).
func writeGRPCStatus(w http.ResponseWriter, code int, msg string) {
	h := w.Header()
	h.Set("Content-Type", "application/grpc")
	h.Set("Grpc-Accept-Encoding", "gzip")
	h.Set("Trailer", "Grpc-Status, Grpc-Message")
	w.WriteHeader(http.StatusOK)
	if code == grpcOK {
		// An empty Export*ServiceResponse: no partial_success.
		w.Write([]byte{0, 0, 0, 0, 0})
	}
	// Send headers (and the message) now: a handler that returns unflushed
	// gets a Content-Length from net/http, which gRPC servers don't send.
	http.NewResponseController(w).Flush()
	h.Set("Grpc-Status", strconv.Itoa(code))
	if msg != "" {
		h.Set("Grpc-Message", grpcEncodeMessage(msg))
	}
}

// grpcSend makes one attempt to export body, a serialized
// Export<sig>ServiceRequest, as a unary OTLP/gRPC call to endpoint
// (scheme://host:port). c must speak HTTP/2 (Transport.Protocols with only
// UnencryptedHTTP2 for http://, HTTP2 for https://). gz compresses the
// message with gzip. headers become metadata: names lowercased, values of
// names ending in -bin sent base64 (unpadded).
//
// The result holds the grpc-status (or the one mapped from a proxy's HTTP
// status), whether the OTLP spec lets the caller retry, the RetryInfo delay,
// and partial_success. err is set for transport failures (retryable) and for
// a server that did not answer over HTTP/2 (not retryable).
func grpcSend(ctx context.Context, c *http.Client, endpoint string, sig signal, body []byte, gz bool, headers []header) sendResult {
	frame := make([]byte, grpcHeaderLen, grpcHeaderLen+len(body))
	if gz {
		frame = appendGzip(frame, body)
		frame[0] = 1
	} else {
		frame = append(frame, body...)
	}
	binary.BigEndian.PutUint32(frame[1:grpcHeaderLen], uint32(len(frame)-grpcHeaderLen))
	return grpcPost(ctx, c, endpoint, sig, reqBody{parts: [][]byte{frame}, n: int64(len(frame))}, gz, headers)
}

// grpcPost is grpcSend for a message already framed (the exporter frames a
// batch straight from its chunks, see encode in export.go); gz says the
// frame's message is gzip-compressed.
func grpcPost(ctx context.Context, c *http.Client, endpoint string, sig signal, frame reqBody, gz bool, headers []header) sendResult {
	url := strings.TrimSuffix(endpoint, "/") + sig.grpcPath()
	req, err := newPost(ctx, url, frame)
	if err != nil {
		return sendResult{err: fmt.Errorf("grpc export %s: %w", sig, err)}
	}
	h := req.Header
	for _, m := range headers {
		name, v := strings.ToLower(m.name), m.value
		if strings.HasSuffix(name, "-bin") {
			v = base64.RawStdEncoding.EncodeToString([]byte(v))
		}
		h.Add(name, v)
	}
	// Protocol headers override metadata of the same name.
	h.Set("Content-Type", "application/grpc")
	h.Set("Te", "trailers") // required: detects proxies that drop trailers
	h.Del("Grpc-Encoding")
	if gz {
		h.Set("Grpc-Encoding", "gzip")
	}
	h.Set("Grpc-Accept-Encoding", "gzip")
	h.Set("Accept-Encoding", "identity") // no whole-stream gzip from net/http
	if dl, ok := ctx.Deadline(); ok {
		h.Set("Grpc-Timeout", formatGRPCTimeout(time.Until(dl)))
	}
	if h.Get("User-Agent") == "" {
		h.Set("User-Agent", extensionName+"/"+version+" grpc-go-compatible")
	}

	resp, err := c.Do(req)
	if err != nil {
		return sendResult{err: fmt.Errorf("grpc export %s: %w", sig, err), retryable: true}
	}
	defer resp.Body.Close()
	if resp.ProtoMajor != 2 {
		return sendResult{status: grpcUnknown, err: fmt.Errorf("grpc export %s: %s answered over %s; gRPC needs HTTP/2 (check the endpoint's scheme and port)", sig, endpoint, resp.Proto)}
	}
	if resp.StatusCode != http.StatusOK {
		// A proxy answered (otlp.md 4.4, client-side mapping).
		snippet, _ := io.ReadAll(io.LimitReader(resp.Body, grpcMaxHTTPErrorSnippet))
		code := grpcCodeForHTTP(resp.StatusCode)
		res := sendResult{status: code, retryable: grpcRetryable(code, false),
			message: fmt.Sprintf("HTTP %d without grpc-status: %s", resp.StatusCode, bytes.TrimSpace(snippet))}
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
			res.retryAfter = time.Duration(s) * time.Second
		}
		return res
	}
	if ct := resp.Header.Get("Content-Type"); !isGRPCContentType(ct) {
		return sendResult{status: grpcUnknown, message: fmt.Sprintf("response content-type %q; want application/grpc", ct)}
	}

	md := resp.Header // Trailers-Only: the status is in the headers
	var data []byte
	if md.Get("Grpc-Status") == "" {
		data, err = io.ReadAll(io.LimitReader(resp.Body, grpcMaxResponse+1))
		if err != nil {
			return sendResult{err: fmt.Errorf("grpc export %s: read response: %w", sig, err), retryable: true}
		}
		if len(data) > grpcMaxResponse {
			return sendResult{status: grpcResourceExhausted, message: fmt.Sprintf("response over %d bytes", grpcMaxResponse)}
		}
		md = resp.Trailer
	}
	st := md.Get("Grpc-Status")
	if st == "" {
		return sendResult{status: grpcInternal, message: "response without grpc-status"}
	}
	code, err := strconv.Atoi(st)
	if err != nil || code < 0 || code > math.MaxInt32 {
		return sendResult{status: grpcInternal, message: fmt.Sprintf("malformed grpc-status %q", st)}
	}
	res := sendResult{status: code, message: grpcDecodeMessage(md.Get("Grpc-Message"))}
	var retryInfo bool
	if d := md.Get("Grpc-Status-Details-Bin"); d != "" {
		if raw, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(d, "=")); err == nil {
			if s, err := parseRPCStatus(raw); err == nil {
				retryInfo, res.retryAfter = s.hasRetryInfo, s.retryDelay
				if res.message == "" {
					res.message = s.message
				}
			}
		}
	}
	res.retryable = grpcRetryable(code, retryInfo)
	if code == grpcOK && len(data) > 0 {
		// The data was accepted whatever the response says; a response we
		// cannot read only costs the partial_success details.
		if err := readExportResponse(&res, data, resp.Header.Get("Grpc-Encoding")); err != nil {
			res.message = "unreadable Export response: " + err.Error()
		}
	}
	return res
}

// readExportResponse decodes the length-prefixed Export*ServiceResponse in
// data into res.rejected and res.message.
func readExportResponse(res *sendResult, data []byte, encoding string) error {
	if len(data) < grpcHeaderLen {
		return fmt.Errorf("truncated message header of %d bytes", len(data))
	}
	n := binary.BigEndian.Uint32(data[1:grpcHeaderLen])
	msg := data[grpcHeaderLen:]
	if uint64(n) != uint64(len(msg)) {
		return fmt.Errorf("message length %d, but %d bytes follow", n, len(msg))
	}
	if data[0] != 0 {
		if encoding != "gzip" {
			return fmt.Errorf("compressed flag %d with grpc-encoding %q", data[0], encoding)
		}
		var err error
		if msg, err = gunzipLimit(nil, msg, grpcMaxResponse); err != nil {
			return err
		}
	}
	// Export*ServiceResponse{1: partial_success{1: rejected, 2: error_message}}
	// (otlp.md 7.a); the three signals share the layout.
	return walkFields(msg, func(num wireNumber, typ wireType, v []byte, u uint64) error {
		if num != 1 || typ != wireBytesType {
			return nil
		}
		return walkFields(v, func(num wireNumber, typ wireType, v []byte, u uint64) error {
			switch {
			case num == 1 && typ == wireVarintType:
				res.rejected = int64(u)
			case num == 2 && typ == wireBytesType:
				res.message = string(v)
			}
			return nil
		})
	})
}

// walkFields calls f for each field of the protobuf message b, with the
// bytes of length-delimited fields or the value of varints, and skips groups
// and fixed-width fields. It fails on malformed input.
func walkFields(b []byte, f func(num wireNumber, typ wireType, v []byte, u uint64) error) error {
	for len(b) > 0 {
		num, typ, n := wireConsumeTag(b)
		if n < 0 {
			return wireParseError(n)
		}
		b = b[n:]
		var v []byte
		var u uint64
		switch typ {
		case wireVarintType:
			u, n = wireConsumeVarint(b)
		case wireBytesType:
			v, n = wireConsumeBytes(b)
		default:
			n = wireConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return wireParseError(n)
		}
		b = b[n:]
		if err := f(num, typ, v, u); err != nil {
			return err
		}
	}
	return nil
}

// grpcCodeForHTTP maps the HTTP status of a response without grpc-status
// (a proxy's answer) to a gRPC code, as gRPC clients do (otlp.md 4.4).
func grpcCodeForHTTP(status int) int {
	switch status {
	case http.StatusBadRequest, http.StatusRequestHeaderFieldsTooLarge:
		return grpcInternal
	case http.StatusUnauthorized:
		return grpcUnauthenticated
	case http.StatusForbidden:
		return grpcPermissionDenied
	case http.StatusNotFound:
		return grpcUnimplemented
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return grpcUnavailable
	}
	return grpcUnknown
}

// grpcRetryable says whether an OTLP client may retry after code; retryInfo
// says the status carried a RetryInfo detail (otlp.md 4.4).
func grpcRetryable(code int, retryInfo bool) bool {
	switch code {
	case grpcCanceled, grpcDeadlineExceeded, grpcAborted, grpcOutOfRange, grpcUnavailable, grpcDataLoss:
		return true
	case grpcResourceExhausted:
		return retryInfo
	}
	return false
}

// grpcEncodeMessage percent-encodes s for grpc-message: bytes outside
// 0x20–0x7E, and '%', become %XX (otlp.md 4.3). s is first cut to
// grpcMaxMessageLen bytes, at a rune boundary.
func grpcEncodeMessage(s string) string {
	if len(s) > grpcMaxMessageLen {
		i := grpcMaxMessageLen
		for i > 0 && !utf8.RuneStart(s[i]) {
			i--
		}
		s = s[:i]
	}
	const hex = "0123456789ABCDEF"
	var b []byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c <= 0x7E && c != '%' {
			if b != nil {
				b = append(b, c)
			}
			continue
		}
		if b == nil {
			b = append(make([]byte, 0, len(s)+16), s[:i]...)
		}
		b = append(b, '%', hex[c>>4], hex[c&0xF])
	}
	if b == nil {
		return s
	}
	return string(b)
}

// grpcDecodeMessage undoes grpcEncodeMessage. It never fails: a '%' not
// followed by two hex digits is kept as it is.
func grpcDecodeMessage(s string) string {
	if strings.IndexByte(s, '%') < 0 {
		return s
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) {
			hi, ok1 := unhex(s[i+1])
			lo, ok2 := unhex(s[i+2])
			if ok1 && ok2 {
				b = append(b, hi<<4|lo)
				i += 2
				continue
			}
		}
		b = append(b, s[i])
	}
	return string(b)
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// grpcTimeoutUnits are the grpc-timeout units, finest first (otlp.md 4.2).
var grpcTimeoutUnits = [...]struct {
	unit byte
	d    time.Duration
}{{'n', time.Nanosecond}, {'u', time.Microsecond}, {'m', time.Millisecond}, {'S', time.Second}, {'M', time.Minute}, {'H', time.Hour}}

// grpcMaxTimeoutValue is the largest grpc-timeout value: at most 8 digits.
const grpcMaxTimeoutValue = 99999999

// formatGRPCTimeout formats d as a grpc-timeout value in the finest unit
// that fits 8 digits, rounding up so a timeout never shrinks to zero, as
// grpc-go does. d ≤ 0 gives "0n".
func formatGRPCTimeout(d time.Duration) string {
	if d <= 0 {
		return "0n"
	}
	for _, u := range grpcTimeoutUnits {
		v := d / u.d
		if d%u.d != 0 {
			v++
		}
		if v <= grpcMaxTimeoutValue {
			return strconv.FormatInt(int64(v), 10) + string(u.unit)
		}
	}
	return strconv.Itoa(grpcMaxTimeoutValue) + "H" // unreachable: Duration is under 2.6e6 hours
}

// parseGRPCTimeout parses a grpc-timeout value: 1 to 8 digits and a unit.
// Values beyond what a Duration holds become the largest Duration.
func parseGRPCTimeout(s string) (time.Duration, bool) {
	if len(s) < 2 || len(s) > 9 {
		return 0, false
	}
	var v int64
	for _, c := range []byte(s[:len(s)-1]) {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int64(c-'0')
	}
	for _, u := range grpcTimeoutUnits {
		if u.unit == s[len(s)-1] {
			if v > int64(math.MaxInt64/u.d) {
				return math.MaxInt64, true
			}
			return time.Duration(v) * u.d, true
		}
	}
	return 0, false
}

// rpcStatus is the part of google.rpc.Status the extension uses: code,
// message, and a google.rpc.RetryInfo detail (otlp.md 4.5).
type rpcStatus struct {
	code         int32
	message      string
	hasRetryInfo bool
	retryDelay   time.Duration
}

// appendRPCStatus appends the google.rpc.Status serialization of s; the
// RetryInfo detail is written when s.hasRetryInfo.
func appendRPCStatus(b []byte, s rpcStatus) []byte {
	b = appendVarint(b, 1, uint64(int64(s.code)))
	b = appendString(b, 2, s.message)
	if s.hasRetryInfo {
		var det, ri, dur int
		b, det = openLen(b, 3) // details: google.protobuf.Any
		b = appendString(b, 1, grpcRetryInfoType)
		b, ri = openLen(b, 2) // value: google.rpc.RetryInfo
		b, dur = openLen(b, 1)
		b = appendVarint(b, 1, uint64(int64(s.retryDelay/time.Second)))
		b = appendVarint(b, 2, uint64(int64(s.retryDelay%time.Second)))
		b = closeLen(b, dur)
		b = closeLen(b, ri)
		b = closeLen(b, det)
	}
	return b
}

// parseRPCStatus decodes a serialized google.rpc.Status. Details other than
// RetryInfo are skipped; a negative retry delay becomes 0.
func parseRPCStatus(b []byte) (rpcStatus, error) {
	var s rpcStatus
	err := walkFields(b, func(num wireNumber, typ wireType, v []byte, u uint64) error {
		switch {
		case num == 1 && typ == wireVarintType:
			s.code = int32(u)
		case num == 2 && typ == wireBytesType:
			s.message = string(v)
		case num == 3 && typ == wireBytesType:
			var typeURL string
			var value []byte
			if err := walkFields(v, func(num wireNumber, typ wireType, v []byte, _ uint64) error {
				if typ == wireBytesType && num == 1 {
					typeURL = string(v)
				} else if typ == wireBytesType && num == 2 {
					value = v
				}
				return nil
			}); err != nil {
				return err
			}
			if typeURL != grpcRetryInfoType {
				return nil
			}
			s.hasRetryInfo = true
			return walkFields(value, func(num wireNumber, typ wireType, v []byte, _ uint64) error {
				if num != 1 || typ != wireBytesType {
					return nil
				}
				var sec, nanos int64
				err := walkFields(v, func(num wireNumber, typ wireType, _ []byte, u uint64) error {
					if num == 1 && typ == wireVarintType {
						sec = int64(u)
					} else if num == 2 && typ == wireVarintType {
						nanos = int64(int32(u))
					}
					return nil
				})
				s.retryDelay = durationOf(sec, nanos)
				return err
			})
		}
		return nil
	})
	if err != nil {
		return rpcStatus{}, fmt.Errorf("parse google.rpc.Status: %w", err)
	}
	return s, nil
}

// durationOf converts a google.protobuf.Duration, clamping negatives to 0
// and overflows to the largest Duration.
func durationOf(sec, nanos int64) time.Duration {
	if sec < 0 || (sec == 0 && nanos < 0) {
		return 0
	}
	if sec > int64(math.MaxInt64/time.Second)-1 {
		return math.MaxInt64
	}
	d := time.Duration(sec)*time.Second + time.Duration(nanos)
	if d < 0 {
		return 0
	}
	return d
}
