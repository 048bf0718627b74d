// otlpjson_ref_test.go keeps the first OTLP/JSON transcoder (a per-token
// scanner with a path stack, as it was before the issue 7 rewrite of
// jsonToProto), frozen as the oracle of FuzzJSONToProtoRef: the fast one
// must give the same bytes and the same errors on every input.
package main

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"math"
	"slices"
	"strconv"
	"unicode/utf8"
	"unsafe"

	"google.golang.org/protobuf/encoding/protowire"
)

// refPathElem is one step of the JSON path of an error: a known field, or the
// raw key of an unknown one, and the array index (-1 when not in an array).
type refPathElem struct {
	f   *fieldDesc
	key []byte
	idx int32
}

// refDec transcodes one JSON document. It lives on the caller's stack.
type refDec struct {
	b        []byte
	i        int
	anyDepth int
	scratch  []byte // decoded strings with escapes, only when needed
	key      []byte // decoded keys with escapes, only when needed
	path     [maxPath]refPathElem
	depth    int
	val      int // offset of the scalar value being read, for errors
}

// refJSONToProto transcodes an OTLP/JSON Export<signal>ServiceRequest to
// protobuf, appending to dst. Errors wrap errBadData and give the JSON path
// (resourceSpans[0].scopeSpans[0].spans[3].traceId: …). Ids are not checked
// for length here: validate the result with validateRequest.
func refJSONToProto(sig signal, dst, js []byte) ([]byte, error) {
	if sig >= numSignals {
		return dst, fmt.Errorf("%w: json: unknown signal %v", errBadData, sig)
	}
	// Protobuf is about half the size of its JSON: grow once.
	dst = slices.Grow(dst, len(js)/2)
	start := len(dst)
	d := refDec{b: js}
	d.ws()
	out, err := d.message(dst, requestMsg(sig))
	if err == nil {
		d.ws()
		if d.i != len(d.b) {
			err = d.errorf("unexpected %s after the request", d.what())
		}
	}
	if err != nil {
		return dst[:start], err
	}
	return out, nil
}

// errorf builds an error at the current path and offset.
func (d *refDec) errorf(format string, args ...any) error { return d.errAt(d.i, format, args...) }

// valErrorf builds an error about the value that starts at d.val.
func (d *refDec) valErrorf(format string, args ...any) error { return d.errAt(d.val, format, args...) }

// errAt builds an error at the current path and byte offset pos.
func (d *refDec) errAt(pos int, format string, args ...any) error {
	var p []byte
	for i := 0; i < d.depth; i++ {
		e := d.path[i]
		if i > 0 {
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
	msg := fmt.Sprintf(format, args...)
	if len(p) == 0 {
		return fmt.Errorf("%w: json: at byte %d: %s", errBadData, pos, msg)
	}
	return fmt.Errorf("%w: json: %s: at byte %d: %s", errBadData, p, pos, msg)
}

// push and pop maintain the error path; push fails beyond maxPath.
func (d *refDec) push(e refPathElem) error {
	if d.depth >= len(d.path) {
		return d.errorf("nested too deep")
	}
	d.path[d.depth] = e
	d.depth++
	return nil
}

func (d *refDec) pop() { d.depth-- }

// what describes the next token for an error.
func (d *refDec) what() string {
	if d.i >= len(d.b) {
		return "end of input"
	}
	return strconv.QuoteRune(rune(d.b[d.i]))
}

func (d *refDec) ws() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

// next skips white space and returns the next byte (0 at the end).
func (d *refDec) next() byte {
	d.ws()
	if d.i < len(d.b) {
		return d.b[d.i]
	}
	return 0
}

// expect consumes byte c after white space.
func (d *refDec) expect(c byte) error {
	if d.next() != c {
		return d.errorf("got %s, want %q", d.what(), c)
	}
	d.i++
	return nil
}

// literal consumes the literal lit (true, false, null) if it is next.
func (d *refDec) literal(lit string) bool {
	if len(d.b)-d.i >= len(lit) && string(d.b[d.i:d.i+len(lit)]) == lit {
		if e := d.i + len(lit); e == len(d.b) || !refIsIdentByte(d.b[e]) {
			d.i = e
			return true
		}
	}
	return false
}

func refIsIdentByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_'
}

// str scans a string at d.i (the opening quote) and returns its raw
// content and whether it has escapes. Raw content is checked for control
// characters and, when it has no escapes, for UTF-8 (decodeStr checks the
// escaped ones).
func (d *refDec) str() (raw []byte, esc bool, err error) {
	if d.next() != '"' {
		return nil, false, d.errorf("got %s, want a string", d.what())
	}
	start := d.i + 1
	high := false
	for i := start; i < len(d.b); i++ {
		c := d.b[i]
		switch {
		case c == '"':
			d.i = i + 1
			raw = d.b[start:i]
			if high && !esc && !utf8.Valid(raw) {
				return nil, false, d.errorf("invalid UTF-8 in string")
			}
			return raw, esc, nil
		case c == '\\':
			esc = true
			i++ // the escaped byte; \uXXXX digits are checked by decodeStr
		case c < 0x20:
			d.i = i
			return nil, false, d.errorf("control character %q in string", c)
		case c >= 0x80:
			high = true
		}
	}
	d.i = len(d.b)
	return nil, false, d.errorf("unterminated string")
}

// decodeStr appends the decoded string raw (content with escapes) to dst.
// It follows protojson: lone surrogates are an error, invalid UTF-8 too.
func (d *refDec) decodeStr(dst, raw []byte) ([]byte, error) {
	dst, at, bad := unquoteJSON(dst, raw, true)
	switch {
	case bad == "":
		return dst, nil
	case bad == jsonBadEscape && at+1 < len(raw):
		return dst, d.errorf("bad escape \\%c in string", raw[at+1])
	}
	return dst, d.errorf("%s in string", bad)
}

// strValue scans a string and returns its decoded content: the raw bytes
// when there are no escapes, else a decoding in d.scratch (valid until the
// next call).
func (d *refDec) strValue() ([]byte, error) {
	raw, esc, err := d.str()
	if err != nil || !esc {
		return raw, err
	}
	d.scratch, err = d.decodeStr(d.scratch[:0], raw)
	return d.scratch, err
}

// refNumberLen returns the length of the JSON number at the start of b, or 0.
func refNumberLen(b []byte) int {
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
func (d *refDec) number() ([]byte, error) {
	d.ws()
	n := refNumberLen(d.b[d.i:])
	if e := d.i + n; n == 0 || e < len(d.b) && (refIsIdentByte(d.b[e]) || d.b[e] == '.' || d.b[e] == '-' || d.b[e] == '+') {
		return nil, d.errorf("got %s, want a number", d.what())
	}
	lit := d.b[d.i : d.i+n]
	d.i += n
	return lit, nil
}

// numberOrString returns the number literal of a JSON number, or of a
// string holding exactly one (as protojson accepts for numeric fields), and
// whether it was a string (so the caller can try NaN, enum names…).
func (d *refDec) numberOrString() (lit []byte, quoted bool, err error) {
	if d.next() != '"' {
		lit, err = d.number()
		return lit, false, err
	}
	s, err := d.strValue()
	return s, true, err
}

// refJSONInt parses the JSON number literal lit as protojson does for integer
// fields: a fraction or exponent is fine when the value is integral. It
// returns the sign and magnitude.
func refJSONInt(lit []byte) (neg bool, mag uint64, ok bool) {
	if len(lit) == 0 || refNumberLen(lit) != len(lit) {
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
	e, ok := refParseExp(exp)
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

// refParseExp parses an exponent (optional sign, digits) that must fit an
// int32, as protojson requires.
func refParseExp(b []byte) (int, bool) {
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

// intValue reads a numeric field of kind k (number or numeric string) and
// returns it as the uint64 the wire carries (sign-extended for signed
// kinds, zigzag for sint32).
func (d *refDec) intValue(k fieldKind) (uint64, error) {
	lit, _, err := d.numberOrString()
	if err != nil {
		return 0, err
	}
	neg, mag, ok := refJSONInt(lit)
	if ok {
		switch k {
		case fkInt32, fkSint32, fkEnum:
			ok = !neg && mag <= math.MaxInt32 || neg && mag <= 1<<31
		case fkInt64, fkSfixed64:
			ok = !neg && mag <= math.MaxInt64 || neg && mag <= 1<<63
		case fkUint32, fkFixed32:
			ok = !neg && mag <= math.MaxUint32
		default: // fkUint64, fkFixed64
			ok = !neg
		}
	}
	if !ok {
		return 0, d.valErrorf("%q is not a valid %s", lit, refKindNames[k])
	}
	v := mag
	if neg {
		v = -mag
	}
	if k == fkSint32 {
		v = protowire.EncodeZigZag(int64(v))
	}
	return v, nil
}

var refKindNames = [...]string{fkString: "string", fkBytes: "bytes", fkTraceID: "trace id", fkSpanID: "span id",
	fkMessage: "message", fkBool: "bool", fkInt32: "int32", fkUint32: "uint32", fkInt64: "int64", fkUint64: "uint64",
	fkSint32: "sint32", fkEnum: "enum", fkFixed32: "fixed32", fkFixed64: "fixed64", fkSfixed64: "sfixed64", fkDouble: "double"}

// doubleValue reads a double: a number, a numeric string, or "NaN",
// "Infinity", "-Infinity".
func (d *refDec) doubleValue() (float64, error) {
	lit, quoted, err := d.numberOrString()
	if err != nil {
		return 0, err
	}
	if quoted {
		switch string(lit) {
		case "NaN":
			return math.NaN(), nil
		case "Infinity":
			return math.Inf(1), nil
		case "-Infinity":
			return math.Inf(-1), nil
		}
		if len(lit) == 0 || refNumberLen(lit) != len(lit) {
			return 0, d.valErrorf("%q is not a valid double", lit)
		}
	}
	// unsafe.String: ParseFloat only reads lit during the call, and the
	// conversion would otherwise allocate for every double.
	f, err := strconv.ParseFloat(unsafe.String(&lit[0], len(lit)), 64)
	if err != nil {
		return 0, d.valErrorf("%q is not a valid double", lit)
	}
	return f, nil
}

// message transcodes the JSON object at d.i as the content of message m,
// appending its fields to dst.
func (d *refDec) message(dst []byte, m msgID) ([]byte, error) {
	desc := &schema[m]
	if err := d.expect('{'); err != nil {
		return dst, err
	}
	if d.next() == '}' {
		d.i++
		return dst, nil
	}
	for {
		raw, esc, err := d.str()
		if err != nil {
			return dst, err
		}
		key := raw
		if esc {
			if d.key, err = d.decodeStr(d.key[:0], raw); err != nil {
				return dst, err
			}
			key = d.key
		}
		if err := d.expect(':'); err != nil {
			return dst, err
		}
		var f *fieldDesc
		for i := range desc.fields {
			if fd := &desc.fields[i]; fd.json == string(key) || fd.name == string(key) {
				f = fd
				break
			}
		}
		d.ws()
		switch {
		case f == nil:
			// Unknown fields are ignored (OTLP/JSON rule 4).
			if err := d.push(refPathElem{key: raw, idx: -1}); err != nil {
				return dst, err
			}
			if err := d.skipValue(0); err != nil {
				return dst, err
			}
			d.pop()
		case d.literal("null"): // null leaves the field unset
		default:
			if err := d.push(refPathElem{f: f, idx: -1}); err != nil {
				return dst, err
			}
			if f.repeated() {
				dst, err = d.list(dst, f)
			} else {
				dst, err = d.value(dst, f, f.flags&(fOneof|fOptional) != 0)
			}
			if err != nil {
				return dst, err
			}
			d.pop()
		}
		switch d.next() {
		case ',':
			d.i++
		case '}':
			d.i++
			return dst, nil
		default:
			return dst, d.errorf("got %s, want ',' or '}'", d.what())
		}
	}
}

// list transcodes the JSON array of the repeated field f (path element on
// top of d.path): scalars packed, messages and strings one record each.
func (d *refDec) list(dst []byte, f *fieldDesc) ([]byte, error) {
	if err := d.expect('['); err != nil {
		return dst, err
	}
	top := &d.path[d.depth-1]
	packed := f.packed()
	start := 0
	if packed {
		dst, start = openLen(dst, f.num)
	}
	var err error
	if d.next() == ']' {
		d.i++
	} else {
		for idx := int32(0); ; idx++ {
			top.idx = idx
			d.ws()
			if packed {
				dst, err = d.scalar(dst, f)
			} else {
				dst, err = d.value(dst, f, true)
			}
			if err != nil {
				return dst, err
			}
			c := d.next()
			d.i++
			if c == ']' {
				break
			}
			if c != ',' {
				d.i--
				return dst, d.errorf("got %s, want ',' or ']'", d.what())
			}
		}
	}
	top.idx = -1
	if packed {
		if len(dst) == start { // [] is no value at all
			return dst[:start-1-protowire.SizeTag(protowire.Number(f.num))], nil
		}
		dst = closeLen(dst, start)
	}
	return dst, nil
}

// scalar appends the bare value (no tag) of a packed element of field f.
func (d *refDec) scalar(dst []byte, f *fieldDesc) ([]byte, error) {
	d.val = d.i
	switch f.kind {
	case fkDouble:
		v, err := d.doubleValue()
		return protowire.AppendFixed64(dst, math.Float64bits(v)), err
	case fkFixed64:
		v, err := d.intValue(f.kind)
		return protowire.AppendFixed64(dst, v), err
	default: // fkUint64
		v, err := d.intValue(f.kind)
		return protowire.AppendVarint(dst, v), err
	}
}

// value appends field f with the JSON value at d.i (not null). With
// presence, zero values are written too (oneof members, optional fields,
// list elements); else proto3 skips them.
func (d *refDec) value(dst []byte, f *fieldDesc, presence bool) ([]byte, error) {
	d.val = d.i
	if d.i < len(d.b) && d.b[d.i] == 'n' && d.literal("null") {
		return dst, d.valErrorf("null is not a valid %s", refKindNames[f.kind])
	}
	switch f.kind {
	case fkMessage:
		if f.msg == mAnyValue {
			d.anyDepth++
			defer func() { d.anyDepth-- }()
			if d.anyDepth > maxAnyDepth {
				return dst, d.errorf("AnyValue nested deeper than %d levels", maxAnyDepth)
			}
		}
		dst, start := openLen(dst, f.num)
		dst, err := d.message(dst, f.msg)
		if err != nil {
			return dst, err
		}
		return closeLen(dst, start), nil
	case fkString:
		raw, esc, err := d.str()
		if err != nil {
			return dst, err
		}
		if len(raw) == 0 && !presence {
			return dst, nil
		}
		dst = protowire.AppendTag(dst, protowire.Number(f.num), protowire.BytesType)
		if !esc {
			return protowire.AppendBytes(dst, raw), nil
		}
		dst, start := append(dst, 0), len(dst)+1
		dst, err = d.decodeStr(dst, raw)
		return closeLen(dst, start), err
	case fkBytes:
		s, err := d.strValue()
		if err != nil {
			return dst, err
		}
		if len(s) == 0 && !presence {
			return dst, nil
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
		dst, start := openLen(dst, f.num)
		dst = slices.Grow(dst, enc.DecodedLen(len(s)))
		n, err := enc.Decode(dst[len(dst):len(dst)+enc.DecodedLen(len(s))], s)
		if err != nil {
			return dst, d.valErrorf("invalid base64: %v", err)
		}
		return closeLen(dst[:len(dst)+n], start), nil
	case fkTraceID, fkSpanID:
		s, err := d.strValue()
		if err != nil {
			return dst, err
		}
		if len(s) == 0 {
			return dst, nil // an empty id is no id
		}
		if len(s)%2 != 0 {
			return dst, d.valErrorf("%q is not a hex %s", s, refKindNames[f.kind])
		}
		dst = protowire.AppendTag(dst, protowire.Number(f.num), protowire.BytesType)
		dst = protowire.AppendVarint(dst, uint64(len(s)/2))
		n := len(dst)
		dst = slices.Grow(dst, len(s)/2)[:n+len(s)/2]
		if _, err := hex.Decode(dst[n:], s); err != nil {
			return dst, d.valErrorf("%q is not a hex %s", s, refKindNames[f.kind])
		}
		return dst, nil
	case fkBool:
		var v bool
		switch {
		case d.literal("true"):
			v = true
		case d.literal("false"):
		default:
			return dst, d.errorf("got %s, want true or false", d.what())
		}
		if !v && !presence {
			return dst, nil
		}
		dst = protowire.AppendTag(dst, protowire.Number(f.num), protowire.VarintType)
		return protowire.AppendVarint(dst, protowire.EncodeBool(v)), nil
	case fkDouble:
		v, err := d.doubleValue()
		if err != nil || math.Float64bits(v) == 0 && !presence {
			return dst, err
		}
		return appendDouble(dst, f.num, v), nil
	case fkEnum:
		if d.next() == '"' {
			s, err := d.strValue()
			if err != nil {
				return dst, err
			}
			for n, name := range enumNames[f.msg] {
				if name == string(s) {
					if n == 0 && !presence {
						return dst, nil
					}
					dst = protowire.AppendTag(dst, protowire.Number(f.num), protowire.VarintType)
					return protowire.AppendVarint(dst, uint64(n)), nil
				}
			}
			return dst, nil // unknown names are ignored, as protojson (DiscardUnknown) does
		}
	}
	// Integers.
	v, err := d.intValue(f.kind)
	if err != nil || v == 0 && !presence {
		return dst, err
	}
	switch f.kind.wireType() {
	case wireFixed32Type:
		dst = protowire.AppendTag(dst, protowire.Number(f.num), protowire.Fixed32Type)
		return protowire.AppendFixed32(dst, uint32(v)), nil
	case wireFixed64Type:
		dst = protowire.AppendTag(dst, protowire.Number(f.num), protowire.Fixed64Type)
		return protowire.AppendFixed64(dst, v), nil
	}
	dst = protowire.AppendTag(dst, protowire.Number(f.num), protowire.VarintType)
	return protowire.AppendVarint(dst, v), nil
}

// skipValue skips (and checks) any JSON value.
func (d *refDec) skipValue(depth int) error {
	if depth > maxJSONDepth {
		return d.errorf("nested deeper than %d levels", maxJSONDepth)
	}
	switch c := d.next(); {
	case c == '"':
		raw, esc, err := d.str()
		if err == nil && esc {
			d.scratch, err = d.decodeStr(d.scratch[:0], raw)
		}
		return err
	case c == '{' || c == '[':
		d.i++
		end := byte('}')
		if c == '[' {
			end = ']'
		}
		if d.next() == end {
			d.i++
			return nil
		}
		for {
			if c == '{' {
				if _, _, err := d.str(); err != nil {
					return err
				}
				if err := d.expect(':'); err != nil {
					return err
				}
			}
			if err := d.skipValue(depth + 1); err != nil {
				return err
			}
			switch d.next() {
			case ',':
				d.i++
			case end:
				d.i++
				return nil
			default:
				return d.errorf("got %s, want ',' or %q", d.what(), end)
			}
		}
	case c == 't' || c == 'f' || c == 'n':
		if d.literal("true") || d.literal("false") || d.literal("null") {
			return nil
		}
		return d.errorf("got %s, want a value", d.what())
	default:
		_, err := d.number()
		return err
	}
}

// protoToJSON transcodes a protobuf Export<signal>ServiceRequest to OTLP/JSON
// as the spec wants it (lowerCamelCase keys, hex ids, enums as integers,
// 64-bit integers as strings, proto3 zero values left out), appending to
// dst. It reads the wire as proto does (last value wins, repeated records
// append, a singular message given twice is merged, the last oneof member
