"""Sending notifications without ever holding up a request.

A request only puts its notification on a bounded in-memory queue (dropping it, counted
and logged, when the queue is full); one thread per process sends them through
oslo.messaging. A broker that is down, slow or unreachable costs the sender thread its
retries, never a request its time. Each process (worker) has its own thread, started on
first use.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from glimpse import metrics
from glimpse.config import Settings

log = logging.getLogger(__name__)

_STOP = object()


class Notifier:
    """Emits ``event_type`` with ``payload``; does nothing when notifications are off."""

    def __init__(self, settings: Settings) -> None:
        self.enabled = settings.notification_driver != "noop"
        self._settings = settings
        self._disabled = frozenset(settings.disabled_notifications)
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=settings.notification_queue_size)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.sent = 0
        self.failed = 0
        self.dropped = 0
        self._last_drop_log = 0.0

    def wants(self, event_type: str) -> bool:
        """Whether ``event_type`` is sent (skip building its payload when not)."""
        if not self.enabled:
            return False
        return event_type not in self._disabled and event_type.split(".")[0] not in self._disabled

    def send(self, event_type: str, payload: Callable[[], dict[str, Any]]) -> None:
        """Emit ``event_type``, building its payload only if it is sent."""
        if self.wants(event_type):
            self.emit(event_type, payload())

    def emit(self, event_type: str, payload: dict[str, Any] | str, priority: str = "info") -> None:
        if not self.wants(event_type):
            return
        if self._thread is None:
            self._start()
        try:
            self._queue.put_nowait((event_type, payload, priority))
        except queue.Full:
            self.dropped += 1
            metrics.count_notification("dropped")
            now = time.monotonic()
            if now - self._last_drop_log > 10:
                self._last_drop_log = now
                log.warning(
                    "notification queue full (%d): dropped %s (%d dropped so far)",
                    self._queue.maxsize, event_type, self.dropped,
                )  # fmt: skip

    @property
    def backlog(self) -> int:
        return self._queue.qsize()

    def _start(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="glimpse-notifier", daemon=True
                )
                self._thread.start()

    def close(self, timeout: float = 5.0) -> None:
        """Send what is queued (for at most ``timeout`` seconds), then stop."""
        if self._thread is None:
            return
        with contextlib.suppress(queue.Full):
            self._queue.put(_STOP, timeout=timeout)
        self._thread.join(timeout)

    def _run(self) -> None:
        try:
            send = self._sender()
        except Exception:
            log.exception("notifications are off: oslo.messaging could not be set up")
            self.enabled = False
            return
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            event_type, payload, priority = item
            try:
                send(event_type, payload, priority)
                self.sent += 1
                metrics.count_notification("sent")
            except Exception as exc:  # the broker's trouble never reaches a request
                self.failed += 1
                metrics.count_notification("failed")
                log.warning("notification %s not sent: %s", event_type, exc)

    def _sender(self) -> Any:
        # only here: oslo.messaging (and kombu) cost memory and start-up time
        import oslo_messaging
        from oslo_config import cfg

        settings = self._settings
        conf = cfg.ConfigOpts()
        conf([], project="glimpse", default_config_files=[], default_config_dirs=[])
        transport = oslo_messaging.get_notification_transport(
            conf, url=settings.notification_transport_url
        )
        conf.set_override("control_exchange", settings.notification_control_exchange)
        notifier = oslo_messaging.Notifier(
            transport,
            publisher_id=settings.notification_publisher_id,
            driver=settings.notification_driver,
            topics=settings.notification_topics,
            retry=settings.notification_retry,
        )

        def send(event_type: str, payload: dict[str, Any] | str, priority: str) -> None:
            getattr(notifier, priority)({}, event_type, payload)

        return send
