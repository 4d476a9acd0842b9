#!/usr/bin/env bash
# Usage: scripts/bench.sh
#
# The server's verify path against the bare open of the same suite
# (BenchmarkServerVerify in backend/bench_test.go), COUNT runs of each,
# summarised by benchstat (pinned, from the Go module proxy) with the steps
# in columns, then one line per suite: the ratio of the medians,
# verify/open, next to the target (1.5x). The target is reported, not
# asserted: the exit status is non-zero only when a step fails.
#
#   COUNT=10       runs of each benchmark (benchstat wants 6 or more for its
#                  confidence intervals); about 25 s per run on 2 cores
#   BENCHTIME=1s   go test -benchtime
#   BENCH_OUT=FILE keep the raw go test output there (default: a temporary
#                  file, removed at exit)
set -euo pipefail

BENCHSTAT_VERSION=v0.0.0-20260908200009-22c9c6c9d4da # golang.org/x/perf
TARGET=1.5

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
count="${COUNT:-10}"
benchtime="${BENCHTIME:-1s}"
raw="${BENCH_OUT:-}"
if [ -z "$raw" ]; then
  raw=$(mktemp "${TMPDIR:-/tmp}/entropy-bench.XXXXXX")
  trap 'rm -f "$raw"' EXIT
fi

cd "$root"
echo "bench: go test -run '^\$' -bench '^BenchmarkServerVerify\$' -benchtime $benchtime -count $count ./backend" >&2
go test -run '^$' -bench '^BenchmarkServerVerify$' -benchtime "$benchtime" -count "$count" ./backend | tee "$raw" >&2

echo
go run "golang.org/x/perf/cmd/benchstat@$BENCHSTAT_VERSION" -col /step "$raw"

# The medians benchstat reports as each column's centre, computed here
# from the raw ns/op so that the ratio does not depend on benchstat's
# output format.
echo
sed -n 's|^BenchmarkServerVerify/suite=\([^/]*\)/step=\([a-z]*\)-[0-9]* .* \([0-9.]*\) ns/op.*|\1 \2 \3|p' "$raw" |
  sort -k1,1 -k2,2 -k3,3g |
  awk -v target="$TARGET" '
    function flush() {
      if (n == 0) return
      med[key] = (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
      n = 0
    }
    { k = $1 " " $2; if (k != key) { flush(); key = k; if (!($1 in seen)) { seen[$1] = 1; order[++ns] = $1 } } v[++n] = $3 }
    END {
      flush()
      if (ns == 0) { print "bench: no results" > "/dev/stderr"; exit 1 }
      for (i = 1; i <= ns; i++) {
        s = order[i]; o = med[s " open"]; w = med[s " verify"]
        if (o == "" || w == "" || o <= 0) { print "bench: " s ": missing open or verify results" > "/dev/stderr"; bad = 1; continue }
        r = w / o
        printf "%-8s verify/open = %.2fx (median %.1f us / %.1f us; target <= %sx: %s)\n", s, r, w / 1000, o / 1000, target, (r <= target) ? "met" : "NOT met"
      }
      exit bad
    }'
