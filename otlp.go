// otlp.go owns the protobuf wire format of OTLP, on wire.go only:
// the signal enumeration, append-style encoders used to build OTLP messages,
// the validating walk of Export*ServiceRequest bodies, and resource
// enrichment. See ../shared/docs/otlp.md sections 6 and 7 for the field
// numbers. Nothing here decodes into structs: bytes in, bytes out.
package main

import (
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
	"unicode/utf8"
)

// signal is one of the three OTLP signals.
type signal uint8

const (
	sigTraces signal = iota
	sigMetrics
	sigLogs
	numSignals
)

var signalNames = [numSignals]string{"traces", "metrics", "logs"}

func (s signal) String() string {
	if s < numSignals {
		return signalNames[s]
	}
	return "unknown"
}

// urlPath is the OTLP/HTTP default path of the signal.
func (s signal) urlPath() string { return "/v1/" + s.String() }

// openLen appends the tag of a length-delimited field number num and one
// placeholder byte for its length, and returns the offset where the content
// starts. Append the content, then call closeLen with that offset. Nesting
// is allowed: close the inner field before the outer one.
func openLen(b []byte, num wireNumber) ([]byte, int) {
	b = wireAppendTag(b, num, wireBytesType)
	b = append(b, 0)
	return b, len(b)
}

// closeLen writes the length of the content that follows start, moving the
// content right when the length needs more than one varint byte.
func closeLen(b []byte, start int) []byte {
	n := len(b) - start
	if n < 0x80 {
		b[start-1] = byte(n)
		return b
	}
	extra := wireSizeVarint(uint64(n)) - 1
	for i := 0; i < extra; i++ {
		b = append(b, 0)
	}
	copy(b[start+extra:], b[start:start+n])
	wireAppendVarint(b[:start-1], uint64(n))
	return b
}

// appendString appends a string field; empty strings are skipped (proto3).
func appendString(b []byte, num wireNumber, s string) []byte {
	if s == "" {
		return b
	}
	b = wireAppendTag(b, num, wireBytesType)
	return wireAppendString(b, s)
}

// appendBytes appends a bytes field; empty values are skipped (proto3).
func appendBytes(b []byte, num wireNumber, v []byte) []byte {
	if len(v) == 0 {
		return b
	}
	b = wireAppendTag(b, num, wireBytesType)
	return wireAppendBytes(b, v)
}

// appendVarint appends a varint field; zero is skipped (proto3).
func appendVarint(b []byte, num wireNumber, v uint64) []byte {
	if v == 0 {
		return b
	}
	b = wireAppendTag(b, num, wireVarintType)
	return wireAppendVarint(b, v)
}

// appendFixed64 appends a fixed64 field; zero is skipped (proto3).
func appendFixed64(b []byte, num wireNumber, v uint64) []byte {
	if v == 0 {
		return b
	}
	b = wireAppendTag(b, num, wireFixed64Type)
	return wireAppendFixed64(b, v)
}

// appendDouble appends a double field, always (used for optional fields and
// oneof members, where presence matters).
func appendDouble(b []byte, num wireNumber, v float64) []byte {
	b = wireAppendTag(b, num, wireFixed64Type)
	return wireAppendFixed64(b, math.Float64bits(v))
}

// AnyValue field numbers (common.v1.AnyValue).
const (
	anyString wireNumber = 1
	anyBool   wireNumber = 2
	anyInt    wireNumber = 3
	anyDouble wireNumber = 4
	anyArray  wireNumber = 5
	anyKVList wireNumber = 6
	anyBytes  wireNumber = 7
)

// appendKVString appends, as field num of the enclosing message, a KeyValue
// whose value is a string. The value field is always written, even when empty,
// so the attribute keeps its type.
func appendKVString(b []byte, num wireNumber, key, val string) []byte {
	b, kv := openLen(b, num)
	b = appendString(b, 1, key)
	b, v := openLen(b, 2)
	b = wireAppendTag(b, anyString, wireBytesType)
	b = wireAppendString(b, val)
	b = closeLen(b, v)
	return closeLen(b, kv)
}

// appendKVInt appends a KeyValue with an int64 value as field num.
func appendKVInt(b []byte, num wireNumber, key string, val int64) []byte {
	b, kv := openLen(b, num)
	b = appendString(b, 1, key)
	b, v := openLen(b, 2)
	b = wireAppendTag(b, anyInt, wireVarintType)
	b = wireAppendVarint(b, uint64(val))
	b = closeLen(b, v)
	return closeLen(b, kv)
}

// appendKVBool appends a KeyValue with a bool value as field num.
func appendKVBool(b []byte, num wireNumber, key string, val bool) []byte {
	b, kv := openLen(b, num)
	b = appendString(b, 1, key)
	b, v := openLen(b, 2)
	b = wireAppendTag(b, anyBool, wireVarintType)
	b = wireAppendVarint(b, wireEncodeBool(val))
	b = closeLen(b, v)
	return closeLen(b, kv)
}

// appendKVDouble appends a KeyValue with a double value as field num.
func appendKVDouble(b []byte, num wireNumber, key string, val float64) []byte {
	b, kv := openLen(b, num)
	b = appendString(b, 1, key)
	b, v := openLen(b, 2)
	b = appendDouble(b, anyDouble, val)
	b = closeLen(b, v)
	return closeLen(b, kv)
}

// appendKVStrings appends a KeyValue whose value is an array of strings.
func appendKVStrings(b []byte, num wireNumber, key string, vals []string) []byte {
	b, kv := openLen(b, num)
	b = appendString(b, 1, key)
	b, v := openLen(b, 2)
	b, arr := openLen(b, anyArray)
	for _, s := range vals {
		var e int
		b, e = openLen(b, 1)
		b = wireAppendTag(b, anyString, wireBytesType)
		b = wireAppendString(b, s)
		b = closeLen(b, e)
	}
	b = closeLen(b, arr)
	b = closeLen(b, v)
	return closeLen(b, kv)
}

// encodedKV is one resource attribute ready to be spliced into a Resource:
// its key (to test whether a payload already has it) and the bytes of the
// KeyValue message (without tag or length).
type encodedKV struct {
	key string
	kv  []byte
}

// The OTLP schema, as data: one msgDesc per message of the three signals
// (../shared/docs/otlp.md section 7). The validating walk, the JSON
// transcoder and the JSON writer all read it, so a field is declared once.
// It is a constant table (statically initialised, no init work).

// fieldKind is the proto type of a field, as far as the wire, UTF-8 and
// OTLP/JSON care.
type fieldKind uint8

const (
	fkString   fieldKind = iota + 1 // string: must be UTF-8
	fkBytes                         // bytes: base64 in JSON
	fkTraceID                       // bytes: 16 bytes when set, hex in JSON
	fkSpanID                        // bytes: 8 bytes when set, hex in JSON
	fkMessage                       // embedded message schema[msg]
	fkBool                          // bool
	fkInt32                         // int32
	fkUint32                        // uint32
	fkInt64                         // int64
	fkUint64                        // uint64
	fkSint32                        // sint32 (zigzag)
	fkEnum                          // enum enums[msg], an int32 on the wire
	fkFixed32                       // fixed32
	fkFixed64                       // fixed64
	fkSfixed64                      // sfixed64
	fkDouble                        // double
)

// wireType is the wire type a field of kind k is written with (unpacked).
func (k fieldKind) wireType() wireType {
	switch k {
	case fkString, fkBytes, fkTraceID, fkSpanID, fkMessage:
		return wireBytesType
	case fkFixed32:
		return wireFixed32Type
	case fkFixed64, fkSfixed64, fkDouble:
		return wireFixed64Type
	}
	return wireVarintType
}

// Field flags.
const (
	fRepeated uint8 = 1 << iota
	fOneof          // member of the message's only oneof: presence matters
	fOptional       // proto3 optional: presence matters
	fItem           // each occurrence is one item (span, data point, log record)
)

// msgID names a message of the schema; for fkEnum fields the same field
// names an enum of enumNames.
type msgID uint8

const (
	mTracesRequest msgID = iota
	mMetricsRequest
	mLogsRequest
	mResource
	mScope
	mKeyValue
	mAnyValue
	mArrayValue
	mKVList
	mEntityRef
	mResourceSpans
	mScopeSpans
	mSpan
	mEvent
	mLink
	mStatus
	mResourceMetrics
	mScopeMetrics
	mMetric
	mGauge
	mSum
	mHistogram
	mExpHistogram
	mSummary
	mNumberDP
	mHistogramDP
	mExpHistogramDP
	mBuckets
	mSummaryDP
	mQuantile
	mExemplar
	mResourceLogs
	mScopeLogs
	mLogRecord
	numMsgs
)

// Enums, for fkEnum fields (in the msg slot).
const (
	eSpanKind msgID = iota
	eStatusCode
	eTemporality
	eSeverity
)

// enumNames maps each enum's numbers to its proto names, which OTLP/JSON
// receivers accept besides the numbers.
var enumNames = [...][]string{
	eSpanKind: {"SPAN_KIND_UNSPECIFIED", "SPAN_KIND_INTERNAL", "SPAN_KIND_SERVER",
		"SPAN_KIND_CLIENT", "SPAN_KIND_PRODUCER", "SPAN_KIND_CONSUMER"},
	eStatusCode:  {"STATUS_CODE_UNSET", "STATUS_CODE_OK", "STATUS_CODE_ERROR"},
	eTemporality: {"AGGREGATION_TEMPORALITY_UNSPECIFIED", "AGGREGATION_TEMPORALITY_DELTA", "AGGREGATION_TEMPORALITY_CUMULATIVE"},
	eSeverity: {"SEVERITY_NUMBER_UNSPECIFIED",
		"SEVERITY_NUMBER_TRACE", "SEVERITY_NUMBER_TRACE2", "SEVERITY_NUMBER_TRACE3", "SEVERITY_NUMBER_TRACE4",
		"SEVERITY_NUMBER_DEBUG", "SEVERITY_NUMBER_DEBUG2", "SEVERITY_NUMBER_DEBUG3", "SEVERITY_NUMBER_DEBUG4",
		"SEVERITY_NUMBER_INFO", "SEVERITY_NUMBER_INFO2", "SEVERITY_NUMBER_INFO3", "SEVERITY_NUMBER_INFO4",
		"SEVERITY_NUMBER_WARN", "SEVERITY_NUMBER_WARN2", "SEVERITY_NUMBER_WARN3", "SEVERITY_NUMBER_WARN4",
		"SEVERITY_NUMBER_ERROR", "SEVERITY_NUMBER_ERROR2", "SEVERITY_NUMBER_ERROR3", "SEVERITY_NUMBER_ERROR4",
		"SEVERITY_NUMBER_FATAL", "SEVERITY_NUMBER_FATAL2", "SEVERITY_NUMBER_FATAL3", "SEVERITY_NUMBER_FATAL4"},
}

// fieldDesc describes one field: its number, kind, flags, the message (or
// enum) it refers to, and its proto and lowerCamelCase JSON names.
type fieldDesc struct {
	num   wireNumber
	kind  fieldKind
	flags uint8
	msg   msgID
	name  string
	json  string
}

func (f *fieldDesc) repeated() bool { return f.flags&fRepeated != 0 }

// packed reports whether the field is a repeated scalar, which proto3
// writes packed in one LEN record (readers accept both forms).
func (f *fieldDesc) packed() bool {
	return f.flags&fRepeated != 0 && f.kind.wireType() != wireBytesType
}

// msgDesc is one message: its fields in field-number order.
type msgDesc struct {
	name   string
	fields []fieldDesc
}

// field returns the index in m.fields of field num, or -1 for an unknown
// field.
func (m *msgDesc) field(num wireNumber) int {
	// Most messages number their fields 1..n: try the direct slot first.
	if i := int(num) - 1; i >= 0 && i < len(m.fields) && m.fields[i].num == num {
		return i
	}
	for i := range m.fields {
		if m.fields[i].num == num {
			return i
		}
	}
	return -1
}

var schema = [numMsgs]msgDesc{
	mTracesRequest:  {"ExportTraceServiceRequest", []fieldDesc{{1, fkMessage, fRepeated, mResourceSpans, "resource_spans", "resourceSpans"}}},
	mMetricsRequest: {"ExportMetricsServiceRequest", []fieldDesc{{1, fkMessage, fRepeated, mResourceMetrics, "resource_metrics", "resourceMetrics"}}},
	mLogsRequest:    {"ExportLogsServiceRequest", []fieldDesc{{1, fkMessage, fRepeated, mResourceLogs, "resource_logs", "resourceLogs"}}},

	mResource: {"Resource", []fieldDesc{
		{1, fkMessage, fRepeated, mKeyValue, "attributes", "attributes"},
		{2, fkUint32, 0, 0, "dropped_attributes_count", "droppedAttributesCount"},
		{3, fkMessage, fRepeated, mEntityRef, "entity_refs", "entityRefs"},
	}},
	mScope: {"InstrumentationScope", []fieldDesc{
		{1, fkString, 0, 0, "name", "name"},
		{2, fkString, 0, 0, "version", "version"},
		{3, fkMessage, fRepeated, mKeyValue, "attributes", "attributes"},
		{4, fkUint32, 0, 0, "dropped_attributes_count", "droppedAttributesCount"},
	}},
	mKeyValue: {"KeyValue", []fieldDesc{
		{1, fkString, 0, 0, "key", "key"},
		{2, fkMessage, 0, mAnyValue, "value", "value"},
		{3, fkInt32, 0, 0, "key_strindex", "keyStrindex"},
	}},
	mAnyValue: {"AnyValue", []fieldDesc{
		{1, fkString, fOneof, 0, "string_value", "stringValue"},
		{2, fkBool, fOneof, 0, "bool_value", "boolValue"},
		{3, fkInt64, fOneof, 0, "int_value", "intValue"},
		{4, fkDouble, fOneof, 0, "double_value", "doubleValue"},
		{5, fkMessage, fOneof, mArrayValue, "array_value", "arrayValue"},
		{6, fkMessage, fOneof, mKVList, "kvlist_value", "kvlistValue"},
		{7, fkBytes, fOneof, 0, "bytes_value", "bytesValue"},
		{8, fkInt32, fOneof, 0, "string_value_strindex", "stringValueStrindex"},
	}},
	mArrayValue: {"ArrayValue", []fieldDesc{{1, fkMessage, fRepeated, mAnyValue, "values", "values"}}},
	mKVList:     {"KeyValueList", []fieldDesc{{1, fkMessage, fRepeated, mKeyValue, "values", "values"}}},
	mEntityRef: {"EntityRef", []fieldDesc{
		{1, fkString, 0, 0, "schema_url", "schemaUrl"},
		{2, fkString, 0, 0, "type", "type"},
		{3, fkString, fRepeated, 0, "id_keys", "idKeys"},
		{4, fkString, fRepeated, 0, "description_keys", "descriptionKeys"},
	}},

	mResourceSpans: {"ResourceSpans", []fieldDesc{
		{1, fkMessage, 0, mResource, "resource", "resource"},
		{2, fkMessage, fRepeated, mScopeSpans, "scope_spans", "scopeSpans"},
		{3, fkString, 0, 0, "schema_url", "schemaUrl"},
	}},
	mScopeSpans: {"ScopeSpans", []fieldDesc{
		{1, fkMessage, 0, mScope, "scope", "scope"},
		{2, fkMessage, fRepeated | fItem, mSpan, "spans", "spans"},
		{3, fkString, 0, 0, "schema_url", "schemaUrl"},
	}},
	mSpan: {"Span", []fieldDesc{
		{1, fkTraceID, 0, 0, "trace_id", "traceId"},
		{2, fkSpanID, 0, 0, "span_id", "spanId"},
		{3, fkString, 0, 0, "trace_state", "traceState"},
		{4, fkSpanID, 0, 0, "parent_span_id", "parentSpanId"},
		{5, fkString, 0, 0, "name", "name"},
		{6, fkEnum, 0, eSpanKind, "kind", "kind"},
		{7, fkFixed64, 0, 0, "start_time_unix_nano", "startTimeUnixNano"},
		{8, fkFixed64, 0, 0, "end_time_unix_nano", "endTimeUnixNano"},
		{9, fkMessage, fRepeated, mKeyValue, "attributes", "attributes"},
		{10, fkUint32, 0, 0, "dropped_attributes_count", "droppedAttributesCount"},
		{11, fkMessage, fRepeated, mEvent, "events", "events"},
		{12, fkUint32, 0, 0, "dropped_events_count", "droppedEventsCount"},
		{13, fkMessage, fRepeated, mLink, "links", "links"},
		{14, fkUint32, 0, 0, "dropped_links_count", "droppedLinksCount"},
		{15, fkMessage, 0, mStatus, "status", "status"},
		{16, fkFixed32, 0, 0, "flags", "flags"},
	}},
	mEvent: {"Span.Event", []fieldDesc{
		{1, fkFixed64, 0, 0, "time_unix_nano", "timeUnixNano"},
		{2, fkString, 0, 0, "name", "name"},
		{3, fkMessage, fRepeated, mKeyValue, "attributes", "attributes"},
		{4, fkUint32, 0, 0, "dropped_attributes_count", "droppedAttributesCount"},
	}},
	mLink: {"Span.Link", []fieldDesc{
		{1, fkTraceID, 0, 0, "trace_id", "traceId"},
		{2, fkSpanID, 0, 0, "span_id", "spanId"},
		{3, fkString, 0, 0, "trace_state", "traceState"},
		{4, fkMessage, fRepeated, mKeyValue, "attributes", "attributes"},
		{5, fkUint32, 0, 0, "dropped_attributes_count", "droppedAttributesCount"},
		{6, fkFixed32, 0, 0, "flags", "flags"},
	}},
	mStatus: {"Status", []fieldDesc{
		{2, fkString, 0, 0, "message", "message"},
		{3, fkEnum, 0, eStatusCode, "code", "code"},
	}},

	mResourceMetrics: {"ResourceMetrics", []fieldDesc{
		{1, fkMessage, 0, mResource, "resource", "resource"},
		{2, fkMessage, fRepeated, mScopeMetrics, "scope_metrics", "scopeMetrics"},
		{3, fkString, 0, 0, "schema_url", "schemaUrl"},
	}},
	mScopeMetrics: {"ScopeMetrics", []fieldDesc{
		{1, fkMessage, 0, mScope, "scope", "scope"},
		{2, fkMessage, fRepeated, mMetric, "metrics", "metrics"},
		{3, fkString, 0, 0, "schema_url", "schemaUrl"},
	}},
	mMetric: {"Metric", []fieldDesc{
		{1, fkString, 0, 0, "name", "name"},
		{2, fkString, 0, 0, "description", "description"},
		{3, fkString, 0, 0, "unit", "unit"},
		{5, fkMessage, fOneof, mGauge, "gauge", "gauge"},
		{7, fkMessage, fOneof, mSum, "sum", "sum"},
		{9, fkMessage, fOneof, mHistogram, "histogram", "histogram"},
		{10, fkMessage, fOneof, mExpHistogram, "exponential_histogram", "exponentialHistogram"},
		{11, fkMessage, fOneof, mSummary, "summary", "summary"},
		{12, fkMessage, fRepeated, mKeyValue, "metadata", "metadata"},
	}},
	mGauge: {"Gauge", []fieldDesc{{1, fkMessage, fRepeated | fItem, mNumberDP, "data_points", "dataPoints"}}},
	mSum: {"Sum", []fieldDesc{
		{1, fkMessage, fRepeated | fItem, mNumberDP, "data_points", "dataPoints"},
		{2, fkEnum, 0, eTemporality, "aggregation_temporality", "aggregationTemporality"},
		{3, fkBool, 0, 0, "is_monotonic", "isMonotonic"},
	}},
	mHistogram: {"Histogram", []fieldDesc{
		{1, fkMessage, fRepeated | fItem, mHistogramDP, "data_points", "dataPoints"},
		{2, fkEnum, 0, eTemporality, "aggregation_temporality", "aggregationTemporality"},
	}},
	mExpHistogram: {"ExponentialHistogram", []fieldDesc{
		{1, fkMessage, fRepeated | fItem, mExpHistogramDP, "data_points", "dataPoints"},
		{2, fkEnum, 0, eTemporality, "aggregation_temporality", "aggregationTemporality"},
	}},
	mSummary: {"Summary", []fieldDesc{{1, fkMessage, fRepeated | fItem, mSummaryDP, "data_points", "dataPoints"}}},
	mNumberDP: {"NumberDataPoint", []fieldDesc{
		{2, fkFixed64, 0, 0, "start_time_unix_nano", "startTimeUnixNano"},
		{3, fkFixed64, 0, 0, "time_unix_nano", "timeUnixNano"},
		{4, fkDouble, fOneof, 0, "as_double", "asDouble"},
		{5, fkMessage, fRepeated, mExemplar, "exemplars", "exemplars"},
		{6, fkSfixed64, fOneof, 0, "as_int", "asInt"},
		{7, fkMessage, fRepeated, mKeyValue, "attributes", "attributes"},
		{8, fkUint32, 0, 0, "flags", "flags"},
	}},
	mHistogramDP: {"HistogramDataPoint", []fieldDesc{
		{2, fkFixed64, 0, 0, "start_time_unix_nano", "startTimeUnixNano"},
		{3, fkFixed64, 0, 0, "time_unix_nano", "timeUnixNano"},
		{4, fkFixed64, 0, 0, "count", "count"},
		{5, fkDouble, fOptional, 0, "sum", "sum"},
		{6, fkFixed64, fRepeated, 0, "bucket_counts", "bucketCounts"},
		{7, fkDouble, fRepeated, 0, "explicit_bounds", "explicitBounds"},
		{8, fkMessage, fRepeated, mExemplar, "exemplars", "exemplars"},
		{9, fkMessage, fRepeated, mKeyValue, "attributes", "attributes"},
		{10, fkUint32, 0, 0, "flags", "flags"},
		{11, fkDouble, fOptional, 0, "min", "min"},
		{12, fkDouble, fOptional, 0, "max", "max"},
	}},
	mExpHistogramDP: {"ExponentialHistogramDataPoint", []fieldDesc{
		{1, fkMessage, fRepeated, mKeyValue, "attributes", "attributes"},
		{2, fkFixed64, 0, 0, "start_time_unix_nano", "startTimeUnixNano"},
		{3, fkFixed64, 0, 0, "time_unix_nano", "timeUnixNano"},
		{4, fkFixed64, 0, 0, "count", "count"},
		{5, fkDouble, fOptional, 0, "sum", "sum"},
		{6, fkSint32, 0, 0, "scale", "scale"},
		{7, fkFixed64, 0, 0, "zero_count", "zeroCount"},
		{8, fkMessage, 0, mBuckets, "positive", "positive"},
		{9, fkMessage, 0, mBuckets, "negative", "negative"},
		{10, fkUint32, 0, 0, "flags", "flags"},
		{11, fkMessage, fRepeated, mExemplar, "exemplars", "exemplars"},
		{12, fkDouble, fOptional, 0, "min", "min"},
		{13, fkDouble, fOptional, 0, "max", "max"},
		{14, fkDouble, 0, 0, "zero_threshold", "zeroThreshold"},
	}},
	mBuckets: {"ExponentialHistogramDataPoint.Buckets", []fieldDesc{
		{1, fkSint32, 0, 0, "offset", "offset"},
		{2, fkUint64, fRepeated, 0, "bucket_counts", "bucketCounts"},
	}},
	mSummaryDP: {"SummaryDataPoint", []fieldDesc{
		{2, fkFixed64, 0, 0, "start_time_unix_nano", "startTimeUnixNano"},
		{3, fkFixed64, 0, 0, "time_unix_nano", "timeUnixNano"},
		{4, fkFixed64, 0, 0, "count", "count"},
		{5, fkDouble, 0, 0, "sum", "sum"},
		{6, fkMessage, fRepeated, mQuantile, "quantile_values", "quantileValues"},
		{7, fkMessage, fRepeated, mKeyValue, "attributes", "attributes"},
		{8, fkUint32, 0, 0, "flags", "flags"},
	}},
	mQuantile: {"SummaryDataPoint.ValueAtQuantile", []fieldDesc{
		{1, fkDouble, 0, 0, "quantile", "quantile"},
		{2, fkDouble, 0, 0, "value", "value"},
	}},
	mExemplar: {"Exemplar", []fieldDesc{
		{2, fkFixed64, 0, 0, "time_unix_nano", "timeUnixNano"},
		{3, fkDouble, fOneof, 0, "as_double", "asDouble"},
		{4, fkSpanID, 0, 0, "span_id", "spanId"},
		{5, fkTraceID, 0, 0, "trace_id", "traceId"},
		{6, fkSfixed64, fOneof, 0, "as_int", "asInt"},
		{7, fkMessage, fRepeated, mKeyValue, "filtered_attributes", "filteredAttributes"},
	}},

	mResourceLogs: {"ResourceLogs", []fieldDesc{
		{1, fkMessage, 0, mResource, "resource", "resource"},
		{2, fkMessage, fRepeated, mScopeLogs, "scope_logs", "scopeLogs"},
		{3, fkString, 0, 0, "schema_url", "schemaUrl"},
	}},
	mScopeLogs: {"ScopeLogs", []fieldDesc{
		{1, fkMessage, 0, mScope, "scope", "scope"},
		{2, fkMessage, fRepeated | fItem, mLogRecord, "log_records", "logRecords"},
		{3, fkString, 0, 0, "schema_url", "schemaUrl"},
	}},
	mLogRecord: {"LogRecord", []fieldDesc{
		{1, fkFixed64, 0, 0, "time_unix_nano", "timeUnixNano"},
		{2, fkEnum, 0, eSeverity, "severity_number", "severityNumber"},
		{3, fkString, 0, 0, "severity_text", "severityText"},
		{5, fkMessage, 0, mAnyValue, "body", "body"},
		{6, fkMessage, fRepeated, mKeyValue, "attributes", "attributes"},
		{7, fkUint32, 0, 0, "dropped_attributes_count", "droppedAttributesCount"},
		{8, fkFixed32, 0, 0, "flags", "flags"},
		{9, fkTraceID, 0, 0, "trace_id", "traceId"},
		{10, fkSpanID, 0, 0, "span_id", "spanId"},
		{11, fkFixed64, 0, 0, "observed_time_unix_nano", "observedTimeUnixNano"},
		{12, fkString, 0, 0, "event_name", "eventName"},
	}},
}

// requestMsg is the Export<signal>ServiceRequest message of sig.
func requestMsg(sig signal) msgID { return msgID(sig) } // mTracesRequest..mLogsRequest follow the signal order

// maxAnyDepth caps the nesting of AnyValue (arrays and kvlists hold
// AnyValues). Real attributes nest two or three levels; the cap keeps the
// recursion, and the path kept for error messages, small and bounded, where
// proto.Unmarshal allows 10000 levels.
const maxAnyDepth = 32

// maxPath bounds the path of an error: 8 levels reach the deepest non-AnyValue
// field (metrics → … → exemplar attribute value) and each AnyValue level adds at
// most 3 (kvlist_value, values[i], value).
const maxPath = 8 + 3*(maxAnyDepth+1)

// walkCode classifies why a walk failed.
type walkCode uint8

const (
	codeMalformed walkCode = iota + 1 // truncated or malformed tag or value (proto rejects too)
	codeUTF8                          // invalid UTF-8 in a string (proto rejects too)
	codePacked                        // packed fixed-size values not a multiple of 8 (proto rejects too)
	codeWireType                      // known field with another wire type (proto would keep it as unknown)
	codeIDLen                         // trace/span id of the wrong length (proto does not check)
	codeDepth                         // AnyValue nested too deep (proto allows 10000)
	codeFieldNum                      // field number above 2^29-1 (proto rejects too)
	codeSignal                        // no such signal
)

// wireError is a validation failure: where (a field path like
// resource_spans[0].scope_spans[1].spans[3].trace_id) and what. It wraps
// errBadData.
type wireError struct {
	code walkCode
	path string
	msg  string
}

func (e *wireError) Error() string {
	if e.path == "" {
		return errBadData.Error() + ": " + e.msg
	}
	return errBadData.Error() + ": " + e.path + ": " + e.msg
}

func (e *wireError) Unwrap() error { return errBadData }

// pathElem is one step of the path to a failure: a field (nil for an unknown
// field number num) and its index when the field is repeated (else -1).
type pathElem struct {
	f   *fieldDesc
	num wireNumber
	idx int32
}

// walker validates a request. It lives on the caller's stack; the happy path
// only writes the path array, the failure fields are turned into an error
// once, after the walk.
type walker struct {
	items    int
	anyDepth int
	path     [maxPath]pathElem
	// Failure: code, path length, and details.
	code      walkCode
	pathLen   int
	perr      int // wire.go error code (codeMalformed)
	off       int // byte offset in the request (codeMalformed)
	got, want int
}

// validateRequest walks an Export<signal>ServiceRequest and returns the
// number of items it holds (spans, data points of every kind, or log
// records), or a *wireError (wrapping errBadData) that says what is wrong
// and where, for a 400 answer. It accepts what proto.Unmarshal accepts,
// except that it also rejects, as damaged data rather than something to
// forward: a known field with an unexpected wire type (proto keeps it as an
// unknown field, so the data would silently vanish), a trace id that is not
// 16 bytes or a span id that is not 8 bytes when set (the spec calls them
// invalid and backends drop or reject them), and AnyValues nested deeper
// than maxAnyDepth. It does not allocate unless it fails.
//
// A valid request is walked once, by the fast walk (walkFast); an invalid
// one is walked again by walker, for the error.
func validateRequest(sig signal, b []byte) (items int, err error) {
	if sig >= numSignals {
		return 0, &wireError{code: codeSignal, msg: "unknown signal " + sig.String()}
	}
	if items, ok := walkFast(sig, b); ok {
		return items, nil
	}
	return walkDetailed(sig, b)
}

// walkDetailed walks b with walker, which keeps the path and the details
// of a failure. It is validateRequest's slow path, out of line so that its
// walker (a few KB for the path) is not in validateRequest's frame.
//
//go:noinline
func walkDetailed(sig signal, b []byte) (items int, err error) {
	var w walker
	if !w.message(requestMsg(sig), b, 0, 0) {
		return 0, w.err()
	}
	// The fast walk rejected what walker accepts: a bug (FuzzWalkers looks
	// for it); walker is the reference, so its answer stands.
	return w.items, nil
}

// fail records a failure at path depth d (the path elements before d are
// set) and returns false.
func (w *walker) fail(d int, code walkCode) bool {
	w.code = code
	w.pathLen = d
	return false
}

// message validates the content b of message m, whose fields sit at path
// depth d and start at byte offset off of the request.
func (w *walker) message(m msgID, b []byte, d, off int) bool {
	desc := &schema[m]
	var counts [16]int32 // occurrences of each repeated field, for the path
	start := len(b)
	for len(b) > 0 {
		pos := off + start - len(b)
		num, typ, n := wireConsumeTag(b)
		if n < 0 {
			w.perr, w.off = n, pos
			return w.fail(d, codeMalformed)
		}
		if num > wireMaxValidNumber {
			w.got, w.off = int(num), pos
			return w.fail(d, codeFieldNum)
		}
		b = b[n:]
		fi := desc.field(num)
		if fi < 0 {
			// Unknown field: skip it as proto does (it may be newer OTLP).
			n = wireConsumeFieldValue(num, typ, b)
			if n < 0 {
				w.path[d] = pathElem{num: num, idx: -1}
				w.perr, w.off = n, pos
				return w.fail(d+1, codeMalformed)
			}
			b = b[n:]
			continue
		}
		f := &desc.fields[fi]
		idx := int32(-1)
		if f.repeated() && !f.packed() {
			idx = counts[fi]
			counts[fi]++
		}
		w.path[d] = pathElem{f: f, num: num, idx: idx}
		want := f.kind.wireType()
		if typ != want && !(typ == wireBytesType && f.packed()) {
			w.got, w.want = int(typ), int(want)
			return w.fail(d+1, codeWireType)
		}
		switch typ {
		case wireVarintType:
			_, n = wireConsumeVarint(b)
		case wireFixed32Type:
			_, n = wireConsumeFixed32(b)
		case wireFixed64Type:
			_, n = wireConsumeFixed64(b)
		case wireBytesType:
			var v []byte
			v, n = wireConsumeBytes(b)
			if n >= 0 && !w.value(f, v, d+1, off+start-len(b)+n-len(v)) {
				return false
			}
		}
		if n < 0 {
			w.perr, w.off = n, pos
			return w.fail(d+1, codeMalformed)
		}
		b = b[n:]
	}
	return true
}

// value checks the content v of a LEN record of field f (path depth d, at
// byte offset off).
func (w *walker) value(f *fieldDesc, v []byte, d, off int) bool {
	switch f.kind {
	case fkString:
		if !utf8.Valid(v) {
			return w.fail(d, codeUTF8)
		}
	case fkTraceID, fkSpanID:
		want := 16
		if f.kind == fkSpanID {
			want = 8
		}
		if len(v) != 0 && len(v) != want {
			w.got, w.want = len(v), want
			return w.fail(d, codeIDLen)
		}
	case fkMessage:
		if f.flags&fItem != 0 {
			w.items++
		}
		if f.msg == mAnyValue {
			w.anyDepth++
			if w.anyDepth > maxAnyDepth || d >= maxPath {
				return w.fail(d, codeDepth)
			}
			ok := w.message(mAnyValue, v, d, off)
			w.anyDepth--
			return ok
		}
		return w.message(f.msg, v, d, off)
	case fkFixed64, fkSfixed64, fkDouble:
		if len(v)%8 != 0 {
			w.got = len(v)
			return w.fail(d, codePacked)
		}
	case fkUint64:
		for len(v) > 0 {
			_, n := wireConsumeVarint(v)
			if n < 0 {
				w.perr, w.off = n, off
				return w.fail(d, codeMalformed)
			}
			v = v[n:]
		}
	}
	return true
}

// The fast walk. validateRequest first walks with fastWalker, which keeps
// no path and no failure details, decodes the common one- and two-byte tags
// and one-byte lengths inline and finds a field's action in fastSchema by
// field number; it answers only "valid, with n items" or "invalid". Only an
// invalid request (a 400, rare) is walked again by walker, which says what
// is wrong and where. The two must accept exactly the same requests and
// count the same items: TestWalkersAgree and FuzzWalkers check that.

// fastOp is what the fast walk does with a field of a message.
type fastOp uint8

const (
	opUnknown      fastOp = iota // not in the schema: skipped as proto does
	opVarint                     // bool, enum, (s)int32/64, uint32/64: a varint
	opFixed32                    // fixed32: an i32
	opFixed64                    // fixed64, sfixed64, double: an i64
	opPacked8                    // repeated fixed64/double: i64s, or packed in a LEN of 8·n bytes
	opPackedVarint               // repeated uint64: varints, or packed in a LEN of varints
	opString                     // string: a LEN of UTF-8
	opBytes                      // bytes: any LEN
	opTraceID                    // a LEN of 0 or 16 bytes
	opSpanID                     // a LEN of 0 or 8 bytes
	opMessage                    // a LEN holding message msg
	opItem                       // opMessage, and each occurrence is an item
	opAny                        // a LEN holding an AnyValue, nested at most maxAnyDepth deep
	opKeyValue                   // a LEN holding a KeyValue (fastKeyValue first)
)

// fastField is the action of one field number of a message.
type fastField struct {
	op  fastOp
	msg msgID // the message of opMessage and opItem
}

// fastNums bounds the field numbers of fastSchema: the schema's highest is
// Span.flags = 16; every number from fastNums on is an unknown field.
const fastNums = 17

// fastSchema is schema as the fast walk reads it: the action of each field
// number of each message (index 0 and numbers the message lacks: opUnknown).
// It is derived from schema by hand, statically initialised (no init work);
// TestFastSchema checks it against schema and prints the table to paste
// here should schema change.
var fastSchema = [numMsgs][fastNums]fastField{
	mTracesRequest: { // ExportTraceServiceRequest
		1: {op: opMessage, msg: mResourceSpans},
	},
	mMetricsRequest: { // ExportMetricsServiceRequest
		1: {op: opMessage, msg: mResourceMetrics},
	},
	mLogsRequest: { // ExportLogsServiceRequest
		1: {op: opMessage, msg: mResourceLogs},
	},
	mResource: { // Resource
		1: {op: opKeyValue}, 2: {op: opVarint}, 3: {op: opMessage, msg: mEntityRef},
	},
	mScope: { // InstrumentationScope
		1: {op: opString}, 2: {op: opString}, 3: {op: opKeyValue}, 4: {op: opVarint},
	},
	mKeyValue: { // KeyValue
		1: {op: opString}, 2: {op: opAny}, 3: {op: opVarint},
	},
	mAnyValue: { // AnyValue
		1: {op: opString}, 2: {op: opVarint}, 3: {op: opVarint}, 4: {op: opFixed64},
		5: {op: opMessage, msg: mArrayValue}, 6: {op: opMessage, msg: mKVList}, 7: {op: opBytes},
		8: {op: opVarint},
	},
	mArrayValue: { // ArrayValue
		1: {op: opAny},
	},
	mKVList: { // KeyValueList
		1: {op: opKeyValue},
	},
	mEntityRef: { // EntityRef
		1: {op: opString}, 2: {op: opString}, 3: {op: opString}, 4: {op: opString},
	},
	mResourceSpans: { // ResourceSpans
		1: {op: opMessage, msg: mResource}, 2: {op: opMessage, msg: mScopeSpans}, 3: {op: opString},
	},
	mScopeSpans: { // ScopeSpans
		1: {op: opMessage, msg: mScope}, 2: {op: opItem, msg: mSpan}, 3: {op: opString},
	},
	mSpan: { // Span
		1: {op: opTraceID}, 2: {op: opSpanID}, 3: {op: opString}, 4: {op: opSpanID}, 5: {op: opString},
		6: {op: opVarint}, 7: {op: opFixed64}, 8: {op: opFixed64}, 9: {op: opKeyValue},
		10: {op: opVarint}, 11: {op: opMessage, msg: mEvent}, 12: {op: opVarint},
		13: {op: opMessage, msg: mLink}, 14: {op: opVarint}, 15: {op: opMessage, msg: mStatus},
		16: {op: opFixed32},
	},
	mEvent: { // Span.Event
		1: {op: opFixed64}, 2: {op: opString}, 3: {op: opKeyValue}, 4: {op: opVarint},
	},
	mLink: { // Span.Link
		1: {op: opTraceID}, 2: {op: opSpanID}, 3: {op: opString}, 4: {op: opKeyValue},
		5: {op: opVarint}, 6: {op: opFixed32},
	},
	mStatus: { // Status
		2: {op: opString}, 3: {op: opVarint},
	},
	mResourceMetrics: { // ResourceMetrics
		1: {op: opMessage, msg: mResource}, 2: {op: opMessage, msg: mScopeMetrics}, 3: {op: opString},
	},
	mScopeMetrics: { // ScopeMetrics
		1: {op: opMessage, msg: mScope}, 2: {op: opMessage, msg: mMetric}, 3: {op: opString},
	},
	mMetric: { // Metric
		1: {op: opString}, 2: {op: opString}, 3: {op: opString}, 5: {op: opMessage, msg: mGauge},
		7: {op: opMessage, msg: mSum}, 9: {op: opMessage, msg: mHistogram},
		10: {op: opMessage, msg: mExpHistogram}, 11: {op: opMessage, msg: mSummary},
		12: {op: opKeyValue},
	},
	mGauge: { // Gauge
		1: {op: opItem, msg: mNumberDP},
	},
	mSum: { // Sum
		1: {op: opItem, msg: mNumberDP}, 2: {op: opVarint}, 3: {op: opVarint},
	},
	mHistogram: { // Histogram
		1: {op: opItem, msg: mHistogramDP}, 2: {op: opVarint},
	},
	mExpHistogram: { // ExponentialHistogram
		1: {op: opItem, msg: mExpHistogramDP}, 2: {op: opVarint},
	},
	mSummary: { // Summary
		1: {op: opItem, msg: mSummaryDP},
	},
	mNumberDP: { // NumberDataPoint
		2: {op: opFixed64}, 3: {op: opFixed64}, 4: {op: opFixed64}, 5: {op: opMessage, msg: mExemplar},
		6: {op: opFixed64}, 7: {op: opKeyValue}, 8: {op: opVarint},
	},
	mHistogramDP: { // HistogramDataPoint
		2: {op: opFixed64}, 3: {op: opFixed64}, 4: {op: opFixed64}, 5: {op: opFixed64}, 6: {op: opPacked8},
		7: {op: opPacked8}, 8: {op: opMessage, msg: mExemplar}, 9: {op: opKeyValue},
		10: {op: opVarint}, 11: {op: opFixed64}, 12: {op: opFixed64},
	},
	mExpHistogramDP: { // ExponentialHistogramDataPoint
		1: {op: opKeyValue}, 2: {op: opFixed64}, 3: {op: opFixed64}, 4: {op: opFixed64},
		5: {op: opFixed64}, 6: {op: opVarint}, 7: {op: opFixed64}, 8: {op: opMessage, msg: mBuckets},
		9: {op: opMessage, msg: mBuckets}, 10: {op: opVarint}, 11: {op: opMessage, msg: mExemplar},
		12: {op: opFixed64}, 13: {op: opFixed64}, 14: {op: opFixed64},
	},
	mBuckets: { // ExponentialHistogramDataPoint.Buckets
		1: {op: opVarint}, 2: {op: opPackedVarint},
	},
	mSummaryDP: { // SummaryDataPoint
		2: {op: opFixed64}, 3: {op: opFixed64}, 4: {op: opFixed64}, 5: {op: opFixed64},
		6: {op: opMessage, msg: mQuantile}, 7: {op: opKeyValue}, 8: {op: opVarint},
	},
	mQuantile: { // SummaryDataPoint.ValueAtQuantile
		1: {op: opFixed64}, 2: {op: opFixed64},
	},
	mExemplar: { // Exemplar
		2: {op: opFixed64}, 3: {op: opFixed64}, 4: {op: opSpanID}, 5: {op: opTraceID}, 6: {op: opFixed64},
		7: {op: opKeyValue},
	},
	mResourceLogs: { // ResourceLogs
		1: {op: opMessage, msg: mResource}, 2: {op: opMessage, msg: mScopeLogs}, 3: {op: opString},
	},
	mScopeLogs: { // ScopeLogs
		1: {op: opMessage, msg: mScope}, 2: {op: opItem, msg: mLogRecord}, 3: {op: opString},
	},
	mLogRecord: { // LogRecord
		1: {op: opFixed64}, 2: {op: opVarint}, 3: {op: opString}, 5: {op: opAny},
		6: {op: opKeyValue}, 7: {op: opVarint}, 8: {op: opFixed32}, 9: {op: opTraceID},
		10: {op: opSpanID}, 11: {op: opFixed64}, 12: {op: opString},
	},
}

// fastWalker is the fast walk's state: the items counted and the current
// AnyValue depth. It lives on the caller's stack.
type fastWalker struct {
	items    int
	anyDepth int
}

// walkFast reports whether the Export<signal>ServiceRequest b is valid
// (exactly when walker accepts it), and its items.
func walkFast(sig signal, b []byte) (items int, ok bool) {
	var w fastWalker
	ok = w.message(requestMsg(sig), b)
	return w.items, ok
}

// message reports whether the content b of message m is valid, counting
// its items.
func (w *fastWalker) message(m msgID, b []byte) bool {
	tab := &fastSchema[m]
	for len(b) > 0 {
		// The tag: one byte for field numbers up to 15, two up to 2047.
		var tag uint64
		if c := b[0]; c < 0x80 {
			tag = uint64(c)
			b = b[1:]
		} else if len(b) > 1 && b[1] < 0x80 {
			tag = uint64(c&0x7f) | uint64(b[1])<<7
			b = b[2:]
		} else {
			v, n := wireConsumeVarint(b)
			if n < 0 {
				return false
			}
			tag = v
			b = b[n:]
		}
		num, typ := tag>>3, wireType(tag&7)
		var f fastField
		if num < fastNums {
			f = tab[num]
		}
		if f.op == opUnknown {
			// Field 0 and numbers beyond 2^29-1 are malformed; any other
			// unknown field is skipped as proto does (it may be newer OTLP).
			if num == 0 || num > uint64(wireMaxValidNumber) {
				return false
			}
			n := wireConsumeFieldValue(wireNumber(num), typ, b)
			if n < 0 {
				return false
			}
			b = b[n:]
			continue
		}
		switch typ {
		case wireBytesType:
			var l uint64
			if len(b) > 0 && b[0] < 0x80 {
				l = uint64(b[0])
				b = b[1:]
			} else {
				v, n := wireConsumeVarint(b)
				if n < 0 {
					return false
				}
				l = v
				b = b[n:]
			}
			if l > uint64(len(b)) {
				return false
			}
			v := b[:l]
			b = b[l:]
			switch f.op {
			case opString:
				if !isUTF8(v) {
					return false
				}
			case opAny:
				if w.anyDepth++; w.anyDepth > maxAnyDepth || !w.message(mAnyValue, v) {
					return false
				}
				w.anyDepth--
			case opKeyValue:
				if !w.fastKeyValue(v) && !w.message(mKeyValue, v) {
					return false
				}
			case opMessage:
				if !w.message(f.msg, v) {
					return false
				}
			case opItem:
				w.items++
				if !w.message(f.msg, v) {
					return false
				}
			case opTraceID:
				if len(v) != 0 && len(v) != 16 {
					return false
				}
			case opSpanID:
				if len(v) != 0 && len(v) != 8 {
					return false
				}
			case opBytes:
			case opPacked8:
				if len(v)%8 != 0 {
					return false
				}
			case opPackedVarint:
				for len(v) > 0 {
					n := skipVarint(v)
					if n < 0 {
						return false
					}
					v = v[n:]
				}
			default: // a scalar in a LEN record
				return false
			}
		case wireVarintType:
			if f.op != opVarint && f.op != opPackedVarint {
				return false
			}
			n := skipVarint(b)
			if n < 0 {
				return false
			}
			b = b[n:]
		case wireFixed64Type:
			if (f.op != opFixed64 && f.op != opPacked8) || len(b) < 8 {
				return false
			}
			b = b[8:]
		case wireFixed32Type:
			if f.op != opFixed32 || len(b) < 4 {
				return false
			}
			b = b[4:]
		default: // a group or a reserved wire type for a known field
			return false
		}
	}
	return true
}

// fastKeyValue reports whether b is a valid KeyValue of the shape nearly
// every attribute has: the key (a LEN of under 128 bytes), then the value,
// an AnyValue holding one string, bool, int, double or bytes, each record
// once, in field order, with one-byte lengths. It does what message does
// for that shape, with no loop and no table; false means invalid or
// another shape, for message to walk.
func (w *fastWalker) fastKeyValue(b []byte) bool {
	if len(b) < 4 || b[0] != 0x0a || b[1] >= 0x80 || w.anyDepth >= maxAnyDepth {
		return false
	}
	kl := int(b[1]) + 2
	// kl+2 ≤ len(b): the key, and the value's tag and length, a one-byte
	// varint (a longer one could not be compared with len(b) this way).
	if kl+2 > len(b) || b[kl] != 0x12 || b[kl+1] >= 0x80 || int(b[kl+1]) != len(b)-kl-2 {
		return false
	}
	v := b[kl+2:] // the AnyValue, up to the end of b
	switch {
	case len(v) == 0: // an empty AnyValue
	case len(v) >= 2 && v[0] == 0x0a && v[1] < 0x80 && int(v[1]) == len(v)-2: // string_value
		if !isUTF8(v[2:]) {
			return false
		}
	case v[0] == 0x10 || v[0] == 0x18: // bool_value, int_value
		if skipVarint(v[1:]) != len(v)-1 {
			return false
		}
	case v[0] == 0x21: // double_value
		if len(v) != 9 {
			return false
		}
	case len(v) >= 2 && v[0] == 0x3a && v[1] < 0x80 && int(v[1]) == len(v)-2: // bytes_value
	default:
		return false
	}
	return isUTF8(b[2:kl])
}

// skipVarint returns the length of the varint at the start of b, or -1
// where wireConsumeVarint fails (truncated, or more than 64 bits).
func skipVarint(b []byte) int {
	for i := 0; i < len(b) && i < 10; i++ {
		if b[i] < 0x80 {
			if i == 9 && b[i] > 1 {
				return -1
			}
			return i + 1
		}
	}
	return -1
}

// isUTF8 is utf8.Valid, with ASCII, what nearly every string of OTLP is,
// checked inline: the bytes or-ed together eight at a time (the last eight
// overlapping), or four, two and one for a string of under eight.
func isUTF8(v []byte) bool {
	var acc uint64
	if n := len(v); n >= 8 {
		for i := 0; i+8 <= n; i += 8 {
			acc |= binary.LittleEndian.Uint64(v[i:])
		}
		acc |= binary.LittleEndian.Uint64(v[n-8:])
	} else {
		p := v
		if n&4 != 0 {
			acc = uint64(binary.LittleEndian.Uint32(p))
			p = p[4:]
		}
		if n&2 != 0 {
			acc |= uint64(binary.LittleEndian.Uint16(p))
			p = p[2:]
		}
		if n&1 != 0 {
			acc |= uint64(p[0])
		}
	}
	return acc&0x8080808080808080 == 0 || utf8.Valid(v)
}

var wireTypeNames = [8]string{"varint", "i64", "len", "start group", "end group", "i32", "6", "7"}

// err builds the error of a failed walk.
func (w *walker) err() error {
	var p []byte
	for i := 0; i < w.pathLen; i++ {
		e := w.path[i]
		if i > 0 {
			p = append(p, '.')
		}
		if e.f != nil {
			p = append(p, e.f.name...)
		} else {
			p = append(p, "field "...)
			p = strconv.AppendInt(p, int64(e.num), 10)
		}
		if e.idx >= 0 {
			p = append(p, '[')
			p = strconv.AppendInt(p, int64(e.idx), 10)
			p = append(p, ']')
		}
	}
	var msg string
	switch w.code {
	case codeMalformed:
		msg = fmt.Sprintf("malformed protobuf at byte %d: %v", w.off, wireParseError(w.perr))
	case codeFieldNum:
		msg = fmt.Sprintf("malformed protobuf at byte %d: field number %d out of range", w.off, w.got)
	case codeUTF8:
		msg = "invalid UTF-8 in string"
	case codePacked:
		msg = fmt.Sprintf("packed length %d is not a multiple of 8", w.got)
	case codeWireType:
		msg = fmt.Sprintf("wire type %s, want %s", wireTypeNames[w.got&7], wireTypeNames[w.want&7])
	case codeIDLen:
		msg = fmt.Sprintf("length %d, want %d", w.got, w.want)
	case codeDepth:
		msg = fmt.Sprintf("AnyValue nested deeper than %d levels", maxAnyDepth)
	}
	return &wireError{code: w.code, path: string(p), msg: msg}
}

// enricher adds resource attributes (the extension's faas.*, cloud.* …) to
// every Resource of a request, without overwriting what the SDK set. It is
// immutable, so one enricher serves concurrent requests.
type enricher struct {
	attrs []encodedKV // unique keys, in configuration order
}

// newEnricher returns an enricher adding attrs; of duplicate keys the first
// wins.
func newEnricher(attrs []encodedKV) *enricher {
	e := &enricher{}
	for _, a := range attrs {
		dup := false
		for _, b := range e.attrs {
			if b.key == a.key {
				dup = true
				break
			}
		}
		if !dup {
			e.attrs = append(e.attrs, a)
		}
	}
	return e
}

// enrich appends to dst the request b (validated with validateRequest)
// where every Resource{Spans,Metrics,Logs} has those of the enricher's
// attributes whose keys its Resource lacks; a ResourceX without a resource
// gets one. Only the resource record of a ResourceX that misses something is
// rebuilt (several resource records, which proto merges, become one); every
// other byte is copied as is. It allocates nothing but dst's growth (and a
// bit set when there are more than 256 attributes). Should b not parse after
// all, the rest of it is copied unchanged.
func (e *enricher) enrich(dst []byte, sig signal, b []byte) []byte {
	_ = sig // the three requests share the shape: repeated ResourceX = 1, resource = 1 inside
	if len(e.attrs) == 0 {
		return append(dst, b...)
	}
	var stack [4]uint64
	seen := stack[:]
	if n := (len(e.attrs) + 63) / 64; n > len(stack) {
		seen = make([]uint64, n)
	}
	for len(b) > 0 {
		num, typ, n := wireConsumeTag(b)
		if n < 0 {
			break
		}
		m := wireConsumeFieldValue(num, typ, b[n:])
		if m < 0 {
			break
		}
		rec := b[:n+m]
		b = b[n+m:]
		if num != 1 || typ != wireBytesType {
			dst = append(dst, rec...)
			continue
		}
		rx, _ := wireConsumeBytes(rec[n:])
		clear(seen)
		dst = e.enrichOne(dst, rec, rx, seen)
	}
	return append(dst, b...)
}

// enrichOne appends the ResourceX record rec (content rx), rebuilt when its
// resource misses attributes.
func (e *enricher) enrichOne(dst, rec, rx []byte, seen []uint64) []byte {
	// Pass 1: which keys the resource has, and the sizes.
	resLen, resRecs, nres := 0, 0, 0
	for p := rx; len(p) > 0; {
		num, typ, n := wireConsumeTag(p)
		if n < 0 {
			return append(dst, rec...)
		}
		m := wireConsumeFieldValue(num, typ, p[n:])
		if m < 0 {
			return append(dst, rec...)
		}
		if num == 1 && typ == wireBytesType {
			res, _ := wireConsumeBytes(p[n:])
			resLen += len(res)
			resRecs += n + m
			nres++
			e.markKeys(res, seen)
		}
		p = p[n+m:]
	}
	add := 0
	for i, a := range e.attrs {
		if seen[i/64]&(1<<(i%64)) == 0 {
			add += 1 + wireSizeBytes(len(a.kv))
		}
	}
	if add == 0 {
		return append(dst, rec...)
	}
	newRes := resLen + add
	newRX := len(rx) - resRecs + 1 + wireSizeBytes(newRes)
	dst = wireAppendTag(dst, 1, wireBytesType)
	dst = wireAppendVarint(dst, uint64(newRX))
	if nres == 0 {
		return append(e.appendResource(dst, rx, newRes, seen), rx...)
	}
	// Pass 2: copy every record but the resource ones; the first becomes the
	// merged, enriched resource.
	first := true
	for p := rx; len(p) > 0; {
		num, typ, n := wireConsumeTag(p)
		m := wireConsumeFieldValue(num, typ, p[n:])
		if num == 1 && typ == wireBytesType {
			if first {
				dst = e.appendResource(dst, rx, newRes, seen)
				first = false
			}
		} else {
			dst = append(dst, p[:n+m]...)
		}
		p = p[n+m:]
	}
	return dst
}

// appendResource appends a resource record of length size: the contents of
// every resource record of rx, then the attributes not in seen.
func (e *enricher) appendResource(dst, rx []byte, size int, seen []uint64) []byte {
	dst = wireAppendTag(dst, 1, wireBytesType)
	dst = wireAppendVarint(dst, uint64(size))
	for p := rx; len(p) > 0; {
		num, typ, n := wireConsumeTag(p)
		m := wireConsumeFieldValue(num, typ, p[n:])
		if num == 1 && typ == wireBytesType {
			res, _ := wireConsumeBytes(p[n:])
			dst = append(dst, res...)
		}
		p = p[n+m:]
	}
	for i, a := range e.attrs {
		if seen[i/64]&(1<<(i%64)) == 0 {
			dst = wireAppendTag(dst, 1, wireBytesType)
			dst = wireAppendBytes(dst, a.kv)
		}
	}
	return dst
}

// markKeys sets in seen the attributes whose keys the Resource res has.
func (e *enricher) markKeys(res []byte, seen []uint64) {
	for len(res) > 0 {
		num, typ, n := wireConsumeTag(res)
		if n < 0 {
			return
		}
		m := wireConsumeFieldValue(num, typ, res[n:])
		if m < 0 {
			return
		}
		if num == 1 && typ == wireBytesType {
			kv, _ := wireConsumeBytes(res[n:])
			key := kvKey(kv)
			for i, a := range e.attrs {
				if a.key == string(key) {
					seen[i/64] |= 1 << (i % 64)
					break
				}
			}
		}
		res = res[n+m:]
	}
}

// kvKey returns the key of the KeyValue kv (the last one, as proto reads it).
func kvKey(kv []byte) []byte {
	var key []byte
	for len(kv) > 0 {
		num, typ, n := wireConsumeTag(kv)
		if n < 0 {
			break
		}
		m := wireConsumeFieldValue(num, typ, kv[n:])
		if m < 0 {
			break
		}
		if num == 1 && typ == wireBytesType {
			key, _ = wireConsumeBytes(kv[n:])
		}
		kv = kv[n+m:]
	}
	return key
}
