// otlpjson.go owns OTLP/JSON: transcoding it to protobuf at the door and
// protobuf to OTLP/JSON for exporting with http/json.
package main

import "errors"

// jsonToProto transcodes an OTLP/JSON Export<signal>ServiceRequest to
// protobuf, appending to dst.
func jsonToProto(sig signal, dst, js []byte) ([]byte, error) {
	return dst, errors.New("otlp json: not implemented yet")
}

// protoToJSON transcodes a protobuf Export<signal>ServiceRequest to OTLP/JSON,
// appending to dst.
func protoToJSON(sig signal, dst, pb []byte) ([]byte, error) {
	return dst, errors.New("otlp json: not implemented yet")
}
