// Package layertest holds the tests of the layer's shell scripts: the
// otel-instrument exec wrapper (run under a POSIX sh with fake runtimes),
// deploy.sh (run with the real AWS CLI against a fake Lambda/STS API on
// 127.0.0.1) and build.sh (the layer zip, reproducibility, UPX=1). It has
// no code of its own; everything lives in _test.go files.
package layertest
