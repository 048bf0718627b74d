// batch.go owns the ring buffer between the receivers and the exporter: a
// FIFO of encoded chunks per signal under one byte budget shared by all
// signals, batch assembly by concatenation, and the counters of what was
// received, exported, dropped and retried.
//
// Invariants: a chunk is one validated, enriched Export*ServiceRequest in
// protobuf whose item count is known; it is never decoded again. Concatenated
// chunks are one valid request (otlp.md section 6). The bytes held in the
// queues never exceed the budget after push or requeue returns; when they
// would, the oldest chunk by arrival, whatever its signal, is dropped and
// counted. Chunks taken for a batch are out of the queues (and out of the
// budget) until they are released or put back at the front.
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

// chunk is one encoded request in a queue.
type chunk struct {
	data  []byte
	items int
	seq   uint64 // arrival order across all signals; kept when requeued
}

// chunkQueue is a growable circular FIFO of chunks that also takes chunks
// back at its front. It allocates only when it grows.
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

// batch is one export request assembled from the front of a signal's queue.
// It belongs to the caller of take until it is passed to release or
// requeue, and must not be used after that.
type batch struct {
	sig    signal
	data   []byte // the request: one chunk's bytes, or buf holding several
	items  int
	chunks []chunk // what to put back if the batch cannot be sent
	buf    []byte  // scratch for concatenation, reused across batches
}

// ring is the bounded buffer of encoded chunks. All methods are safe for
// concurrent use; none of them does I/O except the rate-limited warning.
type ring struct {
	st *stats
	lg *logger

	maxBytes      int64
	highBytes     int64
	batchMaxBytes int
	batchMaxItems int
	high          chan struct{} // capacity 1: pending signals coalesce

	mu      sync.Mutex
	q       [numSignals]chunkQueue
	held    int64 // bytes in the queues, the budget's measure
	seq     uint64
	spare   [numSignals]*batch                         // one reusable batch (and its scratch) per signal
	warned  time.Time                                  // last "buffer full" warning
	pending [numSignals]struct{ records, bytes int64 } // drops since that warning
}

// newRing returns an empty ring with the budget and batch limits of cfg.
func newRing(cfg *Config, st *stats, lg *logger) *ring {
	maxBytes := cfg.Buffer.MaxBytes
	if maxBytes <= 0 {
		maxBytes = defaultRingBytes
	}
	return &ring{
		st:            st,
		lg:            lg,
		maxBytes:      maxBytes,
		highBytes:     maxBytes * highWaterPercent / 100,
		batchMaxBytes: cfg.Buffer.BatchMaxBytes,
		batchMaxItems: cfg.Buffer.BatchMaxItems,
		high:          make(chan struct{}, 1),
	}
}

// highWater returns the channel that receives a value when the buffered
// bytes cross the high-water mark from below. Signals coalesce: at most one
// is pending, so the receiver never falls behind and push never blocks.
func (r *ring) highWater() <-chan struct{} { return r.high }

// push queues chunk, an encoded request holding items items, for signal sig.
// The ring owns chunk from now on. When the budget is exceeded the oldest
// chunks are dropped and counted; a chunk larger than the whole budget is
// itself dropped. push never blocks on I/O.
func (r *ring) push(sig signal, data []byte, items int) {
	r.st.sig[sig].received.add(items, len(data))
	var warn string
	r.mu.Lock()
	before := r.held
	if int64(len(data)) > r.maxBytes {
		r.dropLocked(sig, items, len(data))
	} else {
		r.seq++
		r.q[sig].pushBack(chunk{data: data, items: items, seq: r.seq})
		r.held += int64(len(data))
		r.trimLocked()
	}
	crossed := before < r.highBytes && r.held >= r.highBytes
	warn = r.warnLocked()
	r.mu.Unlock()
	if crossed {
		select {
		case r.high <- struct{}{}:
		default:
		}
	}
	if warn != "" {
		r.lg.warnf("%s", warn)
	}
}

// trimLocked drops the oldest chunks, across signals, until the budget holds.
func (r *ring) trimLocked() {
	for r.held > r.maxBytes {
		oldest := -1
		for s := range r.q {
			q := &r.q[s]
			if q.n > 0 && (oldest < 0 || q.front().seq < r.q[oldest].front().seq) {
				oldest = s
			}
		}
		c := r.q[oldest].popFront()
		r.held -= int64(len(c.data))
		r.dropLocked(signal(oldest), c.items, len(c.data))
	}
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
	fmt.Fprintf(&b, " dropped; buffer %s of %s", humanBytes(r.held), humanBytes(r.maxBytes))
	r.pending = [numSignals]struct{ records, bytes int64 }{}
	return b.String()
}

// take removes a batch from the front of sig's queue: at least one chunk,
// then more while the batch stays within the batch byte and item limits
// and the chunks arrived no later than maxSeq (so a flush ends even while
// data keeps coming). It returns nil when nothing qualifies. Several chunks
// are concatenated into the batch's reused scratch buffer; no decoding.
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
	size := 0
	for q.n > 0 {
		c := q.front()
		if c.seq > maxSeq {
			break
		}
		if len(b.chunks) > 0 {
			if r.batchMaxBytes > 0 && size+len(c.data) > r.batchMaxBytes {
				break
			}
			if r.batchMaxItems > 0 && b.items+c.items > r.batchMaxItems {
				break
			}
		}
		size += len(c.data)
		b.items += c.items
		b.chunks = append(b.chunks, q.popFront())
	}
	r.held -= int64(size)
	if len(b.chunks) == 1 {
		b.data = b.chunks[0].data
	} else {
		b.buf = b.buf[:0]
		for _, c := range b.chunks {
			b.buf = append(b.buf, c.data...)
		}
		b.data = b.buf
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

// release ends a batch that was sent or dropped: its chunks are let go and
// its scratch buffer is kept for the next batch of the signal.
func (r *ring) release(b *batch) {
	clear(b.chunks) // drop the references so the chunks can be collected
	b.chunks = b.chunks[:0]
	b.data = nil
	b.items = 0
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.spare[b.sig] == nil {
		r.spare[b.sig] = b
	}
}

// requeue puts a batch that could not be sent back at the front of its
// queue, in its original order, then enforces the budget again: the
// requeued chunks are the oldest, so they are the first to go if new data
// filled the ring meanwhile.
func (r *ring) requeue(b *batch) {
	var warn string
	func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		q := &r.q[b.sig]
		for i := len(b.chunks) - 1; i >= 0; i-- {
			q.pushFront(b.chunks[i])
			r.held += int64(len(b.chunks[i].data))
		}
		r.trimLocked()
		warn = r.warnLocked()
	}()
	r.release(b)
	if warn != "" {
		r.lg.warnf("%s", warn)
	}
}

// bytes returns the bytes buffered for all signals (batches being sent are
// not counted).
func (r *ring) bytes() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.held
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
	return r.held == 0 && r.q[sigTraces].n == 0 && r.q[sigMetrics].n == 0 && r.q[sigLogs].n == 0
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
