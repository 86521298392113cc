#!/usr/bin/env bash
# rabbitmq-up.sh - make sure a RabbitMQ answers on 127.0.0.1:5672 (guest/guest) for the
# notification tests: use the one running, else install Debian's rabbitmq-server when
# missing and start it detached (no systemd needed). Prints nothing on success but the
# line it logged.
#
# Env: RABBIT_INSTALL=1 (apt-get install rabbitmq-server when missing)
set -euo pipefail
RABBIT_INSTALL=${RABBIT_INSTALL:-1}
answers() { timeout 2 bash -c '</dev/tcp/127.0.0.1/5672' 2>/dev/null; }

if answers; then echo "rabbitmq-up: using the RabbitMQ on 127.0.0.1:5672"; exit 0; fi
if ! command -v rabbitmq-server >/dev/null && [ ! -x /usr/sbin/rabbitmq-server ]; then
  [ "$RABBIT_INSTALL" = 1 ] || { echo "rabbitmq-up: rabbitmq-server missing" >&2; exit 1; }
  echo "rabbitmq-up: installing rabbitmq-server (Debian)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y --no-install-recommends rabbitmq-server >/dev/null \
    || { apt-get update >/dev/null && apt-get install -y --no-install-recommends rabbitmq-server >/dev/null; }
fi
# listen on loopback only; guest may log in from there (RabbitMQ's default)
export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 RABBITMQ_NODE_PORT=5672
/usr/sbin/rabbitmq-server -detached >/dev/null 2>&1 || /usr/sbin/rabbitmq-server -detached
for _ in $(seq 120); do
  if answers && /usr/sbin/rabbitmqctl -q await_startup >/dev/null 2>&1; then
    echo "rabbitmq-up: RabbitMQ started on 127.0.0.1:5672"; exit 0
  fi
  sleep 1
done
echo "rabbitmq-up: RabbitMQ did not come up on 127.0.0.1:5672" >&2
exit 1
