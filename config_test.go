package main

import (
	"bytes"
	"errors"
	"io/fs"
	"maps"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// testEnv returns a getenv over m.
func testEnv(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// testFiles returns a readFile over m; missing names are fs.ErrNotExist.
func testFiles(m map[string]string) func(string) ([]byte, error) {
	return func(name string) ([]byte, error) {
		if s, ok := m[name]; ok {
			return []byte(s), nil
		}
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
}

const testBackend = "https://collector.example.com"

// withBackend is env plus an OTLP endpoint, so that only what the test
// sets can be wrong.
func withBackend(kv ...string) map[string]string {
	m := map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": testBackend}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

func load(t *testing.T, env map[string]string, files map[string]string) (Config, error) {
	t.Helper()
	return loadConfig(testEnv(env), testFiles(files))
}

func mustLoad(t *testing.T, env map[string]string, files map[string]string) Config {
	t.Helper()
	c, err := load(t, env, files)
	if err != nil {
		t.Fatalf("loadConfig: %v", err)
	}
	return c
}

// configErrors unpacks the joined error into its *configErrors.
func configErrors(t *testing.T, err error) []*configError {
	t.Helper()
	var out []*configError
	var errs []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	} else if err != nil {
		errs = []error{err}
	}
	for _, e := range errs {
		ce, ok := e.(*configError)
		if !ok {
			t.Fatalf("error %T %q is not a *configError", e, e)
		}
		out = append(out, ce)
	}
	return out
}

func TestLoadConfigDefaults(t *testing.T) {
	c := mustLoad(t, withBackend(), nil)
	for _, tc := range []struct {
		name      string
		got, want any
	}{
		{"LogLevel", c.LogLevel, levelInfo},
		{"ServiceName", c.ServiceName, ""},
		{"ResourceAttributes", c.ResourceAttributes, []keyValue(nil)},
		{"Receiver.Host", c.Receiver.Host, "127.0.0.1"},
		{"Receiver.Port", c.Receiver.Port, 4318},
		{"Receiver.GRPCPort", c.Receiver.GRPCPort, 4317},
		{"Receiver.MaxBodyBytes", c.Receiver.MaxBodyBytes, int64(16 << 20)},
		{"Flush.Strategy", c.Flush.Strategy, flushStrategy{Mode: flushAdaptive}},
		{"Flush.Timeout", c.Flush.Timeout, 5 * time.Second},
		{"Telemetry.Enabled", c.Telemetry.Enabled, true},
		{"Telemetry.Types", c.Telemetry.Types, []string{"platform", "function", "extension"}},
		{"Telemetry.TimeoutMs", c.Telemetry.TimeoutMs, 25},
		{"Telemetry.MaxItems", c.Telemetry.MaxItems, 1000},
		{"Telemetry.MaxBytes", c.Telemetry.MaxBytes, 262144},
		{"Telemetry.PlatformLogs", c.Telemetry.PlatformLogs, true},
		{"Telemetry.PlatformSpans", c.Telemetry.PlatformSpans, true},
		{"Telemetry.PlatformMetrics", c.Telemetry.PlatformMetrics, true},
		{"Buffer.MaxBytes", c.Buffer.MaxBytes, int64(8 << 20)},
		{"Buffer.BatchMaxBytes", c.Buffer.BatchMaxBytes, 4 << 20},
		{"Buffer.BatchMaxItems", c.Buffer.BatchMaxItems, 0},
		{"Retry.MaxRetries", c.Retry.MaxRetries, 3},
		{"Retry.InitialDelay", c.Retry.InitialDelay, time.Second},
		{"Retry.MaxDelay", c.Retry.MaxDelay, 30 * time.Second},
		{"O2.Enabled", c.O2.Enabled, false},
		{"O2.Endpoint", c.O2.Endpoint, "https://api.openobserve.ai"},
		{"O2.Stream", c.O2.Stream, "default"},
		{"O2.BatchSize", c.O2.BatchSize, 100},
		{"O2.FlushInterval", c.O2.FlushInterval, 5 * time.Second},
		{"O2.RequestTimeout", c.O2.RequestTimeout, 30 * time.Second},
		{"OTLPConfigured", c.OTLPConfigured, true},
		{"ConfigPath", c.ConfigPath, ""},
		{"Export[traces]", c.Export[sigTraces], exportTarget{
			Endpoint: testBackend + "/v1/traces", Protocol: protoHTTPProtobuf, Compression: "gzip", Timeout: 10 * time.Second}},
		{"Export[metrics].Endpoint", c.Export[sigMetrics].Endpoint, testBackend + "/v1/metrics"},
		{"Export[logs].Endpoint", c.Export[sigLogs].Endpoint, testBackend + "/v1/logs"},
	} {
		if !reflect.DeepEqual(tc.got, tc.want) {
			t.Errorf("%s: got %#v; want %#v", tc.name, tc.got, tc.want)
		}
	}
}

// TestConfigVariables sets one variable at a time, good and bad.
func TestConfigVariables(t *testing.T) {
	ms := time.Millisecond
	for _, tc := range []struct {
		env, value string
		get        func(Config) any
		want       any    // when errWant is ""
		errWant    string // substring of the error; the variable must be named
	}{
		{"OTEL_EXPORTER_OTLP_PROTOCOL", "http/json", func(c Config) any { return c.Export[sigLogs].Protocol }, protoHTTPJSON, ""},
		{"OTEL_EXPORTER_OTLP_PROTOCOL", "http", func(c Config) any { return c.Export[sigLogs].Protocol }, protoHTTPProtobuf, ""},
		{"OTEL_EXPORTER_OTLP_PROTOCOL", "grpc", func(c Config) any { return c.Export[sigLogs].Endpoint }, "https://collector.example.com:443", ""},
		{"OTEL_EXPORTER_OTLP_PROTOCOL", "HTTP/PROTOBUF", nil, nil, "want grpc, http/protobuf or http/json"},
		{"OTEL_EXPORTER_OTLP_PROTOCOL", "thrift", nil, nil, "want grpc, http/protobuf or http/json"},
		{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/json", func(c Config) any { return [2]string{c.Export[sigTraces].Protocol, c.Export[sigLogs].Protocol} }, [2]string{protoHTTPJSON, protoHTTPProtobuf}, ""},
		{"OTEL_EXPORTER_OTLP_COMPRESSION", "none", func(c Config) any { return c.Export[sigMetrics].Compression }, "none", ""},
		{"OTEL_EXPORTER_OTLP_COMPRESSION", "zstd", nil, nil, "want gzip or none"},
		{"OTEL_EXPORTER_OTLP_METRICS_COMPRESSION", "none", func(c Config) any {
			return [2]string{c.Export[sigMetrics].Compression, c.Export[sigTraces].Compression}
		}, [2]string{"none", "gzip"}, ""},
		{"OTEL_EXPORTER_OTLP_TIMEOUT", "500", func(c Config) any { return c.Export[sigTraces].Timeout }, 500 * ms, ""},
		{"OTEL_EXPORTER_OTLP_TIMEOUT", "0", func(c Config) any { return c.Export[sigTraces].Timeout }, time.Duration(0), ""},
		{"OTEL_EXPORTER_OTLP_TIMEOUT", "30s", func(c Config) any { return c.Export[sigTraces].Timeout }, 30 * time.Second, ""},
		{"OTEL_EXPORTER_OTLP_TIMEOUT", "-1", nil, nil, "want milliseconds"},
		{"OTEL_EXPORTER_OTLP_TIMEOUT", "5 s", nil, nil, "want milliseconds"},
		{"OTEL_EXPORTER_OTLP_LOGS_TIMEOUT", "2s", func(c Config) any { return [2]time.Duration{c.Export[sigLogs].Timeout, c.Export[sigTraces].Timeout} }, [2]time.Duration{2 * time.Second, 10 * time.Second}, ""},
		{"OTEL_EXPORTER_OTLP_INSECURE", "TRUE", func(c Config) any { return c.Export[sigTraces].Insecure }, true, ""},
		{"OTEL_EXPORTER_OTLP_INSECURE", "yes", nil, nil, "want true or false"},
		{"OTEL_EXPORTER_OTLP_CERTIFICATE", "/opt/ca.pem", func(c Config) any { return c.Export[sigTraces].Certificate }, "/opt/ca.pem", ""},
		{"OTEL_EXPORTER_OTLP_CERTIFICATE", "/opt/missing.pem", nil, nil, "want a readable PEM file"},
		{"OTEL_EXPORTER_OTLP_CERTIFICATE", "/opt/notpem.txt", nil, nil, "want a PEM file (no -----BEGIN line found)"},
		{"OTEL_EXPORTER_OTLP_CLIENT_KEY", "/opt/ca.pem", nil, nil, "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE is not set; want a PEM file, because OTEL_EXPORTER_OTLP_CLIENT_KEY is set"},
		{"OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "Delta", func(Config) any { return nil }, nil, ""},
		{"OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "gauge", nil, nil, "want cumulative, delta or lowmemory"},
		{"OTEL_SERVICE_NAME", "checkout", func(c Config) any { return c.ServiceName }, "checkout", ""},
		{"OTEL_RESOURCE_ATTRIBUTES", "team=pay,deployment.environment=prod%2Ceu", func(c Config) any { return c.ResourceAttributes },
			[]keyValue{{"team", "pay"}, {"deployment.environment", "prod,eu"}}, ""},
		{"OTEL_RESOURCE_ATTRIBUTES", "team=pay,broken=%zz", nil, nil, "OTEL_RESOURCE_ATTRIBUTES=\"team=pay,broken=%zz\": want key=value pairs"},
		{"OTEL_RESOURCE_ATTRIBUTES", "noequals", nil, nil, "item 1 has no '='"},
		{"OTEL_LAMBDA_FLUSH_TIMEOUT", "2s", func(c Config) any { return c.Flush.Timeout }, 2 * time.Second, ""},
		{"OTEL_LAMBDA_FLUSH_TIMEOUT", "750", func(c Config) any { return c.Flush.Timeout }, 750 * ms, ""},
		{"OTEL_LAMBDA_FLUSH_TIMEOUT", "abc", nil, nil, `OTEL_LAMBDA_FLUSH_TIMEOUT="abc": want a duration such as 5s or 500ms`},
		{"OTEL_LAMBDA_FLUSH_TIMEOUT", "0", nil, nil, "want a duration from 1ms to 15m0s"},
		{"OTEL_LAMBDA_FLUSH_TIMEOUT", "16m", nil, nil, "want a duration from 1ms to 15m0s"},
		{"OTEL_LAMBDA_RECEIVER_PORT", "9999", func(c Config) any { return c.Receiver.Port }, 9999, ""},
		{"OTEL_LAMBDA_RECEIVER_PORT", "0", nil, nil, `OTEL_LAMBDA_RECEIVER_PORT="0": want an integer from 1 to 65535`},
		{"OTEL_LAMBDA_RECEIVER_PORT", "65536", nil, nil, "want an integer from 1 to 65535"},
		{"OTEL_LAMBDA_RECEIVER_PORT", "http", nil, nil, "want an integer from 1 to 65535"},
		{"OTEL_LAMBDA_RECEIVER_PORT", "4317", nil, nil, `OTEL_LAMBDA_GRPC_PORT="4317": want a port other than OTEL_LAMBDA_RECEIVER_PORT (4317)`},
		{"OTEL_LAMBDA_RECEIVER_HOST", "0.0.0.0", func(c Config) any { return c.Receiver.Host }, "0.0.0.0", ""},
		{"OTEL_LAMBDA_RECEIVER_HOST", "::1", func(c Config) any { return c.Receiver.Host }, "::1", ""},
		{"OTEL_LAMBDA_RECEIVER_HOST", "localhost", func(c Config) any { return c.Receiver.Host }, "localhost", ""},
		{"OTEL_LAMBDA_RECEIVER_HOST", "127.0.0.1:4318", nil, nil, "want an IP address or host name"},
		{"OTEL_LAMBDA_GRPC_PORT", "0", func(c Config) any { return c.Receiver.GRPCPort }, 0, ""},
		{"OTEL_LAMBDA_GRPC_PORT", "OFF", func(c Config) any { return c.Receiver.GRPCPort }, 0, ""},
		{"OTEL_LAMBDA_GRPC_PORT", "14317", func(c Config) any { return c.Receiver.GRPCPort }, 14317, ""},
		{"OTEL_LAMBDA_GRPC_PORT", "no", nil, nil, "want a port 1..65535, or 0 or off"},
		{"OTEL_LAMBDA_GRPC_PORT", "4318", nil, nil, "want a port other than OTEL_LAMBDA_RECEIVER_PORT (4318)"},
		{"OTEL_LAMBDA_MAX_REQUEST_BYTES", "1048576", func(c Config) any { return c.Receiver.MaxBodyBytes }, int64(1 << 20), ""},
		{"OTEL_LAMBDA_MAX_REQUEST_BYTES", "10", nil, nil, "want an integer from 1024 to 1073741824"},
		{"OTEL_LAMBDA_FLUSH_STRATEGY", "end", func(c Config) any { return c.Flush.Strategy }, flushStrategy{Mode: flushEnd}, ""},
		{"OTEL_LAMBDA_FLUSH_STRATEGY", "end,200", func(c Config) any { return c.Flush.Strategy }, flushStrategy{flushEnd, 200 * ms}, ""},
		{"OTEL_LAMBDA_FLUSH_STRATEGY", "periodically,60000", func(c Config) any { return c.Flush.Strategy }, flushStrategy{flushPeriodically, time.Minute}, ""},
		{"OTEL_LAMBDA_FLUSH_STRATEGY", "continuously, 1000", func(c Config) any { return c.Flush.Strategy }, flushStrategy{flushContinuously, time.Second}, ""},
		{"OTEL_LAMBDA_FLUSH_STRATEGY", "invocation", func(c Config) any { return c.Flush.Strategy }, flushStrategy{Mode: flushEnd}, ""},
		{"OTEL_LAMBDA_FLUSH_STRATEGY", "periodically", nil, nil, "want adaptive, end, end,<ms>, periodically,<ms> or continuously,<ms>"},
		{"OTEL_LAMBDA_FLUSH_STRATEGY", "end,0", nil, nil, "the interval must be 1..86400000 ms"},
		{"OTEL_LAMBDA_FLUSH_STRATEGY", "end,5s", nil, nil, "the interval must be"},
		{"OTEL_LAMBDA_FLUSH_STRATEGY", "sometimes", nil, nil, "OTEL_LAMBDA_FLUSH_STRATEGY=\"sometimes\": want adaptive, end"},
		{"OTEL_LAMBDA_LOG_LEVEL", "DEBUG", func(c Config) any { return c.LogLevel }, levelDebug, ""},
		{"OTEL_LAMBDA_LOG_LEVEL", "warn", func(c Config) any { return c.LogLevel }, levelWarn, ""},
		{"OTEL_LAMBDA_LOG_LEVEL", "error", func(c Config) any { return c.LogLevel }, levelError, ""},
		{"OTEL_LAMBDA_LOG_LEVEL", "trace", nil, nil, "want debug, info, warn or error"},
		{"OTEL_LAMBDA_CONFIG", "/missing.toml", nil, nil, `OTEL_LAMBDA_CONFIG="/missing.toml": want a readable config.toml`},
		{"OTEL_LAMBDA_TELEMETRY", "False", func(c Config) any { return c.Telemetry.Enabled }, false, ""},
		{"OTEL_LAMBDA_TELEMETRY", "0", nil, nil, `OTEL_LAMBDA_TELEMETRY="0": want true or false`},
		{"OTEL_LAMBDA_TELEMETRY_TYPES", "function, platform,function", func(c Config) any { return c.Telemetry.Types }, []string{"function", "platform"}, ""},
		{"OTEL_LAMBDA_TELEMETRY_TYPES", "platform,logs", nil, nil, "want a comma list of platform, function and extension"},
		{"OTEL_LAMBDA_TELEMETRY_TYPES", ",", nil, nil, "(at least one)"},
		{"OTEL_LAMBDA_TELEMETRY_TIMEOUT_MS", "1000", func(c Config) any { return c.Telemetry.TimeoutMs }, 1000, ""},
		{"OTEL_LAMBDA_TELEMETRY_TIMEOUT_MS", "24", nil, nil, "want an integer from 25 to 30000"},
		{"OTEL_LAMBDA_TELEMETRY_TIMEOUT_MS", "30001", nil, nil, "want an integer from 25 to 30000"},
		{"OTEL_LAMBDA_TELEMETRY_MAX_ITEMS", "10000", func(c Config) any { return c.Telemetry.MaxItems }, 10000, ""},
		{"OTEL_LAMBDA_TELEMETRY_MAX_ITEMS", "999", nil, nil, "want an integer from 1000 to 10000"},
		{"OTEL_LAMBDA_TELEMETRY_MAX_BYTES", "1048576", func(c Config) any { return c.Telemetry.MaxBytes }, 1048576, ""},
		{"OTEL_LAMBDA_TELEMETRY_MAX_BYTES", "262143", nil, nil, "want an integer from 262144 to 1048576"},
		{"OTEL_LAMBDA_PLATFORM_LOGS", "false", func(c Config) any { return c.Telemetry.PlatformLogs }, false, ""},
		{"OTEL_LAMBDA_PLATFORM_LOGS", "off", nil, nil, "want true or false"},
		{"OTEL_LAMBDA_PLATFORM_SPANS", "false", func(c Config) any { return c.Telemetry.PlatformSpans }, false, ""},
		{"OTEL_LAMBDA_PLATFORM_SPANS", "no", nil, nil, "want true or false"},
		{"OTEL_LAMBDA_PLATFORM_METRICS", "false", func(c Config) any { return c.Telemetry.PlatformMetrics }, false, ""},
		{"OTEL_LAMBDA_PLATFORM_METRICS", "1", nil, nil, "want true or false"},
		{"OTEL_LAMBDA_MAX_BATCH_BYTES", "1048576", func(c Config) any { return c.Buffer.BatchMaxBytes }, 1 << 20, ""},
		{"OTEL_LAMBDA_MAX_BATCH_BYTES", "4MiB", nil, nil, "want an integer from 1024 to 67108864"},
		{"O2_ENDPOINT", "https://o2.internal:5080", func(c Config) any { return c.O2.Endpoint }, "https://o2.internal:5080", ""},
		{"O2_ENDPOINT", "o2.internal", nil, nil, "want an http:// or https:// URL"},
		{"O2_STREAM", "lambda_logs", func(c Config) any { return c.O2.Stream }, "lambda_logs", ""},
		{"O2_STREAM", "a/b", nil, nil, "want a stream name"},
		{"O2_BATCH_SIZE", "500", func(c Config) any { return [2]int{c.O2.BatchSize, c.Buffer.BatchMaxItems} }, [2]int{500, 500}, ""},
		{"O2_BATCH_SIZE", "0", nil, nil, "want an integer from 1 to 100000"},
		{"O2_FLUSH_INTERVAL_MS", "1000", func(c Config) any { return c.O2.FlushInterval }, time.Second, ""},
		{"O2_FLUSH_INTERVAL_MS", "1s", nil, nil, "want an integer from 1 to 900000"},
		{"O2_MAX_BUFFER_SIZE_MB", "32", func(c Config) any { return c.Buffer.MaxBytes }, int64(32 << 20), ""},
		{"O2_MAX_BUFFER_SIZE_MB", "0", nil, nil, "want an integer from 1 to 2048"},
		{"O2_REQUEST_TIMEOUT_MS", "500", func(c Config) any { return c.O2.RequestTimeout }, 500 * ms, ""},
		{"O2_REQUEST_TIMEOUT_MS", "-5", nil, nil, "want an integer from 1 to 900000"},
		{"O2_MAX_RETRIES", "0", func(c Config) any { return c.Retry.MaxRetries }, 0, ""},
		{"O2_MAX_RETRIES", "101", nil, nil, "want an integer from 0 to 100"},
		{"O2_INITIAL_RETRY_DELAY_MS", "50", func(c Config) any { return c.Retry.InitialDelay }, 50 * ms, ""},
		{"O2_INITIAL_RETRY_DELAY_MS", "60000", nil, nil, `O2_MAX_RETRY_DELAY_MS="30000": want at least O2_INITIAL_RETRY_DELAY_MS (60000)`},
		{"O2_MAX_RETRY_DELAY_MS", "2000", func(c Config) any { return c.Retry.MaxDelay }, 2 * time.Second, ""},
		{"O2_MAX_RETRY_DELAY_MS", "x", nil, nil, "want an integer from 1 to 900000"},
	} {
		t.Run(tc.env+"="+tc.value, func(t *testing.T) {
			files := map[string]string{"/opt/ca.pem": "-----BEGIN CERTIFICATE-----\n", "/opt/notpem.txt": "hello"}
			c, err := load(t, withBackend(tc.env, tc.value), files)
			if tc.errWant == "" {
				if err != nil {
					t.Fatalf("loadConfig: %v", err)
				}
				if got := tc.get(c); !reflect.DeepEqual(got, tc.want) {
					t.Errorf("got %#v; want %#v", got, tc.want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.errWant) {
				t.Fatalf("got error %v; want one containing %q", err, tc.errWant)
			}
			if ces := configErrors(t, err); len(ces) != 1 {
				t.Errorf("got %d errors (%v); want 1", len(ces), err)
			}
			if got := configErrorType(err); got != "Extension.ConfigInvalid" {
				t.Errorf("configErrorType: got %q; want Extension.ConfigInvalid", got)
			}
		})
	}
}

// TestPrecedence checks default < config.toml < environment, per key.
func TestPrecedence(t *testing.T) {
	for _, tc := range []struct {
		env, envValue string
		toml          string // a [table] and key = value
		get           func(Config) any
		def, fromTOML any
		fromEnv       any
	}{
		{"OTEL_EXPORTER_OTLP_PROTOCOL", "http/json", "[exporter]\nprotocol = \"http\"", func(c Config) any { return c.Export[sigTraces].Protocol }, protoHTTPProtobuf, protoHTTPProtobuf, protoHTTPJSON},
		{"OTEL_EXPORTER_OTLP_COMPRESSION", "gzip", "[exporter]\ncompression = \"none\"", func(c Config) any { return c.Export[sigTraces].Compression }, "gzip", "none", "gzip"},
		{"OTEL_EXPORTER_OTLP_TIMEOUT", "100", "[exporter]\ntimeout = \"30s\"", func(c Config) any { return c.Export[sigTraces].Timeout }, 10 * time.Second, 30 * time.Second, 100 * time.Millisecond},
		{"OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "100", "[exporter.traces]\ntimeout = 2000", func(c Config) any { return c.Export[sigTraces].Timeout }, 10 * time.Second, 2 * time.Second, 100 * time.Millisecond},
		{"OTEL_EXPORTER_OTLP_INSECURE", "false", "[exporter]\ninsecure = true", func(c Config) any { return c.Export[sigTraces].Insecure }, false, true, false},
		{"OTEL_EXPORTER_OTLP_HEADERS", "a=env", "[exporter.headers]\na = \"toml\"", func(c Config) any { return c.Export[sigTraces].Headers }, []header(nil), []header{{"a", "toml"}}, []header{{"a", "env"}}},
		{"OTEL_EXPORTER_OTLP_LOGS_HEADERS", "b=env", "[exporter.logs.headers]\nb = \"toml\"", func(c Config) any { return c.Export[sigLogs].Headers }, []header(nil), []header{{"b", "toml"}}, []header{{"b", "env"}}},
		{"OTEL_SERVICE_NAME", "env", "[service]\nname = \"toml\"", func(c Config) any { return c.ServiceName }, "", "toml", "env"},
		{"OTEL_RESOURCE_ATTRIBUTES", "k=env", "[resource.attributes]\nk = \"toml\"\n\"a.b\" = 'c'", func(c Config) any { return c.ResourceAttributes }, []keyValue(nil), []keyValue{{"k", "toml"}, {"a.b", "c"}}, []keyValue{{"k", "env"}}},
		{"OTEL_LAMBDA_LOG_LEVEL", "error", "[log]\nlevel = \"debug\"", func(c Config) any { return c.LogLevel }, levelInfo, levelDebug, levelError},
		{"OTEL_LAMBDA_RECEIVER_HOST", "127.0.0.2", "[receiver]\nhost = \"0.0.0.0\"", func(c Config) any { return c.Receiver.Host }, "127.0.0.1", "0.0.0.0", "127.0.0.2"},
		{"OTEL_LAMBDA_RECEIVER_PORT", "9000", "[receiver]\nport = 9999", func(c Config) any { return c.Receiver.Port }, 4318, 9999, 9000},
		{"OTEL_LAMBDA_GRPC_PORT", "5000", "[receiver]\ngrpc_port = \"off\"", func(c Config) any { return c.Receiver.GRPCPort }, 4317, 0, 5000},
		{"OTEL_LAMBDA_MAX_REQUEST_BYTES", "2048", "[receiver]\nmax_request_bytes = 1_048_576", func(c Config) any { return c.Receiver.MaxBodyBytes }, int64(16 << 20), int64(1 << 20), int64(2048)},
		{"OTEL_LAMBDA_FLUSH_STRATEGY", "adaptive", "[flush]\nstrategy = \"invocation\"", func(c Config) any { return c.Flush.Strategy.Mode }, flushAdaptive, flushEnd, flushAdaptive},
		{"OTEL_LAMBDA_FLUSH_TIMEOUT", "1s", "[flush]\ntimeout = \"3s\"", func(c Config) any { return c.Flush.Timeout }, 5 * time.Second, 3 * time.Second, time.Second},
		{"OTEL_LAMBDA_MAX_BATCH_BYTES", "2048", "[buffer]\nmax_batch_bytes = 1024", func(c Config) any { return c.Buffer.BatchMaxBytes }, 4 << 20, 1024, 2048},
		{"OTEL_LAMBDA_TELEMETRY", "true", "[telemetry]\nenabled = false", func(c Config) any { return c.Telemetry.Enabled }, true, false, true},
		{"OTEL_LAMBDA_TELEMETRY_TYPES", "extension", "[telemetry]\ntypes = [\"platform\", \"function\"]", func(c Config) any { return c.Telemetry.Types }, []string{"platform", "function", "extension"}, []string{"platform", "function"}, []string{"extension"}},
		{"OTEL_LAMBDA_TELEMETRY_TIMEOUT_MS", "100", "[telemetry]\ntimeout_ms = 50", func(c Config) any { return c.Telemetry.TimeoutMs }, 25, 50, 100},
		{"OTEL_LAMBDA_TELEMETRY_MAX_ITEMS", "3000", "[telemetry]\nmax_items = 2000", func(c Config) any { return c.Telemetry.MaxItems }, 1000, 2000, 3000},
		{"OTEL_LAMBDA_TELEMETRY_MAX_BYTES", "300000", "[telemetry]\nmax_bytes = 270000", func(c Config) any { return c.Telemetry.MaxBytes }, 262144, 270000, 300000},
		{"OTEL_LAMBDA_PLATFORM_LOGS", "true", "[telemetry]\nplatform_logs = false", func(c Config) any { return c.Telemetry.PlatformLogs }, true, false, true},
		{"OTEL_LAMBDA_PLATFORM_SPANS", "true", "[telemetry]\nplatform_spans = false", func(c Config) any { return c.Telemetry.PlatformSpans }, true, false, true},
		{"OTEL_LAMBDA_PLATFORM_METRICS", "true", "[telemetry]\nplatform_metrics = false", func(c Config) any { return c.Telemetry.PlatformMetrics }, true, false, true},
		{"O2_STREAM", "env", "[openobserve]\nstream = \"toml\"", func(c Config) any { return c.O2.Stream }, "default", "toml", "env"},
		{"O2_ENDPOINT", "https://env", "[openobserve]\nendpoint = \"https://toml\"", func(c Config) any { return c.O2.Endpoint }, "https://api.openobserve.ai", "https://toml", "https://env"},
		{"O2_BATCH_SIZE", "7", "[openobserve]\nbatch_size = 8", func(c Config) any { return c.O2.BatchSize }, 100, 8, 7},
		{"O2_FLUSH_INTERVAL_MS", "7", "[openobserve]\nflush_interval_ms = 8", func(c Config) any { return c.O2.FlushInterval }, 5 * time.Second, 8 * time.Millisecond, 7 * time.Millisecond},
		{"O2_MAX_BUFFER_SIZE_MB", "7", "[openobserve]\nmax_buffer_size_mb = 8", func(c Config) any { return c.Buffer.MaxBytes }, int64(8 << 20), int64(8 << 20), int64(7 << 20)},
		{"O2_REQUEST_TIMEOUT_MS", "7", "[openobserve]\nrequest_timeout_ms = 8", func(c Config) any { return c.O2.RequestTimeout }, 30 * time.Second, 8 * time.Millisecond, 7 * time.Millisecond},
		{"O2_MAX_RETRIES", "7", "[openobserve]\nmax_retries = 8", func(c Config) any { return c.Retry.MaxRetries }, 3, 8, 7},
		{"O2_INITIAL_RETRY_DELAY_MS", "7", "[openobserve]\ninitial_retry_delay_ms = 8", func(c Config) any { return c.Retry.InitialDelay }, time.Second, 8 * time.Millisecond, 7 * time.Millisecond},
		{"O2_MAX_RETRY_DELAY_MS", "70000", "[openobserve]\nmax_retry_delay_ms = 80000", func(c Config) any { return c.Retry.MaxDelay }, 30 * time.Second, 80 * time.Second, 70 * time.Second},
	} {
		t.Run(tc.env, func(t *testing.T) {
			files := map[string]string{defaultConfigPath: tc.toml + "\n"}
			for _, step := range []struct {
				name  string
				env   map[string]string
				files map[string]string
				want  any
			}{
				{"default", withBackend(), nil, tc.def},
				{"config.toml", withBackend(), files, tc.fromTOML},
				{"environment", withBackend(tc.env, tc.envValue), files, tc.fromEnv},
			} {
				c := mustLoad(t, step.env, step.files)
				if got := tc.get(c); !reflect.DeepEqual(got, step.want) {
					t.Errorf("%s: got %#v; want %#v", step.name, got, step.want)
				}
			}
		})
	}
}

// TestEndpointRules follows otlp.md §8.1 and its examples.
func TestEndpointRules(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		want [numSignals]string // endpoints of traces, metrics, logs
	}{
		{"generic base without path", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"},
			[3]string{"http://collector:4318/v1/traces", "http://collector:4318/v1/metrics", "http://collector:4318/v1/logs"}},
		{"generic base with path and slash", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318/mycollector/"},
			[3]string{"http://collector:4318/mycollector/v1/traces", "http://collector:4318/mycollector/v1/metrics", "http://collector:4318/mycollector/v1/logs"}},
		{"generic base with path without slash", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "https://api.openobserve.ai/api/org1"},
			[3]string{"https://api.openobserve.ai/api/org1/v1/traces", "https://api.openobserve.ai/api/org1/v1/metrics", "https://api.openobserve.ai/api/org1/v1/logs"}},
		{"generic base keeps the query", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "https://c.example/p?tenant=a"},
			[3]string{"https://c.example/p/v1/traces?tenant=a", "https://c.example/p/v1/metrics?tenant=a", "https://c.example/p/v1/logs?tenant=a"}},
		{"per-signal used as given, / added", map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318"},
			[3]string{"http://collector:4318/", "", ""}},
		{"per-signal with a path", map[string]string{
			"OTEL_EXPORTER_OTLP_ENDPOINT":         "http://base:4318",
			"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": "https://m.example/custom/path"},
			[3]string{"http://base:4318/v1/traces", "https://m.example/custom/path", "http://base:4318/v1/logs"}},
		{"per-signal query, no path", map[string]string{"OTEL_EXPORTER_OTLP_LOGS_ENDPOINT": "http://l.example?x=1"},
			[3]string{"", "", "http://l.example/?x=1"}},
		{"grpc URL", map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4317/ignored"},
			[3]string{"http://collector:4317", "http://collector:4317", "http://collector:4317"}},
		{"grpc bare host:port, TLS", map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4317"},
			[3]string{"https://collector:4317", "https://collector:4317", "https://collector:4317"}},
		{"grpc bare host:port, insecure", map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_INSECURE": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "[::1]:14317"},
			[3]string{"http://[::1]:14317", "http://[::1]:14317", "http://[::1]:14317"}},
		{"grpc for one signal only", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "https://h.example", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://g.example"},
			[3]string{"https://g.example:443", "https://h.example/v1/metrics", "https://h.example/v1/logs"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := mustLoad(t, tc.env, nil)
			for s := range numSignals {
				if got := c.Export[s].Endpoint; got != tc.want[s] {
					t.Errorf("%v: got %q; want %q", s, got, tc.want[s])
				}
			}
			if !c.OTLPConfigured {
				t.Errorf("OTLPConfigured: got false; want true")
			}
		})
	}

	// The scheme of a gRPC URL decides TLS, over INSECURE.
	c := mustLoad(t, map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_INSECURE": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "https://c:4317"}, nil)
	if got := c.Export[sigTraces].Insecure; got {
		t.Errorf("https grpc Insecure: got %v; want false", got)
	}
	c = mustLoad(t, map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317"}, nil)
	if got := c.Export[sigTraces].Insecure; !got {
		t.Errorf("http grpc Insecure: got %v; want true", got)
	}

	for _, bad := range []struct{ env map[string]string }{
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4318"}},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "ftp://collector"}},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://"}},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:99999"}},
		{map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "://x"}},
		{map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_ENDPOINT": "collector"}},
		{map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_ENDPOINT": "unix:///tmp/s"}},
	} {
		_, err := load(t, bad.env, nil)
		ces := configErrors(t, err)
		if len(ces) != 1 || !strings.HasPrefix(ces[0].key, "OTEL_EXPORTER_OTLP_") {
			t.Errorf("%v: got %v; want one error naming the endpoint variable", bad.env, err)
		}
	}
}

func TestParseHeaders(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []header
		err  string
	}{
		{"Authorization=Basic%20dXNlcjpwYXNz,X-Org=acme", []header{{"Authorization", "Basic dXNlcjpwYXNz"}, {"X-Org", "acme"}}, ""},
		{"Authorization=Bearer token", []header{{"Authorization", "Bearer token"}}, ""},
		{"k=a=b==", []header{{"k", "a=b=="}}, ""},
		{" k = v , ,k2=%2C+ ", []header{{"k", "v"}, {"k2", ",+"}}, ""},
		{"k=", []header{{"k", ""}}, ""},
		{"", nil, ""},
		{"noequals", nil, "item 1 has no '='"},
		{"a=1,bad name=2", nil, "item 2's name is not a header name"},
		{"=v", nil, "item 1's name is not a header name"},
		{"k=%zz", nil, "item 1's value has a malformed %-escape"},
		{"k=a%0Db", nil, "item 1's value holds control characters"},
	} {
		got, err := parseHeaders(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("parseHeaders(%q): got error %v; want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("parseHeaders(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	// Per-signal headers replace the generic ones for that signal only.
	c := mustLoad(t, withBackend("OTEL_EXPORTER_OTLP_HEADERS", "a=1", "OTEL_EXPORTER_OTLP_METRICS_HEADERS", "b=2"), nil)
	for s, want := range [numSignals][]header{{{"a", "1"}}, {{"b", "2"}}, {{"a", "1"}}} {
		if got := c.Export[s].Headers; !reflect.DeepEqual(got, want) {
			t.Errorf("%v headers: got %v; want %v", signal(s), got, want)
		}
	}
}

func TestO2Preset(t *testing.T) {
	o2 := map[string]string{"O2_ORGANIZATION_ID": "org 1", "O2_AUTHORIZATION_HEADER": "Basic c2VjcmV0"}
	c := mustLoad(t, o2, nil)
	if !c.O2.Enabled || !c.OTLPConfigured {
		t.Fatalf("O2.Enabled, OTLPConfigured: got %v, %v; want true, true", c.O2.Enabled, c.OTLPConfigured)
	}
	for s := range numSignals {
		want := exportTarget{
			Endpoint:    "https://api.openobserve.ai/api/org%201/v1/" + s.String(),
			Protocol:    protoHTTPProtobuf,
			Compression: "gzip",
			Headers:     []header{{"Authorization", "Basic c2VjcmV0"}},
			Timeout:     30 * time.Second,
		}
		if s == sigLogs { // the function's OTLP logs go to O2_STREAM too
			want.Headers = append(want.Headers, header{"stream-name", "default"})
		}
		if got := c.Export[s]; !reflect.DeepEqual(got, want) {
			t.Errorf("%v: got %+v; want %+v", s, got, want)
		}
	}
	if got, want := c.Buffer.MaxBytes, int64(10<<20); got != want {
		t.Errorf("Buffer.MaxBytes: got %d; want %d", got, want)
	}
	if got, want := c.Buffer.BatchMaxItems, 100; got != want {
		t.Errorf("Buffer.BatchMaxItems: got %d; want %d", got, want)
	}

	// Explicit OTLP wins for the signals it names; others keep the preset.
	env := maps.Clone(o2)
	env["O2_ENDPOINT"] = "https://o2.example/"
	env["O2_REQUEST_TIMEOUT_MS"] = "1500"
	env["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] = "https://traces.example/v1/traces"
	c = mustLoad(t, env, nil)
	if got, want := c.Export[sigTraces].Endpoint, "https://traces.example/v1/traces"; got != want {
		t.Errorf("traces: got %q; want %q", got, want)
	}
	if got := c.Export[sigTraces].Headers; got != nil {
		t.Errorf("traces headers: got %v; want none (the O2 credential stays with O2)", got)
	}
	if got, want := c.Export[sigLogs].Endpoint, "https://o2.example/api/org%201/v1/logs"; got != want {
		t.Errorf("logs: got %q; want %q", got, want)
	}
	if got, want := c.Export[sigLogs].Timeout, 1500*time.Millisecond; got != want {
		t.Errorf("logs timeout: got %v; want %v", got, want)
	}
	env["OTEL_EXPORTER_OTLP_ENDPOINT"] = "https://all.example"
	c = mustLoad(t, env, nil)
	if got, want := c.Export[sigLogs].Endpoint, "https://all.example/v1/logs"; got != want {
		t.Errorf("generic endpoint wins: got %q; want %q", got, want)
	}

	// One without the other: the seed's message.
	for _, tc := range []struct{ set, missing string }{
		{"O2_AUTHORIZATION_HEADER", "O2_ORGANIZATION_ID"},
		{"O2_ORGANIZATION_ID", "O2_AUTHORIZATION_HEADER"},
	} {
		_, err := load(t, map[string]string{tc.set: "x"}, nil)
		want := tc.missing + " environment variable is required"
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("only %s: got %v; want %q", tc.set, err, want)
		}
		if got := len(configErrors(t, err)); got != 1 {
			t.Errorf("only %s: got %d errors (%v); want 1", tc.set, got, err)
		}
	}

	// Nothing at all: say what to set.
	_, err := load(t, map[string]string{}, nil)
	for _, want := range []string{"OTEL_EXPORTER_OTLP_ENDPOINT is not set", "O2_ORGANIZATION_ID and O2_AUTHORIZATION_HEADER", "own receiver"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("no destination: got %v; want %q", err, want)
		}
	}
}

func TestBufferFromMemory(t *testing.T) {
	for _, tc := range []struct {
		mem  string
		want int64
	}{
		{"", 8 << 20}, {"abc", 8 << 20}, {"-1", 8 << 20},
		{"32", 4 << 20}, {"128", 8 << 20}, {"1000", 1000 << 20 / 16}, {"1024", 64 << 20}, {"1769", 64 << 20}, {"10240", 64 << 20},
	} {
		env := withBackend("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", tc.mem)
		if got := mustLoad(t, env, nil).Buffer.MaxBytes; got != tc.want {
			t.Errorf("memory %q: got %d; want %d", tc.mem, got, tc.want)
		}
	}
}

func TestLoopDetection(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		loop bool
	}{
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://localhost:4318"}, true},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318/"}, true},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.1.2.3:4318"}, true},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://[::1]:4318"}, true},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://0.0.0.0:4318"}, true},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://LOCALHOST:4317"}, true},
		{map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_ENDPOINT": "localhost:4317"}, true},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://localhost:9999", "OTEL_LAMBDA_RECEIVER_PORT": "9999"}, true},
		{map[string]string{"OTEL_EXPORTER_OTLP_LOGS_ENDPOINT": "http://localhost:4318/v1/logs"}, true},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://localhost:4317", "OTEL_LAMBDA_GRPC_PORT": "off"}, false},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://localhost:4319"}, false},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, false},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://10.0.0.1:4318"}, false},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://localhost"}, false},
	} {
		_, err := load(t, tc.env, nil)
		const msg = "points back at this extension's own receiver: a loop; set OTEL_EXPORTER_OTLP_ENDPOINT to your backend"
		if got := err != nil && strings.Contains(err.Error(), msg); got != tc.loop {
			t.Errorf("%v: got loop error %v (%v); want %v", tc.env, got, err, tc.loop)
		}
		if tc.loop && len(configErrors(t, err)) != 1 {
			t.Errorf("%v: got %v; want the loop reported once", tc.env, err)
		}
	}
}

func TestAllErrorsAtOnce(t *testing.T) {
	env := withBackend(
		"OTEL_LAMBDA_FLUSH_TIMEOUT", "abc",
		"OTEL_LAMBDA_RECEIVER_PORT", "0",
		"OTEL_EXPORTER_OTLP_PROTOCOL", "udp",
		"OTEL_LAMBDA_TELEMETRY", "maybe",
		"O2_MAX_RETRIES", "-1",
		"OTEL_LAMBDA_CONFIG", "/etc/config.toml",
	)
	files := map[string]string{"/etc/config.toml": "[receiver]\nport = \"9999\"\nbogus = 1\n[nope]\n"}
	c, err := load(t, env, files)
	if c.ConfigPath != "/etc/config.toml" {
		t.Errorf("ConfigPath: got %q; want /etc/config.toml", c.ConfigPath)
	}
	var got []string
	for _, ce := range configErrors(t, err) {
		got = append(got, ce.Error())
	}
	want := []string{
		`OTEL_LAMBDA_FLUSH_TIMEOUT="abc": want a duration such as 5s or 500ms`,
		`OTEL_LAMBDA_RECEIVER_PORT="0": want an integer from 1 to 65535`,
		`OTEL_EXPORTER_OTLP_PROTOCOL="udp": want grpc, http/protobuf or http/json`,
		`OTEL_LAMBDA_TELEMETRY="maybe": want true or false`,
		`O2_MAX_RETRIES="-1": want an integer from 0 to 100`,
		`/etc/config.toml:3:1: unknown key "bogus" in [receiver]; want one of`,
		`/etc/config.toml:4:1: unknown table [nope]; want one of`,
	}
	for _, w := range want {
		if !slices.ContainsFunc(got, func(g string) bool { return strings.HasPrefix(g, w) }) {
			t.Errorf("missing %q in:\n%s", w, strings.Join(got, "\n"))
		}
	}
	// The TOML port has the wrong type but is overridden by the
	// environment, so it is not read and not reported.
	if len(got) != len(want) {
		t.Errorf("got %d errors; want %d:\n%s", len(got), len(want), strings.Join(got, "\n"))
	}
	if got := configErrorType(err); got != "Extension.ConfigInvalid" {
		t.Errorf("configErrorType: got %q; want Extension.ConfigInvalid", got)
	}
	if got := configErrorType(nil); got != "" {
		t.Errorf("configErrorType(nil): got %q; want \"\"", got)
	}
	if got := configErrorType(errors.New("x")); got != "Extension.UnknownReason" {
		t.Errorf("configErrorType(other): got %q; want Extension.UnknownReason", got)
	}
}

// TestRedaction makes every credential-bearing setting invalid and checks
// the credential never appears in the error.
func TestRedaction(t *testing.T) {
	const secret = "s3cr3t-T0KEN"
	for _, tc := range []struct {
		name  string
		env   map[string]string
		files map[string]string
		key   string
	}{
		{"headers no =", withBackend("OTEL_EXPORTER_OTLP_HEADERS", "Authorization="+secret+",Bearer "+secret), nil, "OTEL_EXPORTER_OTLP_HEADERS"},
		{"headers bad escape", withBackend("OTEL_EXPORTER_OTLP_HEADERS", "Authorization="+secret+"%zz"), nil, "OTEL_EXPORTER_OTLP_HEADERS"},
		{"traces headers", withBackend("OTEL_EXPORTER_OTLP_TRACES_HEADERS", secret), nil, "OTEL_EXPORTER_OTLP_TRACES_HEADERS"},
		{"metrics headers", withBackend("OTEL_EXPORTER_OTLP_METRICS_HEADERS", "a="+secret+"%0A"), nil, "OTEL_EXPORTER_OTLP_METRICS_HEADERS"},
		{"logs headers", withBackend("OTEL_EXPORTER_OTLP_LOGS_HEADERS", secret+" x=1"), nil, "OTEL_EXPORTER_OTLP_LOGS_HEADERS"},
		{"o2 authorization", map[string]string{"O2_ORGANIZATION_ID": "o", "O2_AUTHORIZATION_HEADER": "Basic " + secret + "\x01"}, nil, "O2_AUTHORIZATION_HEADER"},
		{"toml header", withBackend(), map[string]string{defaultConfigPath: "[exporter.headers]\nAuthorization = \"" + secret + "\\n\"\n"}, "exporter.headers.Authorization"},
		{"toml header type", withBackend(), map[string]string{defaultConfigPath: "[exporter.traces.headers]\nX = [\"" + secret + "\"]\n"}, "exporter.traces.headers.X"},
		{"toml o2 type", withBackend(), map[string]string{defaultConfigPath: "[openobserve]\nauthorization_header = [\"" + secret + "\"]\norganization_id = \"o\"\n"}, "openobserve.authorization_header"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := load(t, tc.env, tc.files)
			if err == nil {
				t.Fatal("got no error; want one")
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error leaks the credential: %v", err)
			}
			if !strings.Contains(err.Error(), tc.key) || !strings.Contains(err.Error(), redacted) {
				t.Errorf("got %v; want %s named and the value %s", err, tc.key, redacted)
			}
		})
	}
}

func TestConfigTOML(t *testing.T) {
	// Seed 000's example, with its tables restored.
	seed, err := os.ReadFile("testdata/config/seed000.toml")
	if err != nil {
		t.Fatal(err)
	}
	c := mustLoad(t, map[string]string{}, map[string]string{defaultConfigPath: string(seed)})
	for _, tc := range []struct {
		name      string
		got, want any
	}{
		{"ConfigPath", c.ConfigPath, defaultConfigPath},
		{"endpoint", c.Export[sigTraces].Endpoint, "https://your-collector.example.com/v1/traces"},
		{"protocol", c.Export[sigMetrics].Protocol, protoHTTPProtobuf},
		{"compression", c.Export[sigLogs].Compression, "gzip"},
		{"timeout", c.Export[sigLogs].Timeout, 30 * time.Second},
		{"headers", c.Export[sigTraces].Headers, []header{{"Authorization", "Bearer your-token"}}},
		{"port", c.Receiver.Port, 9999},
		{"host", c.Receiver.Host, "127.0.0.1"},
		{"strategy", c.Flush.Strategy, flushStrategy{Mode: flushEnd}},
		{"flush timeout", c.Flush.Timeout, 5 * time.Second},
	} {
		if !reflect.DeepEqual(tc.got, tc.want) {
			t.Errorf("%s: got %#v; want %#v", tc.name, tc.got, tc.want)
		}
	}

	// Every key of the table can be written in config.toml.
	all, err := os.ReadFile("testdata/config/all.toml")
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{"/opt/ca.pem": "-----BEGIN CERTIFICATE-----\n", "/cfg.toml": string(all)}
	c = mustLoad(t, map[string]string{"OTEL_LAMBDA_CONFIG": "/cfg.toml"}, files)
	if got, want := c.Export[sigMetrics].Endpoint, "https://m.example/"; got != want {
		t.Errorf("all.toml metrics endpoint: got %q; want %q", got, want)
	}
	if got, want := c.Export[sigMetrics].Headers, []header{{"X-M", "m"}}; !reflect.DeepEqual(got, want) {
		t.Errorf("all.toml metrics headers: got %v; want %v", got, want)
	}
	if !c.O2.Enabled || c.Receiver.GRPCPort != 0 || c.LogLevel != levelWarn {
		t.Errorf("all.toml: got O2 %v, gRPC port %d, level %v; want true, 0, warn", c.O2.Enabled, c.Receiver.GRPCPort, c.LogLevel)
	}

	for _, tc := range []struct {
		name, toml, want string
	}{
		{"syntax", "[flush]\ntimeout = 1.5\n", defaultConfigPath + ":2:11: floats are not supported"},
		{"type", "[receiver]\nport = \"9999\"\n", defaultConfigPath + `:2:8: receiver.port="9999": want a TOML integer (no quotes); got a string`},
		{"empty string", "[receiver]\nhost = \"\"\n", defaultConfigPath + ":2:8: receiver.host is empty; want an IP address or host name"},
		{"unknown key", "[flush]\nstrategi = \"end\"\n", defaultConfigPath + `:2:1: unknown key "strategi" in [flush]; want one of strategy, timeout`},
		{"top-level key", "endpoint = \"x\"\n", defaultConfigPath + `:1:1: unknown key "endpoint" at the top level`},
		{"unknown table", "[exporters]\n", defaultConfigPath + ":1:1: unknown table [exporters]; want one of"},
		{"unknown sub-table", "[exporter.headers.x]\n", defaultConfigPath + ":1:1: unknown table [exporter.headers.x]"},
		{"table as value", "[exporter]\nheaders = \"a=b\"\n", defaultConfigPath + ":2:11: exporter.headers is a string; want a [exporter.headers] table"},
		{"range", "[telemetry]\ntimeout_ms = 10\n", defaultConfigPath + `:2:14: telemetry.timeout_ms="10": want an integer from 25 to 30000`},
		{"bad strategy", "[flush]\nstrategy = \"never\"\n", defaultConfigPath + `:2:12: flush.strategy="never": want adaptive, end`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := load(t, withBackend(), map[string]string{defaultConfigPath: tc.toml})
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("got %v; want %q", err, tc.want)
			}
		})
	}

	// An unreadable default file is an error; a missing one is not.
	_, err = loadConfig(testEnv(withBackend()), func(string) ([]byte, error) { return nil, fs.ErrPermission })
	if err == nil || !strings.Contains(err.Error(), defaultConfigPath+" cannot be read") {
		t.Errorf("unreadable config.toml: got %v; want an error", err)
	}
}

// TestUsageListsEveryVariable checks that --help documents every variable
// the parser reads and every config.toml key.
func TestUsageListsEveryVariable(t *testing.T) {
	var buf bytes.Buffer
	usage(&buf)
	text := buf.String()

	read := map[string]bool{}
	getenv := func(k string) string { read[k] = true; return "" }
	loadConfig(getenv, testFiles(nil))
	o2 := map[string]string{"O2_ORGANIZATION_ID": "o", "O2_AUTHORIZATION_HEADER": "a", "O2_MAX_BUFFER_SIZE_MB": "1",
		"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": testBackend, "OTEL_EXPORTER_OTLP_ENDPOINT": testBackend}
	loadConfig(func(k string) string { read[k] = true; return o2[k] }, testFiles(nil))
	if len(read) < 60 {
		t.Errorf("the parser read %d variables; want every one (at least 60)", len(read))
	}
	for k := range read {
		if !strings.Contains(text, k) {
			t.Errorf("usage does not mention %s", k)
		}
	}
	for _, v := range configVars() {
		if v.toml == "" {
			continue
		}
		i := strings.LastIndexByte(v.toml, '.')
		if v.kind != kindTable && !strings.Contains(text, "["+v.toml[:i]+"] "+v.toml[i+1:]) ||
			v.kind == kindTable && !strings.Contains(text, "["+v.toml+"]") {
			t.Errorf("usage does not show config.toml key %s", v.toml)
		}
	}
	for _, flag := range []string{"--help", "--version", "--health-check"} {
		if !strings.Contains(text, flag) {
			t.Errorf("usage does not mention %s", flag)
		}
	}
	// Every default shown is the one loadConfig uses: parsing the table's
	// defaults alone yields no error (the endpoint aside).
	if _, err := load(t, withBackend(), nil); err != nil {
		t.Errorf("defaults: %v", err)
	}
}
