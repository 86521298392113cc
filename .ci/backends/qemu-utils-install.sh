#!/usr/bin/env bash
# qemu-utils-install.sh - make sure Debian's qemu-img is there (the format-safety tests
# craft images with it). Prints the binary's path.
set -euo pipefail
if ! command -v qemu-img >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y --no-install-recommends qemu-utils >/dev/null \
    || { apt-get update >/dev/null && apt-get install -y --no-install-recommends qemu-utils >/dev/null; }
fi
command -v qemu-img
