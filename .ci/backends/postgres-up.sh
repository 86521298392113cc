#!/usr/bin/env bash
# postgres-up.sh - throw-away PostgreSQL cluster for tests when none runs on this machine,
# on 127.0.0.1:55432, data under $PG_BASE, started with pg_ctl (no systemd, no
# /etc/postgresql cluster). Creates role+database "glimpse" (password auth over TCP;
# the role may create databases: the tests make one per run).
#
# Env:
#   PG_BASE=${BACKENDS_DIR:-/tmp/glimpse-backends}/postgres   PG_PORT=55432   PG_VERSION=15
#   PG_DB=glimpse PG_USER=glimpse PG_PASSWORD=glimpse
#   PG_FAST=1   fsync/synchronous_commit/full_page_writes off (test data only!)
#   PG_INSTALL=1   apt-get install postgresql when missing
# After it returns: source $PG_BASE/env  (DATABASE_URL, PG* variables for libpq)
set -euo pipefail

PG_BASE=${PG_BASE:-${BACKENDS_DIR:-/tmp/glimpse-backends}/postgres}
PG_PORT=${PG_PORT:-55432}
PG_VERSION=${PG_VERSION:-15}
PG_DB=${PG_DB:-glimpse}
PG_USER=${PG_USER:-glimpse}
PG_PASSWORD=${PG_PASSWORD:-glimpse}
PG_FAST=${PG_FAST:-1}
PG_INSTALL=${PG_INSTALL:-1}
PGBIN=/usr/lib/postgresql/$PG_VERSION/bin
DATA=$PG_BASE/data

T0=$(date +%s.%N)
stamp() { awk -v a="$(date +%s.%N)" -v b="$T0" -v m="$*" 'BEGIN{printf "[postgres-up %5.1fs] %s\n", a-b, m}'; }
die() { echo "postgres-up: ERROR: $*" >&2; exit 1; }

if [ ! -x "$PGBIN/postgres" ]; then
  [ "$PG_INSTALL" = 1 ] || die "$PGBIN/postgres missing and PG_INSTALL=0"
  stamp "installing postgresql-$PG_VERSION"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y --no-install-recommends "postgresql-$PG_VERSION" >/dev/null \
    || { apt-get update >/dev/null && apt-get install -y --no-install-recommends "postgresql-$PG_VERSION" >/dev/null; }
  T0=$(date +%s.%N)
fi
id postgres >/dev/null 2>&1 || die "no 'postgres' user (created by postgresql-common)"

# postgres refuses to run as root: everything below runs as the postgres user
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

if [ -s "$DATA/postmaster.pid" ] && as_pg "$PGBIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
  die "already running ($DATA); run postgres-down.sh first"
fi
rm -rf "$PG_BASE"
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
trap 'rc=$?; if [ $rc != 0 ]; then echo "postgres-up: failed, stopping it" >&2; PG_BASE="$PG_BASE" "$HERE/postgres-down.sh" >&2; fi' EXIT
trap 'exit 143' TERM INT   # so a killed CI step still runs the EXIT cleanup
mkdir -p "$PG_BASE"
chown postgres:postgres "$PG_BASE"
as_pg mkdir -p "$PG_BASE/run"

# trust on the unix socket (for this script / psql as postgres), scram on TCP
as_pg "$PGBIN/initdb" -D "$DATA" -U postgres -E UTF8 --locale=C.UTF-8 \
  --auth-local=trust --auth-host=scram-sha-256 --no-instructions --no-sync >"$PG_BASE/initdb.log" 2>&1 \
  || { cat "$PG_BASE/initdb.log"; die "initdb failed"; }
stamp "initdb done"

{
  echo "listen_addresses = '127.0.0.1'"
  echo "port = $PG_PORT"
  echo "unix_socket_directories = '$PG_BASE/run'"
  echo "max_connections = 200"
  echo "shared_buffers = 128MB"
  if [ "$PG_FAST" = 1 ]; then
    echo "fsync = off"
    echo "synchronous_commit = off"
    echo "full_page_writes = off"
  fi
} >> "$DATA/postgresql.conf"

as_pg "$PGBIN/pg_ctl" -D "$DATA" -l "$PG_BASE/postgres.log" -w -t 60 start >/dev/null
stamp "server started (pid $(head -1 "$DATA/postmaster.pid"))"

as_pg "$PGBIN/psql" -h "$PG_BASE/run" -p "$PG_PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 -q <<EOF
CREATE ROLE "$PG_USER" LOGIN CREATEDB PASSWORD '$PG_PASSWORD';
CREATE DATABASE "$PG_DB" OWNER "$PG_USER";
EOF
PGPASSWORD=$PG_PASSWORD "$PGBIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U "$PG_USER" -d "$PG_DB" \
  -Atc 'select 1' >/dev/null || die "TCP login as $PG_USER failed"

cat > "$PG_BASE/env" <<EOF
export DATABASE_URL=postgresql://$PG_USER:$PG_PASSWORD@127.0.0.1:$PG_PORT/$PG_DB
export PGHOST=127.0.0.1 PGPORT=$PG_PORT PGUSER=$PG_USER PGPASSWORD=$PG_PASSWORD PGDATABASE=$PG_DB
EOF
stamp "ready: source $PG_BASE/env  (postgresql://$PG_USER:***@127.0.0.1:$PG_PORT/$PG_DB)"
