#!/usr/bin/env bash
# Usage: scripts/demo.sh   (make demo)
#
# The whole story on one machine: builds the pinned Vault and the plugin,
# starts a Vault server on loopback, registers the plugin from the catalog
# and enables it at auth/entropy, creates a role, enrolls a demo client
# through a response-wrapped token, and logs the client in with its entropy
# proof. Everything it starts is stopped and removed on exit. DEMO_PORT
# (default 18200) is the port; DEMO_PORT+1 is the cluster port.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
port=${DEMO_PORT:-18200}
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "Building Vault (cached after the first run) and the plugin"
VAULT_BIN=$("$here/build-vault.sh")
export VAULT_BIN
work=$(mktemp -d /tmp/entropy-demo.XXXXXX)
cleanup() {
  "$here/vault-server.sh" stop "$work/vault" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
bins=$("$here/build-plugin.sh" "$work/bin")
vault() { "$VAULT_BIN" "$@"; }

step "Starting Vault at 127.0.0.1:$port (raft storage in $work/vault)"
"$here/vault-server.sh" start "$work/vault" "$port"
# shellcheck source=/dev/null
. "$work/vault/env"

step "Operator: registering the plugin by sha256 and version, enabling auth/entropy"
"$here/register-plugin.sh" "$work/vault" "$bins/vault-plugin-auth-entropy" entropy
vault plugin list -detailed auth | grep -E 'Name|entropy'

step "Operator: a secret, a policy that reads it, and a role"
vault secrets enable -path=secret kv-v2 >/dev/null
vault kv put secret/demo/hello greeting="hello from Vault" >/dev/null
vault kv put secret/other/private value="not for the demo client" >/dev/null
vault policy write demo-read - <<'HCL' >/dev/null
path "secret/data/demo/*" { capabilities = ["read"] }
HCL
vault write auth/entropy/role/demo token_policies=demo-read token_ttl=15m
vault read auth/entropy/role/demo | grep -E 'token_policies|entropy_size|sample_'

step "Operator: enrolling a client, response-wrapped (only the wrapping token leaves)"
wrap=$(vault write -wrap-ttl=5m -field=wrapping_token -f auth/entropy/role/demo/enroll client_id=demo-client)
echo "wrapping token: ${wrap:0:12}... (single use, expires in 5 minutes)"

step "Workload: bootstrap (token on stdin), state file written 0600"
state="$work/workload/state.json"
echo "$wrap" | VAULT_TOKEN= "$bins/vault-entropy" bootstrap -wrap-token=- -state="$state"
ls -l "$state"

step "Workload: log in with a fresh entropy proof"
token=$(VAULT_TOKEN= "$bins/vault-entropy" login -state="$state")
VAULT_TOKEN=$token vault token lookup | grep -E '^(policies|meta|display_name|ttl)'

step "Workload: the token reads what its policy allows"
VAULT_TOKEN=$token vault kv get -field=greeting secret/demo/hello; echo

step "Workload: and nothing else"
if VAULT_TOKEN=$token vault kv get secret/other/private >/dev/null 2>&1; then
  echo "unexpected: the demo token read secret/other/private" >&2
  exit 1
fi
echo "secret/other/private: permission denied, as it should be"

step "The same login with the stock vault CLI, and a replay of its proof"
proof=$("$bins/vault-entropy" proof -state="$state")
VAULT_TOKEN= vault write -field=token_policies auth/entropy/login role=demo client_id=demo-client proof="$proof"; echo
if VAULT_TOKEN= vault write auth/entropy/login role=demo client_id=demo-client proof="$proof" >/dev/null 2>&1; then
  echo "unexpected: a replayed proof was accepted" >&2
  exit 1
fi
echo "replayed proof: permission denied (each proof is accepted once)"

step "Done: stopping Vault and removing $work"
