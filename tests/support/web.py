"""A real HTTP server on 127.0.0.1 whose paths answer as a test says (web-download's
sources, the http store's locations)."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_RANGE = re.compile(r"bytes=(\d+)-(\d*)")
Route = Callable[[BaseHTTPRequestHandler], None]


class Web:
    """An HTTP server on 127.0.0.1 whose paths answer as the test says."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        routes = self.routes

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                route = routes.get(self.path)
                if route is None:
                    self.send_error(404)
                    return
                route(self)

            def do_HEAD(self) -> None:
                self.do_GET()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def serve(self, path: str, data: bytes, *, ranges: bool = True) -> str:
        """``data`` at ``path``: GET (a byte range too, if ``ranges``) and HEAD."""

        def route(handler: BaseHTTPRequestHandler) -> None:
            wanted = _RANGE.fullmatch(handler.headers.get("Range", "")) if ranges else None
            body = data
            if wanted is not None:
                first = int(wanted[1])
                last = int(wanted[2]) if wanted[2] else len(data) - 1
                body = data[first : last + 1]
                handler.send_response(206)
                handler.send_header("Content-Range", f"bytes {first}-{last}/{len(data)}")
            else:
                handler.send_response(200)
            handler.send_header("Content-Length", str(len(body)))
            handler.end_headers()
            if handler.command != "HEAD":
                handler.wfile.write(body)

        self.routes[path] = route
        return self.url(path)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def reaching(web: Web) -> dict[str, Any]:
    """Settings that let glimpse's web guard reach ``web`` (loopback, its port)."""
    return {"import_allowed_hosts": ["127.0.0.1"], "import_allowed_ports": [web.port]}
