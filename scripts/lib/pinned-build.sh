# scripts/lib/pinned-build.sh: how build-vault.sh and build-minio.sh build a
# pinned program from its wrapper module (scripts/NAME-build: a go.mod that
# requires it, and the go.sum that build wrote) into a cache outside the
# repository. Sourced, never run: `. "$here/lib/pinned-build.sh"`.
#   cache:  ${ENTROPY_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/vault-plugin-auth-entropy}
#   binary: NAME-<version>-<first 12 hex of sha256(go.mod + go.sum)>
# A cached binary is reused; changing the pin changes the name, so it
# rebuilds. Concurrent callers take a lock and build once. The build is
# written under a temporary name (.NAME-build.XXXXXX) and renamed into
# place, so a binary under the final name is always whole. stdout gets only
# the binary's absolute path; progress goes to stderr.
# shellcheck shell=bash

# cache_dir: the cache of builds and tools kept outside the repository
# (vulncheck.sh keeps its database there too).
cache_dir() {
  echo "${ENTROPY_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/vault-plugin-auth-entropy}"
}

# pinned_build NAME TITLE MODULE LOCK COLD: prints the path of the build of
# MODULE (the module whose `require` line in scripts/NAME-build/go.mod
# gives the version), building it first if the cache lacks it. TITLE names
# it in messages (Vault); LOCK is the lock file's name in the cache (each
# program has its own, so one build need not wait for the other); COLD says
# how long a build with empty Go caches takes. The caller defines
# build_to OUT, which builds the binary into the file OUT; it runs in the
# wrapper module's directory.
pinned_build() {
  local name=$1 title=$2 module=$3 lock=$4 cold=$5
  local prog="build-$name" src cache version hash bin tmp start
  src="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/$name-build"
  cache=$(cache_dir)
  version=$(awk -v m="$module" '$1 == "require" && $2 == m {print $3}' "$src/go.mod")
  if [ -z "$version" ]; then
    echo "$prog: no 'require $module' line in $src/go.mod" >&2
    exit 1
  fi
  hash=$(cat "$src/go.mod" "$src/go.sum" | sha256sum | cut -c1-12)

  mkdir -p "$cache"
  cache=$(cd "$cache" && pwd -P)
  bin="$cache/$name-$version-$hash"

  if [ -x "$bin" ]; then
    echo "$bin"
    return 0
  fi

  # One builder at a time; the others wait here and then find the binary.
  exec 9>"$cache/$lock"
  if ! flock -n 9; then
    echo "$prog: another build of $title is running; waiting for it" >&2
    flock 9
  fi
  if [ ! -x "$bin" ]; then
    # Leftovers of builds that were killed: nobody else holds the lock.
    rm -f "$cache/.$name-build."*
    tmp=$(mktemp "$cache/.$name-build.XXXXXX")
    # Global, as the traps that use it: it outlives this function.
    pinned_tmp=$tmp
    trap 'rm -f "$pinned_tmp"' EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    echo "$prog: building $title $version into $bin" >&2
    echo "$prog: ($cold)" >&2
    start=$SECONDS
    (cd "$src" && build_to "$tmp")
    chmod 0755 "$tmp"
    mv -f "$tmp" "$bin"
    trap - EXIT INT TERM
    echo "$prog: built in $((SECONDS - start)) s" >&2
  fi
  echo "$bin"
}
