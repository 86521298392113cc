"""Memory bounded at any concurrency, measured on a real server process: many uploads
at once stay within the transfer budget (RSS sampled from /proc), and memory goes back
to its baseline after the burst; uploads into Swift hold none of its segments."""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx

from tests.support.server import ServerProcess
from tests.support.swift import SwiftServer

MiB = 1 << 20


def rss_of(pid: int) -> int:
    """The resident memory of ``pid`` and its children, in bytes."""
    total = 0
    for candidate in [pid, *_children(pid)]:
        try:
            for line in Path(f"/proc/{candidate}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except FileNotFoundError:
            pass
    return total


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        children = (task / "children").read_text().split()
        found += [int(c) for c in children]
    return found


class Sampler:
    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_of(self.pid))
            time.sleep(0.01)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def test_32_concurrent_uploads_stay_within_the_budget(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    server = ServerProcess(data, env={"GLIMPSE_TRANSFER_MEMORY_BUDGET": str(32 * MiB)})
    server.start()
    try:
        with httpx.Client(base_url=server.url, timeout=120) as client:
            ids = [
                client.post(
                    "/v2/images", json={"disk_format": "raw", "container_format": "bare"}
                ).json()["id"]
                for _ in range(32)
            ]
        body = os.urandom(16 * MiB)
        baseline = rss_of(server.pid)

        async def burst() -> list[int]:
            async with httpx.AsyncClient(base_url=server.url, timeout=120) as pool:
                headers = {"Content-Type": "application/octet-stream"}
                answers = await asyncio.gather(
                    *(pool.put(f"/v2/images/{i}/file", content=body, headers=headers) for i in ids)
                )
            return [a.status_code for a in answers]

        with Sampler(server.pid) as sampler:
            codes = asyncio.run(burst())
        assert codes == [204] * 32
        time.sleep(1)
        after = rss_of(server.pid)
    finally:
        server.stop()
    # unbudgeted, the blocks of 32 transfers at 8 MiB each would be 512 MiB; with a
    # 32 MiB budget the rest is the process's own (request buffers, hashing, threads),
    # which varies with how busy the machine is: bounds with room for that
    assert sampler.peak <= 256 * MiB, (baseline // MiB, sampler.peak // MiB)
    assert sampler.peak - baseline <= 160 * MiB, (baseline // MiB, sampler.peak // MiB)
    assert after - baseline <= 32 * MiB, (baseline // MiB, after // MiB)  # back to baseline


def test_chunked_uploads_to_swift_hold_no_segment_in_memory(
    tmp_path: Path, swift_server: SwiftServer, swift_container: str
) -> None:
    """Four uploads of unknown size into Swift's 200 MiB segments at once: each block
    goes out on the socket as it comes, so the server holds none of the segments."""
    data = tmp_path / "data"
    data.mkdir()
    stores = {"swift": swift_server.section(swift_container)}
    server = ServerProcess(
        data,
        env={"GLIMPSE_STORES": json.dumps(stores), "GLIMPSE_TRANSFER_MEMORY_BUDGET": str(32 * MiB)},
    )
    server.start()
    try:
        with httpx.Client(base_url=server.url, timeout=120) as client:
            ids = [
                client.post(
                    "/v2/images", json={"disk_format": "raw", "container_format": "bare"}
                ).json()["id"]
                for _ in range(5)
            ]
            # one small upload first: the Swift client and its connection are set up
            # (and, under coverage, their code measured) before the baseline
            warm = ids.pop()
            headers = {"Content-Type": "application/octet-stream"}
            put = client.put(f"/v2/images/{warm}/file", content=b"x" * MiB, headers=headers)
            assert put.status_code == 204
        block = os.urandom(MiB)
        baseline = rss_of(server.pid)

        async def chunked() -> AsyncIterator[bytes]:
            for _ in range(64):
                yield block

        async def burst() -> list[int]:
            async with httpx.AsyncClient(base_url=server.url, timeout=120) as pool:
                headers = {"Content-Type": "application/octet-stream"}
                answers = await asyncio.gather(
                    *(pool.put(f"/v2/images/{i}/file", content=chunked(), headers=headers)
                      for i in ids)
                )  # fmt: skip
            return [a.status_code for a in answers]

        with Sampler(server.pid) as sampler:
            codes = asyncio.run(burst())
        assert codes == [204] * 4
        sizes = [httpx.get(f"{server.url}/v2/images/{i}").json()["size"] for i in ids]
        assert sizes == [64 * MiB] * 4
    finally:
        server.stop()
    # buffered, one segment each would be 256 MiB; the budget is 32 (and the coverage
    # measurement of a CI run adds its own)
    assert sampler.peak - baseline <= 128 * MiB, (baseline // MiB, sampler.peak // MiB)
