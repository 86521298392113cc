"""Workload ``auth``: what authentication costs glimpse, set against glimpse itself.

The same create / get / list (limit 25) run three times, one per identity mode:

- ``noauth``: no token; the identity headers ``X-Project-Id``, ``X-User-Id`` and
  ``X-Roles: member,reader`` make the caller an ordinary project member;
- ``builtin``: glimpse's own identity; the client logs in once as a member user and sends
  the token on every request;
- ``keystone``: a private, real Keystone; the client's token is a member's from Keystone,
  and glimpse's first request (the warm-up) validates it and caches the result.

Each mode runs on a fresh server with secure-RBAC policy defaults (also in noauth, whose
default is Glance's legacy rules), so the policy work is the same and only authentication
differs. Over ``auth_rounds`` rounds the order of the modes rotates, so a noisy phase of
the machine does not always hit the same one; each mode's figures are pooled over the
rounds and set against noauth's: the issue's target is ≥ 0.8x its req/s.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.client import ImageClient, loop_factory, run_concurrently
from bench.identity import PrivateKeystone, Token, builtin_member
from bench.measure import ProcessTree, Span, Timer, percentile
from bench.plan import Plan
from bench.servers import GlimpseServer
from bench.workloads import image_fields

MODES = ("noauth", "builtin", "keystone")
OPS = ("create", "get", "list")
LIST_LIMIT = 25
TARGET = 0.8  # "within 20 % of noauth": req/s at least 0.8x noauth's
# noauth's caller: a project member, with the roles a member's token carries (Keystone's
# member implies reader)
NOAUTH_HEADERS = {
    "X-Project-Id": "0b5e0c4c4bb94b1a9e1d8a7b6c5d4e3f",
    "X-User-Id": "5f4e3d2c1b0a49f8a7b6c5d4e3f2a1b0",
    "X-Roles": "member,reader",
}
# noauth's own default is Glance's legacy rules: every mode gets the same policy work
POLICY = {"GLIMPSE_ENFORCE_NEW_DEFAULTS": "true"}
# between a mode's setup and its figures, in every mode: the start-up, and in builtin the
# three glimpse commands and the argon2 login, must not overlap the timed phases
SETTLE_SECONDS = 1.0

Say = Callable[[str], None]
Measured = dict[str, tuple[list[float], int, Span]]  # op → latencies, succeeded, span


@dataclass(slots=True)
class Pooled:
    """One operation in one mode, over every round."""

    latencies: list[float] = field(default_factory=list)
    succeeded: int = 0
    wall: float = 0.0
    server_cpu: float = 0.0
    client_cpu: float = 0.0
    round_rps: list[float] = field(default_factory=list)  # the spread between rounds

    def add(self, latencies: list[float], succeeded: int, span: Span) -> None:
        self.latencies += latencies
        self.succeeded += succeeded
        self.wall += span.wall
        self.server_cpu += span.server_cpu
        self.client_cpu += span.client_cpu
        self.round_rps.append(succeeded / span.wall if span.wall else math.nan)

    @property
    def rps(self) -> float:
        return self.succeeded / self.wall if self.wall else math.nan

    def ms(self, p: float) -> float:
        return percentile(sorted(self.latencies), p) * 1000

    @property
    def cpu_ms(self) -> float:
        return self.server_cpu * 1000 / len(self.latencies) if self.latencies else math.nan


@dataclass(slots=True)
class ModeRecord:
    """All one mode gathered over the rounds."""

    pooled: dict[str, Pooled] = field(default_factory=lambda: {op: Pooled() for op in OPS})
    failures: Counter[str] = field(default_factory=Counter)
    samples: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    roles: list[str] = field(default_factory=list)  # of the client's identity
    keystone_validations: list[int] = field(default_factory=list)  # per round

    def fail(self, what: str, detail: str) -> None:
        self.failures[what] += 1
        self.samples.setdefault(what, detail[:300])

    def details(self) -> dict[str, Any]:
        """As the other workloads' details: notes, failures, the server's log problems."""
        notes: dict[str, Any] = {"roles": self.roles}
        if self.keystone_validations:
            notes["keystone_validations_per_round"] = self.keystone_validations
        return {
            "notes": notes,
            "failed_requests": dict(self.failures),
            "failure_samples": self.samples,
            "server_log_problems": self.problems[:20],
        }


def _clean(value: float | None, digits: int = 3) -> float | None:
    return None if value is None or math.isnan(value) else round(value, digits)


def _ratio(value: float, base: float) -> float | None:
    if math.isnan(value) or math.isnan(base) or base <= 0:
        return None
    return value / base


@dataclass(frozen=True, slots=True)
class AuthRow:
    op: str  # its label, with the sizes used
    mode: str
    figures: Pooled
    base: Pooled  # noauth's figures for the same operation

    @property
    def ratio(self) -> float | None:
        """req/s against noauth's; None for noauth itself."""
        return None if self.mode == "noauth" else _ratio(self.figures.rps, self.base.rps)

    @property
    def round_ratios(self) -> list[float]:
        """The same ratio in each round (the order of the modes rotates between them)."""
        if self.mode == "noauth":
            return []
        pairs = zip(self.figures.round_rps, self.base.round_rps, strict=False)
        return [r for mine, base in pairs if (r := _ratio(mine, base)) is not None]

    @property
    def verdict(self) -> str:
        if self.mode == "noauth":
            return ""
        return "PASS" if self.ratio is not None and self.ratio >= TARGET else "MISS"

    def json(self) -> dict[str, Any]:
        f = self.figures
        return {
            "op": self.op,
            "mode": self.mode,
            "rps": _clean(f.rps, 1),
            "p50_ms": _clean(f.ms(50)),
            "p99_ms": _clean(f.ms(99)),
            "server_cpu_ms_per_req": _clean(f.cpu_ms),
            "ratio_rps_to_noauth": _clean(self.ratio),
            "ratio_per_round": [_clean(r) for r in self.round_ratios],
            "target": None if self.mode == "noauth" else f"≥ {TARGET:g}x noauth req/s",
            "verdict": self.verdict or None,
            "requests": len(f.latencies),
            "succeeded": f.succeeded,
            "seconds": round(f.wall, 3),
            "server_cpu_s": round(f.server_cpu, 3),
            "client_cpu_s": round(f.client_cpu, 3),
            "rps_per_round": [_clean(r, 1) for r in f.round_rps],
        }


@dataclass(slots=True)
class AuthResult:
    rows: list[AuthRow]
    document: dict[str, Any]  # for bench/results/*.json
    details: dict[str, dict[str, Any]]  # [glimpse/<mode>]: as the other workloads' details


async def one_round(client: ImageClient, tree: ProcessTree, plan: Plan) -> Measured:
    """A warm-up, then the timed creates, GETs of what they made, and lists."""
    # outside the figures: first requests load code and fill caches (Keystone mode: here
    # Keystone validates the token; glimpse answers the rest from its cache)
    warm = await client.create(image_fields("bench-auth-warm-up"))
    if warm is None:
        raise RuntimeError("could not create an image")
    await client.get(warm)
    await client.list(LIST_LIMIT, 1)
    await client.delete(warm)

    created: list[str] = []

    async def create(i: int) -> bool:
        image_id = await client.create(image_fields(f"bench-auth-{i}"))
        if image_id is not None:
            created.append(image_id)
        return image_id is not None

    async def page(_: int) -> bool:
        return await client.list(LIST_LIMIT, min(LIST_LIMIT, len(created)))

    steps: list[tuple[str, Callable[[Any], Awaitable[bool]], Callable[[], list[Any]]]] = [
        ("create", create, lambda: list(range(plan.auth_ops))),
        ("get", client.get, lambda: list(created)),  # filled by the creates
        ("list", page, lambda: list(range(plan.auth_lists))),
    ]
    measured: Measured = {}
    for op, call, items in steps:
        with Timer(tree) as span:
            latencies, ok = await run_concurrently(items(), plan.auth_concurrency, call)
        measured[op] = (latencies, ok, span)
    return measured


async def _measure(client: ImageClient, tree: ProcessTree, plan: Plan) -> Measured:
    async with client:
        return await one_round(client, tree, plan)


def op_label(op: str, plan: Plan) -> str:
    what = f"list limit={LIST_LIMIT}" if op == "list" else op
    n = plan.auth_lists if op == "list" else plan.auth_ops
    return f"{what}, {plan.auth_rounds} x {n}, {plan.auth_concurrency} concurrent"


class _Rounds:
    """The servers of the three modes and the Keystone, and what each round adds up."""

    def __init__(self, plan: Plan, results_dir: Path, say: Say) -> None:
        self.plan = plan
        self.results_dir = results_dir
        self.say = say
        self.records = {mode: ModeRecord() for mode in MODES}
        self.keystone = PrivateKeystone()
        self.keystone_token: Token | None = None
        self.servers: dict[str, GlimpseServer] = {}
        self.orders: list[list[str]] = []

    def start(self) -> None:
        """Keystone, and a (stopped) server per mode; without Keystone, two modes."""
        say = self.say
        settings: dict[str, dict[str, str]] = {
            "noauth": {"GLIMPSE_AUTH_MODE": "noauth"},
            "builtin": {"GLIMPSE_AUTH_MODE": "builtin"},
        }
        try:
            say("auth: starting a private Keystone (.ci/keystone/keystone.sh up)")
            self.keystone.up()
            self.keystone_token = self.keystone.member_token()
            settings["keystone"] = self.keystone.glimpse_settings()
        except Exception as exc:  # the other two modes can still be measured
            say(f"auth: no Keystone, so no keystone mode: {exc!r}")
            self.records["keystone"].fail("keystone: could not start", repr(exc))
        self.servers = {
            mode: GlimpseServer(self.results_dir / f"glimpse-auth-{mode}.log", {**s, **POLICY})
            for mode, s in settings.items()
        }

    def close(self) -> None:
        for server in self.servers.values():
            server.stop()
        self.keystone.down()

    def identity(self, mode: str, server: GlimpseServer) -> dict[str, str]:
        """The headers the client sends on every request, in this mode."""
        if mode == "noauth":
            self.records[mode].roles = NOAUTH_HEADERS["X-Roles"].split(",")
            return dict(NOAUTH_HEADERS)
        token = builtin_member(server) if mode == "builtin" else self.keystone_token
        assert token is not None
        self.records[mode].roles = list(token.roles)
        return {"X-Auth-Token": token.value}

    def run_mode(self, runner: asyncio.Runner, mode: str, label: str) -> None:
        """One round of one mode on a freshly started server."""
        server, record = self.servers[mode], self.records[mode]
        try:
            server.fresh()
            client = ImageClient(server.url, headers=self.identity(mode, server))
            time.sleep(SETTLE_SECONDS)
            keystone = mode == "keystone"
            seen = self.keystone.validations() if keystone else 0
            try:
                measured = runner.run(_measure(client, server.tree(), self.plan))
            finally:
                for what, count in client.failures.items():
                    record.failures[what] += count
                    record.samples.setdefault(what, client.failure_samples[what])
            if keystone:
                record.keystone_validations.append(self.keystone.validations() - seen)
        except Exception as exc:  # one broken round must not end the run
            self.say(f"{label}: {mode} CRASHED: {exc!r}")
            record.fail("round: crashed", repr(exc))
            return
        finally:
            record.problems += server.problems()
            server.stop()
        for op, (latencies, ok, span) in measured.items():
            record.pooled[op].add(latencies, ok, span)
        self.say(f"{label}: {mode}: " + "; ".join(
            f"{op} {record.pooled[op].round_rps[-1]:,.0f} req/s" for op in OPS
        ))  # fmt: skip

    def result(self) -> AuthResult:
        noauth = self.records["noauth"].pooled
        rows = [
            AuthRow(op_label(op, self.plan), mode, self.records[mode].pooled[op], noauth[op])
            for op in OPS
            for mode in MODES
        ]
        document = {
            "rounds": self.plan.auth_rounds,
            "concurrency": self.plan.auth_concurrency,
            "policy": "secure RBAC (enforce_new_defaults) in every mode",
            "order_per_round": self.orders,
            "roles": {mode: record.roles for mode, record in self.records.items()},
            "rows": [row.json() for row in rows],
        }
        details = {f"glimpse/{mode}": record.details() for mode, record in self.records.items()}
        return AuthResult(rows, document, details)


def run(plan: Plan, results_dir: Path, say: Say) -> AuthResult:
    """Every round, every mode; stops all it started (Keystone too), also on errors."""
    rounds = _Rounds(plan, results_dir, say)
    try:
        rounds.start()
        modes = [mode for mode in MODES if mode in rounds.servers]
        with asyncio.Runner(loop_factory=loop_factory()) as runner:
            for r in range(plan.auth_rounds):
                order = modes[r % len(modes) :] + modes[: r % len(modes)]
                rounds.orders.append(order)
                for mode in order:
                    rounds.run_mode(runner, mode, f"auth round {r + 1}/{plan.auth_rounds}")
    finally:
        rounds.close()
    return rounds.result()
