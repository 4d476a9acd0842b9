#!/usr/bin/env bash
# Usage: scripts/vault-agent.sh start DIR CONFIG
#        scripts/vault-agent.sh stop DIR
#
# Runs one real Vault Agent (`vault agent -config=CONFIG`) for the entropy
# auth method's Vault Agent integrations (docs/vault-agent.md).
#   start  starts the agent detached, in its own session (log appended to
#          DIR/agent.log, pid in DIR/agent.pid), and waits until it has read
#          its configuration and says it started; if it exits first, prints
#          the end of its log and fails.
#   stop   SIGTERM, SIGKILL after 20 s.
# The vault binary is $VAULT_BIN, else the one scripts/build-vault.sh prints.
# The agent gets this script's environment: VAULT_* variables apply to it as
# to any vault command (the configuration's vault { address } wins).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
prog=vault-agent
# shellcheck source=SCRIPTDIR/lib/process.sh
. "$here/lib/process.sh"
usage() {
  echo "usage: $0 start DIR CONFIG | stop DIR" >&2
  exit 2
}
[ $# -ge 2 ] || usage
cmd=$1
dir=$2
# Private: files in DIR are read back (see private_dir).
if [ "$cmd" = start ]; then private_dir "$dir" create; else private_dir "$dir"; fi
dir=$(cd "$dir" && pwd -P)
pidfile="$dir/agent.pid"
log="$dir/agent.log"

# alive PID: PID is a vault agent (see process_alive).
alive() { process_alive "$1" ' agent -config='; }

stop() { stop_process TERM; }

# started_since OFFSET: the agent logged its start line after byte OFFSET
# of its log (in this start's part of it).
started_since() { tail -c "+$1" "$log" | grep -q 'Vault Agent started'; }

start() {
  local config=$1 bin pid offset rc=0
  [ -f "$config" ] || { say "no configuration file $config"; exit 1; }
  config=$(cd "$(dirname "$config")" && pwd -P)/$(basename "$config")
  if running; then
    say "already running in $dir (pid $(pid_of))"
    exit 1
  fi
  bin=$(tool_bin VAULT_BIN build-vault.sh)
  touch "$log"
  printf '\n==== %s vault-agent.sh start %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$config" >>"$log"
  # Only this start's part of the log is searched for the start line.
  offset=$(($(wc -c <"$log") + 1))
  # setsid: its own session, so a Ctrl-C in the caller's terminal does not
  # reach it. Not a group leader here, so setsid execs without forking and
  # $! is the agent's pid.
  setsid "$bin" agent -config="$config" >>"$log" 2>&1 </dev/null &
  pid=$!
  echo "$pid" >"$pidfile"
  poll 300 0.1 started_since "$offset" || rc=$?
  if [ "$rc" -eq 0 ]; then
    say "running (pid $pid, log $log)"
    return 0
  fi
  if [ "$rc" -eq 1 ]; then
    show_log "vault agent exited while starting" 40
    rm -f "$pidfile"
    exit 1
  fi
  show_log "timed out after 30 s waiting for vault agent to start" 40
  stop
  exit 1
}

case "$cmd" in
  start)
    [ $# -eq 3 ] || usage
    start "$3"
    ;;
  stop)
    [ $# -eq 2 ] || usage
    stop
    ;;
  *) usage ;;
esac
