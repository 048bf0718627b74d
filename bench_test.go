// bench_test.go owns the root package's benchmarks of hot paths that no
// other file's benchmarks cover: the whole OTLP/HTTP receive path (content
// type, gzip, body limit, JSON transcoding, validation, enrichment, queue)
// in process, and gzip levels (HuffmanOnly too) on span batches and on the
// platform log records the Telemetry API produces. tools/bench/run.sh runs every benchmark of the package.
package main

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"otel-lambda-extension/internal/otlpsink"
)

// BenchmarkReceiverServe measures one OTLP/HTTP traces request of 512
// spans through the receiver's handler, in process (no socket): what the
// function's SDK waits for on every export, minus loopback.
func BenchmarkReceiverServe(b *testing.B) {
	msg := sampleTraces(512)
	pb := mustMarshal(b, msg)
	js, err := otlpsink.MarshalJSON(msg)
	if err != nil {
		b.Fatal(err)
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(pb)
	zw.Close()
	for _, c := range []struct {
		name, ct, enc string
		body          []byte
	}{
		{"protobuf", ctProtobuf, "", pb},
		{"protobuf-gzip", ctProtobuf, "gzip", gz.Bytes()},
		{"json", ctJSON, "", js},
	} {
		b.Run(c.name, func(b *testing.B) {
			queued := 0
			rc := newReceiver(16<<20, newEnricher(testAttrs()), fillInto(func(_ signal, chunk []byte, items int) { queued += items }), newLogger(io.Discard, levelInfo))
			h := rc.routes()
			b.SetBytes(int64(len(c.body)))
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequest(http.MethodPost, "/v1/traces", bytes.NewReader(c.body))
				req.Header.Set("Content-Type", c.ct)
				if c.enc != "" {
					req.Header.Set("Content-Encoding", c.enc)
				}
				w := httptest.NewRecorder()
				h.ServeHTTP(w, req)
				if w.Code != http.StatusOK {
					b.Fatalf("status %d: %s", w.Code, w.Body)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(queued), "ns/span")
		})
	}
}

// BenchmarkGzipLevels compares gzip levels on two realistic payloads
// (BenchmarkGzip in export_test.go does BestSpeed and Default on a span
// batch): a 4 MB-class batch of spans with the attributes of an
// instrumented handler, and the log records that Telemetry API batches
// become. HuffmanOnly is the cheapest compression there is: entropy coding
// without matching.
func BenchmarkGzipLevels(b *testing.B) {
	var logs []byte
	cfg := telConfig()
	tel := newTelemetry(cfg, detectResource(cfg, telLambdaEnv(nil)), func(sig signal, chunk []byte, _ int) {
		if sig == sigLogs {
			logs = append(logs, chunk...)
		}
	}, newLogger(io.Discard, levelInfo))
	for _, body := range telBenchBatches(200) {
		tel.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body)))
	}
	if len(logs) == 0 {
		b.Fatal("the telemetry batches produced no log records")
	}
	var spans []byte
	for range 8 {
		spans = append(spans, mustMarshal(b, sampleTraces(512))...)
	}
	for _, p := range []struct {
		name string
		data []byte
	}{{"spans", spans}, {"platform-logs", logs}} {
		for _, lv := range []struct {
			name  string
			level int
		}{{"HuffmanOnly", gzip.HuffmanOnly}, {"BestSpeed", gzip.BestSpeed}, {"Default", gzip.DefaultCompression}} {
			b.Run(p.name+"/"+lv.name, func(b *testing.B) {
				w, _ := gzip.NewWriterLevel(nil, lv.level)
				var buf bytes.Buffer
				b.SetBytes(int64(len(p.data)))
				b.ReportAllocs()
				for b.Loop() {
					buf.Reset()
					w.Reset(&buf)
					w.Write(p.data)
					w.Close()
				}
				b.ReportMetric(float64(len(p.data)), "in-bytes")
				b.ReportMetric(float64(buf.Len()), "out-bytes")
				b.ReportMetric(float64(len(p.data))/float64(buf.Len()), "ratio")
			})
		}
	}
}
