"""The one client both servers get: Image API v2 calls over aiohttp, kept cheap.

Keep-alive connections (Glance closes each one anyway: it answers ``Connection: close``),
uvloop where available, bodies streamed from :mod:`bench.pattern`. A call never raises
for an HTTP or connection error: it returns False and the failure is counted, so a
workload always finishes and the report shows what went wrong.
"""

from __future__ import annotations

import asyncio
import shutil
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping
from types import TracebackType
from typing import Any, TypeVar

import aiohttp
import orjson

from bench.pattern import UPLOAD_CHUNK, Verifier, body

T = TypeVar("T")

JSON_PATCH = "application/openstack-images-v2.1-json-patch"
EXPECTED = {"create": 201, "get": 200, "patch": 200, "delete": 204, "list": 200,
            "upload": 204, "download": 200, "show": 200, "metadefs": 200}  # fmt: skip


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


class ImageClient:
    def __init__(
        self, base_url: str, connections: int = 64, headers: Mapping[str, str] | None = None
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.connections = connections
        self.headers = dict(headers or {})  # on every request: a token, identity headers
        self.failures: Counter[str] = Counter()
        self.failure_samples: dict[str, str] = {}
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> ImageClient:
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=self.connections, use_dns_cache=False),
            headers={"Accept": "application/json", **self.headers},
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=30, sock_read=300),
            auto_decompress=False,
            # larger than the 64 KiB default: fewer wake-ups per download; much larger
            # only makes aiohttp join more bytes per read (client CPU)
            read_bufsize=256 << 10,
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._session is not None:
            await self._session.close()

    @property
    def session(self) -> aiohttp.ClientSession:
        assert self._session is not None, "use the client as 'async with'"
        return self._session

    # ----------------------------------------------------------- bookkeeping

    def fail(self, op: str, what: str, detail: str) -> bool:
        key = f"{op}: {what}"
        self.failures[key] += 1
        self.failure_samples.setdefault(key, detail[:300])
        return False

    async def _call(
        self, op: str, method: str, path: str, **kwargs: Any
    ) -> tuple[bool, bytes, aiohttp.ClientResponse | None]:
        try:
            async with self.session.request(method, self.base_url + path, **kwargs) as resp:
                data = await resp.read()
                if resp.status != EXPECTED[op]:
                    text = data.decode(errors="replace").strip()
                    return self.fail(op, f"HTTP {resp.status}", text), data, resp
                return True, data, resp
        except (aiohttp.ClientError, TimeoutError) as exc:
            return self.fail(op, type(exc).__name__, str(exc)), b"", None

    # --------------------------------------------------------------- metadata

    async def create(self, fields: dict[str, Any]) -> str | None:
        ok, data, _ = await self._call("create", "POST", "/v2/images", json=fields)
        return str(orjson.loads(data)["id"]) if ok else None

    async def show(self, image_id: str) -> dict[str, Any] | None:
        ok, data, _ = await self._call("show", "GET", f"/v2/images/{image_id}")
        return orjson.loads(data) if ok else None

    async def get(self, image_id: str) -> bool:
        ok, _, _ = await self._call("get", "GET", f"/v2/images/{image_id}")
        return ok

    async def patch(self, image_id: str, name: str) -> bool:
        ops = orjson.dumps([{"op": "replace", "path": "/name", "value": name}])
        headers = {"Content-Type": JSON_PATCH}
        ok, _, _ = await self._call(
            "patch", "PATCH", f"/v2/images/{image_id}", data=ops, headers=headers
        )
        return ok

    async def delete(self, image_id: str) -> bool:
        ok, _, _ = await self._call("delete", "DELETE", f"/v2/images/{image_id}")
        return ok

    async def list(self, limit: int, expect: int) -> bool:
        ok, data, _ = await self._call("list", "GET", f"/v2/images?limit={limit}")
        if ok and (got := len(orjson.loads(data)["images"])) != expect:
            return self.fail("list", "wrong count", f"limit={limit}: {got} images, not {expect}")
        return ok

    async def metadefs(self, path: str, expect: str) -> bool:
        """``GET path`` of the metadefs API; the body must hold ``expect``."""
        ok, data, _ = await self._call("metadefs", "GET", path)
        if ok and expect.encode() not in data:
            return self.fail("metadefs", "wrong body", f"{path}: no {expect!r}")
        return ok

    # ------------------------------------------------------------------- data

    async def fetch(self, image_id: str, size: int) -> bool:
        """A download timed as the server's: ``curl`` reads it into /dev/null. This
        client tops out near 1.1-1.5 GB/s here, on a core the server then cannot use,
        so downloads timed through it measured the client. The status and the byte
        count are checked; :meth:`download` checks the bytes themselves (untimed)."""
        curl = shutil.which("curl")
        if curl is None:
            raise RuntimeError("timed downloads need curl on PATH")
        # the headers (a token, with an identity) go on curl's stdin, not its command
        # line, which every user of the machine can read
        headers = "".join(f"{name}: {value}\n" for name, value in self.session.headers.items())
        proc = await asyncio.create_subprocess_exec(
            curl, "-sS", "-o", "/dev/null", "-w", "%{http_code} %{size_download}", "-H", "@-",
            f"{self.base_url}/v2/images/{image_id}/file",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await proc.communicate(headers.encode())
        if proc.returncode != 0:
            return self.fail("download", f"curl exit {proc.returncode}", err.decode())
        status, got = out.decode().split()
        if int(status) != EXPECTED["download"]:
            return self.fail("download", f"HTTP {status}", f"{image_id}")
        if int(got) != size:
            return self.fail("download", "wrong length", f"{got} bytes, expected {size}")
        return True

    async def upload(
        self, image_id: str, size: int, start: int, chunk: int = UPLOAD_CHUNK, pause: float = 0.0
    ) -> bool:
        # an async generator body: aiohttp sends it chunked, as glanceclient does
        headers = {"Content-Type": "application/octet-stream"}
        ok, _, _ = await self._call(
            "upload", "PUT", f"/v2/images/{image_id}/file",
            data=body(size, start, chunk, pause), headers=headers,
        )  # fmt: skip
        return ok

    async def download(self, image_id: str, size: int, start: int) -> bool:
        verifier = Verifier(size, start)
        url = f"{self.base_url}/v2/images/{image_id}/file"
        try:
            async with self.session.get(url) as resp:
                if resp.status != EXPECTED["download"]:
                    text = (await resp.read()).decode(errors="replace")
                    return self.fail("download", f"HTTP {resp.status}", text)
                async for chunk in resp.content.iter_any():
                    verifier.feed(chunk)
        except (aiohttp.ClientError, TimeoutError) as exc:
            return self.fail("download", type(exc).__name__, str(exc))
        problem = verifier.problem()
        return self.fail("download", "bad content", problem) if problem else True


async def run_concurrently(
    items: Iterable[T], concurrency: int, call: Callable[[T], Awaitable[bool]]
) -> tuple[list[float], int]:
    """Run ``call`` on every item, ``concurrency`` at a time (each worker takes the next
    item as soon as its last call returns). Returns the latency of every call, in
    seconds, and how many succeeded."""
    latencies: list[float] = []
    succeeded = 0
    pending = iter(items)  # shared: coroutines only switch at awaits, so no races

    async def worker() -> None:
        nonlocal succeeded
        for item in pending:
            started = time.perf_counter()
            ok = await call(item)
            latencies.append(time.perf_counter() - started)
            succeeded += ok

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, succeeded
