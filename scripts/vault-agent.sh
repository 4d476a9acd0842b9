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
usage() {
  echo "usage: $0 start DIR CONFIG | stop DIR" >&2
  exit 2
}
[ $# -ge 2 ] || usage
cmd=$1
dir=$2
[ "$cmd" != start ] || mkdir -p "$dir"
[ -d "$dir" ] || { echo "vault-agent: no directory $dir" >&2; exit 1; }
dir=$(cd "$dir" && pwd -P)
pidfile="$dir/agent.pid"
log="$dir/agent.log"

say() { echo "vault-agent: $*" >&2; }

vault_bin() {
  if [ -n "${VAULT_BIN:-}" ]; then
    echo "$VAULT_BIN"
  else
    "$here/build-vault.sh"
  fi
}

pid_of() {
  if [ -f "$pidfile" ]; then cat "$pidfile"; fi
}

# alive PID: PID runs (a zombie does not count) and is a vault agent, so
# that a stale pid file never gets an unrelated process killed.
alive() {
  local pid=$1 state
  [ -n "$pid" ] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  [ -r "/proc/$pid/stat" ] || return 0 # no procfs: trust kill -0
  state=$(sed -n 's/^.*) \([A-Za-z]\) .*$/\1/p' "/proc/$pid/stat" 2>/dev/null) || return 1
  [ "$state" != Z ] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- ' agent -config='
}

stop() {
  local pid
  pid=$(pid_of)
  if alive "$pid"; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 200); do
      alive "$pid" || break
      sleep 0.1
    done
    if alive "$pid"; then
      say "pid $pid did not stop on SIGTERM within 20 s; killing it"
      kill -KILL "$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do
        alive "$pid" || break
        sleep 0.1
      done
    fi
    alive "$pid" && { say "pid $pid survived SIGKILL"; return 1; }
    say "stopped pid $pid"
  fi
  rm -f "$pidfile"
}

start() {
  local config=$1 bin pid offset
  [ -f "$config" ] || { say "no configuration file $config"; exit 1; }
  config=$(cd "$(dirname "$config")" && pwd -P)/$(basename "$config")
  if alive "$(pid_of)"; then
    say "already running in $dir (pid $(pid_of))"
    exit 1
  fi
  bin=$(vault_bin)
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
  for _ in $(seq 1 300); do
    if tail -c "+$offset" "$log" | grep -q 'Vault Agent started'; then
      say "running (pid $pid, log $log)"
      return 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      say "vault agent exited while starting; last lines of $log:"
      tail -n 40 "$log" >&2
      rm -f "$pidfile"
      exit 1
    fi
    sleep 0.1
  done
  say "timed out after 30 s waiting for vault agent to start; last lines of $log:"
  tail -n 40 "$log" >&2
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
