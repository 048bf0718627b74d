package main

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// Fuzz targets for everything that parses untrusted OTLP. Seeds: the sample
// requests of otlp_test.go and the files of testdata/otlp.

// addProtoSeeds adds the binary sample requests, one per signal.
func addProtoSeeds(f *testing.F) {
	for _, s := range samples(f) {
		f.Add(uint8(s.sig), mustMarshal(f, s.msg))
	}
	for sig := signal(0); sig < numSignals; sig++ {
		if b, err := os.ReadFile(filepath.Join("testdata", "otlp", sig.String()+".binpb")); err == nil {
			f.Add(uint8(sig), b)
		}
	}
	f.Add(uint8(sigTraces), []byte{0x0a, 0x02, 0x9b, 0x01})
}

// countItems counts the items of a parsed request as validateRequest does.
func countItems(m proto.Message) int {
	n := 0
	switch m := m.(type) {
	case *tracepb.TracesData:
		for _, r := range m.ResourceSpans {
			for _, s := range r.ScopeSpans {
				n += len(s.Spans)
			}
		}
	case *metricspb.MetricsData:
		for _, r := range m.ResourceMetrics {
			for _, s := range r.ScopeMetrics {
				for _, mt := range s.Metrics {
					n += len(mt.GetGauge().GetDataPoints()) + len(mt.GetSum().GetDataPoints()) +
						len(mt.GetHistogram().GetDataPoints()) + len(mt.GetExponentialHistogram().GetDataPoints()) +
						len(mt.GetSummary().GetDataPoints())
				}
			}
		}
	case *logspb.LogsData:
		for _, r := range m.ResourceLogs {
			for _, s := range r.ScopeLogs {
				n += len(s.LogRecords)
			}
		}
	}
	return n
}

// FuzzValidate: validateRequest never panics, and accepts exactly what
// proto.Unmarshal accepts, except for its documented extra strictness
// (wire type of known fields, id lengths, AnyValue depth).
func FuzzValidate(f *testing.F) {
	addProtoSeeds(f)
	f.Fuzz(func(t *testing.T, s uint8, b []byte) {
		sig := signal(s % uint8(numSignals))
		n, err := validateRequest(sig, b)
		m := newMsg(sig)
		perr := proto.Unmarshal(b, m)
		switch {
		case err == nil && perr != nil:
			t.Fatalf("validateRequest accepted what proto.Unmarshal rejects: %v", perr)
		case err != nil && perr == nil:
			var we *wireError
			if !errors.As(err, &we) || !errors.Is(err, errBadData) {
				t.Fatalf("error %v is not a *wireError wrapping errBadData", err)
			}
			switch we.code {
			case codeWireType, codeIDLen, codeDepth:
			default:
				t.Fatalf("validateRequest rejected what proto.Unmarshal accepts: %v", err)
			}
		case err == nil:
			// Oneof members replacing each other make proto drop items that
			// validateRequest counted; the canonical encoding has none.
			if want := countItems(m); n < want {
				t.Fatalf("validateRequest counted %d items; proto has %d", n, want)
			}
			c := mustMarshal(t, m)
			n2, err := validateRequest(sig, c)
			if err != nil || n2 != countItems(m) {
				t.Fatalf("validateRequest(re-marshalled) = %d, %v; want %d, nil", n2, err, countItems(m))
			}
			// What validates converts to OTLP/JSON that protojson reads as
			// proto.Unmarshal reads the protobuf (unknown fields aside).
			js, err := protoToJSON(sig, nil, b)
			if err != nil {
				t.Fatalf("protoToJSON of a valid request: %v", err)
			}
			want := newMsg(sig)
			if err := (proto.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(b, want); err != nil {
				t.Fatal(err)
			}
			got, perr, ok := protojsonOracle(sig, js)
			if !ok || perr != nil || !proto.Equal(got, want) {
				t.Fatalf("protojson reads %v (err %v, ids ok %v) from %s; want %v", got, perr, ok, js, want)
			}
		}
	})
}

// addJSONSeeds adds the JSON sample requests and golden inputs.
func addJSONSeeds(f *testing.F) {
	for sig := signal(0); sig < numSignals; sig++ {
		if b, err := os.ReadFile(filepath.Join("testdata", "otlp", sig.String()+".json")); err == nil {
			f.Add(uint8(sig), b)
		}
		golden, _ := filepath.Glob(filepath.Join("testdata", "otlp", "golden", "*."+sig.String()+".json"))
		for _, g := range golden {
			if b, err := os.ReadFile(g); err == nil {
				f.Add(uint8(sig), b)
			}
		}
	}
	f.Add(uint8(sigLogs), []byte(`{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{"stringValue":"\ud83d\ude00","intValue":1e2}}]}]}]}`))
}

// FuzzJSONToProto: jsonToProto never panics, writes valid protobuf when it
// succeeds, and agrees with protojson whenever protojson accepts the input
// (hex ids converted to base64 for it); its protobuf converts back to JSON
// that reads the same.
func FuzzJSONToProto(f *testing.F) {
	addJSONSeeds(f)
	f.Fuzz(func(t *testing.T, s uint8, js []byte) {
		sig := signal(s % uint8(numSignals))
		pb := checkJSONOracle(t, sig, js)
		if pb == nil {
			return
		}
		if _, err := validateRequest(sig, pb); err != nil {
			return // e.g. an id of the wrong length
		}
		back, err := protoToJSON(sig, nil, pb)
		if err != nil {
			t.Fatalf("protoToJSON(jsonToProto): %v", err)
		}
		pb2, err := jsonToProto(sig, nil, back)
		if err != nil {
			t.Fatalf("jsonToProto(protoToJSON(jsonToProto)): %v\n%s", err, back)
		}
		m1, m2 := newMsg(sig), newMsg(sig)
		if proto.Unmarshal(pb, m1) != nil || proto.Unmarshal(pb2, m2) != nil || !proto.Equal(m1, m2) {
			t.Fatalf("round trip through protoToJSON changed the message:\n%v\n%v", m1, m2)
		}
	})
}

// FuzzEnrich: a valid request stays valid, with the same items, and gets
// the attributes its resources miss and nothing else.
func FuzzEnrich(f *testing.F) {
	addProtoSeeds(f)
	attrs := testAttrs()
	e := newEnricher(attrs)
	f.Fuzz(func(t *testing.T, s uint8, b []byte) {
		sig := signal(s % uint8(numSignals))
		n, err := validateRequest(sig, b)
		if err != nil {
			out := e.enrich(nil, sig, b) // must not panic on bad input either
			_ = out
			return
		}
		out := e.enrich(nil, sig, b)
		n2, err := validateRequest(sig, out)
		if err != nil || n2 != n {
			t.Fatalf("validateRequest(enriched) = %d, %v; want %d, nil", n2, err, n)
		}
		checkEnriched(t, sig, b, out, attrs)
	})
}
