# Sourced by the scripts: create or reuse the project's virtualenv with the extras asked.
# VENV (default .venv) and PYTHON (default python3) may be set by the caller.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
VENV=${VENV:-$ROOT/.venv}
PYTHON=${PYTHON:-python3}
ensure_venv() {  # ensure_venv EXTRAS  (e.g. "test" or "test,bench"; "" for none)
    local extras=$1 stamp
    if [ ! -x "$VENV/bin/python" ]; then
        echo "[glimpse] first run: creating $VENV and installing glimpse into it (a minute or two)" >&2
        "$PYTHON" -m venv "$VENV"
        "$VENV/bin/python" -m pip install -q --upgrade pip
    fi
    # reinstall only when pyproject.toml changed since the last install of these extras
    stamp="$VENV/.installed-$(echo "$extras" | tr ',' '-')-$(sha1sum pyproject.toml | cut -c1-12)"
    if [ ! -f "$stamp" ]; then
        echo "[glimpse] installing glimpse${extras:+ with [$extras]} into $VENV …" >&2
        if [ -n "$extras" ]; then
            "$VENV/bin/python" -m pip install -q -e ".[$extras]"
        else
            "$VENV/bin/python" -m pip install -q -e .
        fi
        touch "$stamp"
        echo "[glimpse] installed: $VENV/bin/glimpse" >&2
    fi
}
