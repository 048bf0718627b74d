// otlp.go owns the protobuf wire format of OTLP, on protowire only:
// the signal enumeration, append-style encoders used to build OTLP messages,
// the validating walk of Export*ServiceRequest bodies, and resource
// enrichment. See ../shared/docs/otlp.md sections 6 and 7 for the field
// numbers. Nothing here decodes into structs: bytes in, bytes out.
package main

import (
	"errors"
	"math"

	"google.golang.org/protobuf/encoding/protowire"
)

// signal is one of the three OTLP signals.
type signal uint8

const (
	sigTraces signal = iota
	sigMetrics
	sigLogs
	numSignals
)

var signalNames = [numSignals]string{"traces", "metrics", "logs"}

func (s signal) String() string {
	if s < numSignals {
		return signalNames[s]
	}
	return "unknown"
}

// urlPath is the OTLP/HTTP default path of the signal.
func (s signal) urlPath() string { return "/v1/" + s.String() }

// openLen appends the tag of a length-delimited field number num and one
// placeholder byte for its length, and returns the offset where the content
// starts. Append the content, then call closeLen with that offset. Nesting
// is allowed: close the inner field before the outer one.
func openLen(b []byte, num protowire.Number) ([]byte, int) {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	b = append(b, 0)
	return b, len(b)
}

// closeLen writes the length of the content that follows start, moving the
// content right when the length needs more than one varint byte.
func closeLen(b []byte, start int) []byte {
	n := len(b) - start
	if n < 0x80 {
		b[start-1] = byte(n)
		return b
	}
	extra := protowire.SizeVarint(uint64(n)) - 1
	for i := 0; i < extra; i++ {
		b = append(b, 0)
	}
	copy(b[start+extra:], b[start:start+n])
	protowire.AppendVarint(b[:start-1], uint64(n))
	return b
}

// appendString appends a string field; empty strings are skipped (proto3).
func appendString(b []byte, num protowire.Number, s string) []byte {
	if s == "" {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, s)
}

// appendBytes appends a bytes field; empty values are skipped (proto3).
func appendBytes(b []byte, num protowire.Number, v []byte) []byte {
	if len(v) == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, v)
}

// appendVarint appends a varint field; zero is skipped (proto3).
func appendVarint(b []byte, num protowire.Number, v uint64) []byte {
	if v == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, v)
}

// appendFixed64 appends a fixed64 field; zero is skipped (proto3).
func appendFixed64(b []byte, num protowire.Number, v uint64) []byte {
	if v == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.Fixed64Type)
	return protowire.AppendFixed64(b, v)
}

// appendDouble appends a double field, always (used for optional fields and
// oneof members, where presence matters).
func appendDouble(b []byte, num protowire.Number, v float64) []byte {
	b = protowire.AppendTag(b, num, protowire.Fixed64Type)
	return protowire.AppendFixed64(b, math.Float64bits(v))
}

// AnyValue field numbers (common.v1.AnyValue).
const (
	anyString protowire.Number = 1
	anyBool   protowire.Number = 2
	anyInt    protowire.Number = 3
	anyDouble protowire.Number = 4
	anyArray  protowire.Number = 5
	anyKVList protowire.Number = 6
	anyBytes  protowire.Number = 7
)

// appendKVString appends, as field num of the enclosing message, a KeyValue
// whose value is a string. The value field is always written, even when empty,
// so the attribute keeps its type.
func appendKVString(b []byte, num protowire.Number, key, val string) []byte {
	b, kv := openLen(b, num)
	b = appendString(b, 1, key)
	b, v := openLen(b, 2)
	b = protowire.AppendTag(b, anyString, protowire.BytesType)
	b = protowire.AppendString(b, val)
	b = closeLen(b, v)
	return closeLen(b, kv)
}

// appendKVInt appends a KeyValue with an int64 value as field num.
func appendKVInt(b []byte, num protowire.Number, key string, val int64) []byte {
	b, kv := openLen(b, num)
	b = appendString(b, 1, key)
	b, v := openLen(b, 2)
	b = protowire.AppendTag(b, anyInt, protowire.VarintType)
	b = protowire.AppendVarint(b, uint64(val))
	b = closeLen(b, v)
	return closeLen(b, kv)
}

// appendKVBool appends a KeyValue with a bool value as field num.
func appendKVBool(b []byte, num protowire.Number, key string, val bool) []byte {
	b, kv := openLen(b, num)
	b = appendString(b, 1, key)
	b, v := openLen(b, 2)
	b = protowire.AppendTag(b, anyBool, protowire.VarintType)
	b = protowire.AppendVarint(b, protowire.EncodeBool(val))
	b = closeLen(b, v)
	return closeLen(b, kv)
}

// appendKVDouble appends a KeyValue with a double value as field num.
func appendKVDouble(b []byte, num protowire.Number, key string, val float64) []byte {
	b, kv := openLen(b, num)
	b = appendString(b, 1, key)
	b, v := openLen(b, 2)
	b = appendDouble(b, anyDouble, val)
	b = closeLen(b, v)
	return closeLen(b, kv)
}

// appendKVStrings appends a KeyValue whose value is an array of strings.
func appendKVStrings(b []byte, num protowire.Number, key string, vals []string) []byte {
	b, kv := openLen(b, num)
	b = appendString(b, 1, key)
	b, v := openLen(b, 2)
	b, arr := openLen(b, anyArray)
	for _, s := range vals {
		var e int
		b, e = openLen(b, 1)
		b = protowire.AppendTag(b, anyString, protowire.BytesType)
		b = protowire.AppendString(b, s)
		b = closeLen(b, e)
	}
	b = closeLen(b, arr)
	b = closeLen(b, v)
	return closeLen(b, kv)
}

// encodedKV is one resource attribute ready to be spliced into a Resource:
// its key (to test whether a payload already has it) and the bytes of the
// KeyValue message (without tag or length).
type encodedKV struct {
	key string
	kv  []byte
}

var errNotImplemented = errors.New("not implemented")

// validateRequest walks an Export<signal>ServiceRequest and returns the
// number of items it holds (spans, data points or log records), or an error
// that says what is wrong, for a 400 answer.
func validateRequest(sig signal, b []byte) (items int, err error) {
	return 0, errNotImplemented
}

// jsonToProto transcodes an OTLP/JSON Export<signal>ServiceRequest to
// protobuf, appending to dst.
func jsonToProto(sig signal, dst, js []byte) ([]byte, error) {
	return dst, errNotImplemented
}

// protoToJSON transcodes a protobuf Export<signal>ServiceRequest to OTLP/JSON,
// appending to dst.
func protoToJSON(sig signal, dst, pb []byte) ([]byte, error) {
	return dst, errNotImplemented
}
