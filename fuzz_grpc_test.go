package main

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

// FuzzGRPCFrame sends arbitrary request bodies through the gRPC handler. It
// must never panic, must always answer HTTP 200 with a grpc-status, and must
// hand ingest exactly the message a well-formed frame carries, decoded here
// independently of the handler.
func FuzzGRPCFrame(f *testing.F) {
	const limit = 4096
	f.Add(grpcFrame(0, tracesPayload(f)), false)
	f.Add(grpcFrame(1, gzipBytes(f, tracesPayload(f))), true)
	f.Add(grpcFrame(0, nil), false)
	f.Add(grpcFrame(0, []byte("bad")), false)
	f.Add(grpcFrame(1, []byte("x")), false)
	f.Add(append(grpcFrame(0, []byte("a")), grpcFrame(0, []byte("b"))...), false)
	f.Add([]byte{0, 0xff, 0xff, 0xff, 0xff}, false)
	f.Add([]byte{0, 0, 0}, true)
	f.Fuzz(func(t *testing.T, body []byte, gz bool) {
		ing := &fakeIngest{}
		h := newGRPCHandler(ing.ingest, limit, nil)
		req := httptest.NewRequest(http.MethodPost, sigLogs.grpcPath(), bytes.NewReader(body))
		req.Proto, req.ProtoMajor, req.ProtoMinor = "HTTP/2.0", 2, 0
		req.Header.Set("Content-Type", "application/grpc")
		if gz {
			req.Header.Set("Grpc-Encoding", "gzip")
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		resp := rec.Result()
		st := resp.Trailer.Get("Grpc-Status")
		code, err := strconv.Atoi(st)
		if resp.StatusCode != 200 || err != nil || code < 0 || code > 16 {
			t.Fatalf("got HTTP %d grpc-status %q; want 200 and a code 0..16", resp.StatusCode, st)
		}
		if msg := resp.Trailer.Get("Grpc-Message"); strings.ContainsFunc(msg, func(r rune) bool { return r < 0x20 || r > 0x7e }) {
			t.Fatalf("grpc-message %q is not percent-encoded", msg)
		}

		// The oracle: what a correct handler ingests, if anything.
		var want []byte
		valid := len(body) >= 5 && uint64(binary.BigEndian.Uint32(body[1:5])) == uint64(len(body)-5) && len(body)-5 <= limit
		if valid {
			switch body[0] {
			case 0:
				want = body[5:]
			case 1:
				if gz {
					want = gunzipOracle(body[5:], limit)
				}
			}
			valid = want != nil
		}
		calls := ing.got()
		if !valid {
			if len(calls) != 0 || code == 0 {
				t.Fatalf("invalid frame: got %d ingest calls, grpc-status %d; want none and an error", len(calls), code)
			}
			return
		}
		if len(calls) != 1 || calls[0].sig != sigLogs || !bytes.Equal(calls[0].pb, want) {
			t.Fatalf("valid frame: ingest got %d calls; want one with %x", len(calls), want)
		}
		wantCode := 0
		switch {
		case bytes.HasPrefix(want, []byte("bad")):
			wantCode = grpcInvalidArgument
		case bytes.HasPrefix(want, []byte("big")):
			wantCode = grpcResourceExhausted
		case bytes.HasPrefix(want, []byte("down")):
			wantCode = grpcUnavailable
		}
		if code != wantCode {
			t.Fatalf("got grpc-status %d; want %d", code, wantCode)
		}
		if wantCode == 0 && !bytes.Equal(rec.Body.Bytes(), emptyResponse) {
			t.Fatalf("got body %x; want the empty response", rec.Body.Bytes())
		}
	})
}

// gunzipOracle decompresses src, or returns nil when it is not gzip or
// inflates beyond limit.
func gunzipOracle(src []byte, limit int64) []byte {
	zr, err := gzip.NewReader(bytes.NewReader(src))
	if err != nil {
		return nil
	}
	out, err := io.ReadAll(io.LimitReader(zr, limit+1))
	if err != nil || int64(len(out)) > limit {
		return nil
	}
	return append([]byte{}, out...) // non-nil even when empty
}

// FuzzGRPCMessage checks the grpc-message encoding: the output is printable
// ASCII and decodes back to the (length-capped) input; decoding anything
// never panics.
func FuzzGRPCMessage(f *testing.F) {
	f.Add("100% café\n")
	f.Add("%zz%4")
	f.Fuzz(func(t *testing.T, s string) {
		enc := grpcEncodeMessage(s)
		for i := 0; i < len(enc); i++ {
			if enc[i] < 0x20 || enc[i] > 0x7e {
				t.Fatalf("grpcEncodeMessage(%q) = %q has byte %#x", s, enc, enc[i])
			}
		}
		dec := grpcDecodeMessage(enc)
		if len(s) <= grpcMaxMessageLen && dec != s {
			t.Fatalf("round trip of %q gave %q", s, dec)
		}
		if !strings.HasPrefix(s, dec) {
			t.Fatalf("round trip of %q gave %q, not a prefix", s, dec)
		}
		grpcDecodeMessage(s)
	})
}

// FuzzRPCStatus parses arbitrary bytes as google.rpc.Status without
// panicking, and what it accepts re-encodes to something that parses the
// same.
func FuzzRPCStatus(f *testing.F) {
	f.Add(appendRPCStatus(nil, rpcStatus{code: 14, message: "busy", hasRetryInfo: true, retryDelay: 2 * time.Second}))
	f.Add([]byte{0x1a, 0x02, 0x0a, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := parseRPCStatus(b)
		if err != nil {
			return
		}
		if s.retryDelay < 0 {
			t.Fatalf("negative retry delay %v", s.retryDelay)
		}
		again, err := parseRPCStatus(appendRPCStatus(nil, s))
		if err != nil || again != s {
			t.Fatalf("re-encoded %+v parsed as %+v, %v", s, again, err)
		}
	})
}
