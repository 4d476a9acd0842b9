#!/usr/bin/env bash
# Usage: scripts/vault-server.sh start DIR PORT
#        scripts/vault-server.sh stop|kill|restart DIR
#
# Runs one real Vault server on loopback with raft storage in DIR/data and
# plugins in DIR/plugins. start writes DIR/config.hcl, starts the server in
# the background (log: DIR/vault.log, pid: DIR/vault.pid), initializes it on
# first start (one unseal key, saved 0600 in DIR/init.json), unseals it and
# writes DIR/env (VAULT_ADDR, VAULT_TOKEN). The cluster port is PORT+1.
# stop ends it with SIGTERM (SIGKILL after 20 s); kill sends SIGKILL at once,
# as a crash would; restart stops it and starts it again on the same data.
# The vault binary is $VAULT_BIN, else scripts/build-vault.sh's.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
usage() { echo "usage: $0 start DIR PORT | stop DIR | kill DIR | restart DIR" >&2; exit 2; }
[ $# -ge 2 ] || usage
cmd=$1
dir=$2

vault_bin() {
  if [ -n "${VAULT_BIN:-}" ]; then echo "$VAULT_BIN"; else "$here/build-vault.sh"; fi
}

pid_of() { [ -f "$dir/vault.pid" ] && cat "$dir/vault.pid" || true; }

running() { local pid; pid=$(pid_of); [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; }

stop() {
  local signal=$1 pid
  pid=$(pid_of)
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill "-$signal" "$pid" 2>/dev/null || true
    for _ in $(seq 1 200); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      echo "vault-server: pid $pid did not stop on SIG$signal; killing it" >&2
      kill -KILL "$pid" 2>/dev/null || true
      sleep 0.5
    fi
  fi
  rm -f "$dir/vault.pid"
}

# wait_for DESCRIPTION COMMAND...: retries COMMAND for up to 60 s.
wait_for() {
  local what=$1
  shift
  for _ in $(seq 1 300); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    if ! running; then
      echo "vault-server: vault exited while waiting for $what; last log lines:" >&2
      tail -n 40 "$dir/vault.log" >&2
      return 1
    fi
    sleep 0.2
  done
  echo "vault-server: timed out waiting for $what; last log lines:" >&2
  tail -n 40 "$dir/vault.log" >&2
  return 1
}

start() {
  local port=$1 bin addr
  bin=$(vault_bin)
  mkdir -p "$dir/data" "$dir/plugins"
  chmod 0700 "$dir" "$dir/data"
  if [ ! -f "$dir/config.hcl" ]; then
    cat >"$dir/config.hcl" <<HCL
storage "raft" {
  path    = "$dir/data"
  node_id = "node1"
}

listener "tcp" {
  address         = "127.0.0.1:$port"
  cluster_address = "127.0.0.1:$((port + 1))"
  tls_disable     = true
}

api_addr         = "http://127.0.0.1:$port"
cluster_addr     = "http://127.0.0.1:$((port + 1))"
plugin_directory = "$dir/plugins"
disable_mlock    = true
ui               = false
log_level        = "${VAULT_LOG_LEVEL:-debug}"
HCL
  fi
  if running; then
    echo "vault-server: already running in $dir (pid $(pid_of))" >&2
    return 1
  fi
  addr="http://127.0.0.1:$(sed -n 's/.*address *= *"127.0.0.1:\([0-9]*\)".*/\1/p' "$dir/config.hcl" | head -n1)"

  setsid "$bin" server -config="$dir/config.hcl" >>"$dir/vault.log" 2>&1 </dev/null &
  echo $! >"$dir/vault.pid"

  export VAULT_ADDR=$addr
  unset VAULT_TOKEN
  # `vault status` exits 2 while sealed, 1 while it cannot answer.
  wait_for "the listener at $addr" bash -c '"$0" status >/dev/null 2>&1; [ $? -ne 1 ]' "$bin"

  if [ ! -f "$dir/init.json" ]; then
    (umask 077 && "$bin" operator init -key-shares=1 -key-threshold=1 -format=json >"$dir/init.json.tmp")
    mv "$dir/init.json.tmp" "$dir/init.json"
  fi
  local key token
  key=$(json_field unseal_keys_b64 <"$dir/init.json")
  token=$(json_field root_token <"$dir/init.json")
  "$bin" operator unseal "$key" >/dev/null
  wait_for "unseal" "$bin" status
  export VAULT_TOKEN=$token
  # Raft elects this single node leader a few seconds after unseal.
  wait_for "an active node" "$bin" token lookup
  (umask 077 && printf 'export VAULT_ADDR=%q\nexport VAULT_TOKEN=%q\n' "$addr" "$token" >"$dir/env")
  echo "vault-server: running at $addr (pid $(pid_of), log $dir/vault.log)" >&2
}

# json_field NAME: the value of the string field NAME (or the first string
# of the array NAME) in the JSON on stdin, as `vault operator init
# -format=json` prints it. Plain sed, so the script needs nothing but vault.
json_field() {
  tr -d ' \n' | sed -n 's/.*"'"$1"'":\[*"\([^"]*\)".*/\1/p'
}

case "$cmd" in
  start)
    [ $# -eq 3 ] || usage
    start "$3"
    ;;
  stop) stop TERM ;;
  kill) stop KILL ;;
  restart)
    stop TERM
    start ""
    ;;
  *) usage ;;
esac
