// toml.go owns a hand-written parser for the subset of TOML that config.toml
// needs: comments, [table] and [a.b] headers, key = value with bare and quoted
// keys, basic strings (with \" \\ \b \t \n \f \r \uXXXX \UXXXXXXXX escapes),
// literal strings, decimal integers (sign, _ separators), booleans and arrays
// of strings. Everything else TOML has (floats, dates, inline tables,
// multi-line strings, arrays of tables, dotted keys, hex/octal/binary
// integers) is refused with its line and column, as are duplicate keys and
// redefined tables, so a typo never silently becomes a different setting.
// Durations are strings ("5s", "500ms"), interpreted by config.go.
package main

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// tomlKind is the type of one TOML value of the subset.
type tomlKind uint8

const (
	tomlString tomlKind = iota + 1
	tomlInt
	tomlBool
	tomlArray // of strings only
)

var tomlKindNames = [...]string{"", "string", "integer", "boolean", "array of strings"}

func (k tomlKind) String() string {
	if int(k) < len(tomlKindNames) {
		return tomlKindNames[k]
	}
	return "unknown"
}

// tomlValue is one typed value; only the field of its kind is meaningful.
type tomlValue struct {
	kind tomlKind
	s    string
	i    int64
	b    bool
	arr  []string
}

// text renders the value the way an environment variable would spell it, so
// config.go can run one parser for both sources: arrays become comma lists.
func (v tomlValue) text() string {
	switch v.kind {
	case tomlString:
		return v.s
	case tomlInt:
		return strconv.FormatInt(v.i, 10)
	case tomlBool:
		return strconv.FormatBool(v.b)
	case tomlArray:
		return strings.Join(v.arr, ",")
	}
	return ""
}

// tomlEntry is one key = value, with its full path (table path + key) and
// where its key and its value start.
type tomlEntry struct {
	path            []string
	value           tomlValue
	line, col       int // of the value
	keyLine, keyCol int
}

// tomlTable is one explicit [table] header.
type tomlTable struct {
	path      []string
	line, col int
}

// tomlDoc is a parsed file: entries and table headers in file order.
type tomlDoc struct {
	entries []tomlEntry
	tables  []tomlTable
}

// tomlError is a syntax error at a 1-based line and column (in characters).
type tomlError struct {
	line, col int
	msg       string
}

func (e *tomlError) Error() string {
	return fmt.Sprintf("line %d, column %d: %s", e.line, e.col, e.msg)
}

// maxTOMLBytes bounds the file we parse: a config file is a few hundred
// bytes; anything near this is a mistake (wrong file), not configuration.
const maxTOMLBytes = 1 << 20

// parseTOML parses the supported subset. It returns the first error as a
// *tomlError; a document is returned only when the whole input is valid.
func parseTOML(data []byte) (*tomlDoc, error) {
	p := &tomlParser{src: data}
	if len(data) > maxTOMLBytes {
		return nil, &tomlError{1, 1, fmt.Sprintf("file is %d bytes; want at most %d", len(data), maxTOMLBytes)}
	}
	if !utf8.Valid(data) {
		off := 0
		for off < len(data) {
			r, n := utf8.DecodeRune(data[off:])
			if r == utf8.RuneError && n <= 1 {
				break
			}
			off += n
		}
		return nil, p.errAt(off, "invalid UTF-8")
	}
	if err := p.parse(); err != nil {
		return nil, err
	}
	return &p.doc, nil
}

type tomlParser struct {
	src []byte
	off int
	doc tomlDoc
	// Defined paths, joined by pathKey.
	values   map[string]bool // full paths of keys with values
	explicit map[string]bool // tables given by a [header]
	current  []string        // the table keys are being added to
	lines    []int           // offsets of line starts, built on first error
}

func (p *tomlParser) errAt(off int, format string, args ...any) *tomlError {
	if p.lines == nil {
		p.lines = []int{0}
		for i, c := range p.src {
			if c == '\n' {
				p.lines = append(p.lines, i+1)
			}
		}
	}
	ln := sort.Search(len(p.lines), func(i int) bool { return p.lines[i] > off }) - 1
	if ln < 0 {
		ln = 0
	}
	start := p.lines[ln]
	if off > len(p.src) {
		off = len(p.src)
	}
	col := utf8.RuneCount(p.src[start:off]) + 1
	return &tomlError{ln + 1, col, fmt.Sprintf(format, args...)}
}

func (p *tomlParser) pos(off int) (line, col int) {
	e := p.errAt(off, "")
	return e.line, e.col
}

// pathKey joins a key path unambiguously (keys may contain any character).
func pathKey(path []string) string {
	var b strings.Builder
	for _, k := range path {
		b.WriteString(strconv.Itoa(len(k)))
		b.WriteByte(':')
		b.WriteString(k)
	}
	return b.String()
}

func (p *tomlParser) parse() error {
	p.values = map[string]bool{}
	p.explicit = map[string]bool{}
	if len(p.src) >= 3 && string(p.src[:3]) == "\ufeff" {
		p.off = 3
	}
	for {
		p.skipSpace()
		if p.off >= len(p.src) {
			return nil
		}
		switch c := p.src[p.off]; c {
		case '#':
			if err := p.skipComment(); err != nil {
				return err
			}
		case '\n':
			p.off++
			continue
		case '\r':
			if err := p.newline(); err != nil {
				return err
			}
			continue
		case '[':
			if err := p.tableHeader(); err != nil {
				return err
			}
		default:
			if err := p.keyValue(); err != nil {
				return err
			}
		}
		if err := p.endOfLine(); err != nil {
			return err
		}
	}
}

func (p *tomlParser) skipSpace() {
	for p.off < len(p.src) && (p.src[p.off] == ' ' || p.src[p.off] == '\t') {
		p.off++
	}
}

// skipComment consumes a comment up to (not including) the line end.
func (p *tomlParser) skipComment() error {
	for p.off < len(p.src) {
		c := p.src[p.off]
		if c == '\n' || c == '\r' {
			return nil
		}
		if c < 0x20 && c != '\t' || c == 0x7f {
			return p.errAt(p.off, "control character %#02x in a comment", c)
		}
		p.off++
	}
	return nil
}

// newline consumes "\n" or "\r\n" at p.off.
func (p *tomlParser) newline() error {
	if p.src[p.off] == '\n' {
		p.off++
		return nil
	}
	if p.off+1 < len(p.src) && p.src[p.off] == '\r' && p.src[p.off+1] == '\n' {
		p.off += 2
		return nil
	}
	return p.errAt(p.off, "carriage return without a line feed")
}

// endOfLine requires that only spaces and a comment follow on this line.
func (p *tomlParser) endOfLine() error {
	p.skipSpace()
	if p.off < len(p.src) && p.src[p.off] == '#' {
		if err := p.skipComment(); err != nil {
			return err
		}
	}
	if p.off >= len(p.src) {
		return nil
	}
	if c := p.src[p.off]; c != '\n' && c != '\r' {
		return p.errAt(p.off, "unexpected %s after the value; want the end of the line", p.describe())
	}
	return p.newline()
}

// describe names what is at p.off for an error message.
func (p *tomlParser) describe() string {
	if p.off >= len(p.src) {
		return "end of file"
	}
	r, _ := utf8.DecodeRune(p.src[p.off:])
	return strconv.QuoteRune(r)
}

func (p *tomlParser) tableHeader() error {
	start := p.off
	p.off++ // '['
	if p.off < len(p.src) && p.src[p.off] == '[' {
		return p.errAt(start, "arrays of tables ([[...]]) are not supported")
	}
	var path []string
	for {
		p.skipSpace()
		k, err := p.key()
		if err != nil {
			return err
		}
		path = append(path, k)
		p.skipSpace()
		if p.off >= len(p.src) {
			return p.errAt(p.off, "unterminated table header; want ']'")
		}
		if p.src[p.off] == '.' {
			p.off++
			continue
		}
		if p.src[p.off] == ']' {
			p.off++
			break
		}
		return p.errAt(p.off, "unexpected %s in a table header; want '.' or ']'", p.describe())
	}
	// A table may be defined once; its path may not already hold a value.
	for i := 1; i <= len(path); i++ {
		if p.values[pathKey(path[:i])] {
			return p.errAt(start, "table [%s] redefines key %q", strings.Join(path, "."), strings.Join(path[:i], "."))
		}
	}
	pk := pathKey(path)
	if p.explicit[pk] {
		return p.errAt(start, "table [%s] is defined twice", strings.Join(path, "."))
	}
	p.explicit[pk] = true
	line, col := p.pos(start)
	p.doc.tables = append(p.doc.tables, tomlTable{path: path, line: line, col: col})
	p.current = path
	return nil
}

func (p *tomlParser) keyValue() error {
	start := p.off
	k, err := p.key()
	if err != nil {
		return err
	}
	p.skipSpace()
	if p.off < len(p.src) && p.src[p.off] == '.' {
		return p.errAt(p.off, "dotted keys are not supported; use a [table] header")
	}
	if p.off >= len(p.src) || p.src[p.off] != '=' {
		return p.errAt(p.off, "unexpected %s after key %q; want '='", p.describe(), k)
	}
	p.off++
	p.skipSpace()
	path := make([]string, len(p.current)+1)
	copy(path, p.current)
	path[len(p.current)] = k
	pk := pathKey(path)
	if p.values[pk] {
		return p.errAt(start, "key %q is defined twice", strings.Join(path, "."))
	}
	// A key may not name a table that has a [header] or sub-tables.
	for t := range p.explicit {
		if strings.HasPrefix(t, pk) {
			return p.errAt(start, "key %q redefines a table", strings.Join(path, "."))
		}
	}
	valOff := p.off
	v, err := p.value()
	if err != nil {
		return err
	}
	p.values[pk] = true
	line, col := p.pos(valOff)
	kl, kc := p.pos(start)
	p.doc.entries = append(p.doc.entries, tomlEntry{path: path, value: v, line: line, col: col, keyLine: kl, keyCol: kc})
	return nil
}

func isBareKeyByte(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

// key reads one bare or quoted key.
func (p *tomlParser) key() (string, error) {
	if p.off >= len(p.src) {
		return "", p.errAt(p.off, "unexpected end of file; want a key")
	}
	switch p.src[p.off] {
	case '"':
		if p.hasPrefix(`"""`) {
			return "", p.errAt(p.off, "multi-line strings are not supported as keys")
		}
		return p.basicString()
	case '\'':
		if p.hasPrefix(`'''`) {
			return "", p.errAt(p.off, "multi-line strings are not supported as keys")
		}
		return p.literalString()
	}
	start := p.off
	for p.off < len(p.src) && isBareKeyByte(p.src[p.off]) {
		p.off++
	}
	if p.off == start {
		return "", p.errAt(p.off, "unexpected %s; want a key (letters, digits, '_', '-', or a quoted string)", p.describe())
	}
	return string(p.src[start:p.off]), nil
}

func (p *tomlParser) hasPrefix(s string) bool {
	return strings.HasPrefix(string(p.src[p.off:min(len(p.src), p.off+len(s))]), s)
}

func (p *tomlParser) value() (tomlValue, error) {
	if p.off >= len(p.src) {
		return tomlValue{}, p.errAt(p.off, "unexpected end of file; want a value")
	}
	switch c := p.src[p.off]; {
	case c == '"':
		if p.hasPrefix(`"""`) {
			return tomlValue{}, p.errAt(p.off, "multi-line strings are not supported")
		}
		s, err := p.basicString()
		return tomlValue{kind: tomlString, s: s}, err
	case c == '\'':
		if p.hasPrefix(`'''`) {
			return tomlValue{}, p.errAt(p.off, "multi-line strings are not supported")
		}
		s, err := p.literalString()
		return tomlValue{kind: tomlString, s: s}, err
	case c == '[':
		return p.array()
	case c == '{':
		return tomlValue{}, p.errAt(p.off, "inline tables are not supported; use a [table] header")
	case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
		word := p.word()
		switch word {
		case "true":
			return tomlValue{kind: tomlBool, b: true}, nil
		case "false":
			return tomlValue{kind: tomlBool}, nil
		case "inf", "nan":
			return tomlValue{}, p.errAt(p.off-len(word), "floats are not supported")
		}
		return tomlValue{}, p.errAt(p.off-len(word), "unknown value %q; want a string, integer, boolean or array of strings", word)
	case c == '+' || c == '-' || c >= '0' && c <= '9':
		return p.integer()
	}
	return tomlValue{}, p.errAt(p.off, "unexpected %s; want a string, integer, boolean or array of strings", p.describe())
}

// word consumes a run of characters that can make up a scalar token.
func (p *tomlParser) word() string {
	start := p.off
	for p.off < len(p.src) {
		c := p.src[p.off]
		if !(isBareKeyByte(c) || c == '+' || c == '.' || c == ':') {
			break
		}
		p.off++
	}
	return string(p.src[start:p.off])
}

func (p *tomlParser) integer() (tomlValue, error) {
	start := p.off
	w := p.word()
	// A date, a time or a float share the first characters with an integer;
	// name them so the user knows what is unsupported.
	switch {
	case strings.Count(w, "-") >= 2 && !strings.HasPrefix(w, "-") || strings.Contains(w, ":"):
		return tomlValue{}, p.errAt(start, "dates and times are not supported")
	case strings.ContainsAny(w, ".eE") && !strings.HasPrefix(strings.TrimLeft(w, "+-"), "0x"),
		strings.HasSuffix(w, "inf"), strings.HasSuffix(w, "nan"):
		return tomlValue{}, p.errAt(start, "floats are not supported")
	}
	digits := strings.TrimLeft(w, "+-")
	if len(w)-len(digits) > 1 || digits == "" {
		return tomlValue{}, p.errAt(start, "malformed integer %q", w)
	}
	if len(digits) > 1 && digits[0] == '0' {
		if c := digits[1]; c == 'x' || c == 'o' || c == 'b' {
			return tomlValue{}, p.errAt(start, "hexadecimal, octal and binary integers are not supported")
		}
		return tomlValue{}, p.errAt(start, "integer %q has a leading zero", w)
	}
	// Underscores must sit between two digits.
	for i := 0; i < len(digits); i++ {
		c := digits[i]
		if c == '_' {
			if i == 0 || i == len(digits)-1 || digits[i-1] == '_' {
				return tomlValue{}, p.errAt(start, "malformed integer %q: '_' must be between digits", w)
			}
			continue
		}
		if c < '0' || c > '9' {
			return tomlValue{}, p.errAt(start, "malformed integer %q", w)
		}
	}
	n, err := strconv.ParseInt(strings.ReplaceAll(w, "_", ""), 10, 64)
	if err != nil {
		return tomlValue{}, p.errAt(start, "integer %q does not fit in 64 bits", w)
	}
	return tomlValue{kind: tomlInt, i: n}, nil
}

// basicString reads "..." with escapes; p.off is at the opening quote.
func (p *tomlParser) basicString() (string, error) {
	start := p.off
	p.off++
	var b strings.Builder
	for {
		if p.off >= len(p.src) {
			return "", p.errAt(start, "unterminated string")
		}
		c := p.src[p.off]
		switch {
		case c == '"':
			p.off++
			return b.String(), nil
		case c == '\n' || c == '\r':
			return "", p.errAt(start, "unterminated string (strings end on the same line)")
		case c < 0x20 && c != '\t' || c == 0x7f:
			return "", p.errAt(p.off, "control character %#02x in a string; escape it", c)
		case c == '\\':
			if err := p.escape(&b); err != nil {
				return "", err
			}
		default:
			b.WriteByte(c)
			p.off++
		}
	}
}

func (p *tomlParser) escape(b *strings.Builder) error {
	at := p.off
	p.off++ // '\'
	if p.off >= len(p.src) {
		return p.errAt(at, "unterminated escape")
	}
	c := p.src[p.off]
	p.off++
	switch c {
	case '"', '\\':
		b.WriteByte(c)
	case 'b':
		b.WriteByte('\b')
	case 't':
		b.WriteByte('\t')
	case 'n':
		b.WriteByte('\n')
	case 'f':
		b.WriteByte('\f')
	case 'r':
		b.WriteByte('\r')
	case 'u', 'U':
		n := 4
		if c == 'U' {
			n = 8
		}
		if p.off+n > len(p.src) {
			return p.errAt(at, "short \\%c escape; want %d hex digits", c, n)
		}
		hex := string(p.src[p.off : p.off+n])
		v, err := strconv.ParseUint(hex, 16, 32)
		if err != nil || strings.ContainsAny(hex, "+-_") {
			return p.errAt(at, "malformed \\%c escape %q; want %d hex digits", c, hex, n)
		}
		r := rune(v)
		if !utf8.ValidRune(r) {
			return p.errAt(at, "escape \\%c%s is not a Unicode scalar value", c, hex)
		}
		b.WriteRune(r)
		p.off += n
	default:
		return p.errAt(at, "unknown escape \\%c", c)
	}
	return nil
}

// literalString reads '...' verbatim; p.off is at the opening quote.
func (p *tomlParser) literalString() (string, error) {
	start := p.off
	p.off++
	for i := p.off; i < len(p.src); i++ {
		c := p.src[i]
		switch {
		case c == '\'':
			s := string(p.src[p.off:i])
			p.off = i + 1
			return s, nil
		case c == '\n' || c == '\r':
			return "", p.errAt(start, "unterminated string (strings end on the same line)")
		case c < 0x20 && c != '\t' || c == 0x7f:
			return "", p.errAt(i, "control character %#02x in a string", c)
		}
	}
	return "", p.errAt(start, "unterminated string")
}

// array reads [ "a", 'b', ] across lines, with comments; strings only.
func (p *tomlParser) array() (tomlValue, error) {
	start := p.off
	p.off++ // '['
	v := tomlValue{kind: tomlArray, arr: []string{}}
	needComma := false
	for {
		if err := p.skipArraySpace(); err != nil {
			return tomlValue{}, err
		}
		if p.off >= len(p.src) {
			return tomlValue{}, p.errAt(start, "unterminated array; want ']'")
		}
		c := p.src[p.off]
		if c == ']' {
			p.off++
			return v, nil
		}
		if needComma {
			if c != ',' {
				return tomlValue{}, p.errAt(p.off, "unexpected %s in an array; want ',' or ']'", p.describe())
			}
			p.off++
			needComma = false
			continue
		}
		at := p.off
		e, err := p.value()
		if err != nil {
			return tomlValue{}, err
		}
		if e.kind != tomlString {
			return tomlValue{}, p.errAt(at, "arrays may hold only strings; got %s", e.kind)
		}
		v.arr = append(v.arr, e.s)
		needComma = true
	}
}

// skipArraySpace skips whitespace, newlines and comments inside an array.
func (p *tomlParser) skipArraySpace() error {
	for p.off < len(p.src) {
		switch p.src[p.off] {
		case ' ', '\t':
			p.off++
		case '\n', '\r':
			if err := p.newline(); err != nil {
				return err
			}
		case '#':
			if err := p.skipComment(); err != nil {
				return err
			}
		default:
			return nil
		}
	}
	return nil
}
