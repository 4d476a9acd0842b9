# scripts/lib/process.sh: what the scripts that run detached servers
# (vault-server.sh, raft-cluster.sh, vault-agent.sh, minio-server.sh,
# postgres.sh) share; register-plugin.sh and demo.sh use its messages.
# Sourced, never run: `. "$here/lib/process.sh"`. The sourcing script sets
#   pidfile   the pid file (pid_of, running, launch and stop_process use it)
#   log       the server's log (launch appends to it, show_log reads it)
#   server    what to call the server in messages (wait_for)
# and defines alive PID: one line over process_alive with its own
# command-line pattern. A script whose server writes its own pid file
# (postgres.sh: the postmaster's) redefines pid_of after sourcing this.
# (SC2154: here, pidfile, log and server are the sourcing script's;
# SC2034: cmd and dir are set here for it.)
# shellcheck shell=bash disable=SC2154,SC2034

# prog: the script's name, for messages (vault-server, minio-server, ...).
prog=$(basename "$0" .sh)

# say MESSAGE...: MESSAGE on stderr, after the script's name.
say() { echo "$prog: $*" >&2; }

# usage: the script's own "# Usage:" lines (up to the first bare "#") on
# stderr, as "usage: ...", so that the usage is written once, where it is
# documented; exits 2.
usage() {
  sed -n '/^# Usage:/,/^#$/{/^#$/d;s/^# Usage:/usage:/;s/^# \{0,1\}//;p;}' "$0" >&2
  exit 2
}

# tool_bin VAR BUILD: the program named by the environment variable VAR if
# it is set and not empty, else what scripts/BUILD prints (it builds the
# pinned version, or finds it in its cache).
tool_bin() {
  if [ -n "${!1:-}" ]; then
    echo "${!1}"
  else
    "$here/$2"
  fi
}

# need_number PORT: exits 2, saying so, unless PORT is a decimal number.
need_number() {
  case "$1" in
    '' | *[!0-9]*) say "PORT must be a number, got '$1'"; exit 2 ;;
  esac
}

# pid_of: the pid in the pid file, if there is one.
pid_of() {
  if [ -f "$pidfile" ]; then cat "$pidfile"; fi
}

# process_alive PID [PATTERN]: PID runs, is not a zombie (an exited process
# its parent has not reaped yet does not count), and its command line, NUL
# separators read as spaces, holds PATTERN (a fixed string). The pattern is
# what keeps a stale pid file, whose pid the kernel has since given to
# another process, from ever getting an unrelated process killed. Without
# a PATTERN the command line is not checked: only for a pid this script
# started itself, which counts before it has exec'd the server. Without
# procfs, kill -0 is all there is to go by.
process_alive() {
  local pid=$1 pattern=${2:-} state
  [ -n "$pid" ] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  [ -r "/proc/$pid/stat" ] || return 0 # no procfs: trust kill -0
  # The state follows the last ") ": the command name may hold one.
  state=$(sed -n 's/^.*) \([A-Za-z]\) .*$/\1/p' "/proc/$pid/stat" 2>/dev/null) || return 1
  [ "$state" != Z ] || return 1
  [ -n "$pattern" ] || return 0
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$pattern"
}

# running: the pid file names this script's server, alive (alive's checks).
running() { alive "$(pid_of)"; }

# kill_group PID: SIGKILL to the whole process group PID leads (setsid made
# it the leader), so that no child it started (Vault's plugins) outlives it.
kill_group() { kill -KILL -- "-$1" 2>/dev/null || true; }

# wait_gone PID TRIES: waits until alive PID fails, for up to TRIES tenths
# of a second.
wait_gone() {
  for _ in $(seq 1 "$2"); do
    alive "$1" || break
    sleep 0.1
  done
}

# stop_process SIGNAL [group]: stops the server in the pid file if alive
# says it runs: SIGNAL (TERM or KILL), then SIGKILL if it still runs 20 s
# later. Only a pid alive accepts is ever signalled. With `group` the
# server leads its own process group, and what is left of the group is
# killed too: at once for KILL (as a crash would end it all), else once the
# server has ended; the message then names the signal. Removes the pid
# file, except when the server survives SIGKILL: then it says so and fails.
stop_process() {
  local signal=$1 group=${2:-} pid
  pid=$(pid_of)
  if alive "$pid"; then
    if [ "$signal" = KILL ] && [ -n "$group" ]; then
      kill_group "$pid"
    else
      kill "-$signal" "$pid" 2>/dev/null || true
    fi
    wait_gone "$pid" 200
    if alive "$pid"; then
      say "pid $pid did not stop on SIG$signal within 20 s; killing it"
      kill -KILL "$pid" 2>/dev/null || true
      wait_gone "$pid" 50
    fi
    [ -z "$group" ] || kill_group "$pid"
    alive "$pid" && { say "pid $pid survived SIGKILL"; return 1; }
    say "stopped pid $pid${group:+ (SIG$signal)}"
  fi
  rm -f "$pidfile"
}

# poll TRIES DELAY COMMAND...: runs COMMAND (its output discarded) until it
# succeeds, DELAY seconds apart, while the process in the pid file runs
# (process_alive without a pattern: it counts before it has exec'd the
# server, and a zombie does not). Returns 0 once COMMAND succeeded, 1 as
# soon as the process has ended, 2 after TRIES failed tries.
poll() {
  local tries=$1 delay=$2
  shift 2
  for _ in $(seq 1 "$tries"); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    process_alive "$(pid_of)" || return 1
    sleep "$delay"
  done
  return 2
}

# launch COMMAND...: starts COMMAND detached, its output appended to the
# log after a line that marks this start, its pid in the pid file; then
# waits (up to 10 s) until it has exec'd the server (running: until then
# its command line is this script's, which alive does not take for the
# server) or has ended. setsid: its own session and process group (Vault's
# plugins join it), so a Ctrl-C in the caller's terminal does not reach it
# and kill_group can end the whole group. Not a group leader here, so
# setsid execs without forking and $! is the server's pid. Secrets go in
# the environment (VAR=value launch ...), never on the command line.
launch() {
  printf '\n==== %s %s.sh start\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$prog" >>"$log"
  setsid "$@" >>"$log" 2>&1 </dev/null &
  echo $! >"$pidfile"
  for _ in $(seq 1 100); do
    running && break
    kill -0 "$(pid_of)" 2>/dev/null || break
    sleep 0.1
  done
}

# wait_for WHAT COMMAND...: retries COMMAND (poll) for up to 60 s, 0.2 s
# apart, while the server runs. Returns 0 once it succeeded; else says why
# (the server exited, or the time ran out), shows the end of the log and
# returns 1.
wait_for() {
  local rc=0
  poll 300 0.2 "${@:2}" || rc=$?
  case "$rc" in
    0) return 0 ;;
    1) show_log "$server exited while waiting for $1" 40 ;;
    *) show_log "timed out after 60 s waiting for $server: $1" 40 ;;
  esac
  return 1
}

# show_log MESSAGE LINES: says MESSAGE, then the last LINES lines of the
# server's log on stderr, for a start that failed.
show_log() {
  say "$1; last lines of $log:"
  tail -n "$2" "$log" >&2
}

# take_dir COMMAND DIR [ARG...]: sets cmd and dir from the script's
# arguments (usage without both). DIR must be private (private_dir; the
# start command creates it); dir becomes its absolute, canonical path, as
# it is written into configurations and matched against the server's
# command line.
take_dir() {
  [ $# -ge 2 ] || usage
  cmd=$1
  dir=$2
  if [ "$cmd" = start ]; then private_dir "$dir" create; else private_dir "$dir"; fi
  dir=$(cd "$dir" && pwd -P)
}

# start_or_stop COMMAND DIR [ARG]: the commands of a script that runs one
# server: `start DIR ARG` runs the script's start ARG, `stop DIR` its stop;
# anything else is usage.
start_or_stop() {
  case "$1:$#" in
    start:3) start "$3" ;;
    stop:2) stop ;;
    *) usage ;;
  esac
}

# Files in DIR are read back (a sourced root.env, init.json's root token,
# pid files), so DIR and what is read from it must be this user's alone:
# another local user who could plant a file there would have it sourced or
# trusted. The owner is `stat -c %u` (GNU), else `stat -f %u` (BSD, macOS).
file_uid() { stat -c %u "$1" 2>/dev/null || stat -f %u "$1"; }
file_mode() { stat -c %a "$1" 2>/dev/null || stat -f %Lp "$1"; }

# not_shared PATH: PATH belongs to this user and neither group nor others
# can write it; otherwise says why and returns 1.
not_shared() {
  local uid mode
  if ! uid=$(file_uid "$1") || ! mode=$(file_mode "$1"); then
    say "cannot stat $1"
    return 1
  fi
  if [ "$uid" != "$(id -u)" ]; then
    say "refusing $1: it belongs to uid $uid, not to this user (uid $(id -u))"
    return 1
  fi
  if (((8#$mode) & 8#022)); then
    say "refusing $1: mode $mode, writable by group or others"
    return 1
  fi
}

# private_dir DIR [create]: with `create`, makes DIR (and missing parents)
# with mode 0700; then exits 1, saying why, unless DIR is a directory that
# not_shared accepts.
private_dir() {
  if [ "${2:-}" = create ]; then (umask 077 && mkdir -p "$1"); fi
  [ -d "$1" ] || { say "no directory $1"; exit 1; }
  not_shared "$1" || exit 1
}

# trusted_file FILE: exits 1, saying why, unless FILE is a regular file (not
# a symbolic link) that not_shared accepts: a file this script wrote.
trusted_file() {
  if [ -L "$1" ] || [ ! -f "$1" ]; then
    say "refusing $1: not a regular file"
    exit 1
  fi
  not_shared "$1" || exit 1
}
