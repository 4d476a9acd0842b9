#!/usr/bin/env bash
# Usage: scripts/build-plugin.sh OUTDIR
#
# Builds the plugin (vault-plugin-auth-entropy) and the client CLI
# (vault-entropy) into OUTDIR and prints OUTDIR.
set -euo pipefail

[ $# -eq 1 ] || { echo "usage: $0 OUTDIR" >&2; exit 2; }
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
mkdir -p "$1"
out=$(cd "$1" && pwd)
(cd "$root" && go build -trimpath -o "$out/vault-plugin-auth-entropy" ./cmd/vault-plugin-auth-entropy)
(cd "$root" && go build -trimpath -o "$out/vault-entropy" ./cmd/vault-entropy)
echo "$out"
