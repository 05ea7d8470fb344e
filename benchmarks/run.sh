#!/usr/bin/env bash
# Runs the comparison benchmarks ten times over and prints the benchstat tables
# shown in README.md. Works from a fresh checkout: Go fetches the modules,
# and benchstat is installed if it is missing. Extra arguments go to the test binary
# (e.g. ./run.sh -test.benchtime=2s). Takes about six minutes on two cores.
set -euo pipefail
cd "$(dirname "$0")"

benchstat=$(command -v benchstat || true)
if [[ -z $benchstat ]]; then
	benchstat="$(go env GOPATH)/bin/benchstat"
	[[ -x $benchstat ]] || go install golang.org/x/perf/cmd/benchstat@latest
fi

# Ten samples of every benchmark, as with go test -count=10, but taken in
# ten interleaved rounds over the whole suite rather than ten in a row: on a
# shared machine, a burst of load from a neighbour then spreads over every
# implementation instead of landing on one of them.
go test -c -o bench.test
trap 'rm -f bench.test' EXIT
: > results.txt
for round in $(seq 10); do
	echo "round $round/10" >&2
	./bench.test -test.run '^$' -test.bench . -test.benchmem -test.count=1 "$@" | tee -a results.txt
done

echo
echo "## Summary: medians, and authkit's ratios (kit/raw, kit/echo-jwt, kit/fastest other)"
"$benchstat" -format csv -col /impl results.txt 2>/dev/null | awk -f summary.awk
echo
echo "## All middlewares, versus authkit"
"$benchstat" -col '/impl@(authkit golang-jwt echo-jwt jwtauth auth0-v2)' results.txt
echo
echo "## authkit versus the raw signature check (the floor)"
"$benchstat" -col '/impl@(raw authkit)' results.txt
echo
echo "## authkit versus echo-jwt"
"$benchstat" -col '/impl@(echo-jwt authkit)' results.txt
echo
echo "## Floor and baseline"
"$benchstat" -filter '/impl:(raw OR bare)' results.txt
