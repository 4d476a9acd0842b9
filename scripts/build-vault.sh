#!/usr/bin/env bash
# Usage: scripts/build-vault.sh
#
# Builds the pinned Vault server and CLI (the wrapper module in
# scripts/vault-build) from the Go module proxy into the cache outside the
# repository, and prints only the binary's absolute path on stdout (progress
# goes to stderr): vault-<version>-<first 12 hex of sha256(go.mod + go.sum)>
# in the cache lib/pinned-build.sh describes, reused once built.
# A cold build (empty module cache) takes 10-15 minutes on 2 cores; the
# binary is about 500 MB.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=SCRIPTDIR/lib/pinned-build.sh
. "$here/lib/pinned-build.sh"

# build_to OUT: run in scripts/vault-build by pinned_build.
# GONOSUMDB: some of Vault's dependencies have no entry in the checksum
# database mirror here; the committed go.sum pins their hashes instead.
# -mod=mod: Vault's tags carry test-only imports that `go mod tidy`
# cannot resolve, so go.sum is kept as this build wrote it (never tidy).
# -buildvcs=false: nothing to stamp, and no dependence on git's view of
# the checkout (a CI clone owned by another user makes git refuse).
build_to() {
  GONOSUMDB=github.com/hashicorp GOFLAGS="-mod=mod -buildvcs=false" go build -o "$1" .
}

# .build.lock: the lock's name from before MinIO had a build of its own.
pinned_build vault Vault github.com/hashicorp/vault .build.lock \
  "10-15 minutes on 2 cores with an empty module cache"
