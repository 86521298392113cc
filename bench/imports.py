"""Import figures beside Glance's, in one run: time to ``active`` for glance-direct
(stage + import) of 1 GiB, web-download of 1 GiB from a local HTTP server, and
copy-image of 1 GiB between two file stores.

Glance is a running peer (``--glance URL``) configured with two file stores ``fast`` and
``cheap``, the three import methods, ``[import_filtering_opts]`` allowing 127.0.0.1 and
the source port, and the ``context`` paste filter (identity headers trusted, no
Keystone) so that imports have an owner. glimpse is started here with the same shape.
Runs alternate between the two servers; each figure is the median of ``--rounds``.

    flock /tmp/glimpse-bench.lock python -m bench.imports --glance http://127.0.0.1:9347
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

    def glance_direct(self, source: Path) -> float:
        image_id = self.create()
        started = time.perf_counter()
        with source.open("rb") as data:  # a file: sent with its Content-Length
            staged = self.http.put(
                f"/v2/images/{image_id}/stage",
                content=data,
                headers={"Content-Type": "application/octet-stream"},
            )
        staged.raise_for_status()
        self.http.post(
            f"/v2/images/{image_id}/import", json={"method": {"name": "glance-direct"}}
        ).raise_for_status()
        self.wait(image_id, lambda image: image["status"] == "active")
        return time.perf_counter() - started

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


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--glance", required=True)
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-imports-") as tmp:
        work = Path(tmp)
        source = work / "source.raw"
        with source.open("wb") as out:
            for _ in range(args.size_mib):
                out.write(os.urandom(1 << 20))
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
        glimpse_dir = work / "glimpse"
        glimpse_dir.mkdir()
        process, url = start_glimpse(glimpse_dir, args.database_url)
        targets = [Target("glimpse", url), Target("glance", args.glance)]
        figures: dict[tuple[str, str], list[float]] = {}
        try:
            for round_ in range(args.rounds):
                order = targets if round_ % 2 == 0 else targets[::-1]
                for target in order:
                    for name, run in (
                        ("glance-direct", lambda t=target: t.glance_direct(source)),
                        ("web-download", lambda t=target: t.web_download(uri)),
                        ("copy-image", lambda t=target: t.copy_image(source)),
                    ):
                        try:
                            seconds = run()
                        except (httpx.HTTPStatusError, RuntimeError) as exc:
                            print(f"round {round_} {target.name:8} {name:14} failed: {exc}")
                            seconds = float("nan")
                        figures.setdefault((target.name, name), []).append(seconds)
                        time.sleep(3)  # let the server's background work settle
                        print(f"round {round_} {target.name:8} {name:14} {seconds:7.2f} s")
                    target.delete_all()
        finally:
            process.terminate()
            process.wait()
            web.shutdown()
        print(f"\ntime to active, {args.size_mib} MiB, median of {args.rounds} (lower is better)")
        print(f"{'workload':14} {'glimpse':>9} {'glance':>9} {'ratio':>7}")
        results = {}
        for name in ("glance-direct", "web-download", "copy-image"):
            mine = statistics.median(figures[("glimpse", name)])
            theirs = statistics.median(figures[("glance", name)])
            results[name] = {"glimpse_s": mine, "glance_s": theirs, "ratio": mine / theirs}
            print(f"{name:14} {mine:8.2f}s {theirs:8.2f}s {mine / theirs:6.2f}x")
        out = Path(__file__).parent / "results"
        out.mkdir(exist_ok=True)
        (out / "imports.json").write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
