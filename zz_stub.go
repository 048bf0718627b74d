package main

import (
	"context"
	"io"
	"net/http"
	"time"
)

type enricher struct{}

func newEnricher([]encodedKV) *enricher                     { return nil }
func (e *enricher) enrich(dst []byte, s signal, b []byte) []byte { return dst }

type stats struct{}

func (s *stats) summary() string { return "" }

type ring struct{}

func newRing(int64, *stats, *logger) *ring         { return nil }
func (r *ring) push(signal, []byte, int)           {}
func (r *ring) bytes() int64                       { return 0 }
func (r *ring) empty() bool                        { return true }
func (r *ring) highWater() <-chan struct{}         { return nil }

type flushResult struct{ err error }

func (f flushResult) String() string { return "" }

type exporter struct{}

func newExporter(*Config, *ring, *stats, *logger) (*exporter, error) { return nil, nil }
func (e *exporter) flush(context.Context) flushResult                { return flushResult{} }
func (e *exporter) closeIdle()                                       {}

type resource struct{}

func detectResource(*Config, func(string) string) *resource { return nil }
func (r *resource) setAccountID(string)                      {}
func (r *resource) attrs() []encodedKV                       { return nil }
func accountFromARN(string) string                           { return "" }

type telemetry struct{}

func newTelemetry(*Config, *resource, func(signal, []byte, int), *logger) *telemetry { return nil }
func (t *telemetry) subscribe(context.Context, *http.Client, string, string, string) (bool, error) {
	return false, nil
}
func (t *telemetry) ServeHTTP(http.ResponseWriter, *http.Request)              {}
func (t *telemetry) invokeStarted(string, string, string, time.Time)          {}
func (t *telemetry) runtimeDone(string) <-chan struct{}                        { return nil }
func (t *telemetry) shutdown(string)                                           {}
func newGRPCHandler(func(signal, []byte) error, int64, *logger) http.Handler   { return nil }
func loadConfig(func(string) string, func(string) ([]byte, error)) (Config, error) { return Config{}, nil }
func configErrorType(error) string                                             { return "" }
func usage(io.Writer)                                                          {}
func runHealthCheck(context.Context, func(string) string, io.Writer, io.Writer) int { return 1 }
