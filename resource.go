// resource.go owns the OpenTelemetry resource of this Lambda function: the
// attributes detected from the environment the extension really sees
// (lambda-apis.md §3), the user's OTEL_SERVICE_NAME and
// OTEL_RESOURCE_ATTRIBUTES, the account id learned after start, and the log
// group and stream the otel-instrument wrapper hands over. Each attribute is
// encoded once; the snapshot is immutable and replaced whole when a late
// value arrives, so readers never lock for long.
//
// Precedence (otlp.md §8.4 and §9.1):
//   - service.name: OTEL_SERVICE_NAME, else service.name from
//     OTEL_RESOURCE_ATTRIBUTES, else the function name, else
//     "unknown_service" (the SDK spec's fallback).
//   - every other key: a value the user gave in OTEL_RESOURCE_ATTRIBUTES
//     wins over the detected one and takes its place in the list. The user
//     states intent; detection only guesses (and a user who sets
//     cloud.account.id is not overridden by setAccountID).
//
// faas.instance (the log stream's name, as the semantic conventions
// suggest for Lambda), aws.log.group.names and aws.log.stream.names are
// values an extension cannot see (lambda-apis.md §3, DESIGN.md "Platform
// telemetry"): they come from the wrapper's handoff file (readHandoff), read
// at the first INVOKE, and are left out when there is none. A user may
// still give them in OTEL_RESOURCE_ATTRIBUTES.
package main

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
)

// bytesPerMB converts Lambda's MB to bytes: the semantic conventions use
// MiB (lambda-apis.md §5.8), not the 1,000,000 opentelemetry-lambda uses.
const bytesPerMB = 1 << 20

// resource is the Lambda resource. Safe for concurrent use.
type resource struct {
	// Detected at start, never changed.
	region, functionName, functionVersion, serviceName string
	maxMemory                                          int64 // bytes; 0 = unknown
	user                                               []keyValue

	mu        sync.Mutex
	account   string      // cloud.account.id, "" until known
	logGroup  string      // AWS_LAMBDA_LOG_GROUP_NAME from the handoff file, "" until read
	logStream string      // AWS_LAMBDA_LOG_STREAM_NAME, likewise
	kvs       []encodedKV // immutable snapshot of all attributes, rebuilt when a late value arrives
}

// detectResource builds the resource from the extension's environment and
// the configuration. getenv is os.Getenv in production.
func detectResource(cfg *Config, getenv func(string) string) *resource {
	r := &resource{
		region:          getenv("AWS_REGION"),
		functionName:    getenv("AWS_LAMBDA_FUNCTION_NAME"),
		functionVersion: getenv("AWS_LAMBDA_FUNCTION_VERSION"),
	}
	if mb, err := strconv.ParseInt(strings.TrimSpace(getenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")), 10, 64); err == nil && mb > 0 {
		r.maxMemory = mb * bytesPerMB
	}
	var userService string
	if cfg != nil {
		r.serviceName = cfg.ServiceName
		// Later duplicates win, as in the OpenTelemetry SDKs' parsers.
		for _, kv := range cfg.ResourceAttributes {
			if kv.key == "" {
				continue
			}
			if kv.key == "service.name" {
				userService = kv.value
				continue
			}
			replaced := false
			for i := range r.user {
				if r.user[i].key == kv.key {
					r.user[i].value = kv.value
					replaced = true
				}
			}
			if !replaced {
				r.user = append(r.user, kv)
			}
		}
	}
	switch {
	case r.serviceName != "":
	case userService != "":
		r.serviceName = userService
	case r.functionName != "":
		r.serviceName = r.functionName
	default:
		r.serviceName = "unknown_service"
	}
	r.kvs = r.build()
	return r
}

// userValue returns the user's value for key from OTEL_RESOURCE_ATTRIBUTES.
func (r *resource) userValue(key string) (string, bool) {
	for _, kv := range r.user {
		if kv.key == key {
			return kv.value, true
		}
	}
	return "", false
}

// build encodes every attribute in order. Called with mu held (or before
// the resource is shared).
func (r *resource) build() []encodedKV {
	kvs := make([]encodedKV, 0, 9+len(r.user))
	used := make(map[string]bool, 9)
	str := func(key, detected string) {
		used[key] = true
		if v, ok := r.userValue(key); ok {
			kvs = append(kvs, encodeKV(key, appendKVString(nil, 1, key, v)))
		} else if detected != "" {
			kvs = append(kvs, encodeKV(key, appendKVString(nil, 1, key, detected)))
		}
	}
	str("cloud.provider", "aws")
	str("cloud.platform", "aws_lambda")
	str("cloud.region", r.region)
	str("cloud.account.id", r.account)
	str("faas.name", r.functionName)
	str("faas.version", r.functionVersion)
	str("faas.instance", r.logStream)
	used["faas.max_memory"] = true
	if v, ok := r.userValue("faas.max_memory"); ok {
		kvs = append(kvs, encodeKV("faas.max_memory", appendKVString(nil, 1, "faas.max_memory", v)))
	} else if r.maxMemory > 0 {
		kvs = append(kvs, encodeKV("faas.max_memory", appendKVInt(nil, 1, "faas.max_memory", r.maxMemory)))
	}
	strs := func(key, detected string) {
		if _, ok := r.userValue(key); ok || detected == "" {
			return // a user's value is added below, as given
		}
		used[key] = true
		kvs = append(kvs, encodeKV(key, appendKVStrings(nil, 1, key, []string{detected})))
	}
	strs("aws.log.group.names", r.logGroup)
	strs("aws.log.stream.names", r.logStream)
	kvs = append(kvs, encodeKV("service.name", appendKVString(nil, 1, "service.name", r.serviceName)))
	for _, kv := range r.user {
		if !used[kv.key] {
			kvs = append(kvs, encodeKV(kv.key, appendKVString(nil, 1, kv.key, kv.value)))
		}
	}
	return kvs
}

// encodeKV strips the tag and length that the appendKV* helpers write, so
// the encodedKV holds the KeyValue message alone.
func encodeKV(key string, field []byte) encodedKV {
	_, _, n := wireConsumeTag(field)
	_, m := wireConsumeVarint(field[n:])
	return encodedKV{key: key, kv: field[n+m:]}
}

// setAccountID records the AWS account id (from register's accountId, or
// accountFromARN of an INVOKE's ARN). Empty ids, repeats and a user-given
// cloud.account.id leave the resource as it is.
func (r *resource) setAccountID(id string) {
	if id == "" {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.account == id {
		return
	}
	if _, ok := r.userValue("cloud.account.id"); ok {
		return
	}
	r.account = id
	r.kvs = r.build()
}

// setLogNames records the function's log group and stream (from the
// wrapper's handoff file) and reports whether the attributes changed.
func (r *resource) setLogNames(group, stream string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if group == r.logGroup && stream == r.logStream {
		return false
	}
	r.logGroup, r.logStream = group, stream
	r.kvs = r.build()
	return true
}

// accountID returns the account id known so far ("" if none).
func (r *resource) accountID() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.account
}

// attrs returns the resource attributes, each KeyValue encoded once, for
// enriching the function's payloads. The slice is shared: don't modify it.
func (r *resource) attrs() []encodedKV {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.kvs
}

// appendResource appends a Resource message holding every attribute as
// field num of the enclosing message (field 1 of ResourceSpans,
// ResourceMetrics and ResourceLogs).
func (r *resource) appendResource(b []byte, num wireNumber) []byte {
	kvs := r.attrs()
	b, start := openLen(b, num)
	for _, kv := range kvs {
		b = wireAppendTag(b, 1, wireBytesType)
		b = wireAppendBytes(b, kv.kv)
	}
	return closeLen(b, start)
}

// accountFromARN returns the account id of a Lambda ARN, its fifth
// ':'-separated field (arn:aws:lambda:us-east-1:123456789012:function:f),
// or "" when arn is not an ARN with a 12-digit account.
func accountFromARN(arn string) string {
	if !strings.HasPrefix(arn, "arn:") {
		return ""
	}
	f := strings.SplitN(arn, ":", 6)
	if len(f) < 6 || len(f[4]) != 12 {
		return ""
	}
	for i := 0; i < len(f[4]); i++ {
		if c := f[4][i]; c < '0' || c > '9' {
			return ""
		}
	}
	return f[4]
}

// Limits of the handoff file, which the function's own process writes: two
// short lines. Anything larger is not the wrapper's.
const (
	maxHandoffBytes = 4 << 10
	maxHandoffValue = 512 // CloudWatch caps group and stream names at 512
)

// readHandoff reads the log group and stream the otel-instrument wrapper
// wrote to path (KEY=VALUE lines, otel-instrument section 3). A missing
// file is no error: the function runs without the wrapper. Unknown keys are
// ignored; a value that is empty, too long or not UTF-8 is left out.
func readHandoff(path string) (group, stream string, err error) {
	f, err := os.Open(path)
	if err != nil {
		if os.IsNotExist(err) {
			return "", "", nil
		}
		return "", "", fmt.Errorf("handoff file: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxHandoffBytes+1))
	if err != nil {
		return "", "", fmt.Errorf("handoff file %s: %w", path, err)
	}
	if len(b) > maxHandoffBytes {
		return "", "", fmt.Errorf("handoff file %s: over %d bytes, not the wrapper's; ignored", path, maxHandoffBytes)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		k, v, ok := strings.Cut(line, "=")
		if !ok || v == "" || len(v) > maxHandoffValue || !utf8.ValidString(v) {
			continue
		}
		switch k {
		case "AWS_LAMBDA_LOG_GROUP_NAME":
			group = v
		case "AWS_LAMBDA_LOG_STREAM_NAME":
			stream = v
		}
	}
	return group, stream, nil
}
