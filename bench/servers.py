"""The two servers under test, started, emptied, measured and stopped the same way.

- :class:`GlanceServer`: the real OpenStack Glance, driven through ``bench/peer-glance.sh``
  (uWSGI, SQLite, file store; its master PID is in ``$PEER_DIR/glance.pid``).
- :class:`GlimpseServer`: ``python -m glimpse serve`` as a child process on a free port,
  with a fresh data directory (embedded SQLite + file store) each time.

Each ``fresh()`` gives an empty service in a newly started process, so every workload
starts from the same state on both sides (Glance keeps soft-deleted rows, which slow its
lists, and a long-lived process carries memory from earlier workloads into RSS figures).
Everything is stopped by PID.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import psutil

from bench.measure import ProcessTree

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
PEER_SCRIPT = BENCH_DIR / "peer-glance.sh"

# log lines worth showing in the report
_WARNINGS_UP = re.compile(r"\b(WARNING|ERROR|CRITICAL)\b|Traceback")
# Glance warns on every upload (staging clean-up) and at start-up (deprecations), and
# logs an ERROR at start-up for the cinder store it has no driver for: only its other
# errors are news
_ERRORS_UP = re.compile(r"\b(ERROR|CRITICAL)\b|Traceback")
_MAX_PROBLEMS = 20


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def answers(url: str, timeout: float = 2.0) -> int | None:
    """HTTP status of a GET, or None when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            status: int = resp.status
            return status
    except urllib.error.HTTPError as exc:
        return exc.code
    except (OSError, urllib.error.URLError):
        return None


def _log_problems(
    path: Path, offset: int, pattern: re.Pattern[str], ignore: tuple[str, ...] = ()
) -> list[str]:
    if not path.exists():
        return []
    with path.open("rb") as f:
        f.seek(offset)
        text = f.read().decode(errors="replace")
    found = [
        line.strip()
        for line in text.splitlines()
        if pattern.search(line) and not any(word in line for word in ignore)
    ]
    if len(found) > _MAX_PROBLEMS:
        found = [*found[:_MAX_PROBLEMS], f"... and {len(found) - _MAX_PROBLEMS} more lines"]
    return found


def _size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


class Server(ABC):
    name: str
    url: str

    @abstractmethod
    def fresh(self) -> None:
        """(Re)start with no images at all and wait until it answers."""

    @abstractmethod
    def stop(self) -> None: ...

    def finish(self) -> None:
        """At the end of the run."""
        self.stop()

    @abstractmethod
    def tree(self) -> ProcessTree: ...

    @abstractmethod
    def describe(self) -> dict[str, Any]:
        """What ran: version, workers, where its logs are."""

    @abstractmethod
    def problems(self) -> list[str]:
        """Warnings and errors it logged since the last ``fresh()``."""

    @abstractmethod
    def load_metadefs(self, directory: Path) -> None:
        """Load a metadefs catalog (a directory of Glance's files) into the running server."""


class GlanceServer(Server):
    name = "glance"

    def __init__(self, port: int = 9299) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.peer_dir = Path(
            os.environ.get("PEER_DIR", Path.home() / ".cache" / "glimpse-peer")
        ).expanduser()
        self.venv = Path(os.environ.get("PEER_VENV", self.peer_dir / "glance-venv")).expanduser()
        self.env = {**os.environ, "GLANCE_PORT": str(port), "PEER_DIR": str(self.peer_dir)}
        self.api_log = self.peer_dir / "glance-data" / "log" / "glance-api.log"
        self._log_offset = 0
        # a peer that was already serving (others may use it) is left serving at the end
        self.was_running = answers(f"{self.url}/v2/images?limit=1") is not None

    def conflict(self) -> str | None:
        """Why this run must not touch the peer: the script runs one instance per PEER_DIR,
        so asking for another port would stop the one serving on its port now."""
        pidfile = self.peer_dir / "glance.pid"
        ini = self.peer_dir / "glance-etc" / "glance-uwsgi.ini"
        if not (pidfile.exists() and ini.exists()):
            return None
        try:
            alive = psutil.pid_exists(int(pidfile.read_text().strip()))
        except ValueError:
            return None
        found = re.search(r"^http-socket\s*=\s*[\d.]+:(\d+)", ini.read_text(), re.MULTILINE)
        if alive and found and int(found.group(1)) != self.port:
            return (
                f"{self.peer_dir} runs Glance on port {found.group(1)}, not {self.port}: use "
                "that port, or another PEER_DIR (with PEER_VENV pointing at this install)"
            )
        return None

    def _peer(self, command: str) -> None:
        # cwd: uWSGI puts its working directory on sys.path, where a stray attr.py or
        # similar would shadow Glance's imports
        self.peer_dir.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["bash", str(PEER_SCRIPT), command], env=self.env, cwd=self.peer_dir, check=True
        )

    def install(self) -> None:
        """Once per machine: the script's install downloads Glance, so skip it when done."""
        if not (self.venv / "bin" / "uwsgi").exists():
            self._peer("install")

    def fresh(self) -> None:
        self.install()
        self._peer("configure")  # this port, these workers (reset's db_sync reads it)
        self._peer("reset")  # stops it, wipes database and store
        self._log_offset = _size(self.api_log)
        self._peer("start")  # waits until it answers

    def stop(self) -> None:
        self._peer("stop")

    def finish(self) -> None:
        """Leave the peer as found: serving (now empty) if it was, else stopped."""
        if self.was_running:
            if answers(f"{self.url}/v2/images?limit=1") is None:
                self._peer("start")
        else:
            self.stop()

    def pid(self) -> int:
        return int((self.peer_dir / "glance.pid").read_text().strip())

    def tree(self) -> ProcessTree:
        return ProcessTree(self.pid())

    def describe(self) -> dict[str, Any]:
        python = self.venv / "bin" / "python3"
        version = subprocess.run(
            [str(python), "-c", "import importlib.metadata as m; print(m.version('glance'))"],
            capture_output=True, text=True, check=False,
        ).stdout.strip()  # fmt: skip
        return {
            "server": f"OpenStack Glance {version} under uWSGI (SQLite, file store)",
            "url": self.url,
            "workers": int(os.environ.get("GLANCE_WORKERS", "1")),
            "log": str(self.api_log),
        }

    def problems(self) -> list[str]:
        return _log_problems(
            self.api_log, self._log_offset, _ERRORS_UP, ignore=("stevedore.extension",)
        )

    def load_metadefs(self, directory: Path) -> None:
        conf = self.peer_dir / "glance-etc" / "glance-api.conf"
        subprocess.run(
            [str(self.venv / "bin" / "glance-manage"), "--config-file", str(conf),
             "db_load_metadefs", str(directory)],
            env=self.env, cwd=self.peer_dir, check=True, capture_output=True,
        )  # fmt: skip


class GlimpseServer(Server):
    name = "glimpse"

    def __init__(self, log_path: Path, settings: Mapping[str, str] | None = None) -> None:
        self.log_path = log_path  # every start of this run appends to it
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log_path.write_bytes(b"")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # GLIMPSE_* that make this instance what it is (workload "auth": its identity
        # mode); they win over the caller's
        self.settings = dict(settings or {})
        self.env: dict[str, str] = {}  # of the running server (its CLI needs the same)
        self.data_dir: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._log_offset = 0

    def fresh(self) -> None:
        self.stop()
        self.data_dir = Path(tempfile.mkdtemp(prefix="glimpse-bench-"))
        # GLIMPSE_* set by the caller (e.g. GLIMPSE_WORKERS) pass through; these do not
        self.env = env = {
            "GLIMPSE_AUTH_MODE": "noauth",  # Glance's peer runs unauthenticated too
            **os.environ,
            **self.settings,
            "GLIMPSE_DATA_DIR": str(self.data_dir),
            "GLIMPSE_HOST": "127.0.0.1",
            "GLIMPSE_PORT": str(self.port),
        }
        self._log_offset = _size(self.log_path)
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "glimpse", "serve"],
                env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,  # its own group: a Ctrl-C here reaches us first
            )  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"glimpse exited during start-up; see {self.log_path}")
            if answers(f"{self.url}/healthcheck", timeout=1) == 200:
                return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"glimpse did not answer within 60 s; see {self.log_path}")

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)  # its group: workers too
                process.wait()
        if self.data_dir is not None:
            shutil.rmtree(self.data_dir, ignore_errors=True)
            self.data_dir = None

    def tree(self) -> ProcessTree:
        assert self._process is not None, "not running"
        return ProcessTree(self._process.pid)

    def describe(self) -> dict[str, Any]:
        commit = subprocess.run(
            ["git", "describe", "--always", "--dirty"],
            cwd=ROOT, capture_output=True, text=True, check=False,
        ).stdout.strip()  # fmt: skip
        return {
            "server": f"glimpse {commit or '(unknown commit)'} (SQLite, file store)",
            "url": self.url,
            "workers": int(os.environ.get("GLIMPSE_WORKERS", "1")),
            "auth_mode": self.env.get("GLIMPSE_AUTH_MODE", "noauth"),
            "log": str(self.log_path),
        }

    def problems(self) -> list[str]:
        # expected at start: the warning about noauth, the built-in identity's first admin
        expected = ("noauth", "built-in identity, first start")
        return _log_problems(self.log_path, self._log_offset, _WARNINGS_UP, ignore=expected)

    def load_metadefs(self, directory: Path) -> None:
        subprocess.run(
            [sys.executable, "-m", "glimpse", "metadefs", "load", str(directory)],
            env=self.env, cwd=ROOT, check=True, capture_output=True,
        )  # fmt: skip
