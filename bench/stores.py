"""Per store (file, rbd, s3 via Ceph RGW, swift): one and eight upload and download
streams and the server's peak RSS, glimpse beside Glance 33 configured on the same store
in the same run; then a 4 GiB upload of unknown size (chunked, no Content-Length) to S3.
With ``--cached`` both run their image cache (glimpse's ``image_cache_dir``, Glance's
``caching`` flavor) and each image is downloaded twice: the first read fills the cache,
the second is served from it.

The backends come from the environment, as the tests take them (``source $CEPH_BASE/env;
source $SWIFT_BASE/env``): ``CEPH_CONF``, ``S3_ENDPOINT``,
``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``, ``SWIFT_KEYSTONE_CREDENTIALS`` (a Swift
taking Keystone tokens, as Glance's swift store needs) or
``ST_AUTH``/``ST_USER``/``ST_KEY``. Each service has its own RBD pool (``glance-peer``,
``glimpse-bench``: create them first), bucket and container (created on the first
write). Glance is the peer of ``bench/peer-glance.sh`` (``PEER_DIR``, ``--glance-port``)
with ``GLANCE_EXTRA_CONF`` naming the store; its venv needs boto3, python-swiftclient
and the rados/rbd bindings (``.ci/backends/ceph-pybind-link.sh $PEER_DIR/glance-venv``).

Downloads are timed with ``curl`` (into /dev/null; status and length checked), their
bytes checked after by the Python client: that client, not the server, was the limit.
Each round starts each server fresh once per store, which one goes first alternating
from store to store and round to round; every image is deleted through the API before
the server stops, so nothing is left in the pools, buckets and containers.

    flock /tmp/glimpse-bench.lock .venv/bin/python -m bench.stores --glance-port 9396
    flock /tmp/glimpse-bench.lock .venv/bin/python -m bench.stores --stores s3 --rounds 1
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from bench.client import ImageClient, loop_factory
from bench.measure import PeakRss, Timer
from bench.pattern import start_offset
from bench.plan import GiB, MiB
from bench.servers import ROOT, GlanceServer, GlimpseServer, Server

STORES = ("file", "rbd", "s3", "swift")
RESULTS = ROOT / "bench" / "results"


def swift_account() -> dict[str, str]:
    """The Swift account both use: a Keystone project's when the Swift takes Keystone
    tokens (``SWIFT_KEYSTONE_CREDENTIALS``: Glance's swift store signs in only through
    Keystone), else tempauth's (``ST_*``)."""
    env = os.environ
    if env.get("SWIFT_KEYSTONE_CREDENTIALS"):
        credentials = json.loads(Path(env["SWIFT_KEYSTONE_CREDENTIALS"]).read_text())
        service = credentials["service"]
        return {"auth_address": credentials["auth_url"], "auth_version": "3",
                "user": f"{service['project_name']}:{service['username']}",
                "key": service["password"]}  # fmt: skip
    return {"auth_address": env.get("ST_AUTH", ""), "auth_version": "1",
            "user": env.get("ST_USER", ""), "key": env.get("ST_KEY", "")}  # fmt: skip


def glimpse_settings(store: str) -> dict[str, str]:
    env = os.environ
    sections: dict[str, dict[str, Any]] = {
        "rbd": {"type": "rbd", "rbd_store_pool": "glimpse-bench",
                "rbd_store_ceph_conf": env.get("CEPH_CONF", "")},
        "s3": {"type": "s3", "s3_store_host": env.get("S3_ENDPOINT", ""),
               "s3_store_access_key": env.get("AWS_ACCESS_KEY_ID", ""),
               "s3_store_secret_key": env.get("AWS_SECRET_ACCESS_KEY", ""),
               "s3_store_bucket": "glimpse-bench", "s3_store_create_bucket_on_put": True,
               "s3_store_bucket_url_format": "path"},
        "swift": {"type": "swift", "container": "glimpse-bench",
                  "create_container_on_put": True, **swift_account()},
    }  # fmt: skip
    if store == "file":
        return {}  # its own data directory's file store
    return {"GLIMPSE_STORES": json.dumps({store: sections[store]}), "GLIMPSE_DEFAULT_STORE": store}


def glance_conf(store: str, work: Path) -> str:
    """Options for Glance's [glance_store] (they follow, so win over, the file store's)."""
    env = os.environ
    if store == "file":
        return ""
    if store == "rbd":
        return (
            "stores = rbd\ndefault_store = rbd\nrbd_store_pool = glance-peer\n"
            f"rbd_store_user = admin\nrbd_store_ceph_conf = {env['CEPH_CONF']}\n"
        )
    if store == "s3":
        return (
            "stores = s3\ndefault_store = s3\n"
            f"s3_store_host = {env['S3_ENDPOINT']}\n"
            f"s3_store_access_key = {env['AWS_ACCESS_KEY_ID']}\n"
            f"s3_store_secret_key = {env['AWS_SECRET_ACCESS_KEY']}\n"
            "s3_store_bucket = glance-peer\ns3_store_create_bucket_on_put = true\n"
            "s3_store_bucket_url_format = path\n"
        )
    account = swift_account()
    accounts = work / "swift-accounts.conf"
    accounts.write_text(
        "[ref1]\n"
        + "".join(f"{key} = {value}\n" for key, value in account.items())
        + "user_domain_id = default\nproject_domain_id = default\n"
    )
    return (
        "stores = swift\ndefault_store = swift\nswift_store_container = glance-peer\n"
        f"swift_store_create_container_on_put = true\nswift_store_config_file = {accounts}\n"
        "default_swift_reference = ref1\n"
    )


class Phase:
    """Bytes over wall time of some transfers, the server's peak RSS meanwhile, and the
    CPU they cost per GiB: the server's own, this client's, and the whole machine's (the
    store's servers too) with how many of its cores were busy. Where the store's servers
    share the machine, the machine's cores cap what any image service can do."""

    def __init__(self, server: Server) -> None:
        self.server = server

    def run(
        self, size: int, work: Callable[[], Coroutine[Any, Any, list[bool]]]
    ) -> dict[str, float]:
        tree = self.server.tree()
        with (
            PeakRss(tree) as peak,
            Timer(tree) as span,
            asyncio.Runner(loop_factory=loop_factory()) as runner,
        ):
            oks = runner.run(work())
        moved = size * len(oks)
        return {"mb_s": moved / span.wall / 1e6, "peak_rss_mib": peak.peak / MiB,
                "server_cpu_s_gib": span.server_cpu / moved * GiB,
                "client_cpu_s_gib": span.client_cpu / moved * GiB,
                "machine_cpu_s_gib": span.machine_cpu / moved * GiB,
                "busy_cores": span.machine_cpu / span.wall,
                "failed": len(oks) - sum(oks)}  # fmt: skip


async def _create(client: ImageClient, count: int) -> list[str]:
    fields = {"disk_format": "raw", "container_format": "bare"}
    ids = [await client.create(fields) for _ in range(count)]
    assert all(ids), client.failure_samples
    return [i for i in ids if i]


def measure(server: Server, size: int, streams: int, again: bool = False) -> dict[str, Any]:
    """Uploads then downloads of ``streams`` images of ``size`` bytes at once (and the
    downloads a second time, if ``again``)."""
    ids: list[str] = []

    async def upload() -> list[bool]:
        async with ImageClient(server.url) as client:
            ids.extend(await _create(client, streams))
            oks = await asyncio.gather(
                *(client.upload(i, size, start_offset(n)) for n, i in enumerate(ids))
            )
            for image_id in ids:  # the upload is done when the image is active at its size
                image = await client.show(image_id) or {}
                if image.get("status") != "active" or image.get("size") != size:
                    raise RuntimeError(f"{server.name}: after upload {image}")
            return list(oks)

    async def download() -> list[bool]:
        async with ImageClient(server.url) as client:
            return list(await asyncio.gather(*(client.fetch(i, size) for i in ids)))

    async def verify() -> list[bool]:
        async with ImageClient(server.url) as client:
            return list(await asyncio.gather(
                *(client.download(i, size, start_offset(n)) for n, i in enumerate(ids))
            ))  # fmt: skip

    phase = Phase(server)
    found = {"upload": phase.run(size, upload), "download": phase.run(size, download), "ids": ids}
    if again:
        found["download_again"] = phase.run(size, download)
    # the bytes themselves, untimed (the timed reads check the status and the length)
    if phase.run(size, verify)["failed"]:
        raise RuntimeError(f"{server.name}: a download differs from its upload")
    return found


def delete_all(server: Server, ids: list[str]) -> None:
    async def go() -> None:
        async with ImageClient(server.url) as client:
            for image_id in ids:
                await client.delete(image_id)

    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        runner.run(go())


def one_store(
    server: Server, store: str, size: int, big: int, cached: bool = False
) -> dict[str, Any]:
    server.fresh()
    try:
        idle = server.tree().rss_bytes() / MiB
        single = measure(server, size, 1, cached)
        parallel = measure(server, size // 8, 8, cached)
        result = {"idle_rss_mib": idle, **{f"1x_{k}": v for k, v in single.items() if k != "ids"},
                  **{f"8x_{k}": v for k, v in parallel.items() if k != "ids"}}  # fmt: skip
        delete_all(server, single["ids"] + parallel["ids"])
        if big:
            chunked = measure(server, big, 1)
            result["big_upload"] = chunked["upload"]
            delete_all(server, chunked["ids"])
        return result
    finally:
        server.stop()


def table(runs: list[dict[str, Any]]) -> str:
    rows = ["| store | figure | Glance 33 | glimpse | ratio |", "|---|---|---|---|---|"]

    def span(values: list[float], fmt: str) -> str:
        low, high = min(values), max(values)
        return (
            format(low, fmt) if f"{low:{fmt}}" == f"{high:{fmt}}" else f"{low:{fmt}}-{high:{fmt}}"
        )

    figures = [("1x_upload", "mb_s", "1 upload MB/s"), ("1x_download", "mb_s", "1 download MB/s"),
               ("8x_upload", "mb_s", "8 uploads MB/s"), ("8x_download", "mb_s", "8 downloads MB/s"),
               ("1x_download_again", "mb_s", "1 cached download MB/s"),
               ("8x_download_again", "mb_s", "8 cached downloads MB/s"),
               ("1x_upload", "peak_rss_mib", "peak RSS MiB, 1 upload"),
               ("8x_upload", "peak_rss_mib", "peak RSS MiB, 8 uploads"),
               ("8x_download", "peak_rss_mib", "peak RSS MiB, 8 downloads"),
               ("1x_upload", "server_cpu_s_gib", "server CPU-s/GiB, 1 upload"),
               ("1x_upload", "client_cpu_s_gib", "client CPU-s/GiB, 1 upload"),
               ("1x_upload", "machine_cpu_s_gib", "machine CPU-s/GiB, 1 upload"),
               ("1x_upload", "busy_cores", "machine's busy cores, 1 upload"),
               ("big_upload", "mb_s", "4 GiB chunked upload MB/s"),
               ("big_upload", "peak_rss_mib", "peak RSS MiB, 4 GiB chunked upload")]  # fmt: skip
    for store in STORES:
        for phase, key, label in figures:
            got = {name: [r[store][name][phase][key] for r in runs
                          if phase in r.get(store, {}).get(name, {})]
                   for name in ("glance", "glimpse")}  # fmt: skip
            if not got["glance"] and not got["glimpse"]:
                continue
            ratio = ""
            if got["glance"] and got["glimpse"] and key != "busy_cores":
                a, b = (
                    sum(got["glance"]) / len(got["glance"]),
                    sum(got["glimpse"]) / len(got["glimpse"]),
                )
                ratio = f"{(b / a if key == 'mb_s' else a / b):.2f}x"
            fmt = ".0f" if key in ("mb_s", "peak_rss_mib") else ".2f"
            cells = [span(got[n], fmt) if got[n] else "-" for n in ("glance", "glimpse")]
            rows.append(f"| {store} | {label} | {cells[0]} | {cells[1]} | {ratio} |")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stores", default=",".join(STORES))
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--size-mib", type=int, default=1024, help="the single stream; 8 x 1/8")
    parser.add_argument("--big-gib", type=int, default=4, help="chunked upload to s3 (0: none)")
    parser.add_argument("--glance-port", type=int, default=9299)
    parser.add_argument("--target", choices=("both", "glance", "glimpse"), default="both")
    parser.add_argument("--cached", action="store_true", help="with the image cache: read twice")
    args = parser.parse_args()
    stores = [s for s in args.stores.split(",") if s]
    work = Path(tempfile.mkdtemp(prefix="glimpse-bench-stores-"))
    RESULTS.mkdir(parents=True, exist_ok=True)
    runs: list[dict[str, Any]] = []
    for rnd in range(args.rounds):
        run: dict[str, Any] = {}
        for index, store in enumerate(stores):
            extra = work / f"glance-{store}.conf"
            extra.write_text(glance_conf(store, work))
            glance = GlanceServer(args.glance_port)
            glance.env["GLANCE_EXTRA_CONF"] = str(extra)
            settings = glimpse_settings(store)
            if args.cached:
                glance.env["GLANCE_FLAVOR"] = "caching"
                settings["GLIMPSE_IMAGE_CACHE_DIR"] = str(work / f"cache-{store}-{rnd}")
            glimpse = GlimpseServer(RESULTS / f"glimpse-stores-{store}.log", settings)
            servers: list[Server] = [glance, glimpse]
            if (rnd + index) % 2:
                servers.reverse()
            run[store] = {}
            for server in servers:
                if args.target not in ("both", server.name):
                    continue
                big = args.big_gib << 30 if store == "s3" else 0
                print(f"round {rnd + 1}, {store}, {server.name}", flush=True)
                try:
                    run[store][server.name] = one_store(
                        server, store, args.size_mib * MiB, big, args.cached
                    )
                except Exception as exc:  # the other figures still count
                    run[store][server.name] = {"error": f"{type(exc).__name__}: {exc}"[:500]}
                problems = server.problems()
                if problems:
                    run[store][server.name]["problems"] = problems
                print(json.dumps(run[store][server.name]), flush=True)
        runs.append(run)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    (RESULTS / f"{stamp}-stores.json").write_text(json.dumps(runs, indent=1))
    print(table(runs))


if __name__ == "__main__":
    main()
