// Package e2e holds the end-to-end tests of the extension: the real
// extension binary under the Lambda emulator, fed by the real OpenTelemetry
// SDKs (Go and Node.js) and exporting to real OTLP backends (grpc-go and
// net/http). It is its own module so that grpc-go and the SDKs never reach
// the extension's go.mod. See README.md.
package e2e
