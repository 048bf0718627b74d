// config.go owns the one Config of the extension: defaults, then
// config.toml, then environment variables (OTEL_*, OTEL_LAMBDA_*, O2_*), then
// validation that reports every problem at once, each naming the key or
// variable, the value given and what was expected.
package main

import "time"

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
