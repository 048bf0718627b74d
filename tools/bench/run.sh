#!/usr/bin/env bash
# run.sh is `./build.sh bench`: it builds what the benchmarks need (the
# layer, the floors, the load generator, the harness, and once, cached, an
# OpenTelemetry Collector), measures on this machine, and writes
# BENCHMARKS.md: a summary of every target, one section per measure with
# the command that reproduces it, and the hand-written method and findings
# kept from the previous BENCHMARKS.md.
#
# Environment:
#   BENCH_QUICK=1     a smoke run of a few minutes (fewer samples everywhere)
#   BENCH_INVOKES=N   invocations per flush strategy (default 1000)
#   BENCH_COLD=N      cold starts per binary (default 30)
#   BENCH_OUT=file    where to write (default BENCHMARKS.md at the repo root)
#   BENCH_KEEP=1      keep the scratch folder (its path is printed)
#   BENCH_SKIP=list   skip sections: size,cold,invoke,throughput,memory,go
#   BENCH_CACHE=dir   collector cache (default ~/.cache/otel-lambda-extension-bench)
#   BENCH_NO_INSTALL=1  do not apt-get install upx when it is missing
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD

say() { printf '%s\n' "$*" >&2; }
die() {
	say "bench: $*"
	exit 1
}

# Sample sizes. The full run fits in well under 30 minutes on 2 cores; the
# quick run is for developing the harness, not for numbers.
if [ "${BENCH_QUICK:-}" = 1 ]; then
	COLD=${BENCH_COLD:-8} TRACE=3 INVOKES=${BENCH_INVOKES:-60} TP_REQ=100 TP_REPS=1 MEM_REPS=1 GOCOUNT=1 GOTIME=100ms
else
	COLD=${BENCH_COLD:-30} TRACE=10 INVOKES=${BENCH_INVOKES:-1000} TP_REQ=200 TP_REPS=5 MEM_REPS=3 GOCOUNT=6 GOTIME=500ms
fi
OUTFILE=${BENCH_OUT:-$ROOT/BENCHMARKS.md}
SKIP=",${BENCH_SKIP:-},"
skip() { [[ "$SKIP" == *",$1,"* ]]; }
CACHE=${BENCH_CACHE:-$HOME/.cache/otel-lambda-extension-bench}
# The collector and its builder, pinned: v0.160.0 is the newest release
# whose otlphttp exporter's dependencies are all on the Go module proxy.
OTELCOL_VERSION=v0.160.0

WORK=$(mktemp -d "${TMPDIR:-/tmp}/otel-bench.XXXXXX")
cleanup() {
	# Every process this script starts runs in the foreground; the harness
	# kills and reaps its own children (extensions, collector, otlpload)
	# and they die with it (PR_SET_PDEATHSIG). Background jobs, if any:
	local j
	for j in $(jobs -p); do kill "$j" 2>/dev/null || true; done
	if [ "${BENCH_KEEP:-}" = 1 ]; then
		say "bench: scratch kept in $WORK"
	else
		rm -rf "$WORK"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

START=$(date +%s)
BIN=$WORK/bin
SECT=$WORK/sections
mkdir -p "$BIN" "$SECT" "$WORK/size"
TARGETS=$SECT/targets.tsv
: >"$TARGETS"

case "$(uname -m)" in
x86_64) HOSTARCH=amd64 LAMBDAARCH=x86_64 ;;
aarch64 | arm64) HOSTARCH=arm64 LAMBDAARCH=arm64 ;;
*) die "unsupported machine $(uname -m)" ;;
esac

LDFLAGS="-s -w -buildid="
gobuild() { # goarch output package
	CGO_ENABLED=0 GOOS=linux GOARCH="$1" go build -trimpath -buildvcs=false -ldflags "$LDFLAGS" -o "$2" "$3"
}
# zipas: zip one binary as extensions/<name>, as build.sh zips the layer.
zipas() { # binary name zipfile
	local stage
	stage=$(mktemp -d "$WORK/stage.XXXXXX")
	mkdir -p "$stage/extensions"
	cp "$1" "$stage/extensions/$2"
	chmod 0755 "$stage/extensions/$2"
	touch -h -d @315532800 "$stage/extensions" "$stage/extensions/$2"
	(cd "$stage" && TZ=UTC zip -q -X -D "$3" "extensions/$2")
}

say "bench: building the layer, the floors and the tools into $WORK"
# ensure_upx installs Debian's upx-ucl when upx is missing and this is a
# Debian machine we may change (root, apt). Bookworm dropped upx-ucl from
# its main suite; bookworm-backports carries 4.2.x, so that suite is added
# (pinned at the default low priority: nothing else is upgraded from it).
# Set BENCH_NO_INSTALL=1 to measure only what is already installed.
ensure_upx() {
	command -v upx >/dev/null 2>&1 && return 0
	[ "${BENCH_NO_INSTALL:-}" = 1 ] && return 1
	[ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 || return 1
	say "bench: installing upx (Debian's upx-ucl)"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq upx-ucl >/dev/null 2>&1 && return 0
	local codename
	codename=$(. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-}")
	if [ -n "$codename" ] && [ -d /etc/apt/sources.list.d ] &&
		! grep -rqs "$codename-backports" /etc/apt/sources.list /etc/apt/sources.list.d; then
		printf 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: %s-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
			"$codename" >"/etc/apt/sources.list.d/$codename-backports.sources"
	fi
	apt-get update -qq >/dev/null 2>&1 || true
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -t "$codename-backports" upx-ucl >/dev/null 2>&1 ||
		say "bench: could not install upx-ucl; the UPX variant is not measured"
	command -v upx >/dev/null 2>&1
}
UPXOK=
ensure_upx && UPXOK=1
DIST_DIR=$WORK/dist UPX=${UPXOK:-0} ./build.sh >"$WORK/build.log" 2>&1 || {
	cat "$WORK/build.log" >&2
	die "./build.sh failed"
}
for pair in amd64:x86_64 arm64:arm64; do
	ga=${pair%%:*} la=${pair##*:}
	cp "$WORK/dist/layer-$la/extensions/otel-lambda-extension" "$WORK/size/ours-$ga"
	cp "$WORK/dist/otel-lambda-extension-$la.zip" "$WORK/size/ours-$ga.zip"
	if [ -n "$UPXOK" ]; then
		cp "$WORK/dist/layer-$la-upx/extensions/otel-lambda-extension" "$WORK/size/ours-upx-$ga"
		cp "$WORK/dist/otel-lambda-extension-$la-upx.zip" "$WORK/size/ours-upx-$ga.zip"
	fi
	gobuild "$ga" "$WORK/size/floor-$ga" ./tools/floor/nethttp
	zipas "$WORK/size/floor-$ga" nethttp "$WORK/size/floor-$ga.zip"
done
mkdir -p "$BIN/ours" "$BIN/floor" "$BIN/ours-upx"
cp "$WORK/dist/layer-$LAMBDAARCH/extensions/otel-lambda-extension" "$BIN/ours/"
[ -n "$UPXOK" ] && cp "$WORK/dist/layer-$LAMBDAARCH-upx/extensions/otel-lambda-extension" "$BIN/ours-upx/"
gobuild "$HOSTARCH" "$BIN/floor/register" ./tools/floor/register
go build -o "$BIN/otlpload" ./tools/otlpload
go build -o "$BIN/harness" ./tools/bench/harness
go build -o "$BIN/fakeruntime" ./internal/lambdasim/fakeruntime
OURS=$BIN/ours/otel-lambda-extension

# The collector: built once with the OpenTelemetry Collector Builder and
# cached; a failure is reported in BENCHMARKS.md and the run goes on.
COLLECTOR= COLNOTE=
build_collector() {
	local dir=$CACHE/otelcol-$OTELCOL_VERSION
	if [ -x "$dir/build/otelcol-bench" ]; then
		COLLECTOR=$dir/build/otelcol-bench
		return
	fi
	mkdir -p "$dir"
	say "bench: building the OpenTelemetry Collector $OTELCOL_VERSION (once; cached in $dir)"
	GOBIN=$CACHE/bin go install "go.opentelemetry.io/collector/cmd/builder@$OTELCOL_VERSION" >"$dir/install.log" 2>&1 || return 1
	cat >"$dir/manifest.yaml" <<EOF
dist:
  name: otelcol-bench
  description: OTLP in, OTLP/HTTP out, for otel-lambda-extension's benchmarks
  output_path: ./build
receivers:
  - gomod: go.opentelemetry.io/collector/receiver/otlpreceiver $OTELCOL_VERSION
exporters:
  - gomod: go.opentelemetry.io/collector/exporter/otlphttpexporter $OTELCOL_VERSION
EOF
	(cd "$dir" && "$CACHE/bin/builder" --config manifest.yaml >build.log 2>&1) || return 1
	[ -x "$dir/build/otelcol-bench" ] || return 1
	COLLECTOR=$dir/build/otelcol-bench
}
if ! skip throughput; then
	if build_collector; then
		COLNOTE="OpenTelemetry Collector $OTELCOL_VERSION built with the Collector Builder: otlp receiver, otlphttp exporter, no processors"
	else
		COLNOTE="building the OpenTelemetry Collector $OTELCOL_VERSION failed on this machine (see $CACHE/otelcol-$OTELCOL_VERSION/*.log)"
		say "bench: $COLNOTE; continuing without it"
	fi
fi

H=$BIN/harness
common() { printf -- '-md %s -targets %s' "$SECT/$1.md" "$TARGETS"; }

if ! skip size; then
	say "bench: 1. size"
	# shellcheck disable=SC2046
	"$H" size $(common 1-size) -dir "$WORK/size" \
		-reproduce "./build.sh bench (size: DIST_DIR=tmp ./build.sh; floor: CGO_ENABLED=0 go build -trimpath -ldflags '-s -w -buildid=' ./tools/floor/nethttp, zipped as extensions/nethttp)"
fi

COLDJSON=$WORK/cold.json
if ! skip cold; then
	say "bench: 2. cold start ($COLD per binary, interleaved)"
	exts=(-ext "ours=$OURS")
	[ -n "$UPXOK" ] && exts+=(-ext "ours-upx=$BIN/ours-upx/otel-lambda-extension")
	exts+=(-ext "floor=$BIN/floor/register")
	# shellcheck disable=SC2046
	"$H" coldstart $(common 2-cold) "${exts[@]}" -floor floor -n "$COLD" -k "$TRACE" -json "$COLDJSON" \
		-reproduce "go run ./tools/bench/harness coldstart -ext ours=dist/layer-$LAMBDAARCH/extensions/otel-lambda-extension -ext floor=<CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' ./tools/floor/register> -n $COLD -k $TRACE"
fi

if ! skip invoke; then
	say "bench: 3. per-invocation cost ($INVOKES invocations per strategy)"
	# shellcheck disable=SC2046
	"$H" invoke $(common 3-invoke) -ext "$OURS" -n "$INVOKES" \
		-strategy end -strategy periodically,1000 -strategy continuously,100 -strategy adaptive \
		-runtime "$BIN/fakeruntime" -wrapper "$ROOT/otel-instrument" \
		-reproduce "go run ./tools/bench/harness invoke -ext dist/layer-$LAMBDAARCH/extensions/otel-lambda-extension -n $INVOKES -strategy end -strategy periodically,1000 -strategy continuously,100 -strategy adaptive -runtime <go build ./internal/lambdasim/fakeruntime> -wrapper otel-instrument"
fi

if ! skip throughput; then
	say "bench: 4. throughput (extension and collector, $TP_REPS runs per load shape)"
	colargs=()
	[ -n "$COLLECTOR" ] && colargs=(-collector "$COLLECTOR")
	# shellcheck disable=SC2046
	"$H" throughput $(common 4-throughput) -hwm-json "$WORK/throughput-hwm.json" -ext "$OURS" -load "$BIN/otlpload" "${colargs[@]}" -collector-note "$COLNOTE" \
		-reps "$TP_REPS" -requests "$TP_REQ" \
		-reproduce "go run ./tools/bench/harness throughput -ext dist/layer-$LAMBDAARCH/extensions/otel-lambda-extension -load <go build ./tools/otlpload> -collector <otelcol from tools/bench/run.sh> -reps $TP_REPS -requests $TP_REQ"
	# The same with export compression off on both sides: how much of each
	# target's CPU per span is gzip. No targets from this one.
	"$H" throughput -md "$SECT/4b-throughput-nogzip.md" -ext "$OURS" -load "$BIN/otlpload" "${colargs[@]}" -collector-note "$COLNOTE" \
		-reps "$TP_REPS" -requests "$TP_REQ" -shapes protobuf -compression none \
		-heading "### 4b. Throughput with export compression off (both targets)" \
		-reproduce "go run ./tools/bench/harness throughput ... -shapes protobuf -compression none"
fi

if ! skip memory; then
	say "bench: 5. memory"
	memargs=()
	[ -f "$COLDJSON" ] && memargs+=(-coldjson "$COLDJSON")
	[ -f "$WORK/throughput-hwm.json" ] && memargs+=(-hwmjson "$WORK/throughput-hwm.json")
	# shellcheck disable=SC2046
	"$H" memory $(common 5-memory) -ext "$OURS" -load "$BIN/otlpload" -reps "$MEM_REPS" "${memargs[@]}" \
		-reproduce "go run ./tools/bench/harness memory -ext dist/layer-$LAMBDAARCH/extensions/otel-lambda-extension -load <go build ./tools/otlpload> -buffer-mb 16 -reps $MEM_REPS"
fi

GOBENCH=$WORK/gobench.txt
if ! skip go; then
	say "bench: 6–7. Go benchmarks (-count $GOCOUNT -benchtime $GOTIME)"
	go test -run '^$' -bench . -benchmem -count "$GOCOUNT" -benchtime "$GOTIME" . >"$GOBENCH" 2>&1 || {
		cat "$GOBENCH" >&2
		die "go test -bench failed"
	}
	BENCHSTAT=$WORK/benchstat.txt
	# Run in $WORK so the table is headed by the file name, not the path.
	if command -v benchstat >/dev/null 2>&1; then
		(cd "$WORK" && benchstat gobench.txt) >"$BENCHSTAT" 2>&1 || : >"$BENCHSTAT"
	else
		(cd "$WORK" && go run golang.org/x/perf/cmd/benchstat@latest gobench.txt) >"$BENCHSTAT" 2>"$WORK/benchstat.err" || : >"$BENCHSTAT"
	fi
	# 6. gzip: medians per level from BenchmarkGzip (spans) and
	# BenchmarkGzipPlatformLogs (Telemetry API log records).
	{
		echo "## 6. gzip level"
		echo
		echo "Exports are gzip-compressed at \`gzipLevel\` (export.go). Realistic batches compressed at each level, medians of $GOCOUNT runs: \`BenchmarkGzip\` (export_test.go: 8 requests × 512 spans), \`BenchmarkGzipLevels\` (bench_test.go: 8 × 512 spans with the attributes of an instrumented handler, and the log records that Telemetry API platform events become)."
		echo
		echo "| payload | level | in | out | ratio | CPU per MB in | MB/s |"
		echo "|---|---|---|---|---|---|---|"
		awk '
			/^BenchmarkGzip(Levels)?\// {
				name=$1; sub(/-[0-9]+$/, "", name)
				n = split(name, p, "/")
				if (p[1] == "BenchmarkGzip") { pl = "span batch (BenchmarkGzip)"; lv = p[2] } else { pl = p[2]; lv = p[3] }
				k = pl SUBSEP lv
				for (i=2; i<NF; i++) {
					if ($(i+1) == "ns/op") ns[k] = ns[k] " " $i
					if ($(i+1) == "in-bytes") in_[k] = $i
					if ($(i+1) == "out-bytes") out[k] = $i
				}
				keys[k] = 1; pls[pl] = 1
			}
			function med(s,   a, n, i, j, t) {
				n = split(s, a, " ")
				for (i=1; i<=n; i++) for (j=i+1; j<=n; j++) if (a[j]+0 < a[i]+0) { t=a[i]; a[i]=a[j]; a[j]=t }
				return (n % 2) ? a[(n+1)/2] : (a[n/2] + a[n/2+1]) / 2
			}
			END {
				for (k in keys) {
					split(k, kk, SUBSEP)
					m = med(ns[k]); mbin = in_[k] / 1048576
					printf "| %s | %s | %.0f KB | %.1f KB | %.2f | %.2f ms | %.0f |\n", kk[1], kk[2], in_[k]/1024, out[k]/1024, in_[k]/out[k], m/1e6/mbin, mbin/(m/1e9)
				}
				for (pl in pls) {
					b = pl SUBSEP "BestSpeed"; d = pl SUBSEP "Default"
					if (!(b in keys) || !(d in keys)) continue
					printf "SUMMARY %s: Default saves %.1f%% of the BestSpeed bytes (%.1f KB of %.1f KB) for %.1f× the CPU.\n", pl, 100*(out[b]-out[d])/out[b], (out[b]-out[d])/1024, out[b]/1024, med(ns[d])/med(ns[b])
				}
			}' "$GOBENCH" | sort >"$WORK/gzip.txt"
		grep -v '^SUMMARY' "$WORK/gzip.txt" || true
		echo
		sed -n 's/^SUMMARY /- /p' "$WORK/gzip.txt"
		echo
		echo "gzipLevel is $(sed -n 's/^const gzipLevel = gzip\.\(.*\)/\1/p' export.go)."
		echo
		echo "Why the level is what it is: see Findings."
		echo
		echo "Reproduce: \`go test -run '^\$' -bench 'Gzip' -benchmem -count $GOCOUNT .\`"
		echo
	} >"$SECT/6-gzip.md"
	{
		echo "## 7. Go benchmarks"
		echo
		echo "Every benchmark of the root package: wire walk (\`Validate\`), enrichment (\`Enrich\`), JSON transcoding (\`JSONToProto\`, \`ProtoToJSON\`, \`JSONDecoderToken\`), batch assembly (\`BatchAssembly\`), compression (\`Gzip*\`), telemetry event conversion (\`TelemetryBatch\`, \`RuntimeDoneToSink\`), and the whole receive path in process (\`ReceiverServe\`). \`-count $GOCOUNT -benchtime $GOTIME\`."
		echo
		if [ -s "$BENCHSTAT" ]; then
			echo "benchstat (median ± 95% confidence interval over the $GOCOUNT runs):"
			echo
			echo '```'
			cat "$BENCHSTAT"
			echo '```'
		else
			echo "benchstat was not available (neither installed nor fetchable); raw output:"
			echo
			echo '```'
			grep -E '^(Benchmark|goos|goarch|cpu|pkg)' "$GOBENCH"
			echo '```'
		fi
		echo
		echo "Reproduce: \`go test -run '^\$' -bench . -benchmem -count $GOCOUNT -benchtime $GOTIME . > new.txt && go run golang.org/x/perf/cmd/benchstat@latest new.txt\`"
		echo
	} >"$SECT/7-go.md"
fi

# Assemble BENCHMARKS.md. The hand-written part (method and findings)
# lives between the markers and is carried over from the previous file.
BEGIN_MARK='<!-- hand-written: kept by tools/bench/run.sh -->'
END_MARK='<!-- end hand-written -->'
HAND=$WORK/hand.md
if [ -f "$OUTFILE" ] && grep -qF "$BEGIN_MARK" "$OUTFILE"; then
	awk -v b="$BEGIN_MARK" -v e="$END_MARK" '$0 == b { on=1 } on { print } $0 == e { on=0 }' "$OUTFILE" >"$HAND"
else
	printf '%s\n## Method and findings\n\n(not written yet)\n\n%s\n' "$BEGIN_MARK" "$END_MARK" >"$HAND"
fi
ELAPSED=$(($(date +%s) - START))
{
	echo "# Benchmarks"
	echo
	echo "Generated by \`./build.sh bench\` (tools/bench/run.sh) on $(date -u +%Y-%m-%d) in ${ELAPSED}s$([ "${BENCH_QUICK:-}" = 1 ] && echo ', **quick run (BENCH_QUICK=1): smoke numbers, not for decisions**'). Everything below was measured in that one run, on this machine:"
	echo
	echo "- commit \`$(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD 2>/dev/null || echo ' (dirty)')\`, $(go version | cut -d' ' -f3-)"
	echo "- $(uname -sm), $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ *//' || echo unknown cpu)), $(awk '/MemTotal/ { printf "%.1f GB RAM", $2/1048576 }' /proc/meminfo), load average at the end $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "- upx: $(if [ -n "$UPXOK" ]; then upx --version 2>/dev/null | head -1; else echo 'not installed'; fi); collector: ${COLNOTE:-not measured}"
	echo
	echo "Reproduce all of it: \`./build.sh bench\` (\`BENCH_QUICK=1\` for a smoke run; \`BENCH_INVOKES\`, \`BENCH_COLD\`, \`BENCH_SKIP=size,cold,invoke,throughput,memory,go\`)."
	echo
	echo "## Targets"
	echo
	echo "| section | target | measured | verdict |"
	echo "|---|---|---|---|"
	awk -F'\t' '{ printf "| %s | %s | %s | %s |\n", $1, $2, $3, ($4 == "MISS" ? "**MISS**" : $4) }' "$TARGETS"
	echo
	cat "$HAND"
	echo
	for s in "$SECT"/[0-9]*.md; do
		if [ -f "$s" ]; then cat "$s"; fi
	done
} >"$OUTFILE.tmp"
mv "$OUTFILE.tmp" "$OUTFILE"
say "bench: wrote $OUTFILE in ${ELAPSED}s"
