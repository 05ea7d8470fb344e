# Reads `benchstat -format csv -col /impl` and prints one compact table of
# medians per algorithm (wall time, CPU time, allocations), with authkit's ratios to the raw signature check,
# to echo-jwt and to the fastest other middleware.
BEGIN { FS = ","; others = "golang-jwt echo-jwt jwtauth auth0-v2" }
/^,/ && $2 !~ /\// && $2 !~ /op$/ { for (i = 2; i <= NF; i++) if ($i != "") col[$i] = i; next }
/^,/ { unit = $2; next }
/^Middleware\/alg=/ {
	alg = $1; sub(/^Middleware\/alg=/, "", alg); sub(/-[0-9]+$/, "", alg)
	if (!(alg in seen)) { seen[alg] = 1; algs[++nalg] = alg }
	for (name in col) if ($(col[name]) != "") v[unit, alg, name] = $(col[name]) + 0
}
function get(unit, alg, name) { return (unit, alg, name) in v ? v[unit, alg, name] : 0 }
function ratio(a, b) { return b > 0 ? sprintf("%.2fx", a / b) : "-" }
function fmt_t(s) { return s > 0 ? fmt_t1(s) : "-" }
function fmt_t1(s) { return s >= 1e-6 ? sprintf("%.2fµs", s * 1e6) : sprintf("%.0fns", s * 1e9) }
END {
	n = split("raw authkit " others, names, " ")
	split("sec/op cpu-sec/op allocs/op", units, " ")
	split("time cpu allocs", labels, " ")
	printf "%-6s %-6s", "alg", ""
	for (i = 1; i <= n; i++) printf " %10s", names[i]
	printf " %9s %9s %11s\n", "kit/raw", "kit/echo", "kit/best-3rd"
	for (a = 1; a <= nalg; a++) {
		alg = algs[a]
		if (!(("sec/op", alg, "authkit") in v)) continue
		for (u = 1; u <= 3; u++) {
			unit = units[u]
			if (!((unit, alg, "authkit") in v)) continue
			printf "%-6s %-6s", u == 1 ? alg : "", labels[u]
			for (i = 1; i <= n; i++) {
				if (!((unit, alg, names[i]) in v)) { printf " %10s", "-"; continue }
				x = v[unit, alg, names[i]]
				printf " %10s", unit == "allocs/op" ? sprintf("%d", x) : fmt_t(x)
			}
			kit = v[unit, alg, "authkit"]; best = -1
			split(others, o, " ")
			for (i in o) if ((unit, alg, o[i]) in v && (best < 0 || v[unit, alg, o[i]] < best)) best = v[unit, alg, o[i]]
			printf " %9s %9s %11s\n", ratio(kit, get(unit, alg, "raw")), ratio(kit, get(unit, alg, "echo-jwt")), ratio(kit, best)
		}
	}
	if (("sec/op", "none", "bare") in v)
		printf "baseline (bare handler, recorder, request): %s%s, %d allocs\n", fmt_t(v["sec/op", "none", "bare"]),
			(("cpu-sec/op", "none", "bare") in v ? ", cpu " fmt_t(v["cpu-sec/op", "none", "bare"]) : ""), v["allocs/op", "none", "bare"]
}
