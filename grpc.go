// grpc.go speaks OTLP/gRPC on net/http alone: HTTP/2 (h2c or TLS), the
// 5-byte length prefix, and grpc-status trailers. No grpc-go.
package main
