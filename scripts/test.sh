#!/usr/bin/env bash
# Runs every test of caddy-apigate, in this order: formatting and vet; the unit
# and integration tests with the race detector (real Caddy processes, a real
# redis-server); then a short run of every fuzz target. It prints how long each
# part took. About 10 minutes on 2 cores with a warm build cache: 4.5 of tests,
# 4.5 of fuzzing (one instrumented binary per package, 4 s per target).
#
# Needs Go and a C compiler (the race detector uses cgo). Installs redis-server
# and redis-cli (Debian's redis-tools, which the Redis Cluster test uses) when
# either is missing (as root, via apt-get); elsewhere, install them yourself.
#
#   FUZZ_TIME=4s   how long each fuzz target runs (0 skips fuzzing)
#   RACE=0         run the tests without the race detector (no C compiler)
set -euo pipefail
cd "$(dirname "$0")/.."

part_start=$SECONDS
part() { # part NAME: ends the previous part with its duration, starts NAME
	if [ -n "${part_name:-}" ]; then
		echo "== $part_name: $((SECONDS - part_start))s"
	fi
	part_name=$1
	part_start=$SECONDS
	[ -n "$part_name" ] && echo "== $part_name"
	return 0
}

if ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-cli >/dev/null 2>&1; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
		echo "installing redis-server and redis-tools"
		apt-get update -qq >/dev/null
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server redis-tools >/dev/null
	else
		echo "redis-server or redis-cli is missing: install them (apt-get install redis-server redis-tools)" >&2
		[ "${CI:-}" = true ] && exit 1
	fi
fi

part "gofmt and go vet"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
	echo "gofmt would change: $unformatted" >&2
	exit 1
fi
go vet ./...

part "unit and integration tests"
race=-race
[ "${RACE:-1}" = 0 ] && race=
go test $race -count=1 -timeout 30m ./...
# The test-only module of api_upstream_auth against zitadel/oidc (its own
# go.mod, so the plugin's does not carry zitadel; ./... above skips it).
(cd caddytest/oidc && go vet ./... && go test $race -count=1 -timeout 10m ./...)

# Fuzz targets: a short run each, on top of their seed corpora (which the tests
# above ran already).
fuzz_time=${FUZZ_TIME:-4s}
if [ "$fuzz_time" != 0 ]; then
	part "fuzzing ($fuzz_time per target)"
	# One instrumented test binary per package, built once and run for each
	# of its targets (go test -fuzz would link it again for every target).
	bin_dir=$(mktemp -d)
	trap 'rm -rf "$bin_dir"' EXIT
	cache=$(go env GOCACHE)/fuzz
	count_inputs() { # how many inputs a target's testdata folder holds
		if [ -d "$1" ]; then find "$1" -type f | wc -l; else echo 0; fi
	}
	for pkg in $(go list ./...); do
		dir=$(go list -f '{{.Dir}}' "$pkg")
		targets=$(grep -hoE '^func (Fuzz[A-Za-z0-9_]+)' "$dir"/*_test.go 2>/dev/null | awk '{print $2}' | sort -u || true)
		[ -n "$targets" ] || continue
		bin="$bin_dir/${pkg//\//_}.test"
		go test -c -fuzz=. -o "$bin" "$pkg"
		for target in $targets; do
			echo "fuzz $pkg $target"
			for try in 1 2 3; do
				seeds=$(count_inputs "$dir/testdata/fuzz/$target")
				if out=$(cd "$dir" && "$bin" -test.run='^$' -test.fuzz="^${target}\$" -test.fuzztime="$fuzz_time" \
					-test.fuzzcachedir="$cache/$pkg" 2>&1); then
					break
				fi
				# Go 1.26's fuzz coordinator can fail a run at the end of
				# -fuzztime with a bare "context deadline exceeded" and no
				# failing input (go.dev/issue/75804, fixed in Go 1.27): run
				# such a target again, up to three times in all. Any failure
				# that wrote an input, or any other failure, fails the tests.
				if [ "$try" -lt 3 ] && echo "$out" | grep -q '^    context deadline exceeded$' &&
					[ "$(count_inputs "$dir/testdata/fuzz/$target")" = "$seeds" ]; then
					echo "fuzz $pkg $target: the coordinator's deadline race (go.dev/issue/75804), no failing input; running it again"
					continue
				fi
				echo "$out" | tail -40 >&2
				echo "fuzz target $target failed: the failing input is in $dir/testdata/fuzz/$target; keep it as a seed once fixed" >&2
				exit 1
			done
		done
	done
fi
part ""
echo "all tests passed"
