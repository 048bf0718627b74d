package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
)

func TestJSONCheck(t *testing.T) {
	for _, tc := range []struct {
		in, err string // err "" for valid
	}{
		{`0`, ""},
		{` {"a" : [1, -2.5e+3, true, false, null, "x\u00e9\n"], "b":{}} `, ""},
		{`[]`, ""},
		{`"\ud800"`, ""},    // lone surrogate escape: valid JSON
		{"\"\xff\"", ""},    // invalid UTF-8: valid JSON, as json.Valid has it
		{"\t\r\n[ ]\n", ""}, // all four white spaces
		{``, "json: at byte 0: got end of input, want a value"},
		{`   `, "json: at byte 3: got end of input, want a value"},
		{`{"a":1,}`, `json: at byte 7: got '}', want a string key`},
		{`{"a" 1}`, `json: at byte 5: got '1', want ':'`},
		{`{"a":1 "b":2}`, `json: at byte 7: got '"', want ',' or '}'`},
		{`[1 2]`, `json: at byte 3: got '2', want ',' or ']'`},
		{`[1,]`, `json: at byte 3: got ']', want a value`},
		{`[1`, `json: at byte 2: got end of input, want ',' or ']'`},
		{`01`, `json: at byte 1: got '1', want end of input`},
		{`1.`, `json: at byte 2: got end of input, want a digit`},
		{`[1.5.]`, `json: at byte 4: got '.', want ',' or ']'`},
		{`[1.x]`, `json: at byte 3: got 'x', want a digit`},
		{`-`, `json: at byte 0: got '-', want a value`},
		{`1e`, `json: at byte 0: got '1', want a value`},
		{`tru`, `json: at byte 0: got 't', want a value`},
		{`truex`, `json: at byte 4: got 'x', want end of input`},
		{`nul`, `json: at byte 0: got 'n', want a value`},
		{`"abc`, `json: at byte 4: got end of input, want '"'`},
		{"\"a\tb\"", `json: at byte 2: got '\t', want no control character in a string`},
		{`"\x"`, `json: at byte 2: got 'x', want an escape character`},
		{`"\'"`, `json: at byte 2: got '\'', want an escape character`},
		{`"\u12G4"`, `json: at byte 1: bad \u escape in string`},
		{`"\`, `json: at byte 2: got end of input, want an escape`},
		{"\xff", `json: at byte 0: got byte 0xff, want a value`},
		{`{} {}`, `json: at byte 3: got '{', want end of input`},
		{`{1:2}`, `json: at byte 1: got '1', want a string key`},
	} {
		t.Run(tc.in, func(t *testing.T) {
			err := jsonCheck([]byte(tc.in))
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tc.err {
				t.Errorf("jsonCheck(%q) = %v; want %v", tc.in, got, tc.err)
			}
			if v, want := jsonValid([]byte(tc.in)), json.Valid([]byte(tc.in)); v != want {
				t.Errorf("jsonValid(%q) = %v; want %v (json.Valid)", tc.in, v, want)
			}
		})
	}
}

func TestJSONDepth(t *testing.T) {
	nest := func(n int, open, close string) []byte {
		return []byte(strings.Repeat(open, n) + strings.Repeat(close, n))
	}
	for _, tc := range []struct {
		name string
		in   []byte
	}{
		{"arrays at the limit", nest(jsonMaxDepth, "[", "]")},
		{"arrays beyond", nest(jsonMaxDepth+1, "[", "]")},
		{"objects at the limit", []byte(strings.Repeat(`{"k":`, jsonMaxDepth) + "1" + strings.Repeat("}", jsonMaxDepth))},
		{"objects beyond", []byte(strings.Repeat(`{"k":`, jsonMaxDepth+1) + "1" + strings.Repeat("}", jsonMaxDepth+1))},
		{"mixed at the limit", []byte(strings.Repeat(`[{"k":`, jsonMaxDepth/2) + "1" + strings.Repeat("}]", jsonMaxDepth/2))},
		{"mixed beyond", []byte(strings.Repeat(`[{"k":`, jsonMaxDepth/2) + "[]" + strings.Repeat("}]", jsonMaxDepth/2))},
		{"deep within an object member", []byte(`{"a":` + string(nest(jsonMaxDepth-1, "[", "]")) + "}")},
		{"too deep within an object member", []byte(`{"a":` + string(nest(jsonMaxDepth, "[", "]")) + "}")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got, want := jsonValid(tc.in), json.Valid(tc.in); got != want {
				t.Errorf("jsonValid = %v; want %v (json.Valid)", got, want)
			}
		})
	}
	// The object walkers count their own level as json.Valid does.
	in := []byte(`{"a":` + string(nest(jsonMaxDepth, "[", "]")) + "}")
	err := jsonObject(in, func(k, v []byte) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "nested deeper than 10000 levels") {
		t.Errorf("jsonObject of %d levels: got %v; want the depth error", jsonMaxDepth+1, err)
	}
}

func TestJSONObject(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string // key=val pairs, or the error
	}{
		{`{}`, ""},
		{` null `, ""},
		{`{"a":1,"b" : "x" , "c":{"d":[1, 2]},"e":null}`, `a=1 b="x" c={"d":[1, 2]} e=null`},
		{`{"a":1,"a":2}`, `a=1 a=2`}, // every duplicate, in order
		{"{\"\\u0061\\n\":true,\"\\ud800\":1,\"x\xffy\":2}", "a\n=true \uFFFD=1 x\uFFFDy=2"},
		{`[]`, `json: at byte 0: got '[', want an object`},
		{`"x"`, `json: at byte 0: got '"', want an object`},
		{``, `json: at byte 0: got end of input, want an object`},
		{`{"a":1}x`, `a=1 json: at byte 7: got 'x', want end of input`},
		{`nullx`, `json: at byte 4: got 'x', want end of input`},
		{`{"a":1,"b":[}`, "a=1 json: at byte 12: got '}', want a value"},
		{`{"a":1 `, "a=1 json: at byte 7: got end of input, want ',' or '}'"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			var got []string
			err := jsonObject([]byte(tc.in), func(k, v []byte) error {
				got = append(got, string(k)+"="+string(v))
				return nil
			})
			if err != nil {
				got = append(got, err.Error())
			}
			if g := strings.Join(got, " "); g != tc.want {
				t.Errorf("jsonObject(%q) = %v; want %v", tc.in, g, tc.want)
			}
		})
	}
	stop := errors.New("stop")
	n := 0
	err := jsonObject([]byte(`{"a":1,"b":2,"c":3}`), func(k, v []byte) error {
		if n++; string(k) == "b" {
			return stop
		}
		return nil
	})
	if err != stop || n != 2 {
		t.Errorf("stopping at b: got %v after %d members; want %v after 2", err, n, stop)
	}
}

func TestJSONArray(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string // elements, or the error
	}{
		{`[]`, ""},
		{`null`, ""},
		{` [ 1 , "a,b" ,{"x":[]},[null] ] `, `1|"a,b"|{"x":[]}|[null]`},
		{`{}`, `json: at byte 0: got '{', want an array`},
		{`[1,{"a":}]`, `1|json: at byte 8: got '}', want a value`}, // the good ones before a broken element
		{`[1,2`, `1|2|json: at byte 4: got end of input, want ',' or ']'`},
		{`[1] [2]`, `1|json: at byte 4: got '[', want end of input`},
	} {
		t.Run(tc.in, func(t *testing.T) {
			var got []string
			err := jsonArray([]byte(tc.in), func(e []byte) error {
				got = append(got, string(e))
				return nil
			})
			if err != nil {
				got = append(got, err.Error())
			}
			if g := strings.Join(got, "|"); g != tc.want {
				t.Errorf("jsonArray(%q) = %v; want %v", tc.in, g, tc.want)
			}
		})
	}
}

func TestJSONString(t *testing.T) {
	for _, tc := range []struct {
		in, want, err string
	}{
		{`"plain"`, "plain", ""},
		{` "x" `, "x", ""},
		{`null`, "", ""},
		{`""`, "", ""},
		{`"a\"b\\c\/d\b\f\n\r\t"`, "a\"b\\c/d\b\f\n\r\t", ""},
		{`"\u00e9\u20AC\ud83d\ude00"`, "é€😀", ""},
		{`"\ud800"`, "\uFFFD", ""},               // lone high surrogate
		{`"\udc00x"`, "\uFFFDx", ""},             // lone low surrogate
		{`"\ud800\u0041"`, "\uFFFDA", ""},        // the second escape is kept
		{`"\ud800\ud800\udc00"`, "\uFFFD𐀀", ""},  // a bad pair, then a good one
		{"\"a\xffb\xc3\"", "a\uFFFDb\uFFFD", ""}, // invalid UTF-8, one U+FFFD per byte
		{"\"\xed\xa0\x80\"", "\uFFFD\uFFFD\uFFFD", ""},
		{`1`, "", `json: at byte 0: got '1', want a string`},
		{`"a" "b"`, "", `json: at byte 4: got '"', want end of input`},
		{`nul`, "", `json: at byte 0: got 'n', want a string`},
		{`"\q"`, "", `json: at byte 2: got 'q', want an escape character`},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := jsonString([]byte(tc.in))
			if e := errString(err); got != tc.want || e != tc.err {
				t.Errorf("jsonString(%q) = %q, %v; want %q, %v", tc.in, got, e, tc.want, tc.err)
			}
			var std string
			stdErr := json.Unmarshal([]byte(tc.in), &std)
			if (stdErr == nil) != (err == nil) || std != got {
				t.Errorf("json.Unmarshal(%q) = %q, %v; jsonString says %q, %v", tc.in, std, stdErr, got, err)
			}
			b, err := jsonUnquote([]byte("pre:"), []byte(tc.in))
			if e := errString(err); err == nil && string(b) != "pre:"+tc.want || e != tc.err {
				t.Errorf("jsonUnquote(%q) = %q, %v; want %q, %v", tc.in, b, e, "pre:"+tc.want, tc.err)
			}
		})
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestJSONScalars(t *testing.T) {
	for _, tc := range []struct {
		in     string
		f      float64
		i      int64
		b      bool
		fe, ie string // errors of jsonNumber and jsonInt64
		be     string // error of jsonBool
	}{
		{in: `0`, be: "json: at byte 0: got '0', want a boolean"},
		{in: ` -12 `, f: -12, i: -12, be: "json: at byte 1: got '-', want a boolean"},
		{in: `411.5`, f: 411.5, ie: "json: at byte 0: want an integer within int64", be: "json: at byte 0: got '4', want a boolean"},
		{in: `1e3`, f: 1000, ie: "json: at byte 0: want an integer within int64", be: "json: at byte 0: got '1', want a boolean"},
		{in: `9223372036854775807`, f: 9223372036854775807, i: 9223372036854775807, be: "json: at byte 0: got '9', want a boolean"},
		{in: `9223372036854775808`, f: 9223372036854775808, ie: "json: at byte 0: want an integer within int64", be: "json: at byte 0: got '9', want a boolean"},
		{in: `1e400`, fe: "json: at byte 0: number out of the range of a double", ie: "json: at byte 0: want an integer within int64", be: "json: at byte 0: got '1', want a boolean"},
		{in: `1e-400`, ie: "json: at byte 0: want an integer within int64", be: "json: at byte 0: got '1', want a boolean"},
		{in: `null`},
		{in: `true`, b: true, fe: "json: at byte 0: got 't', want a number", ie: "json: at byte 0: got 't', want a number"},
		{in: ` false`, fe: "json: at byte 1: got 'f', want a number", ie: "json: at byte 1: got 'f', want a number"},
		{in: `"1"`, fe: `json: at byte 0: got '"', want a number`, ie: `json: at byte 0: got '"', want a number`, be: `json: at byte 0: got '"', want a boolean`},
		{in: `1 2`, fe: "json: at byte 2: got '2', want end of input", ie: "json: at byte 2: got '2', want end of input", be: "json: at byte 0: got '1', want a boolean"},
		{in: `truex`, fe: "json: at byte 0: got 't', want a number", ie: "json: at byte 0: got 't', want a number", be: "json: at byte 4: got 'x', want end of input"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			in := []byte(tc.in)
			f, err := jsonNumber(in)
			if e := errString(err); f != tc.f || e != tc.fe {
				t.Errorf("jsonNumber(%q) = %v, %v; want %v, %v", tc.in, f, e, tc.f, tc.fe)
			}
			var stdF float64
			if stdErr := json.Unmarshal(in, &stdF); (stdErr == nil) != (err == nil) || stdErr == nil && stdF != f {
				t.Errorf("json.Unmarshal(%q, float64) = %v, %v; jsonNumber says %v, %v", tc.in, stdF, stdErr, f, err)
			}
			i, err := jsonInt64(in)
			if e := errString(err); i != tc.i || e != tc.ie {
				t.Errorf("jsonInt64(%q) = %v, %v; want %v, %v", tc.in, i, e, tc.i, tc.ie)
			}
			var stdI int64
			if stdErr := json.Unmarshal(in, &stdI); (stdErr == nil) != (err == nil) || stdErr == nil && stdI != i {
				t.Errorf("json.Unmarshal(%q, int64) = %v, %v; jsonInt64 says %v, %v", tc.in, stdI, stdErr, i, err)
			}
			b, err := jsonBool(in)
			if e := errString(err); b != tc.b || e != tc.be {
				t.Errorf("jsonBool(%q) = %v, %v; want %v, %v", tc.in, b, e, tc.b, tc.be)
			}
			var stdB bool
			if stdErr := json.Unmarshal(in, &stdB); (stdErr == nil) != (err == nil) || stdB != b {
				t.Errorf("json.Unmarshal(%q, bool) = %v, %v; jsonBool says %v, %v", tc.in, stdB, stdErr, b, err)
			}
		})
	}
}

func TestJSONKind(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want byte
	}{
		{`{}`, '{'}, {` [`, '['}, {`"`, '"'}, {`null`, 'n'}, {`true`, 't'}, {`false`, 'f'},
		{`-1`, '0'}, {`7`, '0'}, {``, 0}, {`  `, 0}, {`x`, 0}, {`+1`, 0},
	} {
		if got := jsonKind([]byte(tc.in)); got != tc.want {
			t.Errorf("jsonKind(%q) = %q; want %q", tc.in, got, tc.want)
		}
	}
}

func TestJSONKeyIs(t *testing.T) {
	for _, tc := range []struct {
		key, name string
		want      bool
	}{
		{"requestId", "requestId", true},
		{"RequestID", "requestId", true},
		{"REQUESTID", "requestId", true},
		{"request_id", "requestId", false},
		{"requestIdx", "requestId", false},
		{"\u212a", "k", true}, // KELVIN SIGN folds to k, as in encoding/json
		{"\u017f", "S", true}, // LATIN SMALL LETTER LONG S folds to s
		{"", "", true},
	} {
		if got := jsonKeyIs([]byte(tc.key), tc.name); got != tc.want {
			t.Errorf("jsonKeyIs(%q, %q) = %v; want %v", tc.key, tc.name, got, tc.want)
		}
		// The oracle: does json.Unmarshal fill the field tagged name?
		in, _ := json.Marshal(map[string]int{tc.key: 1})
		if tc.name == "k" || tc.name == "S" || tc.name == "requestId" {
			var v struct {
				K int `json:"k"`
				S int `json:"S"`
				R int `json:"requestId"`
			}
			json.Unmarshal(in, &v)
			filled := map[string]int{"k": v.K, "S": v.S, "requestId": v.R}[tc.name] == 1
			if filled != tc.want {
				t.Errorf("json.Unmarshal(%s) fills %q: %v; jsonKeyIs says %v", in, tc.name, filled, tc.want)
			}
		}
	}
}

func TestAppendJSONQuote(t *testing.T) {
	for _, tc := range []struct {
		in, want string
	}{
		{"", `""`},
		{"plain text", `"plain text"`},
		{"a\"b\\c/d", `"a\"b\\c/d"`},
		{"\b\f\n\r\t\x00\x1f\x7f", `"\b\f\n\r\t\u0000\u001f` + "\x7f\""},
		{"<a href='x'>&amp;</a>", `"\u003ca href='x'\u003e\u0026amp;\u003c/a\u003e"`},
		{"é€😀", `"é€😀"`},
		{"\u2028\u2029", `"\u2028\u2029"`},
		{"a\xffb\xc3", `"a\ufffdb\ufffd"`},
		{"\xed\xa0\x80", `"\ufffd\ufffd\ufffd"`},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got := appendJSONQuote([]byte("pre"), tc.in)
			if string(got) != "pre"+tc.want {
				t.Errorf("appendJSONQuote(%q) = %s; want pre%s", tc.in, got, tc.want)
			}
			if std, _ := json.Marshal(tc.in); string(std) != tc.want {
				t.Errorf("json.Marshal(%q) = %s; want %s", tc.in, std, tc.want)
			}
			if n := sizeJSONQuote(tc.in); n != len(tc.want) {
				t.Errorf("sizeJSONQuote(%q) = %d; want %d", tc.in, n, len(tc.want))
			}
		})
	}
}

// TestUnquoteJSONStrict checks the protojson flavour otlpjson.go uses.
func TestUnquoteJSONStrict(t *testing.T) {
	for _, tc := range []struct {
		raw, want, bad string
		at             int
	}{
		{`a\nb\u00e9\ud83d\ude00`, "a\nbé😀", "", -1},
		{`x\ud800`, "x", jsonBadSurrogate, 1},
		{`\ud800\u0041`, "", jsonBadSurrogate, 0},
		{`\udc00`, "", jsonBadSurrogate, 0},
		{"a\xff", "a", jsonBadUTF8, 1},
		{`\u12`, "", jsonBadU, 0},
		{`ab\q`, "ab", jsonBadEscape, 2},
		{`ab\`, "ab", jsonBadEscape, 2},
	} {
		got, at, bad := unquoteJSON(nil, []byte(tc.raw), true)
		if string(got) != tc.want || at != tc.at || bad != tc.bad {
			t.Errorf("unquoteJSON(%q, strict) = %q, %d, %q; want %q, %d, %q", tc.raw, got, at, bad, tc.want, tc.at, tc.bad)
		}
	}
}

// TestJSONLiteAllocs: walking a record with plain keys and reading its
// numbers allocates nothing; strings cost their copy only.
func TestJSONLiteAllocs(t *testing.T) {
	rec := []byte(`{"requestId":"6f7f0961-83c2-4f6d-8d93-0c5a2d7a1f01","status":"success","metrics":{"durationMs":31.5,"billedDurationMs":32,"memorySizeMB":128,"maxMemoryUsedMB":68}}`)
	var sum float64
	var id []byte
	walk := func() {
		jsonObject(rec, func(k, v []byte) error {
			switch string(k) {
			case "requestId":
				id, _ = jsonUnquote(id[:0], v)
			case "metrics":
				return jsonObject(v, func(k, v []byte) error {
					f, err := jsonNumber(v)
					sum += f
					return err
				})
			}
			return nil
		})
	}
	walk()
	if n := testing.AllocsPerRun(100, walk); n != 0 {
		t.Errorf("walking a platform record: %v allocations; want 0", n)
	}
	if string(id) != "6f7f0961-83c2-4f6d-8d93-0c5a2d7a1f01" {
		t.Errorf("requestId = %q", id)
	}
}

// jsonLiteOracle checks every jsonlite reader against encoding/json on in.
func jsonLiteOracle(t *testing.T, in []byte) {
	t.Helper()
	if got, want := jsonValid(in), json.Valid(in); got != want {
		t.Fatalf("jsonValid(%q) = %v; want %v (json.Valid)", in, got, want)
	}
	if jsonValid(in) {
		first := in[jsonWS(in, 0)]
		want := first
		if first == '-' || first >= '0' && first <= '9' {
			want = '0'
		}
		if got := jsonKind(in); got != want {
			t.Fatalf("jsonKind(%q) = %q; want %q", in, got, want)
		}
	}

	// Objects: the members, last duplicate winning, are the map's.
	fields := map[string]string{}
	err := jsonObject(in, func(k, v []byte) error {
		if !json.Valid(v) || len(v) == 0 || bytes.TrimSpace(v)[0] != v[0] {
			t.Fatalf("jsonObject(%q) gave %q, not a trimmed value", in, v)
		}
		fields[string(k)] = string(v)
		return nil
	})
	var m map[string]json.RawMessage
	stdErr := json.Unmarshal(in, &m)
	if (err == nil) != (stdErr == nil) {
		t.Fatalf("jsonObject(%q): %v; json.Unmarshal into a map: %v", in, err, stdErr)
	}
	if err == nil {
		if len(m) != len(fields) {
			t.Fatalf("jsonObject(%q) = %q; json.Unmarshal: %q", in, fields, m)
		}
		for k, v := range m {
			if f, ok := fields[k]; !ok || f != string(v) {
				t.Fatalf("jsonObject(%q)[%q] = %q; want %q", in, k, f, v)
			}
		}
	}

	// Arrays: the elements are the slice's.
	var elems []string
	err = jsonArray(in, func(e []byte) error {
		elems = append(elems, string(e))
		return nil
	})
	var arr []json.RawMessage
	stdErr = json.Unmarshal(in, &arr)
	if (err == nil) != (stdErr == nil) {
		t.Fatalf("jsonArray(%q): %v; json.Unmarshal into a slice: %v", in, err, stdErr)
	}
	if err == nil {
		if len(arr) != len(elems) {
			t.Fatalf("jsonArray(%q) = %q; json.Unmarshal: %q", in, elems, arr)
		}
		for i := range arr {
			if string(arr[i]) != elems[i] {
				t.Fatalf("jsonArray(%q)[%d] = %q; want %q", in, i, elems[i], arr[i])
			}
		}
	}

	// Scalars.
	s, err := jsonString(in)
	var stdS string
	stdErr = json.Unmarshal(in, &stdS)
	if (err == nil) != (stdErr == nil) || err == nil && s != stdS {
		t.Fatalf("jsonString(%q) = %q, %v; json.Unmarshal: %q, %v", in, s, err, stdS, stdErr)
	}
	f, err := jsonNumber(in)
	var stdF float64
	stdErr = json.Unmarshal(in, &stdF)
	if (err == nil) != (stdErr == nil) || err == nil && f != stdF {
		t.Fatalf("jsonNumber(%q) = %v, %v; json.Unmarshal: %v, %v", in, f, err, stdF, stdErr)
	}
	i, err := jsonInt64(in)
	var stdI int64
	stdErr = json.Unmarshal(in, &stdI)
	if (err == nil) != (stdErr == nil) || err == nil && i != stdI {
		t.Fatalf("jsonInt64(%q) = %v, %v; json.Unmarshal: %v, %v", in, i, err, stdI, stdErr)
	}
	b, err := jsonBool(in)
	var stdB bool
	stdErr = json.Unmarshal(in, &stdB)
	if (err == nil) != (stdErr == nil) || err == nil && b != stdB {
		t.Fatalf("jsonBool(%q) = %v, %v; json.Unmarshal: %v, %v", in, b, err, stdB, stdErr)
	}

	// A struct, the way call sites decode known shapes: case-folded keys,
	// null keeps the previous value, last duplicate wins, unknown keys
	// skipped, a wrong type fails.
	type shape struct {
		ID  string  `json:"requestId"`
		Dur float64 `json:"durationMs"`
		N   int64   `json:"n"`
		OK  bool    `json:"ok"`
	}
	var got shape
	err = jsonObject(in, func(k, v []byte) error {
		switch {
		case jsonKeyIs(k, "requestId"):
			return jsonSetString(v, &got.ID)
		case jsonKeyIs(k, "durationMs"):
			return jsonSetNumber(v, &got.Dur)
		case jsonKeyIs(k, "n"):
			return jsonSetInt64(v, &got.N)
		case jsonKeyIs(k, "ok") && jsonKind(v) != 'n':
			var err error
			got.OK, err = jsonBool(v)
			return err
		}
		return nil
	})
	var want shape
	stdErr = json.Unmarshal(in, &want)
	if (err == nil) != (stdErr == nil) || err == nil && got != want {
		t.Fatalf("struct from %q: %+v, %v; json.Unmarshal: %+v, %v", in, got, err, want, stdErr)
	}

	// The decoders of the call sites.
	decoderOracle(t, in, (*nextEvent).decode)
	decoderOracle(t, in, (*registerResponse).decode)
	partialSuccessOracle(t, in)
	o2Oracle(t, in)
	telemetryOracle(t, in)
}

// decoderOracle checks that a call site's decoder fills a T as
// json.Unmarshal does, and fails when it fails.
func decoderOracle[T any](t *testing.T, in []byte, decode func(*T, []byte) error) {
	t.Helper()
	var got, want T
	err := decode(&got, in)
	stdErr := json.Unmarshal(in, &want)
	if (err == nil) != (stdErr == nil) || err == nil && !reflect.DeepEqual(got, want) {
		t.Fatalf("%T from %q: %+v, %v; json.Unmarshal: %+v, %v", got, in, got, err, want, stdErr)
	}
}

// partialSuccessStd is parsePartialSuccessJSON as it was with
// encoding/json. Map order makes it random when an answer has several
// rejected* keys, or both errorMessage and error_message.
func partialSuccessStd(b []byte) (rejected int64, message string) {
	var resp struct {
		Camel map[string]json.RawMessage `json:"partialSuccess"`
		Snake map[string]json.RawMessage `json:"partial_success"`
	}
	if json.Unmarshal(b, &resp) != nil {
		return 0, ""
	}
	ps := resp.Camel
	if ps == nil {
		ps = resp.Snake
	}
	for k, v := range ps {
		switch {
		case strings.HasPrefix(k, "rejected"):
			rejected, _ = strconv.ParseInt(strings.Trim(string(v), `"`), 10, 64)
		case k == "errorMessage" || k == "error_message":
			json.Unmarshal(v, &message)
		}
	}
	return rejected, message
}

// partialSuccessOracle: parsePartialSuccessJSON gives one of the answers
// the encoding/json version could give.
func partialSuccessOracle(t *testing.T, in []byte) {
	t.Helper()
	n, msg := parsePartialSuccessJSON(in)
	var seen []string
	for range 20 {
		n2, msg2 := partialSuccessStd(in)
		if n2 == n && msg2 == msg {
			return
		}
		seen = append(seen, fmt.Sprintf("%d %q", n2, msg2))
	}
	t.Fatalf("parsePartialSuccessJSON(%q) = %d %q; encoding/json gave %v", in, n, msg, seen)
}

// o2Oracle: parseO2Response and rawRequestID read what their
// encoding/json versions read.
func o2Oracle(t *testing.T, in []byte) {
	t.Helper()
	var resp struct {
		Status []struct {
			Name       string `json:"name"`
			Successful int64  `json:"successful"`
			Failed     int64  `json:"failed"`
			Error      string `json:"error"`
		} `json:"status"`
	}
	var wantN int64
	var wantMsg string
	if json.Unmarshal(in, &resp) == nil {
		for _, s := range resp.Status {
			wantN += s.Failed
			if wantMsg == "" {
				wantMsg = s.Error
			}
		}
	}
	if n, msg := parseO2Response(in); n != wantN || msg != wantMsg {
		t.Fatalf("parseO2Response(%q) = %d %q; encoding/json: %d %q", in, n, msg, wantN, wantMsg)
	}

	raw := bytes.TrimSpace(in)
	var want string
	switch {
	case len(raw) > 0 && raw[0] == '"':
		var line string
		if json.Unmarshal(raw, &line) == nil {
			_, _, want = textSeverity(line)
		}
	case len(raw) > 0 && raw[0] == '{':
		var r struct {
			RequestID string `json:"requestId"`
		}
		json.Unmarshal(raw, &r)
		want = r.RequestID
	}
	if got := (&telemetry{}).rawRequestID(&envelope{Type: "platform.start", Record: in}); got != want {
		t.Fatalf("rawRequestID(%q) = %q; encoding/json: %q", in, got, want)
	}
}

// jsonQuoteOracle checks appendJSONQuote against json.Marshal on s.
func jsonQuoteOracle(t *testing.T, s string) {
	t.Helper()
	got := appendJSONQuote(nil, s)
	want, _ := json.Marshal(s)
	if !bytes.Equal(got, want) {
		t.Fatalf("appendJSONQuote(%q) = %s; json.Marshal: %s", s, got, want)
	}
	if n := sizeJSONQuote(s); n != len(got) {
		t.Fatalf("sizeJSONQuote(%q) = %d; want %d", s, n, len(got))
	}
	back, err := jsonString(got)
	if err != nil {
		t.Fatalf("jsonString(appendJSONQuote(%q)): %v", s, err)
	}
	if utf8.ValidString(s) && back != s {
		t.Fatalf("jsonString(appendJSONQuote(%q)) = %q", s, back)
	}
}

// jsonLiteSeeds are inputs for the fuzz target: the telemetry batches,
// each of their events and records, and edge cases.
func jsonLiteSeeds(t testing.TB) [][]byte {
	seeds := [][]byte{
		[]byte(`{"requestId":"r","RequestID":"R","durationMs":1.5,"n":3,"ok":true}`),
		[]byte(`{"requestid":null,"n":1.5}`),
		[]byte(`{"requestId":"x","REQUESTID":null,"durationMs":2,"durationMs":null}`),
		[]byte(`{"requestId":"x","requestId":5}`),
		[]byte(`{"eventType":"INVOKE","deadlineMs":1714557605031,"requestId":"6f7f0961-83c2-4f6d-8d93-0c5a2d7a1f01","invokedFunctionArn":"arn:aws:lambda:eu-west-1:123456789012:function:orders-api","tracing":{"type":"X-Amzn-Trace-Id","value":"Root=1-66321240-a3ce929d0e0e4736b6ac8e51;Parent=53995c3f42cd8ad8;Sampled=1"}}`),
		[]byte(`{"eventType":"SHUTDOWN","shutdownReason":"spindown","deadlineMs":1714557607000,"tracing":null}`),
		[]byte(`{"eventType":"SHUTDOWN","deadlineMs":"1714557607000"}`),
		[]byte(`{"functionName":"orders-api","functionVersion":"$LATEST","handler":"index.handler","accountId":"123456789012"}`),
		[]byte(`{"partialSuccess":{"rejectedSpans":"3","errorMessage":"quota"}}`),
		[]byte(`{"partial_success":{"rejected_log_records":2,"error_message":"x","errorMessage":5}}`),
		[]byte(`{"PartialSuccess":{"rejectedSpans":"1"},"partialSuccess":{"errorMessage":"a","errorMessage":null}}`),
		[]byte(`{"partialSuccess":{},"partial_success":{"rejectedSpans":"9"}}`),
		[]byte(`{"partialSuccess":null,"partial_success":{"rejectedSpans":"99999999999999999999"}}`),
		[]byte(`{"partialSuccess":[]}`),
		[]byte("\v[{\"type\":\"function\",\"record\":\"x\"}]\u00a0"),
		[]byte(`[1,{"time":5},null,{"Type":"platform.start","RECORD":{"requestId":"r"}},{"a":1.}]`),
		[]byte(`{"requestId":"r","metrics":{"durationMs":1,"initDurationMs":null,"restoreDurationMs":2.5},"spans":[{"name":"a"},null],"spans":[{"durationMs":3}],"events":["INVOKE",null],"types":[],"tracing":null}`),
		[]byte(`{"metrics":{"durationMs":"1"}}`),
		[]byte(`[{"type":"function","record":"a"},2.]`),
		[]byte(`[{"type":"function","record":"a"},-0.5.]`),
		[]byte(`{"spans":{}}`),
		[]byte(`{"level":"WARN","message":{"k":[1,-2.5,1e400,true,null,"s"]},"requestId":"r","errorType":"E","errorMessage":null,"stackTrace":["a",null,"b"],"x":12345678901234567890}`),
		[]byte(`{"level":7,"requestId":"r","stackTrace":"not lines"}`),
		[]byte(`{"message":"m","message":2,"timestamp":"t","level":"error","level":"info"}`),
		[]byte(`[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]`),
		[]byte(`[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]`),
		[]byte(`[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]`),
		[]byte(`[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]`),
		[]byte(`{"code":200,"status":[{"name":"default","successful":2,"failed":1,"error":"bad record"},null,{"failed":3}]}`),
		[]byte(`{"status":[{"failed":1,"error":"e"},{"failed":2}],"status":[{"name":"x"}]}`),
		[]byte(`{"status":[{"failed":1,"error":"e"}],"status":[],"status":[{"name":"x"}]}`),
		[]byte(`{"status":[{"failed":1.5}]}`),
		[]byte(`{"requestId":"a","requestId":5,"x":[}`),
		[]byte(`{"requestId":"a","requestId":5}`),
		[]byte(`"2024-05-01T10:00:00.310Z	6f7f0961-83c2-4f6d-8d93-0c5a2d7a1f01	INFO	line"`),
		[]byte(`{"errorType":"Extension.InvalidExtensionState","errorMessage":"State transition from Ready to Invoking failed"}`),
		[]byte(`{"n":"3"}`),
		[]byte(`{"a":1,"a":{"b":[]}}`),
		[]byte(`["\ud83d\ude00","\ud800x",1e400,-0,0.1e-5]`),
		[]byte("\"\xff\\u00e9<&>\u2028\""),
		[]byte(` null `),
		[]byte(`[1,{"a":}]`),
		[]byte("{\"\xff\":1,\"\\ufffd\":2}"),
	}
	files, _ := filepath.Glob(filepath.Join("testdata", "telemetry", "*.json"))
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		seeds = append(seeds, b)
		jsonArray(b, func(ev []byte) error {
			seeds = append(seeds, ev)
			return jsonObject(ev, func(k, v []byte) error {
				if string(k) == "record" {
					seeds = append(seeds, v)
				}
				return nil
			})
		})
	}
	return seeds
}

func TestJSONLiteSeeds(t *testing.T) {
	for _, in := range jsonLiteSeeds(t) {
		jsonLiteOracle(t, in)
		jsonQuoteOracle(t, string(in))
	}
}

// FuzzJSONLite holds jsonlite to encoding/json. Oracle: jsonValid agrees
// with json.Valid; jsonObject and jsonArray hand out the members and
// elements json.Unmarshal puts in a map[string]json.RawMessage (last
// duplicate winning) or a []json.RawMessage, and fail when it fails;
// jsonString, jsonNumber, jsonInt64 and jsonBool agree with json.Unmarshal
// into a string, float64, int64, bool, and so does a struct decoded member
// by member with jsonKeyIs; appendJSONQuote is byte for byte json.Marshal,
// sizeJSONQuote its length, and jsonString reads it back.
func FuzzJSONLite(f *testing.F) {
	for _, s := range jsonLiteSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		jsonLiteOracle(t, in)
		jsonQuoteOracle(t, string(in))
	})
}

// Telemetry API shapes for the benchmark, decoded the same way by both
// contenders: envelope, platform record with nested metrics, spans and
// tracing, and text or JSON log lines.
type benchEnvelope struct {
	Time   string          `json:"time"`
	Type   string          `json:"type"`
	Record json.RawMessage `json:"record"`
}

type benchMetrics struct {
	DurationMs       float64  `json:"durationMs"`
	BilledDurationMs float64  `json:"billedDurationMs"`
	MaxMemoryUsedMB  float64  `json:"maxMemoryUsedMB"`
	MemorySizeMB     float64  `json:"memorySizeMB"`
	InitDurationMs   *float64 `json:"initDurationMs"`
}

type benchSpan struct {
	Name       string  `json:"name"`
	Start      string  `json:"start"`
	DurationMs float64 `json:"durationMs"`
}

type benchTracing struct {
	SpanID string `json:"spanId"`
	Type   string `json:"type"`
	Value  string `json:"value"`
}

type benchRecord struct {
	RequestID          string        `json:"requestId"`
	Status             string        `json:"status"`
	ErrorType          string        `json:"errorType"`
	InitializationType string        `json:"initializationType"`
	Phase              string        `json:"phase"`
	Metrics            *benchMetrics `json:"metrics"`
	Spans              []benchSpan   `json:"spans"`
	Tracing            *benchTracing `json:"tracing"`
	Name               string        `json:"name"`
	Events             []string      `json:"events"`
}

// decodeLite fills r from the JSON object rec as json.Unmarshal would for
// the members it knows.
func (r *benchRecord) decodeLite(rec []byte) error {
	return jsonObject(rec, func(k, v []byte) error {
		switch {
		case jsonKeyIs(k, "requestId"):
			return jsonSetString(v, &r.RequestID)
		case jsonKeyIs(k, "status"):
			return jsonSetString(v, &r.Status)
		case jsonKeyIs(k, "errorType"):
			return jsonSetString(v, &r.ErrorType)
		case jsonKeyIs(k, "initializationType"):
			return jsonSetString(v, &r.InitializationType)
		case jsonKeyIs(k, "phase"):
			return jsonSetString(v, &r.Phase)
		case jsonKeyIs(k, "name"):
			return jsonSetString(v, &r.Name)
		case jsonKeyIs(k, "metrics"):
			if jsonKind(v) == 'n' {
				r.Metrics = nil
				return nil
			}
			if r.Metrics == nil {
				r.Metrics = new(benchMetrics)
			}
			m := r.Metrics
			return jsonObject(v, func(k, v []byte) error {
				switch {
				case jsonKeyIs(k, "durationMs"):
					return jsonSetNumber(v, &m.DurationMs)
				case jsonKeyIs(k, "billedDurationMs"):
					return jsonSetNumber(v, &m.BilledDurationMs)
				case jsonKeyIs(k, "maxMemoryUsedMB"):
					return jsonSetNumber(v, &m.MaxMemoryUsedMB)
				case jsonKeyIs(k, "memorySizeMB"):
					return jsonSetNumber(v, &m.MemorySizeMB)
				case jsonKeyIs(k, "initDurationMs"):
					if jsonKind(v) == 'n' {
						m.InitDurationMs = nil
						return nil
					}
					f, err := jsonNumber(v)
					m.InitDurationMs = &f
					return err
				}
				return nil
			})
		case jsonKeyIs(k, "spans"):
			if jsonKind(v) == 'n' {
				r.Spans = nil
				return nil
			}
			r.Spans = r.Spans[:0]
			return jsonArray(v, func(e []byte) error {
				var s benchSpan
				err := jsonObject(e, func(k, v []byte) error {
					switch {
					case jsonKeyIs(k, "name"):
						return jsonSetString(v, &s.Name)
					case jsonKeyIs(k, "start"):
						return jsonSetString(v, &s.Start)
					case jsonKeyIs(k, "durationMs"):
						return jsonSetNumber(v, &s.DurationMs)
					}
					return nil
				})
				r.Spans = append(r.Spans, s)
				return err
			})
		case jsonKeyIs(k, "tracing"):
			if jsonKind(v) == 'n' {
				r.Tracing = nil
				return nil
			}
			if r.Tracing == nil {
				r.Tracing = new(benchTracing)
			}
			tr := r.Tracing
			return jsonObject(v, func(k, v []byte) error {
				switch {
				case jsonKeyIs(k, "spanId"):
					return jsonSetString(v, &tr.SpanID)
				case jsonKeyIs(k, "type"):
					return jsonSetString(v, &tr.Type)
				case jsonKeyIs(k, "value"):
					return jsonSetString(v, &tr.Value)
				}
				return nil
			})
		case jsonKeyIs(k, "events"):
			if jsonKind(v) == 'n' {
				r.Events = nil
				return nil
			}
			r.Events = r.Events[:0]
			return jsonArray(v, func(e []byte) error {
				var s string
				err := jsonSetString(e, &s)
				r.Events = append(r.Events, s)
				return err
			})
		}
		return nil
	})
}

// benchBatch is one Telemetry API batch holding every event of the
// well-formed testdata/telemetry batches.
func benchBatch(t testing.TB) []byte {
	files, _ := filepath.Glob(filepath.Join("testdata", "telemetry", "*.json"))
	var evs [][]byte
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if !json.Valid(b) {
			continue // malformed.json
		}
		jsonArray(b, func(e []byte) error {
			evs = append(evs, e)
			return nil
		})
	}
	return append(append([]byte("[\n"), bytes.Join(evs, []byte(",\n"))...), "\n]"...)
}

// decodeBatchLite and decodeBatchStd decode every event of a batch: the
// envelope, platform records, and the text of string log lines.
func decodeBatchLite(batch []byte, visit func(*benchEnvelope, *benchRecord, string, error)) error {
	return jsonArray(batch, func(e []byte) error {
		var ev benchEnvelope
		err := jsonObject(e, func(k, v []byte) error {
			switch {
			case jsonKeyIs(k, "time"):
				return jsonSetString(v, &ev.Time)
			case jsonKeyIs(k, "type"):
				return jsonSetString(v, &ev.Type)
			case jsonKeyIs(k, "record"):
				ev.Record = v
			}
			return nil
		})
		if err != nil {
			return err
		}
		var rec benchRecord
		var line string
		switch {
		case strings.HasPrefix(ev.Type, "platform."):
			err = rec.decodeLite(ev.Record)
		case jsonKind(ev.Record) == '"':
			line, err = jsonString(ev.Record)
		}
		visit(&ev, &rec, line, err)
		return nil
	})
}

func decodeBatchStd(batch []byte, visit func(*benchEnvelope, *benchRecord, string, error)) error {
	var evs []benchEnvelope
	if err := json.Unmarshal(batch, &evs); err != nil {
		return err
	}
	for i := range evs {
		ev := &evs[i]
		var rec benchRecord
		var line string
		var err error
		switch {
		case strings.HasPrefix(ev.Type, "platform."):
			err = json.Unmarshal(ev.Record, &rec)
		case len(ev.Record) > 0 && ev.Record[0] == '"':
			err = json.Unmarshal(ev.Record, &line)
		}
		visit(ev, &rec, line, err)
	}
	return nil
}

// TestJSONLiteTelemetryShapes: the member-by-member decoding of the
// benchmark gives what json.Unmarshal gives on every real event.
func TestJSONLiteTelemetryShapes(t *testing.T) {
	batch := benchBatch(t)
	var lite, std []string
	dump := func(out *[]string) func(*benchEnvelope, *benchRecord, string, error) {
		return func(ev *benchEnvelope, rec *benchRecord, line string, err error) {
			r := *rec
			r.Metrics, r.Tracing = nil, nil
			s := fmt.Sprintf("%s %s %q %+v failed=%v", ev.Time, ev.Type, line, r, err != nil)
			if rec.Metrics != nil {
				m := *rec.Metrics
				m.InitDurationMs = nil
				s += fmt.Sprintf(" metrics=%+v", m)
				if p := rec.Metrics.InitDurationMs; p != nil {
					s += fmt.Sprintf(" init=%v", *p)
				}
			}
			if rec.Tracing != nil {
				s += fmt.Sprintf(" tracing=%+v", *rec.Tracing)
			}
			*out = append(*out, s)
		}
	}
	if err := decodeBatchLite(batch, dump(&lite)); err != nil {
		t.Fatal(err)
	}
	if err := decodeBatchStd(batch, dump(&std)); err != nil {
		t.Fatal(err)
	}
	if len(lite) < 50 {
		t.Fatalf("only %d events in the batch", len(lite))
	}
	if !reflect.DeepEqual(lite, std) {
		for i := range min(len(lite), len(std)) {
			if lite[i] != std[i] {
				t.Fatalf("event %d: got %v; want %v", i, lite[i], std[i])
			}
		}
		t.Fatalf("got %d events; want %d", len(lite), len(std))
	}
}

// BenchmarkJSONLiteTelemetry decodes a real Telemetry API batch (every
// event of testdata/telemetry) with jsonlite and with encoding/json.
func BenchmarkJSONLiteTelemetry(b *testing.B) {
	batch := benchBatch(b)
	n := 0
	jsonArray(batch, func([]byte) error { n++; return nil })
	visit := func(*benchEnvelope, *benchRecord, string, error) {}
	for _, bc := range []struct {
		name   string
		decode func([]byte, func(*benchEnvelope, *benchRecord, string, error)) error
	}{
		{"jsonlite", decodeBatchLite},
		{"encoding-json", decodeBatchStd},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(batch)))
			b.ReportAllocs()
			for b.Loop() {
				if err := bc.decode(batch, visit); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/event")
		})
	}
}

// BenchmarkJSONLiteValid compares the validators on the same batch.
func BenchmarkJSONLiteValid(b *testing.B) {
	batch := benchBatch(b)
	b.Run("jsonlite", func(b *testing.B) {
		b.SetBytes(int64(len(batch)))
		for b.Loop() {
			if !jsonValid(batch) {
				b.Fatal("invalid")
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.SetBytes(int64(len(batch)))
		for b.Loop() {
			if !json.Valid(batch) {
				b.Fatal("invalid")
			}
		}
	})
}

// The Telemetry API call sites as they were with encoding/json: the
// oracle of telemetryOracle.

// envelopeStd is envelope as json.Unmarshal filled it.
type envelopeStd struct {
	Time   string          `json:"time"`
	Type   string          `json:"type"`
	Record json.RawMessage `json:"record"`
}

// convertStd is what convert did with a batch, event by event: the
// envelope of each element (or "malformed"), and whether the whole body
// was a well-formed array.
func convertStd(body []byte) (evs []string, ok bool) {
	show := func(ev *envelopeStd) string { return fmt.Sprintf("%q %q %q", ev.Time, ev.Type, ev.Record) }
	if b := bytes.TrimSpace(body); len(b) > 0 && b[0] == '[' {
		var all []envelopeStd
		if json.Unmarshal(b, &all) == nil {
			for i := range all {
				evs = append(evs, show(&all[i]))
			}
			return evs, true
		}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('[') {
		return evs, false
	}
	for dec.More() {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return evs, false
		}
		var ev envelopeStd
		if json.Unmarshal(raw, &ev) != nil {
			evs = append(evs, fmt.Sprintf("malformed %q", raw))
			continue
		}
		evs = append(evs, show(&ev))
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim(']') {
		return evs, false
	}
	_, err := dec.Token()
	return evs, err == io.EOF
}

// convertLite is convertStd with what convert does now.
func convertLite(body []byte) (evs []string, ok bool) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 || body[0] != '[' {
		return nil, false
	}
	err := jsonArray(body, func(raw []byte) error {
		var ev envelope
		if ev.decode(raw) != nil {
			evs = append(evs, fmt.Sprintf("malformed %q", raw))
			return nil
		}
		evs = append(evs, fmt.Sprintf("%q %q %q", ev.Time, ev.Type, ev.Record))
		return nil
	})
	return evs, err == nil
}

// telemetryOracle: convert, the envelope and platform record decoders,
// the subscribe request and error body, and the conversion of JSON log
// lines and values to AnyValues give what their encoding/json versions
// gave, byte for byte.
func telemetryOracle(t *testing.T, in []byte) {
	t.Helper()
	gotEvs, gotOK := convertLite(in)
	wantEvs, wantOK := convertStd(in)
	// Where the old code went the whole-batch way, bytes.TrimSpace's
	// Unicode white space is fine; where it streamed, it was not: a body
	// with such white space around and a malformed event differs.
	if trimmed := bytes.TrimSpace(in); len(trimmed) == len(bytes.Trim(in, " \t\r\n")) || wantOK {
		if gotOK != wantOK || !reflect.DeepEqual(gotEvs, wantEvs) {
			t.Fatalf("convert(%q) = %v %q; encoding/json: %v %q", in, gotOK, gotEvs, wantOK, wantEvs)
		}
	}
	decoderOracle(t, in, (*platformRecord).decode)

	var e, eStd telemetryAPIError
	err := e.decode(in)
	stdErr := json.Unmarshal(in, &eStd)
	if (err == nil) != (stdErr == nil) || e != eStd {
		t.Fatalf("telemetryAPIError from %q: %+v, %v; json.Unmarshal: %+v, %v", in, e, err, eStd, stdErr)
	}

	var req subscribeRequest
	req.SchemaVersion = telemetrySchemaVersion
	req.Destination.Protocol = "HTTP"
	req.Destination.URI = string(in)
	if len(in) > 0 {
		req.Types = strings.Split(string(in), string(in[:1]))
	}
	req.Buffering.MaxItems, req.Buffering.MaxBytes, req.Buffering.TimeoutMs = len(in), -len(in), 1<<31
	want, _ := json.Marshal(&req)
	if got := req.appendJSON(nil); !bytes.Equal(got, want) {
		t.Fatalf("subscribe body %s; json.Marshal: %s", got, want)
	}

	if got, want := appendAnyJSON([]byte("pre"), in), appendAnyJSONStd([]byte("pre"), in); !bytes.Equal(got, want) {
		t.Fatalf("appendAnyJSON(%q) = %x; encoding/json version: %x", in, got, want)
	}
	if raw := bytes.TrimSpace(in); len(raw) > 0 && raw[0] == '{' && json.Valid(raw) {
		b, a, sev, sevText, reqID, ok := appendJSONLine([]byte("b"), []byte("a"), raw)
		b2, a2, sev2, sevText2, reqID2, ok2 := appendJSONLineStd([]byte("b"), []byte("a"), raw)
		if !bytes.Equal(b, b2) || !bytes.Equal(a, a2) || sev != sev2 || sevText != sevText2 || reqID != reqID2 || ok != ok2 {
			t.Fatalf("appendJSONLine(%q) = %x %x %v %q %q %v; encoding/json version: %x %x %v %q %q %v",
				raw, b, a, sev, sevText, reqID, ok, b2, a2, sev2, sevText2, reqID2, ok2)
		}
	}
}

func appendJSONLineStd(body, attrs, raw []byte) (b, a []byte, sev int32, sevText, reqID string, ok bool) {
	type field struct {
		key string
		val json.RawMessage
	}
	var fields []field
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return appendAnyString(body, string(raw)), attrs, 0, "", "", false
	}
	hasMsg := false
	for dec.More() {
		tok, err := dec.Token()
		k, isStr := tok.(string)
		var v json.RawMessage
		if err != nil || !isStr || dec.Decode(&v) != nil {
			return appendAnyString(body, string(raw)), attrs, 0, "", "", false
		}
		if k == "message" {
			hasMsg = true
		}
		fields = append(fields, field{k, v})
	}
	for _, f := range fields {
		var s string
		isStr := len(f.val) > 0 && f.val[0] == '"' && json.Unmarshal(f.val, &s) == nil
		switch {
		case f.key == "level" && isStr:
			sev, sevText = levelSeverity(s, true), s
			if hasMsg {
				continue
			}
		case f.key == "requestId" && isStr:
			reqID = s
			if hasMsg {
				continue
			}
		}
		if !hasMsg {
			continue
		}
		switch f.key {
		case "message":
			if isStr {
				body = appendAnyString(body, s)
			} else {
				body = appendAnyJSONStd(body, f.val)
			}
		case "timestamp":
			// The event's time is the record's time.
		case "errorType":
			attrs = appendKVJSONStd(attrs, "exception.type", f.val)
		case "errorMessage":
			attrs = appendKVJSONStd(attrs, "exception.message", f.val)
		case "stackTrace":
			var lines []string
			if json.Unmarshal(f.val, &lines) == nil {
				attrs = appendKVString(attrs, 6, "exception.stacktrace", strings.Join(lines, "\n"))
			} else {
				attrs = appendKVJSONStd(attrs, "exception.stacktrace", f.val)
			}
		default:
			attrs = appendKVJSONStd(attrs, f.key, f.val)
		}
	}
	if !hasMsg {
		body = appendAnyJSONStd(body, raw)
	}
	return body, attrs, sev, sevText, reqID, true
}

func appendKVJSONStd(b []byte, key string, raw []byte) []byte {
	b, kv := openLen(b, 6)
	b = appendString(b, 1, key)
	b, v := openLen(b, 2)
	b = appendAnyJSONStd(b, raw)
	b = closeLen(b, v)
	return closeLen(b, kv)
}

func appendAnyJSONStd(b, raw []byte) []byte {
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return appendAnyString(b, s)
		}
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	n := len(b)
	out, err := appendAnyTokenStd(b, dec, 0)
	if err == nil {
		if _, err = dec.Token(); err != io.EOF {
			err = errBadData
		} else {
			err = nil
		}
	}
	if err != nil {
		return appendAnyString(out[:n], string(raw))
	}
	return out
}

func appendAnyTokenStd(b []byte, dec *json.Decoder, depth int) ([]byte, error) {
	if depth > maxLogJSONDepth {
		return b, errBadData
	}
	tok, err := dec.Token()
	if err != nil {
		return b, err
	}
	switch v := tok.(type) {
	case string:
		return appendAnyString(b, v), nil
	case json.Number:
		if i, err := v.Int64(); err == nil {
			b = protowire.AppendTag(b, protowire.Number(anyInt), protowire.VarintType)
			return protowire.AppendVarint(b, uint64(i)), nil
		}
		f, err := v.Float64()
		if err != nil {
			return b, err
		}
		return appendDouble(b, anyDouble, f), nil
	case bool:
		b = protowire.AppendTag(b, protowire.Number(anyBool), protowire.VarintType)
		return protowire.AppendVarint(b, protowire.EncodeBool(v)), nil
	case nil:
		return b, nil
	case json.Delim:
		switch v {
		case '[':
			b, arr := openLen(b, anyArray)
			for dec.More() {
				var e int
				b, e = openLen(b, 1)
				if b, err = appendAnyTokenStd(b, dec, depth+1); err != nil {
					return b, err
				}
				b = closeLen(b, e)
			}
			if _, err := dec.Token(); err != nil {
				return b, err
			}
			return closeLen(b, arr), nil
		case '{':
			b, kvl := openLen(b, anyKVList)
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return b, err
				}
				k, _ := kt.(string)
				var kv, val int
				b, kv = openLen(b, 1)
				b = appendString(b, 1, k)
				b, val = openLen(b, 2)
				if b, err = appendAnyTokenStd(b, dec, depth+1); err != nil {
					return b, err
				}
				b = closeLen(b, val)
				b = closeLen(b, kv)
			}
			if _, err := dec.Token(); err != nil {
				return b, err
			}
			return closeLen(b, kvl), nil
		}
	}
	return b, errBadData
}
