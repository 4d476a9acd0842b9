#!/usr/bin/env bash
# Usage: scripts/demo.sh        (or: make demo)
#
# The whole story on one machine, from a fresh clone: builds the pinned
# Vault (cached after the first run, which takes 10-15 minutes) and this
# project's binaries, starts a Vault server on loopback in a temporary
# directory, registers the plugin by sha256 and version and enables it at
# auth/entropy, stores a secret and a policy that reads it, creates a role,
# enrolls a client through a response-wrapped token, and then, as the
# workload, bootstraps the client state, logs in with an entropy proof,
# reads the secret and is refused anything else.
# Everything it starts is stopped and removed on exit, also on Ctrl-C.
# DEMO_PORT (default 18200) is the API port; DEMO_PORT+1 is the cluster port.
# Exits non-zero if any step fails.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=SCRIPTDIR/lib/process.sh
. "$here/lib/process.sh"
# shellcheck source=SCRIPTDIR/lib/vault.sh
. "$here/lib/vault.sh"
port=${DEMO_PORT:-18200}

step() {
  if [ -t 1 ]; then printf '\n\033[1m== %s\033[0m\n' "$*"; else printf '\n== %s\n' "$*"; fi
}
fail() {
  say "$*"
  exit 1
}

step "Building Vault (cached after the first run) and the plugin and CLI"
VAULT_BIN=$("$here/build-vault.sh")
export VAULT_BIN
echo "vault: $VAULT_BIN"

work=$(mktemp -d "${TMPDIR:-/tmp}/entropy-demo.XXXXXX")
cleanup() {
  local rc=$?
  "$here/vault-server.sh" stop "$work/vault" >/dev/null 2>&1 || true
  rm -rf "$work"
  case "$rc" in
    0) ;;
    130 | 143) echo "demo: interrupted; Vault stopped and $work removed" >&2 ;;
    *) echo "demo: FAILED (exit status $rc)" >&2 ;;
  esac
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

bins=$("$here/build-plugin.sh" "$work/bin")
ls "$bins"
vault() { "$VAULT_BIN" "$@"; }
# The workload runs without the operator's token.
workload() { env -u VAULT_TOKEN "$@"; }

step "Starting Vault at http://127.0.0.1:$port (raft storage in $work/vault)"
"$here/vault-server.sh" start "$work/vault" "$port"
# shellcheck source=/dev/null
. "$work/vault/env"
vault status | grep -E '^(Version|Sealed|Storage Type|HA Mode)'

step "Operator: register the plugin by sha256 and version, enable it at auth/entropy"
"$here/register-plugin.sh" "$work/vault" "$bins/vault-plugin-auth-entropy" entropy
vault auth list | grep -E '^(Path|entropy/)'

step "Operator: a KV v2 secret at secret/demo/hello and a policy that reads it"
vault secrets enable -path=secret kv-v2 >/dev/null
vault kv put secret/demo/hello greeting="hello from Vault" >/dev/null
vault kv put secret/ops/db password="not for the demo workload" >/dev/null
vault policy write demo-read - <<'HCL'
path "secret/data/demo/*" {
  capabilities = ["read"]
}
HCL
vault policy read demo-read

step "Operator: role demo (policy demo-read, tokens live 15 minutes)"
vault write auth/entropy/role/demo token_policies=demo-read token_ttl=15m
vault read auth/entropy/role/demo

step "Operator: enroll a client; only a single-use wrapping token leaves Vault"
wrap=$(vault write -wrap-ttl=5m -field=wrapping_token -f auth/entropy/role/demo/enroll)
[ -n "$wrap" ] || fail "no wrapping token"
echo "wrapping token: ${wrap:0:12}... (valid once, for 5 minutes)"

step "Workload: bootstrap (wrapping token on stdin); the state file is written 0600"
state="$work/workload/state.json"
printf '%s\n' "$wrap" | workload "$bins/vault-entropy" bootstrap -wrap-token=- -state="$state"
ls -l "$state"

step "Workload: log in with a fresh entropy proof"
login=$(workload "$bins/vault-entropy" login -state="$state" -format=json)
echo "$login"
token=$(json_field client_token <<<"$login")
[ -n "$token" ] || fail "no client_token in the login response"

step "Workload: the token's policies"
VAULT_TOKEN=$token vault token lookup | grep -E '^(display_name|meta|policies|ttl) '

step "Workload: the token reads secret/demo/hello"
VAULT_TOKEN=$token vault kv get -field=greeting secret/demo/hello
echo

step "Workload: and is denied anything else (secret/ops/db)"
if denied=$(VAULT_TOKEN=$token vault kv get secret/ops/db 2>&1); then
  fail "the demo token could read secret/ops/db"
fi
grep -q 'permission denied' <<<"$denied" || fail "unexpected error reading secret/ops/db: $denied"
echo "secret/ops/db: permission denied, as it should be"

step "Workload: a proof is good for one login only"
proof=$(workload "$bins/vault-entropy" proof -state="$state" -format=json)
client_id=$(json_field client_id <<<"$proof")
role=$(json_field role <<<"$proof")
proof=$(json_field proof <<<"$proof")
echo "the stock vault CLI logs in with it:"
workload "$VAULT_BIN" write -field=token_policies auth/entropy/login role="$role" client_id="$client_id" proof="$proof"
echo
if replay=$(workload "$VAULT_BIN" write auth/entropy/login role="$role" client_id="$client_id" proof="$proof" 2>&1); then
  fail "a replayed proof was accepted"
fi
grep -q 'permission denied' <<<"$replay" || fail "unexpected error on the replay: $replay"
echo "the same proof again: permission denied"

step "Done: stopping Vault and removing $work"
