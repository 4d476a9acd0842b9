#!/usr/bin/env bash
# Usage: scripts/raft-cluster.sh start DIR BASEPORT
#        scripts/raft-cluster.sh stop DIR | kill-node DIR N | start-node DIR N
#        scripts/raft-cluster.sh leader DIR | status DIR
#        scripts/raft-cluster.sh register DIR PLUGIN_BINARY [MOUNT...]
#
# Runs a three-node Vault cluster with integrated (raft) storage on
# loopback, for the failover tests. Node N (1, 2, 3) lives in DIR/nodeN
# (config.hcl, data/, plugins/, vault.log, vault.pid, env) and listens on
# 127.0.0.1:BASEPORT+2(N-1) (API) and the port after it (cluster): six
# consecutive ports in all.
#   start       writes each node's config.hcl (nodes 2 and 3 retry_join
#               node 1), starts the three servers detached in their own
#               sessions, initializes node 1 on first start (one unseal key,
#               DIR/init.json, mode 0600), unseals node 1, lets autopilot
#               promote new nodes after 2 s instead of 10, unseals nodes 2
#               and 3 with the same key (which makes them join), and waits
#               until node 1 is active and the three are raft voters.
#               Writes DIR/nodeN/env and DIR/env (node 1's), mode 0600:
#               export VAULT_ADDR, VAULT_TOKEN. Existing config.hcl files
#               are reused (BASEPORT is then ignored).
#   stop        SIGTERM to every node (SIGKILL after 20 s).
#   kill-node   SIGKILL to node N and its plugin processes, as a crash.
#   start-node  starts node N again on its data and unseals it; it rejoins
#               the cluster as a standby (or wins the election).
#   leader      prints the index of the active node; fails if none is.
#   status      one line per node: pid, sealed or not, HA mode.
#   register    copies PLUGIN_BINARY into every node's plugin directory
#               (the catalog is replicated, the binary is not), then
#               registers it by sha256 and enables it at auth/MOUNT through
#               the active node (scripts/register-plugin.sh).
# RAFT_PERFORMANCE_MULTIPLIER (default 1, as Vault advises for production)
# scales raft's timeouts: leader election takes about 1 s times it.
# The vault binary is $VAULT_BIN, else the one scripts/build-vault.sh prints.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=SCRIPTDIR/lib/process.sh
. "$here/lib/process.sh"
# shellcheck source=SCRIPTDIR/lib/vault.sh
. "$here/lib/vault.sh"
# Private: files in DIR are read back (see private_dir).
take_dir "$@"
nodes=(1 2 3)

# use_node N: points nd, pidfile, log and server (what lib/process.sh
# reads) at node N.
use_node() {
  case "$1" in
    1 | 2 | 3) ;;
    *) say "N must be 1, 2 or 3, got '$1'"; exit 2 ;;
  esac
  n=$1
  nd="$dir/node$n"
  pidfile="$nd/vault.pid"
  log="$nd/vault.log"
  server="node $n"
}

# alive PID: PID is node $n's vault server (see process_alive).
alive() { process_alive "$1" "-config=$nd/config.hcl"; }

# api_addr: node $n's address, from its config.hcl.
api_addr() { config_addr "$nd/config.hcl"; }

# nvault ARGS...: the vault CLI against node $n.
nvault() { VAULT_ADDR=$(api_addr) "$bin" "$@"; }

# ha_mode: node $n's part in HA: active, standby (unsealed, and it knows
# the active node), sealed, or empty if it cannot tell. From `vault status
# -format=json`, which exits 2 when sealed.
ha_mode() {
  local st
  st=$(nvault status -format=json 2>/dev/null | tr -d ' \n' || true)
  case "$st" in
    *'"sealed":true'*) echo sealed ;;
    *'"is_self":true'*) echo active ;;
    *'"leader_address":"http'*) echo standby ;;
  esac
}

is_active() { [ "$(ha_mode)" = active ]; }

# in_cluster: node $n is unsealed and knows whether it leads.
in_cluster() {
  case "$(ha_mode)" in active | standby) return 0 ;; esac
  return 1
}

# voters COUNT: the active node lists COUNT raft voters.
voters() {
  [ "$(VAULT_TOKEN=$token nvault operator raft list-peers -format=json 2>/dev/null |
    tr -d ' \n' | grep -o '"voter":true' | wc -l)" -eq "$1" ]
}

# write_config BASEPORT: node $n's config.hcl; nodes 2 and 3 join node 1.
write_config() {
  local base=$1 storage
  storage="
  performance_multiplier = ${RAFT_PERFORMANCE_MULTIPLIER:-1}"
  if [ "$n" -ne 1 ]; then
    storage+="
  retry_join {
    leader_api_addr = \"http://127.0.0.1:$base\"
  }"
  fi
  write_vault_config "$nd" "node$n" $((base + 2 * (n - 1))) "$storage"
}

# start_node: starts node $n's server detached and waits until it listens.
start_node() {
  if running; then
    say "node $n already runs (pid $(pid_of))"
    return 0
  fi
  launch "$bin" server -config="$nd/config.hcl"
  wait_for "its listener" listening nvault
}

# unseal_node: unseals node $n (a node that has not joined yet joins on
# unseal, through retry_join) and waits until it takes part in HA.
unseal_node() {
  # An unsealed node answers the unseal call with its status: harmless.
  wait_for "the unseal key to be taken" nvault operator unseal "$key"
  wait_for "unseal and join" in_cluster
  write_env "$nd/env" "$(api_addr)" "$token"
}

started=() # the nodes this start launched, stopped again if it fails
start_all() {
  local base=$1
  need_number "$base"
  bin=$(tool_bin VAULT_BIN build-vault.sh)
  trap 'rc=$?; if [ "$rc" -ne 0 ]; then say "start failed; stopping the nodes it started"; for m in "${started[@]}"; do use_node "$m"; stop_process KILL group || true; done; fi' EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  for m in "${nodes[@]}"; do
    use_node "$m"
    mkdir -p "$nd/data" "$nd/plugins"
    chmod 0700 "$dir" "$nd" "$nd/data"
    [ -f "$nd/config.hcl" ] || write_config "$base"
    running || started+=("$m")
    start_node
  done

  use_node 1
  init_once nvault
  read_keys
  unseal_node
  export VAULT_TOKEN=$token
  wait_for "an active node" nvault token lookup
  cp -p "$nd/env" "$dir/env"
  # New nodes become voters once autopilot has seen them healthy for
  # server_stabilization_time (10 s by default): shorter, for tests.
  nvault operator raft autopilot set-config -server-stabilization-time=2s >/dev/null
  for m in 2 3; do
    use_node "$m"
    unseal_node
  done
  use_node 1
  for m in 1 2 3; do
    use_node "$m"
    if is_active; then break; fi
  done
  wait_for "three raft voters" voters 3
  trap - EXIT INT TERM
  say "running: $(for m in "${nodes[@]}"; do use_node "$m"; printf 'node%s %s ' "$m" "$(api_addr)"; done)(env $dir/env)"
}

leader() {
  for m in "${nodes[@]}"; do
    use_node "$m"
    [ -f "$nd/config.hcl" ] || continue
    running || continue
    if is_active; then
      echo "$m"
      return 0
    fi
  done
  say "no active node"
  return 1
}

status() {
  for m in "${nodes[@]}"; do
    use_node "$m"
    [ -f "$nd/config.hcl" ] || continue
    if running; then
      printf 'node%s %s pid %s %s\n' "$m" "$(api_addr)" "$(pid_of)" "$(ha_mode)"
    else
      printf 'node%s %s down\n' "$m" "$(api_addr)"
    fi
  done
}

register() {
  local plugin=$1 l
  shift
  for m in "${nodes[@]}"; do
    use_node "$m"
    install -m 0755 "$plugin" "$nd/plugins/vault-plugin-auth-entropy.tmp"
    mv -f "$nd/plugins/vault-plugin-auth-entropy.tmp" "$nd/plugins/vault-plugin-auth-entropy"
  done
  l=$(leader)
  VAULT_BIN=$bin "$here/register-plugin.sh" "$dir/node$l" "$plugin" "$@"
}

case "$cmd:$#" in
  start:3) start_all "$3" ;;
  stop:2)
    for m in "${nodes[@]}"; do
      use_node "$m"
      stop_process TERM group
    done
    ;;
  kill-node:3)
    use_node "$3"
    stop_process KILL group
    ;;
  start-node:3)
    use_node "$3"
    [ -f "$nd/config.hcl" ] || { say "no $nd/config.hcl: use start DIR BASEPORT first"; exit 1; }
    bin=$(tool_bin VAULT_BIN build-vault.sh)
    read_keys
    start_node
    unseal_node
    say "node $n running at $(api_addr) (pid $(pid_of)), $(ha_mode)"
    ;;
  leader:2 | status:2)
    bin=$(tool_bin VAULT_BIN build-vault.sh)
    "$cmd"
    ;;
  register:*)
    [ $# -ge 3 ] || usage
    bin=$(tool_bin VAULT_BIN build-vault.sh)
    register "${@:3}"
    ;;
  *) usage ;;
esac
