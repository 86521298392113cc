"""How big each workload is: the full plan the figures are quoted from, and a quick one
that only proves the harness works end to end."""

from __future__ import annotations

from dataclasses import dataclass

MiB = 1 << 20
GiB = 1 << 30


@dataclass(frozen=True, slots=True)
class Plan:
    name: str
    single_size: int  # workload "transfer": one upload, then its download
    parallel_streams: int  # workload "parallel": this many uploads/downloads at once
    parallel_size: int
    metadata_ops: int  # workload "metadata": creates, then as many GETs, PATCHes, DELETEs
    metadata_concurrency: int
    list_images: int  # workload "list": images in the catalogue
    list_requests: tuple[tuple[int, int], ...]  # (limit, number of requests)
    list_concurrency: int
    rss_sizes: tuple[int, ...]  # workload "rss": one upload of each size
    auth_rounds: int  # workload "auth": rounds, each running every identity mode once
    auth_ops: int  # per round and mode: creates, then a GET of each
    auth_lists: int  # per round and mode: GET /v2/images?limit=25
    auth_concurrency: int
    metadefs_requests: int  # workload "metadefs": requests of each of its two reads
    burst_streams: int  # workload "burst": uploads (then downloads) at once
    burst_size: int
    slow_streams: int  # workload "slow": slow uploads at once
    slow_size: int


FULL = Plan(
    name="full",
    single_size=GiB,
    parallel_streams=8,
    parallel_size=128 * MiB,
    metadata_ops=500,
    metadata_concurrency=16,
    list_images=2000,
    list_requests=((25, 200), (1000, 40)),
    list_concurrency=4,
    rss_sizes=(GiB, 4 * GiB),
    auth_rounds=6,  # each mode twice in each place of the order
    auth_ops=2000,
    auth_lists=1000,
    auth_concurrency=16,
    metadefs_requests=1000,
    burst_streams=32,
    burst_size=64 * MiB,
    slow_streams=256,
    slow_size=4 * MiB,
)

QUICK = Plan(
    name="quick",
    single_size=64 * MiB,
    parallel_streams=8,
    parallel_size=16 * MiB,
    metadata_ops=80,
    metadata_concurrency=16,
    list_images=200,
    list_requests=((25, 40), (1000, 10)),
    list_concurrency=4,
    rss_sizes=(64 * MiB, 256 * MiB),
    auth_rounds=2,
    auth_ops=200,
    auth_lists=100,
    auth_concurrency=16,
    metadefs_requests=100,
    burst_streams=32,
    burst_size=4 * MiB,
    slow_streams=64,
    slow_size=MiB,
)


def size_label(size: int) -> str:
    """1073741824 → '1 GiB', 67108864 → '64 MiB'."""
    if size % GiB == 0:
        return f"{size // GiB} GiB"
    return f"{size / MiB:g} MiB"
