#!/usr/bin/env bash
# Usage: scripts/register-plugin.sh DIR PLUGIN_BINARY [MOUNT...]
#
# Registers the entropy auth plugin in the catalog of the Vault server that
# scripts/vault-server.sh runs in DIR, and enables it at auth/MOUNT for each
# MOUNT (default: entropy). The binary is copied to
# DIR/plugins/vault-plugin-auth-entropy and registered by its sha256 and by
# the version it prints for `PLUGIN_BINARY -version`. Mounts that already
# exist are left as they are. Address and token come from DIR/env; the vault
# binary is $VAULT_BIN, else the one scripts/build-vault.sh prints.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=SCRIPTDIR/lib/process.sh
. "$here/lib/process.sh"
[ $# -ge 2 ] || usage
dir=$1 plugin=$2
shift 2
mounts=("$@")
[ ${#mounts[@]} -gt 0 ] || mounts=(entropy)

name="vault-plugin-auth-entropy"
if [ ! -f "$dir/env" ]; then
  say "no $dir/env: is the server running (scripts/vault-server.sh start)?"
  exit 1
fi
vault=$(tool_bin VAULT_BIN build-vault.sh)
# shellcheck source=/dev/null
. "$dir/env"

version=$("$plugin" -version)
case "$version" in
  v[0-9]*) ;;
  *)
    say "'$plugin -version' printed '$version', not a version like v0.1.0"
    exit 1
    ;;
esac
install -m 0755 "$plugin" "$dir/plugins/$name.tmp"
mv -f "$dir/plugins/$name.tmp" "$dir/plugins/$name"
sha=$(sha256sum "$dir/plugins/$name" | cut -d' ' -f1)
"$vault" plugin register -sha256="$sha" -version="$version" auth "$name" >/dev/null
say "$name $version registered (sha256 $sha)"

for mount in "${mounts[@]}"; do
  mount=${mount%/}
  if "$vault" read "sys/auth/$mount" >/dev/null 2>&1; then
    say "auth/$mount is already enabled; left as it is"
    continue
  fi
  "$vault" auth enable -path="$mount" -plugin-version="$version" "$name" >/dev/null
  say "$name $version enabled at auth/$mount"
done
