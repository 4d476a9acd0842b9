#!/usr/bin/env bash
# Usage: scripts/build-vault.sh
#
# Builds the pinned Vault server and CLI (the wrapper module in
# scripts/vault-build) from the Go module proxy into a cache outside the
# repository, and prints only the binary's absolute path on stdout (progress
# goes to stderr).
#   cache:  ${ENTROPY_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/vault-plugin-auth-entropy}
#   binary: vault-<version>-<first 12 hex of sha256(go.mod + go.sum)>
# A cached binary is reused; changing the pin changes the name, so it
# rebuilds. Concurrent callers take a lock and build once. The build is
# written under a temporary name and renamed into place.
# A cold build (empty module cache) takes 10-15 minutes on 2 cores; the
# binary is about 500 MB.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
src="$root/scripts/vault-build"
cache="${ENTROPY_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/vault-plugin-auth-entropy}"
version=$(awk '$1 == "require" && $2 == "github.com/hashicorp/vault" {print $3}' "$src/go.mod")
if [ -z "$version" ]; then
  echo "build-vault: no 'require github.com/hashicorp/vault' line in $src/go.mod" >&2
  exit 1
fi
hash=$(cat "$src/go.mod" "$src/go.sum" | sha256sum | cut -c1-12)

mkdir -p "$cache"
cache=$(cd "$cache" && pwd -P)
bin="$cache/vault-$version-$hash"

if [ -x "$bin" ]; then
  echo "$bin"
  exit 0
fi

# One builder at a time; the others wait here and then find the binary.
exec 9>"$cache/.build.lock"
if ! flock -n 9; then
  echo "build-vault: another build of Vault is running; waiting for it" >&2
  flock 9
fi
if [ ! -x "$bin" ]; then
  # Leftovers of builds that were killed: nobody else holds the lock.
  rm -f "$cache"/.vault-build.*
  tmp=$(mktemp "$cache/.vault-build.XXXXXX")
  trap 'rm -f "$tmp"' EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  echo "build-vault: building Vault $version into $bin" >&2
  echo "build-vault: (10-15 minutes on 2 cores with an empty module cache)" >&2
  start=$SECONDS
  # GONOSUMDB: some of Vault's dependencies have no entry in the checksum
  # database mirror here; the committed go.sum pins their hashes instead.
  # -mod=mod: Vault's tags carry test-only imports that `go mod tidy`
  # cannot resolve, so go.sum is kept as this build wrote it (never tidy).
  # -buildvcs=false: nothing to stamp, and no dependence on git's view of
  # the checkout (a CI clone owned by another user makes git refuse).
  (cd "$src" && GONOSUMDB=github.com/hashicorp GOFLAGS="-mod=mod -buildvcs=false" go build -o "$tmp" .)
  chmod 0755 "$tmp"
  mv -f "$tmp" "$bin"
  trap - EXIT INT TERM
  echo "build-vault: built in $((SECONDS - start)) s" >&2
fi
echo "$bin"
