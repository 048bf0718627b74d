// jsonlite.go owns the small JSON reader and writer for the shapes we know:
// the Lambda Extensions and Telemetry API bodies, OTLP/HTTP error and
// partial-success bodies, OpenObserve records. encoding/json costs about
// 280 KB of the stripped binary (DESIGN.md's measure) and reflects on every
// call; these few functions work on byte slices the caller owns:
//
//   - jsonValid and jsonCheck check one value as json.Valid does;
//   - jsonObject and jsonArray walk the members of an object or the
//     elements of an array, handing out each value as a checked raw slice;
//   - jsonKind tells what a raw value is; jsonString, jsonUnquote,
//     jsonNumber, jsonInt64 and jsonBool decode one as json.Unmarshal into
//     a string, float64, int64 or bool does; jsonKeyIs matches a key to a
//     struct field name as json.Unmarshal does;
//   - appendJSONQuote and sizeJSONQuote write a string as json.Marshal does.
//
// The semantics are encoding/json's (v1, checked by FuzzJSONLite against
// it): whatever json.Valid accepts is accepted, including invalid UTF-8
// inside strings, which decoding turns into U+FFFD, one per bad byte, as
// it does a lone surrogate escape (\ud800); nesting stops at 10000 levels;
// null decodes as the zero value with no error. Duplicate keys are all
// handed to jsonObject's callback, in order: a caller that assigns each
// one keeps the last, as json.Unmarshal does for maps and structs.
//
// Errors are *jsonError: what was found or wrong, what was wanted, and the
// byte offset in the slice given to the function.
package main

import (
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"
)

// jsonMaxDepth is encoding/json's nesting limit (its scanner's
// maxNestingDepth), so that jsonValid agrees with json.Valid. Scanning is
// iterative: the depth costs a bit per level, not a stack frame.
const jsonMaxDepth = 10000

// jsonError is a syntax or type error at byte off of the input.
type jsonError struct {
	off  int
	got  int    // the byte found at off, -1 for the end of the input, -2 to leave it out
	what string // what was wanted or wrong
}

func (e *jsonError) Error() string {
	b := append(make([]byte, 0, 64), "json: at byte "...)
	b = strconv.AppendInt(b, int64(e.off), 10)
	b = append(b, ": "...)
	switch {
	case e.got >= 0x80:
		b = append(b, "got byte 0x"...)
		b = strconv.AppendUint(b, uint64(e.got), 16)
		b = append(b, ", "...)
	case e.got >= 0:
		b = append(b, "got "...)
		b = strconv.AppendQuoteRune(b, rune(e.got))
		b = append(b, ", "...)
	case e.got == -1:
		b = append(b, "got end of input, "...)
	}
	return string(append(b, e.what...))
}

// jsonWant is the error for finding b[i] (or the end) where something
// else was due; want says what ("want a value").
func jsonWant(b []byte, i int, want string) error {
	got := -1
	if i < len(b) {
		got = int(b[i])
	}
	return &jsonError{off: i, got: got, what: want}
}

// jsonWS returns the offset of the first byte at or after i that is not
// JSON white space.
func jsonWS(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// jsonEnd checks that only white space follows offset i.
func jsonEnd(b []byte, i int) error {
	if i = jsonWS(b, i); i != len(b) {
		return jsonWant(b, i, "want end of input")
	}
	return nil
}

// jsonIsNull reports whether the literal null starts at b[i].
func jsonIsNull(b []byte, i int) bool {
	return len(b)-i >= 4 && string(b[i:i+4]) == "null"
}

// jsonKind returns what the raw value val is, from its first byte after
// white space: '{', '[', '"', 'n' (null), 't' (true), 'f' (false), '0'
// (a number), or 0 for none of these. It does not check the value.
func jsonKind(val []byte) byte {
	i := jsonWS(val, 0)
	if i == len(val) {
		return 0
	}
	switch c := val[i]; c {
	case '{', '[', '"', 'n', 't', 'f':
		return c
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		return '0'
	}
	return 0
}

// jsonValid reports whether b is one JSON value with optional white space
// around it, exactly as json.Valid does.
func jsonValid(b []byte) bool { return jsonCheck(b) == nil }

// jsonCheck is jsonValid with the reason: nil, or the first error.
func jsonCheck(b []byte) error {
	i := jsonWS(b, 0)
	end, err := jsonSkip(b, i, 0)
	if err != nil {
		return err
	}
	return jsonEnd(b, end)
}

// jsonScanString scans the string whose opening quote is at b[i] and
// returns the offset just past its closing quote, and plain: whether the
// content is its own value (no escapes, valid UTF-8). It checks what
// json.Valid checks: no control characters, well-formed escapes. Invalid
// UTF-8 is valid JSON.
func jsonScanString(b []byte, i int) (end int, plain bool, err error) {
	start := i + 1
	esc, high := false, false
	for j := start; j < len(b); j++ {
		switch c := b[j]; {
		case c == '"':
			return j + 1, !esc && (!high || utf8.Valid(b[start:j])), nil
		case c == '\\':
			esc = true
			if j+1 == len(b) {
				return 0, false, jsonWant(b, j+1, "want an escape")
			}
			switch b[j+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				j++
			case 'u':
				if _, ok := hex4(b[j+2:]); !ok {
					return 0, false, &jsonError{off: j, got: -2, what: `bad \u escape in string`}
				}
				j += 5
			default:
				return 0, false, &jsonError{off: j + 1, got: int(b[j+1]), what: "want an escape character"}
			}
		case c < 0x20:
			return 0, false, &jsonError{off: j, got: int(c), what: "want no control character in a string"}
		case c >= utf8.RuneSelf:
			high = true
		}
	}
	return 0, false, jsonWant(b, len(b), `want '"'`)
}

// jsonSkip scans the value that starts at b[i] (no white space before it),
// depth levels deep, and returns the offset just past it. Objects and
// arrays are walked with a bit stack (1 = object), not recursion.
func jsonSkip(b []byte, i, depth int) (int, error) {
	var small [2]uint64
	stack := small[:] // 128 levels before it grows
	base := depth
	var err error
	for {
		// A value starts at b[i].
		if i >= len(b) {
			return i, jsonWant(b, i, "want a value")
		}
		switch c := b[i]; c {
		case '{', '[':
			if depth >= jsonMaxDepth {
				return i, &jsonError{off: i, got: -2, what: "nested deeper than 10000 levels"}
			}
			lvl := depth - base
			if lvl/64 >= len(stack) {
				stack = append(stack, 0)
			}
			if c == '{' {
				stack[lvl/64] |= 1 << (lvl % 64)
			} else {
				stack[lvl/64] &^= 1 << (lvl % 64)
			}
			depth++
			i = jsonWS(b, i+1)
			if i < len(b) && (c == '{' && b[i] == '}' || c == '[' && b[i] == ']') {
				i++
				depth--
				break
			}
			if c == '{' {
				if i, err = jsonSkipKey(b, i); err != nil {
					return i, err
				}
			}
			continue
		case '"':
			if i, _, err = jsonScanString(b, i); err != nil {
				return i, err
			}
		case 't', 'f', 'n':
			lit := "null"
			if c == 't' {
				lit = "true"
			} else if c == 'f' {
				lit = "false"
			}
			if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
				return i, jsonWant(b, i, "want a value")
			}
			i += len(lit)
		default:
			n := numberLen(b[i:])
			if n == 0 {
				return i, jsonWant(b, i, "want a value")
			}
			// A '.' right after the integer digits is a broken fraction:
			// the number is bad, as encoding/json's scanner has it, not
			// what follows it (which decides how many array elements a
			// cut batch keeps).
			if j := i + n; j < len(b) && b[j] == '.' && !jsonHasFracOrExp(b[i:j]) {
				return j + 1, jsonWant(b, j+1, "want a digit")
			}
			i += n
		}
		// A value ended at i: close what it ends, or go on to the next one.
		for {
			if depth == base {
				return i, nil
			}
			lvl := depth - 1 - base
			obj := stack[lvl/64]&(1<<(lvl%64)) != 0
			i = jsonWS(b, i)
			if i < len(b) && b[i] == ',' {
				i = jsonWS(b, i+1)
				if obj {
					if i, err = jsonSkipKey(b, i); err != nil {
						return i, err
					}
				}
				break
			}
			if obj && i < len(b) && b[i] == '}' || !obj && i < len(b) && b[i] == ']' {
				i++
				depth--
				continue
			}
			if obj {
				return i, jsonWant(b, i, "want ',' or '}'")
			}
			return i, jsonWant(b, i, "want ',' or ']'")
		}
	}
}

// jsonHasFracOrExp reports whether the number literal lit has a fraction
// or an exponent.
func jsonHasFracOrExp(lit []byte) bool {
	for _, c := range lit {
		if c == '.' || c == 'e' || c == 'E' {
			return true
		}
	}
	return false
}

// jsonSkipKey scans a member's key and colon at b[i] and returns the
// offset of its value.
func jsonSkipKey(b []byte, i int) (int, error) {
	if i >= len(b) || b[i] != '"' {
		return i, jsonWant(b, i, "want a string key")
	}
	i, _, err := jsonScanString(b, i)
	if err != nil {
		return i, err
	}
	if i = jsonWS(b, i); i >= len(b) || b[i] != ':' {
		return i, jsonWant(b, i, "want ':'")
	}
	return jsonWS(b, i+1), nil
}

// jsonObject calls fn with the key and the raw value of each member of the
// JSON object b, in order, duplicates included. The key is decoded (valid
// only during the call when it had escapes); the value is checked, without
// the white space around it, and aliases b. null is an object with no
// members, as json.Unmarshal into a map has it. fn's error stops the walk
// and is returned as is. On a syntax error fn has seen the members before
// it: call jsonCheck first when it must see all or none.
func jsonObject(b []byte, fn func(key, val []byte) error) error {
	i := jsonWS(b, 0)
	if jsonIsNull(b, i) {
		return jsonEnd(b, i+4)
	}
	if i >= len(b) || b[i] != '{' {
		return jsonWant(b, i, "want an object")
	}
	i = jsonWS(b, i+1)
	if i < len(b) && b[i] == '}' {
		return jsonEnd(b, i+1)
	}
	var kbuf []byte
	for {
		if i >= len(b) || b[i] != '"' {
			return jsonWant(b, i, "want a string key")
		}
		end, plain, err := jsonScanString(b, i)
		if err != nil {
			return err
		}
		key := b[i+1 : end-1]
		if !plain {
			kbuf, _, _ = unquoteJSON(kbuf[:0], key, false)
			key = kbuf
		}
		if i = jsonWS(b, end); i >= len(b) || b[i] != ':' {
			return jsonWant(b, i, "want ':'")
		}
		i = jsonWS(b, i+1)
		start := i
		if i, err = jsonSkip(b, i, 1); err != nil {
			return err
		}
		if err := fn(key, b[start:i]); err != nil {
			return err
		}
		switch i = jsonWS(b, i); {
		case i < len(b) && b[i] == ',':
			i = jsonWS(b, i+1)
		case i < len(b) && b[i] == '}':
			return jsonEnd(b, i+1)
		default:
			return jsonWant(b, i, "want ',' or '}'")
		}
	}
}

// jsonArray calls fn with each element of the JSON array b, raw, checked,
// without the white space around it, aliasing b. null is an array with no
// elements, as json.Unmarshal into a slice has it. fn's error stops the
// walk and is returned as is. On a syntax error fn has seen the elements
// before it, which is what keeps the good events of a cut batch.
func jsonArray(b []byte, fn func(elem []byte) error) error {
	i := jsonWS(b, 0)
	if jsonIsNull(b, i) {
		return jsonEnd(b, i+4)
	}
	if i >= len(b) || b[i] != '[' {
		return jsonWant(b, i, "want an array")
	}
	i = jsonWS(b, i+1)
	if i < len(b) && b[i] == ']' {
		return jsonEnd(b, i+1)
	}
	for {
		start := i
		var err error
		if i, err = jsonSkip(b, i, 1); err != nil {
			return err
		}
		if err := fn(b[start:i]); err != nil {
			return err
		}
		switch i = jsonWS(b, i); {
		case i < len(b) && b[i] == ',':
			i = jsonWS(b, i+1)
		case i < len(b) && b[i] == ']':
			return jsonEnd(b, i+1)
		default:
			return jsonWant(b, i, "want ',' or ']'")
		}
	}
}

// jsonKeyIs reports whether the decoded key selects the struct field
// tagged name in json.Unmarshal: the same bytes, or the same under Unicode
// case folding (bytes.EqualFold), so "RequestID" fills `json:"requestId"`.
func jsonKeyIs(key []byte, name string) bool {
	return string(key) == name || strings.EqualFold(unsafe.String(unsafe.SliceData(key), len(key)), name)
}

// jsonScalar trims white space from val and reports whether the rest is
// null; i is the offset of the value.
func jsonScalar(val []byte) (i int, null bool, err error) {
	i = jsonWS(val, 0)
	if jsonIsNull(val, i) {
		return i, true, jsonEnd(val, i+4)
	}
	return i, false, nil
}

// jsonNull checks that val is null, with optional white space around.
func jsonNull(val []byte) error {
	i, null, err := jsonScalar(val)
	if err == nil && !null {
		err = jsonWant(val, i, "want null")
	}
	return err
}

// jsonStringRaw returns the content of the JSON string val (between the
// quotes, escapes not decoded) and whether it is its own value.
func jsonStringRaw(val []byte) (raw []byte, plain, null bool, err error) {
	i, null, err := jsonScalar(val)
	if null || err != nil {
		return nil, true, null, err
	}
	if i >= len(val) || val[i] != '"' {
		return nil, false, false, jsonWant(val, i, "want a string")
	}
	end, plain, err := jsonScanString(val, i)
	if err == nil {
		err = jsonEnd(val, end)
	}
	if err != nil {
		return nil, false, false, err
	}
	return val[i+1 : end-1], plain, false, nil
}

// jsonString decodes the JSON string val as json.Unmarshal into a string
// does: escapes decoded, invalid UTF-8 and lone surrogates as U+FFFD, null
// as "". Anything else is an error. To keep a previous value on null, as
// json.Unmarshal does, test jsonKind(val) == 'n' first.
func jsonString(val []byte) (string, error) {
	raw, plain, _, err := jsonStringRaw(val)
	if err != nil {
		return "", err
	}
	if plain {
		return string(raw), nil
	}
	var buf [64]byte
	out, _, _ := unquoteJSON(buf[:0], raw, false)
	return string(out), nil
}

// jsonUnquote is jsonString appending to dst: no allocation when dst has
// room, for callers that only compare or copy the value.
func jsonUnquote(dst, val []byte) ([]byte, error) {
	raw, plain, _, err := jsonStringRaw(val)
	if err != nil || plain {
		return append(dst, raw...), err
	}
	dst, _, _ = unquoteJSON(dst, raw, false)
	return dst, nil
}

// jsonNumberLit returns the literal of the JSON number val, nil for null.
func jsonNumberLit(val []byte) (lit []byte, off int, err error) {
	i, null, err := jsonScalar(val)
	if null || err != nil {
		return nil, i, err
	}
	n := numberLen(val[i:])
	if n == 0 {
		return nil, i, jsonWant(val, i, "want a number")
	}
	if err := jsonEnd(val, i+n); err != nil {
		return nil, i, err
	}
	return val[i : i+n], i, nil
}

// jsonNumber decodes the JSON number val as json.Unmarshal into a float64
// does: the nearest double, an error beyond its range, 0 for null.
func jsonNumber(val []byte) (float64, error) {
	lit, off, err := jsonNumberLit(val)
	if lit == nil {
		return 0, err
	}
	// unsafe.String: ParseFloat reads lit only during the call.
	f, err := strconv.ParseFloat(unsafe.String(&lit[0], len(lit)), 64)
	if err != nil {
		return 0, &jsonError{off: off, got: -2, what: "number out of the range of a double"}
	}
	return f, nil
}

// jsonInt64 decodes the JSON number val as json.Unmarshal into an int64
// (or json.Number.Int64) does: decimal digits only, no fraction or
// exponent, within int64; 0 for null.
func jsonInt64(val []byte) (int64, error) {
	lit, off, err := jsonNumberLit(val)
	if lit == nil {
		return 0, err
	}
	v, err := strconv.ParseInt(unsafe.String(&lit[0], len(lit)), 10, 64)
	if err != nil {
		return 0, &jsonError{off: off, got: -2, what: "want an integer within int64"}
	}
	return v, nil
}

// jsonBool decodes true or false; null is false.
func jsonBool(val []byte) (bool, error) {
	i, null, err := jsonScalar(val)
	if null || err != nil {
		return false, err
	}
	switch {
	case len(val)-i >= 4 && string(val[i:i+4]) == "true":
		err := jsonEnd(val, i+4)
		return err == nil, err
	case len(val)-i >= 5 && string(val[i:i+5]) == "false":
		return false, jsonEnd(val, i+5)
	}
	return false, jsonWant(val, i, "want a boolean")
}

// jsonSetString, jsonSetNumber and jsonSetInt64 decode val into a struct
// field as json.Unmarshal does: null leaves *dst as it was, a value of
// another type is an error (and leaves *dst as it was too).
func jsonSetString(val []byte, dst *string) error {
	if jsonKind(val) == 'n' {
		return jsonNull(val)
	}
	s, err := jsonString(val)
	if err == nil {
		*dst = s
	}
	return err
}

func jsonSetNumber(val []byte, dst *float64) error {
	f, err := jsonNumber(val)
	if err == nil && jsonKind(val) != 'n' {
		*dst = f
	}
	return err
}

func jsonSetInt64(val []byte, dst *int64) error {
	v, err := jsonInt64(val)
	if err == nil && jsonKind(val) != 'n' {
		*dst = v
	}
	return err
}

// jsonPtr decodes val into *p as json.Unmarshal does into a pointer
// field: null makes it nil; anything else is decoded by dec into the value
// it points to, allocated when nil.
func jsonPtr[T any](val []byte, p **T, dec func(val []byte, dst *T) error) error {
	if jsonKind(val) == 'n' {
		err := jsonNull(val)
		if err == nil {
			*p = nil
		}
		return err
	}
	if *p == nil {
		*p = new(T)
	}
	return dec(val, *p)
}

// jsonSlice decodes the JSON array val into *s as json.Unmarshal does into
// a slice field: null makes it nil; element i is decoded by dec into
// (*s)[i], over what the slice already holds there (its length grows
// into its capacity, as reflect's SetLen does), and the slice ends with
// as many elements as the array, never nil.
func jsonSlice[T any](val []byte, s *[]T, dec func(val []byte, dst *T) error) error {
	if jsonKind(val) == 'n' {
		err := jsonNull(val)
		if err == nil {
			*s = nil
		}
		return err
	}
	i := 0
	err := jsonArray(val, func(e []byte) error {
		if i >= len(*s) {
			if i < cap(*s) {
				*s = (*s)[:i+1]
			} else {
				var zero T
				*s = append(*s, zero)
			}
		}
		i++
		return dec(e, &(*s)[i-1])
	})
	if err != nil {
		return err
	}
	if *s = (*s)[:i]; i == 0 {
		*s = []T{}
	}
	return nil
}

// Reasons unquoteJSON gives.
const (
	jsonBadEscape    = "bad escape"
	jsonBadU         = `bad \u escape`
	jsonBadSurrogate = "invalid surrogate escape"
	jsonBadUTF8      = "invalid UTF-8"
)

// unquoteJSON appends the value of raw, the content of a JSON string
// (between its quotes), to dst. With strict, it follows protojson: a lone
// surrogate escape or invalid UTF-8 stops it with bad saying which, at
// offset at of raw. Without, it follows encoding/json: each becomes U+FFFD
// (a bad byte each, a \uXXXX each) and only a bad escape stops it.
// Control characters are not checked: the scanners did.
func unquoteJSON(dst, raw []byte, strict bool) (out []byte, at int, bad string) {
	for i := 0; i < len(raw); {
		c := raw[i]
		switch {
		case c == '\\':
			if i+1 == len(raw) {
				return dst, i, jsonBadEscape
			}
			switch e := raw[i+1]; e {
			case '"', '\\', '/':
				dst = append(dst, e)
			case 'b':
				dst = append(dst, '\b')
			case 'f':
				dst = append(dst, '\f')
			case 'n':
				dst = append(dst, '\n')
			case 'r':
				dst = append(dst, '\r')
			case 't':
				dst = append(dst, '\t')
			case 'u':
				r, ok := hex4(raw[i+2:])
				if !ok {
					return dst, i, jsonBadU
				}
				if utf16.IsSurrogate(r) {
					r2 := rune(-1)
					if rest := raw[i+6:]; len(rest) >= 2 && rest[0] == '\\' && rest[1] == 'u' {
						if v, ok := hex4(rest[2:]); ok {
							r2 = v
						}
					}
					if p := utf16.DecodeRune(r, r2); p != utf8.RuneError {
						r = p
						i += 6 // the pair's second half
					} else if strict {
						return dst, i, jsonBadSurrogate
					} else {
						r = utf8.RuneError
					}
				}
				dst = utf8.AppendRune(dst, r)
				i += 6
				continue
			default:
				return dst, i, jsonBadEscape
			}
			i += 2
		case c < utf8.RuneSelf:
			j := i + 1
			for j < len(raw) && raw[j] < utf8.RuneSelf && raw[j] != '\\' {
				j++
			}
			dst = append(dst, raw[i:j]...)
			i = j
		default:
			r, n := utf8.DecodeRune(raw[i:])
			if r == utf8.RuneError && n == 1 {
				if strict {
					return dst, i, jsonBadUTF8
				}
				dst = append(dst, "\uFFFD"...)
			} else {
				dst = append(dst, raw[i:i+n]...)
			}
			i += n
		}
	}
	return dst, -1, ""
}

// appendJSONQuote appends s as a JSON string exactly as json.Marshal(s)
// does, HTML-safe escaping included: <, > and & as \u003c, \u003e and
// \u0026, U+2028 and U+2029 escaped, \b \f \n \r \t short, other control
// characters as \u00XX, invalid UTF-8 as \ufffd per bad byte. HTML-safe
// keeps our bodies byte-identical to what encoding/json sent, and costs
// five bytes only for those rare characters. (otlpjson.go's
// appendJSONString is the protojson flavour for OTLP/JSON.)
func appendJSONQuote(dst []byte, s string) []byte {
	const hexDigits = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		default:
			i += n
			continue
		}
		i += n
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// sizeJSONQuote is len(appendJSONQuote(nil, s)).
func sizeJSONQuote(s string) int {
	n := 2 + len(s)
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\' || c == '\b' || c == '\f' || c == '\n' || c == '\r' || c == '\t':
				n++
			case c < 0x20 || c == '<' || c == '>' || c == '&':
				n += 5
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			n += 5 // one byte becomes \ufffd
		case r == '\u2028' || r == '\u2029':
			n += 3 // three bytes become \u202X
		}
		i += size
	}
	return n
}
