package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// flatTOML renders a document as "path=value" lines for comparison.
func flatTOML(d *tomlDoc) []string {
	var out []string
	for _, t := range d.tables {
		out = append(out, "["+strings.Join(t.path, ".")+"]")
	}
	for _, e := range d.entries {
		v := e.value.text()
		if e.value.kind == tomlString {
			v = strconv.Quote(v)
		} else if e.value.kind == tomlArray {
			v = "[" + strings.Join(e.value.arr, "|") + "]"
		}
		out = append(out, strings.Join(e.path, ".")+"="+v)
	}
	return out
}

func TestParseTOML(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []string
	}{
		{"empty", "", nil},
		{"comments only", "# a\n  # b\r\n\n", nil},
		{"bom", "\ufeff[a]\nk = 1", []string{"[a]", "a.k=1"}},
		{"root and tables", "x = true\n[a]\ny = false # c\n[a.b]\nz = -1_000\n", []string{"[a]", "[a.b]", "x=true", "a.y=false", "a.b.z=-1000"}},
		{"spaces in header", "[ a . \"b.c\" ]\nk='v'", []string{"[a.b.c]", `a.b.c.k="v"`}},
		{"quoted keys", "[h]\n\"X-Api-Key\" = \"1\"\n'lit' = \"2\"\n\"\" = \"3\"\n", []string{"[h]", `h.X-Api-Key="1"`, `h.lit="2"`, `h.="3"`}},
		{"escapes", `s = "a\"b\\c\nd\te\u00e9\U0001F600\b\f\r"`, []string{`s="a\"b\\c\nd\teé😀\b\f\r"`}},
		{"literal", `s = 'C:\path\n'`, []string{`s="C:\\path\\n"`}},
		{"integers", "a = 0\nb = +42\nc = -9_223_372_036_854_775_808\nd = 9223372036854775807", []string{"a=0", "b=42", "c=-9223372036854775808", "d=9223372036854775807"}},
		{"arrays", "a = []\nb = [\"x\", 'y',]\nc = [\n  \"p\", # one\n  \"q\"\n]\n", []string{"a=[]", "b=[x|y]", "c=[p|q]"}},
		{"implicit then explicit", "[a.b]\nk=1\n[a]\nj=2", []string{"[a.b]", "[a]", "a.b.k=1", "a.j=2"}},
		{"crlf", "[a]\r\nk = \"v\"\r\n", []string{"[a]", `a.k="v"`}},
		{"tab", "\tk\t=\t1\t", []string{"k=1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := parseTOML([]byte(tc.in))
			if err != nil {
				t.Fatalf("parseTOML: %v", err)
			}
			got := flatTOML(d)
			// tables come first in flatTOML; keep the test's order loose.
			if !sameSet(got, tc.want) {
				t.Errorf("got %q; want %q", got, tc.want)
			}
		})
	}
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	m := map[string]int{}
	for _, s := range a {
		m[s]++
	}
	for _, s := range b {
		m[s]--
	}
	for _, n := range m {
		if n != 0 {
			return false
		}
	}
	return true
}

func TestParseTOMLErrors(t *testing.T) {
	for _, tc := range []struct {
		in        string
		line, col int
		msg       string
	}{
		{"a = 1.5", 1, 5, "floats are not supported"},
		{"a = 1e3", 1, 5, "floats are not supported"},
		{"a = inf", 1, 5, "floats are not supported"},
		{"a = -nan", 1, 5, "floats are not supported"},
		{"a = 1979-05-27", 1, 5, "dates and times are not supported"},
		{"a = 1979-05-27T07:32:00Z", 1, 5, "dates and times are not supported"},
		{"a = 07:32:00", 1, 5, "dates and times are not supported"},
		{"a = {x = 1}", 1, 5, "inline tables are not supported"},
		{"a = \"\"\"x\"\"\"", 1, 5, "multi-line strings are not supported"},
		{"a = '''x'''", 1, 5, "multi-line strings are not supported"},
		{"[[a]]", 1, 1, "arrays of tables"},
		{"a.b = 1", 1, 2, "dotted keys are not supported"},
		{"a = 1\na = 2", 2, 1, `key "a" is defined twice`},
		{"[t]\n[t]", 2, 1, "table [t] is defined twice"},
		{"[t]\nk = 1\n[t.k]", 3, 1, `table [t.k] redefines key "t.k"`},
		{"[t.k]\n[t]\nk = 1", 3, 1, `key "t.k" redefines a table`},
		{"a = 0x1F", 1, 5, "hexadecimal, octal and binary"},
		{"a = 0o7", 1, 5, "hexadecimal, octal and binary"},
		{"a = 012", 1, 5, "leading zero"},
		{"a = 1__0", 1, 5, "'_' must be between digits"},
		{"a = _1", 1, 5, "unexpected '_'"},
		{"a = 1_", 1, 5, "'_' must be between digits"},
		{"a = +-1", 1, 5, "malformed integer"},
		{"a = 99999999999999999999", 1, 5, "does not fit in 64 bits"},
		{"a = yes", 1, 5, "unknown value \"yes\""},
		{"a = truex", 1, 5, "unknown value"},
		{"a = [1, 2]", 1, 6, "arrays may hold only strings; got integer"},
		{"a = [\"x\" \"y\"]", 1, 10, "want ',' or ']'"},
		{"a = [\"x\",", 1, 5, "unterminated array"},
		{"a = \"abc", 1, 5, "unterminated string"},
		{"a = \"ab\nc\"", 1, 5, "strings end on the same line"},
		{"a = 'ab", 1, 5, "unterminated string"},
		{"a = \"\\x\"", 1, 6, `unknown escape \x`},
		{"a = \"\\u12\"", 1, 6, "short \\u escape"},
		{"a = \"\\u12zz\"", 1, 6, "malformed \\u escape"},
		{"a = \"\\u+123\"", 1, 6, "malformed \\u escape"},
		{"a = \"\\uD800\"", 1, 6, "not a Unicode scalar value"},
		{"a = \"\\U00110000\"", 1, 6, "not a Unicode scalar value"},
		{"a = \"a\x01\"", 1, 7, "control character"},
		{"a = 1 b = 2", 1, 7, "unexpected 'b' after the value"},
		{"a", 1, 2, "want '='"},
		{"= 1", 1, 1, "want a key"},
		{"a =", 1, 4, "want a value"},
		{"[a", 1, 3, "unterminated table header"},
		{"[a b]", 1, 4, "want '.' or ']'"},
		{"[]", 1, 2, "want a key"},
		{"a = 1\r", 1, 6, "carriage return without a line feed"},
		{"# c\x00", 1, 4, "control character"},
		{"é = 1", 1, 1, "want a key"},
		{"a = \"\xff\"", 1, 6, "invalid UTF-8"},
		{"\n\n  k = 'é' é", 3, 11, "unexpected 'é'"},
	} {
		_, err := parseTOML([]byte(tc.in))
		te, ok := err.(*tomlError)
		if !ok {
			t.Errorf("parseTOML(%q): got %v; want a *tomlError", tc.in, err)
			continue
		}
		if te.line != tc.line || te.col != tc.col || !strings.Contains(te.msg, tc.msg) {
			t.Errorf("parseTOML(%q): got %v; want line %d, column %d: %s", tc.in, te, tc.line, tc.col, tc.msg)
		}
	}
}

// encodeTOML writes d back as TOML, for the fuzz round trip.
func encodeTOML(d *tomlDoc) string {
	var b strings.Builder
	quote := func(s string) string {
		var q strings.Builder
		q.WriteByte('"')
		for _, r := range s {
			switch {
			case r == '"' || r == '\\':
				q.WriteByte('\\')
				q.WriteRune(r)
			case r < 0x20 || r == 0x7f:
				q.WriteString(`\u00` + strconv.FormatUint(uint64(r)>>4, 16) + strconv.FormatUint(uint64(r)&15, 16))
			default:
				q.WriteRune(r)
			}
		}
		q.WriteByte('"')
		return q.String()
	}
	path := func(p []string) string {
		parts := make([]string, len(p))
		for i, k := range p {
			parts[i] = quote(k)
		}
		return strings.Join(parts, ".")
	}
	// Entries in table order: emit each entry under a header of its parent.
	// Headers are re-emitted as they appear; an entry whose table has no
	// header (the root) comes first.
	written := map[string]bool{}
	for _, e := range d.entries {
		if len(e.path) == 1 {
			writeEntry(&b, quote(e.path[0]), e.value, quote)
		}
	}
	for _, t := range d.tables {
		k := pathKey(t.path)
		if written[k] {
			continue
		}
		written[k] = true
		b.WriteString("[" + path(t.path) + "]\n")
		for _, e := range d.entries {
			if len(e.path) == len(t.path)+1 && pathKey(e.path[:len(t.path)]) == k {
				writeEntry(&b, quote(e.path[len(e.path)-1]), e.value, quote)
			}
		}
	}
	return b.String()
}

func writeEntry(b *strings.Builder, key string, v tomlValue, quote func(string) string) {
	b.WriteString(key + " = ")
	switch v.kind {
	case tomlString:
		b.WriteString(quote(v.s))
	case tomlArray:
		b.WriteString("[")
		for i, s := range v.arr {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(quote(s))
		}
		b.WriteString("]")
	default:
		b.WriteString(v.text())
	}
	b.WriteString("\n")
}

// comparable form of a document: sorted entries with typed values.
func canonTOML(d *tomlDoc) map[string]tomlValue {
	m := map[string]tomlValue{}
	for _, e := range d.entries {
		v := e.value
		if v.kind == tomlArray && v.arr == nil {
			v.arr = []string{}
		}
		m[pathKey(e.path)] = v
	}
	return m
}

// FuzzTOML: the parser never panics; a document it accepts holds only
// typed values with positions inside the input, and re-encoding it parses
// back to the same values.
func FuzzTOML(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/config/*.toml")
	for _, name := range seeds {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{"a = 1", "[a.b]\n'k' = [\"x\",]", "s = \"\\u00e9\\n\"", "a = 1.5", "[t]\n[t]", "x = 0x1", "a = [\n#c\n]"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := parseTOML(data)
		if err != nil {
			te, ok := err.(*tomlError)
			if !ok || te.line < 1 || te.col < 1 || te.msg == "" {
				t.Fatalf("error %#v is not a positioned *tomlError", err)
			}
			return
		}
		lines := strings.Count(string(data), "\n") + 1
		for _, e := range d.entries {
			switch e.value.kind {
			case tomlString, tomlInt, tomlBool:
			case tomlArray:
				if e.value.arr == nil {
					t.Fatalf("entry %q: nil array", e.path)
				}
			default:
				t.Fatalf("entry %q: untyped value %#v", e.path, e.value)
			}
			if len(e.path) == 0 || e.line < 1 || e.line > lines || e.keyLine < 1 || e.keyLine > e.line {
				t.Fatalf("entry %q: bad position %d:%d (key %d:%d)", e.path, e.line, e.col, e.keyLine, e.keyCol)
			}
			if e.value.kind == tomlString && !utf8.ValidString(e.value.s) {
				t.Fatalf("entry %q: invalid UTF-8 value", e.path)
			}
		}
		enc := encodeTOML(d)
		d2, err := parseTOML([]byte(enc))
		if err != nil {
			t.Fatalf("re-encoded document does not parse: %v\n%s", err, enc)
		}
		if got, want := canonTOML(d2), canonTOML(d); !reflect.DeepEqual(got, want) {
			t.Fatalf("round trip: got %v; want %v\n%s", got, want, enc)
		}
	})
}
