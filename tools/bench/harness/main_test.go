// main_test.go tests the harness's own arithmetic and the parsing of the
// extension's log lines it depends on: a changed log format must fail
// here, not turn a benchmark section into zeros.
package main

import (
	"os"
	"testing"
)

func TestSummarise(t *testing.T) {
	tests := []struct {
		in   []float64
		want dist
	}{
		{nil, dist{}},
		{[]float64{3}, dist{N: 1, Min: 3, P50: 3, P90: 3, P99: 3, Max: 3}},
		{[]float64{4, 1, 3, 2}, dist{N: 4, Min: 1, P50: 2.5, P90: 4, P99: 4, Max: 4}},
		{[]float64{10, 9, 8, 7, 6, 5, 4, 3, 2, 1}, dist{N: 10, Min: 1, P50: 5.5, P90: 9, P99: 10, Max: 10}},
	}
	for _, tt := range tests {
		if got := summarise(tt.in); got != tt.want {
			t.Errorf("summarise(%v) = %+v; want %+v", tt.in, got, tt.want)
		}
	}
}

// The lines below are what lifecycle.go logs (logger prefix included).
func TestLogLineParsing(t *testing.T) {
	line := "otel-lambda-extension: DEBUG init phases: config 118.2µs, listeners 612.5µs, register 1.04ms, subscribe 731µs"
	m := phasesRE.FindStringSubmatch(line)
	if m == nil || m[1] != "118.2µs" || m[4] != "731µs" {
		t.Errorf("phasesRE on %q = %q; want config 118.2µs … subscribe 731µs", line, m)
	}
	line = "otel-lambda-extension: DEBUG invoke 0b3d7c4e-2a51-4d26-9f0e-000000000001: plan end"
	if m := planRE.FindStringSubmatch(line); m == nil || m[1] != "0b3d7c4e-2a51-4d26-9f0e-000000000001" || m[2] != "end" {
		t.Errorf("planRE on %q = %q; want the id and end", line, m)
	}
	line = "otel-lambda-extension: DEBUG flush (end of invocation) took 1.234ms: sent 1 batches (3 records, 1.2 KB) dropped 0 requeued 0 retries 0 in 1ms"
	if m := flushRE.FindStringSubmatch(line); m == nil || m[1] != "end of invocation" || m[2] != "1.234ms" {
		t.Errorf("flushRE on %q = %q; want end of invocation, 1.234ms", line, m)
	}
	line = "init net/http @1.2 ms, 0.045 ms clock, 4096 bytes, 40 allocs"
	if m := initTraceRE.FindStringSubmatch(line); m == nil || m[1] != "net/http" || m[2] != "0.045" {
		t.Errorf("initTraceRE on %q = %q; want net/http, 0.045", line, m)
	}
}

func TestProcReaders(t *testing.T) {
	rss, err := procStatus(os.Getpid(), "VmRSS")
	if err != nil || rss <= 0 {
		t.Errorf("procStatus(self, VmRSS) = %v, %v; want > 0", rss, err)
	}
	if _, err := procStatus(os.Getpid(), "NoSuchKey"); err == nil {
		t.Errorf("procStatus(self, NoSuchKey): got no error; want one")
	}
	if cpu, err := cpuSeconds(os.Getpid()); err != nil || cpu < 0 {
		t.Errorf("cpuSeconds(self) = %v, %v; want ≥ 0", cpu, err)
	}
}

func TestParseEnv(t *testing.T) {
	got := parseEnv("GOMEMLIMIT=24MiB,GOGC=25,bad,=x")
	if len(got) != 2 || got["GOMEMLIMIT"] != "24MiB" || got["GOGC"] != "25" {
		t.Errorf("parseEnv = %v; want GOMEMLIMIT and GOGC only", got)
	}
}
