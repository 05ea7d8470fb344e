#!/usr/bin/env bash
# The demo on the wire: wrk against the demo binary on loopback, each route
# as a ratio to /healthz measured in the same run (README.md, "Sessions and
# the wire").
#
#	benchmarks/wire.sh [mem|pg] [RUNS]
#
# mem (default): memory stores. pg: PostgreSQL, in a fresh schema of
# $DATABASE_URL (default: the tests' postgres://postgres@127.0.0.1:5432/test),
# dropped afterwards. Each run sends /healthz, GET /api/me with the session
# cookie and GET /api/me with an ES256 bearer token in five interleaved
# slices of 2 s each (so a neighbour's burst of load spreads over all three
# routes), with wrk's 2 threads and 32 connections, and prints the session and
# bearer routes' requests a second as ratios to /healthz's, and the demo
# process's CPU time per request (utime+stime from /proc, a steadier witness
# on a shared machine). Needs wrk (installed with apt-get if missing), curl,
# python3, and psql for pg. LOG_LEVEL (default info) is the demo's
# -log-level: at info it writes a request line and a decision line per
# request, which is a measurable share of the bearer route.
set -euo pipefail
mode=${1:-mem} runs=${2:-3} slices=5 slice=2s
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || apt-get install -y wrk >/dev/null
bin=$(mktemp -d)/demo
go build -o "$bin" ./examples/demo
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
args=(-addr "127.0.0.1:$port" -log-level "${LOG_LEVEL:-info}")
db=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test?sslmode=disable}
schema=authkit_wire_$$
if [[ $mode == pg ]]; then
	psql -q "$db" -c "CREATE SCHEMA $schema"
	sep='?'
	[[ $db == *\?* ]] && sep='&'
	args+=(-database-url "$db${sep}search_path=$schema")
fi
"$bin" "${args[@]}" >/dev/null 2>&1 &
pid=$!
cleanup() {
	kill "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	rm -rf "$(dirname "$bin")"
	if [[ $mode == pg ]]; then psql -q "$db" -c "DROP SCHEMA $schema CASCADE" 2>/dev/null || true; fi
}
trap cleanup EXIT
base=http://127.0.0.1:$port
for _ in $(seq 100); do curl -fs "$base/healthz" >/dev/null && break; sleep 0.1; done
cookie=$(curl -s -o /dev/null -D - -d username=alice -d password=alice-password "$base/session/login" |
	tr -d '\r' | sed -n 's/^[Ss]et-[Cc]ookie: \([^;]*session[^;]*\);.*/\1/p' | head -1)
token=$(curl -s -H 'Content-Type: application/json' -d '{"username":"alice","password":"alice-password"}' "$base/token" |
	python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
[[ $(curl -fs -H "Cookie: $cookie" "$base/api/me") == '{"id":"1","name":"alice","via":"session"}' ]]
[[ $(curl -fs -H "Authorization: Bearer $token" "$base/api/me") == '{"id":"1","name":"alice","via":"jwt"}' ]]

ticks() { awk '{print $14+$15}' "/proc/$pid/stat"; }
declare -A req cpu
# one NAME WRK-ARGS...: one slice, added to NAME's requests and CPU ticks.
one() {
	local name=$1 t0 t1 out
	shift
	t0=$(ticks)
	out=$(wrk -t2 -c32 -d"$slice" "$@")
	t1=$(ticks)
	if grep -q Non-2xx <<<"$out"; then
		echo "wire.sh: answers other than 2xx on $name" >&2
		exit 1
	fi
	req[$name]=$((${req[$name]:-0} + $(awk '/requests in/ {print $1}' <<<"$out")))
	cpu[$name]=$((${cpu[$name]:-0} + t1 - t0))
}
for r in $(seq "$runs"); do
	req=() cpu=()
	for _ in $(seq "$slices"); do
		one healthz "$base/healthz"
		one session -H "Cookie: $cookie" "$base/api/me"
		one bearer -H "Authorization: Bearer $token" "$base/api/me"
	done
	python3 - "$r" "$mode" "${req[healthz]}" "${req[session]}" "${req[bearer]}" \
		"${cpu[healthz]}" "${cpu[session]}" "${cpu[bearer]}" "$(getconf CLK_TCK)" <<'PY'
import sys
r, mode = sys.argv[1:3]
h, s, b, ch, cs, cb, hz = map(int, sys.argv[3:])
us = lambda c, n: c * 1e6 / hz / n
print(f"run {r} ({mode}): /healthz {h/10:.0f}/s; session {s/h:.2f}x, bearer {b/h:.2f}x"
      f" | demo CPU per request: /healthz {us(ch, h):.1f} µs, session {us(cs, s):.1f} µs, bearer {us(cb, b):.1f} µs")
PY
done
