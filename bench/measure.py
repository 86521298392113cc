"""What is measured on a server's process tree (CPU time, resident memory) and of
requests (latency percentiles), plus the client's own CPU, to show it is not the limit."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

import psutil


class ProcessTree:
    """A server's processes: the one we know by PID and all its descendants
    (uWSGI master + workers for Glance; uvicorn and any workers for glimpse)."""

    def __init__(self, pid: int) -> None:
        self.root = psutil.Process(pid)

    def processes(self) -> list[psutil.Process]:
        return [self.root, *self.root.children(recursive=True)]

    def cpu_seconds(self) -> float:
        """user + system time of every live process, plus that of exited children that
        were waited for (counted once, by their parent), so nothing slips through."""
        total = 0.0
        for proc in self.processes():
            try:
                t = proc.cpu_times()
            except psutil.NoSuchProcess:
                continue
            total += t.user + t.system + t.children_user + t.children_system
        return total

    def rss_bytes(self, processes: Sequence[psutil.Process] | None = None) -> int:
        total = 0
        for proc in processes if processes is not None else self.processes():
            try:
                total += proc.memory_info().rss
            except psutil.NoSuchProcess:
                continue
        return total


class PeakRss:
    """Samples a tree's summed RSS on a thread every ``interval`` seconds and keeps the
    peak. The process list is refreshed only now and then: listing children scans /proc."""

    def __init__(self, tree: ProcessTree, interval: float = 0.025) -> None:
        self.tree = tree
        self.interval = interval
        self.peak = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="peak-rss", daemon=True)

    def _run(self) -> None:
        processes = self.tree.processes()
        while not self._stop.is_set():
            if self.samples % 40 == 39:
                processes = self.tree.processes()
            self.peak = max(self.peak, self.tree.rss_bytes(processes))
            self.samples += 1
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.tree.rss_bytes())


def client_cpu_seconds() -> float:
    t = psutil.Process().cpu_times()
    return float(t.user + t.system)


def machine_cpu_seconds() -> float:
    """CPU time every process of the machine has spent (a store's own servers too)."""
    t = psutil.cpu_times()
    return float(t.user + t.nice + t.system + t.irq + t.softirq)


@dataclass(slots=True)
class Span:
    """Wall time, server CPU, client CPU and the whole machine's CPU over one timed
    phase."""

    wall: float = 0.0
    server_cpu: float = 0.0
    client_cpu: float = 0.0
    machine_cpu: float = 0.0


class Timer:
    """``with Timer(tree) as span:`` — fills ``span`` when the block ends."""

    def __init__(self, tree: ProcessTree) -> None:
        self.tree = tree
        self.span = Span()

    def __enter__(self) -> Span:
        self._cpu0 = self.tree.cpu_seconds()
        self._client0 = client_cpu_seconds()
        self._machine0 = machine_cpu_seconds()
        self._t0 = time.perf_counter()
        return self.span

    def __exit__(self, *exc: object) -> None:
        self.span.wall = time.perf_counter() - self._t0
        self.span.server_cpu = self.tree.cpu_seconds() - self._cpu0
        self.span.client_cpu = client_cpu_seconds() - self._client0
        self.span.machine_cpu = machine_cpu_seconds() - self._machine0


def percentile(sorted_values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile of an already sorted sequence."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[rank - 1]
