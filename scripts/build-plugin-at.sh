#!/usr/bin/env bash
# Usage: scripts/build-plugin-at.sh [COMMIT [COMMAND]]
#
# Builds the plugin (or ./cmd/COMMAND, say vault-entropy) as it was at
# COMMIT (default: the one in testing/load/baseline-commit, the build the
# load harness compares rotation throughput against) from `git archive` of
# that commit, into the cache outside the repository, and prints the
# binary's absolute path on stdout. Reused once built: a commit's sources
# do not change. testing/upgrade builds the plugin and the CLI of its own
# baseline commit this way.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
commit=${1:-$(sed -n 's/^\([0-9a-f]\{40\}\).*/\1/p' "$root/testing/load/baseline-commit" | head -n1)}
if ! [[ "$commit" =~ ^[0-9a-f]{7,40}$ ]]; then
  echo "build-plugin-at.sh: no commit given and none in testing/load/baseline-commit" >&2
  exit 2
fi
name=${2:-vault-plugin-auth-entropy}
if ! [[ "$name" =~ ^[a-z0-9-]+$ ]]; then
  echo "build-plugin-at.sh: '$name' is not a command name under cmd/" >&2
  exit 2
fi
commit=$(git -C "$root" rev-parse --verify "$commit^{commit}")
# shellcheck source=SCRIPTDIR/lib/pinned-build.sh
. "$root/scripts/lib/pinned-build.sh"
cache=$(cache_dir)
out="$cache/$name-${commit:0:12}"
if [ -x "$out" ]; then
  echo "$out"
  exit 0
fi
mkdir -p "$cache"
chmod 0700 "$cache"
src=$(mktemp -d)
trap 'rm -rf "$src"' EXIT
git -C "$root" archive "$commit" | tar -x -C "$src"
echo "build-plugin-at.sh: building $name at ${commit:0:12}" >&2
(cd "$src" && go build -trimpath -buildvcs=false -o "$out.tmp" "./cmd/$name")
mv -f "$out.tmp" "$out"
echo "$out"
