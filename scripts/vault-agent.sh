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
server="vault agent"
# shellcheck source=SCRIPTDIR/lib/process.sh
. "$here/lib/process.sh"
# Private: files in DIR are read back (see private_dir).
take_dir "$@"
pidfile="$dir/agent.pid"
log="$dir/agent.log"

# alive PID: PID is a vault agent (see process_alive).
alive() { process_alive "$1" ' agent -config='; }

stop() { stop_process TERM; }

# started_since OFFSET: the agent logged its start line after byte OFFSET
# of its log (in this start's part of it).
started_since() { tail -c "+$1" "$log" | grep -q 'Vault Agent started'; }

start() {
  local config=$1 bin offset
  [ -f "$config" ] || { say "no configuration file $config"; exit 1; }
  config=$(cd "$(dirname "$config")" && pwd -P)/$(basename "$config")
  if running; then
    say "already running in $dir (pid $(pid_of))"
    exit 1
  fi
  bin=$(tool_bin VAULT_BIN build-vault.sh)
  touch "$log"
  # Only this start's part of the log is searched for the start line.
  offset=$(($(wc -c <"$log") + 1))
  launch "$bin" agent -config="$config"
  if ! wait_for "its start line" started_since "$offset"; then
    stop
    exit 1
  fi
  say "running (pid $(pid_of), log $log)"
}

start_or_stop "$@"
