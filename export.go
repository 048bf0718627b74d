// export.go owns the exporters: OTLP/HTTP (protobuf or JSON), OTLP/gRPC
// through grpc.go, and OpenObserve; compression, retries with backoff, and
// partial success.
package main

import (
	"bytes"
	"compress/gzip"
	"sync"
	"time"
)

// sendResult is what one attempt to send one batch learned.
type sendResult struct {
	status     int           // HTTP status, or the grpc-status code for gRPC
	retryable  bool          // the OTLP spec says this attempt may be retried
	retryAfter time.Duration // the server's hint (Retry-After, RetryInfo); 0 if none
	rejected   int64         // partial_success rejected count
	message    string        // partial_success error_message, or the start of an error body
	err        error         // transport or protocol error, nil on an answer
}

// gzipLevel is the compression level for exports; see BENCHMARKS.md for the
// bytes-versus-CPU measurement behind it.
const gzipLevel = gzip.BestSpeed

var gzipWriters = sync.Pool{New: func() any {
	w, _ := gzip.NewWriterLevel(nil, gzipLevel)
	return w
}}

// appendGzip appends the gzip compression of src to dst.
func appendGzip(dst, src []byte) []byte {
	buf := bytes.NewBuffer(dst)
	w := gzipWriters.Get().(*gzip.Writer)
	w.Reset(buf)
	w.Write(src) // a bytes.Buffer never fails; Close reports the rest
	w.Close()
	gzipWriters.Put(w)
	return buf.Bytes()
}
