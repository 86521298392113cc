"""What running glimpse for real costs per request: metrics and notifications, each on
and off, in one run, with Glance 33 (notifications off, as shipped) beside them.

    flock /tmp/glimpse-bench.lock .venv/bin/python -m bench.operating [--quick]

Modes: ``glance``; glimpse ``plain`` (both off), ``metrics`` (``metrics = "listener"``,
not scraped during the run), ``notifications`` (``messagingv2`` to the RabbitMQ on
127.0.0.1:5672, on a topic nobody consumes: the broker takes and drops each one) and
``both``. Each round starts every mode fresh, the order rotating, and runs the ``auth``
workload's round (warm-up, creates, a GET of each, lists of 25, 16 in flight); the
figures are pooled over the rounds. CPU is the server's whole process tree per request.
Writes ``bench/results/operating-latest.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import time
import uuid
from pathlib import Path
from typing import Any

from bench.auth import OPS, Pooled, one_round
from bench.client import ImageClient, loop_factory
from bench.plan import FULL, QUICK, Plan
from bench.servers import GlanceServer, GlimpseServer, Server, free_port

RABBIT = "rabbit://guest:guest@127.0.0.1:5672/"
MEMBER = {"X-Project-Id": "bench", "X-User-Id": "bench", "X-Roles": "member,reader"}


def glimpse_modes(results: Path) -> dict[str, GlimpseServer]:
    topic = f"bench-{uuid.uuid4().hex[:8]}"
    notifying = {
        "GLIMPSE_NOTIFICATION_DRIVER": "messagingv2",
        "GLIMPSE_NOTIFICATION_TRANSPORT_URL": RABBIT,
        "GLIMPSE_NOTIFICATION_TOPICS": f'["{topic}"]',
    }
    metrics = {"GLIMPSE_METRICS": "listener"}
    modes = {"plain": {}, "metrics": metrics, "notifications": notifying,
             "both": {**metrics, **notifying}}  # fmt: skip
    servers = {}
    for mode, settings in modes.items():
        server = GlimpseServer(results / f"glimpse-operating-{mode}.log", settings)
        if "GLIMPSE_METRICS" in settings:  # each its own free listener port
            server.settings["GLIMPSE_METRICS_PORT"] = str(free_port())
        servers[mode] = server
    return servers


async def _measure(client: ImageClient, server: Server, plan: Plan) -> Any:
    async with client:
        return await one_round(client, server.tree(), plan)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--glance-port", type=int, default=9299)
    parser.add_argument("--ops", type=int, help="creates (and GETs) per round and mode")
    parser.add_argument("--lists", type=int, help="lists per round and mode")
    args = parser.parse_args()
    plan = QUICK if args.quick else FULL
    plan = dataclasses.replace(
        plan, auth_ops=args.ops or min(plan.auth_ops, 600),
        auth_lists=args.lists or min(plan.auth_lists, 300),
    )  # fmt: skip
    rounds = args.rounds or (2 if args.quick else 3)
    results = Path(__file__).parent / "results"
    servers: dict[str, Server] = {"glance": GlanceServer(args.glance_port),
                                  **glimpse_modes(results)}  # fmt: skip
    pooled = {mode: {op: Pooled() for op in OPS} for mode in servers}
    failures: dict[str, int] = {}
    order = list(servers)
    try:
        with asyncio.Runner(loop_factory=loop_factory()) as runner:
            for r in range(rounds):
                for mode in order[r % len(order) :] + order[: r % len(order)]:
                    server = servers[mode]
                    server.fresh()
                    headers = {} if mode == "glance" else dict(MEMBER)
                    client = ImageClient(server.url, headers=headers)
                    time.sleep(1.0)
                    measured = runner.run(_measure(client, server, plan))
                    for what, count in client.failures.items():
                        failures[f"{mode}: {what}"] = failures.get(f"{mode}: {what}", 0) + count
                    if mode != "glance":
                        server.stop()
                    for op, (latencies, ok, span) in measured.items():
                        pooled[mode][op].add(latencies, ok, span)
                    print(f"round {r + 1}/{rounds} {mode}: " + "; ".join(
                        f"{op} {pooled[mode][op].round_rps[-1]:,.0f} req/s" for op in OPS
                    ), flush=True)  # fmt: skip
    finally:
        for server in servers.values():
            if isinstance(server, GlanceServer):
                server.finish()
            else:
                server.stop()
    rows = []
    print(f"\n{'op':8} {'mode':14} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} "
          f"{'CPU ms/req':>11} {'vs plain':>9} {'vs Glance':>10}")  # fmt: skip
    for op in OPS:
        plain, glance = pooled["plain"][op], pooled["glance"][op]
        for mode in servers:
            f = pooled[mode][op]
            row = {
                "op": op, "mode": mode, "rps": round(f.rps, 1), "p50_ms": round(f.ms(50), 3),
                "p99_ms": round(f.ms(99), 3), "cpu_ms_per_req": round(f.cpu_ms, 3),
                "cpu_ms_added_vs_plain": round(f.cpu_ms - plain.cpu_ms, 3),
                "rps_vs_plain": round(f.rps / plain.rps, 3),
                "rps_vs_glance": round(f.rps / glance.rps, 2),
            }  # fmt: skip
            rows.append(row)
            ratios = f"{row['rps_vs_plain']:8.2f}x {row['rps_vs_glance']:9.1f}x"
            print(f"{op:8} {mode:14} {f.rps:9,.0f} {f.ms(50):8.2f} {f.ms(99):8.2f} "
                  f"{f.cpu_ms:11.3f} {ratios}")  # fmt: skip
    document = {"plan": plan.name, "rounds": rounds, "concurrency": plan.auth_concurrency,
                "ops_per_round": plan.auth_ops, "lists_per_round": plan.auth_lists,
                "rows": rows, "failed_requests": failures}  # fmt: skip
    results.mkdir(exist_ok=True)
    (results / "operating-latest.json").write_text(json.dumps(document, indent=2))
    if failures:
        print("failures:", failures)


if __name__ == "__main__":
    main()
