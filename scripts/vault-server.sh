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
prog=vault-server
# shellcheck source=SCRIPTDIR/lib/process.sh
. "$here/lib/process.sh"
usage() {
  echo "usage: $0 start DIR PORT | stop DIR | kill DIR | restart DIR" >&2
  exit 2
}
[ $# -ge 2 ] || usage
cmd=$1
dir=$2
# Private: files in DIR are read back (see private_dir).
if [ "$cmd" = start ]; then private_dir "$dir" create; else private_dir "$dir"; fi
# An absolute, canonical DIR: it is written into config.hcl and matched
# against the server's command line.
dir=$(cd "$dir" && pwd -P)
pidfile="$dir/vault.pid"
log="$dir/vault.log"

# alive PID: PID is this DIR's vault server (see process_alive).
alive() { process_alive "$1" "-config=$dir/config.hcl"; }

# stop SIGNAL: Vault leads its process group (setsid); its plugin processes
# are in it and go with it.
stop() { stop_process "$1" group; }

# wait_for WHAT COMMAND...: retries COMMAND for up to 60 s while Vault runs.
wait_for() {
  local rc=0
  poll 300 0.2 "${@:2}" || rc=$?
  case "$rc" in
    0) return 0 ;;
    1) show_log "vault exited while waiting for $1" 40 ;;
    *) show_log "timed out after 60 s waiting for $1" 40 ;;
  esac
  return 1
}

# json_field NAME: the string field NAME (or the first string in the array
# NAME) of the JSON on stdin, as `vault operator init -format=json` prints
# it. Plain sed, so that nothing but vault is needed.
json_field() {
  tr -d ' \n' | sed -n 's/.*"'"$1"'":\[*"\([^"]*\)".*/\1/p'
}

# listening BIN: the server answers (`vault status`: 0 unsealed, 2 sealed,
# 1 cannot tell).
listening() {
  local rc=0
  "$1" status >/dev/null 2>&1 || rc=$?
  [ "$rc" -ne 1 ]
}

write_config() {
  local port=$1
  need_number "$port"
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
  if [ "${VAULT_RAW_STORAGE:-}" = 1 ]; then
    echo 'raw_storage_endpoint = true' >>"$dir/config.hcl"
  fi
}

start() {
  local port=$1 bin addr key token
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
  addr=$(sed -n 's/^api_addr *= *"\(.*\)"$/\1/p' "$dir/config.hcl")
  [ -n "$addr" ] || { say "no api_addr in $dir/config.hcl"; exit 1; }

  # From here on a failure stops the server this call started.
  trap 'rc=$?; if [ "$rc" -ne 0 ]; then say "start failed; stopping the server"; stop KILL || true; fi' EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM

  printf '\n==== %s vault-server.sh start\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >>"$log"
  # setsid: its own session and process group (the plugins join it), so a
  # Ctrl-C in the caller's terminal does not reach it and kill can end the
  # whole group. Not a group leader here, so setsid execs without forking
  # and $! is Vault's pid.
  setsid "$bin" server -config="$dir/config.hcl" >>"$log" 2>&1 </dev/null &
  echo $! >"$pidfile"
  # Until the background job has exec'd Vault, its command line is this
  # script's, which alive() does not take for the server.
  for _ in $(seq 1 100); do
    running && break
    kill -0 "$(pid_of)" 2>/dev/null || break
    sleep 0.1
  done

  export VAULT_ADDR=$addr
  unset VAULT_TOKEN
  wait_for "the listener at $addr" listening "$bin"

  if [ ! -s "$dir/init.json" ]; then
    say "initializing (one unseal key, saved in $dir/init.json)"
    (umask 077 && "$bin" operator init -key-shares=1 -key-threshold=1 -format=json >"$dir/init.json.tmp")
    mv -f "$dir/init.json.tmp" "$dir/init.json"
  fi
  trusted_file "$dir/init.json"
  key=$(json_field unseal_keys_b64 <"$dir/init.json")
  token=$(json_field root_token <"$dir/init.json")
  if [ -z "$key" ] || [ -z "$token" ]; then
    say "no unseal key or root token in $dir/init.json"
    exit 1
  fi
  "$bin" operator unseal "$key" >/dev/null
  wait_for "unseal" "$bin" status
  export VAULT_TOKEN=$token
  # Raft elects this single node leader a few seconds after unseal; until
  # then requests fail.
  wait_for "an active node" "$bin" token lookup
  (umask 077 && printf 'export VAULT_ADDR=%q\nexport VAULT_TOKEN=%q\n' "$addr" "$token" >"$dir/env.tmp")
  mv -f "$dir/env.tmp" "$dir/env"
  trap - EXIT INT TERM
  say "running at $addr (pid $(pid_of), log $log, env $dir/env)"
}

case "$cmd" in
  start)
    [ $# -eq 3 ] || usage
    start "$3"
    ;;
  stop)
    [ $# -eq 2 ] || usage
    stop TERM
    ;;
  kill)
    [ $# -eq 2 ] || usage
    stop KILL
    ;;
  restart)
    [ $# -eq 2 ] || usage
    [ -f "$dir/config.hcl" ] || { say "no $dir/config.hcl: use start DIR PORT first"; exit 1; }
    stop TERM
    start ""
    ;;
  *) usage ;;
esac
