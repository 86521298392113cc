"""Metadata rates on PostgreSQL: Glance 33 and glimpse on the same local PostgreSQL, and
glimpse on its embedded SQLite beside them, in one run.

    flock /tmp/glimpse-bench.lock .venv/bin/python -m bench.metadata_pg \
        [--images 1000] [--lists 300] [--glance-port 9299] [--only glance,pg,sqlite]

(``--only`` also sets the order in which the modes run.)

Each mode starts on an empty database (PostgreSQL: the database is dropped and created;
Glance's peer needs ``psycopg2-binary`` in its venv) and a fresh server, then, 16 in
flight: ``--images`` creates (a few properties and tags each), a GET of each, a PATCH
(``replace /name``) of each, ``--lists`` ``GET /v2/images?limit=25``, ``--lists``
filtered lists (``disk_format=qcow2&tag=group-3&sort_key=name&sort_dir=asc&limit=25``)
and a DELETE of each; after the creates each PostgreSQL database is ``ANALYZE``d (as
autovacuum would soon do), outside the figures. CPU is the server's whole process tree
per request. Writes ``bench/results/metadata-pg-latest.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson
import psycopg

from bench.client import ImageClient, loop_factory, run_concurrently
from bench.measure import ProcessTree, Timer, percentile
from bench.servers import GlanceServer, GlimpseServer, Server
from bench.workloads import _catalogue_image

ROOT = Path(__file__).resolve().parent.parent
OPS = ("create", "get", "patch", "list", "list filtered", "delete")
FILTERED = "disk_format=qcow2&tag=group-3&sort_key=name&sort_dir=asc&limit=25"
CONCURRENCY = 16


def recreate(server_url: str, name: str) -> str:
    """Drop and create database ``name``; its URL."""
    with psycopg.connect(f"{server_url}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{server_url}/{name}"


async def _list(client: ImageClient, query: str) -> bool:
    ok, data, _ = await client._call("list", "GET", f"/v2/images?{query}")
    if ok and "limit=25" in query and len(orjson.loads(data)["images"]) != 25:
        return client.fail("list", "wrong count", query)
    return ok


def analyze(url: str) -> None:
    """``ANALYZE`` a database, as autovacuum would soon after the creates: without
    statistics PostgreSQL plans the filtered list as nested loops over every image."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("ANALYZE")


async def measure(
    client: ImageClient, tree: ProcessTree, images: int, lists: int, settle: Callable[[], None]
) -> Any:
    figures: dict[str, dict[str, float]] = {}
    async with client:
        warm = await client.create(_catalogue_image(99999))
        if warm is None:
            raise RuntimeError("could not create an image")
        await client.get(warm)
        await client.patch(warm, "warm")
        await _list(client, "limit=1")  # fewer than 25: its count is not checked
        await client.delete(warm)
        created: list[str] = []

        async def create(i: int) -> bool:
            image_id = await client.create(_catalogue_image(i))
            if image_id is not None:
                created.append(image_id)
            return image_id is not None

        async def patch(image_id: str) -> bool:
            return await client.patch(image_id, f"renamed-{image_id[:8]}")

        steps: list[tuple[str, Callable[[Any], Awaitable[bool]], Callable[[], list[Any]]]] = [
            ("create", create, lambda: list(range(images))),
            ("get", client.get, lambda: list(created)),
            ("patch", patch, lambda: list(created)),
            ("list", lambda _: _list(client, "limit=25"), lambda: list(range(lists))),
            ("list filtered", lambda _: _list(client, FILTERED), lambda: list(range(lists))),
            ("delete", client.delete, lambda: list(created)),
        ]
        for op, call, items in steps:
            with Timer(tree) as span:
                latencies, ok = await run_concurrently(items(), CONCURRENCY, call)
            if op == "create":
                settle()  # outside the figures
            ordered = sorted(latencies)
            figures[op] = {
                "requests": len(latencies), "succeeded": ok, "rps": ok / span.wall,
                "p50_ms": percentile(ordered, 50) * 1000, "p99_ms": percentile(ordered, 99) * 1000,
                "cpu_ms": span.server_cpu * 1000 / max(1, len(latencies)),
            }  # fmt: skip
    return figures


def glimpse_on(url: str | None, results: Path, name: str) -> GlimpseServer:
    settings = {"GLIMPSE_DATABASE_URL": url} if url else {}
    return GlimpseServer(results / f"glimpse-{name}.log", settings)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--lists", type=int, default=300)
    parser.add_argument("--glance-port", type=int, default=9299)
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432")
    parser.add_argument("--only", default="glance,pg,sqlite")
    args = parser.parse_args()
    modes = args.only.split(",")
    results = ROOT / "bench" / "results"
    results.mkdir(exist_ok=True)
    document: dict[str, Any] = {"images": args.images, "lists": args.lists,
                                "concurrency": CONCURRENCY, "filtered": FILTERED}  # fmt: skip
    glance_url = recreate(args.pg, "glance_bench_pg").replace("postgresql:", "postgresql+psycopg2:")
    os.environ["GLANCE_DB_URL"] = glance_url
    make: dict[str, Callable[[], Server]] = {
        "glance": lambda: GlanceServer(args.glance_port),
        "pg": lambda: glimpse_on(f"{args.pg}/glimpse_bench_pg", results, "pg"),
        "sqlite": lambda: glimpse_on(None, results, "sqlite"),
    }
    servers = {mode: make[mode]() for mode in modes}  # run in the order given
    try:
        with asyncio.Runner(loop_factory=loop_factory()) as runner:
            for mode, server in servers.items():
                if mode == "pg":
                    url = recreate(args.pg, "glimpse_bench_pg")
                    subprocess.run(
                        [sys.executable, "-m", "glimpse", "db", "upgrade"],
                        env={**os.environ, "GLIMPSE_DATABASE_URL": url}, check=True,
                        stdout=subprocess.DEVNULL,
                    )  # fmt: skip
                if mode == "glance":
                    recreate(args.pg, "glance_bench_pg")
                server.fresh()
                time.sleep(1.0)
                client = ImageClient(server.url)
                name = {"glance": "glance_bench_pg", "pg": "glimpse_bench_pg"}.get(mode)
                settle = (lambda n=name: analyze(f"{args.pg}/{n}")) if name else (lambda: None)
                measured = measure(client, server.tree(), args.images, args.lists, settle)
                document[mode] = runner.run(measured)
                document[f"{mode}_failures"] = dict(client.failures)
                server.stop()
                print(mode, {op: round(f["rps"]) for op, f in document[mode].items()}, flush=True)
    finally:
        for server in servers.values():
            server.finish() if isinstance(server, GlanceServer) else server.stop()
    print(f"\n| {'op':14} | Glance 33 PG | glimpse PG | ratio | glimpse SQLite | CPU ms/req "
          "Glance / PG / SQLite | PG/SQLite CPU |")  # fmt: skip
    for op in OPS:
        g, p, s = (document.get(m, {}).get(op, {}) for m in ("glance", "pg", "sqlite"))
        ratio = p.get("rps", 0) / g["rps"] if g.get("rps") else float("nan")
        cpu = s.get("cpu_ms") and p.get("cpu_ms", 0) / s["cpu_ms"]
        print(f"| {op:14} | {g.get('rps', 0):12,.1f} | {p.get('rps', 0):10,.0f} | {ratio:4.1f}x "
              f"| {s.get('rps', 0):14,.0f} | {g.get('cpu_ms', 0):.1f} / {p.get('cpu_ms', 0):.2f} / "
              f"{s.get('cpu_ms', 0):.2f} | {cpu or 0:.1f}x |")  # fmt: skip
    (results / "metadata-pg-latest.json").write_text(json.dumps(document, indent=2))
    failures = {k: v for k, v in document.items() if k.endswith("_failures") and v}
    if failures:
        print("failures:", failures)


if __name__ == "__main__":
    main()
