// batch.go owns the ring buffer between the receivers and the exporter: a
// FIFO of encoded chunks per signal under one byte budget shared by all
// signals, batch assembly, the recycling of chunk buffers, and the counters
// of what was received, exported, dropped and retried.
//
// Invariants: a chunk is one validated, enriched Export*ServiceRequest in
// protobuf whose item count is known; it is never decoded again. Chunks
// written back to back are one valid request (otlp.md section 6), so a batch
// is its chunks in order and is never concatenated to be sent. The budget
// measures the capacity of every chunk buffer the ring holds: queued,
// reserved by a push that is copying into it, taken out in a batch that is
// not released or requeued yet, or kept empty on the free list for reuse.
// That sum never exceeds the budget when a method returns: to make room a
// push first lets empty buffers go, then drops the oldest queued chunk by
// arrival, whatever its signal, and counts it; when even that cannot make
// room (batches being sent hold the rest), the new chunk is dropped. Taken
// chunks are out of the queues until they are released or put back at the
// front; requeueing never needs a drop because taken chunks were counted.
package main

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// defaultRingBytes guards a zero Config (tests, a forgotten default): the
// ring must hold something. config.go sets the real budget.
const defaultRingBytes = 16 << 20

// dropWarnInterval limits the "buffer full" warning to one line per
// interval: under sustained overload a line per dropped chunk would flood
// CloudWatch, and our own log lines come back to us through the Telemetry
// API as extension events, which would feed the overload.
const dropWarnInterval = 10 * time.Second

// highWaterPercent of the budget is where the ring asks for an early export:
// half full leaves the other half to absorb what arrives while that export
// runs, before anything has to be dropped.
const highWaterPercent = 50

// Limits of the free list of chunk buffers. Recycling exists because every
// large allocation costs page faults and page zeroing (and, with the soft
// memory limit, the scavenger hands the pages back to the kernel only for
// them to be faulted in again): perf showed about a fifth of the CPU going
// there when each request got a fresh chunk.
const (
	// recycleMinBytes: smaller buffers are left to the garbage collector.
	// Go serves them from size-classed spans it reuses itself; only
	// allocations over 32 KiB get pages of their own.
	recycleMinBytes = 32 << 10
	// maxFreeBuffers bounds the list's length so that best fit stays a
	// short scan under the lock.
	maxFreeBuffers = 64
	// freeShareDiv: the list keeps at most a quarter of the budget, which
	// covers the batches being exported (one per signal, up to 4 MiB each
	// by default) that the next requests reuse, without holding a whole
	// budget of idle memory after a burst.
	freeShareDiv = 4
)

// chunk is one encoded request in a queue.
type chunk struct {
	data  []byte
	items int
	seq   uint64 // arrival order across all signals; kept when requeued
}

// chunkQueue is a growable circular FIFO of chunks that also takes chunks
// back at its front. It allocates only when it grows. bytes counts the
// chunks' lengths (openobserve.go's budget); the ring counts capacities
// itself.
type chunkQueue struct {
	buf   []chunk
	head  int
	n     int
	bytes int64
	items int
}

func (q *chunkQueue) grow() {
	size := 2 * len(q.buf)
	if size == 0 {
		size = 16
	}
	buf := make([]chunk, size)
	for i := 0; i < q.n; i++ {
		buf[i] = q.buf[(q.head+i)%len(q.buf)]
	}
	q.buf, q.head = buf, 0
}

func (q *chunkQueue) pushBack(c chunk) {
	if q.n == len(q.buf) {
		q.grow()
	}
	q.buf[(q.head+q.n)%len(q.buf)] = c
	q.n++
	q.bytes += int64(len(c.data))
	q.items += c.items
}

func (q *chunkQueue) pushFront(c chunk) {
	if q.n == len(q.buf) {
		q.grow()
	}
	q.head = (q.head - 1 + len(q.buf)) % len(q.buf)
	q.buf[q.head] = c
	q.n++
	q.bytes += int64(len(c.data))
	q.items += c.items
}

// front returns the oldest chunk; the queue must not be empty.
func (q *chunkQueue) front() *chunk { return &q.buf[q.head] }

func (q *chunkQueue) popFront() chunk {
	c := q.buf[q.head]
	q.buf[q.head] = chunk{} // let the collector have the bytes once sent
	q.head = (q.head + 1) % len(q.buf)
	q.n--
	q.bytes -= int64(len(c.data))
	q.items -= c.items
	return c
}

// batch is one export request assembled from the front of a signal's queue:
// its chunks back to back. It belongs to the caller of take until it is
// passed to release or requeue, and must not be used after that.
type batch struct {
	sig    signal
	items  int
	size   int     // bytes of the request: the chunks' lengths summed
	chunks []chunk // the request, in order
	// data is the whole request of a batch made outside the ring (the
	// health check's test request); a batch from take has chunks instead.
	data []byte
}

// appendParts appends the pieces of the batch's request, in order, to dst.
func (b *batch) appendParts(dst [][]byte) [][]byte {
	if len(b.chunks) == 0 {
		return append(dst, b.data)
	}
	for _, c := range b.chunks {
		dst = append(dst, c.data)
	}
	return dst
}

// appendTo appends the batch's request to dst, for the encoders that need
// it in one piece (OTLP/JSON transcoding).
func (b *batch) appendTo(dst []byte) []byte {
	if len(b.chunks) == 0 {
		return append(dst, b.data...)
	}
	for _, c := range b.chunks {
		dst = append(dst, c.data...)
	}
	return dst
}

// ring is the bounded buffer of encoded chunks. All methods are safe for
// concurrent use; none of them does I/O except the rate-limited warning.
type ring struct {
	st *stats
	lg *logger

	maxBytes      int64
	highBytes     int64
	freeMax       int64 // the free list's share of the budget
	batchMaxBytes int   // a batch's size limit: the configured one, at most half the budget
	batchMaxItems int
	high          chan struct{} // capacity 1: pending signals coalesce

	mu sync.Mutex
	q  [numSignals]chunkQueue
	// The budget's measure is queued+out+freeBytes, in buffer capacities.
	queued    int64    // in the queues
	out       int64    // reserved by pushes copying, or taken in batches
	free      [][]byte // empty buffers for the next pushes, len 0
	freeBytes int64
	seq       uint64
	spare     [numSignals]*batch                         // one reusable batch per signal
	warned    time.Time                                  // last "buffer full" warning
	pending   [numSignals]struct{ records, bytes int64 } // drops since that warning
}

// newRing returns an empty ring with the budget and batch limits of cfg.
// It allocates no chunk buffer: those come with the first requests.
func newRing(cfg *Config, st *stats, lg *logger) *ring {
	maxBytes := cfg.Buffer.MaxBytes
	if maxBytes <= 0 {
		maxBytes = defaultRingBytes
	}
	// A batch holds at most half the budget, so that while it is being
	// sent (and counted) the other half still takes new data; otherwise a
	// batch as large as the budget would make every push drop.
	batchMax := int(min(maxBytes/2, int64(^uint(0)>>1)))
	if cfg.Buffer.BatchMaxBytes > 0 {
		batchMax = min(batchMax, cfg.Buffer.BatchMaxBytes)
	}
	return &ring{
		st:            st,
		lg:            lg,
		maxBytes:      maxBytes,
		highBytes:     maxBytes * highWaterPercent / 100,
		freeMax:       maxBytes / freeShareDiv,
		batchMaxBytes: batchMax,
		batchMaxItems: cfg.Buffer.BatchMaxItems,
		high:          make(chan struct{}, 1),
	}
}

// highWater returns the channel that receives a value when the buffered
// bytes cross the high-water mark from below. Signals coalesce: at most one
// is pending, so the receiver never falls behind and push never blocks.
func (r *ring) highWater() <-chan struct{} { return r.high }

// push queues a copy of data, an encoded request holding items items, for
// signal sig; data is not retained, so the caller may reuse it.
func (r *ring) push(sig signal, data []byte, items int) {
	r.pushFill(sig, len(data), items, func(dst []byte) []byte { return append(dst, data...) })
}

// pushFill queues the chunk that fill appends to an empty buffer, an
// encoded request holding items items, for signal sig. n bounds the chunk's
// length: the buffer has room for n bytes, and the budget counts that room,
// so a caller that can bound its output (the receiver enriching a request)
// writes it once, straight into the ring's buffer, instead of into scratch
// that is then copied. The buffer is a recycled one when one fits. When the
// budget is exceeded the oldest chunks are dropped and counted; a chunk
// larger than the whole budget, or one that finds no room because batches
// being sent hold the rest of the budget, is itself dropped (fill is not
// called, and the chunk counts as n bytes). pushFill never blocks on I/O,
// and fill runs outside the lock.
func (r *ring) pushFill(sig signal, n, items int, fill func(dst []byte) []byte) {
	r.mu.Lock()
	before := r.queued + r.out
	buf, need, ok := r.reserveLocked(n)
	if !ok {
		r.st.sig[sig].received.add(items, n)
		r.dropLocked(sig, items, n)
	}
	crossed := ok && before < r.highBytes && r.queued+r.out >= r.highBytes
	warn := r.warnLocked()
	r.mu.Unlock()
	if warn != "" {
		r.lg.warnf("%s", warn)
	}
	if !ok {
		return
	}
	if buf == nil {
		buf = make([]byte, 0, n) // cap n: what reserveLocked counted
	}
	buf = fill(buf[:0])
	r.st.sig[sig].received.add(items, len(buf))
	r.mu.Lock()
	r.out -= need
	// A fill that outgrew its bound got a new buffer from append: count
	// what is held. The next push trims the budget if this overran it.
	r.queued += max(need, int64(cap(buf)))
	r.seq++
	r.q[sig].pushBack(chunk{data: buf, items: items, seq: r.seq})
	r.mu.Unlock()
	if crossed {
		select {
		case r.high <- struct{}{}:
		default:
		}
	}
}

// fits reports whether a recycled buffer of capacity c may hold n bytes:
// at most twice what is needed, since the budget counts all of it.
func fits(c, n int) bool { return c >= n && c <= 2*n }

// reserveLocked makes room in the budget for a chunk of n bytes and counts
// it as out. It returns the buffer to copy into (nil: allocate n bytes) and
// the capacity counted, or false, dropping nothing, when batches being sent
// leave less than n bytes of the budget. Empty buffers go before any data
// does; a dropped chunk's buffer is reused when it fits.
func (r *ring) reserveLocked(n int) (buf []byte, need int64, ok bool) {
	if int64(n) > r.maxBytes-r.out {
		return nil, 0, false
	}
	buf = r.takeFreeLocked(n)
	need = int64(max(n, cap(buf)))
	if r.out+need > r.maxBytes {
		buf, need = nil, int64(n) // the garbage collector takes the buffer
	}
	// Terminates: with nothing queued and nothing free, out+need fits.
	for r.queued+r.out+r.freeBytes+need > r.maxBytes {
		if len(r.free) > 0 {
			last := len(r.free) - 1
			r.freeBytes -= int64(cap(r.free[last]))
			r.free[last] = nil
			r.free = r.free[:last]
			continue
		}
		c, sig, _ := r.popOldestLocked()
		r.dropLocked(sig, c.items, len(c.data))
		if size := cap(c.data); buf == nil && fits(size, n) && r.out+int64(size) <= r.maxBytes {
			buf, need = c.data[:0], int64(size)
		}
	}
	r.out += need
	return buf, need, true
}

// takeFreeLocked removes and returns the free buffer that fits n bytes
// best, or nil.
func (r *ring) takeFreeLocked(n int) []byte {
	best := -1
	for i, b := range r.free {
		if fits(cap(b), n) && (best < 0 || cap(b) < cap(r.free[best])) {
			best = i
		}
	}
	if best < 0 {
		return nil
	}
	b := r.free[best]
	last := len(r.free) - 1
	r.free[best], r.free[last] = r.free[last], nil
	r.free = r.free[:last]
	r.freeBytes -= int64(cap(b))
	return b
}

// recycleLocked keeps buf, which the caller no longer counts, on the free
// list when it is worth keeping and the list has room; otherwise the
// garbage collector gets it.
func (r *ring) recycleLocked(buf []byte) {
	c := int64(cap(buf))
	if c < recycleMinBytes || len(r.free) >= maxFreeBuffers || r.freeBytes+c > r.freeMax ||
		r.queued+r.out+r.freeBytes+c > r.maxBytes {
		return
	}
	r.free = append(r.free, buf[:0])
	r.freeBytes += c
}

// popOldestLocked removes the oldest queued chunk across signals and takes
// it out of the budget.
func (r *ring) popOldestLocked() (chunk, signal, bool) {
	oldest := -1
	for s := range r.q {
		q := &r.q[s]
		if q.n > 0 && (oldest < 0 || q.front().seq < r.q[oldest].front().seq) {
			oldest = s
		}
	}
	if oldest < 0 {
		return chunk{}, 0, false
	}
	c := r.q[oldest].popFront()
	r.queued -= int64(cap(c.data))
	return c, signal(oldest), true
}

func (r *ring) dropLocked(sig signal, items, n int) {
	r.st.sig[sig].dropped.add(items, n)
	r.pending[sig].records += int64(items)
	r.pending[sig].bytes += int64(n)
}

// warnLocked returns the "buffer full" warning when drops are pending and
// the last warning is older than dropWarnInterval, and resets the pending
// counts; otherwise "".
func (r *ring) warnLocked() string {
	var any bool
	for _, p := range r.pending {
		any = any || p.records > 0 || p.bytes > 0
	}
	if !any {
		return ""
	}
	now := time.Now()
	if !r.warned.IsZero() && now.Sub(r.warned) < dropWarnInterval {
		return ""
	}
	r.warned = now
	var b strings.Builder
	b.WriteString("buffer full, dropping oldest batch:")
	sep := " "
	for s, p := range r.pending {
		if p.records > 0 || p.bytes > 0 {
			fmt.Fprintf(&b, "%s%s %d records (%s)", sep, signal(s), p.records, humanBytes(p.bytes))
			sep = ", "
		}
	}
	fmt.Fprintf(&b, " dropped; buffer %s of %s", humanBytes(r.queued+r.out), humanBytes(r.maxBytes))
	r.pending = [numSignals]struct{ records, bytes int64 }{}
	return b.String()
}

// take removes a batch from the front of sig's queue: at least one chunk,
// then more while the batch stays within the batch byte and item limits
// and the chunks arrived no later than maxSeq (so a flush ends even while
// data keeps coming). It returns nil when nothing qualifies. The chunks
// stay counted in the budget until the batch is released or requeued.
// Nothing is copied.
func (r *ring) take(sig signal, maxSeq uint64) *batch {
	r.mu.Lock()
	defer r.mu.Unlock()
	q := &r.q[sig]
	if q.n == 0 || q.front().seq > maxSeq {
		return nil
	}
	b := r.spare[sig]
	r.spare[sig] = nil
	if b == nil {
		b = &batch{sig: sig}
	}
	for q.n > 0 {
		c := q.front()
		if c.seq > maxSeq {
			break
		}
		if len(b.chunks) > 0 {
			if b.size+len(c.data) > r.batchMaxBytes {
				break
			}
			if r.batchMaxItems > 0 && b.items+c.items > r.batchMaxItems {
				break
			}
		}
		b.size += len(c.data)
		b.items += c.items
		held := int64(cap(c.data))
		r.queued -= held
		r.out += held
		b.chunks = append(b.chunks, q.popFront())
	}
	return b
}

// lastSeq returns the arrival number of the newest chunk pushed so far; a
// flush passes it to take to export only what was there when it started.
func (r *ring) lastSeq() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.seq
}

// release ends a batch that was sent or dropped: its chunk buffers go to
// the free list (or to the collector) and the batch is kept for the next
// one of its signal.
func (r *ring) release(b *batch) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range b.chunks {
		r.out -= int64(cap(c.data))
		r.recycleLocked(c.data)
	}
	r.resetLocked(b)
}

// resetLocked empties b and keeps it as its signal's spare.
func (r *ring) resetLocked(b *batch) {
	clear(b.chunks) // drop the references so the chunks can be collected
	b.chunks = b.chunks[:0]
	b.items, b.size = 0, 0
	if r.spare[b.sig] == nil {
		r.spare[b.sig] = b
	}
}

// requeue puts a batch that could not be sent back at the front of its
// queue, in its original order. Its chunks were counted while taken, so
// nothing has to be dropped for them; they are the oldest, so they are the
// first to go when the next push needs room.
func (r *ring) requeue(b *batch) {
	r.mu.Lock()
	defer r.mu.Unlock()
	q := &r.q[b.sig]
	for i := len(b.chunks) - 1; i >= 0; i-- {
		held := int64(cap(b.chunks[i].data))
		r.out -= held
		r.queued += held
		q.pushFront(b.chunks[i])
	}
	r.resetLocked(b)
}

// bytes returns the bytes buffered for all signals, in buffer capacity
// (batches being sent and free buffers are not counted).
func (r *ring) bytes() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.queued
}

// usage returns the budget's parts: queued, out (being copied in or sent)
// and free, in buffer capacity. Their sum never exceeds the budget.
func (r *ring) usage() (queued, out, free int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.queued, r.out, r.freeBytes
}

// len returns the number of chunks buffered for sig.
func (r *ring) len(sig signal) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.q[sig].n
}

// records returns the number of items (spans, data points, log records)
// buffered for sig.
func (r *ring) records(sig signal) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.q[sig].items
}

// empty reports whether no chunk of any signal is buffered.
func (r *ring) empty() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.q[sigTraces].n == 0 && r.q[sigMetrics].n == 0 && r.q[sigLogs].n == 0
}

// counter counts records and their encoded bytes.
type counter struct {
	records, bytes atomic.Int64
}

func (c *counter) add(records, bytes int) {
	c.records.Add(int64(records))
	c.bytes.Add(int64(bytes))
}

// sigStats are the counters of one signal.
type sigStats struct {
	received counter // pushed into the ring
	exported counter // accepted by the backend (partial rejections included)
	dropped  counter // lost: ring overflow, non-retryable answers, no destination
	retried  counter // re-sent, once per retry attempt
	retries  atomic.Int64
}

// stats are the extension's counters, per signal. The zero value is ready.
type stats struct {
	sig [numSignals]sigStats
}

// summary is the one line logged at SHUTDOWN, for example
// "traces received 120 (30 KB) exported 120 dropped 0 retried 2; metrics ...".
func (st *stats) summary() string {
	var b strings.Builder
	for s := range numSignals {
		c := &st.sig[s]
		if s > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "%s received %d (%s) exported %d dropped %d retried %d",
			s, c.received.records.Load(), humanBytes(c.received.bytes.Load()),
			c.exported.records.Load(), c.dropped.records.Load(), c.retries.Load())
	}
	return b.String()
}

// humanBytes formats n with a binary unit, for log lines.
func humanBytes(n int64) string {
	switch {
	case n < 1<<10:
		return fmt.Sprintf("%d B", n)
	case n < 1<<20:
		return fmt.Sprintf("%.1f KB", float64(n)/(1<<10))
	default:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	}
}
