"""The http store against a real HTTP server on 127.0.0.1: what a location URL holds,
read whole or in ranges (from a server that ignores Range too), through the web guard
at read time, and never written or deleted."""

from __future__ import annotations

import os
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from glimpse.config import Settings
from glimpse.errors import DataMissing, StoreUnavailable
from glimpse.stores.http import HttpStore
from glimpse.stores.web_guard import WebGuard
from tests.support.web import Web

DATA = os.urandom(3 * 1024 * 1024 + 17)


def store_for(tmp_path: Path, web: Web, *, loopback: bool = True) -> HttpStore:
    """A store whose guard lets it reach ``web``'s port (and 127.0.0.1, if ``loopback``)."""
    hosts = ["127.0.0.1"] if loopback else []
    settings = Settings(
        data_dir=tmp_path, import_allowed_hosts=hosts, import_allowed_ports=[web.port]
    )
    return HttpStore("web", WebGuard(settings))


async def body(store: HttpStore, url: str, offset: int = 0, length: int | None = None) -> bytes:
    return b"".join([chunk async for chunk in await store.read(url, offset, length)])


async def test_size_and_data(tmp_path: Path, web: Web) -> None:
    store = store_for(tmp_path, web)
    url = web.serve("/image", DATA)
    assert store.handles(url) and store.handles("HTTPS://example.com/x")
    assert not store.handles("file:///etc/passwd")
    assert await store.size(url) == len(DATA)
    assert await body(store, url) == DATA


@pytest.mark.parametrize("ranges", [True, False], ids=["ranged server", "server ignoring Range"])
async def test_ranges(tmp_path: Path, web: Web, ranges: bool) -> None:
    store = store_for(tmp_path, web)
    url = web.serve("/image", DATA, ranges=ranges)
    assert await body(store, url, 10, 20) == DATA[10:30]
    assert await body(store, url, len(DATA) - 5) == DATA[-5:]
    assert await body(store, url, 2 * 1024 * 1024, 1024 * 1024 + 3) == DATA[2 << 20 : (3 << 20) + 3]


async def test_missing_data_and_a_failing_server(tmp_path: Path, web: Web) -> None:
    store = store_for(tmp_path, web)

    def broken(handler: BaseHTTPRequestHandler) -> None:
        handler.send_error(500)

    web.routes["/broken"] = broken
    with pytest.raises(DataMissing):
        await store.size(web.url("/nothing"))
    with pytest.raises(DataMissing):
        await store.read(web.url("/nothing"))
    with pytest.raises(StoreUnavailable, match="HTTP 500"):
        await store.read(web.url("/broken"))


async def test_the_guard_holds_at_read_time(tmp_path: Path, web: Web) -> None:
    url = web.serve("/image", DATA)
    # loopback, not allowed by name: refused, never fetched
    refusing = store_for(tmp_path, web, loopback=False)
    with pytest.raises(StoreUnavailable, match="refused"):
        await refusing.size(url)
    with pytest.raises(StoreUnavailable, match="refused"):
        await refusing.read(url)

    # a redirect is checked as the URL is: to another port, not allowed
    def away(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(302)
        handler.send_header("Location", "http://127.0.0.1:1/elsewhere")
        handler.end_headers()

    web.routes["/away"] = away
    with pytest.raises(StoreUnavailable, match="refused"):
        await store_for(tmp_path, web).read(web.url("/away"))


async def test_nothing_is_written_or_deleted(tmp_path: Path, web: Web) -> None:
    store = store_for(tmp_path, web)
    url = web.serve("/image", DATA)
    assert not store.writable
    with pytest.raises(StoreUnavailable, match="read-only"):
        await store.writer("image-id", 10)
    await store.delete(url)  # whoever serves it owns it
    assert await body(store, url) == DATA
    assert [location async for location in store.objects()] == []
    assert await store.properties() == {}
