#!/usr/bin/env bash
# Runs the comparison benchmarks ten times and prints the benchstat tables
# shown in README.md. Works from a fresh checkout: Go fetches the modules,
# and benchstat is installed if it is missing. Extra arguments go to go test
# (e.g. ./run.sh -benchtime=2s). Takes about ten minutes on two cores.
set -euo pipefail
cd "$(dirname "$0")"

benchstat=$(command -v benchstat || true)
if [[ -z $benchstat ]]; then
	benchstat="$(go env GOPATH)/bin/benchstat"
	[[ -x $benchstat ]] || go install golang.org/x/perf/cmd/benchstat@latest
fi

go test -run '^$' -bench . -benchmem -count=10 "$@" | tee results.txt

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
