#!/usr/bin/env bash
# Usage: scripts/build-plugin.sh OUTDIR
#
# Builds the Vault plugin (./cmd/vault-plugin-auth-entropy) and the client
# CLI (./cmd/vault-entropy) into OUTDIR, as OUTDIR/vault-plugin-auth-entropy
# and OUTDIR/vault-entropy, and prints OUTDIR's absolute path on stdout.
# They are built as a release is (scripts/lib/go-build.sh), with the version
# of the VERSION file and the checkout's commit (with "-dirty" when it has
# uncommitted changes; "unknown" outside git; $COMMIT if set).
set -euo pipefail

if [ $# -ne 1 ]; then
  echo "usage: $0 OUTDIR" >&2
  exit 2
fi
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=lib/go-build.sh
. "$root/scripts/lib/go-build.sh"
mkdir -p "$1"
out=$(cd "$1" && pwd)
version=$(repo_version "$root")
if [ -z "${COMMIT:-}" ]; then
  COMMIT=$(git -C "$root" rev-parse HEAD 2>/dev/null || echo unknown)
  if [ "$COMMIT" != unknown ] && [ -n "$(git -C "$root" status --porcelain --untracked-files=no 2>/dev/null)" ]; then
    COMMIT=$COMMIT-dirty
  fi
fi
for name in vault-plugin-auth-entropy vault-entropy; do
  go_build "$root" "$name" "$out/$name" "$version" "$COMMIT"
done
echo "$out"
