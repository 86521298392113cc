#!/usr/bin/env bash
# nginx-install.sh - make sure Debian's nginx is there (the many-nodes tests put two
# glimpse nodes behind it). Only the binary is used: each test runs its own nginx with
# its own configuration on a free port of 127.0.0.1. Prints the binary's path.
set -euo pipefail
if ! command -v nginx >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y --no-install-recommends nginx-light >/dev/null \
    || { apt-get update >/dev/null && apt-get install -y --no-install-recommends nginx-light >/dev/null; }
  # the package starts the distribution's nginx on port 80: not ours to run
  if command -v systemctl >/dev/null && systemctl is-active --quiet nginx 2>/dev/null; then
    systemctl stop nginx || true
  elif [ -f /run/nginx.pid ]; then
    kill "$(cat /run/nginx.pid)" 2>/dev/null || true
  fi
fi
command -v nginx
