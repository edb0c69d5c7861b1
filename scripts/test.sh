#!/usr/bin/env bash
# Runs every test of caddy-apigate: formatting and vet, the unit and integration
# tests with the race detector, and a short run of every fuzz target.
# Needs Go; installs redis-server when it is missing (as root, via apt-get) for the
# tests of the Redis-backed features.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v redis-server >/dev/null 2>&1; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
		echo "installing redis-server"
		apt-get update -qq >/dev/null
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
	else
		echo "redis-server is missing: install it (apt-get install redis-server)" >&2
		[ "${CI:-}" = true ] && exit 1
	fi
fi

unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
	echo "gofmt would change: $unformatted" >&2
	exit 1
fi
go vet ./...

# Fuzz targets: a short run each, on top of their seed corpora (which go test runs).
fuzz_time=${FUZZ_TIME:-5s}
for pkg in $(go list ./...); do
	dir=$(go list -f '{{.Dir}}' "$pkg")
	for target in $(grep -hoE '^func (Fuzz[A-Za-z0-9_]+)' "$dir"/*_test.go 2>/dev/null | awk '{print $2}' | sort -u); do
		echo "fuzz $pkg $target ($fuzz_time)"
		if ! out=$(go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzz_time" "$pkg" 2>&1); then
			echo "$out" | tail -40 >&2
			echo "fuzz target $target failed: the failing input is in $(go list -f '{{.Dir}}' "$pkg")/testdata/fuzz/$target; keep it as a seed once fixed" >&2
			exit 1
		fi
	done
done

go test -race -count=1 -timeout 30m ./...
