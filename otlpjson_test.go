package main

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"otel-lambda-extension/internal/otlpsink"
)

var update = flag.Bool("update", false, "rewrite testdata/otlp (samples and golden files)")

var idKeys = map[string]bool{"traceId": true, "spanId": true, "parentSpanId": true, "trace_id": true, "span_id": true, "parent_span_id": true}

// convertIDs rewrites the string values of trace/span id keys of the JSON
// document js with conv, leaving every other byte as is. ok is false when
// some id could not be converted (escapes, conv refused) or js is not JSON
// to encoding/json: the caller then cannot use the result as an oracle.
func convertIDs(js []byte, conv func(string) (string, bool)) (out []byte, ok bool) {
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.UseNumber()
	type frame struct{ obj, wantKey bool }
	var stack []frame
	last, ok, idKey := 0, true, false
	for {
		off0 := dec.InputOffset()
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return js, false
		}
		off1 := int(dec.InputOffset())
		if d, isDelim := tok.(json.Delim); isDelim {
			switch d {
			case '{', '[':
				stack = append(stack, frame{obj: d == '{', wantKey: d == '{'})
				idKey = false
				continue
			default:
				stack = stack[:len(stack)-1]
			}
		} else if n := len(stack); n > 0 && stack[n-1].obj && stack[n-1].wantKey {
			stack[n-1].wantKey = false
			idKey = idKeys[tok.(string)]
			continue
		} else if s, isStr := tok.(string); isStr && idKey {
			raw := js[off0:off1]
			q := bytes.IndexByte(raw, '"')
			c, cok := conv(s)
			if bytes.IndexByte(raw[q+1:len(raw)-1], '\\') >= 0 || !cok {
				ok = false
			} else {
				out = append(out, js[last:int(off0)+q]...)
				out = append(out, '"')
				out = append(out, c...)
				out = append(out, '"')
				last = off1
			}
		}
		idKey = false
		if n := len(stack); n > 0 && stack[n-1].obj {
			stack[n-1].wantKey = true
		}
	}
	return append(out, js[last:]...), ok
}

func hexToB64(s string) (string, bool) {
	b, err := hex.DecodeString(s)
	return base64.StdEncoding.EncodeToString(b), err == nil
}

func b64ToHex(s string) (string, bool) {
	b, err := base64.StdEncoding.DecodeString(s)
	return hex.EncodeToString(b), err == nil
}

// protojsonOracle parses OTLP/JSON js with protojson (ids converted to
// base64); ok is false when the conversion was not possible.
func protojsonOracle(sig signal, js []byte) (m proto.Message, err error, ok bool) {
	conv, ok := convertIDs(js, hexToB64)
	m = newMsg(sig)
	return m, protojson.UnmarshalOptions{DiscardUnknown: true}.Unmarshal(conv, m), ok
}

// checkJSONOracle checks jsonToProto on js against protojson: what both
// accept must be the same message; jsonToProto may accept beyond protojson
// only a repeated field or oneof member (last wins), and reject beyond it
// only past its documented nesting limits; whatever jsonToProto accepts is
// valid protobuf, and its errors wrap errBadData. It returns the
// transcoding (nil on error). The table tests and FuzzJSONToProtoDiff share
// it.
func checkJSONOracle(t testing.TB, sig signal, js []byte) []byte {
	t.Helper()
	got, err := jsonToProto(sig, nil, js)
	if err != nil && !errors.Is(err, errBadData) {
		t.Fatalf("jsonToProto error %v does not wrap errBadData", err)
	}
	gotMsg := newMsg(sig)
	if err == nil {
		if uerr := proto.Unmarshal(got, gotMsg); uerr != nil {
			t.Fatalf("jsonToProto output does not parse: %v", uerr)
		}
	}
	want, perr, ok := protojsonOracle(sig, js)
	if !ok {
		return got // ids protojson cannot be given (escaped, not hex) or not JSON
	}
	switch {
	case err == nil && perr == nil:
		if !proto.Equal(gotMsg, want) {
			t.Fatalf("jsonToProto and protojson disagree:\ngot  %v\nwant %v", gotMsg, want)
		}
	case err == nil:
		if msg := perr.Error(); !strings.Contains(msg, "duplicate field") && !strings.Contains(msg, "is already set") {
			t.Fatalf("jsonToProto accepted what protojson rejects: %v", perr)
		}
	case perr == nil:
		if msg := err.Error(); !strings.Contains(msg, "nested deeper") && !strings.Contains(msg, "nested too deep") {
			t.Fatalf("jsonToProto rejected what protojson accepts: %v", err)
		}
	}
	return got
}

// sampleJSON is the OTLP/JSON form of m as protojson writes it, with hex ids
// and enum numbers, indented.
func sampleJSON(t testing.TB, m proto.Message) []byte {
	t.Helper()
	js, err := protojson.MarshalOptions{UseEnumNumbers: true}.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	js, ok := convertIDs(js, b64ToHex)
	if !ok {
		t.Fatal("cannot convert ids to hex")
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, js, "", "  "); err != nil {
		t.Fatal(err)
	}
	buf.WriteByte('\n')
	return buf.Bytes()
}

// TestSampleFiles keeps testdata/otlp/<signal>.{binpb,json} (the fuzz seeds)
// in step with the sample requests and checks jsonToProto on the JSON form.
func TestSampleFiles(t *testing.T) {
	for _, s := range samples(t) {
		pbPath := filepath.Join("testdata", "otlp", s.sig.String()+".binpb")
		jsPath := filepath.Join("testdata", "otlp", s.sig.String()+".json")
		if *update {
			if err := os.MkdirAll(filepath.Dir(pbPath), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(pbPath, mustMarshal(t, s.msg), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(jsPath, sampleJSON(t, s.msg), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		pb, err := os.ReadFile(pbPath)
		if err != nil {
			t.Fatal(err)
		}
		js, err := os.ReadFile(jsPath)
		if err != nil {
			t.Fatal(err)
		}
		m := newMsg(s.sig)
		if err := proto.Unmarshal(pb, m); err != nil || !proto.Equal(m, s.msg) {
			t.Fatalf("%s is stale (err %v): run go test -run TestSampleFiles -update", pbPath, err)
		}
		got := checkJSONOracle(t, s.sig, js)
		m = newMsg(s.sig)
		if err := proto.Unmarshal(got, m); err != nil || !proto.Equal(m, s.msg) {
			t.Fatalf("jsonToProto(%s) differs from the sample (err %v)", jsPath, err)
		}
		if n, err := validateRequest(s.sig, got); err != nil || n != s.items {
			t.Errorf("validateRequest(jsonToProto(%s)) = %d, %v; want %d, nil", jsPath, n, err, s.items)
		}
	}
}

// TestJSONGolden transcodes testdata/otlp/golden/<name>.<signal>.json and
// compares with <name>.<signal>.binpb (rewritten with -update), and checks
// each against protojson.
func TestJSONGolden(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "otlp", "golden", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden inputs (%v)", err)
	}
	for _, in := range files {
		t.Run(filepath.Base(in), func(t *testing.T) {
			base := strings.TrimSuffix(in, ".json")
			var sig signal
			switch filepath.Ext(base) {
			case ".traces":
				sig = sigTraces
			case ".metrics":
				sig = sigMetrics
			case ".logs":
				sig = sigLogs
			default:
				t.Fatalf("golden input %s is not named <name>.<signal>.json", in)
			}
			js, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			got, err := jsonToProto(sig, nil, js)
			if err != nil {
				t.Fatal(err)
			}
			checkJSONOracle(t, sig, js)
			if _, err := validateRequest(sig, got); err != nil {
				t.Errorf("validateRequest: %v", err)
			}
			if *update {
				if err := os.WriteFile(base+".binpb", got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(base + ".binpb")
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("jsonToProto(%s) differs from %s.binpb (run with -update if intended)", in, base)
			}
		})
	}
}

// jsonCase is one OTLP/JSON input of the table tests, and for an input
// jsonToProto rejects, a part of the error it gives.
type jsonCase struct {
	name string
	sig  signal
	js   string
	want string
}

// jsonValidCases are inputs jsonToProto accepts, each checked against
// protojson.
func jsonValidCases() []jsonCase {
	return []jsonCase{
		{"empty", sigTraces, `{}`, ""},
		{"empty list", sigTraces, ` {"resourceSpans": [] } `, ""},
		{"null everywhere", sigTraces, `{"resourceSpans":[{"resource":null,"scopeSpans":[{"scope":null,"spans":[{"traceId":null,"name":null,"kind":null,"attributes":null,"status":null}]}]}]}`, ""},
		{"snake case", sigTraces, `{"resource_spans":[{"scope_spans":[{"spans":[{"trace_id":"0102030405060708090a0b0c0d0e0f10","span_id":"0102030405060708","parent_span_id":"AABBCCDDEEFF0011","start_time_unix_nano":"5","end_time_unix_nano":6,"dropped_attributes_count":1,"trace_state":"x=y"}]}]}]}`, ""},
		{"enum names", sigTraces, `{"resourceSpans":[{"scopeSpans":[{"spans":[{"kind":"SPAN_KIND_SERVER","status":{"code":"STATUS_CODE_ERROR"}},{"kind":"SPAN_KIND_UNSPECIFIED"},{"kind":"NOT_A_KIND"},{"kind":-1}]}]}]}`, ""},
		{"ints as strings and exponents", sigMetrics, `{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"sum":{"aggregationTemporality":"AGGREGATION_TEMPORALITY_DELTA","isMonotonic":true,"dataPoints":[{"asInt":"-9223372036854775808","timeUnixNano":"18446744073709551615","flags":"1"},{"asInt":1e3},{"asInt":"1.50e1","startTimeUnixNano":10e-1},{"asInt":-0}]}}]}]}]}`, ""},
		{"doubles", sigMetrics, `{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"gauge":{"dataPoints":[{"asDouble":"NaN"},{"asDouble":"Infinity"},{"asDouble":"-Infinity"},{"asDouble":"1.5"},{"asDouble":-0},{"asDouble":0},{"asDouble":1e-320},{"asDouble":5E+2}]}}]}]}]}`, ""},
		{"histogram", sigMetrics, `{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"histogram":{"aggregationTemporality":2,"dataPoints":[{"count":"3","sum":0,"bucketCounts":["1",2,"0"],"explicitBounds":[1,"2.5"],"min":0,"max":-1.5,"exemplars":[{"asInt":"4","traceId":"0102030405060708090A0B0C0D0E0F10","spanId":"0102030405060708","filteredAttributes":[{"key":"a","value":{}}]}]},{"bucketCounts":[],"explicitBounds":[]}]}}]}]}]}`, ""},
		{"exp histogram and summary", sigMetrics, `{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"exponentialHistogram":{"dataPoints":[{"scale":-4,"zeroCount":"2","positive":{"offset":-3,"bucketCounts":["1","18446744073709551615"]},"negative":{},"zeroThreshold":1e-9}]},"metadata":[{"key":"m","value":{"boolValue":false}}]},{"summary":{"dataPoints":[{"count":"2","sum":3.5,"quantileValues":[{"quantile":0.5,"value":1},{}]}]}}]}]}]}`, ""},
		{"every any value", sigLogs, `{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{"stringValue":""}},{"body":{"boolValue":false}},{"body":{"intValue":"0"}},{"body":{"doubleValue":0}},{"body":{"bytesValue":""}},{"body":{"bytesValue":"AQID"}},{"body":{"bytesValue":"-_8"}},{"body":{"bytesValue":"AQ=="}},{"body":{"arrayValue":{}}},{"body":{"kvlistValue":{"values":[{"key":"k"}]}}},{"body":{}},{"body":{"stringValueStrindex":3}},{"severityNumber":"SEVERITY_NUMBER_INFO","severityText":"INFO","eventName":"e","traceId":"","spanId":"","flags":1,"observedTimeUnixNano":"7"}]}]}]}`, ""},
		{"escapes", sigLogs, `{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{"stringValue":"a\"b\\c\/d\b\f\n\r\t\u00e9\ud83d\ude00\u0000"}},{"body":{"string\u0056alue":"escaped key"}}]}]}]}`, ""},
		{"unknown fields", sigLogs, `{"resourceLogs":[{"unknown":{"a":[1,2,{"b":null}],"c":"\u00e9"},"scopeLogs":[{"logRecords":[{"newField":true,"body":{"stringValue":"x","future":[]}}]}]}],"other":1}`, ""},
		{"resource and entity refs", sigLogs, `{"resourceLogs":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"svc"}}],"droppedAttributesCount":2,"entityRefs":[{"schemaUrl":"u","type":"service","idKeys":["service.name"],"descriptionKeys":["a","b"]}]},"schemaUrl":"s","scopeLogs":[{"scope":{"name":"n","version":"v","attributes":[],"droppedAttributesCount":1}}]}]}`, ""},
		{"links and events", sigTraces, `{"resourceSpans":[{"scopeSpans":[{"spans":[{"events":[{"timeUnixNano":"1","name":"e","attributes":[{"key":"k","value":{"intValue":5}}],"droppedAttributesCount":1}],"droppedEventsCount":2,"links":[{"traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"0102030405060708","traceState":"t","attributes":[],"droppedAttributesCount":3,"flags":256}],"droppedLinksCount":4,"flags":4294967295}]}]}]}`, ""},
		{"duplicate oneof member", sigLogs, `{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{"stringValue":"a","stringValue":"b"}}]}]}]}`, ""},
		{"attributes written every way", sigTraces, `{"resourceSpans":[{"resource":{"attributes":[{"key":"\u0041b","value":{"intValue":"1"}},{"key":"","value":{}},{"key":"n","value":null},{"key":"m","value":{"stringValue":null,"intValue":"1"}},{"key":"u","value":{"unknown":[1],"boolValue":true}},{"key":"s" , "value" : { "doubleValue" : 1.5 } },{"value":{"stringValue":"v"},"key":"first"},{"key":"k","value":{"kvlistValue":{"values":[{"key":"in","value":{"arrayValue":{"values":[{"stringValue":"deep"},{"kvlistValue":{}}]}}}]}}},{"key":"snake","value":{"string_value":"y"}},{"key":"k2","value":{"bytesValue":"AQID"},"key_strindex":3},{"key":"e","value":{"stringValue":""}},{}]}}]}`, ""},
		{"attributes with repeated keys", sigTraces, `{"resourceSpans":[{"resource":{"attributes":[{"key":"a","value":{"stringValue":"x"},"key":"b"},{"key":"two","value":{"stringValue":"x","boolValue":false}},{"key":"v","value":{"intValue":"1"},"value":{"stringValue":"2"}}]}}]}`, ""},
		{"plain integers at the limits", sigMetrics, `{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"gauge":{"dataPoints":[{"asInt":"9223372036854775807","timeUnixNano":18446744073709551615,"startTimeUnixNano":"0","flags":4294967295},{"asInt":9223372036854775807,"timeUnixNano":"9999999999999999999"},{"asDouble":9007199254740993},{"asDouble":"9007199254740992"},{"asDouble":12345678901234567890123},{"asInt":0}]}},{"exponentialHistogram":{"dataPoints":[{"scale":"2147483647","positive":{"offset":2147483647,"bucketCounts":[0,"18446744073709551615",1e1]},"negative":{"offset":"-2147483648"}}]}}]}]}]}`, ""},
		{"keys in any order", sigTraces, `{"resourceSpans":[{"scopeSpans":[{"spans":[{"flags":1,"name":"n","kind":2,"traceId":"0102030405060708090a0b0c0d0e0f10","status":{"code":1,"message":"m"},"span_id":"0102030405060708","attributes":[{"value":{"intValue":"1"},"key":"k"}],"startTimeUnixNano":"1"}],"scope":{"version":"v","name":"s"}}],"resource":{"droppedAttributesCount":1,"attributes":[]}}]}`, ""},
		{"strings of every length", sigLogs, `{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{"stringValue":"a"}},{"body":{"stringValue":"abcdefg"}},{"body":{"stringValue":"abcdefgh"}},{"body":{"stringValue":"abcdefghi"}},{"body":{"stringValue":"abcdefghijklmnop\"q"}},{"body":{"stringValue":"héllo wörld, ünïcödé 世界 and then plain ASCII for a while"}},{"body":{"stringValue":"\u4e16\u754c and 世界 after an escape"}},{"eventName":"0123456789abcdef0123456789abcdef","severityText":"~~~~~~~~\u007f\u0080"}]}]}]}`, ""},
	}
}

func TestJSONToProtoValid(t *testing.T) {
	for _, tt := range jsonValidCases() {
		t.Run(tt.name, func(t *testing.T) {
			got, err := jsonToProto(tt.sig, []byte("prefix"), []byte(tt.js))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(got, []byte("prefix")) {
				t.Fatal("dst prefix lost")
			}
			checkJSONOracle(t, tt.sig, []byte(tt.js))
		})
	}
}

// jsonErrorCases are inputs jsonToProto rejects, with a part of the error.
func jsonErrorCases() []jsonCase {
	deep := strings.Repeat(`{"arrayValue":{"values":[`, maxAnyDepth) + `{}` + strings.Repeat(`]}}`, maxAnyDepth)
	return []jsonCase{
		{"empty input", sigTraces, ``, "bad data: json: at byte 0: got end of input, want '{'"},
		{"top-level null", sigTraces, `null`, "want '{'"},
		{"trailing garbage", sigTraces, `{} x`, "at byte 3: unexpected 'x' after the request"},
		{"bad hex", sigTraces, `{"resourceSpans":[{"scopeSpans":[{"spans":[{},{"traceId":"zz"}]}]}]}`,
			`bad data: json: resourceSpans[0].scopeSpans[0].spans[1].traceId: at byte 57: "zz" is not a hex trace id`},
		{"odd hex", sigTraces, `{"resourceSpans":[{"scopeSpans":[{"spans":[{"spanId":"abc"}]}]}]}`, `spans[0].spanId: at byte 53: "abc" is not a hex span id`},
		{"bad base64", sigLogs, `{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{"bytesValue":"***"}}]}]}]}`, "logRecords[0].body.bytesValue: at byte 68: invalid base64"},
		{"int out of range", sigTraces, `{"resourceSpans":[{"scopeSpans":[{"spans":[{"droppedAttributesCount":4294967296}]}]}]}`, `droppedAttributesCount: at byte 69: "4294967296" is not a valid uint32`},
		{"negative uint", sigTraces, `{"resourceSpans":[{"scopeSpans":[{"spans":[{"startTimeUnixNano":"-1"}]}]}]}`, `"-1" is not a valid fixed64`},
		{"fraction for int", sigLogs, `{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{"intValue":1.5}}]}]}]}`, `body.intValue: at byte 66: "1.5" is not a valid int64`},
		{"spaces in numeric string", sigLogs, `{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{"intValue":" 1"}}]}]}]}`, `" 1" is not a valid int64`},
		{"bool as string", sigLogs, `{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{"boolValue":"true"}}]}]}]}`, `got '"', want true or false`},
		{"bad double", sigLogs, `{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{"doubleValue":"nan"}}]}]}]}`, `"nan" is not a valid double`},
		{"double overflow", sigLogs, `{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{"doubleValue":1e999}}]}]}]}`, `"1e999" is not a valid double`},
		{"null in list", sigTraces, `{"resourceSpans":[null]}`, "resourceSpans[0]: at byte 18: null is not a valid message"},
		{"string for message", sigTraces, `{"resourceSpans":["x"]}`, `got '"', want '{'`},
		{"lone surrogate", sigLogs, `{"resourceLogs":[{"schemaUrl":"\ud800"}]}`, "resourceLogs[0].schemaUrl: at byte 38: invalid surrogate escape in string"},
		{"invalid utf8", sigLogs, "{\"resourceLogs\":[{\"schemaUrl\":\"\xff\"}]}", "invalid UTF-8 in string"},
		{"control character", sigLogs, "{\"resourceLogs\":[{\"schemaUrl\":\"a\nb\"}]}", "control character"},
		{"missing comma", sigTraces, `{"resourceSpans":[{} {}]}`, "got '{', want ',' or ']'"},
		{"trailing comma", sigTraces, `{"resourceSpans":[{},]}`, "want '{'"},
		{"leading zero", sigTraces, `{"resourceSpans":[{"scopeSpans":[{"spans":[{"kind":01}]}]}]}`, "want a number"},
		{"bad literal in unknown", sigTraces, `{"x":tru}`, `"x": at byte 5: got 't', want a value`},
		{"unterminated", sigTraces, `{"resourceSpans":[{"schemaUrl":"abc`, "unterminated string"},
		{"int64 overflow in plain digits", sigLogs, `{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{"intValue":"9223372036854775808"}}]}]}]}`, `body.intValue: at byte 66: "9223372036854775808" is not a valid int64`},
		{"enum overflow", sigTraces, `{"resourceSpans":[{"scopeSpans":[{"spans":[{"kind":2147483648}]}]}]}`, `spans[0].kind: at byte 51: "2147483648" is not a valid enum`},
		{"uint32 overflow in a string", sigTraces, `{"resourceSpans":[{"scopeSpans":[{"spans":[{"flags":"4294967296"}]}]}]}`, `spans[0].flags: at byte 52: "4294967296" is not a valid fixed32`},
		{"leading zero in a string", sigTraces, `{"resourceSpans":[{"scopeSpans":[{"spans":[{"startTimeUnixNano":"007"}]}]}]}`, `"007" is not a valid fixed64`},
		{"digits then junk", sigTraces, `{"resourceSpans":[{"scopeSpans":[{"spans":[{"startTimeUnixNano":12ab}]}]}]}`, `want a number`},
		{"control character after 8 bytes", sigLogs, "{\"resourceLogs\":[{\"schemaUrl\":\"abcdefghijk\tl\"}]}", "at byte 42: control character '\\t' in string"},
		{"invalid utf8 after ascii", sigLogs, "{\"resourceLogs\":[{\"schemaUrl\":\"abcdefghijk\xc3(mnopqrstuvwxyz\"}]}", "resourceLogs[0].schemaUrl: at byte 59: invalid UTF-8 in string"},
		{"unterminated escape", sigLogs, `{"resourceLogs":[{"schemaUrl":"abcdefgh\`, "unterminated string"},
		{"error in a later list element", sigTraces, `{"resourceSpans":[{},{"scopeSpans":[{"spans":[{},{},{"attributes":[{"key":"a","value":{"arrayValue":{"values":[{},{"intValue":"x"}]}}}]}]}]}]}`, `resourceSpans[1].scopeSpans[0].spans[2].attributes[0].value.arrayValue.values[1].intValue: at byte 126: "x" is not a valid int64`},
		{"error in an unknown field", sigTraces, `{"resourceSpans":[{"extra":{"a":[1,"\x"]}}]}`, `resourceSpans[0]."extra": at byte 39: bad escape \x in string`},
		{"key not a string", sigTraces, `{"resourceSpans":[{"resource":{"attributes":[{"key":1}]}}]}`, `resourceSpans[0].resource.attributes[0].key: at byte 52: got '1', want a string`},
		{"bad key", sigTraces, `{"resourceSpans":[{"resource":{"attributes":[{"key":"\ud800","value":{}}]}}]}`, `resourceSpans[0].resource.attributes[0].key: at byte 60: invalid surrogate escape in string`},
		{"bad attribute value", sigTraces, `{"resourceSpans":[{"resource":{"attributes":[{"key":"a","value":{"stringValue":"x"}},{"key":"a","value":{"intValue":"x"}}]}}]}`, `resourceSpans[0].resource.attributes[1].value.intValue: at byte 116: "x" is not a valid int64`},
		{"bad after attribute value", sigTraces, `{"resourceSpans":[{"resource":{"attributes":[{"key":"a","value":{"stringValue":"x"}x]}}]}`, `resourceSpans[0].resource.attributes[0]: at byte 83: got 'x', want ',' or '}'`},
		{"bad after attribute", sigTraces, `{"resourceSpans":[{"resource":{"attributes":[{"key":"a","value":{"stringValue":"x"}}x]}}]}`, `resourceSpans[0].resource.attributes[0]: at byte 84: got 'x', want ',' or ']'`},
		{"kvlist too deep", sigLogs, `{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":` + strings.Repeat(`{"kvlistValue":{"values":[{"key":"k","value":`, maxAnyDepth) + `{}` + strings.Repeat(`}]}}`, maxAnyDepth) + `}]}]}]}`, "AnyValue nested deeper than 32 levels"},
		{"too deep", sigLogs, `{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":` + deep + `}]}]}]}`, "AnyValue nested deeper than 32 levels"},
		{"unknown too deep", sigTraces, `{"x":` + strings.Repeat("[", maxJSONDepth+2) + strings.Repeat("]", maxJSONDepth+2) + `}`, "nested deeper than 10000 levels"},
	}
}

func TestJSONToProtoErrors(t *testing.T) {
	for _, tt := range jsonErrorCases() {
		t.Run(tt.name, func(t *testing.T) {
			got, err := jsonToProto(tt.sig, []byte("prefix"), []byte(tt.js))
			if err == nil || !errors.Is(err, errBadData) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v; want an errBadData containing %q", err, tt.want)
			}
			if string(got) != "prefix" {
				t.Errorf("got dst %q; want it unchanged", got)
			}
		})
	}
}

func TestJSONInt(t *testing.T) {
	tests := []struct {
		lit string
		neg bool
		mag uint64
		ok  bool
	}{
		{"0", false, 0, true}, {"-0", false, 0, true}, {"0.000e99999999999", false, 0, true},
		{"12", false, 12, true}, {"-12", true, 12, true}, {"1.5e1", false, 15, true}, {"100e-2", false, 1, true},
		{"18446744073709551615", false, math.MaxUint64, true}, {"18446744073709551616", false, 0, false},
		{"1e19", false, 1e19, true}, {"1e20", false, 0, false}, {"1.5", false, 0, false}, {"15e-1", false, 0, false},
		{"01", false, 0, false}, {"1.", false, 0, false}, {"", false, 0, false}, {"1e2147483648", false, 0, false},
	}
	for _, tt := range tests {
		neg, mag, ok := jsonInt([]byte(tt.lit))
		if neg != tt.neg || mag != tt.mag || ok != tt.ok {
			t.Errorf("jsonInt(%q) = %v, %d, %v; want %v, %d, %v", tt.lit, neg, mag, ok, tt.neg, tt.mag, tt.ok)
		}
	}
}

func TestEnumNames(t *testing.T) {
	for n, name := range enumNames[eSpanKind] {
		if got := tracepb.Span_SpanKind(n).String(); got != name {
			t.Errorf("span kind %d: got %s; want %s", n, name, got)
		}
	}
	checks := []struct {
		e     msgID
		names map[int32]string
	}{
		{eSpanKind, tracepb.Span_SpanKind_name},
		{eStatusCode, tracepb.Status_StatusCode_name},
		{eTemporality, metricspbTemporalityNames()},
		{eSeverity, logspbSeverityNames()},
	}
	for _, c := range checks {
		if len(c.names) != len(enumNames[c.e]) {
			t.Errorf("enum %d: %d names; want %d", c.e, len(enumNames[c.e]), len(c.names))
		}
		for n, name := range enumNames[c.e] {
			if c.names[int32(n)] != name {
				t.Errorf("enum %d value %d: got %s; want %s", c.e, n, name, c.names[int32(n)])
			}
		}
	}
}

func TestProtoToJSON(t *testing.T) {
	for _, s := range samples(t) {
		pb := mustMarshal(t, s.msg)
		js, err := protoToJSON(s.sig, []byte("prefix"), pb)
		if err != nil {
			t.Fatalf("%v: %v", s.sig, err)
		}
		if !bytes.HasPrefix(js, []byte("prefix")) {
			t.Fatal("dst prefix lost")
		}
		js = js[6:]
		if !json.Valid(js) {
			t.Fatalf("%v: invalid JSON: %s", s.sig, js)
		}
		m, perr, ok := protojsonOracle(s.sig, js)
		if !ok || perr != nil || !proto.Equal(m, s.msg) {
			t.Fatalf("%v: protojson reads %v (err %v, ids ok %v); want %v", s.sig, m, perr, ok, s.msg)
		}
		// And our own reader agrees.
		back, err := jsonToProto(s.sig, nil, js)
		m = newMsg(s.sig)
		if err != nil || proto.Unmarshal(back, m) != nil || !proto.Equal(m, s.msg) {
			t.Fatalf("%v: jsonToProto(protoToJSON) differs (err %v)", s.sig, err)
		}
	}
	// The OTLP/JSON conventions, verbatim.
	js, err := protoToJSON(sigTraces, nil, mustMarshal(t, sampleTraces(5)))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"traceId":"0011223344556677","spanId"`[:10], `"kind":2`, `"startTimeUnixNano":"1700000000000002000"`,
		`"code":2`, `"intValue":"200"`, `"doubleValue":"NaN"`, `"doubleValue":"-Infinity"`, `"bytesValue":"AAEC/v8="`,
		`"traceId":"` + hex.EncodeToString(id(16, 1)) + `"`, `"stringValue":"héllo, 世界 \"quoted\"\n\t\\"`, `"flags":769`} {
		if !bytes.Contains(js, []byte(want)) {
			t.Errorf("protoToJSON output lacks %s", want)
		}
	}
}

func TestProtoToJSONUnusualEncodings(t *testing.T) {
	kvStr := func(k, v string) []byte { return rec(1, rec(1, []byte(k)), rec(2, rec(1, []byte(v)))) }
	tests := []struct {
		name string
		sig  signal
		pb   []byte
	}{
		// attributes interleaved with other fields, name given twice, resource in two records
		{"interleaved", sigTraces, rec(1, rec(1, kvStr("a", "1")), rec(3, []byte("s")), rec(1, kvStr("b", "2")),
			rec(2, rec(2, rec(9, rec(1, []byte("x"))), rec(5, []byte("n1")), rec(9, rec(1, []byte("y"))), rec(5, []byte("n2")))))},
		// oneof: array, then string, then array again: proto keeps the last array only
		{"oneof switch", sigLogs, rec(1, rec(2, rec(2, rec(5, rec(5, rec(1, rec(1, []byte("a")))), rec(1, []byte("s")), rec(5, rec(1, rec(1, []byte("b")))), rec(5, rec(1, []byte{0x10, 1}))))))},
		// packed and unpacked bucket counts mixed, zero values written explicitly
		{"packed mix", sigMetrics, rec(1, rec(2, rec(2, rec(9, rec(1, []byte{0x31, 1, 0, 0, 0, 0, 0, 0, 0}, rec(6, id(16, 0)), []byte{0x50, 0}, rec(7, id(8, 0)), []byte{0x31, 2, 0, 0, 0, 0, 0, 0, 0})))))},
		{"unknown fields", sigTraces, rec(1, []byte{0xa8, 0x01, 5}, rec(2, rec(2, []byte{0xbb, 0x01, 0x08, 1, 0xbc, 0x01}, rec(5, []byte("n")))))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := newMsg(tt.sig)
			if err := (proto.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(tt.pb, want); err != nil {
				t.Fatal(err)
			}
			js, err := protoToJSON(tt.sig, nil, tt.pb)
			if err != nil {
				t.Fatal(err)
			}
			got, perr, ok := protojsonOracle(tt.sig, js)
			if !ok || perr != nil || !proto.Equal(got, want) {
				t.Fatalf("protojson reads %v (err %v) from %s; want %v", got, perr, js, want)
			}
		})
	}
	if _, err := protoToJSON(sigTraces, nil, []byte{0x0a, 5}); !errors.Is(err, errBadData) {
		t.Errorf("protoToJSON(truncated) = %v; want errBadData", err)
	}
	if _, err := protoToJSON(sigTraces, nil, []byte{0x08, 1}); !errors.Is(err, errBadData) {
		t.Errorf("protoToJSON(wrong wire type) = %v; want errBadData", err)
	}
}

// traces512 returns the 512-span benchmark request, protobuf and JSON.
func traces512(b testing.TB) (pb, js []byte) {
	pb = mustMarshal(b, sampleTraces(512))
	js, err := protoToJSON(sigTraces, nil, pb)
	if err != nil {
		b.Fatal(err)
	}
	return pb, js
}

func BenchmarkJSONToProto(b *testing.B) {
	_, js := traces512(b)
	b.SetBytes(int64(len(js)))
	b.ReportAllocs()
	var dst []byte
	for b.Loop() {
		var err error
		if dst, err = jsonToProto(sigTraces, dst[:0], js); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkJSONDecoderToken is the alternative to our scanner: only reading
// the tokens of the same document with encoding/json's Decoder.Token, not
// even transcoding them.
func BenchmarkJSONDecoderToken(b *testing.B) {
	_, js := traces512(b)
	b.SetBytes(int64(len(js)))
	b.ReportAllocs()
	for b.Loop() {
		dec := json.NewDecoder(bytes.NewReader(js))
		dec.UseNumber()
		for {
			if _, err := dec.Token(); err != nil {
				break
			}
		}
	}
}

func BenchmarkProtoToJSON(b *testing.B) {
	pb, _ := traces512(b)
	b.SetBytes(int64(len(pb)))
	b.ReportAllocs()
	var dst []byte
	for b.Loop() {
		var err error
		if dst, err = protoToJSON(sigTraces, dst[:0], pb); err != nil {
			b.Fatal(err)
		}
	}
}

func metricspbTemporalityNames() map[int32]string { return metricspb.AggregationTemporality_name }
func logspbSeverityNames() map[int32]string       { return logspb.SeverityNumber_name }

// BenchmarkJSONToProtoSorted transcodes the 512-span request as
// tools/otlpload sends it (otlpsink.MarshalJSON: protojson re-encoded by
// encoding/json, so keys in alphabetical order, not the schema's).
func BenchmarkJSONToProtoSorted(b *testing.B) {
	js, err := otlpsink.MarshalJSON(sampleTraces(512))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(js)))
	b.ReportAllocs()
	var dst []byte
	for b.Loop() {
		if dst, err = jsonToProto(sigTraces, dst[:0], js); err != nil {
			b.Fatal(err)
		}
	}
}
