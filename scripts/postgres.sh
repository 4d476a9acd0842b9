#!/usr/bin/env bash
# Usage: scripts/postgres.sh start DIR PORT
#        scripts/postgres.sh stop DIR
#
# Runs one throwaway PostgreSQL server from Debian's packages (apt-get
# install postgresql), for the end-to-end tests and for trying the database
# secrets engine by hand. Everything lives in DIR:
#   DIR/data          the cluster (initdb on the first start)
#   DIR/run           the Unix socket (never /var/run/postgresql)
#   DIR/postgres.log  the server log (initdb's output too)
#   DIR/admin.env     mode 0600: export PGHOST, PGPORT, PGUSER, PGPASSWORD,
#                     PGDATABASE, PGSSLMODE and PG_BIN for the admin role
#                     (a superuser with a random password), for Vault's
#                     database/config and for `. DIR/admin.env && psql`.
#
#   start  initializes the cluster on the first start, listening on
#          127.0.0.1:PORT only, password (scram-sha-256) authentication for
#          every connection, socket and TCP alike; starts the server and
#          waits until pg_isready answers. On a DIR that already holds a
#          cluster it starts that one again (its port, its admin password).
#   stop   fast shutdown (pg_ctl -m fast: sessions are ended), immediate if
#          that does not finish in 30 s. Stopping what is not running, or a
#          DIR that does not exist, succeeds.
#
# PostgreSQL refuses to run as root: as root the server runs as the
# `postgres` user (which the package creates) through runuser, and DIR is
# handed to that user (chown), so DIR must be new or empty (or a DIR this
# script set up before) and reachable by that user (one made by `mktemp -d`
# is). As any other user the server runs as that user.
# The binaries are the newest /usr/lib/postgresql/*/bin that has the server
# and the client, or $PG_BIN.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=SCRIPTDIR/lib/process.sh
. "$here/lib/process.sh"
[ $# -ge 2 ] || usage
cmd=$1
dir=$2
admin=vaultadmin

die() {
  say "$*"
  exit 1
}

install_hint="install Debian's package: apt-get install postgresql"
# The programs this script runs, all from one version's bin directory.
needed=(initdb pg_ctl postgres pg_isready psql)

has_all() {
  local d=$1 p
  for p in "${needed[@]}"; do [ -x "$d/$p" ] || return 1; done
}

# bin_dir: $PG_BIN, else the newest /usr/lib/postgresql/VERSION/bin that
# has every needed program (a newer client-only version is skipped).
bin_dir() {
  local d
  if [ -n "${PG_BIN:-}" ]; then
    has_all "$PG_BIN" || die "PG_BIN=$PG_BIN does not hold all of ${needed[*]}; unset it to use /usr/lib/postgresql/*/bin, or $install_hint"
    echo "$PG_BIN"
    return
  fi
  for d in $(printf '%s\n' /usr/lib/postgresql/*/bin | sort -r -V); do
    if has_all "$d"; then
      echo "$d"
      return
    fi
  done
  die "PostgreSQL is not installed: no /usr/lib/postgresql/*/bin with ${needed[*]}; $install_hint (it brings postgresql-NN and postgresql-client-NN)"
}

# As root the server's programs run as the postgres user.
as_pg=()
if [ "$(id -u)" -eq 0 ]; then
  getent passwd postgres >/dev/null ||
    die "running as root, so PostgreSQL must run as the 'postgres' user, which does not exist; $install_hint (the package creates it)"
  as_pg=(runuser -u postgres --)
fi
pg() { "${as_pg[@]}" "$@"; }

# pid_of: the postmaster's pid, the first line of DIR/data/postmaster.pid,
# if any (the server writes it; there is no pidfile of this script's).
pid_of() {
  if [ -f "$dir/data/postmaster.pid" ]; then head -n 1 "$dir/data/postmaster.pid"; fi
}

# alive PID: PID is the postmaster of this DIR (see process_alive).
alive() { process_alive "$1" "$dir/data"; }

stop() {
  local bin pid
  if [ ! -d "$dir" ]; then
    say "nothing to stop: no directory $dir"
    return 0
  fi
  dir=$(cd "$dir" && pwd -P)
  pid=$(pid_of)
  if ! alive "$pid"; then
    say "not running in $dir"
    return 0
  fi
  bin=$(bin_dir)
  if ! pg "$bin/pg_ctl" -D "$dir/data" -m fast -w -t 30 stop >&2; then
    say "fast shutdown did not finish in 30 s; immediate shutdown"
    pg "$bin/pg_ctl" -D "$dir/data" -m immediate -w -t 30 stop >&2 || true
  fi
  if alive "$pid"; then
    say "postmaster $pid still runs; killing it"
    kill -KILL "$pid" 2>/dev/null || true
    sleep 1
    alive "$pid" && die "postmaster $pid survived SIGKILL"
  fi
  say "stopped (pid $pid)"
}

# write_config PORT: the settings this script owns, after initdb's
# postgresql.conf (later lines win), and an exact pg_hba.conf.
write_config() {
  local port=$1
  cat >>"$dir/data/postgresql.conf" <<CONF

# ---- scripts/postgres.sh: a throwaway server on loopback
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir/run'
password_encryption = 'scram-sha-256'
# Test data only: no durability, faster start and DDL.
fsync = off
synchronous_commit = off
full_page_writes = off
# A failing statement is not copied into the log: it may hold a password.
log_min_error_statement = panic
log_connections = on
log_line_prefix = '%m [%p] %q%u@%d '
CONF
  cat >"$dir/data/pg_hba.conf" <<'HBA'
# scripts/postgres.sh: a password for every connection, from loopback only.
# TYPE  DATABASE  USER  ADDRESS       METHOD
local   all       all                 scram-sha-256
host    all       all   127.0.0.1/32  scram-sha-256
HBA
}

# init_cluster PORT BIN: initdb with the admin role and its new password,
# then admin.env.
init_cluster() {
  local port=$1 bin=$2 pw pwfile
  # 24 bytes from the kernel's CSPRNG, as hex: no character needs quoting in
  # a shell, a URL or SQL.
  pw=$(od -An -tx1 -N24 /dev/urandom | tr -d ' \n')
  [ ${#pw} -eq 48 ] || die "could not read /dev/urandom"
  pwfile=$dir/.initdb-pw
  (umask 077 && printf '%s\n' "$pw" >"$pwfile")
  [ ${#as_pg[@]} -eq 0 ] || chown postgres: "$pwfile"
  say "initdb in $dir/data ($("$bin/postgres" --version))"
  if ! pg "$bin/initdb" -D "$dir/data" -U "$admin" --pwfile="$pwfile" -A scram-sha-256 \
    -E UTF8 --locale=C --no-sync >>"$dir/postgres.log" 2>&1; then
    rm -f "$pwfile"
    tail -n 20 "$dir/postgres.log" >&2
    die "initdb failed (log: $dir/postgres.log)"
  fi
  rm -f "$pwfile"
  write_config "$port"
  (umask 077 && printf 'export %s=%q\n' PGHOST 127.0.0.1 PGPORT "$port" PGUSER "$admin" \
    PGPASSWORD "$pw" PGDATABASE postgres PGSSLMODE disable PG_BIN "$bin" >"$dir/admin.env.tmp")
  mv -f "$dir/admin.env.tmp" "$dir/admin.env"
}

# on_exit RC BIN: the EXIT trap of start; after a failure, stops what the
# call started and removes the password file initdb read.
on_exit() {
  rm -f "$dir/.initdb-pw"
  if [ "$1" -ne 0 ] && [ -f "$dir/data/postmaster.pid" ]; then
    say "start failed; stopping"
    pg "$2/pg_ctl" -D "$dir/data" -m immediate -w -t 30 stop >&2 || true
  fi
}

start() {
  local port=$1 bin
  need_number "$port"
  if [ "$port" -lt 1 ] || [ "$port" -gt 65535 ]; then
    say "PORT must be 1-65535, got $port"
    exit 2
  fi
  bin=$(bin_dir)
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd -P)
  if running; then
    die "already running in $dir (pid $(pid_of))"
  fi
  # DIR is handed to the server's user below: only a new or empty
  # directory, or one this script set up before, never someone's files.
  if [ ! -f "$dir/data/PG_VERSION" ] && [ -n "$(ls -A "$dir")" ]; then
    die "$dir is neither empty nor a directory this script set up: give a new or empty directory"
  fi
  # The socket path (DIR/run/.s.PGSQL.PORT) must fit in sun_path.
  [ ${#dir} -le 80 ] || die "DIR is too long for a Unix socket path (${#dir} > 80 bytes): $dir"
  if [ ${#as_pg[@]} -gt 0 ]; then
    chown postgres: "$dir"
    chmod 0700 "$dir"
    pg test -w "$dir" ||
      die "the postgres user cannot reach $dir: every directory above it must be searchable by that user (a directory from mktemp -d is)"
  fi
  mkdir -p "$dir/run"
  touch "$dir/postgres.log"
  [ ${#as_pg[@]} -eq 0 ] || chown postgres: "$dir/run" "$dir/postgres.log"

  # From here on a failure stops whatever this call started.
  trap 'on_exit "$?" "$bin"' EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM

  if [ -f "$dir/data/PG_VERSION" ]; then
    [ -s "$dir/admin.env" ] || die "$dir/data holds a cluster but $dir/admin.env is missing"
    local conf_port
    conf_port=$(sed -n 's/^port = \([0-9]*\)$/\1/p' "$dir/data/postgresql.conf" | tail -n 1)
    [ -n "$conf_port" ] || die "no port in $dir/data/postgresql.conf"
    [ "$conf_port" = "$port" ] || say "reusing the cluster's port $conf_port, not $port"
    port=$conf_port
    say "starting the existing cluster in $dir/data (port $port)"
  else
    init_cluster "$port" "$bin"
  fi

  printf '\n==== %s scripts/postgres.sh start\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >>"$dir/postgres.log"
  if ! pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 start >/dev/null 2>&1; then
    tail -n 20 "$dir/postgres.log" >&2
    die "the server did not start (is 127.0.0.1:$port free? log: $dir/postgres.log)"
  fi
  if poll 100 0.2 "$bin/pg_isready" -q -h 127.0.0.1 -p "$port" -t 1; then
    trap - EXIT INT TERM
    say "running at 127.0.0.1:$port (pid $(pid_of), socket $dir/run, log $dir/postgres.log, admin role in $dir/admin.env)"
    return 0
  fi
  tail -n 20 "$dir/postgres.log" >&2
  die "pg_isready got no answer from 127.0.0.1:$port (log: $dir/postgres.log)"
}

start_or_stop "$@"
