#!/usr/bin/env bash
# Usage: scripts/fuzz.sh [package pattern...]   (default ./...)
#
# Runs every Fuzz target of every package for FUZZTIME each (go test -fuzz
# takes one target per run), one after the other, and prints one line per
# target: its result and the executions the fuzzer reported. A failing
# input is written by go test under the package's testdata/fuzz/<target>/
# (add it to the repository: it then runs as a seed in every go test).
# Every target runs even when one fails; the exit status is 1 if any did.
#
#   FUZZTIME=10m   time per target (go test -fuzztime: a duration, or Nx
#                  for a number of executions)
#   FUZZMINIMIZETIME=5s  go test -fuzzminimizetime: the default (60s) spends
#                  whole minutes minimising each new input of the targets
#                  whose seeds carry 4 KiB of entropy, barely fuzzing them
#   FUZZ_LOG=DIR   keep each target's output there (default: a temporary
#                  directory, removed at exit)
# Targets are listed with go test -list, in packages whose test files
# declare a Fuzz function. ./... is the plugin's module: testing/ is a
# module of its own, and its end-to-end packages have none.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
fuzztime="${FUZZTIME:-10m}"
minimize="${FUZZMINIMIZETIME:-5s}"
logs="${FUZZ_LOG:-}"
if [ -z "$logs" ]; then
  logs=$(mktemp -d "${TMPDIR:-/tmp}/entropy-fuzz.XXXXXX")
  trap 'rm -rf "$logs"' EXIT
fi
mkdir -p "$logs"
cd "$root"
if [ $# -eq 0 ]; then set -- ./...; fi

pkgs=()
while read -r pkg dir; do
  if grep -qs '^func Fuzz' "$dir"/*_test.go; then pkgs+=("$pkg"); fi
done < <(go list -f '{{.ImportPath}} {{.Dir}}' "$@")
if [ ${#pkgs[@]} -eq 0 ]; then
  echo "fuzz: no package with Fuzz targets in $*" >&2
  exit 1
fi

failed=0 total=0 start=$SECONDS
summary=()
for pkg in "${pkgs[@]}"; do
  targets=$(go test -list '^Fuzz' "$pkg" | grep '^Fuzz' || true)
  for t in $targets; do
    total=$((total + 1))
    log="$logs/${pkg##*/}.$t.log"
    echo "== $pkg $t ($fuzztime)" >&2
    run() { go test -run '^$' -fuzz "^$t\$" -fuzztime "$fuzztime" -fuzzminimizetime "$minimize" "$pkg" >"$log" 2>&1; }
    if run; then
      result=ok
    elif grep -q 'context deadline exceeded' "$log" && ! grep -q 'Failing input written' "$log" && run; then
      # go test -fuzz reports "context deadline exceeded" when a worker
      # does not answer the coordinator before -fuzztime ends (seen on a
      # loaded 2-core machine); no input failed, so the target runs once
      # more. A failing input is always written to testdata/fuzz and is
      # never retried.
      result=ok
      echo "    (retried once after \"context deadline exceeded\" with no failing input)" >&2
    else
      result=FAIL failed=$((failed + 1))
      sed 's/^/    /' "$log" | tail -40 >&2
    fi
    # The fuzzer's last progress line:
    # "fuzz: elapsed: 61s, execs: 123456 (0/sec), new interesting: 3 (total: 20)"
    progress=$(sed -n 's/^fuzz: elapsed: \([0-9]*\)s, execs: \([0-9]*\) .*new interesting: \([0-9]*\) (total: \([0-9]*\)).*/\1 \2 \3 \4/p' "$log" | tail -1)
    if [ -n "$progress" ]; then
      read -r secs execs new corpus <<<"$progress"
      progress="$execs execs in ${secs}s ($((execs / (secs > 0 ? secs : 1)))/s), $new new interesting, corpus $corpus"
    fi
    summary+=("$(printf '%-4s %-45s %s' "$result" "${pkg#github.com/entropy-auth/vault-plugin-auth-entropy/}.$t" "${progress:-no progress line}")")
  done
done

echo
printf '%s\n' "${summary[@]}"
echo "fuzz: $total targets, $failed failed, ${fuzztime} each, $((SECONDS - start)) s in all"
[ "$failed" -eq 0 ]
