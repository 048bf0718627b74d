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
