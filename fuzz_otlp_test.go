package main

import (
	"bytes"
	"errors"
	"math"
	"os"
	"path/filepath"
	"testing"

	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/encoding/protowire"
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

// The fast walk (walkFast) and the detailed one (walker) must accept the
// same requests and count the same items: validateRequest trusts the fast
// walk's "valid" and asks walker only for the error of an invalid request.

// checkWalkersAgree fails t unless walkFast and walker agree on b, and
// validateRequest answers what walker says.
func checkWalkersAgree(t testing.TB, sig signal, b []byte) {
	t.Helper()
	n, ok := walkFast(sig, b)
	var w walker
	wok := w.message(requestMsg(sig), b, 0, 0)
	if ok != wok || (ok && n != w.items) {
		var werr error
		if !wok {
			werr = w.err()
		}
		t.Fatalf("%v: walkFast = %d, %v; walker = %d, %v (%v)\ninput %x", sig, n, ok, w.items, wok, werr, b)
	}
	vn, err := validateRequest(sig, b)
	switch {
	case ok && (err != nil || vn != n):
		t.Fatalf("%v: validateRequest = %d, %v; want %d, nil", sig, vn, err, n)
	case !ok && (err == nil || err.Error() != w.err().Error()):
		t.Fatalf("%v: validateRequest = %d, %v; want walker's error %v", sig, vn, err, w.err())
	}
}

// choices is a stream of decisions for mutate, from fuzz input or a
// seeded random source; an exhausted stream answers 0.
type choices struct {
	b []byte
	i int
}

func (c *choices) left() bool { return c.i < len(c.b) }

// n returns a choice in [0, k).
func (c *choices) n(k int) int {
	if c.i >= len(c.b) || k <= 1 {
		return 0
	}
	c.i++
	return int(c.b[c.i-1]) % k
}

// rawRecord is one field record of a message as found on the wire: its
// tag's bytes (as sent, non-minimal varints included), and its value: the
// content of a LEN record (its length is written again when the records
// are joined), the raw bytes of any other.
type rawRecord struct {
	tag []byte
	num protowire.Number
	typ protowire.Type
	val []byte
}

// splitRecords splits b into records; ok is false when b is not a
// sequence of well-formed records.
func splitRecords(b []byte) (recs []rawRecord, ok bool) {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, false
		}
		r := rawRecord{tag: b[:n], num: num, typ: typ}
		b = b[n:]
		m := protowire.ConsumeFieldValue(num, typ, b)
		if m < 0 {
			return nil, false
		}
		r.val = b[:m]
		if typ == protowire.BytesType {
			r.val, _ = protowire.ConsumeBytes(b)
		}
		b = b[m:]
		recs = append(recs, r)
	}
	return recs, true
}

func joinRecords(recs []rawRecord) []byte {
	var b []byte
	for _, r := range recs {
		b = append(b, r.tag...)
		if r.typ == protowire.BytesType {
			b = protowire.AppendVarint(b, uint64(len(r.val)))
		}
		b = append(b, r.val...)
	}
	return b
}

// mutationValues are contents that sit on the edges of what the walks
// check: id lengths, invalid UTF-8 (truncated, overlong, surrogate), packed
// lengths, varints of 10 and 11 bytes, a non-minimal varint.
var mutationValues = [][]byte{
	{}, {0}, {0xff}, {'a', 0xc3}, {0xc0, 0x80}, {0xed, 0xa0, 0x80}, []byte("héllo"),
	id(7, 1), id(8, 1), id(9, 1), id(12, 1), id(15, 1), id(16, 1), id(17, 1),
	{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02},
	{0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00}, {0x81, 0x80, 0x00}, {0x80},
}

// mutate changes b as c decides: with b split into field records, one
// record is replaced, deleted, duplicated, renumbered, given another wire
// type, wrapped in a message (or an AnyValue in another), or mutated itself (recursively for a LEN
// record holding records), and the lengths of the enclosing records are
// written again, so the change reaches deep into a well-formed request.
// Where b does not split, a byte is changed, inserted or removed.
func mutate(b []byte, c *choices) []byte {
	recs, ok := splitRecords(b)
	if !ok || len(recs) == 0 || c.n(8) == 0 {
		b = append([]byte(nil), b...)
		if len(b) == 0 {
			return append(b, byte(c.n(256)))
		}
		i := c.n(len(b))
		switch c.n(4) {
		case 0:
			b[i] = byte(c.n(256))
		case 1:
			b[i] ^= 1 << c.n(8)
		case 2:
			b = append(b[:i], append([]byte{byte(c.n(256))}, b[i:]...)...)
		default:
			b = append(b[:i], b[i+1:]...)
		}
		return b
	}
	i := c.n(len(recs))
	r := &recs[i]
	switch c.n(13) {
	case 0, 1, 2, 3, 4, 5: // into the record
		if sub, ok := splitRecords(r.val); r.typ == protowire.BytesType && ok && len(sub) > 0 {
			r.val = mutate(r.val, c)
		} else {
			r.val = mutationValues[c.n(len(mutationValues))]
		}
	case 6:
		recs = append(recs[:i], recs[i+1:]...)
	case 7:
		recs = append(recs[:i+1], recs[i:]...)
	case 8: // another field number, known or not
		nums := []protowire.Number{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 15, 16, 17, 19, 2047, 2048, protowire.MaxValidNumber, protowire.MaxValidNumber + 1}
		r.num = nums[c.n(len(nums))]
		r.tag = protowire.AppendTag(nil, r.num, r.typ)
		if r.num > protowire.MaxValidNumber {
			r.tag = protowire.AppendVarint(nil, uint64(r.num)<<3|uint64(r.typ))
		}
	case 9: // another wire type: the value's bytes stay
		typ := protowire.Type(c.n(8))
		if typ == protowire.BytesType && r.typ != protowire.BytesType {
			// The old raw value becomes the content.
		} else if typ != protowire.BytesType && r.typ == protowire.BytesType {
			r.val = protowire.AppendBytes(nil, r.val)
		}
		if typ == protowire.StartGroupType {
			r.val = protowire.AppendTag(append([]byte(nil), r.val...), r.num, protowire.EndGroupType)
		}
		r.typ = typ
		r.tag = protowire.AppendVarint(nil, uint64(r.num)<<3|uint64(typ))
	case 10: // wrap the content in a message as its field 1, 2, 5 or 6
		if r.typ == protowire.BytesType {
			nums := []protowire.Number{1, 2, 5, 6}
			r.val = protowire.AppendBytes(protowire.AppendTag(nil, nums[c.n(len(nums))], protowire.BytesType), r.val)
		}
	case 11: // as an AnyValue, one level deeper: AnyValue{array_value: {values: [it]}}
		if r.typ == protowire.BytesType {
			r.val = rec(5, rec(1, r.val))
		}
	default: // the content of another record
		r.val = recs[c.n(len(recs))].val
	}
	return joinRecords(recs)
}

// eachRecordEdit calls fn with wrap(b') for every b' that is b with one
// record, at any depth, deleted, duplicated, given each wire type, or (a LEN
// record) written as a group, or given each of mutationValues as content, or
// nested in another AnyValue;
// the lengths of the enclosing records are written again.
func eachRecordEdit(b []byte, wrap func([]byte) []byte, fn func([]byte)) {
	recs, ok := splitRecords(b)
	if !ok {
		return
	}
	for i, r := range recs {
		with := func(rs ...rawRecord) []byte {
			out := append(append(append([]rawRecord(nil), recs[:i]...), rs...), recs[i+1:]...)
			return wrap(joinRecords(out))
		}
		fn(with())
		fn(with(r, r))
		for typ := protowire.Type(0); typ < 8; typ++ {
			if typ != r.typ {
				e := r
				e.typ, e.tag = typ, protowire.AppendVarint(nil, uint64(r.num)<<3|uint64(typ))
				if r.typ == protowire.BytesType {
					e.val = protowire.AppendBytes(nil, r.val)
				}
				fn(with(e))
			}
		}
		if r.typ != protowire.BytesType {
			continue
		}
		// The content as a group: well-formed records, then the end group.
		g := rawRecord{tag: protowire.AppendTag(nil, r.num, protowire.StartGroupType), num: r.num, typ: protowire.StartGroupType,
			val: protowire.AppendTag(append([]byte(nil), r.val...), r.num, protowire.EndGroupType)}
		fn(with(g))
		for _, v := range append(mutationValues, rec(5, rec(1, r.val))) {
			e := r
			e.val = v
			fn(with(e))
		}
		if sub, ok := splitRecords(r.val); ok && len(sub) > 0 {
			eachRecordEdit(r.val, func(nb []byte) []byte {
				e := r
				e.val = nb
				return with(e)
			}, fn)
		}
	}
}

// walkerSeeds are the requests the walker tests start from: the samples,
// the testdata files, and hand-built edge cases.
func walkerSeeds(t testing.TB) (seeds []struct {
	sig signal
	b   []byte
}) {
	add := func(sig signal, b []byte) {
		seeds = append(seeds, struct {
			sig signal
			b   []byte
		}{sig, b})
	}
	for _, s := range samples(t) {
		add(s.sig, mustMarshal(t, s.msg))
	}
	for sig := signal(0); sig < numSignals; sig++ {
		if b, err := os.ReadFile(filepath.Join("testdata", "otlp", sig.String()+".binpb")); err == nil {
			add(sig, b)
		}
	}
	// Repeated scalars unpacked (one record each) and packed, mixed.
	var dp, buckets []byte
	for i := range 3 {
		dp = protowire.AppendFixed64(protowire.AppendTag(dp, 6, protowire.Fixed64Type), uint64(i))
		dp = protowire.AppendFixed64(protowire.AppendTag(dp, 7, protowire.Fixed64Type), math.Float64bits(float64(i)))
		buckets = protowire.AppendVarint(protowire.AppendTag(buckets, 2, protowire.VarintType), uint64(300*i))
	}
	dp = append(dp, rec(6, id(16, 0))...)
	buckets = append(buckets, rec(2, []byte{1, 0xac, 0x02})...)
	add(sigMetrics, rec(1, rec(2, rec(2, rec(9, rec(1, dp)), rec(10, rec(1, rec(8, buckets), rec(9, buckets)))))))
	// AnyValue nesting at the limit, in a log body.
	v := rec(1, []byte("leaf"))
	for i := 1; i < maxAnyDepth; i++ {
		v = rec(6, rec(1, rec(1, []byte("k")), rec(2, v)))
	}
	add(sigLogs, rec(1, rec(2, rec(2, rec(5, v)))))
	// The same in the deepest place for an attribute: walker's path is
	// longest there (maxPath).
	kv := append(rec(1, []byte("k")), rec(2, v)...)
	add(sigMetrics, rec(1, rec(2, rec(2, rec(10, rec(1, rec(11, rec(7, kv))))))))
	return seeds
}

// FuzzWalkers: walkFast and walker agree on any input, and on the input
// after structured mutations (mutate, driven by the second argument).
func FuzzWalkers(f *testing.F) {
	for _, s := range walkerSeeds(f) {
		f.Add(uint8(s.sig), s.b, []byte{})
		f.Add(uint8(s.sig), s.b, []byte{1, 0, 0, 1, 0, 2, 0, 3, 0, 4})
	}
	f.Add(uint8(sigTraces), []byte{0x0a, 0x02, 0x9b, 0x01}, []byte{})
	f.Fuzz(func(t *testing.T, s uint8, b, ops []byte) {
		sig := signal(s % uint8(numSignals))
		checkWalkersAgree(t, sig, b)
		// At most 8 mutations, and none once the request passes 64 KB
		// (duplications double it): the fuzzer minimizes every new
		// input by running it thousands of times.
		c := &choices{b: ops}
		for i := 0; i < 8 && c.left() && len(b) < 1<<16; i++ {
			b = mutate(b, c)
			checkWalkersAgree(t, sig, b)
		}
	})
}

// checkFastKeyValue fails t if fastKeyValue accepts b, at AnyValue depth
// depth, where walker rejects it: its "true" skips the generic walk.
func checkFastKeyValue(t testing.TB, depth int, b []byte) {
	t.Helper()
	fw := fastWalker{anyDepth: depth}
	if !fw.fastKeyValue(b) {
		return
	}
	w := walker{anyDepth: depth}
	if !w.message(mKeyValue, b, 0, 0) {
		t.Fatalf("fastKeyValue accepts at depth %d what walker rejects (%v): %x", depth, w.err(), b)
	}
	if fw.items != 0 || fw.anyDepth != depth {
		t.Fatalf("fastKeyValue changed the walker: %+v", fw)
	}
}

// FuzzFastKeyValue: fastKeyValue accepts no KeyValue that walker rejects.
func FuzzFastKeyValue(f *testing.F) {
	for _, b := range fastKeyValueSeeds() {
		f.Add(uint8(0), b)
	}
	f.Fuzz(func(t *testing.T, depth uint8, b []byte) {
		checkFastKeyValue(t, int(depth)%(maxAnyDepth+2), b)
	})
}

// fastKeyValueSeeds are KeyValues of every shape fastKeyValue takes, and
// near misses: lengths off by one or of several bytes (among them one that
// reads right as one byte), fields repeated or out of order.
func fastKeyValueSeeds() [][]byte {
	var seeds [][]byte
	for _, a := range testAttrs() {
		seeds = append(seeds, a.kv)
	}
	kv := func(b []byte) []byte { return b[2:] } // without the record's one-byte tag and length
	seeds = append(seeds,
		kv(appendKVInt(nil, 1, "i", -5)), kv(appendKVBool(nil, 1, "b", true)), kv(appendKVDouble(nil, 1, "d", 1.5)),
		kv(appendKVString(nil, 1, "é", "")), kv(appendKVStrings(nil, 1, "a", []string{"x"})),
		append(rec(1, []byte("k")), rec(2, rec(7, []byte{0xff}))...), // bytes_value
		append(rec(1, []byte("k")), rec(2)...),                       // empty value
		append(rec(1, []byte("k")), rec(2, rec(1, []byte{0xc3}))...), // invalid UTF-8 value
		append(rec(1, []byte{0xff}), rec(2, rec(1, []byte("v")))...), // invalid UTF-8 key
		append(append(rec(1, []byte("k")), rec(2, rec(1, []byte("v")))...), rec(1, []byte("k2"))...),
		append(rec(2, rec(1, []byte("v"))), rec(1, []byte("k"))...),
		append(rec(1, []byte("k")), rec(2, rec(1, []byte("v")), rec(1, []byte("w")))...),
		// The value's length 0x83 0x0a (1283) read as the one byte 0x83
		// (131) would fit: the rest is a string_value of 129 bytes.
		append([]byte{0x0a, 1, 'k', 0x12, 0x83, 0x0a, 0x81}, bytes.Repeat([]byte("x"), 129)...),
	)
	// The key's length 0x85 0x01 (133) read as the one byte 0x85 (133) would
	// leave an empty value after a key of 0x01 and 132 bytes; walker reads
	// the value's length 0 as a tag: field 0, malformed.
	seeds = append(seeds, append(append([]byte{0x0a, 0x85, 0x01}, bytes.Repeat([]byte("k"), 132)...), 0x12, 0))
	// Keys and values of 125 to 128 bytes: one-byte lengths and two-byte ones.
	for _, n := range []int{125, 126, 127, 128} {
		seeds = append(seeds, append(rec(1, []byte("k")), rec(2, rec(1, bytes.Repeat([]byte("x"), n-2)))...),
			append(rec(1, bytes.Repeat([]byte("k"), n)), rec(2, rec(3, []byte{1}))...))
	}
	return seeds
}
