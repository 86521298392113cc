#!/usr/bin/env bash
# Prints the directory of Glance's own metadefs catalog (etc/metadefs of the glance source
# distribution on PyPI), downloading it once into ${XDG_CACHE_HOME:-~/.cache}/glimpse.
# The project ships no copy of it: the tests and the conformance run load it from here,
# as devstack loads it with `glance-manage db_load_metadefs`.
set -euo pipefail
SPEC=${GLANCE_SDIST_SPEC:-glance==33.0.0}
PYTHON=${PYTHON:-python3}
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/glimpse/glance-sdist
mkdir -p "$CACHE"
exec 9>"$CACHE.lock"
flock 9
found=$(ls -d "$CACHE"/glance-*/etc/metadefs 2>/dev/null | tail -n 1 || true)
if [ -z "$found" ]; then
    "$PYTHON" -m pip download -q --no-deps --no-binary :all: "$SPEC" -d "$CACHE" >&2
    tar -xzf "$(ls "$CACHE"/glance-*.tar.gz | tail -n 1)" -C "$CACHE" --wildcards '*/etc/metadefs/*'
    found=$(ls -d "$CACHE"/glance-*/etc/metadefs | tail -n 1)
fi
echo "$found"
