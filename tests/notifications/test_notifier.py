"""The notifier's promise: emitting never waits for the broker, whatever it does."""

from __future__ import annotations

import time
from pathlib import Path

from glimpse.config import Settings
from glimpse.notifications.notifier import Notifier
from tests.support.tcp_proxy import TcpProxy


def test_off_unless_a_driver_is_set(tmp_path: Path) -> None:
    notifier = Notifier(Settings(data_dir=tmp_path))
    assert not notifier.wants("image.create")
    notifier.emit("image.create", {})
    notifier.close()
    assert notifier.backlog == 0


def test_disabled_types_and_groups(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path,
        notification_driver="messagingv2",
        disabled_notifications=["image.send", "task"],
    )
    notifier = Notifier(settings)
    assert notifier.wants("image.create")
    assert not notifier.wants("image.send")
    assert not notifier.wants("task.run")


def test_a_hung_broker_fills_the_queue_and_the_rest_is_dropped(tmp_path: Path) -> None:
    proxy = TcpProxy(("127.0.0.1", 5672))
    proxy.stalled = True  # takes connections, never answers
    proxy.start()
    try:
        settings = Settings(
            data_dir=tmp_path,
            notification_driver="messagingv2",
            notification_transport_url=f"rabbit://guest:guest@127.0.0.1:{proxy.port}/",
            notification_queue_size=5,
        )
        notifier = Notifier(settings)
        started = time.monotonic()
        for _ in range(200):
            notifier.emit("image.create", {"id": "x"})
        emitting = time.monotonic() - started
        assert notifier.dropped >= 200 - 5 - 1  # the sender may have taken one
        assert emitting < 1.0, emitting  # put on a queue or dropped: never a wait
        notifier.close(timeout=0.5)  # bounded, even with the sender stuck
    finally:
        proxy.cut()
