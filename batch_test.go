package main

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
	"unsafe"

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
	if got := strings.Join(spanNames(t, b.appendTo(nil)), " "); got != strings.Join(want, " ") {
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
	if got := strings.Join(spanNames(t, b.appendTo(nil)), " "); got != "c0-0 c1-0" {
		t.Fatalf("first batch = %s; want c0-0 c1-0", got)
	}
	r.push(sigTraces, traceChunk(t, "c3", 1), 1)
	r.requeue(b)
	var got []string
	for b := r.take(sigTraces, noSeqLimit); b != nil; b = r.take(sigTraces, noSeqLimit) {
		got = append(got, spanNames(t, b.appendTo(nil))...)
		r.release(b)
	}
	if want := "c0-0 c1-0 c2-0 c3-0"; strings.Join(got, " ") != want {
		t.Errorf("order after requeue = %s; want %s", strings.Join(got, " "), want)
	}
}

func TestRingTakenBatchCountsInBudget(t *testing.T) {
	r, st, _ := testRing(300, 0, 0) // batches: at most 150 bytes, half the budget
	r.push(sigTraces, make([]byte, 100), 1)
	r.push(sigTraces, make([]byte, 100), 2)
	b := r.take(sigTraces, noSeqLimit) // the first chunk only: two would pass half the budget
	if len(b.chunks) != 1 || b.items != 1 {
		t.Fatalf("take = %d chunks, %d items; want 1, 1", len(b.chunks), b.items)
	}
	checkUsage(t, r, 100, 100, 0)
	r.push(sigLogs, make([]byte, 150), 3) // no room: the oldest queued chunk goes
	checkUsage(t, r, 150, 100, 0)
	r.push(sigLogs, make([]byte, 50), 4)
	checkUsage(t, r, 200, 100, 0)
	r.requeue(b) // counted all along: nothing to drop
	checkUsage(t, r, 300, 0, 0)
	if got := st.sig[sigTraces].dropped.records.Load(); got != 2 {
		t.Errorf("traces dropped = %d; want 2 (the queued chunk, not the one being sent)", got)
	}
	if got := st.sig[sigLogs].dropped.records.Load(); got != 0 {
		t.Errorf("logs dropped = %d; want 0", got)
	}
	if got := r.records(sigTraces); got != 1 {
		t.Errorf("traces records = %d; want 1 (the requeued chunk)", got)
	}
	r.push(sigMetrics, make([]byte, 100), 5) // the requeued chunk is the oldest
	if got := r.records(sigTraces); got != 0 {
		t.Errorf("traces records after the next push = %d; want 0", got)
	}
	checkUsage(t, r, 300, 0, 0)
}

func TestRingPushDroppedWhileBatchesHoldBudget(t *testing.T) {
	r, st, logs := testRing(300, 0, 0)
	r.push(sigTraces, make([]byte, 150), 1)
	r.push(sigLogs, make([]byte, 150), 2)
	bt := r.take(sigTraces, noSeqLimit)
	bl := r.take(sigLogs, noSeqLimit)
	checkUsage(t, r, 0, 300, 0)
	r.push(sigMetrics, make([]byte, 10), 7) // nothing queued to drop: the new chunk goes
	if got := st.sig[sigMetrics].dropped.records.Load(); got != 7 {
		t.Errorf("metrics dropped = %d; want 7", got)
	}
	if !strings.Contains(logs.String(), "buffer full") {
		t.Errorf("no buffer-full warning: %q", logs.String())
	}
	r.release(bl)
	r.push(sigMetrics, make([]byte, 100), 8)
	r.requeue(bt)
	checkUsage(t, r, 250, 0, 0)
	if got := st.sig[sigTraces].dropped.records.Load() + st.sig[sigLogs].dropped.records.Load(); got != 0 {
		t.Errorf("traces and logs dropped = %d; want 0", got)
	}
}

// checkUsage fails unless the ring's budget parts are as given.
func checkUsage(t *testing.T, r *ring, queued, out, free int64) {
	t.Helper()
	q, o, f := r.usage()
	if q != queued || o != out || f != free {
		t.Errorf("usage = queued %d out %d free %d; want %d %d %d", q, o, f, queued, out, free)
	}
	if q+o+f > r.maxBytes {
		t.Errorf("usage %d over the budget %d", q+o+f, r.maxBytes)
	}
}

// firstByte is the address of b's backing array, to tell buffers apart.
func firstByte(b []byte) *byte { return unsafe.SliceData(b) }

func TestRingRecyclesReleasedBuffers(t *testing.T) {
	r, _, _ := testRing(1<<20, 0, 0)
	const size = 64 << 10
	r.push(sigTraces, bytes.Repeat([]byte{1}, size), 1)
	b := r.take(sigTraces, noSeqLimit)
	buf := firstByte(b.chunks[0].data)
	r.release(b)
	checkUsage(t, r, 0, 0, size)
	r.push(sigLogs, bytes.Repeat([]byte{2}, size-100), 1) // fits: at most twice its size
	checkUsage(t, r, size, 0, 0)
	b = r.take(sigLogs, noSeqLimit)
	if firstByte(b.chunks[0].data) != buf {
		t.Error("push did not reuse the released buffer")
	}
	if got := b.appendTo(nil); !bytes.Equal(got, bytes.Repeat([]byte{2}, size-100)) {
		t.Errorf("reused buffer holds %d bytes starting %v; want the new chunk", len(got), got[:4])
	}
	if b.size != size-100 {
		t.Errorf("batch size = %d; want %d", b.size, size-100)
	}
	r.requeue(b)
	checkUsage(t, r, size, 0, 0) // the capacity is what counts
}

func TestRingFreeListFit(t *testing.T) {
	tests := []struct {
		name     string
		free     []int // capacities released, in order
		push     int
		wantFrom int // index into free of the buffer reused; -1 for a new one
	}{
		{"exact", []int{40 << 10}, 40 << 10, 0},
		{"best of several", []int{200 << 10, 60 << 10, 50 << 10}, 45 << 10, 2},
		{"too large: over twice the need", []int{100 << 10}, 40 << 10, -1},
		{"too small", []int{40 << 10}, 41 << 10, -1},
		{"small chunks are not recycled", []int{1 << 10}, 1 << 10, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, _, _ := testRing(4<<20, 0, 0)
			for _, size := range tt.free {
				r.push(sigTraces, make([]byte, size), 1)
			}
			var bufs []*byte
			b := r.take(sigTraces, noSeqLimit)
			for _, c := range b.chunks {
				bufs = append(bufs, firstByte(c.data))
			}
			r.release(b)
			r.push(sigTraces, make([]byte, tt.push), 1)
			b = r.take(sigTraces, noSeqLimit)
			got := slices.Index(bufs, firstByte(b.chunks[0].data))
			if got != tt.wantFrom {
				t.Errorf("reused buffer %d; want %d", got, tt.wantFrom)
			}
			if _, out, _ := r.usage(); out != int64(cap(b.chunks[0].data)) {
				t.Errorf("out = %d; want the capacity %d", out, cap(b.chunks[0].data))
			}
			r.release(b)
		})
	}
}

func TestRingFreeListBounded(t *testing.T) {
	const budget = 8 << 20
	r, _, _ := testRing(budget, 1<<20, 0)
	for range budget / (40 << 10) {
		r.push(sigLogs, make([]byte, 40<<10), 1)
	}
	for b := r.take(sigLogs, noSeqLimit); b != nil; b = r.take(sigLogs, noSeqLimit) {
		r.release(b)
	}
	q, o, f := r.usage()
	if q != 0 || o != 0 || f > budget/freeShareDiv || len(r.free) > maxFreeBuffers {
		t.Errorf("after draining: queued %d out %d free %d in %d buffers; want 0, 0, at most %d in at most %d",
			q, o, f, len(r.free), budget/freeShareDiv, maxFreeBuffers)
	}
}

func TestRingDropReusesOldestBuffer(t *testing.T) {
	r, st, _ := testRing(100<<10, 0, 0)
	r.push(sigTraces, make([]byte, 40<<10), 1)
	r.push(sigTraces, make([]byte, 40<<10), 1)
	first := r.q[sigTraces].front().data
	r.push(sigLogs, bytes.Repeat([]byte{7}, 40<<10), 1) // full: the oldest goes, its buffer takes the new chunk
	if got := st.sig[sigTraces].dropped.records.Load(); got != 1 {
		t.Fatalf("traces dropped = %d; want 1", got)
	}
	got := r.q[sigLogs].front().data
	if firstByte(got) != firstByte(first) || !bytes.Equal(got, bytes.Repeat([]byte{7}, 40<<10)) {
		t.Error("the new chunk is not in the dropped chunk's buffer")
	}
	checkUsage(t, r, 80<<10, 0, 0)
}

// TestRingSteadyStateAllocs: once the free list is warm, a push, take and
// release cycle of large chunks allocates nothing.
func TestRingSteadyStateAllocs(t *testing.T) {
	r, _, _ := testRing(16<<20, 4<<20, 0)
	c := make([]byte, 200<<10)
	cycle := func() {
		for range 4 {
			r.push(sigTraces, c, 1)
		}
		for b := r.take(sigTraces, noSeqLimit); b != nil; b = r.take(sigTraces, noSeqLimit) {
			r.release(b)
		}
	}
	cycle()
	if a := testing.AllocsPerRun(20, cycle); a != 0 {
		t.Errorf("allocations per cycle = %v; want 0", a)
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

// TestRingConcurrentRecycling: pushes racing a flusher over recycled
// buffers; every chunk taken must still be what was pushed (one byte value
// throughout), and the race detector watches the buffers change hands.
func TestRingConcurrentRecycling(t *testing.T) {
	r, st, _ := testRing(1<<20, 256<<10, 0)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := range 4 {
		wg.Go(func() {
			for i := range 300 {
				v := byte(w*64 + i%64)
				r.push(signal(i%2), bytes.Repeat([]byte{v}, (33<<10)+(i%7)*(10<<10)), 1)
			}
		})
	}
	var flusher sync.WaitGroup
	flusher.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			b := r.take(signal(i%2), noSeqLimit)
			if b == nil {
				continue
			}
			for _, c := range b.chunks {
				if bytes.Count(c.data, c.data[:1]) != len(c.data) {
					t.Errorf("a chunk changed while held: %d bytes, not all %d", len(c.data), c.data[0])
				}
			}
			if i%5 == 0 {
				r.requeue(b)
			} else {
				st.sig[b.sig].exported.add(b.items, b.size)
				r.release(b)
			}
			if q, o, f := r.usage(); q+o+f > 1<<20 {
				t.Errorf("usage %d over the budget", q+o+f)
			}
		}
	})
	wg.Wait()
	close(stop)
	flusher.Wait()
	var recv, out int64
	for s := range numSignals {
		recv += st.sig[s].received.records.Load()
		out += st.sig[s].exported.records.Load() + st.sig[s].dropped.records.Load() + int64(r.records(s))
	}
	if recv != 1200 || out != recv {
		t.Errorf("received %d, exported+dropped+buffered %d; want 1200 both", recv, out)
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

// ringOpSizes are the chunk sizes the ring property test pushes: small ones
// the free list ignores, large ones it recycles, one over half the budget.
var ringOpSizes = []int{9, 100, 3000, 33 << 10, 40 << 10, 70 << 10, 150 << 10, 300 << 10}

// runRingOps interprets ops as pushes, takes, releases and requeues on a
// 512 KiB ring, checking after every step that the budget holds the
// buffers' capacities queued, out and free and stays within the budget,
// that no chunk's bytes change while the ring holds it (a recycled buffer
// handed out twice would), that each signal's chunks are exported in
// arrival order, and that every record received is exported, dropped or
// still held.
func runRingOps(t *testing.T, ops []byte) {
	const budget = 512 << 10
	r, st, _ := testRing(budget, 200<<10, 0)
	var (
		out      []*batch
		nextID   uint64
		exported int64
		lastID   [numSignals]uint64
	)
	// Chunk i is 8 bytes of i, then bytes of value i%251, items i%5+1.
	content := func(id uint64, size int) []byte {
		b := bytes.Repeat([]byte{byte(id % 251)}, size)
		var idb [8]byte
		for i := range idb {
			idb[i] = byte(id >> (8 * i))
		}
		copy(b, idb[:])
		return b
	}
	idOf := func(b []byte) uint64 {
		var id uint64
		for i := 0; i < 8 && i < len(b); i++ {
			id |= uint64(b[i]) << (8 * i)
		}
		return id
	}
	check := func(step int) {
		t.Helper()
		q, o, f := r.usage()
		if q+o+f > budget {
			t.Fatalf("step %d: queued %d + out %d + free %d over the budget %d", step, q, o, f, budget)
		}
		var queued, held int64
		var records int64
		for s := range numSignals {
			cq := &r.q[s]
			for i := 0; i < cq.n; i++ {
				queued += int64(cap(cq.buf[(cq.head+i)%len(cq.buf)].data))
			}
			records += int64(r.records(s))
		}
		var outItems int64
		for _, b := range out {
			outItems += int64(b.items)
			for _, c := range b.chunks {
				held += int64(cap(c.data))
			}
		}
		if queued != q || held != o {
			t.Fatalf("step %d: usage says queued %d out %d; the queues hold %d, the batches %d", step, q, o, queued, held)
		}
		var recv, dropped int64
		for s := range numSignals {
			recv += st.sig[s].received.records.Load()
			dropped += st.sig[s].dropped.records.Load()
		}
		if recv != exported+dropped+records+outItems {
			t.Fatalf("step %d: received %d != exported %d + dropped %d + queued %d + out %d", step, recv, exported, dropped, records, outItems)
		}
	}
	for step := 0; len(ops) >= 2; step++ {
		op, arg := ops[0], ops[1]
		ops = ops[2:]
		sig := signal(arg % uint8(numSignals))
		switch op % 4 {
		case 0, 1: // pushes are the most common
			nextID++
			size := max(ringOpSizes[int(arg/3)%len(ringOpSizes)], 8)
			r.push(sig, content(nextID, size), int(nextID%5)+1)
		case 2:
			if slices.ContainsFunc(out, func(b *batch) bool { return b.sig == sig }) {
				continue // the exporter sends one batch per signal at a time
			}
			if b := r.take(sig, noSeqLimit); b != nil {
				prev := uint64(0)
				for _, c := range b.chunks {
					id := idOf(c.data)
					if !bytes.Equal(c.data, content(id, len(c.data))) {
						t.Fatalf("step %d: chunk %d changed while held", step, id)
					}
					if id <= prev || c.items != int(id%5)+1 {
						t.Fatalf("step %d: chunk %d (%d items) after %d in one batch", step, id, c.items, prev)
					}
					prev = id
				}
				out = append(out, b)
			}
		case 3:
			if len(out) == 0 {
				continue
			}
			i := int(arg) % len(out)
			b := out[i]
			out = slices.Delete(out, i, i+1)
			if arg&1 == 0 {
				r.requeue(b)
				break
			}
			for _, c := range b.chunks {
				id := idOf(c.data)
				if id <= lastID[b.sig] {
					t.Fatalf("step %d: %s chunk %d exported after %d", step, b.sig, id, lastID[b.sig])
				}
				lastID[b.sig] = id
			}
			exported += int64(b.items)
			r.release(b)
		}
		check(step)
	}
}

// TestRingRandomOps runs runRingOps on pseudo-random operation sequences.
func TestRingRandomOps(t *testing.T) {
	for seed := range uint64(20) {
		rng := rand.New(rand.NewPCG(seed, 7))
		ops := make([]byte, 4000)
		for i := range ops {
			ops[i] = byte(rng.Uint32())
		}
		runRingOps(t, ops)
	}
}

// FuzzRingOps: the same properties on operation sequences the fuzzer picks.
func FuzzRingOps(f *testing.F) {
	f.Add([]byte{0, 21, 0, 21, 2, 0, 3, 1, 0, 18, 2, 0, 3, 0, 2, 0, 3, 1})
	f.Add(bytes.Repeat([]byte{0, 21, 1, 22, 2, 3, 3, 5}, 40))
	f.Add(bytes.Repeat([]byte{0, 18, 0, 19, 0, 20, 2, 0, 2, 1, 2, 2, 3, 2, 3, 1}, 30))
	f.Fuzz(func(t *testing.T, ops []byte) {
		if len(ops) > 4096 {
			ops = ops[:4096] // longer finds nothing new, only slows the fuzzer
		}
		runRingOps(t, ops)
	})
}
