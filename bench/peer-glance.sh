#!/usr/bin/env bash
# peer-glance.sh -- run the REAL OpenStack Glance (PyPI glance==33.0.0) as the
# performance peer for our Image API v2 implementation.
#
# A copy of the workplace recipe (shared/peer/peer-glance.sh), kept here so that
# the benchmark harness (bench/servers.py, run by scripts/bench) does not depend on
# anything outside the repository. The harness calls install (once), reset, start
# and stop with GLANCE_PORT=9299 (9292 is also glimpse's default port).
#
#   peer-glance.sh install   create $PEER_DIR/glance-venv (glance + uwsgi),
#                            write configs to $PEER_DIR/glance-etc, db_sync
#   peer-glance.sh start     (re)start Glance on 127.0.0.1:$GLANCE_PORT in the
#                            background, wait until it answers, PID file
#   peer-glance.sh stop      stop it (SIGTERM to the uWSGI master, by PID)
#   peer-glance.sh restart   stop + start
#   peer-glance.sh status    running? answering?
#   peer-glance.sh reset     stop, wipe DB + image store, db_sync again
#   GLANCE_DB_URL=postgresql+psycopg2://... peer-glance.sh start   run on another database (needs psycopg2 in the venv;
#                            reset does not empty it: drop and create it first)
#                            (do this before every benchmark run: soft-deleted
#                            rows stay in the images table and slow lists)
#
# How it runs: glance-api standalone (eventlet) was removed in 2026.x -- the
# console script only prints "Standalone glance-api is no longer supported".
# Production / devstack run the WSGI module glance.wsgi.api:application under
# uWSGI; we do the same, with devstack's uWSGI settings (lib/apache
# write_local_uwsgi_http_config): master, lazy-apps, enable-threads,
# http-socket, Connection: close, no keep-alive, buffer-size 65535,
# http-chunked-input ... Each uWSGI worker is one single-threaded process.
# No keystone: paste flavor unset => "default" pipeline with
# unauthenticated-context; legacy policy defaults so that context is allowed.
#
# WORKERS: devstack uses processes=$API_WORKERS = 2 on a 2-core box, but with
# SQLite two worker processes make Glance answer 500 "database is locked" on
# concurrent writes (oslo.db emits a deferred BEGIN; a SELECT-then-UPDATE
# transaction cannot upgrade its lock and SQLite fails it at once instead of
# waiting), and a DELETE that fails half-way leaves the image in status
# "deleted" but listed and undeletable.  So the default here is ONE worker,
# which is correct; GLANCE_WORKERS=2 gives devstack's layout (use it for the
# transfer workloads, or to show the failure).
#
# Env overrides: PEER_DIR ($HOME/.cache/glimpse-peer), GLANCE_VERSION (33.0.0),
#                GLANCE_WORKERS (1), GLANCE_PORT (9292),
#                PEER_VENV ($PEER_DIR/glance-venv; point a second PEER_DIR at an
#                existing install to run a private instance without reinstalling)
#                GLANCE_EXTRA_CONF (a file of options appended to [glance_store],
#                e.g. another default store; bench/stores.py writes one per store)
set -euo pipefail

PEER_DIR=${PEER_DIR:-$HOME/.cache/glimpse-peer}
VENV=${PEER_VENV:-$PEER_DIR/glance-venv}
ETC=$PEER_DIR/glance-etc
DATA=$PEER_DIR/glance-data
PIDFILE=$PEER_DIR/glance.pid
GLANCE_VERSION=${GLANCE_VERSION:-33.0.0}
GLANCE_WORKERS=${GLANCE_WORKERS:-1}
GLANCE_PORT=${GLANCE_PORT:-9292}
HOST=127.0.0.1
URL=http://$HOST:$GLANCE_PORT
PY=${PYTHON:-python3}

log() { echo "[peer-glance] $*" >&2; }

write_configs() {
    mkdir -p "$ETC" "$DATA/images" "$DATA/staging" "$DATA/locks" "$DATA/cache" "$DATA/log"
    cp "$VENV/etc/glance/glance-api-paste.ini" "$ETC/glance-api-paste.ini"
    cat > "$ETC/glance-api.conf" <<EOF
# Peer Glance (performance reference) -- no keystone, SQLite, filesystem store.
[DEFAULT]
debug = false
log_file = $DATA/log/glance-api.log
# Under uWSGI the listen address comes from glance-uwsgi.ini; bind_* only kept for reference.
bind_host = $HOST
bind_port = $GLANCE_PORT
public_endpoint = $URL
worker_self_reference_url = $URL
image_cache_dir = $DATA/cache/
node_staging_uri = file://$DATA/staging
show_image_direct_url = false

[database]
connection = ${GLANCE_DB_URL:-sqlite:///$DATA/glance.sqlite}

[glance_store]
stores = file,http
default_store = file
filesystem_store_datadir = $DATA/images/
$(if [ -n "${GLANCE_EXTRA_CONF:-}" ]; then cat "$GLANCE_EXTRA_CONF"; fi)

[paste_deploy]
# Empty flavor => "default" pipeline in glance-api-paste.ini, which uses
# unauthenticated-context (no keystone, every request is an admin context);
# GLANCE_FLAVOR=caching adds the image cache (image_cache_dir above).
flavor = ${GLANCE_FLAVOR:-}
config_file = $ETC/glance-api-paste.ini

[oslo_concurrency]
lock_path = $DATA/locks

[wsgi]
python_interpreter = $VENV/bin/python3

[oslo_policy]
# The default ("noauth") pipeline builds an unauthenticated context with no
# roles and no project.  Under the new secure-RBAC defaults (oslo.policy
# enforce_new_defaults=True since 2025) every image API call is then 403.
# Falling back to the legacy (deprecated) rules, which are "rule:default" == ""
# (allow), restores the classic unauthenticated behaviour.
enforce_new_defaults = false
enforce_scope = false
EOF
    cat > "$ETC/glance-uwsgi.ini" <<EOF
# uWSGI config for the peer Glance, modelled on devstack's
# write_local_uwsgi_http_config (lib/apache) as used by lib/glance,
# except that uWSGI's http-socket listens directly on $HOST:$GLANCE_PORT
# (devstack puts Apache mod_proxy in front; we do not).
[uwsgi]
module = glance.wsgi.api:application
virtualenv = $VENV
env = OS_GLANCE_CONFIG_DIR=$ETC
http-socket = $HOST:$GLANCE_PORT
# devstack: processes = \$API_WORKERS = max(2, nproc/4) -> 2 on this 2-core box;
# peer default 1 (GLANCE_WORKERS) because of SQLite lock errors, see peer-glance.sh
processes = $GLANCE_WORKERS
master = true
need-app = true
die-on-term = true
exit-on-reload = false
worker-reload-mercy = 80
enable-threads = true
thunder-lock = true
hook-master-start = unix_signal:15 gracefully_kill_them_all
buffer-size = 65535
add-header = Connection: close
lazy-apps = true
http-raw-body = true
http-chunked-input = true
http-auto-chunked = true
http-keepalive = false
socket-timeout = 30
start-time = %t
procname-prefix-spaced = glance-api
logto = $DATA/log/uwsgi.log
EOF
}

db_sync() {
    "$VENV/bin/glance-manage" --config-file "$ETC/glance-api.conf" db_sync >"$DATA/log/db_sync.log" 2>&1 \
        || { tail -20 "$DATA/log/db_sync.log" >&2; return 1; }
    log "db_sync ok"
}

cmd_install() {
    if [ ! -x "$VENV/bin/python3" ]; then
        "$PY" -m venv "$VENV"
        "$VENV/bin/pip" install -q --upgrade pip setuptools wheel
    fi
    "$VENV/bin/pip" install -q "glance==$GLANCE_VERSION" uwsgi
    write_configs
    db_sync
    log "installed: $("$VENV/bin/pip" show glance 2>/dev/null | awk '/^Version/{print "glance " $2}')," \
        "$("$VENV/bin/uwsgi" --version | sed 's/^/uwsgi /')"
}

pid_alive() {
    [ -f "$PIDFILE" ] || return 1
    local pid; pid=$(cat "$PIDFILE")
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
}

answers() {
    # any HTTP answer from the API (versions document) counts
    "$PY" - "$URL" <<'PYEOF'
import sys, urllib.request, urllib.error
try:
    urllib.request.urlopen(sys.argv[1] + "/v2/images?limit=1", timeout=2).read()
except urllib.error.HTTPError as e:
    sys.exit(0 if e.code < 500 else 1)
except Exception:
    sys.exit(1)
PYEOF
}

cmd_stop() {
    if pid_alive; then
        local pid; pid=$(cat "$PIDFILE")
        log "stopping uWSGI master pid $pid"
        kill -TERM "$pid"
        for _ in $(seq 1 100); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.2
        done
        if kill -0 "$pid" 2>/dev/null; then
            log "still alive after 20s, SIGKILL $pid"
            kill -KILL "$pid" || true
        fi
    else
        log "not running"
    fi
    rm -f "$PIDFILE"
}

cmd_start() {
    [ -x "$VENV/bin/uwsgi" ] || { log "no $VENV/bin/uwsgi -- run '$0 install' first"; exit 1; }
    write_configs   # cheap; makes GLANCE_WORKERS / GLANCE_PORT take effect
    if [ -n "${GLANCE_DB_URL:-}" ] || [ ! -f "$DATA/glance.sqlite" ]; then db_sync; fi
    if pid_alive; then cmd_stop; fi
    if answers; then log "something else already answers on $URL"; exit 1; fi
    mkdir -p "$DATA/log"
    # setsid: own session/process group, so the caller's terminal/job control
    # does not touch it; the uWSGI master is the PID we record.
    setsid "$VENV/bin/uwsgi" --ini "$ETC/glance-uwsgi.ini" </dev/null >/dev/null 2>&1 &
    local pid=$!
    echo "$pid" > "$PIDFILE"
    for _ in $(seq 1 120); do
        if ! kill -0 "$pid" 2>/dev/null; then
            log "uWSGI exited during start-up; tail of $DATA/log/uwsgi.log:"
            tail -30 "$DATA/log/uwsgi.log" >&2
            rm -f "$PIDFILE"; exit 1
        fi
        if answers; then
            log "Glance answers on $URL (uWSGI master pid $pid, $GLANCE_WORKERS workers)"
            return 0
        fi
        sleep 0.5
    done
    log "no answer after 60s; see $DATA/log/uwsgi.log"; exit 1
}

cmd_status() {
    if pid_alive; then
        local pid; pid=$(cat "$PIDFILE")
        echo "running: uWSGI master pid $pid; workers: $(pgrep -P "$pid" | tr '\n' ' ')"
        if answers; then echo "answers on $URL"; else echo "NOT answering on $URL"; exit 1; fi
    else
        echo "not running"; exit 3
    fi
}

cmd_reset() {
    cmd_stop
    rm -rf "$DATA/glance.sqlite" "$DATA/images" "$DATA/staging"
    mkdir -p "$DATA/images" "$DATA/staging"
    db_sync
}

case "${1:-}" in
    install) cmd_install ;;
    configure) write_configs ;;
    start) cmd_start ;;
    stop) cmd_stop ;;
    restart) cmd_stop; cmd_start ;;
    status) cmd_status ;;
    reset) cmd_reset ;;
    *) echo "usage: $0 {install|configure|start|stop|restart|status|reset}" >&2; exit 2 ;;
esac
