"""A real nginx in front of glimpse nodes, on 127.0.0.1 and a free port, configured
as the deployment guide (docs/deployment.md) says: request and response bodies
streamed, never buffered, no size cap. ``X-Glimpse-Node: <n>`` sends a request to node
``n`` (a test chooses where an upload or a download lands); without it nginx balances
over all of them."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path
from types import TracebackType

import httpx
import pytest

from tests.support.server import free_port

CONF = """
daemon off;
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log info;
events {{ worker_connections 1024; }}
http {{
    access_log {dir}/access.log;
    client_body_temp_path {dir}/client_body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    upstream glimpse {{
{servers}
        keepalive 16;
    }}
    map $http_x_glimpse_node $node {{
        default glimpse;
{nodes}
    }}
    server {{
        listen 127.0.0.1:{port};
        client_max_body_size 0;
        proxy_request_buffering off;
        proxy_buffering off;
        proxy_http_version 1.1;
        proxy_read_timeout 300s;
        proxy_send_timeout 300s;
        location / {{
            proxy_pass http://$node;
            proxy_set_header Host $http_host;
            proxy_set_header Connection "";
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
        }}
    }}
}}
"""


class Nginx:
    def __init__(self, directory: Path, backends: list[str]) -> None:
        """``backends``: each node's ``host:port``."""
        self.binary = shutil.which("nginx") or (
            "/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None
        )
        if self.binary is None:
            reason = "no nginx (.ci/backends/nginx-install.sh installs it; scripts/test runs that)"
            if os.environ.get("GLIMPSE_TEST_REQUIRE_NGINX") == "1":
                pytest.fail(reason)
            pytest.skip(reason)
        self.directory = directory
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "nginx.conf").write_text(
            CONF.format(
                dir=directory,
                port=self.port,
                servers="\n".join(f"        server {b} max_fails=0;" for b in backends),
                nodes="\n".join(f"        {i} {b};" for i, b in enumerate(backends)),
            )
        )
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Nginx:
        assert self.binary is not None
        command = [self.binary, "-p", str(self.directory), "-c", str(self.directory / "nginx.conf")]
        with (self.directory / "nginx.out").open("ab") as out:
            self.process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)

        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError((self.directory / "nginx.out").read_text())
            try:
                httpx.get(self.url + "/healthcheck", timeout=2)
                return self
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError(f"nginx did not answer: {(self.directory / 'error.log').read_text()}")

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGQUIT)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
