#!/usr/bin/env bash
# Usage: scripts/minio-server.sh start DIR PORT
#        scripts/minio-server.sh stop DIR
#
# Runs one throwaway MinIO server (S3 and STS AssumeRole) on loopback, for
# the end-to-end tests of AWS credentials and for trying Vault's AWS secrets
# engine by hand. Everything lives in DIR, which start creates with mode
# 0700; a DIR that another user owns or that group or others can write is
# refused, and so is a root.env this user did not write (another owner, a
# group- or world-writable mode, a symbolic link), before it is sourced:
#   DIR/data       the objects (one drive)
#   DIR/minio.log  the server's output
#   DIR/minio.pid  its pid
#   DIR/root.env   mode 0600: export MINIO_ADDR, MINIO_ROOT_USER,
#                  MINIO_ROOT_PASSWORD, for Vault's aws/config/root and for
#                  `. DIR/root.env` by hand.
#
#   start  starts the server on 127.0.0.1:PORT (and [::1]:PORT; no web
#          console, no update checks, region $MINIO_REGION or us-east-1) and
#          waits until /minio/health/live answers 200. The root user and
#          password are $MINIO_ROOT_USER and $MINIO_ROOT_PASSWORD, else
#          random; a DIR that has a root.env keeps its user, password and
#          port (PORT is then ignored).
#   stop   SIGTERM, SIGKILL after 20 s. Stopping what is not running, or a
#          DIR that does not exist, succeeds.
# The minio binary is $MINIO_BIN, else the one scripts/build-minio.sh prints.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
server=minio
# shellcheck source=SCRIPTDIR/lib/process.sh
. "$here/lib/process.sh"
if [ "${1:-}" = stop ] && [ $# -ge 2 ] && [ ! -d "$2" ]; then
  exit 0
fi
# Private: files in DIR are read back (see private_dir).
take_dir "$@"
pidfile="$dir/minio.pid"
log="$dir/minio.log"
envfile="$dir/root.env"

# alive PID: PID is this DIR's server (see process_alive).
alive() { process_alive "$1" " $dir/data"; }

stop() { stop_process TERM; }

# live PORT: GET /minio/health/live answers 200. Bash's /dev/tcp, so that
# nothing but bash is needed.
live() {
  local status
  exec 3<>"/dev/tcp/127.0.0.1/$1" || return 1
  printf 'GET /minio/health/live HTTP/1.0\r\nHost: 127.0.0.1:%s\r\n\r\n' "$1" >&3
  IFS= read -r -t 5 status <&3 || status=
  exec 3<&- 3>&-
  [[ "$status" == "HTTP/1."?" 200"* ]]
}

stop_on_failure() {
  local rc=$?
  if [ "$rc" -ne 0 ]; then
    say "start failed; stopping the server"
    stop || true
  fi
}

# random N: N random bytes as hex.
random() { od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n'; }

start() {
  local port=$1 bin user password
  if running; then
    say "already running in $dir (pid $(pid_of))"
    exit 1
  fi
  if [ -s "$envfile" ]; then
    # Sourced: only a file this user wrote, that nobody else can change.
    trusted_file "$envfile"
    # shellcheck disable=SC1090
    . "$envfile"
    port=${MINIO_ADDR##*:}
    user=$MINIO_ROOT_USER
    password=$MINIO_ROOT_PASSWORD
  else
    need_number "$port"
    user=${MINIO_ROOT_USER:-root-$(random 6)}
    password=${MINIO_ROOT_PASSWORD:-$(random 20)}
    (umask 077 && printf 'export MINIO_ADDR=%q\nexport MINIO_ROOT_USER=%q\nexport MINIO_ROOT_PASSWORD=%q\n' \
      "http://127.0.0.1:$port" "$user" "$password" >"$envfile.tmp")
    mv -f "$envfile.tmp" "$envfile"
  fi
  # MinIO listens with SO_REUSEPORT: a second server on a taken port
  # would start, and share the port with the first. Refuse instead.
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    say "port $port is already in use on 127.0.0.1"
    exit 1
  fi
  bin=$(tool_bin MINIO_BIN build-minio.sh)
  mkdir -p "$dir/data"
  chmod 0700 "$dir" "$dir/data"

  # From here on a failure stops the server this call started.
  trap stop_on_failure EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM

  # The password goes in the environment, never on the command line.
  MINIO_ROOT_USER=$user MINIO_ROOT_PASSWORD=$password \
    MINIO_BROWSER=off MINIO_UPDATE=off MINIO_SITE_REGION="${MINIO_REGION:-us-east-1}" \
    launch "$bin" server --quiet --anonymous --address "127.0.0.1:$port" "$dir/data"
  wait_for "http://127.0.0.1:$port/minio/health/live" live "$port"
  trap - EXIT INT TERM
  say "running at http://127.0.0.1:$port (pid $(pid_of), log $log, env $envfile)"
}

start_or_stop "$@"
