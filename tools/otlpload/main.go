// Command otlpload is the load generator of the benchmarks: it builds one
// realistic OTLP/HTTP request (spans, metric data points or log records,
// with the attributes, events and ids an instrumented Lambda function
// produces) and sends it as fast as allowed over keep-alive connections,
// then prints one line of JSON with what happened.
//
//	go run ./tools/otlpload -url http://127.0.0.1:4318 -signal traces \
//	    -spans 512 -requests 2000 -concurrency 4 -format protobuf -gzip
//
// The request is built once, so the numbers measure the receiver, not the
// generator. The run is bounded by -requests and by -timeout; the exit code
// is 1 when any request failed or the timeout cut the run short, 2 for a
// usage error.
package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"otel-lambda-extension/internal/otlpsink"

	"google.golang.org/protobuf/proto"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// headerFlags collects repeated -header name=value flags.
type headerFlags [][2]string

func (h *headerFlags) String() string { return fmt.Sprint(*h) }
func (h *headerFlags) Set(v string) error {
	name, value, ok := strings.Cut(v, "=")
	if !ok || name == "" {
		return fmt.Errorf("want name=value, got %q", v)
	}
	*h = append(*h, [2]string{name, value})
	return nil
}

type config struct {
	url         string
	signal      string
	items       int
	requests    int
	concurrency int
	format      string
	gzip        bool
	timeout     time.Duration
	seed        uint64
	headers     headerFlags
}

// result is the one JSON line otlpload prints.
type result struct {
	URL             string  `json:"url"`
	Signal          string  `json:"signal"`
	Format          string  `json:"format"`
	Gzip            bool    `json:"gzip"`
	Concurrency     int     `json:"concurrency"`
	ItemsPerRequest int     `json:"items_per_request"`
	BodyBytes       int     `json:"body_bytes"`
	Requests        int64   `json:"requests"` // sent, whatever the answer
	OK              int64   `json:"ok"`
	Errors          int64   `json:"errors"`
	Spans           int64   `json:"spans"` // items in requests answered 2xx
	WallSeconds     float64 `json:"wall_s"`
	SpansPerSecond  float64 `json:"spans_per_s"`
	P50Millis       float64 `json:"p50_ms"`
	P99Millis       float64 `json:"p99_ms"`
	TimedOut        bool    `json:"timed_out"` // -timeout (or an interrupt) ended the run
	FirstError      string  `json:"first_error,omitempty"`
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var c config
	fs := flag.NewFlagSet("otlpload", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.url, "url", "http://127.0.0.1:4318", "receiver base URL; /v1/<signal> is appended unless the URL has a path")
	fs.StringVar(&c.signal, "signal", "traces", "traces, metrics or logs")
	fs.IntVar(&c.items, "spans", 512, "items per request: spans, metric data points or log records")
	fs.IntVar(&c.requests, "requests", 2000, "requests to send")
	fs.IntVar(&c.concurrency, "concurrency", 4, "requests in flight (and keep-alive connections)")
	fs.StringVar(&c.format, "format", "protobuf", "protobuf or json")
	fs.BoolVar(&c.gzip, "gzip", false, "send Content-Encoding: gzip")
	// One minute bounds a benchmark that hangs on a stuck receiver while
	// leaving room for the default 2000 requests on a slow shared machine.
	fs.DurationVar(&c.timeout, "timeout", time.Minute, "bound on the whole run")
	fs.Uint64Var(&c.seed, "seed", 1, "seed of the generated ids and values")
	fs.Var(&c.headers, "header", "extra request header name=value (repeatable)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if err := c.validate(); err != nil {
		fmt.Fprintf(stderr, "otlpload: %v\n", err)
		return 2
	}

	body, err := buildBody(c)
	if err != nil {
		fmt.Fprintf(stderr, "otlpload: %v\n", err)
		return 1
	}
	res := send(ctx, c, body)
	line, _ := json.Marshal(res)
	fmt.Fprintf(stdout, "%s\n", line)
	if res.Errors > 0 || res.TimedOut {
		return 1
	}
	return 0
}

func (c *config) validate() error {
	var errs []error
	u, err := url.Parse(c.url)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("-url %q: want http(s)://host:port[/path]", c.url))
	} else if u.Path == "" || u.Path == "/" {
		c.url = strings.TrimSuffix(c.url, "/") + "/v1/" + c.signal
	}
	if c.signal != "traces" && c.signal != "metrics" && c.signal != "logs" {
		errs = append(errs, fmt.Errorf("-signal %q: want traces, metrics or logs", c.signal))
	}
	if c.format != "protobuf" && c.format != "json" {
		errs = append(errs, fmt.Errorf("-format %q: want protobuf or json", c.format))
	}
	if c.items < 1 {
		errs = append(errs, fmt.Errorf("-spans %d: want at least 1", c.items))
	}
	if c.requests < 1 {
		errs = append(errs, fmt.Errorf("-requests %d: want at least 1", c.requests))
	}
	if c.concurrency < 1 {
		errs = append(errs, fmt.Errorf("-concurrency %d: want at least 1", c.concurrency))
	}
	if c.timeout <= 0 {
		errs = append(errs, fmt.Errorf("-timeout %v: want a positive duration", c.timeout))
	}
	return errors.Join(errs...)
}

// buildBody encodes (and compresses) the one request every send reuses.
func buildBody(c config) ([]byte, error) {
	rng := rand.New(rand.NewPCG(c.seed, c.seed^0x9e3779b97f4a7c15))
	var m proto.Message
	switch c.signal {
	case "traces":
		m = genTraces(rng, c.items)
	case "metrics":
		m = genMetrics(rng, c.items)
	default:
		m = genLogs(rng, c.items)
	}
	var body []byte
	var err error
	if c.format == "json" {
		body, err = otlpsink.MarshalJSON(m)
	} else {
		body, err = proto.Marshal(m)
	}
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", c.signal, err)
	}
	if !c.gzip {
		return body, nil
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(body)
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("gzip: %w", err)
	}
	return buf.Bytes(), nil
}

func send(ctx context.Context, c config, body []byte) result {
	res := result{
		URL: c.url, Signal: c.signal, Format: c.format, Gzip: c.gzip, Concurrency: c.concurrency,
		ItemsPerRequest: c.items, BodyBytes: len(body),
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()

	tr := &http.Transport{
		// One keep-alive connection per worker, never more: the point is
		// to measure the receiver, not connection setup.
		MaxIdleConnsPerHost: c.concurrency,
		MaxConnsPerHost:     c.concurrency,
		IdleConnTimeout:     90 * time.Second,
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	contentType := "application/x-protobuf"
	if c.format == "json" {
		contentType = "application/json"
	}

	var (
		next, sent, ok, failed atomic.Int64
		firstErr               sync.Once
		mu                     sync.Mutex
		latencies              = make([]time.Duration, 0, c.requests)
		wg                     sync.WaitGroup
	)
	fail := func(err error) {
		failed.Add(1)
		firstErr.Do(func() { res.FirstError = err.Error() })
	}
	start := time.Now()
	for range c.concurrency {
		wg.Go(func() {
			var mine []time.Duration
			for next.Add(1) <= int64(c.requests) && ctx.Err() == nil {
				req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
				if err != nil {
					fail(err)
					continue
				}
				req.Header.Set("Content-Type", contentType)
				if c.gzip {
					req.Header.Set("Content-Encoding", "gzip")
				}
				for _, h := range c.headers {
					req.Header.Set(h[0], h[1])
				}
				t0 := time.Now()
				sent.Add(1)
				resp, err := client.Do(req)
				if err != nil {
					fail(err)
					continue
				}
				// Drain so the connection is reused; the answer of a
				// receiver is small, 1 MiB is plenty.
				io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
				resp.Body.Close()
				mine = append(mine, time.Since(t0))
				if resp.StatusCode/100 != 2 {
					fail(fmt.Errorf("status %s", resp.Status))
					continue
				}
				ok.Add(1)
			}
			mu.Lock()
			latencies = append(latencies, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	wall := time.Since(start)

	res.Requests, res.OK, res.Errors = sent.Load(), ok.Load(), failed.Load()
	// Read before the deferred cancel: a run that finished in time has a
	// live context here.
	res.TimedOut = ctx.Err() != nil
	res.Spans = res.OK * int64(c.items)
	res.WallSeconds = wall.Seconds()
	if wall > 0 {
		res.SpansPerSecond = math.Round(float64(res.Spans) / wall.Seconds())
	}
	slices.Sort(latencies)
	res.P50Millis = millis(percentile(latencies, 50))
	res.P99Millis = millis(percentile(latencies, 99))
	return res
}

// percentile is the nearest-rank p-th percentile of sorted d; 0 if empty.
func percentile(d []time.Duration, p int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	i := (len(d)*p + 99) / 100
	return d[max(i-1, 0)]
}

func millis(d time.Duration) float64 {
	return math.Round(float64(d)/1e3) / 1e3
}
