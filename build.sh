#!/usr/bin/env bash
# build.sh builds the otel-lambda-extension layer: static binaries for
# linux/amd64 and linux/arm64 and one layer zip per architecture, byte for
# byte the same for the same commit. Run `./build.sh help` for the commands.
set -euo pipefail
cd "$(dirname "$0")"

NAME=otel-lambda-extension
DIST=${DIST_DIR:-dist}

say() { printf '%s\n' "$*"; }
die() { printf 'build.sh: %s\n' "$*" >&2; exit 1; }
need() {
	command -v "$1" >/dev/null 2>&1 || die "$1 is required but not installed: $2"
}

usage() {
	cat <<EOF
Usage: ./build.sh [command]

Commands:
  (none)   build both architectures and the layer zips into $DIST/
  test     gofmt check, go vet, go test -race ./... (and the e2e module when present)
  check    go vet and cross-compile both architectures, no packaging
  demo     build for this machine and run the extension under the local Lambda
           emulator with a sample function; prints init time, each invocation,
           shutdown, and what reached the local backend
  size     what the binary is made of: largest packages and symbols first
  fuzz     run every fuzz target longer (FUZZTIME, default 60s each)
  bench    run the benchmarks and write BENCHMARKS.md (see that file)
  clean    remove $DIST/
  help     this text

Environment:
  BUILD_TARGETS  architectures to build, space or comma separated:
                 x86_64 (or amd64, x86_64-unknown-linux-musl) and
                 arm64 (or aarch64, aarch64-unknown-linux-musl);
                 default: both
  DIST_DIR       output folder (default dist)
  VERSION        version stamped into the binary (default: git describe)
  UPX=1          also produce UPX-compressed zips when upx is installed
EOF
}

version() {
	if [ -n "${VERSION:-}" ]; then
		say "$VERSION"
	else
		git describe --tags --always --dirty 2>/dev/null || say dev
	fi
}

commit() { git rev-parse --short HEAD 2>/dev/null || say unknown; }

# The commit time dates every file in the zips, so two builds of one commit
# are identical.
epoch() { git log -1 --format=%ct 2>/dev/null || say 315532800; }

# goarch maps an architecture name (ours, Go's or seed 002's Rust triple) to
# Lambda's name and GOARCH.
arches() {
	local t out=""
	for t in $(printf '%s' "${BUILD_TARGETS:-x86_64 arm64}" | tr ',' ' '); do
		case "$t" in
		x86_64 | amd64 | x86_64-unknown-linux-musl | x86_64-unknown-linux-gnu) out="$out x86_64:amd64" ;;
		arm64 | aarch64 | aarch64-unknown-linux-musl | aarch64-unknown-linux-gnu) out="$out arm64:arm64" ;;
		*) die "unknown architecture '$t' in BUILD_TARGETS: want x86_64 or arm64" ;;
		esac
	done
	say $out
}

gobuild() { # goarch output
	CGO_ENABLED=0 GOOS=linux GOARCH="$1" go build -trimpath -buildvcs=false \
		-ldflags "-s -w -buildid= -X main.version=$(version) -X main.commit=$(commit)" \
		-o "$2" .
}

abspath() { (cd "$1" && pwd); }

human() { # bytes
	awk -v b="$1" 'BEGIN { printf "%.2f MB", b / 1048576 }'
}

build() {
	need go "install Go 1.26 or later from https://go.dev/dl/"
	need zip "install it with your package manager (apt-get install zip)"
	local ep pair arch goarch stage zipf
	ep=$(epoch)
	mkdir -p "$DIST"
	for pair in $(arches); do
		arch=${pair%%:*}
		goarch=${pair##*:}
		stage="$DIST/layer-$arch"
		rm -rf "$stage"
		mkdir -p "$stage/extensions"
		gobuild "$goarch" "$stage/extensions/$NAME"
		cp otel-instrument "$stage/otel-instrument" 2>/dev/null || true
		chmod 0755 "$stage/extensions/$NAME" "$stage/extensions"
		[ -f "$stage/otel-instrument" ] && chmod 0755 "$stage/otel-instrument"
		find "$stage" -exec touch -h -d "@$ep" {} +
		zipf="$(abspath "$DIST")/$NAME-$arch.zip"
		rm -f "$zipf"
		# -X: no uid/gid extras; -D: no directory entries; a fixed entry
		# order and TZ=UTC (zip stores local times) keep it reproducible.
		(cd "$stage" && TZ=UTC zip -q -X -D "$zipf" extensions/$NAME $([ -f otel-instrument ] && echo otel-instrument))
		say "$arch: binary $(human "$(stat -c %s "$stage/extensions/$NAME")") ($(stat -c %s "$stage/extensions/$NAME") bytes), zip $(human "$(stat -c %s "$zipf")") ($(stat -c %s "$zipf") bytes): $DIST/$NAME-$arch.zip"
		if [ "${UPX:-}" = 1 ]; then
			upxzip "$arch" "$stage" "$ep"
		fi
	done
}

upxzip() { # arch stage epoch
	if ! command -v upx >/dev/null 2>&1; then
		say "UPX=1 but upx is not installed (Debian: apt-get install upx-ucl, from bookworm-backports on bookworm); skipping the UPX zip"
		return
	fi
	local arch=$1 stage=$2 ep=$3 ustage="$DIST/layer-$1-upx" zipf
	rm -rf "$ustage"
	cp -a "$stage" "$ustage"
	# upx reads its default options from $UPX, which is our "1": unset it.
	env -u UPX upx -q --best --lzma "$ustage/extensions/$NAME" >/dev/null
	find "$ustage" -exec touch -h -d "@$ep" {} +
	zipf="$(abspath "$DIST")/$NAME-$arch-upx.zip"
	rm -f "$zipf"
	(cd "$ustage" && TZ=UTC zip -q -X -D "$zipf" extensions/$NAME $([ -f otel-instrument ] && echo otel-instrument))
	say "$arch (upx): binary $(stat -c %s "$ustage/extensions/$NAME") bytes, zip $(stat -c %s "$zipf") bytes: $DIST/$NAME-$arch-upx.zip"
}

check() {
	need go "install Go 1.26 or later from https://go.dev/dl/"
	go vet ./...
	local pair
	for pair in $(arches); do
		CGO_ENABLED=0 GOOS=linux GOARCH="${pair##*:}" go build -trimpath -o /dev/null .
		say "${pair%%:*}: compiles"
	done
}

runtests() {
	need go "install Go 1.26 or later from https://go.dev/dl/"
	local unformatted
	unformatted=$(gofmt -l . | grep -v '^e2e/node_modules/' || true)
	[ -z "$unformatted" ] || die "gofmt would change: $unformatted (run gofmt -w)"
	go vet ./...
	go test -race -count=1 ./...
	if [ -f e2e/go.mod ]; then
		(cd e2e && go vet ./... && go test -count=1 ./...)
	fi
}

demo() {
	need go "install Go 1.26 or later from https://go.dev/dl/"
	local bin="$DIST/host/$NAME"
	mkdir -p "$DIST/host"
	CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=$(version) -X main.commit=$(commit)" -o "$bin" .
	go run ./tools/lambdasim -ext "$bin" "$@"
}

size() {
	need go "install Go 1.26 or later from https://go.dev/dl/"
	local bin="$DIST/size/$NAME"
	mkdir -p "$DIST/size"
	# Symbols are kept here (no -s -w) so they can be counted; the shipped
	# binary strips them.
	CGO_ENABLED=0 GOOS=linux GOARCH=amd64 go build -trimpath -o "$bin" .
	CGO_ENABLED=0 GOOS=linux GOARCH=amd64 go build -trimpath -ldflags "-s -w" -o "$bin.stripped" .
	say "stripped binary: $(stat -c %s "$bin.stripped") bytes"
	say ""
	say "largest packages (bytes of symbols):"
	# BSS symbols (types B and b) take no room in the file: leave them out.
	go tool nm -size -sort size "$bin" | awk '
		$3 == "B" || $3 == "b" { next }
		{ sz=$2; name=$NF
		  pkg=name; sub(/\.[^\/]*$/, "", pkg)
		  if (pkg == name) pkg = "(other)"
		  s[pkg]+=sz; t+=sz }
		END { for (p in s) printf "%10d  %5.1f%%  %s\n", s[p], 100*s[p]/t, p }' | sort -rn | head -"${SIZE_TOP:-25}"
	say ""
	say "largest symbols:"
	go tool nm -size -sort size "$bin" | awk '$3 != "B" && $3 != "b"' | head -"${SIZE_TOP:-25}" | awk '{ printf "%10d  %s\n", $2, $NF }'
}

fuzz() {
	need go "install Go 1.26 or later from https://go.dev/dl/"
	local t pkg out failed=0
	# One package per go test -fuzz (it refuses several). A short
	# minimisation budget: the default 60 s stalls targets seeded with real
	# SDK payloads at 0 execs/s.
	for pkg in . $(go list ./internal/... ./tools/... 2>/dev/null); do
		for t in $(go test -list '^Fuzz' "$pkg" 2>/dev/null | grep '^Fuzz' || true); do
			say "fuzzing $t in $pkg for ${FUZZTIME:-60s}"
			if ! out=$(go test -run '^$' -fuzz "^$t\$" -fuzztime "${FUZZTIME:-60s}" -fuzzminimizetime 2s "$pkg" 2>&1); then
				printf '%s\n' "$out" | tail -20 || true
				if printf '%s' "$out" | grep -q 'Failing input written'; then
					failed=1
				else
					# Go 1.26's fuzz coordinator can stop with "context
					# deadline exceeded" and no crasher (golang/go#75804).
					say "  $t stopped without a failing input (Go's fuzz coordinator, not a finding)"
				fi
			else
				printf '%s\n' "$out" | grep -E 'elapsed:.*execs' | tail -1 || true
			fi
		done
	done
	[ "$failed" = 0 ] || die "a fuzz target found a failing input (see testdata/fuzz/)"
}

bench() {
	need go "install Go 1.26 or later from https://go.dev/dl/"
	[ -x tools/bench/run.sh ] || die "tools/bench/run.sh is missing"
	tools/bench/run.sh "$@"
}

cmd=${1:-build}
[ $# -gt 0 ] && shift
case "$cmd" in
build) build ;;
test) runtests ;;
check) check ;;
demo) demo "$@" ;;
size) size ;;
fuzz) fuzz ;;
bench) bench "$@" ;;
clean) rm -rf "$DIST" && say "removed $DIST/" ;;
help | -h | --help) usage ;;
*)
	usage >&2
	exit 2
	;;
esac
