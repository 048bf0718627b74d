// receiver.go owns the OTLP receivers on loopback: OTLP/HTTP (protobuf and
// JSON, gzip) and, through grpc.go, OTLP/gRPC. A request is answered as soon
// as its payload is validated, enriched and queued; it never waits for an
// export.
package main

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"sync"
)

// Errors of ingest that decide the answer a client gets.
var (
	// errBadData: the payload cannot be decoded or is invalid (HTTP 400,
	// gRPC InvalidArgument). The wrapped message says why.
	errBadData = errors.New("bad data")
	// errTooLarge: the wire or decompressed body is over the limit (HTTP
	// 413, gRPC ResourceExhausted).
	errTooLarge = errors.New("payload too large")
)

// gunzipLimit appends to dst the decompression of the gzip stream src, and
// fails with errTooLarge once more than limit bytes come out, so a gzip bomb
// is refused rather than inflated.
func gunzipLimit(dst []byte, src []byte, limit int64) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(src))
	if err != nil {
		return dst, fmt.Errorf("%w: gzip: %v", errBadData, err)
	}
	buf := bytes.NewBuffer(dst)
	n, err := io.Copy(buf, io.LimitReader(zr, limit+1))
	if err != nil {
		return buf.Bytes(), fmt.Errorf("%w: gzip: %v", errBadData, err)
	}
	if n > limit {
		return buf.Bytes(), fmt.Errorf("%w: more than %d bytes after gzip decompression", errTooLarge, limit)
	}
	return buf.Bytes(), nil
}

// receiver is the OTLP/HTTP endpoint on loopback. Its handlers run on
// net/http's goroutines; the ring they push to is safe for concurrent use.
type receiver struct {
	maxBody int64
	enrich  *enricher
	push    func(sig signal, chunk []byte, items int)
	lg      *logger
	bufs    sync.Pool // *[]byte scratch for wire bodies, reused across requests
}

func newReceiver(maxBody int64, en *enricher, push func(sig signal, chunk []byte, items int), lg *logger) *receiver {
	return &receiver{maxBody: maxBody, enrich: en, push: push, lg: lg}
}

// ingest validates a protobuf Export*ServiceRequest, adds the Lambda
// resource attributes it lacks and queues it. It is shared by the HTTP and
// gRPC receivers. pb is not retained: the queued chunk is a fresh copy,
// sized exactly, so the caller may reuse pb.
func (rc *receiver) ingest(sig signal, pb []byte) error {
	items, err := validateRequest(sig, pb)
	if err != nil {
		return err
	}
	if items == 0 && len(pb) == 0 {
		return nil // an empty request is a success with nothing to queue
	}
	chunk := rc.enrich.enrich(make([]byte, 0, len(pb)+256), sig, pb)
	rc.push(sig, chunk, items)
	return nil
}

// Media types of OTLP/HTTP.
const (
	ctProtobuf = "application/x-protobuf"
	ctJSON     = "application/json"
)

func (rc *receiver) routes() *http.ServeMux {
	mux := http.NewServeMux()
	for s := range numSignals {
		mux.HandleFunc(s.urlPath(), func(w http.ResponseWriter, r *http.Request) { rc.serveSignal(w, r, s) })
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeStatus(w, http.StatusNotFound, false, "unknown path "+r.URL.Path+": OTLP/HTTP serves POST /v1/traces, /v1/metrics and /v1/logs")
	})
	return mux
}

func (rc *receiver) serveSignal(w http.ResponseWriter, r *http.Request, sig signal) {
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	isJSON := ct == ctJSON
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeStatus(w, http.StatusMethodNotAllowed, isJSON, "method "+r.Method+" not allowed: use POST")
		return
	}
	if !isJSON && ct != ctProtobuf && ct != "application/protobuf" {
		writeStatus(w, http.StatusUnsupportedMediaType, false,
			fmt.Sprintf("unsupported content type %q: use %s or %s", r.Header.Get("Content-Type"), ctProtobuf, ctJSON))
		return
	}
	enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding")))
	if enc != "" && enc != "gzip" && enc != "identity" {
		writeStatus(w, http.StatusUnsupportedMediaType, isJSON, fmt.Sprintf("unsupported content encoding %q: use gzip or none", enc))
		return
	}

	bp := rc.scratch()
	defer rc.bufs.Put(bp)
	body, err := readBody((*bp)[:0], http.MaxBytesReader(w, r.Body, rc.maxBody), rc.maxBody)
	*bp = body
	if err != nil {
		writeError(w, isJSON, err)
		return
	}
	if enc == "gzip" {
		zp := rc.scratch()
		defer rc.bufs.Put(zp)
		body, err = gunzipLimit((*zp)[:0], body, rc.maxBody)
		*zp = body
		if err != nil {
			writeError(w, isJSON, err)
			return
		}
	}
	if isJSON {
		jp := rc.scratch()
		defer rc.bufs.Put(jp)
		body, err = jsonToProto(sig, (*jp)[:0], body)
		*jp = body
		if err != nil {
			writeError(w, isJSON, err)
			return
		}
	}
	if err := rc.ingest(sig, body); err != nil {
		writeError(w, isJSON, err)
		return
	}
	// Full success: an Export*ServiceResponse with partial_success unset,
	// which is an empty message in both encodings.
	if isJSON {
		w.Header().Set("Content-Type", ctJSON)
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, "{}")
		return
	}
	w.Header().Set("Content-Type", ctProtobuf)
	w.WriteHeader(http.StatusOK)
}

// maxPooledBuf keeps one huge request from pinning its buffer forever.
const maxPooledBuf = 4 << 20

func (rc *receiver) scratch() *[]byte {
	if p, ok := rc.bufs.Get().(*[]byte); ok {
		if cap(*p) > maxPooledBuf {
			*p = nil
		}
		return p
	}
	b := make([]byte, 0, 64<<10)
	return &b
}

// readBody appends all of r to dst. Bodies may come without Content-Length
// (the Node.js SDK sends them chunked), so it grows as it reads.
func readBody(dst []byte, r io.Reader, limit int64) ([]byte, error) {
	for {
		if len(dst) == cap(dst) {
			dst = append(dst, 0)[:len(dst)]
		}
		n, err := r.Read(dst[len(dst):cap(dst)])
		dst = dst[:len(dst)+n]
		if err == io.EOF {
			return dst, nil
		}
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return dst, fmt.Errorf("%w: request body over %d bytes", errTooLarge, limit)
			}
			return dst, fmt.Errorf("%w: reading body: %v", errBadData, err)
		}
	}
}

// writeError answers an ingest error with the OTLP status code for it.
func writeError(w http.ResponseWriter, isJSON bool, err error) {
	code := http.StatusInternalServerError
	switch {
	case errors.Is(err, errTooLarge):
		code = http.StatusRequestEntityTooLarge
	case errors.Is(err, errBadData):
		code = http.StatusBadRequest
	}
	writeStatus(w, code, isJSON, err.Error())
}

// writeStatus answers with a google.rpc.Status whose message is msg, in the
// request's encoding, as OTLP/HTTP requires for every 4xx and 5xx.
func writeStatus(w http.ResponseWriter, code int, isJSON bool, msg string) {
	if isJSON {
		w.Header().Set("Content-Type", ctJSON)
		w.WriteHeader(code)
		b := appendJSONQuote([]byte(`{"message":`), msg)
		w.Write(append(b, '}'))
		return
	}
	w.Header().Set("Content-Type", ctProtobuf)
	w.WriteHeader(code)
	w.Write(appendString(nil, 2, msg)) // google.rpc.Status.message = 2
}
