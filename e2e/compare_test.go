// compare_test.go owns the oracle: what the backend got through the
// extension against what the reference backend got straight from the SDK.
// Data is flattened to items (a span, a metric with its points sorted, a
// log record) with their resource and scope, matched by key and compared
// with proto.Equal. Resources may differ only by the Lambda attributes the
// extension adds, and those must be the Lambda ones.
package e2e

import (
	"encoding/hex"
	"fmt"
	"slices"
	"strings"

	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// item is one span, metric or log record and where it came from.
type item struct {
	key         string
	points      int // data points of a metric; 1 otherwise
	resource    *resourcepb.Resource
	resSchema   string
	scope       *commonpb.InstrumentationScope
	scopeSchema string
	msg         proto.Message
}

func attrValue(attrs []*commonpb.KeyValue, key string) (*commonpb.AnyValue, bool) {
	for _, kv := range attrs {
		if kv.GetKey() == key {
			return kv.GetValue(), true
		}
	}
	return nil, false
}

// inCell reports whether a resource carries e2e.cell = cell.
func inCell(r *resourcepb.Resource, cell string) bool {
	v, ok := attrValue(r.GetAttributes(), cellKey)
	return ok && v.GetStringValue() == cell
}

func marshalKey(m proto.Message) string {
	b, _ := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	return string(b)
}

// flatten returns the items of signal sig in reqs whose resource is in
// cell, and how many items were outside it.
func flatten(reqs []received, sig, cell string) (items []item, others int) {
	add := func(r *resourcepb.Resource, resSchema string, sc *commonpb.InstrumentationScope, scSchema, key string, points int, m proto.Message) {
		if !inCell(r, cell) {
			others += points
			return
		}
		items = append(items, item{key: key, points: points, resource: r, resSchema: resSchema, scope: sc, scopeSchema: scSchema, msg: m})
	}
	for _, rq := range reqs {
		switch sig {
		case "traces":
			for _, rs := range rq.traces.GetResourceSpans() {
				for _, ss := range rs.GetScopeSpans() {
					for _, sp := range ss.GetSpans() {
						add(rs.GetResource(), rs.GetSchemaUrl(), ss.GetScope(), ss.GetSchemaUrl(), hex.EncodeToString(sp.GetSpanId()), 1, sp)
					}
				}
			}
		case "metrics":
			for _, rm := range rq.metrics.GetResourceMetrics() {
				for _, sm := range rm.GetScopeMetrics() {
					for _, m := range sm.GetMetrics() {
						m, n := sortedPoints(m)
						add(rm.GetResource(), rm.GetSchemaUrl(), sm.GetScope(), sm.GetSchemaUrl(), sm.GetScope().GetName()+"/"+m.GetName(), n, m)
					}
				}
			}
		case "logs":
			for _, rl := range rq.logs.GetResourceLogs() {
				for _, sl := range rl.GetScopeLogs() {
					for _, lr := range sl.GetLogRecords() {
						add(rl.GetResource(), rl.GetSchemaUrl(), sl.GetScope(), sl.GetSchemaUrl(), marshalKey(lr), 1, lr)
					}
				}
			}
		}
	}
	slices.SortFunc(items, func(a, b item) int { return strings.Compare(a.key, b.key) })
	return items, others
}

// sortedPoints returns a copy of m with its data points in a canonical
// order (by attributes) and their number.
func sortedPoints(m *metricspb.Metric) (*metricspb.Metric, int) {
	m = proto.Clone(m).(*metricspb.Metric)
	byAttrs := func(a, b []*commonpb.KeyValue) int {
		return strings.Compare(marshalKey(&commonpb.KeyValueList{Values: a}), marshalKey(&commonpb.KeyValueList{Values: b}))
	}
	switch d := m.GetData().(type) {
	case *metricspb.Metric_Sum:
		slices.SortFunc(d.Sum.DataPoints, func(a, b *metricspb.NumberDataPoint) int { return byAttrs(a.Attributes, b.Attributes) })
		return m, len(d.Sum.DataPoints)
	case *metricspb.Metric_Gauge:
		slices.SortFunc(d.Gauge.DataPoints, func(a, b *metricspb.NumberDataPoint) int { return byAttrs(a.Attributes, b.Attributes) })
		return m, len(d.Gauge.DataPoints)
	case *metricspb.Metric_Histogram:
		slices.SortFunc(d.Histogram.DataPoints, func(a, b *metricspb.HistogramDataPoint) int { return byAttrs(a.Attributes, b.Attributes) })
		return m, len(d.Histogram.DataPoints)
	case *metricspb.Metric_ExponentialHistogram:
		slices.SortFunc(d.ExponentialHistogram.DataPoints, func(a, b *metricspb.ExponentialHistogramDataPoint) int {
			return byAttrs(a.Attributes, b.Attributes)
		})
		return m, len(d.ExponentialHistogram.DataPoints)
	case *metricspb.Metric_Summary:
		slices.SortFunc(d.Summary.DataPoints, func(a, b *metricspb.SummaryDataPoint) int { return byAttrs(a.Attributes, b.Attributes) })
		return m, len(d.Summary.DataPoints)
	}
	return m, 1
}

// lambdaAttrs are the resource attributes the extension may add, with the
// values the emulator's environment implies ("" = any string value).
var lambdaAttrs = map[string]string{
	"cloud.provider":   "aws",
	"cloud.platform":   "aws_lambda",
	"cloud.region":     "us-east-1",
	"cloud.account.id": "123456789012", // the emulator's account
	"faas.name":        "e2e-function",
	"faas.version":     "$LATEST",
	"faas.max_memory":  "", // int, bytes
	"service.name":     "", // only when the SDK set none
}

// requiredLambdaAttrs must be present on every resource that arrives (the
// emulator gives the extension everything they are detected from).
var requiredLambdaAttrs = []string{"cloud.provider", "cloud.platform", "cloud.region", "cloud.account.id",
	"faas.name", "faas.version", "faas.max_memory"}

// checkResource says what is wrong with got, the resource the backend got,
// given want, the one the SDK sent.
func checkResource(got, want *resourcepb.Resource) []string {
	var probs []string
	for _, kv := range want.GetAttributes() {
		v, ok := attrValue(got.GetAttributes(), kv.GetKey())
		if !ok {
			probs = append(probs, fmt.Sprintf("resource attribute %q lost", kv.GetKey()))
		} else if !proto.Equal(v, kv.GetValue()) {
			probs = append(probs, fmt.Sprintf("resource attribute %q: got %v; want %v", kv.GetKey(), v, kv.GetValue()))
		}
	}
	for _, kv := range got.GetAttributes() {
		if _, ok := attrValue(want.GetAttributes(), kv.GetKey()); ok {
			continue
		}
		wantV, ok := lambdaAttrs[kv.GetKey()]
		switch {
		case !ok:
			probs = append(probs, fmt.Sprintf("resource attribute %q=%v added; not a Lambda attribute", kv.GetKey(), kv.GetValue()))
		case kv.GetKey() == "faas.max_memory":
			if kv.GetValue().GetIntValue() != 128<<20 {
				probs = append(probs, fmt.Sprintf("faas.max_memory: got %v; want int %d", kv.GetValue(), 128<<20))
			}
		case wantV != "" && kv.GetValue().GetStringValue() != wantV:
			probs = append(probs, fmt.Sprintf("resource attribute %q: got %v; want %q", kv.GetKey(), kv.GetValue(), wantV))
		}
	}
	for _, k := range requiredLambdaAttrs {
		if _, ok := attrValue(got.GetAttributes(), k); !ok {
			probs = append(probs, fmt.Sprintf("resource attribute %q missing; the extension adds it", k))
		}
	}
	if got.GetDroppedAttributesCount() != want.GetDroppedAttributesCount() {
		probs = append(probs, fmt.Sprintf("resource dropped_attributes_count: got %d; want %d", got.GetDroppedAttributesCount(), want.GetDroppedAttributesCount()))
	}
	return probs
}

// compareItems compares the items that arrived through the extension (got)
// with the reference (want). It returns how many data items (spans, data
// points, log records) arrived and equal the reference, and the problems.
func compareItems(got, want []item) (matched int, probs []string) {
	gi := map[string][]item{}
	for _, it := range got {
		gi[it.key] = append(gi[it.key], it)
	}
	for _, w := range want {
		cands := gi[w.key]
		if len(cands) == 0 {
			probs = append(probs, fmt.Sprintf("missing: %s", brief(w.msg)))
			continue
		}
		g := cands[0]
		gi[w.key] = cands[1:]
		var p []string
		if !proto.Equal(g.msg, w.msg) {
			p = append(p, fmt.Sprintf("differs:\n  got  %s\n  want %s", brief(g.msg), brief(w.msg)))
		}
		if !proto.Equal(g.scope, w.scope) || g.scopeSchema != w.scopeSchema {
			p = append(p, fmt.Sprintf("scope: got %v %q; want %v %q", g.scope, g.scopeSchema, w.scope, w.scopeSchema))
		}
		if g.resSchema != w.resSchema {
			p = append(p, fmt.Sprintf("resource schema_url: got %q; want %q", g.resSchema, w.resSchema))
		}
		p = append(p, checkResource(g.resource, w.resource)...)
		if len(p) == 0 {
			matched += w.points
		}
		probs = append(probs, p...)
	}
	for _, rest := range gi {
		for _, g := range rest {
			probs = append(probs, fmt.Sprintf("unexpected extra: %s", brief(g.msg)))
		}
	}
	return matched, probs
}

func countPoints(items []item) int {
	n := 0
	for _, it := range items {
		n += it.points
	}
	return n
}

// brief renders a message for a failure report, cut to 600 bytes.
func brief(m proto.Message) string {
	b, _ := protojson.MarshalOptions{}.Marshal(m)
	s := string(b)
	if len(s) > 600 {
		s = s[:600] + "…"
	}
	return s
}

// addedAttrs renders the resource attributes of got that want lacks: what
// the extension added.
func addedAttrs(got, want *resourcepb.Resource) string {
	var parts []string
	for _, kv := range got.GetAttributes() {
		if _, ok := attrValue(want.GetAttributes(), kv.GetKey()); !ok {
			b, _ := protojson.Marshal(kv.GetValue())
			parts = append(parts, kv.GetKey()+"="+string(b))
		}
	}
	return strings.Join(parts, " ")
}
