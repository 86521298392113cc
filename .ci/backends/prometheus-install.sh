#!/usr/bin/env bash
# prometheus-install.sh - make sure Debian's prometheus binary is there (for the metrics
# test, which runs its own Prometheus on a free port). Prints the binary's path.
set -euo pipefail
if ! command -v prometheus >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  # the package's service is never started: there is no systemd here, and the test
  # runs the binary itself
  apt-get install -y --no-install-recommends prometheus >/dev/null \
    || { apt-get update >/dev/null && apt-get install -y --no-install-recommends prometheus >/dev/null; }
fi
command -v prometheus
