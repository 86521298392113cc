"""Import figures beside Glance's, in one run: time to ``active`` for glance-direct
(stage + import) of 1 GiB, web-download of 1 GiB from a local HTTP server, and
copy-image of 1 GiB between two file stores.

Glance is a running peer (``--glance URL``) configured with two file stores ``fast`` and
``cheap``, the three import methods, ``[import_filtering_opts]`` allowing 127.0.0.1 and
the source port, and the ``context`` paste filter (identity headers trusted, no
Keystone) so that imports have an owner. glimpse is started here with the same shape.
Runs alternate between the two servers; each figure is the median of ``--rounds``.

    flock /tmp/glimpse-bench.lock python -m bench.imports --glance http://127.0.0.1:9347
    flock /tmp/glimpse-bench.lock python -m bench.imports --target glimpse --rounds 1
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from bench.servers import free_port

HEADERS = {
    "X-Identity-Status": "Confirmed",
    "X-Project-Id": "bench",
    "X-User-Id": "bench",
    "X-Roles": "admin,member,reader",
    "Accept": "application/json",
}


class Target:
    def __init__(self, name: str, url: str) -> None:
        self.name = name
        self.url = url
        self.http = httpx.Client(base_url=url, headers=HEADERS, timeout=600)

    def create(self) -> str:
        body = {"name": "bench", "disk_format": "raw", "container_format": "bare"}
        response = self.http.post("/v2/images", json=body)
        response.raise_for_status()
        image_id: str = response.json()["id"]
        return image_id

    def wait(self, image_id: str, done: Any) -> None:
        deadline = time.monotonic() + 900
        while True:
            image = self.http.get(f"/v2/images/{image_id}").json()
            if done(image):
                return
            if image["status"] in ("queued", "killed") and image.get("os_glance_failed_import"):
                raise RuntimeError(f"{self.name}: import failed: {image}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name}: not done: {image}")
            time.sleep(0.02)

    def glance_direct(self, source: Path, parts: dict[str, float] | None = None) -> float:
        """Stage + import; ``parts`` gets the stage's and the import's shares."""
        image_id = self.create()
        started = time.perf_counter()
        with source.open("rb") as data:  # a file: sent with its Content-Length
            staged = self.http.put(
                f"/v2/images/{image_id}/stage",
                content=data,
                headers={"Content-Type": "application/octet-stream"},
            )
        staged.raise_for_status()
        imported = time.perf_counter()
        self.http.post(
            f"/v2/images/{image_id}/import", json={"method": {"name": "glance-direct"}}
        ).raise_for_status()
        self.wait(image_id, lambda image: image["status"] == "active")
        done = time.perf_counter()
        if parts is not None:
            parts["stage"], parts["import"] = imported - started, done - imported
        return done - started

    def import_only(self, source: Path) -> float:
        """A glance-direct import's time from its POST to ``active``."""
        parts: dict[str, float] = {}
        self.glance_direct(source, parts)
        return parts["import"]

    def web_download(self, uri: str) -> float:
        image_id = self.create()
        started = time.perf_counter()
        body = {"method": {"name": "web-download", "uri": uri}}
        self.http.post(f"/v2/images/{image_id}/import", json=body).raise_for_status()
        self.wait(image_id, lambda image: image["status"] == "active")
        return time.perf_counter() - started

    def copy_image(self, source: Path) -> float:
        image_id = self.create()
        with source.open("rb") as data:
            self.http.put(
                f"/v2/images/{image_id}/file",
                content=data,
                headers={"Content-Type": "application/octet-stream"},
            ).raise_for_status()
        started = time.perf_counter()
        body = {"method": {"name": "copy-image"}, "stores": ["cheap"]}
        self.http.post(f"/v2/images/{image_id}/import", json=body).raise_for_status()
        self.wait(image_id, lambda image: "cheap" in (image.get("stores") or ""))
        return time.perf_counter() - started

    def delete_all(self) -> None:
        for image in self.http.get("/v2/images", params={"limit": 1000}).json()["images"]:
            self.http.delete(f"/v2/images/{image['id']}")


def start_glimpse(work: Path, database_url: str | None) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    stores = {
        "fast": {"type": "file", "directory": str(work / "fast"), "weight": 100},
        "cheap": {"type": "file", "directory": str(work / "cheap"), "weight": 50},
        "os_glance_staging_store": {"type": "file", "directory": str(work / "staging")},
    }
    env = {
        **os.environ,
        "GLIMPSE_DATA_DIR": str(work),
        "GLIMPSE_PORT": str(port),
        "GLIMPSE_AUTH_MODE": "noauth",
        "GLIMPSE_STORES": json.dumps(stores),
        "GLIMPSE_DEFAULT_STORE": "fast",
        "GLIMPSE_ENABLED_IMPORT_METHODS": json.dumps(
            ["glance-direct", "web-download", "copy-image"]
        ),
        "GLIMPSE_IMPORT_ALLOWED_HOSTS": json.dumps(["127.0.0.1"]),
        "GLIMPSE_IMPORT_ALLOWED_PORTS": json.dumps([SOURCE_PORT]),
        "GLIMPSE_LOG_LEVEL": "warning",
    }
    if database_url:
        env["GLIMPSE_DATABASE_URL"] = database_url
    process = subprocess.Popen(
        [sys.executable, "-m", "glimpse", "serve"],
        env=env,
        stdout=(work / "glimpse.log").open("wb"),
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            if httpx.get(f"{url}/healthcheck").status_code == 200:
                return process, url
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    process.terminate()
    raise RuntimeError((work / "glimpse.log").read_text())


SOURCE_PORT = 9348  # the port the peer's import filtering allows


WORKLOADS = ("glance-direct", "stage", "import", "web-download", "copy-image", "machinery")


def _round(target: Target, source: Path, small: Path, uri: str) -> dict[str, float]:
    """One run of each workload on ``target``: seconds, NaN where it failed."""
    got: dict[str, float] = {}
    parts: dict[str, float] = {}
    for name, run in (
        ("glance-direct", lambda: target.glance_direct(source, parts)),
        ("web-download", lambda: target.web_download(uri)),
        ("copy-image", lambda: target.copy_image(source)),
        # the job machinery alone: a 1 MiB glance-direct import, from the POST to active
        ("machinery", lambda: target.import_only(small)),
    ):
        try:
            got[name] = run()
        except (httpx.HTTPStatusError, RuntimeError) as exc:
            print(f"{target.name:8} {name:14} failed: {exc}")
            got[name] = float("nan")
        time.sleep(3)  # let the server's background work settle
    got["stage"] = parts.get("stage", float("nan"))
    got["import"] = parts.get("import", float("nan"))
    return got


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--glance", help="the Glance peer's URL (not with --target glimpse)")
    parser.add_argument("--target", choices=("both", "glimpse", "glance"), default="both")
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    names = ["glimpse", "glance"] if args.target == "both" else [args.target]
    if "glance" in names and not args.glance:
        parser.error("--glance URL is needed unless --target glimpse")
    with tempfile.TemporaryDirectory(prefix="bench-imports-") as tmp:
        work = Path(tmp)
        source = work / "source.raw"
        with source.open("wb") as out:
            for _ in range(args.size_mib):
                out.write(os.urandom(1 << 20))
        small = work / "small.raw"
        small.write_bytes(os.urandom(1 << 20))
        served = work / "served"
        served.mkdir()
        os.link(source, served / "image.raw")

        class Quiet(SimpleHTTPRequestHandler):
            def __init__(self, *a: Any, **k: Any) -> None:
                super().__init__(*a, directory=str(served), **k)

            def log_message(self, *a: Any) -> None:
                pass

        web = ThreadingHTTPServer(("127.0.0.1", SOURCE_PORT), Quiet)
        threading.Thread(target=web.serve_forever, daemon=True).start()
        uri = f"http://127.0.0.1:{SOURCE_PORT}/image.raw"
        process = None
        targets = []
        if "glimpse" in names:
            glimpse_dir = work / "glimpse"
            glimpse_dir.mkdir()
            process, url = start_glimpse(glimpse_dir, args.database_url)
            targets.append(Target("glimpse", url))
        if "glance" in names:
            targets.append(Target("glance", args.glance))
        figures: dict[tuple[str, str], list[float]] = {}
        try:
            for round_ in range(args.rounds):
                order = targets if round_ % 2 == 0 else targets[::-1]
                for target in order:
                    for name, seconds in _round(target, source, small, uri).items():
                        figures.setdefault((target.name, name), []).append(seconds)
                        print(f"round {round_} {target.name:8} {name:14} {seconds:7.2f} s")
                    target.delete_all()
        finally:
            if process is not None:
                process.terminate()
                process.wait()
            web.shutdown()
        print(f"\ntime to active, {args.size_mib} MiB, median of {args.rounds} (lower is better)")
        print(f"{'workload':14} " + " ".join(f"{n:>9}" for n in names) + "   ratio")
        results: dict[str, dict[str, float]] = {}
        for name in WORKLOADS:
            row = {n: statistics.median(figures[(n, name)]) for n in names}
            results[name] = {f"{n}_s": v for n, v in row.items()}
            line = f"{name:14} " + " ".join(f"{v:8.2f}s" for v in row.values())
            if len(row) == 2:
                results[name]["ratio"] = row["glimpse"] / row["glance"]
                line += f" {results[name]['ratio']:6.2f}x"
            print(line)
        out = Path(__file__).parent / "results"
        out.mkdir(exist_ok=True)
        (out / "imports.json").write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
