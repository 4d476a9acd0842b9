#!/usr/bin/env bash
# Usage: scripts/vulncheck.sh [govulncheck flags, e.g. -show verbose]
# Checks every package of the module (./...; VULNCHECK_PACKAGES overrides).
#
# Runs govulncheck (pinned, from the Go module proxy) against a local copy
# of the Go vulnerability database, because this workplace reaches the
# module proxy but not vuln.go.dev, and the proxy refuses to serve the
# database's own module (golang.org/x/vulndb answers 403 "not available").
#
# The database is the data/osv directory of the vulndb repository (one OSV
# JSON file per entry; govulncheck indexes a flat directory of them itself).
# It is cached outside the repository:
#   ${ENTROPY_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/vault-plugin-auth-entropy}/vulndb/osv
# with vulndb/SOURCE telling which commit it came from. To fill or refresh
# the cache, point VULNDB_GIT at a clone of the vulndb repository (any
# clone or bare mirror of https://go.googlesource.com/vulndb, or its GitHub
# mirror golang/vulndb); VULNDB_REF picks the commit (default HEAD). Or
# point VULNDB_DIR at an existing directory of OSV files or a v1 database.
#
# govulncheck itself is installed from the module proxy into the same cache
# (govulncheck-<version>/).
#
# Exit status: govulncheck's (0 clean, 3 vulnerabilities reachable from our
# code); 2 when there is no database to check against.
set -euo pipefail

GOVULNCHECK_VERSION=v1.9.0

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# cache_dir: the cache the pinned builds use
# shellcheck source=SCRIPTDIR/lib/pinned-build.sh
. "$root/scripts/lib/pinned-build.sh"
cache="$(cache_dir)/vulndb"
db="${VULNDB_DIR:-$cache/osv}"

if [ -n "${VULNDB_GIT:-}" ]; then
  ref="${VULNDB_REF:-HEAD}"
  gitdir=$(git -C "$VULNDB_GIT" rev-parse --absolute-git-dir)
  commit=$(git --git-dir="$gitdir" rev-parse --verify "$ref^{commit}")
  mkdir -p "$cache"
  tmp=$(mktemp -d "$cache/.osv.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  # Only data/osv. git archive may complain about objects a partial mirror
  # lacks outside it (large files), so its status is not trusted: the
  # count of extracted entries is checked against the tree instead.
  { git --git-dir="$gitdir" archive "$commit" data/osv 2>/dev/null || true; } | tar -x -C "$tmp"
  want=$(git --git-dir="$gitdir" ls-tree --name-only "$commit" data/osv/ | grep -c '\.json$' || true)
  n=$(find "$tmp/data/osv" -maxdepth 1 -name '*.json' 2>/dev/null | wc -l)
  if [ "$n" -lt 1000 ] || [ "$n" -ne "$want" ]; then
    echo "vulncheck: extracted $n of $want entries of data/osv from $VULNDB_GIT at $commit; not using it" >&2
    exit 2
  fi
  date=$(git --git-dir="$gitdir" log -1 --format=%cI "$commit")
  rm -rf "$cache/osv.old"
  if [ -d "$cache/osv" ]; then mv "$cache/osv" "$cache/osv.old"; fi
  mv "$tmp/data/osv" "$cache/osv"
  rm -rf "$cache/osv.old"
  printf 'commit: %s\ncommit_date: %s\nentries: %s\n' "$commit" "$date" "$n" >"$cache/SOURCE"
  echo "vulncheck: database from vulndb $commit ($date), $n entries, cached in $cache/osv" >&2
  db="$cache/osv"
fi

if [ ! -d "$db" ] || [ -z "$(ls -A "$db" 2>/dev/null)" ]; then
  cat >&2 <<EOF
vulncheck: no vulnerability database at $db.
  vuln.go.dev is not reachable from here and the module proxy does not serve
  golang.org/x/vulndb. Fill the cache once from a clone of the vulndb
  repository:  VULNDB_GIT=/path/to/vulndb scripts/vulncheck.sh
  or give a directory of OSV files:  VULNDB_DIR=/path/to/osv scripts/vulncheck.sh
EOF
  exit 2
fi
db=$(cd "$db" && pwd -P)
if [ -f "$cache/SOURCE" ] && [ "$db" = "$(cd "$cache/osv" 2>/dev/null && pwd -P)" ]; then
  echo "vulncheck: database: $(tr '\n' ' ' <"$cache/SOURCE")" >&2
fi

cd "$root"
# shellcheck disable=SC2086 # a list of package patterns
set -- "$@" ${VULNCHECK_PACKAGES:-./...}
# Installed rather than run with go run, which would turn govulncheck's
# exit status 3 into 1.
bindir="$cache/../govulncheck-$GOVULNCHECK_VERSION"
if [ ! -x "$bindir/govulncheck" ]; then
  GOBIN=$(mkdir -p "$bindir" && cd "$bindir" && pwd -P) go install "golang.org/x/vuln/cmd/govulncheck@$GOVULNCHECK_VERSION"
fi
echo "vulncheck: govulncheck@$GOVULNCHECK_VERSION -db file://$db $*" >&2
exec "$bindir/govulncheck" -db "file://$db" "$@"
