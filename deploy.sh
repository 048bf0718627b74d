#!/bin/sh
# deploy.sh publishes the otel-lambda-extension layer for both architectures
# (seed 002's interface), lists its versions and deletes them.
#
#   ./deploy.sh                    publish x86_64 and arm64
#   DEPLOY_ARCH=arm64 ./deploy.sh  publish one architecture only
#   AWS_REGION=eu-west-1 ./deploy.sh
#   ./deploy.sh list               list existing versions of both layers
#   ./deploy.sh delete [--yes|-y]  delete all versions of both layers
#   ./deploy.sh help
#
# It reads the zips ./build.sh writes and talks to AWS only through the AWS
# CLI. Before doing anything it checks the CLI, the zips, the region and the
# credentials, and says what is missing and how to fix it.
set -eu

script_dir=$(CDPATH='' cd -- "$(dirname -- "$0")" && pwd)

LAYER_NAME=${LAYER_NAME:-otel-lambda-extension}
DIST_DIR=${DIST_DIR:-$script_dir/dist}
DEPLOY_ARCH=${DEPLOY_ARCH:-}
# The runtimes seed 002 publishes for, verbatim. Lambda ignores a layer's
# runtime list when attaching it; the list only filters the console's view.
COMPATIBLE_RUNTIMES="python3.9 python3.10 python3.11 python3.12 python3.13 nodejs18.x nodejs20.x nodejs22.x java11 java17 java21 dotnet8 ruby3.3 provided.al2 provided.al2023"

usage() {
	cat <<EOF
Usage: ./deploy.sh [command]

Commands:
  (none)            publish the layer for both architectures (x86_64, arm64)
  list              list existing versions of both layers
  delete [--yes]    delete ALL versions of both layers (asks first;
                    --yes or -y skips the question, for scripts)
  help              show this help

Environment:
  DEPLOY_ARCH   x86_64 or arm64: publish only that architecture (default: both)
  AWS_REGION    region to publish to (default: AWS_DEFAULT_REGION, then the
                AWS CLI's configured region)
  LAYER_NAME    layer name prefix (default: otel-lambda-extension); the layers
                are \${LAYER_NAME}-x86_64 and \${LAYER_NAME}-arm64
  DIST_DIR      folder with the zips from ./build.sh (default: dist)
  VERSION       version in the layer description (default: git describe)
  AWS_ENDPOINT_URL
                send every AWS call to this URL (for LocalStack and tests;
                passed as --endpoint-url so AWS CLI v1 honours it too)

Publishes \$DIST_DIR/otel-lambda-extension-<arch>.zip and prints the new layer
version ARNs. Build the zips first with ./build.sh.
EOF
}

die() {
	printf 'deploy.sh: error: %s\n' "$*" >&2
	exit 1
}

# aws runs the AWS CLI with the region, no pager and, when set, the endpoint.
aws_cli() {
	if [ -n "${AWS_ENDPOINT_URL:-}" ]; then
		AWS_PAGER='' aws --region "$region" --endpoint-url "$AWS_ENDPOINT_URL" "$@"
	else
		AWS_PAGER='' aws --region "$region" "$@"
	fi
}

# archs prints the architectures to work on, from DEPLOY_ARCH.
archs() {
	case "$DEPLOY_ARCH" in
	'') echo "x86_64 arm64" ;;
	x86_64 | arm64) echo "$DEPLOY_ARCH" ;;
	*) die "DEPLOY_ARCH=$DEPLOY_ARCH: want x86_64 or arm64 (or unset for both)" ;;
	esac
}

check_cli() {
	if ! command -v aws >/dev/null 2>&1; then
		die "the AWS CLI (aws) is not installed or not on PATH.
  Install it: https://docs.aws.amazon.com/cli/latest/userguide/getting-started-install.html
  (or: apt-get install awscli / brew install awscli / pip install awscli)"
	fi
}

check_zips() {
	missing=''
	for arch in $(archs); do
		zip="$DIST_DIR/otel-lambda-extension-$arch.zip"
		if [ ! -f "$zip" ]; then
			missing="$missing
  $zip"
		fi
	done
	if [ -n "$missing" ]; then
		die "layer zip not found:$missing
  Build it first with ./build.sh (or set DIST_DIR to the folder holding the zips)."
	fi
}

check_region() {
	region=${AWS_REGION:-${AWS_DEFAULT_REGION:-}}
	if [ -z "$region" ]; then
		region=$(aws configure get region 2>/dev/null || true)
	fi
	if [ -z "$region" ]; then
		die "no AWS region set.
  Set one: AWS_REGION=eu-west-1 ./deploy.sh (or run: aws configure set region <region>)"
	fi
}

check_credentials() {
	if ! identity=$(aws_cli sts get-caller-identity --query Arn --output text 2>&1); then
		die "AWS credentials do not work (aws sts get-caller-identity failed):
  $identity
  Configure them with: aws configure (or set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)"
	fi
	printf 'AWS identity: %s (region %s)\n' "$identity" "$region"
}

version() {
	if [ -n "${VERSION:-}" ]; then
		printf '%s\n' "$VERSION"
	elif v=$(git -C "$script_dir" describe --tags --always --dirty 2>/dev/null) && [ -n "$v" ]; then
		printf '%s\n' "$v"
	else
		echo unknown
	fi
}

publish() {
	ver=$(version)
	for arch in $(archs); do
		layer="$LAYER_NAME-$arch"
		zip="$DIST_DIR/otel-lambda-extension-$arch.zip"
		echo "Publishing $layer from $zip ..."
		# COMPATIBLE_RUNTIMES is split into words on purpose: one argument
		# per runtime.
		# shellcheck disable=SC2086
		arn=$(aws_cli lambda publish-layer-version \
			--layer-name "$layer" \
			--zip-file "fileb://$zip" \
			--compatible-runtimes $COMPATIBLE_RUNTIMES \
			--compatible-architectures "$arch" \
			--description "OpenTelemetry Lambda extension $ver ($arch)" \
			--query LayerVersionArn --output text) ||
			die "publishing $layer failed (see the AWS CLI's message above)"
		echo "Published $layer: $arn"
	done
}

list() {
	for arch in $(archs); do
		layer="$LAYER_NAME-$arch"
		echo "Layer $layer:"
		out=$(aws_cli lambda list-layer-versions --layer-name "$layer" \
			--query 'LayerVersions[].[Version,LayerVersionArn,Description]' --output text) ||
			die "listing $layer failed (see the AWS CLI's message above)"
		if [ -z "$out" ] || [ "$out" = None ]; then
			echo "  (no versions)"
		else
			printf '%s\n' "$out" | sed 's/^/  /'
		fi
	done
}

# versions_of LAYER prints the layer's version numbers, one per line.
versions_of() {
	out=$(aws_cli lambda list-layer-versions --layer-name "$1" \
		--query 'LayerVersions[].Version' --output text) ||
		die "listing $1 failed (see the AWS CLI's message above)"
	if [ "$out" != None ]; then
		# The text output puts the numbers on one tab-separated line; word
		# splitting turns them into one per line.
		for v in $out; do
			printf '%s\n' "$v"
		done
	fi
}

# delete removes every version of both layers; assume_yes skips the question.
delete() {
	plan=''
	count=0
	for arch in $(archs); do
		layer="$LAYER_NAME-$arch"
		# Assigned first so that a failed listing stops the script (set -e)
		# instead of looking like a layer without versions.
		vs=$(versions_of "$layer")
		for v in $vs; do
			plan="$plan $layer:$v"
			count=$((count + 1))
		done
	done
	if [ "$count" -eq 0 ]; then
		echo "Nothing to delete: no versions of the $LAYER_NAME layers in $region."
		return 0
	fi
	echo "About to delete $count layer version(s) in $region:"
	for item in $plan; do
		echo "  ${item%:*} version ${item##*:}"
	done
	if [ "$assume_yes" = false ]; then
		# The answer must come from a person: without a terminal on stdin
		# (CI, pipes) refuse instead of guessing.
		if [ ! -t 0 ]; then
			die "refusing to delete without confirmation: no terminal to ask on.
  Re-run with --yes (./deploy.sh delete --yes) to delete without asking."
		fi
		printf 'Delete them? Type "yes" to confirm: '
		answer=''
		read -r answer || true
		case "$answer" in
		y | Y | yes | YES | Yes) ;;
		*)
			echo "Not deleted."
			return 0
			;;
		esac
	fi
	for item in $plan; do
		aws_cli lambda delete-layer-version --layer-name "${item%:*}" --version-number "${item##*:}" ||
			die "deleting ${item%:*} version ${item##*:} failed (see the AWS CLI's message above)"
		echo "Deleted ${item%:*} version ${item##*:}"
	done
}

cmd=${1:-deploy}
if [ "$#" -gt 0 ]; then
	shift
fi
case "$cmd" in
help | -h | --help)
	usage
	exit 0
	;;
deploy)
	[ "$#" -eq 0 ] || die "unexpected argument $1 (see ./deploy.sh help)"
	archs >/dev/null
	check_cli
	check_zips
	check_region
	check_credentials
	publish
	;;
list)
	[ "$#" -eq 0 ] || die "unexpected argument $1 (see ./deploy.sh help)"
	archs >/dev/null
	check_cli
	check_region
	check_credentials
	list
	;;
delete)
	assume_yes=false
	for arg in "$@"; do
		case "$arg" in
		--yes | -y) assume_yes=true ;;
		*) die "delete: unknown option $arg (want --yes or -y)" ;;
		esac
	done
	archs >/dev/null
	check_cli
	check_region
	check_credentials
	delete
	;;
*)
	usage >&2
	die "unknown command $cmd"
	;;
esac
