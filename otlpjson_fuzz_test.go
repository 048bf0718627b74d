// otlpjson_fuzz_test.go holds the differential tests of jsonToProto: against
// the first transcoder (otlpjson_ref_test.go), which it must match byte for
// byte and error for error, and against protojson.Unmarshal into the
// generated OTLP types, which it must match in what it accepts and in the
// message it builds, but for its documented differences.
package main

import (
	"bytes"
	"testing"

	"otel-lambda-extension/internal/otlpsink"
)

// addJSONCaseSeeds adds the table tests' inputs and the sample requests as
// protojson writes them (random white space, field declaration order).
func addJSONCaseSeeds(f *testing.F) {
	for _, c := range append(jsonValidCases(), jsonErrorCases()...) {
		f.Add(uint8(c.sig), []byte(c.js))
	}
	for _, s := range samples(f) {
		if js, err := otlpsink.MarshalJSON(s.msg); err == nil {
			f.Add(uint8(s.sig), js)
		}
	}
	js, err := otlpsink.MarshalJSON(sampleTraces(3))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(uint8(sigTraces), js)
}

// checkJSONRef checks that jsonToProto and refJSONToProto give the same
// bytes (after the same prefix) and the same error for js.
func checkJSONRef(t *testing.T, sig signal, js []byte) {
	t.Helper()
	got, err := jsonToProto(sig, []byte("prefix"), js)
	want, werr := refJSONToProto(sig, []byte("prefix"), js)
	if (err == nil) != (werr == nil) || err != nil && err.Error() != werr.Error() {
		t.Fatalf("jsonToProto error %v; the first transcoder's %v", err, werr)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("jsonToProto wrote\n%x\nthe first transcoder\n%x", got, want)
	}
}

// TestJSONToProtoRef runs the table tests' inputs through checkJSONRef.
func TestJSONToProtoRef(t *testing.T) {
	for _, c := range append(jsonValidCases(), jsonErrorCases()...) {
		t.Run(c.name, func(t *testing.T) { checkJSONRef(t, c.sig, []byte(c.js)) })
	}
	_, js := traces512(t)
	checkJSONRef(t, sigTraces, js)
}

// FuzzJSONToProtoRef: the fast transcoder writes the same bytes and gives
// the same errors (path, offset, message) as the first one, for any input.
func FuzzJSONToProtoRef(f *testing.F) {
	addJSONSeeds(f)
	addJSONCaseSeeds(f)
	f.Fuzz(func(t *testing.T, s uint8, js []byte) {
		checkJSONRef(t, signal(s%uint8(numSignals)), js)
	})
}

// FuzzJSONToProtoDiff: protojson.Unmarshal (DiscardUnknown, ids converted
// from hex to base64 for it) into the generated types is the oracle. When
// both accept, the messages are proto.Equal; when one rejects, so does the
// other, except for jsonToProto's documented differences: it takes
// duplicate keys and several members of a oneof (the last wins, as on the
// wire), and it has nesting limits protojson does not.
func FuzzJSONToProtoDiff(f *testing.F) {
	addJSONSeeds(f)
	addJSONCaseSeeds(f)
	f.Fuzz(func(t *testing.T, s uint8, js []byte) {
		checkJSONOracle(t, signal(s%uint8(numSignals)), js)
	})
}
