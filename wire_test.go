// wire_test.go tests wire.go, mostly against protowire, which it replaces
// in the binary and which stays the oracle here: the same lengths, values
// and error codes on any input, the same bytes for any value.
package main

import (
	"bytes"
	"errors"
	"io"
	"math"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
)

// TestWireVarint pins encodings and the edge cases of decoding: truncation,
// the 10-byte limit and what the 10th byte may hold, overlong encodings.
func TestWireVarint(t *testing.T) {
	ff9 := bytes.Repeat([]byte{0xff}, 9)
	for _, tc := range []struct {
		name string
		in   []byte
		v    uint64
		n    int
	}{
		{"empty", nil, 0, wireErrTruncated},
		{"zero", []byte{0}, 0, 1},
		{"one byte max", []byte{0x7f, 0xff}, 127, 1},
		{"two bytes", []byte{0xac, 0x02}, 300, 2},
		{"truncated", []byte{0x80}, 0, wireErrTruncated},
		{"overlong zero", []byte{0x80, 0x00}, 0, 2},
		{"max uint64", append(ff9[:9:9], 1), math.MaxUint64, 10},
		{"top bit only", append(bytes.Repeat([]byte{0x80}, 9), 1), 1 << 63, 10},
		{"nine bytes then end", ff9, 0, wireErrTruncated},
		{"10th byte 2", append(ff9[:9:9], 2), 0, wireErrOverflow},
		{"10th byte continues", append(ff9[:9:9], 0x80, 0), 0, wireErrOverflow},
		{"10th byte continues at end", append(ff9[:9:9], 0x81), 0, wireErrOverflow},
	} {
		v, n := wireConsumeVarint(tc.in)
		if v != tc.v || n != tc.n {
			t.Errorf("%s: wireConsumeVarint(% x) = %d, %d; want %d, %d", tc.name, tc.in, v, n, tc.v, tc.n)
		}
		pv, pn := protowire.ConsumeVarint(tc.in)
		if v != pv || n != pn {
			t.Errorf("%s: got %d, %d; protowire says %d, %d", tc.name, v, n, pv, pn)
		}
	}
	for _, tc := range []struct {
		v    uint64
		want []byte
	}{
		{0, []byte{0}},
		{127, []byte{0x7f}},
		{128, []byte{0x80, 0x01}},
		{300, []byte{0xac, 0x02}},
		{1<<14 - 1, []byte{0xff, 0x7f}},
		{1 << 14, []byte{0x80, 0x80, 0x01}},
		{math.MaxUint64, append(bytes.Repeat([]byte{0xff}, 9), 1)},
	} {
		if got := wireAppendVarint([]byte{0xee}, tc.v); !bytes.Equal(got, append([]byte{0xee}, tc.want...)) {
			t.Errorf("wireAppendVarint(%d) = % x; want ee % x", tc.v, got, tc.want)
		}
		if got := wireSizeVarint(tc.v); got != len(tc.want) {
			t.Errorf("wireSizeVarint(%d) = %d; want %d", tc.v, got, len(tc.want))
		}
	}
	// Every bit length: the size formula and both append paths.
	for i := 0; i < 64; i++ {
		for _, v := range []uint64{1 << i, 1<<i - 1, 1<<i + 1} {
			if got, want := wireAppendVarint(nil, v), protowire.AppendVarint(nil, v); !bytes.Equal(got, want) {
				t.Errorf("wireAppendVarint(%d) = % x; want % x", v, got, want)
			}
			if got, want := wireSizeVarint(v), protowire.SizeVarint(v); got != want {
				t.Errorf("wireSizeVarint(%d) = %d; want %d", v, got, want)
			}
		}
	}
}

// TestWireTag: field number 0 and numbers past int32 are errors, numbers
// past 2^29-1 that fit int32 are not (callers check those), and the wire
// type is the low 3 bits.
func TestWireTag(t *testing.T) {
	for _, tc := range []struct {
		name string
		tag  uint64
		num  wireNumber
		typ  wireType
		n    int
	}{
		{"field 1 varint", 1<<3 | 0, 1, wireVarintType, 1},
		{"field 0", 0<<3 | 2, 0, 0, wireErrFieldNumber},
		{"field 16 bytes", 16<<3 | 2, 16, wireBytesType, 2},
		{"max valid", uint64(wireMaxValidNumber)<<3 | 5, wireMaxValidNumber, wireFixed32Type, 5},
		{"past max valid", uint64(wireMaxValidNumber+1)<<3 | 1, wireMaxValidNumber + 1, wireFixed64Type, 5},
		{"max int32", math.MaxInt32<<3 | 7, math.MaxInt32, 7, 5},
		{"past int32", (math.MaxInt32 + 1) << 3, 0, 0, wireErrFieldNumber},
	} {
		b := protowire.AppendVarint(nil, tc.tag)
		num, typ, n := wireConsumeTag(b)
		if num != tc.num || typ != tc.typ || n != tc.n {
			t.Errorf("%s: wireConsumeTag(% x) = %d, %d, %d; want %d, %d, %d", tc.name, b, num, typ, n, tc.num, tc.typ, tc.n)
		}
		if n > 0 {
			if got := wireAppendTag(nil, num, typ); !bytes.Equal(got, b) {
				t.Errorf("%s: wireAppendTag(%d, %d) = % x; want % x", tc.name, num, typ, got, b)
			}
			if got := wireSizeTag(num); got != len(b) {
				t.Errorf("%s: wireSizeTag(%d) = %d; want %d", tc.name, num, got, len(b))
			}
		}
	}
}

// TestWireConsumeFieldValue covers the value kinds, groups (nested,
// mismatched, unterminated), the reserved wire types and the recursion
// limit, each against protowire.
func TestWireConsumeFieldValue(t *testing.T) {
	group := func(num protowire.Number, body ...byte) []byte {
		return protowire.AppendTag(append([]byte(nil), body...), num, protowire.EndGroupType)
	}
	nested := group(5, append(protowire.AppendTag(nil, 6, protowire.StartGroupType), group(6, 0x08, 1)...)...)
	for _, tc := range []struct {
		name string
		num  wireNumber
		typ  wireType
		in   []byte
		want int
	}{
		{"varint", 1, wireVarintType, []byte{0x96, 0x01, 9}, 2},
		{"fixed32", 1, wireFixed32Type, []byte{1, 2, 3, 4, 5}, 4},
		{"fixed32 short", 1, wireFixed32Type, []byte{1, 2, 3}, wireErrTruncated},
		{"fixed64", 1, wireFixed64Type, make([]byte, 9), 8},
		{"fixed64 short", 1, wireFixed64Type, make([]byte, 7), wireErrTruncated},
		{"bytes", 1, wireBytesType, []byte{3, 'a', 'b', 'c', 'd'}, 4},
		{"bytes short", 1, wireBytesType, []byte{3, 'a', 'b'}, wireErrTruncated},
		{"bytes huge length", 1, wireBytesType, protowire.AppendVarint(nil, math.MaxUint64), wireErrTruncated},
		{"empty group", 5, wireStartGroupType, group(5), 1},
		{"group of fields", 5, wireStartGroupType, group(5, 0x08, 1, 0x12, 1, 'x'), 6},
		{"nested group", 5, wireStartGroupType, nested, len(nested)},
		{"group wrong end", 5, wireStartGroupType, group(4), wireErrEndGroup},
		{"group unterminated", 5, wireStartGroupType, []byte{0x08, 1}, wireErrTruncated},
		{"group bad field", 5, wireStartGroupType, []byte{0x00}, wireErrFieldNumber},
		{"group reserved type", 5, wireStartGroupType, []byte{0x0e}, wireErrReserved},
		{"lone end group", 5, wireEndGroupType, nil, wireErrEndGroup},
		{"type 6", 1, 6, []byte{0, 0, 0, 0, 0, 0, 0, 0}, wireErrReserved},
		{"type 7", 1, 7, []byte{0, 0, 0, 0}, wireErrReserved},
	} {
		if got := wireConsumeFieldValue(tc.num, tc.typ, tc.in); got != tc.want {
			t.Errorf("%s: got %d; want %d", tc.name, got, tc.want)
		}
		if got := protowire.ConsumeFieldValue(protowire.Number(tc.num), protowire.Type(tc.typ), tc.in); got != tc.want {
			t.Errorf("%s: protowire says %d; want %d (the table is wrong)", tc.name, got, tc.want)
		}
	}
	// Groups nested wireDefaultRecursionLimit+1 deep below the outer one
	// pass; one more level is wireErrRecursionDepth, as in protowire.
	for _, depth := range []int{wireDefaultRecursionLimit, wireDefaultRecursionLimit + 1, wireDefaultRecursionLimit + 2} {
		var b []byte
		for i := 1; i < depth; i++ {
			b = protowire.AppendTag(b, 1, protowire.StartGroupType)
		}
		for i := 0; i < depth; i++ {
			b = protowire.AppendTag(b, 1, protowire.EndGroupType)
		}
		got := wireConsumeFieldValue(1, wireStartGroupType, b)
		want := protowire.ConsumeFieldValue(1, protowire.StartGroupType, b)
		if got != want {
			t.Errorf("%d nested groups: got %d; want %d", depth, got, want)
		}
		if wantErr := depth > wireDefaultRecursionLimit+1; (got == wireErrRecursionDepth) != wantErr {
			t.Errorf("%d nested groups: got %d; want a recursion error %v", depth, got, wantErr)
		}
	}
}

// TestWireParseError: each code becomes protowire's error, less its
// "proto: " prefix; truncation is io.ErrUnexpectedEOF itself; and building
// an error allocates nothing (the walkers report them per request).
func TestWireParseError(t *testing.T) {
	if err := wireParseError(0); err != nil {
		t.Errorf("wireParseError(0) = %v; want nil", err)
	}
	if err := wireParseError(wireErrTruncated); err != io.ErrUnexpectedEOF {
		t.Errorf("wireParseError(truncated) = %v; want io.ErrUnexpectedEOF", err)
	}
	for n := -1; n >= -8; n-- {
		got := wireParseError(n).Error()
		want := protowire.ParseError(n).Error()
		want = strings.TrimLeft(strings.TrimPrefix(want, "proto:"), " \u00a0")
		if got != want {
			t.Errorf("wireParseError(%d) = %q; want %q", n, got, want)
		}
	}
	var sink error
	if a := testing.AllocsPerRun(100, func() { sink = wireParseError(wireErrOverflow) }); a != 0 {
		t.Errorf("wireParseError allocates %v times; want 0", a)
	}
	if !errors.Is(sink, wireCodeError("variable length integer overflow")) {
		t.Errorf("got %v; want the overflow error", sink)
	}
}

// TestWireScalars: zig-zag, bools and the fixed-width and length-prefixed
// appends, against protowire.
func TestWireScalars(t *testing.T) {
	for _, x := range []int64{0, -1, 1, -2, 2, math.MaxInt64, math.MinInt64, math.MaxInt32, math.MinInt32} {
		if got, want := wireEncodeZigZag(x), protowire.EncodeZigZag(x); got != want {
			t.Errorf("wireEncodeZigZag(%d) = %d; want %d", x, got, want)
		}
		if got := wireDecodeZigZag(wireEncodeZigZag(x)); got != x {
			t.Errorf("wireDecodeZigZag(wireEncodeZigZag(%d)) = %d", x, got)
		}
	}
	for _, x := range []bool{false, true} {
		if got, want := wireEncodeBool(x), protowire.EncodeBool(x); got != want {
			t.Errorf("wireEncodeBool(%v) = %d; want %d", x, got, want)
		}
	}
	if got, want := wireAppendFixed32(nil, 0x01020304), []byte{4, 3, 2, 1}; !bytes.Equal(got, want) {
		t.Errorf("wireAppendFixed32 = % x; want % x", got, want)
	}
	if got, want := wireAppendFixed64(nil, 0x0102030405060708), []byte{8, 7, 6, 5, 4, 3, 2, 1}; !bytes.Equal(got, want) {
		t.Errorf("wireAppendFixed64 = % x; want % x", got, want)
	}
	long := strings.Repeat("x", 200)
	if got, want := wireAppendString([]byte{9}, long), protowire.AppendString([]byte{9}, long); !bytes.Equal(got, want) {
		t.Errorf("wireAppendString of 200 bytes = % x; want % x", got, want)
	}
	if got, want := wireSizeBytes(200), 202; got != want {
		t.Errorf("wireSizeBytes(200) = %d; want %d", got, want)
	}
}

// FuzzWire is the differential oracle: on any bytes the consume functions
// agree with protowire's (length or error code, values, the returned
// slice), and on any values the append and size functions produce
// protowire's bytes.
func FuzzWire(f *testing.F) {
	f.Add([]byte{0x08, 0x96, 0x01}, uint64(300), int64(-3), int32(1), int8(0), 0, true)
	f.Add([]byte{0x0b, 0x08, 0x01, 0x0c}, uint64(math.MaxUint64), int64(math.MinInt64), int32(1), int8(3), -1, false)
	f.Add(append(bytes.Repeat([]byte{0xff}, 9), 2), uint64(1<<63), int64(0), int32(math.MaxInt32), int8(7), 1<<40, false)
	f.Add([]byte{0x12, 0x80, 0x80, 0x80, 0x80, 0x10}, uint64(1<<14), int64(1), int32(-1), int8(-1), 127, true)
	f.Add([]byte{0x00}, uint64(127), int64(math.MaxInt64), int32(1<<29), int8(4), 128, false)
	f.Fuzz(func(t *testing.T, b []byte, u uint64, i int64, num int32, typ int8, size int, flag bool) {
		// Consume, on the raw bytes.
		if v, n := wireConsumeVarint(b); true {
			pv, pn := protowire.ConsumeVarint(b)
			if v != pv || n != pn {
				t.Fatalf("wireConsumeVarint(% x) = %d, %d; protowire says %d, %d", b, v, n, pv, pn)
			}
		}
		gnum, gtyp, n := wireConsumeTag(b)
		pnum, ptyp, pn := protowire.ConsumeTag(b)
		if int32(gnum) != int32(pnum) || int8(gtyp) != int8(ptyp) || n != pn {
			t.Fatalf("wireConsumeTag(% x) = %d, %d, %d; protowire says %d, %d, %d", b, gnum, gtyp, n, pnum, ptyp, pn)
		}
		if n >= 0 {
			rest := b[n:]
			if got, want := wireConsumeFieldValue(gnum, gtyp, rest), protowire.ConsumeFieldValue(pnum, ptyp, rest); got != want {
				t.Fatalf("wireConsumeFieldValue(%d, %d, % x) = %d; protowire says %d", gnum, gtyp, rest, got, want)
			}
		}
		if got, want := wireConsumeFieldValue(wireNumber(num), wireType(typ), b), protowire.ConsumeFieldValue(protowire.Number(num), protowire.Type(typ), b); got != want {
			t.Fatalf("wireConsumeFieldValue(%d, %d, % x) = %d; protowire says %d", num, typ, b, got, want)
		}
		v, n := wireConsumeBytes(b)
		pv, pn := protowire.ConsumeBytes(b)
		if n != pn || !bytes.Equal(v, pv) || cap(v) != cap(pv) || (v == nil) != (pv == nil) {
			t.Fatalf("wireConsumeBytes(% x) = % x (cap %d), %d; protowire says % x (cap %d), %d", b, v, cap(v), n, pv, cap(pv), pn)
		}
		if v, n := wireConsumeFixed32(b); true {
			pv, pn := protowire.ConsumeFixed32(b)
			if v != pv || n != pn {
				t.Fatalf("wireConsumeFixed32(% x) = %d, %d; protowire says %d, %d", b, v, n, pv, pn)
			}
		}
		if v, n := wireConsumeFixed64(b); true {
			pv, pn := protowire.ConsumeFixed64(b)
			if v != pv || n != pn {
				t.Fatalf("wireConsumeFixed64(% x) = %d, %d; protowire says %d, %d", b, v, n, pv, pn)
			}
		}

		// Append and size, on the values, after a prefix with and without
		// spare capacity (both growth paths of wireAppendVarintLong).
		for _, dst := range [][]byte{b[:len(b):len(b)], append(make([]byte, 0, len(b)+16), b...)} {
			// ours runs first and its result is copied: with spare
			// capacity both would write into the same array.
			check := func(name string, ours, theirs func([]byte) []byte) {
				t.Helper()
				got := bytes.Clone(ours(dst))
				if want := theirs(dst); !bytes.Equal(got, want) {
					t.Fatalf("%s: got % x; want % x", name, got, want)
				}
			}
			check("wireAppendVarint",
				func(d []byte) []byte { return wireAppendVarint(d, u) },
				func(d []byte) []byte { return protowire.AppendVarint(d, u) })
			check("wireAppendTag",
				func(d []byte) []byte { return wireAppendTag(d, wireNumber(num), wireType(typ)) },
				func(d []byte) []byte { return protowire.AppendTag(d, protowire.Number(num), protowire.Type(typ)) })
			check("wireAppendFixed32",
				func(d []byte) []byte { return wireAppendFixed32(d, uint32(u)) },
				func(d []byte) []byte { return protowire.AppendFixed32(d, uint32(u)) })
			check("wireAppendFixed64",
				func(d []byte) []byte { return wireAppendFixed64(d, u) },
				func(d []byte) []byte { return protowire.AppendFixed64(d, u) })
			check("wireAppendBytes",
				func(d []byte) []byte { return wireAppendBytes(d, b) },
				func(d []byte) []byte { return protowire.AppendBytes(d, b) })
			check("wireAppendString",
				func(d []byte) []byte { return wireAppendString(d, string(b)) },
				func(d []byte) []byte { return protowire.AppendString(d, string(b)) })
		}
		if got, want := wireSizeVarint(u), protowire.SizeVarint(u); got != want {
			t.Fatalf("wireSizeVarint(%d) = %d; want %d", u, got, want)
		}
		if got, want := wireSizeTag(wireNumber(num)), protowire.SizeTag(protowire.Number(num)); got != want {
			t.Fatalf("wireSizeTag(%d) = %d; want %d", num, got, want)
		}
		if got, want := wireSizeBytes(size), protowire.SizeBytes(size); got != want {
			t.Fatalf("wireSizeBytes(%d) = %d; want %d", size, got, want)
		}
		if got, want := wireEncodeZigZag(i), protowire.EncodeZigZag(i); got != want {
			t.Fatalf("wireEncodeZigZag(%d) = %d; want %d", i, got, want)
		}
		if got, want := wireDecodeZigZag(u), protowire.DecodeZigZag(u); got != want {
			t.Fatalf("wireDecodeZigZag(%d) = %d; want %d", u, got, want)
		}
		if got, want := wireEncodeBool(flag), protowire.EncodeBool(flag); got != want {
			t.Fatalf("wireEncodeBool(%v) = %d; want %d", flag, got, want)
		}
	})
}
