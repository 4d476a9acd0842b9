#!/usr/bin/env bash
# docs/examples/ci-job.sh: a CI job that gets its Vault secrets with entropy
# auth, as a CI system runs it (a GitHub Actions `run:` step, a GitLab
# `script:`). See docs/ci-and-serverless.md; testing/ephemeral runs this very
# file against a real Vault and PostgreSQL, across a deploy-time rotation.
#
# The CI system hands the job, from its secret store and its variables:
#   VAULT_ADDR           Vault's address (VAULT_CACERT, VAULT_NAMESPACE... as
#                        the vault CLI reads them)
#   VAULT_ENTROPY_STATE  the job's client state, one line "ves1....", made by
#                        the pipeline with `vault-entropy bootstrap -wrap-token=- -encode`.
#                        It is read-only: the job proves its generation and
#                        writes nothing back.
# and, optionally:
#   KV_MOUNT, KV_PATH, KV_FIELD  the KV v2 secret to read (default secret,
#                                ci/deploy, api_key)
#   DB_CREDS_PATH        the database engine's credentials to read (default
#                        database/creds/ci)
#   PGHOST, PGPORT, PGDATABASE   if PGHOST is set, the job connects with the
#                        credentials and runs DB_QUERY (default: SELECT 1)
#
# It needs vault, vault-entropy and jq on PATH (and psql with PGHOST).
#
# It prints no secret: not the state, not the token, not the KV value, not
# the database password. Never run it with `set -x` (bash would print every
# expansion, secrets included). Secrets travel in variables and on stdin,
# never in an argument list, which other users of the machine can read.
# The token is revoked when the job ends, however it ends; the database
# credentials, leases of that token, go with it.
set -euo pipefail

die() {
  echo "ci-job: $*" >&2
  exit 1
}

kv_mount=${KV_MOUNT:-secret}
kv_path=${KV_PATH:-ci/deploy}
kv_field=${KV_FIELD:-api_key}
db_creds_path=${DB_CREDS_PATH:-database/creds/ci}

[ -n "${VAULT_ADDR:-}" ] || die "VAULT_ADDR is not set"
[ -n "${VAULT_ENTROPY_STATE:-}" ] || die "VAULT_ENTROPY_STATE is not set: store the state from 'vault-entropy bootstrap -encode' as a CI secret"
for tool in vault vault-entropy jq; do
  command -v "$tool" >/dev/null || die "$tool is not on PATH"
done

# Revoke the token at exit, on success, failure or cancellation (CI
# systems cancel with SIGTERM). Revoking the token revokes its leases: the
# database role is dropped at once rather than at the lease's end.
revoke_token() {
  local status=$?
  trap - EXIT
  if ! vault token revoke -self >/dev/null 2>&1; then
    echo "ci-job: warning: could not revoke the job's token; it expires at its TTL" >&2
  fi
  exit "$status"
}

# 1. Log in. vault-entropy says on stderr why a login fails (it never
# prints the state); an old generation after its overlap is refused as a
# clone. -format=json gives the token and its metadata in one response.
if ! login_json=$(vault-entropy login -format=json -state-env=VAULT_ENTROPY_STATE); then
  die "login to Vault failed"
fi
VAULT_TOKEN=$(printf '%s' "$login_json" | jq -er '.auth.client_token') || die "the login response holds no token"
export VAULT_TOKEN

# 2. From here the token is revoked at exit, however the job ends.
trap revoke_token EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Who the job is, for its log: not secret, and what an operator looks for
# after a deploy-time rotation (which generation each job proved).
printf '%s' "$login_json" | jq -r '.auth.metadata | "vault: logged in as \(.role)/\(.client_id), generation \(.generation)"'
unset login_json
# The job's later steps (build tools, tests) need neither the state nor a
# copy of it in their environment.
unset VAULT_ENTROPY_STATE

# 3. A KV v2 secret, in one read: its value for the job, its version for
# the log. jq reads the JSON on stdin (printf is a builtin: no argument
# list holds it).
kv_json=$(vault kv get -format=json -mount="$kv_mount" "$kv_path")
kv_value=$(printf '%s' "$kv_json" | jq -er --arg f "$kv_field" '.data.data[$f]') ||
  die "secret $kv_mount/$kv_path has no field $kv_field"
kv_version=$(printf '%s' "$kv_json" | jq -r '.data.metadata.version')
unset kv_json
echo "kv: read $kv_mount/$kv_path version $kv_version"
# Here the job would use the value, e.g. on a tool's stdin:
#   printf '%s' "$kv_value" | deploy-tool --api-key-stdin
: "$kv_value"

# 4. Database credentials from the PostgreSQL secrets engine, in one read
# (each read creates a new database role).
creds=$(vault read -format=json "$db_creds_path")
db_user=$(printf '%s' "$creds" | jq -er '.data.username')
db_password=$(printf '%s' "$creds" | jq -er '.data.password')
db_lease=$(printf '%s' "$creds" | jq -r '.lease_duration')
unset creds
echo "database: credentials from $db_creds_path for ${db_lease}s"

if [ -n "${PGHOST:-}" ]; then
  command -v psql >/dev/null || die "psql is not on PATH"
  # The password in psql's environment only (its own, readable by this user
  # alone), never on its command line.
  rows=$(PGUSER=$db_user PGPASSWORD=$db_password psql -X -q -A -t -v ON_ERROR_STOP=1 -c "${DB_QUERY:-SELECT 1}") ||
    die "the database query failed"
  echo "database: query returned ${rows//$'\n'/ }"
fi
unset db_password

echo "ci-job: done"
