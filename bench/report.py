"""Glance and glimpse side by side: the table printed at the end of a run, the targets
from the issue with PASS/MISS, and the JSON written to ``bench/results/``; and the table of
workload ``auth`` (glimpse's identity modes against its own noauth)."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.auth import TARGET as AUTH_TARGET
from bench.auth import AuthRow
from bench.workloads import Figure


@dataclass(frozen=True, slots=True)
class Target:
    text: str
    met: Callable[[float, float | None], bool]  # (glimpse value, ratio) → met?
    relative: bool  # judged against Glance's figure (so it needs one)


def ratio_at_least(factor: float) -> Target:
    text = f"≥ {factor:g}x Glance" if factor != 1 else "≥ Glance"
    return Target(text, lambda _, ratio: ratio is not None and ratio >= factor, relative=True)


def at_most(limit: float, unit: str) -> Target:
    return Target(f"≤ {limit:g} {unit}", lambda value, _: value <= limit, relative=False)


DOWNLOADS = (
    "transfer.download", "transfer.download_cold", "parallel.download", "parallel.download_cold",
)  # fmt: skip

# the targets of the issue, keyed by figure id (see bench/workloads.py)
TARGETS: dict[str, Target] = {
    "transfer.upload.mbps": ratio_at_least(3),
    "transfer.upload.cpu_per_gb": at_most(4, "CPU-s/GB"),
    "transfer.download.mbps": ratio_at_least(1),
    "transfer.download_cold.mbps": ratio_at_least(1),
    "parallel.download.mbps": ratio_at_least(1),
    "parallel.download_cold.mbps": ratio_at_least(1),
    **{f"{figure}.cpu_per_gb": ratio_at_least(1) for figure in DOWNLOADS},
    **{f"metadata.{op}.rps": ratio_at_least(10) for op in ("create", "get", "patch", "delete")},
    **{f"list.{limit}.{m}": ratio_at_least(10) for limit in (25, 1000) for m in ("p50", "rps")},
    "rss.0": at_most(120, "MiB"),
    "rss.1": at_most(120, "MiB"),
    "rss.growth": at_most(12, "MiB (≈ equal)"),
    **{f"metadefs.{read}.rps": ratio_at_least(10) for read in ("for_images", "largest")},
    "burst.upload": at_most(200, "MiB"),
    "burst.download": at_most(200, "MiB"),
    "slow.upload": at_most(256, "MiB"),
}


@dataclass(frozen=True, slots=True)
class Row:
    figure: Figure  # label, unit, direction (from whichever server has it)
    glance: float | None
    glimpse: float | None

    @property
    def ratio(self) -> float | None:
        """> 1 means glimpse is better, whichever way the figure points."""
        g, m = self.glance, self.glimpse
        if g is None or m is None or math.isnan(g) or math.isnan(m) or g <= 0 or m <= 0:
            return None
        return m / g if self.figure.higher_is_better else g / m

    @property
    def target(self) -> Target | None:
        return TARGETS.get(self.figure.id)

    @property
    def verdict(self) -> str:
        target = self.target
        if target is None or self.glimpse is None:
            return ""
        if math.isnan(self.glimpse):
            return "MISS"  # glimpse failed the operation
        if target.relative and self.ratio is None:
            return ""  # no Glance figure to compare with
        return "PASS" if target.met(self.glimpse, self.ratio) else "MISS"


def compare(results: dict[str, dict[str, list[Figure]]]) -> list[Row]:
    """``results[workload][server]`` → one row per figure, in workload order."""
    figures: dict[str, Figure] = {}
    values: dict[str, dict[str, float]] = {}
    for by_server in results.values():
        for server, server_figures in by_server.items():
            for fig in server_figures:
                figures.setdefault(fig.id, fig)
                values.setdefault(fig.id, {})[server] = fig.value
    return [
        Row(fig, values[id].get("glance"), values[id].get("glimpse")) for id, fig in figures.items()
    ]


def _number(value: float | None) -> str:
    if value is None:
        return "—"
    if math.isnan(value):
        return "failed"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def table(rows: list[Row]) -> str:
    header = ("figure", "unit", "Glance", "glimpse", "ratio", "target", "verdict")
    lines = [header]
    previous = ""
    for row in rows:
        label = row.figure.label if row.figure.label != previous else ""  # once per group
        previous = row.figure.label
        ratio = f"{row.ratio:.2f}x" if row.ratio is not None else "—"
        target = row.target.text if row.target else ""
        lines.append(
            (label, row.figure.unit, _number(row.glance), _number(row.glimpse),
             ratio, target, row.verdict)
        )  # fmt: skip
    out = _aligned(lines, right={2, 3, 4})
    out.append("ratio: > 1 means glimpse is better (throughput glimpse/Glance; latency, CPU")
    out.append("and memory Glance/glimpse)")
    return "\n".join(out)


def auth_table(rows: list[AuthRow]) -> str:
    """Workload ``auth``: each identity mode's figures and its req/s against noauth's."""
    header = ("operation", "mode", "req/s", "p50 ms", "p99 ms", "CPU ms/req",
              "vs noauth", "per round", "target", "verdict")  # fmt: skip
    lines = [header]
    previous = ""
    for row in rows:
        label = row.op if row.op != previous else ""
        previous = row.op
        f = row.figures
        ratios = row.round_ratios
        spread = f"{min(ratios):.2f}-{max(ratios):.2f}" if len(ratios) > 1 else ""
        lines.append(
            (label, row.mode, _number(f.rps), _number(f.ms(50)), _number(f.ms(99)),
             _number(f.cpu_ms), f"{row.ratio:.2f}x" if row.ratio is not None else "—",
             spread, "" if row.mode == "noauth" else f"≥ {AUTH_TARGET:g}x", row.verdict)
        )  # fmt: skip
    out = _aligned(lines, right={2, 3, 4, 5, 6, 7})
    out.append("vs noauth: req/s of the mode / req/s of noauth, pooled over the rounds (per")
    out.append("round: the lowest and highest of the same ratio in single rounds); CPU: the")
    out.append("server's user + system time per request")
    return "\n".join(out)


def _aligned(lines: Sequence[Sequence[str]], right: set[int]) -> list[str]:
    """Columns padded to their widest cell (``right``: numbers, aligned right), with a
    rule under the header."""
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    out = []
    for n, line in enumerate(lines):
        cells = [
            cell.rjust(widths[i]) if i in right else cell.ljust(widths[i])
            for i, cell in enumerate(line)
        ]
        out.append("  ".join(cells).rstrip())
        if n == 0:
            out.append("  ".join("-" * w for w in widths))
    return out


def row_json(row: Row) -> dict[str, Any]:
    def clean(value: float | None) -> float | None:
        return None if value is None or math.isnan(value) else round(value, 4)

    return {
        "id": row.figure.id,
        "label": row.figure.label,
        "unit": row.figure.unit,
        "higher_is_better": row.figure.higher_is_better,
        "glance": clean(row.glance),
        "glimpse": clean(row.glimpse),
        "ratio": clean(row.ratio),
        "target": row.target.text if row.target else None,
        "verdict": row.verdict or None,
    }


def write_json(document: dict[str, Any], directory: Path, stamp: str) -> Path:
    """Writes ``<stamp>.json`` and ``latest.json``; returns the latter."""
    directory.mkdir(parents=True, exist_ok=True)
    text = json.dumps(document, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    (directory / f"{stamp}.json").write_text(text)
    latest = directory / "latest.json"
    latest.write_text(text)
    return latest
