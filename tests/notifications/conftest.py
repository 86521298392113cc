"""A real RabbitMQ (``.ci/backends/rabbitmq-up.sh``, run by ``scripts/test``) and a
consumer of the notifications glimpse sends to it."""

from __future__ import annotations

import contextlib
import json
import os
import time
import uuid
from collections.abc import Iterator
from typing import Any

import kombu
import pytest

RABBIT_URL = "rabbit://guest:guest@127.0.0.1:5672/"
AMQP_URL = "amqp://guest:guest@127.0.0.1:5672//"


class Consumer:
    """Every notification sent on one topic (Glance's exchange), in order."""

    def __init__(self, connection: kombu.Connection, topic: str) -> None:
        exchange = kombu.Exchange("glance", type="topic", durable=False)
        self.topic = topic
        self.events: list[dict[str, Any]] = []
        queues = [
            kombu.Queue(f"{topic}.{priority}", exchange, routing_key=f"{topic}.{priority}",
                        durable=False, auto_delete=False)
            for priority in ("info", "error")
        ]  # fmt: skip
        self._connection = connection
        self._consumer = connection.Consumer(queues, callbacks=[self._on], accept=["json"])
        self._queues = queues
        self._consumer.consume()

    def _on(self, body: Any, message: Any) -> None:
        envelope = body if isinstance(body, dict) else json.loads(body)
        self.events.append(json.loads(envelope["oslo.message"]))
        message.ack()

    def wait(self, count: int, timeout: float = 30.0) -> list[dict[str, Any]]:
        """At least ``count`` events (fails after ``timeout`` seconds without them)."""
        deadline = time.monotonic() + timeout
        while len(self.events) < count and time.monotonic() < deadline:
            with contextlib.suppress(TimeoutError):
                self._connection.drain_events(timeout=0.2)
        assert len(self.events) >= count, [e["event_type"] for e in self.events]
        return self.events

    def settle(self, seconds: float = 1.0) -> list[dict[str, Any]]:
        """What arrived, after ``seconds`` of waiting for more."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            with contextlib.suppress(TimeoutError):
                self._connection.drain_events(timeout=0.2)
        return self.events

    def close(self) -> None:
        self._consumer.cancel()
        for queue in self._queues:
            queue(self._connection.default_channel).delete()


@pytest.fixture(scope="session")
def rabbitmq() -> Iterator[kombu.Connection]:
    connection = kombu.Connection(AMQP_URL, connect_timeout=5)
    try:
        connection.connect()
    except Exception as exc:
        reason = f"no RabbitMQ on 127.0.0.1:5672 ({exc}); .ci/backends/rabbitmq-up.sh starts one"
        if os.environ.get("GLIMPSE_TEST_REQUIRE_RABBITMQ") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    yield connection
    connection.release()


@pytest.fixture
def consumer(rabbitmq: kombu.Connection) -> Iterator[Consumer]:
    made = Consumer(rabbitmq, f"glimpse-test-{uuid.uuid4().hex[:12]}")
    yield made
    made.close()
