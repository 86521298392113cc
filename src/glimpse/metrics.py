"""Prometheus metrics (prometheus_client): what every layer counts, in one place.

Metrics are recorded only when ``metrics`` is not ``"off"`` (:func:`enable`); every
recording helper is then a few dictionary look-ups. With several workers, each process
writes its values to files under ``PROMETHEUS_MULTIPROC_DIR`` (prometheus_client's
multiprocess mode, set up by ``glimpse serve`` before any worker starts) and a scrape
adds them up; gauges of things in flight are summed over live processes only.

This module sits at the bottom: it imports nothing of glimpse.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

_LATENCY = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)

REQUESTS = Counter("glimpse_http_requests", "HTTP requests answered", ["route", "method", "status"])
REQUEST_SECONDS = Histogram(
    "glimpse_http_request_duration_seconds",
    "Time from a request's arrival to the end of its response",
    ["route", "method", "status"],
    buckets=_LATENCY,
)
RECEIVED = Counter("glimpse_http_received_bytes", "Request body bytes received", ["route"])
SENT = Counter("glimpse_http_sent_bytes", "Response body bytes sent", ["route"])
TRANSFERS = Gauge(
    "glimpse_transfers_in_flight",
    "Image uploads and downloads in progress",
    ["direction"],
    multiprocess_mode="livesum",
)
STORE_OPERATIONS = Counter(
    "glimpse_store_operations",
    "Store operations by store, operation and outcome",
    ["store", "operation", "outcome"],
)
STORE_SECONDS = Histogram(
    "glimpse_store_operation_duration_seconds",
    "Store operation latency (a read: opening until the last byte)",
    ["store", "operation"],
    buckets=_LATENCY,
)
DB_CONNECTIONS_IN_USE = Gauge(
    "glimpse_db_connections_in_use",
    "Database connections checked out of the pools",
    multiprocess_mode="livesum",
)
TOKEN_CACHE = Counter("glimpse_token_cache_lookups", "Validated-token cache look-ups", ["result"])
NOTIFICATIONS = Counter(
    "glimpse_notifications", "Notifications by outcome (sent, failed, dropped)", ["outcome"]
)

VERIFY_FINDINGS = Gauge(
    "glimpse_verify_findings",
    "What the last glimpse verify found, by kind (corrupted, missing, orphan)",
    ["kind"],
    multiprocess_mode="mostrecent",
)
VERIFY_BYTES = Counter("glimpse_verify_read_bytes", "Bytes re-read by glimpse verify")

_enabled = False


def enable() -> None:
    global _enabled
    _enabled = True


def enabled() -> bool:
    return _enabled


@contextlib.contextmanager
def transfer(direction: str) -> Iterator[None]:
    """An upload or download in flight for the duration of the block."""
    if not _enabled:
        yield
        return
    gauge = TRANSFERS.labels(direction)
    gauge.inc()
    try:
        yield
    finally:
        gauge.dec()


async def transferring(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """``chunks`` of a download, counted in flight until the last one."""
    with transfer("download"):
        async for chunk in chunks:
            yield chunk


def observe_request(
    route: str, method: str, status: int, seconds: float, received: int, sent: int
) -> None:
    code = str(status) if status else "none"
    REQUESTS.labels(route, method, code).inc()
    REQUEST_SECONDS.labels(route, method, code).observe(seconds)
    if received:
        RECEIVED.labels(route).inc(received)
    if sent:
        SENT.labels(route).inc(sent)


def record_verification(kind: str, count: int) -> None:
    if _enabled:
        VERIFY_FINDINGS.labels(kind).set(count)


def count_verified_bytes(count: int) -> None:
    if _enabled:
        VERIFY_BYTES.inc(count)


def count_token_lookup(hit: bool) -> None:
    if _enabled:
        TOKEN_CACHE.labels("hit" if hit else "miss").inc()


def count_notification(outcome: str) -> None:
    if _enabled:
        NOTIFICATIONS.labels(outcome).inc()


def connection_checked_out(delta: int) -> None:
    if _enabled:
        DB_CONNECTIONS_IN_USE.inc(delta)


class StoreTimer:
    """Times one store operation and counts its outcome (the error's class name)."""

    __slots__ = ("_operation", "_started", "_store")

    def __init__(self, store: str, operation: str) -> None:
        self._store, self._operation = store, operation
        self._started = time.perf_counter()

    def done(self, error: BaseException | None = None) -> None:
        if not _enabled:
            return
        outcome = "ok" if error is None else type(error).__name__
        STORE_OPERATIONS.labels(self._store, self._operation, outcome).inc()
        STORE_SECONDS.labels(self._store, self._operation).observe(
            time.perf_counter() - self._started
        )


async def timed_read(chunks: AsyncIterator[bytes], timer: StoreTimer) -> AsyncIterator[bytes]:
    """``chunks``, timing the read until its last byte (or its failure)."""
    try:
        async for chunk in chunks:
            yield chunk
    except BaseException as exc:
        timer.done(exc)
        raise
    timer.done()


# --------------------------------------------------------------------- scraping


class ImageCounts(Collector):
    """``glimpse_images{status}``, counted in the database at scrape time by
    ``count(): iterable of (status, n)``."""

    def __init__(self, count: Callable[[], Iterable[tuple[str, int]]]) -> None:
        self._count = count

    def collect(self) -> Iterable[GaugeMetricFamily]:
        family = GaugeMetricFamily("glimpse_images", "Images by status", labels=["status"])
        for status, number in self._count():
            family.add_metric([status], number)
        yield family


class _ThisProcess(Collector):
    def collect(self) -> Iterable[Metric]:
        yield from REGISTRY.collect()


class JobCounts(Collector):
    """``glimpse_jobs{status}`` and ``glimpse_jobs_oldest_pending_age_seconds``, read at
    scrape time by ``backlog()``: (tasks by status, age of the oldest pending or None)."""

    def __init__(self, backlog: Callable[[], tuple[dict[str, int], float | None]]) -> None:
        self._backlog = backlog

    def collect(self) -> Iterable[GaugeMetricFamily]:
        by_status, oldest = self._backlog()
        jobs = GaugeMetricFamily("glimpse_jobs", "Tasks (jobs) by status", labels=["status"])
        for status in ("pending", "processing", "success", "failure"):
            jobs.add_metric([status], by_status.get(status, 0))
        yield jobs
        yield GaugeMetricFamily(
            "glimpse_jobs_oldest_pending_age_seconds",
            "How long the oldest pending task has waited (0: none waits)",
            value=oldest or 0.0,
        )


def registry(extra: Iterable[Collector] = ()) -> CollectorRegistry:
    """What a scrape reads: every worker's values (multiprocess mode) or this
    process's, plus ``extra`` collectors."""
    found = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        MultiProcessCollector(found)  # type: ignore[no-untyped-call]
    else:
        found.register(_ThisProcess())
    for collector in extra:
        found.register(collector)
    return found


def exposition(found: CollectorRegistry) -> tuple[bytes, str]:
    return generate_latest(found), CONTENT_TYPE_LATEST
