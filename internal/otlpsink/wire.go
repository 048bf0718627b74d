// wire.go owns the encodings the sink speaks: OTLP/JSON to and from the
// generated types (OTLP writes trace and span ids as hex where ProtoJSON
// expects base64), the google.rpc.Status error body, and the
// Export*ServiceResponse with its partial_success, both encoded by hand with
// protowire because the collector packages may not be imported.
package otlpsink

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// idKeys are the JSON keys whose string value is a trace or span id: hex in
// OTLP/JSON, base64 in ProtoJSON. They only ever appear as object keys of
// Span, Span.Link, LogRecord and Exemplar; an attribute named "traceId" is
// the value of a "key" member, never an object key, so it is not touched.
var idKeys = map[string]bool{
	"traceId": true, "spanId": true, "parentSpanId": true,
	"trace_id": true, "span_id": true, "parent_span_id": true,
}

// HexIDsToBase64 rewrites an OTLP/JSON document so that protojson can read
// it: every trace/span id is turned from hex into base64. Numbers are kept
// exactly as written.
func HexIDsToBase64(js []byte) ([]byte, error) {
	return rewriteIDs(js, func(s string) (string, error) {
		b, err := hex.DecodeString(s)
		if err != nil {
			return "", fmt.Errorf("id %q is not hex: %w", s, err)
		}
		return base64.StdEncoding.EncodeToString(b), nil
	})
}

// Base64IDsToHex is the inverse of HexIDsToBase64: it turns protojson's
// base64 ids into the lowercase hex OTLP/JSON requires.
func Base64IDsToHex(js []byte) ([]byte, error) {
	return rewriteIDs(js, func(s string) (string, error) {
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return "", fmt.Errorf("id %q is not base64: %w", s, err)
		}
		return hex.EncodeToString(b), nil
	})
}

func rewriteIDs(js []byte, conv func(string) (string, error)) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("otlp json: %w", err)
	}
	if dec.More() {
		return nil, fmt.Errorf("otlp json: data after the top-level value")
	}
	if err := walkIDs(v, conv); err != nil {
		return nil, fmt.Errorf("otlp json: %w", err)
	}
	return json.Marshal(v)
}

func walkIDs(v any, conv func(string) (string, error)) error {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			if s, ok := e.(string); ok && idKeys[k] {
				c, err := conv(s)
				if err != nil {
					return fmt.Errorf("%s: %w", k, err)
				}
				v[k] = c
				continue
			}
			if err := walkIDs(e, conv); err != nil {
				return err
			}
		}
	case []any:
		for _, e := range v {
			if err := walkIDs(e, conv); err != nil {
				return err
			}
		}
	}
	return nil
}

// UnmarshalJSON decodes OTLP/JSON (hex ids, integer or named enums, unknown
// fields ignored as the spec requires) into m.
func UnmarshalJSON(js []byte, m proto.Message) error {
	fixed, err := HexIDsToBase64(js)
	if err != nil {
		return err
	}
	return protojson.UnmarshalOptions{DiscardUnknown: true}.Unmarshal(fixed, m)
}

// MarshalJSON encodes m as OTLP/JSON: lowerCamelCase names, integer enums,
// hex ids.
func MarshalJSON(m proto.Message) ([]byte, error) {
	js, err := protojson.MarshalOptions{UseEnumNumbers: true}.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("otlp json: %w", err)
	}
	return Base64IDsToHex(js)
}

// Status is a google.rpc.Status without details.
type Status struct {
	Code    int32
	Message string
}

// AppendStatus appends the protobuf encoding of a google.rpc.Status.
func AppendStatus(b []byte, st Status) []byte {
	if st.Code != 0 {
		b = protowire.AppendTag(b, 1, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(int64(st.Code)))
	}
	if st.Message != "" {
		b = protowire.AppendTag(b, 2, protowire.BytesType)
		b = protowire.AppendString(b, st.Message)
	}
	return b
}

// ParseStatus decodes a protobuf google.rpc.Status, ignoring details.
func ParseStatus(b []byte) (Status, error) {
	var st Status
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return st, fmt.Errorf("parse status: %w", protowire.ParseError(n))
		}
		b = b[n:]
		switch {
		case num == 1 && typ == protowire.VarintType:
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return st, fmt.Errorf("parse status code: %w", protowire.ParseError(n))
			}
			st.Code = int32(v)
			b = b[n:]
		case num == 2 && typ == protowire.BytesType:
			v, n := protowire.ConsumeString(b)
			if n < 0 {
				return st, fmt.Errorf("parse status message: %w", protowire.ParseError(n))
			}
			st.Message = v
			b = b[n:]
		default:
			n := protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return st, fmt.Errorf("parse status field %d: %w", num, protowire.ParseError(n))
			}
			b = b[n:]
		}
	}
	return st, nil
}

// statusJSON is the ProtoJSON form of a google.rpc.Status.
func statusJSON(st Status) []byte {
	b, _ := json.Marshal(struct {
		Code    int32  `json:"code,omitempty"`
		Message string `json:"message,omitempty"`
	}{st.Code, st.Message})
	return b
}

// grpcCode maps an HTTP status to the google.rpc.Code a real backend puts
// in the Status body (the inverse of the usual gRPC-HTTP mapping).
func grpcCode(status int) int32 {
	switch status {
	case 400:
		return 3 // INVALID_ARGUMENT
	case 401:
		return 16 // UNAUTHENTICATED
	case 403:
		return 7 // PERMISSION_DENIED
	case 404:
		return 12 // UNIMPLEMENTED
	case 413, 429:
		return 8 // RESOURCE_EXHAUSTED
	case 502, 503, 504:
		return 14 // UNAVAILABLE
	}
	return 2 // UNKNOWN
}

// PartialSuccess is the partial_success of an Export*ServiceResponse:
// rejected_spans, rejected_data_points or rejected_log_records (field 1 in
// each) and error_message (field 2).
type PartialSuccess struct {
	Rejected int64
	Message  string
}

// AppendExportResponse appends an Export*ServiceResponse. A zero
// PartialSuccess leaves the field unset, which encodes as an empty message.
func AppendExportResponse(b []byte, ps PartialSuccess) []byte {
	if ps == (PartialSuccess{}) {
		return b
	}
	var inner []byte
	if ps.Rejected != 0 {
		inner = protowire.AppendTag(inner, 1, protowire.VarintType)
		inner = protowire.AppendVarint(inner, uint64(ps.Rejected))
	}
	if ps.Message != "" {
		inner = protowire.AppendTag(inner, 2, protowire.BytesType)
		inner = protowire.AppendString(inner, ps.Message)
	}
	b = protowire.AppendTag(b, 1, protowire.BytesType)
	return protowire.AppendBytes(b, inner)
}

// ParseExportResponse decodes an Export*ServiceResponse; ok reports whether
// partial_success was present.
func ParseExportResponse(b []byte) (ps PartialSuccess, ok bool, err error) {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return ps, ok, fmt.Errorf("parse export response: %w", protowire.ParseError(n))
		}
		b = b[n:]
		if num != 1 || typ != protowire.BytesType {
			n = protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return ps, ok, fmt.Errorf("parse export response field %d: %w", num, protowire.ParseError(n))
			}
			b = b[n:]
			continue
		}
		inner, n := protowire.ConsumeBytes(b)
		if n < 0 {
			return ps, ok, fmt.Errorf("parse partial_success: %w", protowire.ParseError(n))
		}
		b = b[n:]
		ok = true
		for len(inner) > 0 {
			num, typ, n := protowire.ConsumeTag(inner)
			if n < 0 {
				return ps, ok, fmt.Errorf("parse partial_success: %w", protowire.ParseError(n))
			}
			inner = inner[n:]
			switch {
			case num == 1 && typ == protowire.VarintType:
				v, n := protowire.ConsumeVarint(inner)
				if n < 0 {
					return ps, ok, fmt.Errorf("parse rejected count: %w", protowire.ParseError(n))
				}
				ps.Rejected = int64(v)
				inner = inner[n:]
			case num == 2 && typ == protowire.BytesType:
				v, n := protowire.ConsumeString(inner)
				if n < 0 {
					return ps, ok, fmt.Errorf("parse error_message: %w", protowire.ParseError(n))
				}
				ps.Message = v
				inner = inner[n:]
			default:
				n := protowire.ConsumeFieldValue(num, typ, inner)
				if n < 0 {
					return ps, ok, fmt.Errorf("parse partial_success field %d: %w", num, protowire.ParseError(n))
				}
				inner = inner[n:]
			}
		}
	}
	return ps, ok, nil
}

// exportResponseJSON is the OTLP/JSON form of an Export*ServiceResponse for
// sig; int64 counts are decimal strings as ProtoJSON writes them.
func exportResponseJSON(sig Signal, ps PartialSuccess) []byte {
	if ps == (PartialSuccess{}) {
		return []byte("{}")
	}
	field := map[Signal]string{Traces: "rejectedSpans", Metrics: "rejectedDataPoints", Logs: "rejectedLogRecords"}[sig]
	inner := map[string]any{}
	if ps.Rejected != 0 {
		inner[field] = strconv.FormatInt(ps.Rejected, 10)
	}
	if ps.Message != "" {
		inner["errorMessage"] = ps.Message
	}
	b, _ := json.Marshal(map[string]any{"partialSuccess": inner})
	return b
}
