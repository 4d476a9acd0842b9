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
#   stop     SIGTERM, SIGKILL after 20 s; plugin processes it leaves are killed.
#   kill     SIGKILL at once to Vault and its plugins, as a crash would.
#   restart  stop, then start again on the same DIR (data, port and keys kept).
# The vault binary is $VAULT_BIN, else the one scripts/build-vault.sh prints.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
usage() {
  echo "usage: $0 start DIR PORT | stop DIR | kill DIR | restart DIR" >&2
  exit 2
}
[ $# -ge 2 ] || usage
cmd=$1
dir=$2
[ "$cmd" != start ] || mkdir -p "$dir"
[ -d "$dir" ] || { echo "vault-server: no directory $dir" >&2; exit 1; }
# An absolute, canonical DIR: it is written into config.hcl and matched
# against the server's command line.
dir=$(cd "$dir" && pwd -P)
pidfile="$dir/vault.pid"
log="$dir/vault.log"

say() { echo "vault-server: $*" >&2; }

vault_bin() {
  if [ -n "${VAULT_BIN:-}" ]; then
    echo "$VAULT_BIN"
  else
    "$here/build-vault.sh"
  fi
}

# pid_of: the pid in DIR/vault.pid, if there is one.
pid_of() {
  if [ -f "$pidfile" ]; then cat "$pidfile"; fi
}

# alive PID: PID runs (a zombie does not count) and is this DIR's vault
# server, so that a stale pid file never gets an unrelated process killed.
alive() {
  local pid=$1 state
  [ -n "$pid" ] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  [ -r "/proc/$pid/stat" ] || return 0 # no procfs: trust kill -0
  state=$(sed -n 's/^.*) \([A-Za-z]\) .*$/\1/p' "/proc/$pid/stat" 2>/dev/null) || return 1
  [ "$state" != Z ] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "-config=$dir/config.hcl"
}

running() { alive "$(pid_of)"; }

# kill_group PID: SIGKILL whatever is left of the process group Vault leads
# (setsid made it the leader): the plugin processes it started.
kill_group() { kill -KILL -- "-$1" 2>/dev/null || true; }

stop() {
  local signal=$1 pid
  pid=$(pid_of)
  if alive "$pid"; then
    if [ "$signal" = KILL ]; then
      kill_group "$pid"
    else
      kill "-$signal" "$pid" 2>/dev/null || true
    fi
    for _ in $(seq 1 200); do
      alive "$pid" || break
      sleep 0.1
    done
    if alive "$pid"; then
      say "pid $pid did not stop on SIG$signal within 20 s; killing it"
      kill -KILL "$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do
        alive "$pid" || break
        sleep 0.1
      done
    fi
    kill_group "$pid"
    alive "$pid" && { say "pid $pid survived SIGKILL"; return 1; }
    say "stopped pid $pid (SIG$signal)"
  fi
  rm -f "$pidfile"
}

# wait_for WHAT COMMAND...: retries COMMAND for up to 60 s while Vault runs.
wait_for() {
  local what=$1
  shift
  for _ in $(seq 1 300); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    if ! running; then
      say "vault exited while waiting for $what; last lines of $log:"
      tail -n 40 "$log" >&2
      return 1
    fi
    sleep 0.2
  done
  say "timed out after 60 s waiting for $what; last lines of $log:"
  tail -n 40 "$log" >&2
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
  case "$port" in
    '' | *[!0-9]*) say "PORT must be a number, got '$port'"; exit 2 ;;
  esac
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
}

start() {
  local port=$1 bin addr key token
  if running; then
    say "already running in $dir (pid $(pid_of))"
    exit 1
  fi
  bin=$(vault_bin)
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
