// otlpjson.go owns OTLP/JSON (../shared/docs/otlp.md section 3): transcoding
// it to protobuf once, at the door, and protobuf to OTLP/JSON for exporting
// with OTEL_EXPORTER_OTLP_PROTOCOL=http/json. Both directions are driven by
// the schema table of otlp.go and work on bytes: a small JSON scanner of our
// own (encoding/json's Decoder.Token boxes every token into an interface and
// was measured several times slower, see BenchmarkJSONToProto), no structs.
//
// jsonToProto accepts what protojson.Unmarshal (DiscardUnknown) accepts,
// with OTLP's hex trace and span ids, and produces a message equal to the
// one protojson builds. It is more lenient in two ways (duplicate keys: the
// last one wins, as it would on the wire; several members of a oneof: the
// last one wins) and stricter in one: AnyValues nest at most maxAnyDepth
// levels and unknown values at most maxJSONDepth.
package main

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"math/bits"
	"slices"
	"strconv"
	"unicode/utf8"
	"unsafe"
)

// maxJSONDepth bounds the nesting of the values of unknown fields we skip
// (the recursion of skipValue); proto's own recursion limit.
const maxJSONDepth = wireDefaultRecursionLimit

// jpathElem is one step of the JSON path of an error: a known field, or the
// raw key of an unknown one, and the array index (-1 when not in an array).
type jpathElem struct {
	f   *fieldDesc
	key []byte
	idx int32
}

// jdec transcodes one JSON document. It lives on the caller's stack.
//
// Its methods say they failed with a false ok, after recording the error's
// offset and message (fail). Each caller on the way back adds its step of
// the JSON path (addPath): the path costs nothing until something fails,
// where keeping it up to date on every field cost a tenth of the time.
type jdec struct {
	b        []byte
	i        int
	anyDepth int
	val      int    // offset of the scalar value being read, for errors
	scratch  []byte // decoded strings with escapes, only when needed
	key      []byte // decoded keys with escapes, only when needed
	errPos   int
	errMsg   string
	errPath  []jpathElem // innermost step first
}

// jsonToProto transcodes an OTLP/JSON Export<signal>ServiceRequest to
// protobuf, appending to dst. Errors wrap errBadData and give the JSON path
// (resourceSpans[0].scopeSpans[0].spans[3].traceId: …). Ids are not checked
// for length here: validate the result with validateRequest.
//
// It is one pass: each message's fields are written as they are read, into
// a length placeholder that closeLen fills (moving the content when the
// length takes more than a byte, which copies the output a few times over
// in all: measured at 2% of the time).
func jsonToProto(sig signal, dst, js []byte) ([]byte, error) {
	if sig >= numSignals {
		return dst, fmt.Errorf("%w: json: unknown signal %v", errBadData, sig)
	}
	// Protobuf is about half the size of its JSON: grow once.
	dst = slices.Grow(dst, len(js)/2)
	start := len(dst)
	d := jdec{b: js}
	out, ok := d.message(dst, requestMsg(sig))
	if ok {
		if d.ws(); d.i != len(d.b) {
			ok = d.fail("unexpected %s after the request", d.what())
		}
	}
	if !ok {
		return dst[:start], d.err()
	}
	return out, nil
}

// failAt records an error at byte offset pos and returns false, for the
// caller to return.
func (d *jdec) failAt(pos int, format string, args ...any) bool {
	d.errPos, d.errMsg = pos, fmt.Sprintf(format, args...)
	return false
}

// fail records an error at the current offset.
func (d *jdec) fail(format string, args ...any) bool { return d.failAt(d.i, format, args...) }

// valFail records an error about the value that starts at d.val.
func (d *jdec) valFail(format string, args ...any) bool { return d.failAt(d.val, format, args...) }

// failGot records an error about the next token, which is not the want
// one. The failures are methods with plain arguments so that the hot
// functions build no argument lists (smaller frames, less code).
func (d *jdec) failGot(want string) bool {
	return d.fail("got %s, want %s", d.what(), want)
}

// failNot records that the value lit at d.val is not what (a valid, a
// hex) kind k.
func (d *jdec) failNot(lit []byte, what string, k fieldKind) bool {
	return d.valFail("%q is not %s %s", lit, what, kindNames[k])
}

// failNull records that the value at d.val is a null where kind k is
// needed.
func (d *jdec) failNull(k fieldKind) bool {
	return d.valFail("null is not a valid %s", kindNames[k])
}

// addPath adds the caller's step to the path of the recorded error. Not
// inlined: it is only for failures, and would grow the hot functions.
//
//go:noinline
func (d *jdec) addPath(f *fieldDesc, key []byte, idx int32) {
	d.errPath = append(d.errPath, jpathElem{f: f, key: key, idx: idx})
}

// err builds the recorded error: errBadData, the path, the offset and the
// message.
func (d *jdec) err() error {
	var p []byte
	for i := len(d.errPath) - 1; i >= 0; i-- {
		e := d.errPath[i]
		if i != len(d.errPath)-1 {
			p = append(p, '.')
		}
		switch {
		case e.f != nil:
			p = append(p, e.f.json...)
		case e.key != nil:
			p = strconv.AppendQuote(p, string(e.key))
		}
		if e.idx >= 0 {
			p = append(p, '[')
			p = strconv.AppendInt(p, int64(e.idx), 10)
			p = append(p, ']')
		}
	}
	if len(p) == 0 {
		return fmt.Errorf("%w: json: at byte %d: %s", errBadData, d.errPos, d.errMsg)
	}
	return fmt.Errorf("%w: json: %s: at byte %d: %s", errBadData, p, d.errPos, d.errMsg)
}

// what describes the next token for an error.
func (d *jdec) what() string {
	if d.i >= len(d.b) {
		return "end of input"
	}
	return strconv.QuoteRune(rune(d.b[d.i]))
}

func (d *jdec) ws() {
	i := d.i
	for i < len(d.b) {
		switch d.b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			d.i = i
			return
		}
	}
	d.i = i
}

// next skips white space and returns the next byte (0 at the end). The
// check for a token right here (compact JSON) is inlined.
func (d *jdec) next() byte {
	if d.i < len(d.b) && d.b[d.i] > ' ' {
		return d.b[d.i]
	}
	return d.nextSlow()
}

func (d *jdec) nextSlow() byte {
	d.ws()
	if d.i < len(d.b) {
		return d.b[d.i]
	}
	return 0
}

// expect consumes byte c after white space.
func (d *jdec) expect(c byte) bool {
	if d.next() != c {
		return d.failGot(strconv.QuoteRune(rune(c)))
	}
	d.i++
	return true
}

// literal consumes the literal lit (true, false, null) if it is next.
func (d *jdec) literal(lit string) bool {
	if len(d.b)-d.i >= len(lit) && string(d.b[d.i:d.i+len(lit)]) == lit {
		if e := d.i + len(lit); e == len(d.b) || !isIdentByte(d.b[e]) {
			d.i = e
			return true
		}
	}
	return false
}

func isIdentByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_'
}

// Masks of the SWAR (8 bytes at a time) string scan of str.
const (
	swarOnes  = 0x0101010101010101
	swarHighs = 0x8080808080808080
)

// str scans a string after white space (its opening quote) and returns its
// raw content and whether it has escapes. Raw content is checked for
// control characters and, when it has no escapes, for UTF-8 (decodeStr
// checks the escaped ones).
//
// It reads 8 bytes at a time, flagging the bytes that stop plain content:
// a quote, a backslash or a control character. For a byte x, x-1 has its
// high bit set where x was 0 (or ≥ 0x81), and &^x keeps that only when x
// was < 0x80 (so only for 0); x-0x20 &^ x likewise flags bytes < 0x20. A
// borrow can flag bytes after a flagged one, never before: the lowest flag
// is exact. The high bits of the plain bytes are gathered to know whether
// the string is all ASCII, which needs no UTF-8 check.
func (d *jdec) str() (raw []byte, esc, ok bool) {
	if d.next() != '"' {
		return nil, false, d.failGot("a string")
	}
	b := d.b
	start := d.i + 1
	i := start
	var high uint64
	for {
		for i+8 <= len(b) {
			x := binary.LittleEndian.Uint64(b[i:])
			q := x ^ ('"' * swarOnes)
			s := x ^ ('\\' * swarOnes)
			m := ((x-0x20*swarOnes)&^x | (q-swarOnes)&^q | (s-swarOnes)&^s) & swarHighs
			if m != 0 {
				high |= x & (m&-m - 1)
				i += bits.TrailingZeros64(m) >> 3
				break
			}
			high |= x
			i += 8
		}
		for i < len(b) {
			c := b[i]
			if c < 0x20 || c == '"' || c == '\\' {
				break
			}
			high |= uint64(c)
			i++
		}
		if i >= len(b) {
			d.i = len(b)
			return nil, false, d.fail("unterminated string")
		}
		switch b[i] {
		case '"':
			d.i = i + 1
			raw = b[start:i]
			if high&swarHighs != 0 && !esc && !utf8.Valid(raw) {
				return nil, false, d.fail("invalid UTF-8 in string")
			}
			return raw, esc, true
		case '\\':
			esc = true
			i += 2 // the escaped byte; \uXXXX digits are checked by decodeStr
		default:
			d.i = i
			return nil, false, d.fail("control character %q in string", b[i])
		}
	}
}

// decodeStr appends the decoded string raw (content with escapes) to dst.
// It follows protojson: lone surrogates are an error, invalid UTF-8 too.
func (d *jdec) decodeStr(dst, raw []byte) ([]byte, bool) {
	dst, at, bad := unquoteJSON(dst, raw, true)
	switch {
	case bad == "":
		return dst, true
	case bad == jsonBadEscape && at+1 < len(raw):
		return dst, d.fail("bad escape \\%c in string", raw[at+1])
	}
	return dst, d.fail("%s in string", bad)
}

// hex4 decodes the 4 hex digits of a \u escape.
func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// strValue scans a string and returns its decoded content: the raw bytes
// when there are no escapes, else a decoding in d.scratch (valid until the
// next call).
func (d *jdec) strValue() ([]byte, bool) {
	raw, esc, ok := d.str()
	if !ok || !esc {
		return raw, ok
	}
	d.scratch, ok = d.decodeStr(d.scratch[:0], raw)
	return d.scratch, ok
}

// numberLen returns the length of the JSON number at the start of b, or 0.
func numberLen(b []byte) int {
	i := 0
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		for i++; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
		}
	default:
		return 0
	}
	if i+1 < len(b) && b[i] == '.' && b[i+1] >= '0' && b[i+1] <= '9' {
		for i += 2; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		j := i + 1
		if j < len(b) && (b[j] == '+' || b[j] == '-') {
			j++
		}
		if j >= len(b) || b[j] < '0' || b[j] > '9' {
			return 0
		}
		for ; j < len(b) && b[j] >= '0' && b[j] <= '9'; j++ {
		}
		i = j
	}
	return i
}

// number scans a JSON number token.
func (d *jdec) number() ([]byte, bool) {
	d.ws()
	n := numberLen(d.b[d.i:])
	if e := d.i + n; n == 0 || e < len(d.b) && (isIdentByte(d.b[e]) || d.b[e] == '.' || d.b[e] == '-' || d.b[e] == '+') {
		return nil, d.failGot("a number")
	}
	lit := d.b[d.i : d.i+n]
	d.i += n
	return lit, true
}

// numberOrString returns the number literal of a JSON number, or of a
// string holding exactly one (as protojson accepts for numeric fields), and
// whether it was a string (so the caller can try NaN, enum names…).
func (d *jdec) numberOrString() (lit []byte, quoted, ok bool) {
	if d.next() != '"' {
		lit, ok = d.number()
		return lit, false, ok
	}
	s, ok := d.strValue()
	return s, true, ok
}

// plainUint reads, at d.i, an integer written the way OTLP/JSON senders
// write them: 1 to 19 digits (which cannot overflow) without a leading
// zero, bare or quoted. For anything else it returns false and leaves d.i
// alone, for the general path (jsonInt) to decide.
func (d *jdec) plainUint() (v uint64, ok bool) {
	b, i := d.b, d.i
	quoted := i < len(b) && b[i] == '"'
	if quoted {
		i++
	}
	s := i
	for ; i < len(b); i++ {
		c := b[i] - '0'
		if c > 9 {
			break
		}
		v = v*10 + uint64(c)
	}
	if n := i - s; n == 0 || n > 19 || n > 1 && b[s] == '0' {
		return 0, false
	}
	if quoted {
		if i >= len(b) || b[i] != '"' {
			return 0, false
		}
		i++
	} else if i < len(b) && (isIdentByte(b[i]) || b[i] == '.' || b[i] == '-' || b[i] == '+') {
		return 0, false // a fraction or an exponent, or an error
	}
	d.i = i
	return v, true
}

// jsonInt parses the JSON number literal lit as protojson does for integer
// fields: a fraction or exponent is fine when the value is integral. It
// returns the sign and magnitude.
func jsonInt(lit []byte) (neg bool, mag uint64, ok bool) {
	if len(lit) == 0 || numberLen(lit) != len(lit) {
		return false, 0, false
	}
	s := lit
	if s[0] == '-' {
		neg, s = true, s[1:]
	}
	var intp, frac, exp []byte
	if s[0] == '0' {
		s = s[1:]
	} else {
		n := 0
		for n < len(s) && s[n] >= '0' && s[n] <= '9' {
			n++
		}
		intp, s = s[:n], s[n:]
	}
	if len(s) > 0 && s[0] == '.' {
		n := 1
		for n < len(s) && s[n] >= '0' && s[n] <= '9' {
			n++
		}
		frac, s = s[1:n], s[n:]
		for len(frac) > 0 && frac[len(frac)-1] == '0' {
			frac = frac[:len(frac)-1]
		}
	}
	if len(s) > 0 {
		exp = s[1:]
	}
	if len(intp) == 0 && len(frac) == 0 {
		return false, 0, true // 0, -0, 0.000e7 …
	}
	e, ok := parseExp(exp)
	if !ok {
		return false, 0, false
	}
	// The digits of the integer: intp and frac shifted by e.
	var digits [24]byte
	nd := 0
	if e >= 0 {
		if len(frac) > e || len(intp)+e > 20 {
			return false, 0, false
		}
		nd += copy(digits[:], intp)
		nd += copy(digits[nd:], frac)
		for i := 0; i < e-len(frac); i++ {
			digits[nd] = '0'
			nd++
		}
	} else {
		idx := len(intp) + e
		if len(frac) > 0 || idx < 0 {
			return false, 0, false
		}
		for _, c := range intp[idx:] {
			if c != '0' {
				return false, 0, false
			}
		}
		nd = copy(digits[:], intp[:idx])
	}
	if nd == 0 {
		return false, 0, false
	}
	for _, c := range digits[:nd] {
		if mag > (math.MaxUint64-9)/10 && (mag > math.MaxUint64/10 || uint64(c-'0') > math.MaxUint64-mag*10) {
			return false, 0, false
		}
		mag = mag*10 + uint64(c-'0')
	}
	return neg, mag, true
}

// parseExp parses an exponent (optional sign, digits) that must fit an
// int32, as protojson requires.
func parseExp(b []byte) (int, bool) {
	if len(b) == 0 {
		return 0, true
	}
	neg := false
	switch b[0] {
	case '-':
		neg, b = true, b[1:]
	case '+':
		b = b[1:]
	}
	v := 0
	for _, c := range b {
		v = v*10 + int(c-'0')
		if v > math.MaxInt32+1 {
			return 0, false
		}
	}
	if neg {
		return -v, true
	}
	if v > math.MaxInt32 {
		return 0, false
	}
	return v, true
}

// maxUint is the largest magnitude of a non-negative value of kind k.
func maxUint(k fieldKind) uint64 {
	switch k {
	case fkInt32, fkSint32, fkEnum:
		return math.MaxInt32
	case fkInt64, fkSfixed64:
		return math.MaxInt64
	case fkUint32, fkFixed32:
		return math.MaxUint32
	}
	return math.MaxUint64 // fkUint64, fkFixed64
}

// intValue reads a numeric field of kind k (number or numeric string) and
// returns it as the uint64 the wire carries (sign-extended for signed
// kinds, zigzag for sint32).
func (d *jdec) intValue(k fieldKind) (uint64, bool) {
	start := d.i
	if v, ok := d.plainUint(); ok {
		if v <= maxUint(k) {
			if k == fkSint32 {
				v = wireEncodeZigZag(int64(v))
			}
			return v, true
		}
		d.i = start // out of range: the general path says so
	}
	lit, _, ok := d.numberOrString()
	if !ok {
		return 0, false
	}
	neg, mag, ok := jsonInt(lit)
	if ok {
		if neg {
			ok = k != fkUint32 && k != fkFixed32 && k != fkUint64 && k != fkFixed64 && mag <= maxUint(k)+1
		} else {
			ok = mag <= maxUint(k)
		}
	}
	if !ok {
		return 0, d.failNot(lit, "a valid", k)
	}
	v := mag
	if neg {
		v = -mag
	}
	if k == fkSint32 {
		v = wireEncodeZigZag(int64(v))
	}
	return v, true
}

var kindNames = [...]string{fkString: "string", fkBytes: "bytes", fkTraceID: "trace id", fkSpanID: "span id",
	fkMessage: "message", fkBool: "bool", fkInt32: "int32", fkUint32: "uint32", fkInt64: "int64", fkUint64: "uint64",
	fkSint32: "sint32", fkEnum: "enum", fkFixed32: "fixed32", fkFixed64: "fixed64", fkSfixed64: "sfixed64", fkDouble: "double"}

// doubleValue reads a double: a number, a numeric string, or "NaN",
// "Infinity", "-Infinity".
func (d *jdec) doubleValue() (float64, bool) {
	// A plain integer up to 2^53 is exactly the float64 ParseFloat returns.
	start := d.i
	if v, ok := d.plainUint(); ok {
		if v <= 1<<53 {
			return float64(v), true
		}
		d.i = start
	}
	lit, quoted, ok := d.numberOrString()
	if !ok {
		return 0, false
	}
	if quoted {
		switch string(lit) {
		case "NaN":
			return math.NaN(), true
		case "Infinity":
			return math.Inf(1), true
		case "-Infinity":
			return math.Inf(-1), true
		}
		if len(lit) == 0 || numberLen(lit) != len(lit) {
			return 0, d.failNot(lit, "a valid", fkDouble)
		}
	}
	// unsafe.String: ParseFloat only reads lit during the call, and the
	// conversion would otherwise allocate for every double.
	f, err := strconv.ParseFloat(unsafe.String(&lit[0], len(lit)), 64)
	if err != nil {
		return 0, d.failNot(lit, "a valid", fkDouble)
	}
	return f, true
}

// jTag appends the tag of field num with wire type typ: one byte for the
// field numbers below 16 (all but two of OTLP's), inlined where
// wireAppendTag is a call.
func jTag(dst []byte, num wireNumber, typ wireType) []byte {
	return jVarint(dst, uint64(num)<<3|uint64(typ))
}

// jVarint appends v as a varint, inlined (wireAppendVarint is a call).
func jVarint(dst []byte, v uint64) []byte {
	for v >= 0x80 {
		dst = append(dst, byte(v)|0x80)
		v >>= 7
	}
	return append(dst, byte(v))
}

// jOpen is openLen with jTag.
func jOpen(dst []byte, num wireNumber) ([]byte, int) {
	dst = append(jTag(dst, num, wireBytesType), 0)
	return dst, len(dst)
}

// jsonField finds the field of fields named key (lowerCamelCase, else the
// proto name). Senders write fields in one order, mostly the schema's, so
// the search starts at hint, the field after the previous key's, and
// wraps around: usually the first comparison hits.
func jsonField(fields []fieldDesc, key []byte, hint int) int {
	for i := hint; i < len(fields); i++ {
		if fields[i].json == string(key) {
			return i
		}
	}
	for i := 0; i < hint && i < len(fields); i++ {
		if fields[i].json == string(key) {
			return i
		}
	}
	for i := range fields {
		if fields[i].name == string(key) {
			return i
		}
	}
	return -1
}

// quickKey matches the key at d.i (after white space) with the JSON names
// of fields, from hint on and around: a key without escapes that is one of
// them is consumed and its field's index returned. Else it returns -1 and
// consumes nothing, for str and jsonField to take the key. The name has no
// quote, backslash or control character, so a quote right after it ends
// the key there.
func (d *jdec) quickKey(fields []fieldDesc, hint int) int {
	b, i := d.b, d.i
	if i >= len(b) || b[i] != '"' {
		return -1
	}
	rest := b[i+1:]
	for k, j := 0, hint; k < len(fields); k, j = k+1, j+1 {
		if j >= len(fields) {
			j = 0
		}
		name := fields[j].json
		if len(rest) > len(name) && rest[len(name)] == '"' && eqName(rest[:len(name)], name) {
			d.i = i + 2 + len(name)
			return j
		}
	}
	return -1
}

// eqName reports whether b holds the field name s, of the same length.
// It is runtime.memequal inlined, for short strings: bytes for up to 3,
// else two overlapping loads of 4 or of 8 bytes and more for longer ones.
func eqName(b []byte, s string) bool {
	n := len(s)
	if len(b) != n {
		return false
	}
	switch {
	case n >= 8:
		for k := 0; k < n-8; k += 8 {
			if binary.LittleEndian.Uint64(b[k:]) != le64(s[k:]) {
				return false
			}
		}
		return binary.LittleEndian.Uint64(b[n-8:]) == le64(s[n-8:])
	case n >= 4:
		return binary.LittleEndian.Uint32(b) == le32(s) && binary.LittleEndian.Uint32(b[n-4:]) == le32(s[n-4:])
	}
	for k := 0; k < n; k++ {
		if b[k] != s[k] {
			return false
		}
	}
	return true
}

// has8 reports whether b starts with the 8 bytes of s (a constant: one
// load and one comparison).
func has8(b []byte, s string) bool {
	return len(b) >= 8 && binary.LittleEndian.Uint64(b) == le64(s)
}

// le64 and le32 load the first 8 or 4 bytes of s, little-endian: the
// compiler makes one load of each.
func le64(s string) uint64 {
	s = s[:8]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

func le32(s string) uint32 {
	s = s[:4]
	return uint32(s[0]) | uint32(s[1])<<8 | uint32(s[2])<<16 | uint32(s[3])<<24
}

// message transcodes the JSON object at d.i as the content of message m,
// appending its fields to dst.
func (d *jdec) message(dst []byte, m msgID) ([]byte, bool) {
	if !d.expect('{') {
		return dst, false
	}
	if d.next() == '}' {
		d.i++
		return dst, true
	}
	return d.members(dst, schema[m].fields, 0, false)
}

// members transcodes the members of an object up to its '}', from a key
// or, with after, from the ',' or '}' that follows a member (keyValue
// reads the first one itself). hint is the field after the last one.
func (d *jdec) members(dst []byte, fields []fieldDesc, hint int, after bool) ([]byte, bool) {
	for {
		if after {
			switch d.next() {
			case ',':
				d.i++
			case '}':
				d.i++
				return dst, true
			default:
				return dst, d.failGot("',' or '}'")
			}
		}
		after = true
		var raw []byte
		fi := d.quickKey(fields, hint)
		if fi < 0 {
			var esc, ok bool
			if raw, esc, ok = d.str(); !ok {
				return dst, false
			}
			key := raw
			if esc {
				if d.key, ok = d.decodeStr(d.key[:0], raw); !ok {
					return dst, false
				}
				key = d.key
			}
			fi = jsonField(fields, key, hint)
		}
		if d.i < len(d.b) && d.b[d.i] == ':' {
			d.i++
		} else if !d.expect(':') {
			return dst, false
		}
		var ok bool
		c := d.next()
		switch {
		case fi < 0:
			// Unknown fields are ignored (OTLP/JSON rule 4).
			if !d.skipValue(0) {
				d.addPath(nil, raw, -1)
				return dst, false
			}
		case c == 'n' && d.literal("null"): // null leaves the field unset
			hint = fi + 1
		default:
			hint = fi + 1
			f := &fields[fi]
			if f.flags&fRepeated != 0 {
				dst, ok = d.list(dst, f)
			} else if dst, ok = d.value(dst, f, f.flags&(fOneof|fOptional) != 0); !ok {
				d.addPath(f, nil, -1)
			}
			if !ok {
				return dst, false
			}
		}
	}
}

// keyValue transcodes the element at d.i of the KeyValue list f. Most
// attributes are written {"key":"k","value":{…}}: for those it reads the
// key and goes to the value without looking fields up; for anything else,
// or after them, it does what the general path does.
func (d *jdec) keyValue(dst []byte, f *fieldDesc) ([]byte, bool) {
	if !has8(d.b[d.i:], `{"key":"`) {
		return d.value(dst, f, true)
	}
	d.val = d.i
	kvFields := schema[mKeyValue].fields
	dst, kv := jOpen(dst, f.num)
	d.i += len(`{"key":`)
	raw, esc, ok := d.str()
	if ok {
		dst, ok = d.appendStr(dst, kvFields[0].num, raw, esc, false)
	}
	if !ok {
		d.addPath(&kvFields[0], nil, -1)
		return dst, false
	}
	hint := 1
	if rest := d.b[d.i:]; has8(rest, `,"value"`) && len(rest) > 9 && rest[8] == ':' && rest[9] == '{' {
		d.i += len(`,"value":`)
		if dst, ok = d.anyValue(dst, &kvFields[1]); !ok {
			d.addPath(&kvFields[1], nil, -1)
			return dst, false
		}
		hint = 2
	}
	if d.i < len(d.b) && d.b[d.i] == '}' {
		d.i++
	} else if dst, ok = d.members(dst, kvFields, hint, true); !ok {
		return dst, false
	}
	return closeLen(dst, kv), true
}

// anyValue appends the AnyValue field f with the object at d.i (not
// null). An AnyValue is a third of the objects of a request.
func (d *jdec) anyValue(dst []byte, f *fieldDesc) ([]byte, bool) {
	if d.anyDepth++; d.anyDepth > maxAnyDepth {
		return dst, d.fail("AnyValue nested deeper than %d levels", maxAnyDepth)
	}
	dst, av := jOpen(dst, f.num)
	var ok bool
	if d.i+1 < len(d.b) && d.b[d.i] == '{' && d.b[d.i+1] == '"' {
		d.i++
		dst, ok = d.members(dst, schema[mAnyValue].fields, 0, false)
	} else {
		dst, ok = d.message(dst, mAnyValue)
	}
	if !ok {
		return dst, false
	}
	d.anyDepth--
	return closeLen(dst, av), true
}

// list transcodes the JSON array of the repeated field f: scalars packed,
// messages and strings one record each. It adds f (and the index) to the
// path of its errors.
func (d *jdec) list(dst []byte, f *fieldDesc) ([]byte, bool) {
	if !d.expect('[') {
		d.addPath(f, nil, -1)
		return dst, false
	}
	packed := f.packed()
	start := 0
	if packed {
		dst, start = jOpen(dst, f.num)
	}
	if d.next() == ']' {
		d.i++
	} else {
		for idx := int32(0); ; idx++ {
			d.ws()
			var ok bool
			switch {
			case packed:
				dst, ok = d.scalar(dst, f)
			case f.kind == fkMessage && f.msg == mKeyValue:
				dst, ok = d.keyValue(dst, f)
			default:
				dst, ok = d.value(dst, f, true)
			}
			if !ok {
				d.addPath(f, nil, idx)
				return dst, false
			}
			c := d.next()
			if c == ']' {
				d.i++
				break
			}
			if c != ',' {
				d.addPath(f, nil, idx)
				return dst, d.failGot("',' or ']'")
			}
			d.i++
		}
	}
	if packed {
		if len(dst) == start { // [] is no value at all
			return dst[:start-1-wireSizeTag(f.num)], true
		}
		dst = closeLen(dst, start)
	}
	return dst, true
}

// scalar appends the bare value (no tag) of a packed element of field f.
func (d *jdec) scalar(dst []byte, f *fieldDesc) ([]byte, bool) {
	d.val = d.i
	switch f.kind {
	case fkDouble:
		v, ok := d.doubleValue()
		return wireAppendFixed64(dst, math.Float64bits(v)), ok
	case fkFixed64:
		v, ok := d.intValue(f.kind)
		return wireAppendFixed64(dst, v), ok
	default: // fkUint64
		v, ok := d.intValue(f.kind)
		return jVarint(dst, v), ok
	}
}

// value appends field f with the JSON value at d.i (not null). With
// presence, zero values are written too (oneof members, optional fields,
// list elements); else proto3 skips them.
func (d *jdec) value(dst []byte, f *fieldDesc, presence bool) ([]byte, bool) {
	d.val = d.i
	if d.i < len(d.b) && d.b[d.i] == 'n' && d.literal("null") {
		return dst, d.failNull(f.kind)
	}
	switch f.kind {
	case fkMessage:
		if f.msg == mAnyValue {
			return d.anyValue(dst, f)
		}
		dst, start := jOpen(dst, f.num)
		dst, ok := d.message(dst, f.msg)
		if !ok {
			return dst, false
		}
		return closeLen(dst, start), true
	case fkString:
		raw, esc, ok := d.str()
		if !ok {
			return dst, false
		}
		return d.appendStr(dst, f.num, raw, esc, presence)
	case fkBytes:
		return d.bytesValue(dst, f, presence)
	case fkTraceID, fkSpanID:
		s, ok := d.strValue()
		if !ok {
			return dst, false
		}
		if len(s) == 0 {
			return dst, true // an empty id is no id
		}
		if len(s)%2 != 0 {
			return dst, d.failNot(s, "a hex", f.kind)
		}
		dst = jTag(dst, f.num, wireBytesType)
		dst = jVarint(dst, uint64(len(s)/2))
		n := len(dst)
		dst = slices.Grow(dst, len(s)/2)[:n+len(s)/2]
		if _, err := hex.Decode(dst[n:], s); err != nil {
			return dst, d.failNot(s, "a hex", f.kind)
		}
		return dst, true
	case fkBool:
		var v bool
		switch {
		case d.literal("true"):
			v = true
		case d.literal("false"):
		default:
			return dst, d.failGot("true or false")
		}
		if !v && !presence {
			return dst, true
		}
		dst = jTag(dst, f.num, wireVarintType)
		return jVarint(dst, wireEncodeBool(v)), true
	case fkDouble:
		v, ok := d.doubleValue()
		if !ok || math.Float64bits(v) == 0 && !presence {
			return dst, ok
		}
		return appendDouble(dst, f.num, v), true
	case fkEnum:
		if d.next() == '"' {
			return d.enumName(dst, f, presence)
		}
	}
	// Integers.
	v, ok := d.intValue(f.kind)
	if !ok || v == 0 && !presence {
		return dst, ok
	}
	switch f.kind.wireType() {
	case wireFixed32Type:
		dst = jTag(dst, f.num, wireFixed32Type)
		return wireAppendFixed32(dst, uint32(v)), true
	case wireFixed64Type:
		dst = jTag(dst, f.num, wireFixed64Type)
		return wireAppendFixed64(dst, v), true
	}
	dst = jTag(dst, f.num, wireVarintType)
	return jVarint(dst, v), true
}

// appendStr appends string field num with the raw content of a JSON
// string (esc: it has escapes to decode); the empty string only with
// presence.
func (d *jdec) appendStr(dst []byte, num wireNumber, raw []byte, esc, presence bool) ([]byte, bool) {
	if len(raw) == 0 && !presence {
		return dst, true
	}
	dst = jTag(dst, num, wireBytesType)
	if !esc {
		return append(jVarint(dst, uint64(len(raw))), raw...), true
	}
	dst, start := append(dst, 0), len(dst)+1
	dst, ok := d.decodeStr(dst, raw)
	return closeLen(dst, start), ok
}

// bytesValue appends the bytes field f given in base64.
func (d *jdec) bytesValue(dst []byte, f *fieldDesc, presence bool) ([]byte, bool) {
	s, ok := d.strValue()
	if !ok {
		return dst, false
	}
	if len(s) == 0 && !presence {
		return dst, true
	}
	// As protojson: URL alphabet if it has - or _, padding optional.
	enc := base64.StdEncoding
	for _, c := range s {
		if c == '-' || c == '_' {
			enc = base64.URLEncoding
			break
		}
	}
	if len(s)%4 != 0 {
		enc = enc.WithPadding(base64.NoPadding)
	}
	dst, start := jOpen(dst, f.num)
	dst = slices.Grow(dst, enc.DecodedLen(len(s)))
	n, err := enc.Decode(dst[len(dst):len(dst)+enc.DecodedLen(len(s))], s)
	if err != nil {
		return dst, d.valFail("invalid base64: %v", err)
	}
	return closeLen(dst[:len(dst)+n], start), true
}

// enumName appends the enum field f given by its name; unknown names are
// ignored, as protojson (DiscardUnknown) does.
func (d *jdec) enumName(dst []byte, f *fieldDesc, presence bool) ([]byte, bool) {
	s, ok := d.strValue()
	if !ok {
		return dst, false
	}
	for n, name := range enumNames[f.msg] {
		if name == string(s) {
			if n == 0 && !presence {
				return dst, true
			}
			dst = jTag(dst, f.num, wireVarintType)
			return jVarint(dst, uint64(n)), true
		}
	}
	return dst, true
}

// skipValue skips (and checks) any JSON value.
func (d *jdec) skipValue(depth int) bool {
	if depth > maxJSONDepth {
		return d.fail("nested deeper than %d levels", maxJSONDepth)
	}
	switch c := d.next(); {
	case c == '"':
		raw, esc, ok := d.str()
		if ok && esc {
			d.scratch, ok = d.decodeStr(d.scratch[:0], raw)
		}
		return ok
	case c == '{' || c == '[':
		d.i++
		end := byte('}')
		if c == '[' {
			end = ']'
		}
		if d.next() == end {
			d.i++
			return true
		}
		for {
			if c == '{' {
				if _, _, ok := d.str(); !ok {
					return false
				}
				if !d.expect(':') {
					return false
				}
			}
			if !d.skipValue(depth + 1) {
				return false
			}
			switch d.next() {
			case ',':
				d.i++
			case end:
				d.i++
				return true
			default:
				return d.failGot("',' or " + strconv.QuoteRune(rune(end)))
			}
		}
	case c == 't' || c == 'f' || c == 'n':
		if d.literal("true") || d.literal("false") || d.literal("null") {
			return true
		}
		return d.failGot("a value")
	default:
		_, ok := d.number()
		return ok
	}
}

// protoToJSON transcodes a protobuf Export<signal>ServiceRequest to OTLP/JSON
// as the spec wants it (lowerCamelCase keys, hex ids, enums as integers,
// 64-bit integers as strings, proto3 zero values left out), appending to
// dst. It reads the wire as proto does (last value wins, repeated records
// append, a singular message given twice is merged, the last oneof member
// wins), rejects what validateRequest rejects, and skips unknown fields.
func protoToJSON(sig signal, dst, pb []byte) ([]byte, error) {
	if sig >= numSignals {
		return dst, fmt.Errorf("%w: protobuf to json: unknown signal %v", errBadData, sig)
	}
	start := len(dst)
	// OTLP/JSON is about twice the size of its protobuf: grow once.
	dst = slices.Grow(dst, 2*len(pb)+2)
	out, err := appendJSONMessage(dst, requestMsg(sig), pb, 0)
	if err != nil {
		return dst[:start], err
	}
	return out, nil
}

// wireRecord is one decoded record: its field, wire type and value (v for
// scalars, b for LEN).
type wireRecord struct {
	num wireNumber
	typ wireType
	v   uint64
	b   []byte
}

// consumeRecord decodes the record at the start of p; n < 0 on error.
func consumeRecord(p []byte) (r wireRecord, n int) {
	num, typ, n := wireConsumeTag(p)
	if n < 0 {
		return r, n
	}
	if num > wireMaxValidNumber {
		return r, -1
	}
	r.num, r.typ = num, typ
	var m int
	switch typ {
	case wireVarintType:
		r.v, m = wireConsumeVarint(p[n:])
	case wireFixed32Type:
		var v uint32
		v, m = wireConsumeFixed32(p[n:])
		r.v = uint64(v)
	case wireFixed64Type:
		r.v, m = wireConsumeFixed64(p[n:])
	case wireBytesType:
		r.b, m = wireConsumeBytes(p[n:])
	default:
		m = wireConsumeFieldValue(num, typ, p[n:])
	}
	if m < 0 {
		return r, m
	}
	return r, n + m
}

// jsonWireError is a failure of protoToJSON in message or field name.
func jsonWireError(name, what string) error {
	return fmt.Errorf("%w: protobuf to json: %s: %s", errBadData, name, what)
}

// appendJSONMessage appends the JSON object of message m with content b.
func appendJSONMessage(dst []byte, m msgID, b []byte, anyDepth int) ([]byte, error) {
	if m == mAnyValue {
		if anyDepth++; anyDepth > maxAnyDepth {
			return dst, jsonWireError(schema[m].name, fmt.Sprintf("nested deeper than %d levels", maxAnyDepth))
		}
	}
	desc := &schema[m]
	// Pass 1: check the records, and find out whether the wire order can be
	// followed (each field's records contiguous, singular fields once), and
	// which oneof member wins.
	var seen uint32
	slow := false
	last, oneof, oneofFrom := -1, -1, 0
	for p := b; len(p) > 0; {
		r, n := consumeRecord(p)
		if n < 0 {
			return dst, jsonWireError(desc.name, "malformed protobuf: "+wireParseError(n).Error())
		}
		if fi := desc.field(r.num); fi >= 0 {
			f := &desc.fields[fi]
			if want := f.kind.wireType(); r.typ != want && !(r.typ == wireBytesType && f.packed()) {
				return dst, jsonWireError(desc.name+"."+f.name, fmt.Sprintf("wire type %s, want %s", wireTypeNames[r.typ&7], wireTypeNames[want&7]))
			}
			if seen&(1<<fi) != 0 && (fi != last || !f.repeated()) {
				slow = true
			}
			seen |= 1 << fi
			last = fi
			if f.flags&fOneof != 0 && fi != oneof {
				oneof, oneofFrom = fi, len(b)-len(p)
			}
		}
		p = p[n:]
	}
	dst = append(dst, '{')
	first := true
	var err error
	if !slow {
		open := -1 // field index of the array being written
		elemFirst := false
		for p := b; len(p) > 0; {
			r, n := consumeRecord(p)
			p = p[n:]
			fi := desc.field(r.num)
			if fi < 0 || desc.fields[fi].flags&fOneof != 0 && fi != oneof {
				continue
			}
			f := &desc.fields[fi]
			if f.repeated() {
				if open != fi {
					if open >= 0 {
						dst = append(dst, ']')
					}
					dst = appendKey(dst, f, &first)
					dst = append(dst, '[')
					open, elemFirst = fi, true
				}
				if dst, err = appendElems(dst, f, r, &elemFirst, anyDepth); err != nil {
					return dst, err
				}
				continue
			}
			if open >= 0 {
				dst = append(dst, ']')
				open = -1
			}
			if dst, err = appendField(dst, f, r, &first, anyDepth); err != nil {
				return dst, err
			}
		}
		if open >= 0 {
			dst = append(dst, ']')
		}
		return append(dst, '}'), nil
	}
	// Slow path, for unusual encodings: field by field.
	for fi := range desc.fields {
		f := &desc.fields[fi]
		if seen&(1<<fi) == 0 || f.flags&fOneof != 0 && fi != oneof {
			continue
		}
		from := b
		if f.flags&fOneof != 0 {
			from = b[oneofFrom:]
		}
		switch {
		case f.repeated():
			dst = appendKey(dst, f, &first)
			dst = append(dst, '[')
			elemFirst := true
			for p := from; len(p) > 0; {
				r, n := consumeRecord(p)
				p = p[n:]
				if r.num == f.num {
					if dst, err = appendElems(dst, f, r, &elemFirst, anyDepth); err != nil {
						return dst, err
					}
				}
			}
			dst = append(dst, ']')
		case f.kind == fkMessage:
			// Merge: the message is the concatenation of every record.
			var merged []byte
			count := 0
			for p := from; len(p) > 0; {
				r, n := consumeRecord(p)
				p = p[n:]
				if r.num == f.num {
					if count == 0 {
						merged = r.b
					} else {
						if count == 1 {
							merged = append([]byte(nil), merged...)
						}
						merged = append(merged, r.b...)
					}
					count++
				}
			}
			if dst, err = appendField(dst, f, wireRecord{num: f.num, typ: wireBytesType, b: merged}, &first, anyDepth); err != nil {
				return dst, err
			}
		default: // the last value wins
			var lastRec wireRecord
			for p := from; len(p) > 0; {
				r, n := consumeRecord(p)
				p = p[n:]
				if r.num == f.num {
					lastRec = r
				}
			}
			if dst, err = appendField(dst, f, lastRec, &first, anyDepth); err != nil {
				return dst, err
			}
		}
	}
	return append(dst, '}'), nil
}

// appendKey appends `"key":`, after a comma unless it is the first.
func appendKey(dst []byte, f *fieldDesc, first *bool) []byte {
	if !*first {
		dst = append(dst, ',')
	}
	*first = false
	dst = append(dst, '"')
	dst = append(dst, f.json...)
	return append(dst, '"', ':')
}

// appendField appends the singular field f of record r, unless it is a
// proto3 zero value without presence.
func appendField(dst []byte, f *fieldDesc, r wireRecord, first *bool, anyDepth int) ([]byte, error) {
	if f.flags&(fOneof|fOptional) == 0 && f.kind != fkMessage {
		zero := r.v == 0 && len(r.b) == 0
		switch f.kind {
		case fkInt32, fkEnum:
			zero = int32(r.v) == 0
		case fkUint32, fkSint32:
			zero = uint32(r.v) == 0
		}
		if zero {
			return dst, nil
		}
	}
	dst = appendKey(dst, f, first)
	return appendJSONValue(dst, f, r.typ, r.v, r.b, anyDepth)
}

// appendElems appends the array elements of record r of repeated field f:
// one, or all of a packed record.
func appendElems(dst []byte, f *fieldDesc, r wireRecord, first *bool, anyDepth int) ([]byte, error) {
	sep := func() {
		if !*first {
			dst = append(dst, ',')
		}
		*first = false
	}
	if !(r.typ == wireBytesType && f.packed()) {
		sep()
		return appendJSONValue(dst, f, r.typ, r.v, r.b, anyDepth)
	}
	for p := r.b; len(p) > 0; {
		var v uint64
		var n int
		if f.kind == fkUint64 {
			v, n = wireConsumeVarint(p)
		} else {
			v, n = wireConsumeFixed64(p)
		}
		if n < 0 {
			return dst, jsonWireError(f.name, "malformed packed values")
		}
		p = p[n:]
		sep()
		dst, _ = appendJSONValue(dst, f, wireFixed64Type, v, nil, anyDepth)
	}
	return dst, nil
}

// appendJSONValue appends one JSON value of field f: v for scalars, b for
// LEN.
func appendJSONValue(dst []byte, f *fieldDesc, typ wireType, v uint64, b []byte, anyDepth int) ([]byte, error) {
	switch f.kind {
	case fkMessage:
		return appendJSONMessage(dst, f.msg, b, anyDepth)
	case fkString:
		if !utf8.Valid(b) {
			return dst, jsonWireError(f.name, "invalid UTF-8")
		}
		return appendJSONString(dst, b), nil
	case fkBytes:
		dst = append(dst, '"')
		dst = base64.StdEncoding.AppendEncode(dst, b)
		return append(dst, '"'), nil
	case fkTraceID, fkSpanID:
		dst = append(dst, '"')
		dst = hex.AppendEncode(dst, b)
		return append(dst, '"'), nil
	case fkBool:
		return strconv.AppendBool(dst, v != 0), nil
	case fkInt32, fkEnum:
		return strconv.AppendInt(dst, int64(int32(v)), 10), nil
	case fkUint32, fkFixed32:
		return strconv.AppendUint(dst, uint64(uint32(v)), 10), nil
	case fkSint32:
		return strconv.AppendInt(dst, int64(int32(wireDecodeZigZag(v&math.MaxUint32))), 10), nil
	case fkInt64, fkSfixed64:
		dst = append(dst, '"')
		dst = strconv.AppendInt(dst, int64(v), 10)
		return append(dst, '"'), nil
	case fkUint64, fkFixed64:
		dst = append(dst, '"')
		dst = strconv.AppendUint(dst, v, 10)
		return append(dst, '"'), nil
	default: // fkDouble
		return appendJSONFloat(dst, math.Float64frombits(v)), nil
	}
}

// appendJSONFloat appends a double: the shortest number that reads back
// the same, or the strings ProtoJSON uses for NaN and the infinities.
func appendJSONFloat(dst []byte, f float64) []byte {
	switch {
	case math.IsNaN(f):
		return append(dst, `"NaN"`...)
	case math.IsInf(f, 1):
		return append(dst, `"Infinity"`...)
	case math.IsInf(f, -1):
		return append(dst, `"-Infinity"`...)
	}
	return strconv.AppendFloat(dst, f, 'g', -1, 64)
}

// appendJSONString appends s (valid UTF-8) as a JSON string.
func appendJSONString(dst, s []byte) []byte {
	const hexDigits = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i, c := range s {
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		start = i + 1
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
