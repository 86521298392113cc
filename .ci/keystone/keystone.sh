#!/usr/bin/env bash
# A private Keystone for the Keystone-mode tests: Keystone 30.x from PyPI in its own
# virtualenv, under uWSGI (the pyuwsgi wheel: no compiler needed) on 127.0.0.1, SQLite,
# fernet tokens. Adapted from the workplace's conformance recipe.
#
#   keystone.sh install           create or reuse the virtualenv ($KEYSTONE_VENV)
#   keystone.sh up RUN_DIR        configure, bootstrap and start a new Keystone whose
#                                 config, data and logs live in RUN_DIR; set up roles,
#                                 the glimpse service user and test users; write
#                                 RUN_DIR/env (the GLIMPSE_TEST_KEYSTONE_* variables)
#   keystone.sh down RUN_DIR      stop it (SIGTERM to the uWSGI master's pid)
#   keystone.sh serve RUN_DIR PORT LOG
#                                 run one more uWSGI instance of that Keystone (same
#                                 database and keys) in the foreground; tests use it
#
# Env: KEYSTONE_VENV (default ${XDG_CACHE_HOME:-~/.cache}/glimpse/keystone-venv),
#      KEYSTONE_PORT (default: a free port), PYTHON (default python3).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
KEYSTONE_VENV=${KEYSTONE_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/glimpse/keystone-venv}
KEYSTONE_SPEC='keystone>=30,<31'
PYTHON=${PYTHON:-python3}

T0=$(date +%s.%N)
log() { awk -v a="$(date +%s.%N)" -v b="$T0" -v m="$*" 'BEGIN{printf "[keystone %5.1fs] %s\n", a-b, m}' >&2; }
die() { log "ERROR: $*"; exit 1; }

cmd_install() {
    mkdir -p "$(dirname "$KEYSTONE_VENV")"
    # one installer at a time: test runs on one machine share the virtualenv
    exec 9>"$KEYSTONE_VENV.lock"
    flock 9
    if [ ! -f "$KEYSTONE_VENV/.installed" ]; then
        log "installing $KEYSTONE_SPEC and pyuwsgi into $KEYSTONE_VENV"
        rm -rf "$KEYSTONE_VENV"
        "$PYTHON" -m venv "$KEYSTONE_VENV"
        "$KEYSTONE_VENV/bin/pip" install -q --upgrade pip
        "$KEYSTONE_VENV/bin/pip" install -q "$KEYSTONE_SPEC" pyuwsgi
        touch "$KEYSTONE_VENV/.installed"
        log "installed keystone $("$KEYSTONE_VENV/bin/python" -c \
            'import importlib.metadata as m; print(m.version("keystone"))')"
    fi
    exec 9>&-
}

write_config() {  # write_config RUN_DIR
    local run=$1
    cat > "$run/etc/keystone.conf" <<CONF
[DEFAULT]
log_file = $run/keystone.log

[database]
# one uWSGI worker thread: SQLite allows one writer
connection = sqlite:///$run/data/keystone.db?timeout=30

[token]
provider = fernet

[fernet_tokens]
key_repository = $run/data/fernet-keys

[fernet_receipts]
key_repository = $run/data/fernet-receipt-keys

[credential]
key_repository = $run/data/credential-keys

[identity]
# test deployment: cheap password hashing keeps logins fast
password_hash_rounds = 4

[cache]
enabled = true
backend = oslo_cache.dict

[oslo_policy]
# identity is plumbing here, not under test (as devstack's default)
enforce_scope = false
CONF
    # no socket, pidfile or log here: each instance passes its own (tests start a second)
    cat > "$run/etc/keystone-uwsgi.ini" <<INI
[uwsgi]
module = keystone.wsgi.api:application
master = true
processes = 1
threads = 1
enable-threads = true
lazy-apps = true
die-on-term = true
no-orphans = true
hook-master-start = unix_signal:15 gracefully_kill_them_all
buffer-size = 65535
add-header = Connection: close
INI
}

free_port() {
    "$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_http() {  # wait_http URL SECONDS
    "$PYTHON" - "$1" "$2" <<'PY'
import sys, time, urllib.request
deadline = time.monotonic() + float(sys.argv[2])
while time.monotonic() < deadline:
    try:
        urllib.request.urlopen(sys.argv[1], timeout=2).close()
        sys.exit(0)
    except OSError:
        time.sleep(0.2)
sys.exit(1)
PY
}

cmd_up() {
    local run=${1:?usage: keystone.sh up RUN_DIR} port url
    cmd_install
    run=$(mkdir -p "$run" && cd "$run" && pwd)
    [ ! -s "$run/uwsgi.pid" ] || die "$run already has a Keystone (down it first)"
    port=${KEYSTONE_PORT:-$(free_port)}
    url="http://127.0.0.1:$port/v3"
    mkdir -p "$run/etc" "$run/data"
    chmod 700 "$run/etc" "$run/data"
    write_config "$run"
    ln -sfn "$KEYSTONE_VENV" "$run/venv"
    manage() {
        PYTHONWARNINGS=ignore "$run/venv/bin/keystone-manage" \
            --config-file "$run/etc/keystone.conf" "$@" 2>>"$run/keystone-manage.log"
    }
    log "db_sync and key repositories"
    # ~2 s of imports each: the database and the key repositories side by side.
    # fernet_setup also makes the receipt repository (when it is another
    # directory), so receipt_setup must not run beside it: two writers of
    # fernet-receipt-keys/0.tmp fail one another.
    local pids=() pid
    manage db_sync & pids+=($!)
    (
        for repo in fernet receipt; do
            manage "${repo}_setup" --keystone-user "$(id -un)" --keystone-group "$(id -gn)" || exit
        done
    ) & pids+=($!)
    manage credential_setup --keystone-user "$(id -un)" --keystone-group "$(id -gn)" & pids+=($!)
    for pid in "${pids[@]}"; do
        if ! wait "$pid"; then
            tail -n 40 "$run/keystone-manage.log" "$run/keystone.log" >&2 || true
            die "keystone-manage failed (logs above)"
        fi
    done
    "$PYTHON" -c 'import sqlite3, sys; sqlite3.connect(sys.argv[1]).execute("PRAGMA journal_mode=WAL")' \
        "$run/data/keystone.db"
    "$PYTHON" -c 'import secrets; print(secrets.token_hex(16))' > "$run/etc/admin-password"
    log "bootstrap"
    manage bootstrap --bootstrap-username admin \
        --bootstrap-password "$(cat "$run/etc/admin-password")" \
        --bootstrap-project-name admin --bootstrap-role-name admin \
        --bootstrap-service-name keystone --bootstrap-region-id RegionOne \
        --bootstrap-public-url "$url" --bootstrap-internal-url "$url" --bootstrap-admin-url "$url"
    log "starting uWSGI on 127.0.0.1:$port"
    setsid "$HERE/keystone.sh" serve "$run" "$port" "$run/uwsgi.log" --pidfile "$run/uwsgi.pid" \
        </dev/null >/dev/null 2>&1 &
    if ! wait_http "$url" 60; then
        tail -n 30 "$run/uwsgi.log" >&2 || true
        cmd_down "$run"
        die "Keystone did not answer on $url"
    fi
    log "up (uWSGI master pid $(cat "$run/uwsgi.pid")); creating roles and users"
    "$KEYSTONE_VENV/bin/python" "$HERE/ks_admin.py" setup --auth-url "$url" \
        --admin-password-file "$run/etc/admin-password" --credentials "$run/etc/credentials.json" \
        || { cmd_down "$run"; die "setting up roles and users failed"; }
    cat > "$run/env" <<ENV
export GLIMPSE_TEST_KEYSTONE_URL=$url
export GLIMPSE_TEST_KEYSTONE_CREDENTIALS=$run/etc/credentials.json
export GLIMPSE_TEST_KEYSTONE_RUN_DIR=$run
ENV
    log "ready: $url (source $run/env)"
}

cmd_serve() {  # cmd_serve RUN_DIR PORT LOG [uwsgi options...]
    local run=${1:?usage: keystone.sh serve RUN_DIR PORT LOG} port=${2:?} logfile=${3:?}
    shift 3
    run=$(cd "$run" && pwd)
    # set here, not with uWSGI's "env": pyuwsgi's Python has read its environment already;
    # and run in RUN_DIR: uWSGI puts its working directory first on Python's path
    cd "$run"
    OS_KEYSTONE_CONFIG_FILES=$run/etc/keystone.conf exec "$run/venv/bin/uwsgi" \
        --ini "$run/etc/keystone-uwsgi.ini" --http-socket "127.0.0.1:$port" --logto "$logfile" "$@"
}

cmd_down() {
    local run=${1:?usage: keystone.sh down RUN_DIR} pid i
    [ -s "$run/uwsgi.pid" ] || { log "not running ($run)"; return 0; }
    pid=$(cat "$run/uwsgi.pid")
    if kill -TERM "$pid" 2>/dev/null; then
        for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
        kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
    fi
    rm -f "$run/uwsgi.pid"
    log "stopped (pid $pid)"
}

case "${1:-}" in
    install) cmd_install ;;
    up) cmd_up "${2:-}" ;;
    down) cmd_down "${2:-}" ;;
    serve) shift; cmd_serve "$@" ;;
    *) sed -n '2,17p' "$0" >&2; exit 2 ;;
esac
