// wire.go owns the raw protobuf wire format: tags, varints, fixed-width and
// length-delimited values, and skipping a field's value. It replaces
// google.golang.org/protobuf/encoding/protowire in the binary: that package's
// init (through internal/detrand) opens and hashes our own executable on
// every cold start, and dropping it leaves the binary standard-library only.
//
// Each wireX is a drop-in for protowire.X with the same results on every
// input, error codes included (wire_test.go checks this against protowire
// by fuzzing). Values are appended (append-style, no writer), and consume
// functions return the length read, negative on error: callers turn that
// code into an error only when they report one, so the hot walkers never
// allocate.
package main

import (
	"encoding/binary"
	"io"
	"math"
	"math/bits"
)

// wireNumber is a field number. Signed, as in protowire: a tag whose number
// overflows int32 decodes to -1 so that it fails the "< 1" check.
type wireNumber int32

// wireType is a wire type, the low three bits of a tag.
type wireType int8

const (
	wireVarintType     wireType = 0
	wireFixed64Type    wireType = 1
	wireBytesType      wireType = 2
	wireStartGroupType wireType = 3
	wireEndGroupType   wireType = 4
	wireFixed32Type    wireType = 5
)

const (
	// wireMaxValidNumber is the largest field number protobuf allows
	// (29 bits: the tag's other 3 bits are the wire type).
	wireMaxValidNumber wireNumber = 1<<29 - 1

	// wireDefaultRecursionLimit bounds how deeply nested groups
	// wireConsumeFieldValue follows (and, in otlpjson.go, the nesting of
	// unknown JSON values): the same 10000 as protowire and the proto
	// runtime, deep enough for any real message and small enough that the
	// recursion cannot exhaust the goroutine stack.
	wireDefaultRecursionLimit = 10000
)

// Error codes of the consume functions: the same values protowire uses, so
// a code stored by one walker means the same thing everywhere.
const (
	wireErrTruncated      = -1
	wireErrFieldNumber    = -2
	wireErrOverflow       = -3
	wireErrReserved       = -4
	wireErrEndGroup       = -5
	wireErrRecursionDepth = -6
)

// wireCodeError is the error for a consume error code. A string type, so
// the errors are constants: no package state, nothing built at init.
type wireCodeError string

func (e wireCodeError) Error() string { return string(e) }

// wireParseError turns a consume function's error code into an error; nil
// if n is a length (n >= 0). A truncated input is io.ErrUnexpectedEOF, as
// protowire reports it. Unlike protowire's, the messages carry no "proto: "
// prefix (which protowire randomises between a space and U+00A0).
func wireParseError(n int) error {
	switch {
	case n >= 0:
		return nil
	case n == wireErrTruncated:
		return io.ErrUnexpectedEOF
	case n == wireErrFieldNumber:
		return wireCodeError("invalid field number")
	case n == wireErrOverflow:
		return wireCodeError("variable length integer overflow")
	case n == wireErrReserved:
		return wireCodeError("cannot parse reserved wire type")
	case n == wireErrEndGroup:
		return wireCodeError("mismatching end group marker")
	default: // wireErrRecursionDepth and any other code
		return wireCodeError("parse error")
	}
}

// wireAppendVarint appends v as a base-128 varint, low 7 bits first, the
// top bit of each byte set when another follows. One-byte values (most
// tags and lengths) are written here so that the call inlines; longer ones
// go to wireAppendVarintLong.
func wireAppendVarint(b []byte, v uint64) []byte {
	if v < 0x80 {
		return append(b, byte(v))
	}
	return wireAppendVarintLong(b, v)
}

// wireAppendVarintLong appends a varint of any length, growing b at most
// once. Kept out of line so that wireAppendVarint stays cheap enough to
// inline.
//
//go:noinline
func wireAppendVarintLong(b []byte, v uint64) []byte {
	i := len(b)
	n := wireSizeVarint(v)
	if cap(b)-i < n {
		b = append(b, make([]byte, n)...)
	}
	b = b[:i+n]
	for ; v >= 0x80; v >>= 7 {
		b[i] = byte(v) | 0x80
		i++
	}
	b[i] = byte(v)
	return b
}

// wireConsumeVarint reads a varint from the start of b and returns its
// value and length: wireErrTruncated if b ends inside it. A varint is at
// most 10 bytes, and the 10th may only hold the top bit of a uint64 (0 or
// 1): anything else there, continuation bit included, is wireErrOverflow,
// as in protowire (encoding/binary.Uvarint differs: it calls a 10-byte
// input ending with a continuation bit truncated). Overlong but in-range
// encodings (0x80 0x00) are accepted, as protobuf parsers do. Small enough
// to inline, so the walkers make no call per tag.
func wireConsumeVarint(b []byte) (uint64, int) {
	var v uint64
	for i := 0; i < 9; i++ {
		if i >= len(b) {
			return 0, wireErrTruncated
		}
		c := b[i]
		v |= uint64(c&0x7f) << (7 * i)
		if c < 0x80 {
			return v, i + 1
		}
	}
	if len(b) < 10 {
		return 0, wireErrTruncated
	}
	if b[9] > 1 {
		return 0, wireErrOverflow
	}
	return v | uint64(b[9])<<63, 10
}

// wireSizeVarint is the encoded length of v, 1 to 10: one byte per started
// group of 7 significant bits. (9*bits+64)/64 computes ceil(bits/7) for
// bits 1..64 without a division; v|1 makes 0 count as one bit.
func wireSizeVarint(v uint64) int {
	return (9*bits.Len64(v|1) + 64) / 64
}

// wireAppendTag appends the tag of field num with wire type typ.
func wireAppendTag(b []byte, num wireNumber, typ wireType) []byte {
	return wireAppendVarint(b, uint64(num)<<3|uint64(typ&7))
}

// wireSizeTag is the encoded length of a tag of field num (the wire type
// does not change it).
func wireSizeTag(num wireNumber) int {
	return wireSizeVarint(uint64(num) << 3)
}

// wireConsumeTag reads a tag. It rejects field number 0 and numbers that
// overflow int32 (wireErrFieldNumber) but, as protowire, accepts numbers
// above wireMaxValidNumber: callers that care check that themselves.
func wireConsumeTag(b []byte) (wireNumber, wireType, int) {
	v, n := wireConsumeVarint(b)
	if n < 0 {
		return 0, 0, n
	}
	if v>>3 < 1 || v>>3 > math.MaxInt32 {
		return 0, 0, wireErrFieldNumber
	}
	return wireNumber(v >> 3), wireType(v & 7), n
}

// wireAppendFixed32 appends v little-endian in 4 bytes.
func wireAppendFixed32(b []byte, v uint32) []byte {
	return binary.LittleEndian.AppendUint32(b, v)
}

// wireAppendFixed64 appends v little-endian in 8 bytes.
func wireAppendFixed64(b []byte, v uint64) []byte {
	return binary.LittleEndian.AppendUint64(b, v)
}

// wireConsumeFixed32 reads a little-endian uint32.
func wireConsumeFixed32(b []byte) (uint32, int) {
	if len(b) < 4 {
		return 0, wireErrTruncated
	}
	return binary.LittleEndian.Uint32(b), 4
}

// wireConsumeFixed64 reads a little-endian uint64.
func wireConsumeFixed64(b []byte) (uint64, int) {
	if len(b) < 8 {
		return 0, wireErrTruncated
	}
	return binary.LittleEndian.Uint64(b), 8
}

// wireAppendBytes appends v with its varint length before it.
func wireAppendBytes(b []byte, v []byte) []byte {
	return append(wireAppendVarint(b, uint64(len(v))), v...)
}

// wireAppendString appends s with its varint length before it.
func wireAppendString(b []byte, s string) []byte {
	return append(wireAppendVarint(b, uint64(len(s))), s...)
}

// wireSizeBytes is the encoded length of a length-delimited value of n
// bytes.
func wireSizeBytes(n int) int {
	return wireSizeVarint(uint64(n)) + n
}

// wireConsumeBytes reads a length-delimited value: the returned slice
// aliases b. A length past the end of b is wireErrTruncated; the
// comparison is done in uint64 so a huge length cannot wrap int.
func wireConsumeBytes(b []byte) ([]byte, int) {
	m, n := wireConsumeVarint(b)
	if n < 0 {
		return nil, n
	}
	if m > uint64(len(b)-n) {
		return nil, wireErrTruncated
	}
	return b[n : n+int(m)], n + int(m)
}

// wireConsumeFieldValue returns the length of the value of field num with
// wire type typ at the start of b (its tag already read). A group's length
// includes its end-group tag, which must name the same field; groups nest
// at most wireDefaultRecursionLimit deep. A lone end group is
// wireErrEndGroup and wire types 6 and 7 are wireErrReserved.
func wireConsumeFieldValue(num wireNumber, typ wireType, b []byte) int {
	return wireConsumeFieldValueDepth(num, typ, b, wireDefaultRecursionLimit)
}

func wireConsumeFieldValueDepth(num wireNumber, typ wireType, b []byte, depth int) int {
	var n int
	switch typ {
	case wireVarintType:
		_, n = wireConsumeVarint(b)
	case wireFixed32Type:
		_, n = wireConsumeFixed32(b)
	case wireFixed64Type:
		_, n = wireConsumeFixed64(b)
	case wireBytesType:
		_, n = wireConsumeBytes(b)
	case wireStartGroupType:
		// protowire checks before reading the group, so the limit lets
		// depth+1 levels of groups through; the same bound here.
		if depth < 0 {
			return wireErrRecursionDepth
		}
		start := len(b)
		for {
			num2, typ2, m := wireConsumeTag(b)
			if m < 0 {
				return m
			}
			b = b[m:]
			if typ2 == wireEndGroupType {
				if num2 != num {
					return wireErrEndGroup
				}
				return start - len(b)
			}
			m = wireConsumeFieldValueDepth(num2, typ2, b, depth-1)
			if m < 0 {
				return m
			}
			b = b[m:]
		}
	case wireEndGroupType:
		return wireErrEndGroup
	default:
		return wireErrReserved
	}
	return n
}

// wireEncodeZigZag maps signed to unsigned so small magnitudes stay small
// (sint32/sint64): 0, -1, 1, -2 become 0, 1, 2, 3.
func wireEncodeZigZag(x int64) uint64 {
	return uint64(x<<1) ^ uint64(x>>63)
}

// wireDecodeZigZag inverts wireEncodeZigZag.
func wireDecodeZigZag(x uint64) int64 {
	return int64(x>>1) ^ -int64(x&1)
}

// wireEncodeBool is a bool as a varint value.
func wireEncodeBool(x bool) uint64 {
	if x {
		return 1
	}
	return 0
}
