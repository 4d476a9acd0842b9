# scripts/lib/vault.sh: what the scripts that run Vault servers
# (vault-server.sh, one node; raft-cluster.sh, three) share on top of
# lib/process.sh, and the JSON reading demo.sh needs too. Sourced after
# lib/process.sh (say, poll, trusted_file), never run. Everything here goes
# by the vault CLI alone: no jq, no curl.
# (SC2154: dir is the sourcing script's; SC2034: key and token are set
# here for it.)
# shellcheck shell=bash disable=SC2154,SC2034

# json_field NAME: the first string field NAME (or the first string in the
# array NAME) of the JSON on stdin, as the vault CLI prints it with
# -format=json. Spaces and newlines are dropped first (an array spans
# lines), so it is only for values without spaces: keys, tokens, ids.
# Prints nothing, and succeeds, when there is no such field.
json_field() {
  tr -d ' \n' | { grep -o '"'"$1"'":\[*"[^"]*"' || true; } | sed -n '1s/.*"\([^"]*\)"$/\1/p'
}

# write_vault_config NODE_DIR NODE_ID PORT [STORAGE]: NODE_DIR/config.hcl
# for a server on loopback: API on 127.0.0.1:PORT, cluster on PORT+1, raft
# storage in NODE_DIR/data (STORAGE: more lines for the raft block, each
# starting with a newline), plugins in NODE_DIR/plugins, log level
# $VAULT_LOG_LEVEL (default debug).
write_vault_config() {
  local nd=$1 id=$2 port=$3 storage=${4:-}
  cat >"$nd/config.hcl" <<HCL
storage "raft" {
  path    = "$nd/data"
  node_id = "$id"$storage
}

listener "tcp" {
  address         = "127.0.0.1:$port"
  cluster_address = "127.0.0.1:$((port + 1))"
  tls_disable     = true
}

api_addr         = "http://127.0.0.1:$port"
cluster_addr     = "http://127.0.0.1:$((port + 1))"
plugin_directory = "$nd/plugins"
disable_mlock    = true
ui               = false
log_level        = "${VAULT_LOG_LEVEL:-debug}"
HCL
}

# config_addr CONFIG: the api_addr in the config.hcl CONFIG.
config_addr() { sed -n 's/^api_addr *= *"\(.*\)"$/\1/p' "$1"; }

# listening VAULT...: the server answers `VAULT... status` (0 unsealed,
# 2 sealed, 1 cannot tell). VAULT is the CLI with whatever sets its address.
listening() {
  local rc=0
  "$@" status >/dev/null 2>&1 || rc=$?
  [ "$rc" -ne 1 ]
}

# init_once VAULT...: initializes the server with one unseal key into
# DIR/init.json (mode 0600), unless that file exists.
init_once() {
  if [ ! -s "$dir/init.json" ]; then
    say "initializing (one unseal key, saved in $dir/init.json)"
    (umask 077 && "$@" operator init -key-shares=1 -key-threshold=1 -format=json >"$dir/init.json.tmp")
    mv -f "$dir/init.json.tmp" "$dir/init.json"
  fi
}

# read_keys: key and token, the unseal key and the root token, from
# DIR/init.json; exits 1 unless it is a file this script wrote that holds
# both.
read_keys() {
  trusted_file "$dir/init.json"
  key=$(json_field unseal_keys_b64 <"$dir/init.json")
  token=$(json_field root_token <"$dir/init.json")
  if [ -z "$key" ] || [ -z "$token" ]; then
    say "no unseal key or root token in $dir/init.json"
    exit 1
  fi
}

# write_env FILE ADDR TOKEN: FILE (mode 0600) exports VAULT_ADDR and
# VAULT_TOKEN, for `. FILE` by tests and people.
write_env() {
  (umask 077 && printf 'export VAULT_ADDR=%q\nexport VAULT_TOKEN=%q\n' "$2" "$3" >"$1.tmp")
  mv -f "$1.tmp" "$1"
}
