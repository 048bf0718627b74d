// receiver.go owns the OTLP receivers on loopback: OTLP/HTTP (protobuf and
// JSON, gzip) and, through grpc.go, OTLP/gRPC. A request is answered as soon
// as its payload is validated, enriched and queued; it never waits for an
// export.
package main

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
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
// is refused rather than inflated. dst grows to at most limit+1 bytes more
// than it held, however much the stream claims or holds.
func gunzipLimit(dst []byte, src []byte, limit int64) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(src))
	if err != nil {
		return dst, fmt.Errorf("%w: gzip: %v", errBadData, err)
	}
	return inflateLimit(dst, zr, src, limit)
}

// inflateMinGrow is the first allocation when the stream gives no size
// hint (or a wrong one): small requests stay small.
const inflateMinGrow = 64 << 10

// inflateGrowth is how much the output grows each time it is full. Four
// rather than two: what outgrew the trailer's hint is multi-member or a
// bomb, and quadrupling allocates 4/3 of the final size in all (doubling:
// twice), with the old and new buffers live together at 5/4 of it.
const inflateGrowth = 4

// inflateLimit appends what zr, reading the gzip stream src, decompresses
// to dst; see gunzipLimit. The room it allocates is capped at limit+1 bytes
// beyond len(dst) (one more than allowed, to see that the stream is too
// long), so a bomb costs about that (4/3 of it in all, see
// inflateGrowth), and its first guess is the size the gzip trailer states
// (ISIZE: the last member's size modulo 2^32), which is exact for what SDKs
// send.
func inflateLimit(dst []byte, zr io.Reader, src []byte, limit int64) ([]byte, error) {
	room := int(min(limit, int64(maxInt-len(dst)-1))) + 1
	end := len(dst) + room // dst never grows past this
	if len(src) >= 18 {    // a gzip header (10) and trailer (8)
		hint := int64(binary.LittleEndian.Uint32(src[len(src)-4:]))
		dst = growTo(dst, int(min(int64(len(dst))+hint+1, int64(end))))
	}
	for {
		if len(dst) == cap(dst) {
			if len(dst) >= end {
				return dst, fmt.Errorf("%w: more than %d bytes after gzip decompression", errTooLarge, limit)
			}
			dst = growTo(dst, min(max(inflateGrowth*cap(dst), len(dst)+inflateMinGrow), end))
		}
		n, err := zr.Read(dst[len(dst):cap(dst)])
		dst = dst[:len(dst)+n]
		if len(dst) >= end {
			return dst, fmt.Errorf("%w: more than %d bytes after gzip decompression", errTooLarge, limit)
		}
		if err == io.EOF {
			return dst, nil
		}
		if err != nil {
			return dst, fmt.Errorf("%w: gzip: %v", errBadData, err)
		}
	}
}

// maxInt is the largest int; slice lengths stay below it.
const maxInt = int(^uint(0) >> 1)

// growTo returns dst with a capacity of at least c, exactly c when it has
// to allocate (append's growth could overshoot a limit by a quarter).
func growTo(dst []byte, c int) []byte {
	if cap(dst) >= c {
		return dst
	}
	b := make([]byte, len(dst), c)
	copy(b, dst)
	return b
}

// inflater is a gzip reader with its source, reused across requests: a
// fresh one allocates about 45 KB (the 32 KiB window and the Huffman
// tables) per request.
type inflater struct {
	src bytes.Reader
	zr  gzip.Reader // the zero value is ready for Reset
}

// gunzip is gunzipLimit with the receiver's body limit and a pooled reader.
func (rc *receiver) gunzip(dst, src []byte) ([]byte, error) {
	in, _ := rc.inflaters.Get().(*inflater)
	if in == nil {
		in = new(inflater)
	}
	defer func() {
		in.src.Reset(nil) // don't keep the body alive in the pool
		rc.inflaters.Put(in)
	}()
	in.src.Reset(src)
	if err := in.zr.Reset(&in.src); err != nil {
		return dst, fmt.Errorf("%w: gzip: %v", errBadData, err)
	}
	return inflateLimit(dst, &in.zr, src, rc.maxBody)
}

// receiver is the OTLP/HTTP endpoint on loopback. Its handlers run on
// net/http's goroutines; the ring they push to is safe for concurrent use.
type receiver struct {
	maxBody int64
	// enrich is replaced whole when the resource learns a late value (the
	// account id, the wrapper's log names); a request uses the one it
	// loaded.
	enrich atomic.Pointer[enricher]
	push   func(sig signal, n, items int, fill func(dst []byte) []byte) // ring.pushFill
	lg     *logger
	// beforeFirst, when set, runs once before the first request is
	// enriched (the extension's learnResource: the wrapper's log names).
	beforeFirst func()
	first       sync.Once
	// Reused across requests: *[]byte scratch for bodies and chunks, and
	// *inflater. Nothing a request leaves behind is garbage.
	bufs      sync.Pool
	inflaters sync.Pool
}

func newReceiver(maxBody int64, en *enricher, push func(sig signal, n, items int, fill func(dst []byte) []byte), lg *logger) *receiver {
	rc := &receiver{maxBody: maxBody, push: push, lg: lg}
	rc.enrich.Store(en)
	return rc
}

// ingest validates a protobuf Export*ServiceRequest, adds the Lambda
// resource attributes it lacks and queues it. It is shared by the HTTP and
// gRPC receivers. pb is not retained, so the caller may reuse it: the
// enriched request is written once, straight into the ring's buffer
// (enrichedMax bounds its size up front).
func (rc *receiver) ingest(sig signal, pb []byte) error {
	items, err := validateRequest(sig, pb)
	if err != nil {
		return err
	}
	if items == 0 && len(pb) == 0 {
		return nil // an empty request is a success with nothing to queue
	}
	if rc.beforeFirst != nil {
		rc.first.Do(rc.beforeFirst)
	}
	en := rc.enrich.Load()
	rc.push(sig, enrichedMax(en, pb), items, func(dst []byte) []byte {
		return en.enrich(dst, sig, pb)
	})
	return nil
}

// enrichedMax bounds the size of pb once en has enriched it, so that the
// scratch buffer is allocated once, at about the right size (growing by
// append would leave it up to twice that). Each ResourceX (a top-level
// record) gains at most every attribute, its resource's header and a
// longer length prefix.
func enrichedMax(en *enricher, pb []byte) int {
	perRX := 12 // the resource's tag and length, and two length prefixes growing
	for _, a := range en.attrs {
		perRX += 1 + wireSizeBytes(len(a.kv))
	}
	n := len(pb)
	for p := pb; len(p) > 0; {
		num, typ, k := wireConsumeTag(p)
		if k < 0 {
			break
		}
		m := wireConsumeFieldValue(num, typ, p[k:])
		if m < 0 {
			break
		}
		if num == 1 {
			n += perRX
		}
		p = p[k+m:]
	}
	return n
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
	defer rc.putScratch(bp)
	if n := r.ContentLength; n > 0 && n <= rc.maxBody {
		// One allocation of the announced size (and a byte to see EOF)
		// instead of growing step by step while reading.
		*bp = growTo((*bp)[:0], int(n)+1)
	}
	body, err := readBody((*bp)[:0], http.MaxBytesReader(w, r.Body, rc.maxBody), rc.maxBody)
	*bp = body
	if err != nil {
		writeError(w, isJSON, err)
		return
	}
	if enc == "gzip" {
		zp := rc.scratch()
		defer rc.putScratch(zp)
		body, err = rc.gunzip((*zp)[:0], body)
		*zp = body
		if err != nil {
			writeError(w, isJSON, err)
			return
		}
	}
	if isJSON {
		jp := rc.scratch()
		defer rc.putScratch(jp)
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

// scratch returns a pooled buffer for a body, its decompression, its
// transcoding or its enriched chunk; give it back with putScratch.
func (rc *receiver) scratch() *[]byte {
	if p, ok := rc.bufs.Get().(*[]byte); ok {
		return p
	}
	b := make([]byte, 0, 64<<10)
	return &b
}

// putScratch returns p to the pool, without its buffer when that grew past
// maxPooledBuf.
func (rc *receiver) putScratch(p *[]byte) {
	if cap(*p) > maxPooledBuf {
		*p = nil
	}
	rc.bufs.Put(p)
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
