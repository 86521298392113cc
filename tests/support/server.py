"""Run a real ``glimpse serve`` process for tests, on 127.0.0.1 and a free port."""

from __future__ import annotations

import os
import resource
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until_answers(
    process: subprocess.Popen[bytes], url: str, timeout: float, log: Callable[[], str]
) -> None:
    """Poll ``url`` until it answers 200; RuntimeError (with the log) if the process exits
    first or the time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"exited early:\n{log()}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"did not answer {url} within {timeout}s:\n{log()}")


class ServerProcess:
    def __init__(
        self,
        data_dir: Path,
        *,
        env: dict[str, str] | None = None,
        workers: int = 1,
        open_files: int | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = data_dir / "server.log"
        self.env = env or {}
        self._env = {
            **os.environ,
            "GLIMPSE_DATA_DIR": str(data_dir),
            "GLIMPSE_HOST": "127.0.0.1",
            "GLIMPSE_PORT": str(self.port),
            "GLIMPSE_WORKERS": str(workers),
            "GLIMPSE_AUTH_MODE": "noauth",  # unless the test asks for an identity mode
            **(env or {}),
        }
        self._process: subprocess.Popen[bytes] | None = None
        # as `ulimit -n open_files` in the shell that starts it (soft and hard)
        self.open_files = open_files

    def start(self, timeout: float = 30.0) -> None:
        with open(self.log_path, "ab") as log:  # the child keeps its own copy
            self._process = subprocess.Popen(
                [sys.executable, "-m", "glimpse", "serve"],
                env=self._env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=self._limit_open_files if self.open_files else None,
            )
        try:
            wait_until_answers(self._process, f"{self.url}/healthcheck", timeout, self.log)
        except RuntimeError as exc:
            self.stop()
            raise RuntimeError(f"glimpse: {exc}") from None

    def _limit_open_files(self) -> None:
        assert self.open_files is not None
        resource.setrlimit(resource.RLIMIT_NOFILE, (self.open_files, self.open_files))

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    def kill(self) -> None:
        """Die at once, as a node that loses power: no clean-up runs."""
        assert self._process is not None
        os.killpg(self._process.pid, signal.SIGKILL)
        self._process.wait()

    def stop(self) -> None:
        if self._process is None or self._process.poll() is not None:
            return
        os.killpg(self._process.pid, signal.SIGTERM)
        try:
            self._process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self._process.pid, signal.SIGKILL)
            self._process.wait()

    def __enter__(self) -> ServerProcess:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
