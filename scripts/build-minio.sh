#!/usr/bin/env bash
# Usage: scripts/build-minio.sh
#
# Builds the pinned MinIO server (the wrapper module in scripts/minio-build)
# from the Go module proxy into a cache outside the repository, and prints
# only the binary's absolute path on stdout (progress goes to stderr).
#   cache:  ${ENTROPY_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/vault-plugin-auth-entropy}
#   binary: minio-<version>-<first 12 hex of sha256(go.mod + go.sum)>
# A cached binary is reused; changing the pin changes the name, so it
# rebuilds. Concurrent callers take a lock and build once. The build is
# written under a temporary name and renamed into place.
# MinIO is only a test dependency: the end-to-end tests in testing/aws point
# Vault's AWS secrets engine at it (STS AssumeRole, S3).
# A cold build (empty module and build caches) takes about 4 minutes on
# 2 cores (measured: 19 s of downloads, 3.5 min of compiling); the binary
# is about 150 MB.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
src="$root/scripts/minio-build"
cache="${ENTROPY_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/vault-plugin-auth-entropy}"
version=$(awk '$1 == "require" && $2 == "github.com/minio/minio" {print $3}' "$src/go.mod")
if [ -z "$version" ]; then
  echo "build-minio: no 'require github.com/minio/minio' line in $src/go.mod" >&2
  exit 1
fi
hash=$(cat "$src/go.mod" "$src/go.sum" | sha256sum | cut -c1-12)

mkdir -p "$cache"
cache=$(cd "$cache" && pwd -P)
bin="$cache/minio-$version-$hash"

if [ -x "$bin" ]; then
  echo "$bin"
  exit 0
fi

# One builder at a time; the others wait here and then find the binary.
# (Its own lock: a MinIO build need not wait for a Vault build.)
exec 9>"$cache/.build-minio.lock"
if ! flock -n 9; then
  echo "build-minio: another build of MinIO is running; waiting for it" >&2
  flock 9
fi
if [ ! -x "$bin" ]; then
  # Leftovers of builds that were killed: nobody else holds the lock.
  rm -f "$cache"/.minio-build.*
  tmp=$(mktemp "$cache/.minio-build.XXXXXX")
  trap 'rm -f "$tmp"' EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  echo "build-minio: building MinIO $version into $bin" >&2
  echo "build-minio: (about 4 minutes on 2 cores with empty Go caches)" >&2
  start=$SECONDS
  # The wrapper module names MinIO's own main package (github.com/minio/minio)
  # as a tool and builds it as it is, so MinIO's first import
  # (internal/init: TZ=UTC before anything reads the time zone) stays first.
  # Every module's hash is in the committed go.sum (checked against the
  # checksum database when go.sum was written: no lookup failed, so unlike
  # Vault's build no GONOSUMDB is needed).
  # -mod=mod: go.sum is kept as this build wrote it; the module is never
  # tidied (tidy would follow MinIO's test-only imports).
  # -buildvcs=false: nothing to stamp, and no dependence on git's view of
  # the checkout (a CI clone owned by another user makes git refuse).
  # CGO_ENABLED=0: MinIO's release builds are static; no C toolchain needed.
  (cd "$src" && CGO_ENABLED=0 GOFLAGS="-mod=mod -buildvcs=false" \
    go build -trimpath -o "$tmp" github.com/minio/minio)
  chmod 0755 "$tmp"
  mv -f "$tmp" "$bin"
  trap - EXIT INT TERM
  echo "build-minio: built in $((SECONDS - start)) s" >&2
fi
echo "$bin"
