#!/usr/bin/env bash
# Usage: scripts/register-plugin.sh DIR PLUGIN_BINARY [MOUNT...]
#
# Registers the entropy auth plugin in the catalog of the Vault server run
# by scripts/vault-server.sh in DIR, by sha256 and version, and enables it at
# auth/MOUNT for each MOUNT (default: entropy). The binary is copied into
# DIR/plugins; its version comes from `PLUGIN_BINARY -version`. Mounts that
# already exist are left alone.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
[ $# -ge 2 ] || { echo "usage: $0 DIR PLUGIN_BINARY [MOUNT...]" >&2; exit 2; }
dir=$1
plugin=$2
shift 2
mounts=("$@")
[ ${#mounts[@]} -gt 0 ] || mounts=(entropy)

name=vault-plugin-auth-entropy
bin=${VAULT_BIN:-$("$here/build-vault.sh")}
# shellcheck source=/dev/null
. "$dir/env"

version=$("$plugin" -version)
install -m 0755 "$plugin" "$dir/plugins/$name"
sha=$(sha256sum "$dir/plugins/$name" | cut -d' ' -f1)
"$bin" plugin register -sha256="$sha" -version="$version" auth "$name" >/dev/null
echo "register-plugin: $name $version registered (sha256 $sha)" >&2

enabled=$("$bin" auth list -format=json)
for mount in "${mounts[@]}"; do
  if grep -q "\"$mount/\"" <<<"$enabled"; then
    echo "register-plugin: auth/$mount already enabled" >&2
    continue
  fi
  "$bin" auth enable -path="$mount" -plugin-version="$version" "$name" >/dev/null
  echo "register-plugin: $name enabled at auth/$mount" >&2
done
