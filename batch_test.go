package main

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// traceChunk encodes an ExportTraceServiceRequest (wire-identical to
// TracesData) with one resource and n spans named prefix-0 … prefix-(n-1).
func traceChunk(t testing.TB, prefix string, n int) []byte {
	t.Helper()
	spans := make([]*tracepb.Span, n)
	for i := range spans {
		spans[i] = &tracepb.Span{
			TraceId:           bytes.Repeat([]byte{byte(i + 1)}, 16),
			SpanId:            bytes.Repeat([]byte{byte(i + 2)}, 8),
			Name:              fmt.Sprintf("%s-%d", prefix, i),
			Kind:              tracepb.Span_SPAN_KIND_SERVER,
			StartTimeUnixNano: 1_700_000_000_000_000_000 + uint64(i)*1000,
			EndTimeUnixNano:   1_700_000_000_000_500_000 + uint64(i)*1000,
			Attributes: []*commonpb.KeyValue{
				{Key: "http.route", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: "/orders/{id}"}}},
				{Key: "http.response.status_code", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_IntValue{IntValue: 200}}},
			},
		}
	}
	b, err := proto.Marshal(&tracepb.TracesData{ResourceSpans: []*tracepb.ResourceSpans{{
		Resource: &resourcepb.Resource{Attributes: []*commonpb.KeyValue{
			{Key: "service.name", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: "checkout"}}},
			{Key: "cloud.provider", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: "aws"}}},
		}},
		ScopeSpans: []*tracepb.ScopeSpans{{Scope: &commonpb.InstrumentationScope{Name: "test"}, Spans: spans}},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// logChunk encodes an ExportLogsServiceRequest with one record whose body is s.
func logChunk(t testing.TB, s string) []byte {
	t.Helper()
	b, err := proto.Marshal(&logspb.LogsData{ResourceLogs: []*logspb.ResourceLogs{{
		ScopeLogs: []*logspb.ScopeLogs{{LogRecords: []*logspb.LogRecord{{
			Body: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: s}},
		}}}},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// spanNames decodes a traces request and returns its span names in order.
func spanNames(t testing.TB, b []byte) []string {
	t.Helper()
	var td tracepb.TracesData
	if err := proto.Unmarshal(b, &td); err != nil {
		t.Fatalf("proto.Unmarshal of the batch: %v", err)
	}
	var names []string
	for _, rs := range td.ResourceSpans {
		for _, ss := range rs.ScopeSpans {
			for _, sp := range ss.Spans {
				names = append(names, sp.Name)
			}
		}
	}
	return names
}

func testRing(maxBytes int64, batchBytes, batchItems int) (*ring, *stats, *bytes.Buffer) {
	var cfg Config
	cfg.Buffer.MaxBytes = maxBytes
	cfg.Buffer.BatchMaxBytes = batchBytes
	cfg.Buffer.BatchMaxItems = batchItems
	st := new(stats)
	var logs bytes.Buffer
	return newRing(&cfg, st, newLogger(&logs, levelDebug)), st, &logs
}

const noSeqLimit = ^uint64(0)

func TestRingFIFOConcatenation(t *testing.T) {
	r, st, _ := testRing(1<<20, 0, 0)
	var want []string
	for i, n := range []int{3, 1, 4} {
		prefix := fmt.Sprintf("c%d", i)
		r.push(sigTraces, traceChunk(t, prefix, n), n)
		for j := 0; j < n; j++ {
			want = append(want, fmt.Sprintf("%s-%d", prefix, j))
		}
	}
	if got := r.len(sigTraces); got != 3 {
		t.Fatalf("len = %d; want 3", got)
	}
	b := r.take(sigTraces, noSeqLimit)
	if b == nil {
		t.Fatal("take = nil; want a batch")
	}
	if got := strings.Join(spanNames(t, b.data), " "); got != strings.Join(want, " ") {
		t.Errorf("spans = %s; want %s", got, strings.Join(want, " "))
	}
	if b.items != 8 {
		t.Errorf("items = %d; want 8", b.items)
	}
	if !r.empty() || r.bytes() != 0 {
		t.Errorf("after take: empty %v bytes %d; want true 0", r.empty(), r.bytes())
	}
	if got := st.sig[sigTraces].received.records.Load(); got != 8 {
		t.Errorf("received = %d; want 8", got)
	}
	r.release(b)
	if r.take(sigTraces, noSeqLimit) != nil {
		t.Error("take on an empty queue returned a batch")
	}
}

func TestRingBudgetDropsOldestAcrossSignals(t *testing.T) {
	type push struct {
		sig   signal
		size  int
		items int
	}
	tests := []struct {
		name        string
		budget      int64
		pushes      []push
		wantDropped [numSignals]int64 // records
		wantBytes   [numSignals]int64 // dropped bytes
		wantLen     [numSignals]int
	}{
		{
			name:    "fits",
			budget:  300,
			pushes:  []push{{sigTraces, 100, 1}, {sigLogs, 100, 2}, {sigMetrics, 100, 3}},
			wantLen: [numSignals]int{1, 1, 1},
		},
		{
			name:        "oldest is another signal",
			budget:      300,
			pushes:      []push{{sigLogs, 100, 5}, {sigTraces, 100, 1}, {sigTraces, 100, 1}, {sigTraces, 100, 1}},
			wantDropped: [numSignals]int64{sigLogs: 5},
			wantBytes:   [numSignals]int64{sigLogs: 100},
			wantLen:     [numSignals]int{sigTraces: 3},
		},
		{
			name:        "several dropped for one big chunk",
			budget:      300,
			pushes:      []push{{sigTraces, 100, 1}, {sigMetrics, 100, 7}, {sigLogs, 100, 2}, {sigLogs, 250, 4}},
			wantDropped: [numSignals]int64{sigTraces: 1, sigMetrics: 7, sigLogs: 2},
			wantBytes:   [numSignals]int64{100, 100, 100},
			wantLen:     [numSignals]int{sigLogs: 1},
		},
		{
			name:        "oversize chunk dropped itself",
			budget:      300,
			pushes:      []push{{sigTraces, 100, 1}, {sigMetrics, 301, 9}},
			wantDropped: [numSignals]int64{sigMetrics: 9},
			wantBytes:   [numSignals]int64{sigMetrics: 301},
			wantLen:     [numSignals]int{sigTraces: 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, st, logs := testRing(tt.budget, 0, 0)
			for _, p := range tt.pushes {
				r.push(p.sig, make([]byte, p.size), p.items)
				if r.bytes() > tt.budget {
					t.Fatalf("bytes = %d; want at most %d", r.bytes(), tt.budget)
				}
			}
			anyDrop := false
			for s := range numSignals {
				if got := st.sig[s].dropped.records.Load(); got != tt.wantDropped[s] {
					t.Errorf("%s dropped records = %d; want %d", s, got, tt.wantDropped[s])
				}
				if got := st.sig[s].dropped.bytes.Load(); got != tt.wantBytes[s] {
					t.Errorf("%s dropped bytes = %d; want %d", s, got, tt.wantBytes[s])
				}
				if got := r.len(s); got != tt.wantLen[s] {
					t.Errorf("%s len = %d; want %d", s, got, tt.wantLen[s])
				}
				anyDrop = anyDrop || tt.wantDropped[s] > 0
			}
			if got := strings.Contains(logs.String(), "WARN buffer full, dropping oldest batch"); got != anyDrop {
				t.Errorf("warning logged = %v; want %v (log %q)", got, anyDrop, logs.String())
			}
		})
	}
}

func TestRingDropWarningRateLimited(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r, _, logs := testRing(100, 0, 0)
		for i := 0; i < 5; i++ {
			r.push(sigLogs, make([]byte, 100), 1) // each push drops the previous one
		}
		if got := strings.Count(logs.String(), "buffer full"); got != 1 {
			t.Fatalf("warnings = %d; want 1 within the interval:\n%s", got, logs)
		}
		if !strings.Contains(logs.String(), "logs 1 records (100 B)") {
			t.Errorf("first warning %q; want the first drop's counts", logs.String())
		}
		time.Sleep(dropWarnInterval)
		r.push(sigLogs, make([]byte, 100), 1)
		lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
		if len(lines) != 2 {
			t.Fatalf("warnings = %d; want 2 after the interval:\n%s", len(lines), logs)
		}
		// The second line carries the drops that were held back: 3 quiet + 1.
		if !strings.Contains(lines[1], "logs 4 records (400 B)") {
			t.Errorf("second warning %q; want the accumulated 4 records", lines[1])
		}
	})
}

func TestRingRequeueAtFront(t *testing.T) {
	r, _, _ := testRing(1<<20, 0, 2)
	for i := 0; i < 3; i++ {
		r.push(sigTraces, traceChunk(t, fmt.Sprintf("c%d", i), 1), 1)
	}
	b := r.take(sigTraces, noSeqLimit) // c0, c1
	if got := strings.Join(spanNames(t, b.data), " "); got != "c0-0 c1-0" {
		t.Fatalf("first batch = %s; want c0-0 c1-0", got)
	}
	r.push(sigTraces, traceChunk(t, "c3", 1), 1)
	r.requeue(b)
	var got []string
	for b := r.take(sigTraces, noSeqLimit); b != nil; b = r.take(sigTraces, noSeqLimit) {
		got = append(got, spanNames(t, b.data)...)
		r.release(b)
	}
	if want := "c0-0 c1-0 c2-0 c3-0"; strings.Join(got, " ") != want {
		t.Errorf("order after requeue = %s; want %s", strings.Join(got, " "), want)
	}
}

func TestRingRequeueBoundedByBudget(t *testing.T) {
	r, st, _ := testRing(300, 0, 0)
	r.push(sigTraces, make([]byte, 100), 1)
	r.push(sigTraces, make([]byte, 100), 2)
	b := r.take(sigTraces, noSeqLimit) // both, 200 bytes out of the budget
	r.push(sigLogs, make([]byte, 150), 3)
	r.push(sigLogs, make([]byte, 50), 4)
	r.requeue(b) // 400 > 300: the requeued chunks are the oldest
	if got := r.bytes(); got > 300 {
		t.Fatalf("bytes = %d; want at most 300", got)
	}
	if got, want := st.sig[sigTraces].dropped.records.Load(), int64(1); got != want {
		t.Errorf("traces dropped = %d; want %d", got, want)
	}
	if got := st.sig[sigLogs].dropped.records.Load(); got != 0 {
		t.Errorf("logs dropped = %d; want 0", got)
	}
	if got := r.records(sigTraces); got != 2 {
		t.Errorf("traces records left = %d; want 2 (the newer chunk)", got)
	}
}

func TestRingBatchLimits(t *testing.T) {
	tests := []struct {
		name       string
		maxBytes   int
		maxItems   int
		chunks     []int // sizes; each chunk has size/10 items
		wantCounts []int // chunks per batch
	}{
		{"no limits", 0, 0, []int{100, 100, 100}, []int{3}},
		{"bytes", 250, 0, []int{100, 100, 100, 100, 100}, []int{2, 2, 1}},
		{"bytes exact", 200, 0, []int{100, 100, 100}, []int{2, 1}},
		{"items", 0, 25, []int{100, 100, 100, 100}, []int{2, 2}},
		{"oversize chunk still goes alone", 150, 0, []int{400, 100, 100}, []int{1, 1, 1}},
		{"items of one chunk over the limit", 0, 5, []int{100, 30}, []int{1, 1}},
		{"both", 1000, 30, []int{100, 100, 100, 100}, []int{3, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, _, _ := testRing(1<<20, tt.maxBytes, tt.maxItems)
			for _, size := range tt.chunks {
				r.push(sigMetrics, make([]byte, size), size/10)
			}
			var got []int
			for b := r.take(sigMetrics, noSeqLimit); b != nil; b = r.take(sigMetrics, noSeqLimit) {
				got = append(got, len(b.chunks))
				r.release(b)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.wantCounts) {
				t.Errorf("chunks per batch = %v; want %v", got, tt.wantCounts)
			}
		})
	}
}

func TestRingTakeStopsAtSeq(t *testing.T) {
	r, _, _ := testRing(1<<20, 0, 0)
	r.push(sigLogs, logChunk(t, "a"), 1)
	limit := r.lastSeq()
	r.push(sigLogs, logChunk(t, "b"), 1)
	b := r.take(sigLogs, limit)
	if b == nil || len(b.chunks) != 1 {
		t.Fatalf("take(limit) = %v; want the one chunk pushed before the limit", b)
	}
	r.release(b)
	if b := r.take(sigLogs, limit); b != nil {
		t.Errorf("take(limit) after = %d chunks; want nil", len(b.chunks))
	}
}

func TestRingHighWaterCoalesces(t *testing.T) {
	r, _, _ := testRing(1000, 0, 0)
	r.push(sigTraces, make([]byte, 400), 1)
	select {
	case <-r.highWater():
		t.Fatal("signalled below the high-water mark")
	default:
	}
	r.push(sigTraces, make([]byte, 200), 1) // 600 ≥ 500: crosses
	r.push(sigTraces, make([]byte, 100), 1) // still above: no new crossing
	b := r.take(sigTraces, noSeqLimit)      // back to 0
	r.release(b)
	r.push(sigLogs, make([]byte, 600), 1) // crosses again, undrained: coalesces
	n := 0
	for {
		select {
		case <-r.highWater():
			n++
			continue
		default:
		}
		break
	}
	if n != 1 {
		t.Errorf("pending high-water signals = %d; want 1", n)
	}
}

func TestRingConcurrentPush(t *testing.T) {
	r, st, _ := testRing(64<<10, 4096, 0)
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Go(func() {
			for i := 0; i < 500; i++ {
				r.push(signal(i%int(numSignals)), make([]byte, 100+w), 1)
			}
		})
	}
	wg.Go(func() { // a concurrent flusher
		for i := 0; i < 200; i++ {
			if b := r.take(signal(i%int(numSignals)), noSeqLimit); b != nil {
				if i%3 == 0 {
					r.requeue(b)
				} else {
					st.sig[b.sig].exported.add(b.items, len(b.data))
					r.release(b)
				}
			}
			r.bytes()
			r.empty()
		}
	})
	wg.Wait()
	var recv, out int64
	for s := range numSignals {
		recv += st.sig[s].received.records.Load()
		out += st.sig[s].exported.records.Load() + st.sig[s].dropped.records.Load() + int64(r.records(s))
	}
	if recv != 2000 || out != recv {
		t.Errorf("received %d, exported+dropped+buffered %d; want 2000 both", recv, out)
	}
	if r.bytes() > 64<<10 {
		t.Errorf("bytes = %d; want at most %d", r.bytes(), 64<<10)
	}
}

func TestStatsSummary(t *testing.T) {
	var st stats
	st.sig[sigTraces].received.add(120, 30<<10)
	st.sig[sigTraces].exported.add(120, 30<<10)
	st.sig[sigTraces].retries.Add(2)
	st.sig[sigLogs].received.add(5, 500)
	st.sig[sigLogs].dropped.add(5, 500)
	want := "traces received 120 (30.0 KB) exported 120 dropped 0 retried 2; " +
		"metrics received 0 (0 B) exported 0 dropped 0 retried 0; " +
		"logs received 5 (500 B) exported 0 dropped 5 retried 0"
	if got := st.summary(); got != want {
		t.Errorf("summary =\n%s\nwant\n%s", got, want)
	}
}

// BenchmarkBatchAssembly pushes 512-span chunks and takes 4 MiB batches:
// the steady state of a busy function. Allocations per op should be those
// of the queue growing only (amortised to zero).
func BenchmarkBatchAssembly(b *testing.B) {
	c := traceChunk(b, "bench", 512)
	r, _, _ := testRing(64<<20, 4<<20, 0)
	b.SetBytes(int64(len(c)))
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		r.push(sigTraces, c, 512)
		if i%32 == 31 {
			for bt := r.take(sigTraces, noSeqLimit); bt != nil; bt = r.take(sigTraces, noSeqLimit) {
				r.release(bt)
			}
		}
	}
}
