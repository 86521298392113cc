"""uvicorn's httptools protocol, with the limits a public HTTP server needs.

- request line and headers: at most ``max_header_bytes`` in all (431 past it), read
  within ``header_timeout`` seconds of their first byte (or of the connection opening;
  408, or a silent close if nothing came);
- between requests: closed after ``keepalive_timeout`` idle seconds (uvicorn's timer);
- a request body: closed when the client sends nothing for ``body_timeout`` seconds
  while the application waits for it (time the application itself pauses reading does
  not count); the application then sees ``http.disconnect``;
- a response: closed when the client reads nothing for ``body_timeout`` seconds;
- open connections: at most :meth:`EdgeLimits.connection_cap`, and of those at most
  :meth:`EdgeLimits.client_cap` from one client address; one more gets 503 and is
  closed at once.

``http.response.pathsend`` (ASGI extension) sends a file with ``sendfile``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections import Counter
from collections.abc import Callable
from typing import Any, ClassVar

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

from glimpse.config import Settings
from glimpse.edge.limits import EdgeLimits
from glimpse.edge.sendfile import send_file

log = logging.getLogger(__name__)

PATHSEND = "http.response.pathsend"


def _response(status: bytes, body: bytes) -> bytes:
    return (
        b"HTTP/1.1 " + status + b"\r\ncontent-type: text/plain; charset=utf-8\r\n"
        b"content-length: " + str(len(body)).encode() + b"\r\nconnection: close\r\n\r\n" + body
    )


TOO_MANY_CONNECTIONS = _response(b"503 Service Unavailable", b"Too many open connections")
TOO_MANY_FROM_CLIENT = _response(
    b"503 Service Unavailable", b"Too many open connections from this address"
)
HEADERS_TOO_LARGE = _response(
    b"431 Request Header Fields Too Large", b"Request header fields too large"
)
HEADER_TIMEOUT = _response(b"408 Request Timeout", b"Request headers not received in time")


# a request line whose method llhttp does not know: parsed with a method it knows in its
# place, so that the application answers it (405, as Glance does) instead of a bare 400
_UNKNOWN_METHOD = re.compile(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,32}(?= )")
_STAND_IN_METHOD = b"PROPFIND"


class _Refused(Exception):
    """A limit answered the request; the parser stops."""


class EdgeProtocol(HttpToolsProtocol):
    """Given to uvicorn as ``http=``; each process reads its limits once from the
    settings (worker processes get them as the application does)."""

    _process_limits: ClassVar[EdgeLimits | None] = None
    # open connections of this process by client address
    _by_client: ClassVar[Counter[str]] = Counter()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if EdgeProtocol._process_limits is None:
            EdgeProtocol._process_limits = EdgeLimits.from_settings(Settings())
        self.limits = EdgeProtocol._process_limits
        self.timeout_keep_alive = self.limits.keepalive_timeout
        self._cap = self.limits.connection_cap()
        self._client_cap = self.limits.client_cap(self._cap)
        self._client: str | None = None  # counted in _by_client while open
        self._awaiting_headers = True
        self._header_bytes = 0  # as received, while the headers are incomplete
        self._header_size = 0  # as parsed
        self._header_timer: asyncio.TimerHandle | None = None
        self._in_body = False
        self._last_read = 0.0
        self._body_timer: asyncio.TimerHandle | None = None
        self._pathsend = False
        self._unknown_method: str | None = None
        self.app = self._app_with_pathsend

    # ---------------------------------------------------------------- connections

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        if len(self.connections) >= self._cap:
            log.warning("refusing a connection: %d open, the limit", len(self.connections))
            self._refuse_connection(transport, TOO_MANY_CONNECTIONS)
            return
        peer = transport.get_extra_info("peername")
        client = peer[0] if isinstance(peer, tuple) else None
        if client is not None and self._client_cap is not None:
            if self._by_client[client] >= self._client_cap:
                log.warning(
                    "refusing a connection: %s has %d open, the limit", client, self._client_cap
                )
                self._refuse_connection(transport, TOO_MANY_FROM_CLIENT)
                return
            self._by_client[client] += 1
            self._client = client
        super().connection_made(transport)
        # zero-copy only where the socket carries the bytes as they are (not TLS)
        self._pathsend = self.scheme == "http" and transport.get_extra_info("socket") is not None
        self._start_header_timer()

    def _refuse_connection(self, transport: asyncio.Transport, response: bytes) -> None:
        transport.write(response)
        transport.close()
        self.transport = transport
        self.parser = None  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timers()
        if self._client is not None:
            self._by_client[self._client] -= 1
            if not self._by_client[self._client]:
                del self._by_client[self._client]
            self._client = None
        if self.parser is None:  # refused in connection_made, or already lost
            return
        super().connection_lost(exc)

    def _cancel_timers(self) -> None:
        for timer in (self._header_timer, self._body_timer):
            if timer is not None:
                timer.cancel()
        self._header_timer = self._body_timer = None

    def data_received(self, data: bytes) -> None:
        # uvicorn's, except that a request a limit has answered is not also a 400
        if self.parser is None or self.transport.is_closing():
            return  # refused, or closed by a limit
        if self._awaiting_headers:
            self._header_bytes += len(data)
        elif self._in_body:
            self._last_read = self.loop.time()
        self._unset_keepalive_if_required()
        try:
            self._feed(data)
        except httptools.HttpParserUpgrade:
            # no WebSockets here (uvicorn runs with ws="none"): answered as plain HTTP
            log.debug("answering an Upgrade request as plain HTTP")
            return
        except httptools.HttpParserError:
            if not self.transport.is_closing():  # else a limit answered already
                self.logger.warning("Invalid HTTP request received.")
                self.send_400_response("Invalid HTTP request received.")
            return
        # headers still incomplete: the parser keeps them whole in memory, so stop early
        if self._awaiting_headers and self._header_bytes > self.limits.max_header_bytes:
            self._refuse(HEADERS_TOO_LARGE)

    def _feed(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserInvalidMethodError:
            # only where this data starts the request (the parser failed on its first
            # bytes): the parser is replaced and fed again from there
            method = _UNKNOWN_METHOD.match(data)
            if method is None or not self._awaiting_headers or self._header_bytes != len(data):
                raise
            self._unknown_method = method.group().decode("ascii")
            self.parser = httptools.HttpRequestParser(self)
            with contextlib.suppress(AttributeError):  # as uvicorn sets it up
                self.parser.set_dangerous_leniencies(lenient_data_after_close=True)
            self.parser.feed_data(_STAND_IN_METHOD + data[method.end() :])

    def _refuse(self, response: bytes) -> None:
        self._cancel_timers()
        if not self.transport.is_closing():
            self.transport.write(response)
            self.transport.close()

    # ---------------------------------------------------------------- parser events

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._header_size = 0
        if self._pathsend:
            self.scope["extensions"] = {PATHSEND: {}}
        if self._header_timer is None:
            self._start_header_timer()

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        self._header_size += len(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        super().on_header(name, value)
        self._header_size += len(name) + len(value) + 4

    def on_headers_complete(self) -> None:
        if self._header_size > self.limits.max_header_bytes:
            self._refuse(HEADERS_TOO_LARGE)
            raise _Refused  # stops the parser: nothing more of this connection is read
        self._awaiting_headers = False
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None
        super().on_headers_complete()
        if self._unknown_method is not None:
            self.scope["method"] = self._unknown_method  # the cycle's scope, not yet run
            self._unknown_method = None
        # until on_message_complete (at once, for a request without a body)
        self._in_body = True
        self._last_read = self.loop.time()
        self._arm_body_timer(self.limits.body_timeout)

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._in_body = False
        self._awaiting_headers = True
        self._header_bytes = 0
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None

    # ---------------------------------------------------------------- timers

    def _start_header_timer(self) -> None:
        self._header_timer = self.loop.call_later(self.limits.header_timeout, self._headers_late)

    def _headers_late(self) -> None:
        self._header_timer = None
        if not self._awaiting_headers or self.transport.is_closing():
            return
        if self._header_bytes:
            self._refuse(HEADER_TIMEOUT)
        else:
            self._cancel_timers()
            self.transport.close()

    def _arm_body_timer(self, delay: float) -> None:
        self._body_timer = self.loop.call_later(delay, self._body_check)

    def _body_check(self) -> None:
        self._body_timer = None
        if not self._in_body or self.transport.is_closing():
            return
        now = self.loop.time()
        if self.flow.read_paused or (self.cycle and self.cycle.waiting_for_100_continue):
            # the application is not reading (yet): the client is not late
            self._last_read = now
        idle = now - self._last_read
        if idle < self.limits.body_timeout:
            self._arm_body_timer(self.limits.body_timeout - idle)
            return
        log.warning("closing a connection whose request body stalled for %.0f s", idle)
        self.transport.close()

    # ---------------------------------------------------------------- responses

    async def _app_with_pathsend(
        self, scope: Any, receive: Callable[..., Any], send: Callable[..., Any]
    ) -> None:
        cycle: RequestResponseCycle = send.__self__  # type: ignore[attr-defined]

        async def edge_send(message: Any) -> None:
            if message["type"] == PATHSEND:
                await self._send_path(cycle, message["path"])
                return
            if cycle.flow.write_paused and not cycle.disconnected:
                try:
                    await asyncio.wait_for(cycle.flow.drain(), self.limits.body_timeout)
                except TimeoutError:
                    log.warning("closing a connection whose client stopped reading")
                    cycle.disconnected = True
                    cycle.transport.close()
            await send(message)

        await self.config.loaded_app(scope, receive, edge_send)

    async def _send_path(self, cycle: RequestResponseCycle, path: str) -> None:
        if not cycle.response_started or cycle.response_complete or cycle.chunked_encoding:
            raise RuntimeError("pathsend needs a started response with a Content-Length")
        count = cycle.expected_content_length
        if cycle.scope["method"] != "HEAD" and count and not cycle.disconnected:
            while cycle.transport.get_write_buffer_size() and not cycle.disconnected:
                await asyncio.sleep(0.001)  # the headers go first
            sock = cycle.transport.get_extra_info("socket").fileno()
            sent = await send_file(sock, path, count, self.limits.body_timeout)
            if sent < count:
                # the file was short or the client went away: the response cannot be
                # finished, so the connection ends
                cycle.disconnected = True
                cycle.transport.close()
                return
            cycle.expected_content_length = 0
        await cycle.send({"type": "http.response.body", "body": b"", "more_body": False})
