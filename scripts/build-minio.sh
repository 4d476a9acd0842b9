#!/usr/bin/env bash
# Usage: scripts/build-minio.sh
#
# Builds the pinned MinIO server (the wrapper module in scripts/minio-build)
# from the Go module proxy into the cache outside the repository, and prints
# only the binary's absolute path on stdout (progress goes to stderr):
# minio-<version>-<first 12 hex of sha256(go.mod + go.sum)> in the cache
# lib/pinned-build.sh describes, reused once built.
# MinIO is only a test dependency: the end-to-end tests in testing/aws point
# Vault's AWS secrets engine at it (STS AssumeRole, S3).
# A cold build (empty module and build caches) takes about 4 minutes on
# 2 cores (measured: 19 s of downloads, 3.5 min of compiling); the binary
# is about 150 MB.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=SCRIPTDIR/lib/pinned-build.sh
. "$here/lib/pinned-build.sh"

# build_to OUT: run in scripts/minio-build by pinned_build.
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
build_to() {
  CGO_ENABLED=0 GOFLAGS="-mod=mod -buildvcs=false" go build -trimpath -o "$1" github.com/minio/minio
}

# Its own lock: a MinIO build need not wait for a Vault build.
pinned_build minio MinIO github.com/minio/minio .build-minio.lock \
  "about 4 minutes on 2 cores with empty Go caches"
