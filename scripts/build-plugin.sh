#!/usr/bin/env bash
# Usage: scripts/build-plugin.sh OUTDIR
#
# Builds the Vault plugin (./cmd/vault-plugin-auth-entropy) and the client
# CLI (./cmd/vault-entropy) into OUTDIR, as OUTDIR/vault-plugin-auth-entropy
# and OUTDIR/vault-entropy, and prints OUTDIR's absolute path on stdout.
set -euo pipefail

if [ $# -ne 1 ]; then
  echo "usage: $0 OUTDIR" >&2
  exit 2
fi
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
mkdir -p "$1"
out=$(cd "$1" && pwd)
cd "$root"
# -buildvcs=false: the version comes from the code (-version), and the build
# must not depend on git's view of the checkout.
for name in vault-plugin-auth-entropy vault-entropy; do
  go build -buildvcs=false -o "$out/$name" "./cmd/$name"
done
echo "$out"
