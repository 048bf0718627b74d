// config.go owns the one Config of the extension: defaults, then
// config.toml, then environment variables (OTEL_*, OTEL_LAMBDA_*, O2_*), then
// validation that reports every problem at once, each naming the key or
// variable, the value given and what was expected.
package main

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// header is one HTTP header (or gRPC metadata entry) sent to a backend.
type header struct {
	name, value string
}

// keyValue is one string attribute from OTEL_RESOURCE_ATTRIBUTES, in order.
type keyValue struct {
	key, value string
}

// Protocols of OTEL_EXPORTER_OTLP_PROTOCOL.
const (
	protoHTTPProtobuf = "http/protobuf"
	protoHTTPJSON     = "http/json"
	protoGRPC         = "grpc"
)

// Flush strategy modes (OTEL_LAMBDA_FLUSH_STRATEGY).
const (
	flushAdaptive     = "adaptive"
	flushEnd          = "end"
	flushPeriodically = "periodically"
	flushContinuously = "continuously"
)

// exportTarget is where and how one signal is exported over OTLP.
type exportTarget struct {
	// Endpoint is the full URL. For http/* it already carries the path
	// (base + "/v1/<signal>" from OTEL_EXPORTER_OTLP_ENDPOINT, or the
	// per-signal variable as given). For grpc it is scheme://host:port.
	Endpoint    string
	Protocol    string // protoHTTPProtobuf, protoHTTPJSON or protoGRPC
	Compression string // "gzip" or "none"
	Headers     []header
	Timeout     time.Duration // per request; 0 means no limit
	Insecure    bool          // gRPC without TLS for scheme-less endpoints
	// PEM files for private CAs and mTLS; empty when unset.
	Certificate, ClientKey, ClientCertificate string
}

// flushStrategy is the parsed OTEL_LAMBDA_FLUSH_STRATEGY.
type flushStrategy struct {
	Mode     string        // flushAdaptive, flushEnd, flushPeriodically, flushContinuously
	Interval time.Duration // "end,<ms>", "periodically,<ms>", "continuously,<ms>"; 0 for plain end/adaptive
}

// Config is everything the extension is told. It is a value built inside
// run; there is no package-level configuration.
type Config struct {
	// Export holds one target per signal. OTLPConfigured says an OTLP
	// destination was set (environment, config.toml or the O2 preset).
	Export         [numSignals]exportTarget
	OTLPConfigured bool

	ServiceName        string     // OTEL_SERVICE_NAME ("" = function name)
	ResourceAttributes []keyValue // OTEL_RESOURCE_ATTRIBUTES

	Receiver struct {
		Host         string // bind address, 127.0.0.1 unless explicitly changed
		Port         int    // OTLP/HTTP, 4318
		GRPCPort     int    // OTLP/gRPC, 4317; 0 = off
		MaxBodyBytes int64  // wire and decompressed request body limit
	}

	Flush struct {
		Strategy flushStrategy
		// Timeout bounds how long the extension holds the sandbox after the
		// function's runtime is done, to export (OTEL_LAMBDA_FLUSH_TIMEOUT).
		Timeout time.Duration
	}

	Telemetry struct {
		Enabled   bool     // subscribe to the Telemetry API at all
		Types     []string // "platform", "function", "extension"
		TimeoutMs int      // buffering.timeoutMs, 25..30000
		MaxItems  int      // buffering.maxItems, 1000..10000
		MaxBytes  int      // buffering.maxBytes, 262144..1048576
		// What platform events become.
		PlatformLogs, PlatformSpans, PlatformMetrics bool
	}

	Buffer struct {
		MaxBytes      int64 // the ring's byte budget for all signals
		BatchMaxBytes int   // one export request at most this many bytes (before compression)
		BatchMaxItems int   // O2_BATCH_SIZE where it applies (0 = no item limit)
	}

	Retry struct {
		MaxRetries   int
		InitialDelay time.Duration
		MaxDelay     time.Duration
	}

	// O2 is the OpenObserve destination (seed 002).
	O2 struct {
		Enabled        bool // O2_ORGANIZATION_ID and O2_AUTHORIZATION_HEADER set
		OrgID          string
		Authorization  string
		Endpoint       string // https://api.openobserve.ai
		Stream         string // default
		BatchSize      int
		FlushInterval  time.Duration
		RequestTimeout time.Duration
	}

	LogLevel   logLevel
	ConfigPath string // the config.toml actually read; "" when none
}

// varKind is the value type of a configuration variable; it decides which
// TOML types config.toml may use for it.
type varKind uint8

const (
	kindString   varKind = iota
	kindInt              // TOML integer
	kindBool             // TOML boolean
	kindDuration         // TOML string ("5s") or integer milliseconds
	kindList             // TOML array of strings, or a comma-separated string
	kindTable            // TOML table of string values ([exporter.headers])
	kindPort             // TOML integer, or the string "off"
)

// configVar is one row of the configuration table: the one place that names
// a variable, its config.toml key, its default and its meaning. loadConfig
// takes defaults from it and usage prints it, so the two cannot drift.
type configVar struct {
	env   string // environment variable
	toml  string // config.toml key as table.key ("" = environment only)
	def   string // default, parsed like a user's value ("" = unset)
	shown string // default as usage shows it, when def alone would mislead
	group string
	help  string
	kind  varKind
	// perSignal: also read as OTEL_EXPORTER_OTLP_{TRACES,METRICS,LOGS}_<x>
	// (config.toml: exporter.<signal>.<key>), which wins over this one.
	perSignal bool
	secret    bool // never printed: errors show <redacted>
}

// Usage groups, in the order usage prints them.
const (
	groupOTLP      = "OTLP export"
	groupExtension = "Extension"
	groupTelemetry = "Lambda Telemetry API"
	groupO2        = "OpenObserve (seed 002 compatible)"
)

const otlpPrefix = "OTEL_EXPORTER_OTLP_"

// configVars returns the configuration table. It is a function, not a
// package variable, so the package keeps no state (STYLE rule 5).
func configVars() []configVar {
	return []configVar{
		// OTLP export, OpenTelemetry specification names (otlp.md §8).
		{env: "OTEL_EXPORTER_OTLP_ENDPOINT", toml: "exporter.endpoint", group: groupOTLP, perSignal: true, shown: "none",
			help: "backend URL; for HTTP a base to which v1/<signal> is appended (per-signal forms are used as given); for grpc scheme://host:port or host:port"},
		// http/protobuf is the specification's default and what every
		// backend accepts.
		{env: "OTEL_EXPORTER_OTLP_PROTOCOL", toml: "exporter.protocol", def: protoHTTPProtobuf, group: groupOTLP, perSignal: true,
			help: "grpc, http/protobuf or http/json (http means http/protobuf)"},
		// gzip by default: the extension holds the sandbox while it exports,
		// and on Lambda's network fewer bytes finish sooner than the CPU
		// spent compressing them.
		{env: "OTEL_EXPORTER_OTLP_COMPRESSION", toml: "exporter.compression", def: "gzip", group: groupOTLP, perSignal: true,
			help: "gzip or none"},
		{env: "OTEL_EXPORTER_OTLP_HEADERS", toml: "exporter.headers", kind: kindTable, group: groupOTLP, perSignal: true, secret: true, shown: "none",
			help: "name=value,name2=value2, values percent-decoded; never logged"},
		// 10 s is the specification's default; the flush timeout and the
		// invocation deadline bound an export further.
		{env: "OTEL_EXPORTER_OTLP_TIMEOUT", toml: "exporter.timeout", def: "10000", kind: kindDuration, group: groupOTLP, perSignal: true,
			help: "per request: integer milliseconds (0 = no limit) or a duration such as 30s"},
		{env: "OTEL_EXPORTER_OTLP_INSECURE", toml: "exporter.insecure", def: "false", kind: kindBool, group: groupOTLP, perSignal: true,
			help: "grpc host:port endpoints without a scheme: true = plaintext, false = TLS"},
		{env: "OTEL_EXPORTER_OTLP_CERTIFICATE", toml: "exporter.certificate", group: groupOTLP, perSignal: true, shown: "system roots",
			help: "PEM file of the CA(s) that verify the backend"},
		{env: "OTEL_EXPORTER_OTLP_CLIENT_KEY", toml: "exporter.client_key", group: groupOTLP, perSignal: true, shown: "none",
			help: "PEM private key for mTLS (with the client certificate)"},
		{env: "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", toml: "exporter.client_certificate", group: groupOTLP, perSignal: true, shown: "none",
			help: "PEM certificate chain for mTLS (with the client key)"},
		{env: "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", toml: "exporter.metrics.temporality_preference", def: "cumulative", group: groupOTLP,
			help: "cumulative, delta or lowmemory; validated for SDK compatibility: the extension forwards SDK metrics as sent, and its own platform metrics are always delta so they add up across sandboxes"},
		{env: "OTEL_SERVICE_NAME", toml: "service.name", group: groupOTLP, shown: "the function name",
			help: "service.name of the extension's own telemetry"},
		{env: "OTEL_RESOURCE_ATTRIBUTES", toml: "resource.attributes", kind: kindTable, group: groupOTLP, shown: "none",
			help: "key=value,key2=value2, percent-decoded; added to the extension's own telemetry"},

		// The extension itself.
		{env: "OTEL_LAMBDA_CONFIG", group: groupExtension, shown: "/var/task/config.toml if present",
			help: "path of config.toml; when set, the file must exist"},
		{env: "OTEL_LAMBDA_LOG_LEVEL", toml: "log.level", def: "info", group: groupExtension,
			help: "debug, info, warn or error: the extension's own log lines"},
		// Loopback only by default: the function is the only client, and
		// nothing outside the sandbox should reach the receiver.
		{env: "OTEL_LAMBDA_RECEIVER_HOST", toml: "receiver.host", def: "127.0.0.1", group: groupExtension,
			help: "address the receivers bind"},
		// 4318 and 4317 are the OTLP defaults, so an SDK with default
		// settings finds the extension without configuration.
		{env: "OTEL_LAMBDA_RECEIVER_PORT", toml: "receiver.port", def: "4318", kind: kindInt, group: groupExtension,
			help: "OTLP/HTTP receiver port (1..65535)"},
		{env: "OTEL_LAMBDA_GRPC_PORT", toml: "receiver.grpc_port", def: "4317", kind: kindPort, group: groupExtension,
			help: "OTLP/gRPC receiver port; 0 or off disables it"},
		// 16 MiB is four times the usual 4 MiB backend limit and well under
		// the smallest Lambda memory, so a big but honest batch from an SDK
		// passes while a runaway one cannot exhaust the sandbox.
		{env: "OTEL_LAMBDA_MAX_REQUEST_BYTES", toml: "receiver.max_request_bytes", def: "16777216", kind: kindInt, group: groupExtension,
			help: "largest request body the receivers accept, on the wire and after gzip (bytes)"},
		{env: "OTEL_LAMBDA_FLUSH_STRATEGY", toml: "flush.strategy", def: flushAdaptive, group: groupExtension,
			help: "adaptive, end, end,<ms>, periodically,<ms> or continuously,<ms> (config.toml also: invocation = end)"},
		// 5 s: long enough for a few retries of a small batch, short enough
		// that a dead backend does not keep the sandbox (and the bill) open.
		{env: "OTEL_LAMBDA_FLUSH_TIMEOUT", toml: "flush.timeout", def: "5s", kind: kindDuration, group: groupExtension,
			help: "longest the extension holds the sandbox after the function is done, to export (duration or integer ms)"},
		// 4 MiB: the default maximum request size of gRPC servers and of
		// the OpenTelemetry Collector, so one batch is never refused for size.
		{env: "OTEL_LAMBDA_MAX_BATCH_BYTES", toml: "buffer.max_batch_bytes", def: "4194304", kind: kindInt, group: groupExtension,
			help: "largest export request before compression (bytes)"},

		// Telemetry API subscription (lambda-apis.md).
		{env: "OTEL_LAMBDA_TELEMETRY", toml: "telemetry.enabled", def: "true", kind: kindBool, group: groupTelemetry,
			help: "export the Telemetry API's logs, metrics and spans; when false the extension still subscribes to platform events, only to learn when each invocation ends"},
		{env: "OTEL_LAMBDA_TELEMETRY_TYPES", toml: "telemetry.types", def: "platform,function,extension", kind: kindList, group: groupTelemetry,
			help: "comma list of platform, function, extension"},
		// 25 ms is the API's minimum: runtimeDone, which tells us the
		// invocation is over and we may flush, arrives as soon as possible.
		{env: "OTEL_LAMBDA_TELEMETRY_TIMEOUT_MS", toml: "telemetry.timeout_ms", def: "25", kind: kindInt, group: groupTelemetry,
			help: "buffering.timeoutMs, 25..30000"},
		// The API's minimums: small batches, delivered early.
		{env: "OTEL_LAMBDA_TELEMETRY_MAX_ITEMS", toml: "telemetry.max_items", def: "1000", kind: kindInt, group: groupTelemetry,
			help: "buffering.maxItems, 1000..10000"},
		{env: "OTEL_LAMBDA_TELEMETRY_MAX_BYTES", toml: "telemetry.max_bytes", def: "262144", kind: kindInt, group: groupTelemetry,
			help: "buffering.maxBytes, 262144..1048576"},
		{env: "OTEL_LAMBDA_PLATFORM_LOGS", toml: "telemetry.platform_logs", def: "true", kind: kindBool, group: groupTelemetry,
			help: "platform events become OTLP log records"},
		{env: "OTEL_LAMBDA_PLATFORM_SPANS", toml: "telemetry.platform_spans", def: "true", kind: kindBool, group: groupTelemetry,
			help: "platform events become spans of the invocation's trace"},
		{env: "OTEL_LAMBDA_PLATFORM_METRICS", toml: "telemetry.platform_metrics", def: "true", kind: kindBool, group: groupTelemetry,
			help: "platform reports become faas.* metrics"},

		// OpenObserve, with seed 002's names and defaults.
		{env: "O2_ORGANIZATION_ID", toml: "openobserve.organization_id", group: groupO2, shown: "none",
			help: "OpenObserve organization; with O2_AUTHORIZATION_HEADER enables OpenObserve"},
		{env: "O2_AUTHORIZATION_HEADER", toml: "openobserve.authorization_header", group: groupO2, secret: true, shown: "none",
			help: "Authorization header value, e.g. \"Basic <base64>\""},
		{env: "O2_ENDPOINT", toml: "openobserve.endpoint", def: "https://api.openobserve.ai", group: groupO2,
			help: "OpenObserve API URL"},
		{env: "O2_STREAM", toml: "openobserve.stream", def: "default", group: groupO2,
			help: "log stream that Lambda logs go to"},
		{env: "O2_BATCH_SIZE", toml: "openobserve.batch_size", def: "100", kind: kindInt, group: groupO2,
			help: "most log records per OpenObserve request (1..100000)"},
		{env: "O2_FLUSH_INTERVAL_MS", toml: "openobserve.flush_interval_ms", def: "5000", kind: kindInt, group: groupO2,
			help: "interval of periodic flushing (ms)"},
		{env: "O2_MAX_BUFFER_SIZE_MB", toml: "openobserve.max_buffer_size_mb", kind: kindInt, group: groupO2,
			shown: "10 with OpenObserve, else AWS_LAMBDA_FUNCTION_MEMORY_SIZE/16 within 4..64 MiB (8 MiB if unknown)",
			help:  "memory budget of the buffer, all signals together (MiB); oldest data is dropped beyond it"},
		{env: "O2_REQUEST_TIMEOUT_MS", toml: "openobserve.request_timeout_ms", def: "30000", kind: kindInt, group: groupO2,
			help: "OpenObserve request timeout (ms)"},
		{env: "O2_MAX_RETRIES", toml: "openobserve.max_retries", def: "3", kind: kindInt, group: groupO2,
			help: "retries of a failed export; applies to every exporter, OTLP too"},
		{env: "O2_INITIAL_RETRY_DELAY_MS", toml: "openobserve.initial_retry_delay_ms", def: "1000", kind: kindInt, group: groupO2,
			help: "first backoff delay (ms), doubling with jitter; every exporter"},
		{env: "O2_MAX_RETRY_DELAY_MS", toml: "openobserve.max_retry_delay_ms", def: "30000", kind: kindInt, group: groupO2,
			help: "largest backoff delay (ms); every exporter"},
	}
}

// signalEnv names the per-signal form of an OTEL_EXPORTER_OTLP_* variable:
// signalEnv(sigTraces, "OTEL_EXPORTER_OTLP_ENDPOINT") is
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT.
func signalEnv(s signal, env string) string {
	return otlpPrefix + strings.ToUpper(s.String()) + "_" + strings.TrimPrefix(env, otlpPrefix)
}

// signalTOML names the per-signal config.toml key: exporter.traces.endpoint.
func signalTOML(s signal, key string) string {
	return "exporter." + s.String() + strings.TrimPrefix(key, "exporter")
}

// configError is one problem with one setting. It renders as
// KEY="value": want what was expected, or, without a value, KEY followed by
// the sentence in want. value is "<redacted>" for credentials.
type configError struct {
	key   string // environment variable, or "<file>:<line>:<col>: <table>.<key>"
	value string
	want  string
}

func (e *configError) Error() string {
	if e.value == "" {
		return e.key + " " + e.want
	}
	return e.key + "=" + strconv.Quote(e.value) + ": want " + e.want
}

// redacted replaces credentials in error messages.
const redacted = "<redacted>"

// configErrorType is the Lambda-Extension-Function-Error-Type reported to
// /extension/init/error for err: short, stable and free of values
// (STYLE rule 12). It is "" for a nil error.
func configErrorType(err error) string {
	var ce *configError
	switch {
	case err == nil:
		return ""
	case errors.As(err, &ce):
		return "Extension.ConfigInvalid"
	}
	return "Extension.UnknownReason"
}

// defaultConfigPath is where Lambda puts the function's code; extensions
// cannot see LAMBDA_TASK_ROOT, so the path is fixed (DESIGN.md).
const defaultConfigPath = "/var/task/config.toml"

// source is where one setting's text came from.
type source struct {
	text   string
	key    string // what an error names
	set    bool   // given by the environment or config.toml, not defaulted
	secret bool
}

// tomlTableVals is a table-valued setting from config.toml.
type tomlTableVals struct {
	entries []tomlEntry
	key     string // "<file>:<line>:<col>: exporter.headers" for errors
}

// configLoader reads one configuration. It lives only inside loadConfig.
type configLoader struct {
	getenv   func(string) string
	readFile func(string) ([]byte, error)
	vars     map[string]configVar
	path     string                    // config.toml read, "" if none
	scalars  map[string]tomlEntry      // dotted key → entry
	tables   map[string]*tomlTableVals // dotted table → entries
	errs     []error
	reported map[string]bool // keys already reported, so a generic variable is named once
}

// loadConfig builds the Config: defaults, then config.toml (OTEL_LAMBDA_CONFIG,
// else /var/task/config.toml when present), then environment variables, one
// variable at a time, then validation. The error joins every problem found,
// each a *configError, so a user fixes them all in one deploy.
func loadConfig(getenv func(string) string, readFile func(string) ([]byte, error)) (Config, error) {
	l := &configLoader{
		getenv:   getenv,
		readFile: readFile,
		vars:     map[string]configVar{},
		reported: map[string]bool{},
	}
	for _, v := range configVars() {
		l.vars[v.env] = v
		if v.perSignal {
			for s := range numSignals {
				sv := v
				sv.env, sv.toml, sv.def, sv.perSignal = signalEnv(s, v.env), signalTOML(s, v.toml), "", false
				l.vars[sv.env] = sv
			}
		}
	}
	l.readTOML()
	var c Config
	l.fill(&c)
	c.ConfigPath = l.path
	return c, errors.Join(l.errs...)
}

func (l *configLoader) env(name string) string { return strings.TrimSpace(l.getenv(name)) }

// fail records a problem with src. Each key is reported once.
func (l *configLoader) fail(src source, want string) {
	if l.reported[src.key] {
		return
	}
	l.reported[src.key] = true
	v := src.text
	if v == "" && src.set {
		want = "is empty; want " + want
	} else if v == "" {
		want = "is not set; want " + want
	} else if src.secret {
		v = redacted
	}
	l.errs = append(l.errs, &configError{key: src.key, value: v, want: want})
}

func (l *configLoader) problem(key, value, want string) {
	l.errs = append(l.errs, &configError{key: key, value: value, want: want})
}

// readTOML finds, reads and parses config.toml, and checks that every table
// and key in it is one we know.
func (l *configLoader) readTOML() {
	path := l.env("OTEL_LAMBDA_CONFIG")
	data, err := l.readFile(cmp.Or(path, defaultConfigPath))
	switch {
	case err != nil && path != "":
		l.problem("OTEL_LAMBDA_CONFIG", path, "a readable config.toml ("+err.Error()+")")
		return
	case errors.Is(err, fs.ErrNotExist):
		return
	case err != nil:
		l.problem("OTEL_LAMBDA_CONFIG", "", "is unset and "+defaultConfigPath+" cannot be read: "+err.Error())
		return
	}
	l.path = cmp.Or(path, defaultConfigPath)
	doc, err := parseTOML(data)
	if err != nil {
		var te *tomlError
		if errors.As(err, &te) {
			l.problem(fmt.Sprintf("%s:%d:%d:", l.path, te.line, te.col), "", te.msg)
		} else {
			l.problem(l.path+":", "", err.Error())
		}
		return
	}
	// Known tables are every prefix of a known key, and table-valued keys.
	known := map[string]bool{"": true}
	l.scalars = map[string]tomlEntry{}
	l.tables = map[string]*tomlTableVals{}
	for _, v := range l.vars {
		if v.toml == "" {
			continue
		}
		parts := strings.Split(v.toml, ".")
		n := len(parts) - 1
		if v.kind == kindTable {
			n++
		}
		for i := 1; i <= n; i++ {
			known[strings.Join(parts[:i], ".")] = true
		}
	}
	for _, t := range doc.tables {
		name := strings.Join(t.path, ".")
		if !known[name] || slices.ContainsFunc(t.path, dotted) {
			l.problem(fmt.Sprintf("%s:%d:%d:", l.path, t.line, t.col), "", fmt.Sprintf("unknown table [%s]; want one of %s", name, knownTables(known)))
			continue
		}
		if v, ok := l.vars[l.envOfTOML(name)]; ok && v.kind == kindTable {
			l.tables[name] = &tomlTableVals{key: fmt.Sprintf("%s:%d:%d: %s", l.path, t.line, t.col, name)}
		}
	}
	for _, e := range doc.entries {
		parent := strings.Join(e.path[:len(e.path)-1], ".")
		if !known[parent] || slices.ContainsFunc(e.path[:len(e.path)-1], dotted) {
			continue // its table is already reported
		}
		if tv := l.tables[parent]; tv != nil {
			tv.entries = append(tv.entries, e)
			continue
		}
		name := strings.Join(e.path, ".")
		v, ok := l.vars[l.envOfTOML(name)]
		if !ok || dotted(e.path[len(e.path)-1]) {
			at := fmt.Sprintf("%s:%d:%d:", l.path, e.keyLine, e.keyCol)
			if parent == "" {
				l.problem(at, "", fmt.Sprintf("unknown key %q at the top level; keys belong in a table such as [exporter]", e.path[0]))
			} else {
				l.problem(at, "", fmt.Sprintf("unknown key %q in [%s]; want one of %s", e.path[len(e.path)-1], parent, l.keysOf(parent)))
			}
			continue
		}
		if v.kind == kindTable {
			l.problem(fmt.Sprintf("%s:%d:%d: %s", l.path, e.line, e.col, name), "", fmt.Sprintf("is a %s; want a [%s] table of strings", e.value.kind, name))
			continue
		}
		l.scalars[name] = e
	}
}

// keysOf lists the keys config.toml accepts in table t.
func (l *configLoader) keysOf(t string) string {
	var keys []string
	for _, v := range l.vars {
		if rest, ok := strings.CutPrefix(v.toml, t+"."); ok && !dotted(rest) {
			keys = append(keys, rest)
		}
	}
	slices.Sort(keys)
	return strings.Join(keys, ", ")
}

func dotted(k string) bool { return strings.Contains(k, ".") }

func knownTables(known map[string]bool) string {
	var names []string
	for k := range known {
		if k != "" {
			names = append(names, "["+k+"]")
		}
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}

// envOfTOML maps a config.toml key to its variable ("" when unknown).
func (l *configLoader) envOfTOML(key string) string {
	for _, v := range l.vars {
		if v.toml == key {
			return v.env
		}
	}
	return ""
}

// get returns the text of variable name: the environment wins over
// config.toml, which wins over the table's default.
func (l *configLoader) get(name string) source {
	v := l.vars[name]
	if s := l.env(name); s != "" {
		return source{text: s, key: name, set: true, secret: v.secret}
	}
	if e, ok := l.scalars[v.toml]; ok && v.toml != "" {
		key := fmt.Sprintf("%s:%d:%d: %s", l.path, e.line, e.col, v.toml)
		src := source{text: e.value.text(), key: key, set: true, secret: v.secret}
		if want := tomlKindWant(v.kind, e.value.kind); want != "" {
			l.fail(src, want)
			return source{text: v.def, key: name}
		}
		return src
	}
	return source{text: v.def, key: name, secret: v.secret}
}

// tomlKindWant says what TOML type a variable of kind k needs, or "" when
// got is acceptable.
func tomlKindWant(k varKind, got tomlKind) string {
	switch {
	case k == kindString && got == tomlString,
		k == kindInt && got == tomlInt,
		k == kindBool && got == tomlBool,
		k == kindDuration && (got == tomlString || got == tomlInt),
		k == kindList && (got == tomlArray || got == tomlString),
		k == kindPort && (got == tomlInt || got == tomlString):
		return ""
	}
	return [...]string{
		kindString:   "a TOML string (in quotes)",
		kindInt:      "a TOML integer (no quotes)",
		kindBool:     "true or false (no quotes)",
		kindDuration: "a duration string such as \"5s\", or integer milliseconds",
		kindList:     "an array of strings such as [\"a\", \"b\"]",
		kindTable:    "a table",
		kindPort:     "a TOML integer, or \"off\"",
	}[k] + "; got a " + got.String()
}

// fill parses every variable into c and validates the whole.
func (l *configLoader) fill(c *Config) {
	c.LogLevel = l.logLevel("OTEL_LAMBDA_LOG_LEVEL")
	c.ServiceName = l.get("OTEL_SERVICE_NAME").text
	c.ResourceAttributes = l.resourceAttributes()

	c.Receiver.Host = l.host("OTEL_LAMBDA_RECEIVER_HOST")
	c.Receiver.Port = l.intIn("OTEL_LAMBDA_RECEIVER_PORT", 1, 65535)
	c.Receiver.GRPCPort = l.grpcPort(c.Receiver.Port)
	// 1 KiB is less than any real export request; 1 GiB is beyond any
	// Lambda memory worth buffering for.
	c.Receiver.MaxBodyBytes = int64(l.intIn("OTEL_LAMBDA_MAX_REQUEST_BYTES", 1<<10, 1<<30))

	c.Flush.Strategy = l.flushStrategy("OTEL_LAMBDA_FLUSH_STRATEGY")
	// 15 minutes is Lambda's longest invocation; a flush cannot outlive it.
	c.Flush.Timeout = l.duration("OTEL_LAMBDA_FLUSH_TIMEOUT", time.Millisecond, 15*time.Minute)

	c.Telemetry.Enabled = l.boolean("OTEL_LAMBDA_TELEMETRY")
	c.Telemetry.Types = l.telemetryTypes("OTEL_LAMBDA_TELEMETRY_TYPES")
	// The ranges are the Telemetry API's own (lambda-apis.md); outside
	// them the subscription is refused at init.
	c.Telemetry.TimeoutMs = l.intIn("OTEL_LAMBDA_TELEMETRY_TIMEOUT_MS", 25, 30000)
	c.Telemetry.MaxItems = l.intIn("OTEL_LAMBDA_TELEMETRY_MAX_ITEMS", 1000, 10000)
	c.Telemetry.MaxBytes = l.intIn("OTEL_LAMBDA_TELEMETRY_MAX_BYTES", 262144, 1048576)
	c.Telemetry.PlatformLogs = l.boolean("OTEL_LAMBDA_PLATFORM_LOGS")
	c.Telemetry.PlatformSpans = l.boolean("OTEL_LAMBDA_PLATFORM_SPANS")
	c.Telemetry.PlatformMetrics = l.boolean("OTEL_LAMBDA_PLATFORM_METRICS")

	l.fillO2(c)
	l.fillBuffer(c)

	// The temporality preference is validated now; the extension forwards
	// the SDK's metrics unchanged and its own platform metrics are deltas
	// per invocation either way, so no field carries it yet.
	if src := l.get("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE"); !slices.Contains([]string{"cumulative", "delta", "lowmemory"}, strings.ToLower(src.text)) {
		l.fail(src, "cumulative, delta or lowmemory")
	}

	l.fillExport(c)
}

// fillO2 reads the OpenObserve settings and the retry settings, which are
// seed 002's names but apply to every exporter.
func (l *configLoader) fillO2(c *Config) {
	org, auth := l.get("O2_ORGANIZATION_ID"), l.get("O2_AUTHORIZATION_HEADER")
	switch {
	case org.set && auth.set:
		c.O2.Enabled = true
	case org.set:
		l.problem("O2_AUTHORIZATION_HEADER", "", "environment variable is required (or openobserve.authorization_header in config.toml) because O2_ORGANIZATION_ID is set")
	case auth.set:
		l.problem("O2_ORGANIZATION_ID", "", "environment variable is required (or openobserve.organization_id in config.toml) because O2_AUTHORIZATION_HEADER is set")
	}
	c.O2.OrgID = org.text
	c.O2.Authorization = auth.text
	if auth.set && !validHeaderValue(auth.text) {
		l.fail(auth, "a header value without control characters")
	}
	c.O2.Endpoint = l.httpURL("O2_ENDPOINT")
	c.O2.Stream = l.get("O2_STREAM").text
	if src := l.get("O2_STREAM"); src.text == "" || strings.ContainsAny(src.text, "/?#% ") {
		l.fail(src, "a stream name without '/', '?', '#', '%' or spaces")
	}
	c.O2.BatchSize = l.intIn("O2_BATCH_SIZE", 1, 100000)
	// 15 minutes: Lambda's longest invocation; longer is never reached.
	c.O2.FlushInterval = l.millis("O2_FLUSH_INTERVAL_MS", 1, 900000)
	c.O2.RequestTimeout = l.millis("O2_REQUEST_TIMEOUT_MS", 1, 900000)

	// Backoff for every exporter (OTLP and OpenObserve). 100 retries and
	// 15 minutes are sanity bounds; the invocation deadline stops retries
	// much earlier in practice.
	c.Retry.MaxRetries = l.intIn("O2_MAX_RETRIES", 0, 100)
	c.Retry.InitialDelay = l.millis("O2_INITIAL_RETRY_DELAY_MS", 1, 900000)
	c.Retry.MaxDelay = l.millis("O2_MAX_RETRY_DELAY_MS", 1, 900000)
	if c.Retry.InitialDelay > c.Retry.MaxDelay {
		l.fail(l.get("O2_MAX_RETRY_DELAY_MS"), fmt.Sprintf("at least O2_INITIAL_RETRY_DELAY_MS (%d)", c.Retry.InitialDelay.Milliseconds()))
	}
}

// Buffer budget when O2_MAX_BUFFER_SIZE_MB is unset and OpenObserve is not
// used: a sixteenth of the function's memory, so the buffer never competes
// with the function for it, but at least 4 MiB (one full export batch) and
// at most 64 MiB (more is minutes of backlog for a frozen sandbox to lose).
// 8 MiB when AWS_LAMBDA_FUNCTION_MEMORY_SIZE is unknown. With OpenObserve
// enabled the default is seed 002's 10 MiB.
const (
	bufferMinBytes     = 4 << 20
	bufferMaxBytes     = 64 << 20
	bufferUnknownBytes = 8 << 20
	bufferO2MB         = 10
)

func (l *configLoader) fillBuffer(c *Config) {
	// 2048 MiB: a fifth of Lambda's largest memory; beyond that the
	// function itself would run out.
	if src := l.get("O2_MAX_BUFFER_SIZE_MB"); src.set {
		c.Buffer.MaxBytes = int64(l.intIn("O2_MAX_BUFFER_SIZE_MB", 1, 2048)) << 20
	} else if c.O2.Enabled {
		c.Buffer.MaxBytes = bufferO2MB << 20
	} else {
		c.Buffer.MaxBytes = bufferFromMemory(l.getenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE"))
	}
	// 1 KiB .. 64 MiB: below, every span would be its own request; above,
	// no backend accepts the request.
	c.Buffer.BatchMaxBytes = l.intIn("OTEL_LAMBDA_MAX_BATCH_BYTES", 1<<10, 64<<20)
	if c.O2.Enabled || l.get("O2_BATCH_SIZE").set {
		c.Buffer.BatchMaxItems = c.O2.BatchSize
	}
}

// bufferFromMemory derives the buffer budget from Lambda's memory size in
// MB (see bufferMinBytes).
func bufferFromMemory(mb string) int64 {
	n, err := strconv.ParseInt(strings.TrimSpace(mb), 10, 64)
	if err != nil || n <= 0 || n > 1<<20 {
		return bufferUnknownBytes
	}
	return min(max(n<<20/16, bufferMinBytes), bufferMaxBytes)
}

// fillExport resolves the three OTLP export targets.
//
// Precedence: per-signal variables win over generic ones, and for each
// variable the environment wins over config.toml. When OpenObserve is
// enabled, a signal with no OTLP endpoint (neither its own nor the generic
// one) is exported to OpenObserve's OTLP API with the O2 preset
// (http/protobuf, gzip, Authorization, O2_REQUEST_TIMEOUT_MS); a signal with
// an explicit OTLP endpoint keeps it, so explicit OTEL_EXPORTER_OTLP_* wins.
// A signal left without an endpoint (Endpoint "") is not exported over OTLP.
func (l *configLoader) fillExport(c *Config) {
	var given [numSignals]source
	for s := range numSignals {
		c.Export[s], given[s] = l.exportTarget(s)
		if c.Export[s].Endpoint == "" && c.O2.Enabled {
			c.Export[s] = o2Target(c, s)
			given[s] = l.get("O2_ENDPOINT")
		}
		if c.Export[s].Endpoint != "" {
			c.OTLPConfigured = true
		}
	}
	// A half-configured OpenObserve is already reported; don't pile on.
	anyGiven := given[sigTraces].set || given[sigMetrics].set || given[sigLogs].set ||
		l.get("O2_ORGANIZATION_ID").set || l.get("O2_AUTHORIZATION_HEADER").set
	if !c.OTLPConfigured && !c.O2.Enabled && !anyGiven {
		l.problem("OTEL_EXPORTER_OTLP_ENDPOINT", "", "is not set: set it to your OTLP backend (e.g. https://collector.example.com:4318), "+
			"or set O2_ORGANIZATION_ID and O2_AUTHORIZATION_HEADER for OpenObserve; "+
			"the OTLP default http://localhost:4318 would point back at this extension's own receiver")
		return
	}
	for s := range numSignals {
		if c.Export[s].Endpoint != "" && pointsAtReceiver(c.Export[s].Endpoint, c.Receiver.Port, c.Receiver.GRPCPort) {
			l.fail(given[s], "a backend; this endpoint points back at this extension's own receiver: a loop; set OTEL_EXPORTER_OTLP_ENDPOINT to your backend")
		}
	}
}

// o2Target is the OTLP target of the OpenObserve preset for signal s.
// OpenObserve picks the stream of OTLP logs from the stream-name header
// (openobserve.ai/docs/ingestion/logs/otlp); without it the function's own
// OTLP logs would land in "default" while its Telemetry API logs go to
// O2_STREAM.
func o2Target(c *Config, s signal) exportTarget {
	h := []header{{"Authorization", c.O2.Authorization}}
	if s == sigLogs {
		h = append(h, header{"stream-name", c.O2.Stream})
	}
	return exportTarget{
		Endpoint:    strings.TrimRight(c.O2.Endpoint, "/") + "/api/" + url.PathEscape(c.O2.OrgID) + s.urlPath(),
		Protocol:    protoHTTPProtobuf,
		Compression: "gzip",
		Headers:     h,
		Timeout:     c.O2.RequestTimeout,
	}
}

// signalSource returns the per-signal form of an OTLP variable when given,
// else the generic one.
func (l *configLoader) signalSource(s signal, env string) source {
	if src := l.get(signalEnv(s, env)); src.set {
		return src
	}
	return l.get(env)
}

// exportTarget reads signal s's OTLP settings. It returns the target (with
// Endpoint "" when no endpoint is given) and the source of the endpoint.
func (l *configLoader) exportTarget(s signal) (exportTarget, source) {
	var t exportTarget
	src := l.signalSource(s, "OTEL_EXPORTER_OTLP_PROTOCOL")
	switch src.text {
	case protoGRPC, protoHTTPProtobuf, protoHTTPJSON:
		t.Protocol = src.text
	case "http": // seed 000's spelling
		t.Protocol = protoHTTPProtobuf
	default:
		l.fail(src, "grpc, http/protobuf or http/json")
		t.Protocol = protoHTTPProtobuf
	}
	src = l.signalSource(s, "OTEL_EXPORTER_OTLP_COMPRESSION")
	if t.Compression = src.text; src.text != "gzip" && src.text != "none" {
		l.fail(src, "gzip or none")
	}
	t.Timeout = l.durationSrc(l.signalSource(s, "OTEL_EXPORTER_OTLP_TIMEOUT"), 0, 15*time.Minute,
		"milliseconds (an integer, 0 = no limit) or a duration such as 10s")
	t.Insecure = l.boolSrc(l.signalSource(s, "OTEL_EXPORTER_OTLP_INSECURE"))
	t.Certificate = l.pemFile(l.signalSource(s, "OTEL_EXPORTER_OTLP_CERTIFICATE"))
	key := l.signalSource(s, "OTEL_EXPORTER_OTLP_CLIENT_KEY")
	cert := l.signalSource(s, "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE")
	t.ClientKey, t.ClientCertificate = l.pemFile(key), l.pemFile(cert)
	if key.set != cert.set {
		missing, given := cert, key
		if cert.set {
			missing, given = key, cert
		}
		l.fail(source{key: missing.key}, "a PEM file, because "+given.key+" is set (mTLS needs both)")
	}
	t.Headers = l.headers(s)

	// The endpoint: the per-signal variable as given, else the generic
	// one as a base (otlp.md §8.1).
	ep := l.get(signalEnv(s, "OTEL_EXPORTER_OTLP_ENDPOINT"))
	perSignal := ep.set
	if !perSignal {
		ep = l.get("OTEL_EXPORTER_OTLP_ENDPOINT")
		if !ep.set {
			return t, ep
		}
	}
	var err error
	if t.Protocol == protoGRPC {
		t.Endpoint, t.Insecure, err = grpcEndpoint(ep.text, t.Insecure)
	} else {
		t.Endpoint, err = httpEndpoint(ep.text, s, perSignal)
	}
	if err != nil {
		l.fail(ep, err.Error())
		t.Endpoint = ""
	}
	return t, ep
}

// httpEndpoint applies otlp.md §8.1 for OTLP/HTTP. A per-signal URL is used
// as given, with "/" as its path when it has none; a generic one is a base
// to which v1/<signal> is appended, relative to its path. Query strings are
// kept in place. The error says what was expected.
func httpEndpoint(raw string, s signal, perSignal bool) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Opaque != "" || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Hostname() == "" {
		return "", errors.New("an http:// or https:// URL with a host, such as https://collector.example.com:4318")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return "", errors.New("a URL whose port is 1..65535")
		}
	}
	// Split off the query and fragment; the path is what sits before.
	tail := strings.IndexAny(raw[len(u.Scheme)+3:], "?#")
	if tail < 0 {
		tail = len(raw)
	} else {
		tail += len(u.Scheme) + 3
	}
	base, rest := raw[:tail], raw[tail:]
	if perSignal {
		if !strings.Contains(base[len(u.Scheme)+3:], "/") {
			base += "/"
		}
		return base + rest, nil
	}
	if !strings.HasSuffix(base, "/") {
		base += "/"
	}
	return base + strings.TrimPrefix(s.urlPath(), "/") + rest, nil
}

// grpcEndpoint turns an OTLP/gRPC endpoint into scheme://host:port.
// http:// and https:// decide plaintext or TLS themselves (and override
// insecure); a bare host:port uses insecure. A URL without a port gets the
// scheme's (otlp.md §8.1). It returns the insecure flag in effect.
func grpcEndpoint(raw string, insecure bool) (string, bool, error) {
	const want = "http://host:port, https://host:port or host:port"
	if !strings.Contains(raw, "://") {
		host, port, err := net.SplitHostPort(raw)
		if err != nil || host == "" || !validPort(port) {
			return "", insecure, errors.New(want)
		}
		scheme := "https"
		if insecure {
			scheme = "http"
		}
		return scheme + "://" + net.JoinHostPort(host, port), insecure, nil
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" {
		return "", insecure, errors.New(want)
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	} else if !validPort(port) {
		return "", insecure, errors.New(want + " with a port of 1..65535")
	}
	return u.Scheme + "://" + net.JoinHostPort(u.Hostname(), port), u.Scheme == "http", nil
}

func validPort(p string) bool {
	n, err := strconv.Atoi(p)
	return err == nil && n >= 1 && n <= 65535 && p[0] != '+'
}

// pointsAtReceiver reports whether endpoint is this extension's own
// receiver: a loopback or unspecified host on the receiver's HTTP or gRPC
// port. Exporting there would feed our own output back in forever.
func pointsAtReceiver(endpoint string, port, grpcPort int) bool {
	u, err := url.Parse(endpoint)
	if err != nil {
		return false
	}
	p := u.Port()
	if p == "" {
		p = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	n, err := strconv.Atoi(p)
	if err != nil || (n != port && (grpcPort == 0 || n != grpcPort)) {
		return false
	}
	return isLoopbackHost(u.Hostname())
}

func isLoopbackHost(h string) bool {
	h = strings.TrimSuffix(strings.ToLower(h), ".")
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && (ip.IsLoopback() || ip.IsUnspecified())
}

// headers reads signal s's headers: its own variable or [exporter.<s>.headers]
// table wins over the generic ones. Each source replaces, never merges.
func (l *configLoader) headers(s signal) []header {
	for _, env := range []string{signalEnv(s, "OTEL_EXPORTER_OTLP_HEADERS"), "OTEL_EXPORTER_OTLP_HEADERS"} {
		if text := l.env(env); text != "" {
			h, err := parseHeaders(text)
			if err != nil {
				l.fail(source{text: text, key: env, set: true, secret: true}, err.Error())
			}
			return h
		}
		tv := l.tables[l.vars[env].toml]
		if tv == nil {
			continue
		}
		h := []header{}
		for _, e := range tv.entries {
			name := e.path[len(e.path)-1]
			src := source{text: e.value.text(), key: fmt.Sprintf("%s:%d:%d: %s.%s", l.path, e.line, e.col, l.vars[env].toml, name), set: true, secret: true}
			switch {
			case e.value.kind != tomlString:
				l.fail(src, "a string header value; got a "+e.value.kind.String())
			case !validHeaderName(name):
				l.fail(source{text: name, key: src.key, set: true}, "a header name (letters, digits and !#$%&'*+-.^_`|~)")
			case !validHeaderValue(e.value.s):
				l.fail(src, "a header value without control characters")
			default:
				h = append(h, header{name, e.value.s})
			}
		}
		return h
	}
	return nil
}

// parseHeaders parses name=value,name2=value2 (otlp.md §8.2): items split
// on ",", each on its first "=", names and values trimmed, values
// percent-decoded, empty items skipped. The error never quotes the input,
// which holds credentials.
func parseHeaders(text string) ([]header, error) {
	var hs []header
	for i, item := range strings.Split(text, ",") {
		if strings.TrimSpace(item) == "" {
			continue
		}
		name, value, ok := strings.Cut(item, "=")
		name = strings.TrimSpace(name)
		if !ok {
			return nil, fmt.Errorf("name=value pairs separated by commas; item %d has no '='", i+1)
		}
		if !validHeaderName(name) {
			return nil, fmt.Errorf("name=value pairs separated by commas; item %d's name is not a header name (letters, digits and !#$%%&'*+-.^_`|~)", i+1)
		}
		v, err := url.PathUnescape(strings.TrimSpace(value))
		if err != nil {
			return nil, fmt.Errorf("name=value pairs separated by commas; item %d's value has a malformed %%-escape", i+1)
		}
		if !validHeaderValue(v) {
			return nil, fmt.Errorf("name=value pairs separated by commas; item %d's value holds control characters", i+1)
		}
		hs = append(hs, header{name, v})
	}
	return hs, nil
}

// validHeaderName reports whether s is an RFC 9110 token.
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

// validHeaderValue refuses control characters (but tab), which would split
// or corrupt the request.
func validHeaderValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

// resourceAttributes reads OTEL_RESOURCE_ATTRIBUTES, or the
// [resource.attributes] table.
func (l *configLoader) resourceAttributes() []keyValue {
	const env = "OTEL_RESOURCE_ATTRIBUTES"
	if text := l.env(env); text != "" {
		kvs, err := parseResourceAttributes(text)
		if err != nil {
			// The specification discards the whole variable on a decoding
			// error; a silent discard ships broken deploys, so it is an error.
			l.fail(source{text: text, key: env, set: true}, err.Error())
		}
		return kvs
	}
	tv := l.tables[l.vars[env].toml]
	if tv == nil {
		return nil
	}
	var kvs []keyValue
	for _, e := range tv.entries {
		name := e.path[len(e.path)-1]
		if e.value.kind != tomlString {
			l.fail(source{text: e.value.text(), key: fmt.Sprintf("%s:%d:%d: resource.attributes.%s", l.path, e.line, e.col, name), set: true},
				"a string attribute value; got a "+e.value.kind.String())
			continue
		}
		kvs = setKV(kvs, name, e.value.s)
	}
	return kvs
}

// parseResourceAttributes parses key=value,key2=value2 with percent-decoded
// keys and values (otlp.md §8.4). Empty items are skipped; a later
// duplicate key replaces the earlier value in place, because OTLP
// attributes must be unique.
func parseResourceAttributes(text string) ([]keyValue, error) {
	const want = "key=value pairs separated by commas, ',' and '=' inside them percent-encoded"
	var kvs []keyValue
	for i, item := range strings.Split(text, ",") {
		if strings.TrimSpace(item) == "" {
			continue
		}
		k, v, ok := strings.Cut(item, "=")
		if !ok {
			return nil, fmt.Errorf("%s; item %d has no '='", want, i+1)
		}
		k, err1 := url.PathUnescape(strings.TrimSpace(k))
		v, err2 := url.PathUnescape(strings.TrimSpace(v))
		switch {
		case err1 != nil || err2 != nil:
			return nil, fmt.Errorf("%s; item %d has a malformed %%-escape", want, i+1)
		case k == "":
			return nil, fmt.Errorf("%s; item %d has an empty key", want, i+1)
		case !utf8.ValidString(k) || !utf8.ValidString(v):
			return nil, fmt.Errorf("%s; item %d decodes to invalid UTF-8", want, i+1)
		}
		kvs = setKV(kvs, k, v)
	}
	return kvs, nil
}

func setKV(kvs []keyValue, k, v string) []keyValue {
	for i := range kvs {
		if kvs[i].key == k {
			kvs[i].value = v
			return kvs
		}
	}
	return append(kvs, keyValue{k, v})
}

// flushStrategyForms lists what OTEL_LAMBDA_FLUSH_STRATEGY accepts.
const flushStrategyForms = "adaptive, end, end,<ms>, periodically,<ms> or continuously,<ms> (ms an integer above 0)"

// parseFlushStrategy parses OTEL_LAMBDA_FLUSH_STRATEGY. "invocation" is seed
// 000's name for end. The error lists the accepted forms.
func parseFlushStrategy(text string) (flushStrategy, error) {
	mode, ms, hasMS := strings.Cut(strings.TrimSpace(text), ",")
	mode = strings.ToLower(strings.TrimSpace(mode))
	if mode == "invocation" {
		mode = flushEnd
	}
	var fs flushStrategy
	switch mode {
	case flushAdaptive:
		if hasMS {
			return fs, errors.New(flushStrategyForms + "; adaptive takes no interval")
		}
	case flushEnd:
	case flushPeriodically, flushContinuously:
		if !hasMS {
			return fs, fmt.Errorf("%s; %s needs an interval", flushStrategyForms, mode)
		}
	default:
		return fs, errors.New(flushStrategyForms)
	}
	fs.Mode = mode
	if hasMS {
		n, err := strconv.ParseInt(strings.TrimSpace(ms), 10, 64)
		// A day bounds the interval: more is never reached by a sandbox.
		if err != nil || n <= 0 || n > 86400000 {
			return flushStrategy{}, errors.New(flushStrategyForms + "; the interval must be 1..86400000 ms")
		}
		fs.Interval = time.Duration(n) * time.Millisecond
	}
	return fs, nil
}

func (l *configLoader) flushStrategy(env string) flushStrategy {
	src := l.get(env)
	fs, err := parseFlushStrategy(src.text)
	if err != nil {
		l.fail(src, err.Error())
		return flushStrategy{Mode: flushAdaptive}
	}
	return fs
}

func (l *configLoader) logLevel(env string) logLevel {
	src := l.get(env)
	switch strings.ToLower(src.text) {
	case "debug":
		return levelDebug
	case "info":
		return levelInfo
	case "warn", "warning":
		return levelWarn
	case "error":
		return levelError
	}
	l.fail(src, "debug, info, warn or error")
	return levelInfo
}

func (l *configLoader) host(env string) string {
	src := l.get(env)
	h := src.text
	if net.ParseIP(h) != nil {
		return h
	}
	for i := 0; i < len(h); i++ {
		if c := h[i]; !(isBareKeyByte(c) && c != '_' || c == '.') {
			l.fail(src, "an IP address or host name, such as 127.0.0.1")
			return "127.0.0.1"
		}
	}
	if h == "" {
		l.fail(src, "an IP address or host name, such as 127.0.0.1")
		return "127.0.0.1"
	}
	return h
}

func (l *configLoader) grpcPort(httpPort int) int {
	src := l.get("OTEL_LAMBDA_GRPC_PORT")
	if strings.EqualFold(src.text, "off") {
		return 0
	}
	n, err := strconv.Atoi(src.text)
	if err != nil || n < 0 || n > 65535 {
		l.fail(src, "a port 1..65535, or 0 or off to disable the gRPC receiver")
		return 0
	}
	if n != 0 && n == httpPort {
		l.fail(src, fmt.Sprintf("a port other than OTEL_LAMBDA_RECEIVER_PORT (%d)", httpPort))
		return 0
	}
	return n
}

func (l *configLoader) intIn(env string, lo, hi int) int {
	src := l.get(env)
	n, err := strconv.Atoi(src.text)
	if err != nil || n < lo || n > hi {
		l.fail(src, fmt.Sprintf("an integer from %d to %d", lo, hi))
		n, _ = strconv.Atoi(l.vars[env].def)
	}
	return n
}

func (l *configLoader) millis(env string, lo, hi int) time.Duration {
	return time.Duration(l.intIn(env, lo, hi)) * time.Millisecond
}

func (l *configLoader) boolean(env string) bool { return l.boolSrc(l.get(env)) }

// boolSrc accepts true or false, case-insensitive; anything else is an
// error rather than the specification's silent false.
func (l *configLoader) boolSrc(src source) bool {
	switch strings.ToLower(src.text) {
	case "true":
		return true
	case "false":
		return false
	}
	l.fail(src, "true or false")
	return false
}

func (l *configLoader) duration(env string, lo, hi time.Duration) time.Duration {
	return l.durationSrc(l.get(env), lo, hi, "a duration such as 5s or 500ms")
}

// durationSrc parses integer milliseconds or a Go duration with a unit, in
// [lo, hi].
func (l *configLoader) durationSrc(src source, lo, hi time.Duration, want string) time.Duration {
	d, ok := parseDurationMs(src.text)
	if !ok {
		l.fail(src, want)
		return 0
	}
	if d < lo || d > hi {
		l.fail(src, fmt.Sprintf("a duration from %v to %v", lo, hi))
		return 0
	}
	return d
}

// parseDurationMs accepts integer milliseconds ("500") or a duration with a
// unit ("5s", "1m30s").
func parseDurationMs(s string) (time.Duration, bool) {
	if s == "" {
		return 0, false
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n < 0 || n > math.MaxInt64/int64(time.Millisecond) {
			return 0, false
		}
		return time.Duration(n) * time.Millisecond, true
	}
	d, err := time.ParseDuration(s)
	return d, err == nil && d >= 0
}

// pemFile checks that a certificate or key file named by src is readable
// PEM. The file's content is never printed.
func (l *configLoader) pemFile(src source) string {
	if src.text == "" {
		return ""
	}
	b, err := l.readFile(src.text)
	switch {
	case err != nil:
		l.fail(src, "a readable PEM file ("+err.Error()+")")
	case !bytes.Contains(b, []byte("-----BEGIN ")):
		l.fail(src, "a PEM file (no -----BEGIN line found)")
	}
	return src.text
}

func (l *configLoader) httpURL(env string) string {
	src := l.get(env)
	u, err := url.Parse(src.text)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" || u.RawQuery != "" || u.Fragment != "" {
		l.fail(src, "an http:// or https:// URL with a host and no query, such as https://api.openobserve.ai")
	}
	return src.text
}

func (l *configLoader) telemetryTypes(env string) []string {
	src := l.get(env)
	var types []string
	for _, t := range strings.Split(src.text, ",") {
		t = strings.ToLower(strings.TrimSpace(t))
		switch t {
		case "platform", "function", "extension":
			if !slices.Contains(types, t) {
				types = append(types, t)
			}
		case "":
		default:
			l.fail(src, "a comma list of platform, function and extension")
			return []string{"platform", "function", "extension"}
		}
	}
	if len(types) == 0 {
		l.fail(src, "a comma list of platform, function and extension (at least one)")
	}
	return types
}

// usage prints the --help text: what the extension is, its flags, and every
// configuration variable with its default, meaning and config.toml key,
// straight from configVars.
func usage(w io.Writer) {
	var b strings.Builder
	b.WriteString(extensionName + ": an AWS Lambda extension that exports the function's OpenTelemetry data and Lambda's platform telemetry to an OTLP backend or OpenObserve.\n\n")
	b.WriteString("Usage: " + extensionName + " [--help | --version | --health-check]\n\n")
	b.WriteString("  --help          print this text and exit\n")
	b.WriteString("  --version       print the version and exit\n")
	b.WriteString("  --health-check  validate the configuration, test the connection to the backend, and exit\n\n")
	b.WriteString("Configuration: defaults < config.toml (OTEL_LAMBDA_CONFIG, else " + defaultConfigPath + " when present)\n")
	b.WriteString("< environment variables, per variable. Every problem is reported at once and is fatal.\n")
	b.WriteString("Per-signal OTLP variables (TRACES, METRICS, LOGS) win over the generic ones. With\n")
	b.WriteString("O2_ORGANIZATION_ID and O2_AUTHORIZATION_HEADER set, signals without an OTLP endpoint\n")
	b.WriteString("go to OpenObserve's OTLP API; an explicit OTEL_EXPORTER_OTLP_* endpoint wins.\n")
	vars := configVars()
	for _, g := range []string{groupOTLP, groupExtension, groupTelemetry, groupO2} {
		b.WriteString("\n" + g + ":\n")
		for _, v := range vars {
			if v.group != g {
				continue
			}
			def := cmp.Or(v.shown, v.def)
			fmt.Fprintf(&b, "  %s (default: %s)\n      %s\n", v.env, def, v.help)
			if v.perSignal {
				b.WriteString("      per signal:")
				for s := range numSignals {
					b.WriteString(" " + signalEnv(s, v.env))
				}
				b.WriteString("\n")
			}
			if v.toml != "" {
				b.WriteString("      config.toml: " + tomlUsageKey(v.toml, v.kind))
				if v.perSignal {
					b.WriteString(", or per signal " + tomlUsageKey(signalTOML(sigTraces, v.toml), v.kind) + " (metrics, logs)")
				}
				b.WriteString("\n")
			}
		}
	}
	b.WriteString(`
Example config.toml (environment variables override it):

  [exporter]
  endpoint = "https://collector.example.com"
  protocol = "http/protobuf"
  compression = "gzip"
  timeout = "30s"

  [exporter.headers]
  Authorization = "Bearer your-token"

  [receiver]
  port = 4318
  host = "127.0.0.1"

  [flush]
  strategy = "end"
  timeout = "5s"

  [telemetry]
  types = ["platform", "function"]
`)
	io.WriteString(w, b.String())
}

// tomlUsageKey shows a config.toml key as [table] key.
func tomlUsageKey(key string, k varKind) string {
	if k == kindTable {
		return "[" + key + "] table"
	}
	i := strings.LastIndexByte(key, '.')
	return "[" + key[:i] + "] " + key[i+1:]
}
