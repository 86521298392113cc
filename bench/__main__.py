"""``python -m bench`` (what ``scripts/bench`` runs): every workload against Glance and
glimpse in one run, then the comparison table and ``bench/results/latest.json``.

Each workload starts from freshly emptied and restarted servers; the two servers take
turns going first from one workload to the next, so slow phases of a shared machine do
not always fall on the same one.

Workload ``auth`` sets glimpse's identity modes against its own noauth, not against
Glance: it runs last, once Glance is left as it was found, and ``--only auth`` does not
start or touch Glance at all.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.auth import AuthResult
from bench.auth import run as run_auth
from bench.client import ImageClient, loop_factory
from bench.measure import client_cpu_seconds
from bench.plan import FULL, QUICK, Plan
from bench.report import auth_table, compare, row_json, table, write_json
from bench.servers import BENCH_DIR, ROOT, GlanceServer, GlimpseServer, Server
from bench.workloads import WORKLOADS, Figure, Outcome, Workload


def say(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


SELF = ("auth",)  # workloads that set glimpse against itself, without Glance
ALL = (*WORKLOADS, *SELF)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="scripts/bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="small sizes: a smoke run, not figures")
    p.add_argument(
        "--only", action="append", metavar="NAME",
        help=f"run only these workloads (repeat or comma-separate): {', '.join(ALL)}",
    )  # fmt: skip
    p.add_argument("--target", choices=("both", "glimpse", "glance"), default="both")
    p.add_argument("--glance-port", type=int, default=9299)
    p.add_argument("--results", type=Path, default=BENCH_DIR / "results")
    args = p.parse_args(argv)
    names = [n.strip() for item in args.only or [] for n in item.split(",") if n.strip()]
    unknown = [n for n in names if n not in ALL]
    if unknown:
        p.error(f"unknown workload(s) {', '.join(unknown)}; choose from {', '.join(ALL)}")
    if args.target == "glance" and any(n in SELF for n in names):
        p.error(f"{', '.join(SELF)} measures glimpse only: not with --target glance")
    args.workloads = names or list(WORKLOADS if args.target == "glance" else ALL)
    return args


async def run_one(workload: Workload, server: Server, plan: Plan) -> tuple[Outcome, ImageClient]:
    client = ImageClient(server.url)
    async with client:
        try:
            outcome = await workload(client, server.tree(), plan)
        except Exception as exc:  # one broken workload must not end the run
            say(f"{server.name} CRASHED: {exc!r}")
            client.fail("workload", "crashed", repr(exc))
            outcome = Outcome()
    return outcome, client


def glance_metadefs() -> Path:
    """Glance's standard metadefs catalog, fetched from its sdist on PyPI (once)."""
    found = subprocess.run(
        [str(ROOT / ".ci" / "glance-metadefs.sh")], check=True, capture_output=True, text=True,
        env={**os.environ, "PYTHON": sys.executable},
    )  # fmt: skip
    return Path(found.stdout.strip())


def summary(figures: list[Figure]) -> str:
    """The headline figures only (rates and memory), for the progress line."""
    shown = [f for f in figures if f.unit in ("MB/s", "req/s", "MiB")]
    return "; ".join(f"{f.label.split(',')[0]} {f.value:.1f} {f.unit}" for f in shown)


def build_servers(args: argparse.Namespace) -> dict[str, Server] | None:
    servers: dict[str, Server] = {}
    if args.target in ("both", "glance"):
        glance = GlanceServer(args.glance_port)
        if reason := glance.conflict():
            say(reason)
            return None
        if glance.was_running:
            say(
                f"Glance already serves {glance.url}: it will be emptied and restarted, and "
                "anyone else's requests to it will skew the figures (a private instance: "
                "PEER_DIR=<new dir> PEER_VENV=<its glance-venv> --glance-port <free port>)"
            )
        servers["glance"] = glance
    if args.target in ("both", "glimpse"):
        servers["glimpse"] = GlimpseServer(args.results / "glimpse-server.log")
    return servers


Results = dict[str, dict[str, list[Figure]]]  # [workload][server]
Details = dict[str, dict[str, dict[str, Any]]]  # [workload][server] → notes, failures


def run_workloads(
    servers: dict[str, Server], names: list[str], plan: Plan
) -> tuple[Results, Details]:
    results: Results = {}
    details: Details = {}
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        for n, name in enumerate(names):
            say(f"{name}: fresh servers")
            for server in servers.values():
                server.fresh()
                if name == "metadefs":  # its reads need Glance's standard catalog
                    server.load_metadefs(glance_metadefs())
            order = list(servers) if n % 2 == 0 else list(reversed(servers))
            for server_name in order:
                server = servers[server_name]
                say(f"{name}: {server_name} …")
                t0 = time.perf_counter()
                outcome, client = runner.run(run_one(WORKLOADS[name], server, plan))
                say(f"{name}: {server_name} done in {time.perf_counter() - t0:.1f} s: "
                    f"{summary(outcome.figures)}")  # fmt: skip
                if client.failures:
                    say(f"{name}: {server_name} FAILED requests: {dict(client.failures)}")
                results.setdefault(name, {})[server_name] = outcome.figures
                details.setdefault(name, {})[server_name] = {
                    "notes": outcome.notes,
                    "failed_requests": dict(client.failures),
                    "failure_samples": client.failure_samples,
                    "server_log_problems": [],
                }
            for server_name, server in servers.items():  # logs: once both have run
                details[name][server_name]["server_log_problems"] = server.problems()
    return results, details


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    plan = QUICK if args.quick else FULL
    started = datetime.now(UTC)
    load_before = os.getloadavg()
    if load_before[0] > 1.0:
        say(f"load average {load_before[0]:.2f}: the machine is busy, figures will be noisy")
    peer = [name for name in args.workloads if name in WORKLOADS]
    servers = build_servers(args) if peer else {}  # no Glance unless a workload needs it
    if servers is None:
        return 2
    client_cpu0 = client_cpu_seconds()
    results: Results = {}
    details: Details = {}
    try:
        if peer:
            results, details = run_workloads(servers, peer, plan)
        described = {name: server.describe() for name, server in servers.items()}
    finally:
        for server in servers.values():
            server.finish()
    auth: AuthResult | None = None
    if "auth" in args.workloads:
        auth = run_auth(plan, args.results, say)
        details["auth"] = auth.details

    smoke = " (SMOKE RUN: sizes too small to quote)" if args.quick else ""
    rows = compare(results)
    if rows:
        print()
        print(f"glimpse vs OpenStack Glance — {plan.name} plan{smoke}")
        print(table(rows))
    if auth is not None:
        print()
        print(f"the cost of authentication: glimpse against its own noauth — {plan.name} "
              f"plan{smoke}")  # fmt: skip
        print(auth_table(auth.rows))
    problems = _problems(details)
    if problems:
        print("\nproblems seen:")
        print("\n".join(problems))
    document = {
        "started": started.isoformat(timespec="seconds"),
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
        "plan": asdict(plan),
        "workloads": args.workloads,
        "host": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "load_before": [round(x, 2) for x in load_before],
            "load_after": [round(x, 2) for x in os.getloadavg()],
            "client_cpu_s": round(client_cpu_seconds() - client_cpu0, 2),
        },
        "servers": described,
        "comparison": [row_json(row) for row in rows],
        "auth": auth.document if auth is not None else None,
        "details": details,
    }
    stamp = started.strftime("%Y%m%dT%H%M%SZ") + f"-{plan.name}"
    print(f"\nresults: {write_json(document, args.results, stamp)}")
    failed = any(info["failed_requests"] for w in details.values() for info in w.values())
    return 1 if failed else 0  # log lines alone are news, not a failed run


def _problems(details: Details) -> list[str]:
    lines = []
    for workload, by_server in details.items():
        for server, info in by_server.items():
            for what, count in info["failed_requests"].items():
                sample = info["failure_samples"].get(what, "")
                lines.append(f"  {workload} / {server}: {count} x {what}  {sample[:160]}")
            lines.extend(
                f"  {workload} / {server} log: {line[:200]}" for line in info["server_log_problems"]
            )
    return lines


if __name__ == "__main__":
    sys.exit(main())
