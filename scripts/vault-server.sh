#!/usr/bin/env bash
# Usage: scripts/vault-server.sh start DIR PORT
#        scripts/vault-server.sh stop DIR | kill DIR | restart DIR
#
# Runs one real Vault server on loopback with raft storage in DIR/data and
# plugins in DIR/plugins.
#   start    writes DIR/config.hcl (API on 127.0.0.1:PORT, cluster on PORT+1,
#            log level $VAULT_LOG_LEVEL, default debug), starts the server
#            detached (log appended to DIR/vault.log, pid in DIR/vault.pid),
#            initializes it on first start (one unseal key; DIR/init.json,
#            mode 0600), unseals it, waits until it is active and the root
#            token works, and writes DIR/env (export VAULT_ADDR, VAULT_TOKEN).
#            If DIR/config.hcl exists it is reused (PORT is then ignored).
#            With VAULT_RAW_STORAGE=1 the new config.hcl also enables
#            sys/raw (raw_storage_endpoint), so tests can list a mount's
#            storage; never for a server that holds anything real.
#   stop     SIGTERM, SIGKILL after 20 s; plugin processes it leaves are killed.
#   kill     SIGKILL at once to Vault and its plugins, as a crash would.
#   restart  stop, then start again on the same DIR (data, port and keys kept).
# The vault binary is $VAULT_BIN, else the one scripts/build-vault.sh prints.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
server=vault
# shellcheck source=SCRIPTDIR/lib/process.sh
. "$here/lib/process.sh"
# shellcheck source=SCRIPTDIR/lib/vault.sh
. "$here/lib/vault.sh"
# Private: files in DIR are read back (see private_dir).
take_dir "$@"
pidfile="$dir/vault.pid"
log="$dir/vault.log"

# alive PID: PID is this DIR's vault server (see process_alive).
alive() { process_alive "$1" "-config=$dir/config.hcl"; }

# stop SIGNAL: Vault leads its process group (setsid); its plugin processes
# are in it and go with it.
stop() { stop_process "$1" group; }

write_config() {
  local port=$1
  need_number "$port"
  write_vault_config "$dir" node1 "$port"
  if [ "${VAULT_RAW_STORAGE:-}" = 1 ]; then
    echo 'raw_storage_endpoint = true' >>"$dir/config.hcl"
  fi
}

start() {
  local port=$1 bin addr
  if running; then
    say "already running in $dir (pid $(pid_of))"
    exit 1
  fi
  bin=$(tool_bin VAULT_BIN build-vault.sh)
  mkdir -p "$dir/data" "$dir/plugins"
  chmod 0700 "$dir" "$dir/data"
  if [ ! -f "$dir/config.hcl" ]; then
    write_config "$port"
  elif [ -n "$port" ]; then
    say "reusing $dir/config.hcl (its port, not $port)"
  fi
  addr=$(config_addr "$dir/config.hcl")
  [ -n "$addr" ] || { say "no api_addr in $dir/config.hcl"; exit 1; }

  # From here on a failure stops the server this call started.
  trap 'rc=$?; if [ "$rc" -ne 0 ]; then say "start failed; stopping the server"; stop KILL || true; fi' EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM

  launch "$bin" server -config="$dir/config.hcl"
  export VAULT_ADDR=$addr
  unset VAULT_TOKEN
  wait_for "the listener at $addr" listening "$bin"
  init_once "$bin"
  read_keys
  "$bin" operator unseal "$key" >/dev/null
  wait_for "unseal" "$bin" status
  export VAULT_TOKEN=$token
  # Raft elects this single node leader a few seconds after unseal; until
  # then requests fail.
  wait_for "an active node" "$bin" token lookup
  write_env "$dir/env" "$addr" "$token"
  trap - EXIT INT TERM
  say "running at $addr (pid $(pid_of), log $log, env $dir/env)"
}

case "$cmd:$#" in
  start:3) start "$3" ;;
  stop:2) stop TERM ;;
  kill:2) stop KILL ;;
  restart:2)
    [ -f "$dir/config.hcl" ] || { say "no $dir/config.hcl: use start DIR PORT first"; exit 1; }
    stop TERM
    start ""
    ;;
  *) usage ;;
esac
