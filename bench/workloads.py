"""The five workloads, each one coroutine that runs against one server and returns its
figures. The same code runs against Glance and glimpse; only the URL and the process tree
differ.

Every figure has a stable ``id`` (the report keys targets on it) and a label that names
the sizes actually used, so a ``--quick`` run cannot be mistaken for a full one.
"""

from __future__ import annotations

import asyncio
import math
import os
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from bench.client import ImageClient, run_concurrently
from bench.measure import PeakRss, ProcessTree, Span, Timer, percentile
from bench.pattern import md5_of, start_offset
from bench.plan import Plan, size_label

MB = 1_000_000  # throughput is in decimal MB/s, as network figures usually are
MiB = 1 << 20


@dataclass(frozen=True, slots=True)
class Figure:
    id: str
    label: str
    unit: str
    value: float  # NaN when the operation failed
    higher_is_better: bool


@dataclass(slots=True)
class Outcome:
    figures: list[Figure] = field(default_factory=list)
    notes: dict[str, Any] = field(default_factory=dict)  # raw timings, client CPU, ...

    def add(self, id: str, label: str, unit: str, value: float, higher: bool) -> None:
        self.figures.append(Figure(id, label, unit, value, higher))


Workload = Callable[[ImageClient, ProcessTree, Plan], Awaitable[Outcome]]


def image_fields(name: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "disk_format": "raw", "container_format": "bare", **extra}


async def _active(client: ImageClient, image_id: str, size: int, md5: str | None) -> bool:
    """After an upload: the image must be active, of the right size (and checksum)."""
    image = await client.show(image_id)
    if image is None:
        return False
    got = (image.get("status"), image.get("size"), image.get("checksum") if md5 else None)
    if got != ("active", size, md5):
        return client.fail("upload", "wrong result", f"status/size/checksum {got}")
    return True


def _transfer_figures(out: Outcome, id: str, label: str, nbytes: int, span: Span, ok: bool) -> None:
    mbps = nbytes / MB / span.wall if ok else math.nan
    cpu_per_gb = span.server_cpu / (nbytes / 1e9) if ok else math.nan
    out.add(f"{id}.mbps", label, "MB/s", mbps, higher=True)
    out.add(f"{id}.cpu_per_gb", label, "server CPU-s/GB", cpu_per_gb, higher=False)
    out.notes[id] = {
        "bytes": nbytes,
        "seconds": round(span.wall, 3),
        "server_cpu_s": round(span.server_cpu, 3),
        "client_cpu_s": round(span.client_cpu, 3),
        "ok": ok,
    }


def drop_caches() -> bool:
    """Empty the page cache (root only), so that the next read comes from the disk."""
    os.sync()
    try:
        with open("/proc/sys/vm/drop_caches", "w") as control:
            control.write("3\n")
    except OSError:
        return False
    return True


async def _cold_download(
    out: Outcome, tree: ProcessTree, id: str, label: str, downloads: list[Coroutine[Any, Any, bool]]
) -> None:
    """The same downloads again, from a cold page cache (the figure is left out if the
    caches cannot be dropped here)."""
    if not drop_caches():
        for pending in downloads:
            pending.close()
        out.notes[id] = "skipped: cannot write /proc/sys/vm/drop_caches"
        return
    with Timer(tree) as down:
        done = await asyncio.gather(*downloads)
    nbytes = out.notes[id.removesuffix("_cold")]["bytes"]
    _transfer_figures(out, id, f"{label}, cold cache", nbytes, down, all(done))


async def transfer(client: ImageClient, tree: ProcessTree, plan: Plan) -> Outcome:
    """One upload of ``single_size``, then one download of it right away (the page cache
    holds what it holds after the upload), then one from a cold page cache; each a
    single stream."""
    out = Outcome()
    size, start = plan.single_size, start_offset(0)
    md5 = md5_of(size, start)  # before timing: it costs the client ~1.5 s per GiB
    image_id = await client.create(image_fields("bench-transfer"))
    if image_id is None:
        raise RuntimeError("could not create an image")
    with Timer(tree) as up:
        ok = await client.upload(image_id, size, start)
    ok = ok and await _active(client, image_id, size, md5)
    _transfer_figures(out, "transfer.upload", f"upload {size_label(size)}", size, up, ok)
    with Timer(tree) as down:
        ok = ok and await client.fetch(image_id, size)
    ok = ok and await client.download(image_id, size, start)  # the bytes, untimed
    label = f"download {size_label(size)}"
    _transfer_figures(out, "transfer.download", label, size, down, ok)
    if ok:
        cold = [client.fetch(image_id, size)]
        await _cold_download(out, tree, "transfer.download_cold", label, cold)
    await client.delete(image_id)
    return out


async def parallel(client: ImageClient, tree: ProcessTree, plan: Plan) -> Outcome:
    """``parallel_streams`` uploads at once, then as many downloads; total throughput."""
    out = Outcome()
    n, size = plan.parallel_streams, plan.parallel_size
    starts = [start_offset(i + 1) for i in range(n)]
    md5s = [md5_of(size, s) for s in starts]
    ids = await asyncio.gather(*(client.create(image_fields(f"bench-par-{i}")) for i in range(n)))
    if None in ids:
        raise RuntimeError("could not create the images")
    image_ids = [i for i in ids if i is not None]
    label = f"{n} x {size_label(size)}"
    with Timer(tree) as up:
        done = await asyncio.gather(
            *(client.upload(i, size, s) for i, s in zip(image_ids, starts, strict=True))
        )
    checked = await asyncio.gather(
        *(_active(client, i, size, m) for i, m in zip(image_ids, md5s, strict=True))
    )
    ok = all(done) and all(checked)
    _transfer_figures(out, "parallel.upload", f"upload {label}", n * size, up, ok)
    with Timer(tree) as down:
        if ok:  # nothing to download otherwise
            done = await asyncio.gather(*(client.fetch(i, size) for i in image_ids))
    ok = ok and all(done)
    if ok:  # the bytes, untimed
        verified = await asyncio.gather(
            *(client.download(i, size, s) for i, s in zip(image_ids, starts, strict=True))
        )
        ok = all(verified)
    _transfer_figures(out, "parallel.download", f"download {label}", n * size, down, ok)
    if ok:
        cold = [client.fetch(i, size) for i in image_ids]
        await _cold_download(out, tree, "parallel.download_cold", f"download {label}", cold)
    await asyncio.gather(*(client.delete(i) for i in image_ids))
    return out


def _request_figures(
    out: Outcome, id: str, label: str, latencies: list[float], succeeded: int, span: Span
) -> None:
    ordered = sorted(latencies)
    out.add(f"{id}.rps", label, "req/s", succeeded / span.wall, higher=True)
    out.add(f"{id}.p50", label, "p50 ms", percentile(ordered, 50) * 1000, higher=False)
    out.add(f"{id}.p99", label, "p99 ms", percentile(ordered, 99) * 1000, higher=False)
    cpu_ms = span.server_cpu * 1000 / max(1, len(latencies))
    out.add(f"{id}.cpu_ms", label, "server CPU ms/req", cpu_ms, higher=False)
    out.notes[id] = {
        "requests": len(latencies),
        "succeeded": succeeded,
        "seconds": round(span.wall, 3),
        "server_cpu_s": round(span.server_cpu, 3),
        "client_cpu_s": round(span.client_cpu, 3),
    }


async def metadata(client: ImageClient, tree: ProcessTree, plan: Plan) -> Outcome:
    """``metadata_ops`` creates, then a GET, a PATCH and a DELETE of each image created,
    ``metadata_concurrency`` requests in flight at a time."""
    out = Outcome()
    # warm-up outside the figures: first requests load code and fill caches
    warm = await client.create(image_fields("bench-warm-up"))
    if warm is None:
        raise RuntimeError("could not create an image")
    await client.get(warm)
    await client.patch(warm, "bench-warm")
    await client.delete(warm)

    created: list[str] = []

    async def create(i: int) -> bool:
        image_id = await client.create(image_fields(f"bench-meta-{i}"))
        if image_id is not None:
            created.append(image_id)
        return image_id is not None

    async def patch(image_id: str) -> bool:
        return await client.patch(image_id, f"bench-renamed-{image_id[:8]}")

    steps: list[tuple[str, Callable[[Any], Awaitable[bool]], list[Any]]] = [
        ("create", create, list(range(plan.metadata_ops))),
        ("get", client.get, created),
        ("patch", patch, created),
        ("delete", client.delete, created),
    ]
    for op, call, items in steps:
        items = list(items)  # created is filled by the create step
        with Timer(tree) as span:
            latencies, ok = await run_concurrently(items, plan.metadata_concurrency, call)
        label = f"{op}, {plan.metadata_concurrency} concurrent"
        _request_figures(out, f"metadata.{op}", label, latencies, ok, span)
    return out


def _catalogue_image(i: int) -> dict[str, Any]:
    # a few properties and tags each, like a real catalogue
    return image_fields(
        f"bench-list-{i:05d}",
        disk_format="qcow2" if i % 3 else "raw",
        tags=["bench", f"group-{i % 10}"],
        os_distro="ubuntu" if i % 2 else "debian",
        os_version=str(20 + i % 5),
        hw_disk_bus="virtio",
        min_ram=512 * (i % 4),
    )


async def listing(client: ImageClient, tree: ProcessTree, plan: Plan) -> Outcome:
    """``GET /v2/images?limit=N`` over a catalogue of ``list_images`` images."""
    out = Outcome()
    with Timer(tree) as setup:
        _, made = await run_concurrently(
            range(plan.list_images), 16, lambda i: _created(client, _catalogue_image(i))
        )
    out.notes["catalogue"] = {
        "images": made, "seconds": round(setup.wall, 3), "server_cpu_s": round(setup.server_cpu, 3)
    }  # fmt: skip
    if made != plan.list_images:
        raise RuntimeError(f"only {made} of {plan.list_images} catalogue images were created")
    for limit, requests in plan.list_requests:
        expect = min(limit, plan.list_images)
        await client.list(limit, expect)  # warm-up, not counted

        async def page(_: int, limit: int = limit, expect: int = expect) -> bool:
            return await client.list(limit, expect)

        with Timer(tree) as span:
            latencies, ok = await run_concurrently(range(requests), plan.list_concurrency, page)
        label = f"list limit={limit} of {plan.list_images}, {plan.list_concurrency} concurrent"
        _request_figures(out, f"list.{limit}", label, latencies, ok, span)
    return out


async def _created(client: ImageClient, fields: dict[str, Any]) -> bool:
    return await client.create(fields) is not None


async def rss(client: ImageClient, tree: ProcessTree, plan: Plan) -> Outcome:
    """Peak resident memory of the whole server while it takes one upload of each size."""
    out = Outcome()
    peaks: list[float] = []
    for n, size in enumerate(plan.rss_sizes):
        image_id = await client.create(image_fields(f"bench-rss-{n}"))
        if image_id is None:
            raise RuntimeError("could not create an image")
        before = tree.rss_bytes()
        with PeakRss(tree) as peak, Timer(tree) as span:
            ok = await client.upload(image_id, size, start_offset(100 + n))
        ok = ok and await _active(client, image_id, size, None)
        await client.delete(image_id)
        peaks.append(peak.peak / MiB if ok else math.nan)
        label = f"peak RSS, {size_label(size)} upload"
        out.add(f"rss.{n}", label, "MiB", peaks[-1], higher=False)
        out.notes[f"rss.{n}"] = {
            "bytes": size,
            "rss_before_mib": round(before / MiB, 1),
            "peak_mib": round(peak.peak / MiB, 1),
            "samples": peak.samples,
            "upload_mbps": round(size / MB / span.wall, 1) if ok else None,
            "client_cpu_s": round(span.client_cpu, 3),
        }
    if len(peaks) > 1:
        sizes = f"{size_label(plan.rss_sizes[0])} → {size_label(plan.rss_sizes[-1])}"
        growth = peaks[-1] - peaks[0]
        out.add("rss.growth", f"peak RSS growth, {sizes}", "MiB", growth, higher=False)
    return out


async def burst(client: ImageClient, tree: ProcessTree, plan: Plan) -> Outcome:
    """Peak resident memory while ``burst_streams`` uploads of ``burst_size`` run at
    once, then as many downloads; and the RSS a second after, against the one before."""
    out = Outcome()
    n, size = plan.burst_streams, plan.burst_size
    ids = [await client.create(image_fields(f"bench-burst-{i}")) for i in range(n)]
    if None in ids:
        raise RuntimeError("could not create the images")
    image_ids = [i for i in ids if i is not None]
    before = tree.rss_bytes()
    label = f"{n} x {size_label(size)}"
    with PeakRss(tree) as up:
        ups = await asyncio.gather(
            *(client.upload(i, size, start_offset(200 + k)) for k, i in enumerate(image_ids))
        )
    out.add("burst.upload", f"peak RSS, {label} uploads at once", "MiB",
            up.peak / MiB if all(ups) else math.nan, higher=False)  # fmt: skip
    with PeakRss(tree) as down:
        downs = await asyncio.gather(
            *(client.download(i, size, start_offset(200 + k)) for k, i in enumerate(image_ids))
        )
    out.add("burst.download", f"peak RSS, {label} downloads at once", "MiB",
            down.peak / MiB if all(downs) else math.nan, higher=False)  # fmt: skip
    await asyncio.sleep(1)
    after = tree.rss_bytes()
    out.add("burst.after", "RSS a second after the burst", "MiB", after / MiB, higher=False)
    out.notes["burst"] = {"rss_before_mib": round(before / MiB, 1)}
    await asyncio.gather(*(client.delete(i) for i in image_ids))
    return out


async def slow(client: ImageClient, tree: ProcessTree, plan: Plan) -> Outcome:
    """Peak resident memory while ``slow_streams`` clients upload at once, each sending
    64 KiB slices with a pause between them (a crowd of slow links)."""
    out = Outcome()
    n, size = plan.slow_streams, plan.slow_size
    ids = [await client.create(image_fields(f"bench-slow-{i}")) for i in range(n)]
    if None in ids:
        raise RuntimeError("could not create the images")
    image_ids = [i for i in ids if i is not None]
    with PeakRss(tree) as up:
        ups = await asyncio.gather(
            *(
                client.upload(i, size, start_offset(300 + k), chunk=64 * 1024, pause=0.05)
                for k, i in enumerate(image_ids)
            )
        )
    label = f"{n} slow x {size_label(size)}"
    out.add("slow.upload", f"peak RSS, {label} uploads at once", "MiB",
            up.peak / MiB if all(ups) else math.nan, higher=False)  # fmt: skip
    out.notes["slow"] = {"ok": sum(ups), "of": n}
    await asyncio.gather(*(client.delete(i) for i in image_ids))
    return out


async def metadefs(client: ImageClient, tree: ProcessTree, plan: Plan) -> Outcome:
    """With Glance's standard catalog loaded (``bench/__main__.py`` loads it): the
    namespaces that apply to images, and the largest namespace, 16 requests in flight."""
    out = Outcome()
    reads = (
        ("for_images", "namespaces for images",
         "/v2/metadefs/namespaces?resource_types=OS::Glance::Image", "OS::Compute::Watchdog"),
        ("largest", f"namespace {LARGEST_NAMESPACE}",
         f"/v2/metadefs/namespaces/{LARGEST_NAMESPACE}", "objects"),
    )  # fmt: skip
    for id, label, path, expect in reads:
        await client.metadefs(path, expect)  # warm-up, not counted
        with Timer(tree) as span:
            latencies, ok = await run_concurrently(
                range(plan.metadefs_requests), plan.metadata_concurrency,
                lambda _, path=path, expect=expect: client.metadefs(path, expect),
            )  # fmt: skip
        label = f"{label}, {plan.metadata_concurrency} concurrent"
        _request_figures(out, f"metadefs.{id}", label, latencies, ok, span)
    return out


# the largest namespace of Glance's standard catalog (by its file's size)
LARGEST_NAMESPACE = "OS::Software::DBMS"

WORKLOADS: dict[str, Workload] = {
    "transfer": transfer,
    "parallel": parallel,
    "metadata": metadata,
    "list": listing,
    "rss": rss,
    "metadefs": metadefs,
    "burst": burst,
    "slow": slow,
}
