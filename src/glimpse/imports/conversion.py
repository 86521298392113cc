"""The ``image_conversion`` import plugin: qemu-img converts the data to one format.

Glance's order of checks: the data must be the format its ``disk_format`` claims and
pass the format inspector's safety checks before qemu-img reads it (an ISO stays an ISO,
unconverted); ``qemu-img info`` must read it as that format, and report no backing file,
no external data file and no VMDK create-type outside the safe two (again: a second
line, should the inspector miss one); then ``qemu-img convert``, unless the
data is already in the output format. Every qemu-img runs under ``prlimit`` (CPU time,
address space, and for convert the file size the work space has room for), a wall
clock timeout after which it is killed, and dies with the process that started it. The
output goes through the upload's format inspection again when it is written to the stores.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from glimpse.config import ConfigurationError, Settings
from glimpse.errors import DataFormatMismatch
from glimpse.image_data.ingest import inspect_local_file
from glimpse.tasks.model import JobFailed

log = logging.getLogger(__name__)

# Glance's limits of qemu-img info (its QEMU_IMG_PROC_LIMITS)
INFO_CPU_SECONDS = 30
INFO_MEMORY_BYTES = 1 << 30
# Glance's default vmdk_allowed_types
VMDK_ALLOWED_TYPES = frozenset({"streamOptimized", "monolithicSparse"})
_SIGNALS = {
    signal.SIGXCPU: "its CPU time limit",
    signal.SIGKILL: "SIGKILL",
    signal.SIGXFSZ: "its file size limit",
}


@dataclass(frozen=True, slots=True)
class Limits:
    cpu_seconds: int
    memory_bytes: int
    timeout: float
    file_bytes: int | None = None


def _failed(message: str) -> JobFailed:
    return JobFailed(f"Image conversion failed: {message}")


async def run_limited(args: list[str], limits: Limits, cwd: Path) -> str:
    """Run ``args`` in ``cwd`` within ``limits``; its standard output, or JobFailed
    saying why not. (Files are named relative to ``cwd``: its messages name no path.)"""
    command = [
        # it dies with glimpse's process: a worker killed mid-conversion leaves none behind
        *("setpriv", "--pdeathsig", "KILL", "--"),
        "prlimit",
        # SIGXCPU at the limit, SIGKILL a second later if it is ignored
        f"--cpu={limits.cpu_seconds}:{limits.cpu_seconds + 1}",
        f"--as={limits.memory_bytes}",
        *([f"--fsize={limits.file_bytes}"] if limits.file_bytes is not None else []),
        "--",
        *args,
    ]
    process = await asyncio.create_subprocess_exec(
        *command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its own process group, to be stopped as one
        cwd=cwd,
    )
    what = " ".join(args[:2])
    try:
        out, err = await asyncio.wait_for(process.communicate(), limits.timeout)
    except TimeoutError:
        raise _failed(
            f"{what} did not finish within {limits.timeout:g} s and was stopped"
        ) from None
    finally:
        if process.returncode is None:  # timed out, or the job was cancelled
            # its whole group: whatever it started must let go of the pipes too
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            await process.communicate()
    code = process.returncode
    if code is not None and code < 0:
        name = _SIGNALS.get(signal.Signals(-code), signal.Signals(-code).name)
        raise _failed(f"{what} was stopped by {name}")
    if code != 0:
        lines = err.decode(errors="replace").strip().splitlines() or [f"exit status {code}"]
        raise _failed(f"{what}: {lines[-1]}")
    return out.decode(errors="replace")


def check_tools() -> None:
    """qemu-img, prlimit and setpriv must be installed where image_conversion is
    configured."""
    missing = [tool for tool in ("qemu-img", "prlimit", "setpriv") if shutil.which(tool) is None]
    if missing:
        raise ConfigurationError(
            f"image_import_plugins has image_conversion but {', '.join(missing)} "
            "cannot be found (install qemu-utils and util-linux)"
        )


class Conversion:
    def __init__(self, settings: Settings) -> None:
        self.output_format = settings.image_conversion_output_format
        self.size_cap = settings.image_size_cap
        self.timeout = settings.image_conversion_timeout_seconds
        self.info_limits = Limits(
            cpu_seconds=min(INFO_CPU_SECONDS, settings.image_conversion_cpu_seconds),
            memory_bytes=min(INFO_MEMORY_BYTES, settings.image_conversion_memory_mb << 20),
            timeout=self.timeout,
        )
        self.cpu_seconds = settings.image_conversion_cpu_seconds
        self.memory_bytes = settings.image_conversion_memory_mb << 20

    async def convert(self, src: Path, disk_format: str, room: int) -> tuple[Path, dict[str, Any]]:
        """The converted data beside ``src`` (which is removed), at most ``room``
        bytes, and the image columns that change; ``src`` itself if it stays as it is."""
        try:
            found = await inspect_local_file(src)
        except DataFormatMismatch as exc:
            raise _failed(str(exc)) from None
        if found == "iso":
            if disk_format == "iso":
                return src, {}  # Glance keeps ISOs as they are
            raise _failed(f"Image disk_format is {disk_format} but the data is an ISO")
        if found != disk_format:
            raise _failed(f"Image disk_format is {disk_format} but the data is {found}")
        virtual_size = await self._checked_info(src, disk_format)
        if disk_format == self.output_format:
            return src, {}
        if self.output_format == "raw" and virtual_size > min(room, self.size_cap):
            raise _failed(
                f"the image's virtual size of {virtual_size} bytes is over the image size "
                f"cap or the import work space ({min(room, self.size_cap)} bytes)"
            )
        dest = src.with_name(f"{src.name}.{self.output_format}")
        limits = Limits(self.cpu_seconds, self.memory_bytes, self.timeout, file_bytes=room)
        args = ["-f", disk_format, "-O", self.output_format, src.name, dest.name]
        await run_limited(["qemu-img", "convert", *args], limits, src.parent)
        src.unlink()
        log.info("converted %s from %s to %s", src.name, disk_format, self.output_format)
        return dest, {"disk_format": self.output_format, "container_format": "bare"}

    async def _checked_info(self, src: Path, disk_format: str) -> int:
        """qemu-img info's virtual size, once what it reports is safe."""
        args = ["qemu-img", "info", "-f", disk_format, "--output=json", src.name]
        # -f: qemu-img reads it as that format or fails
        info = json.loads(await run_limited(args, self.info_limits, src.parent))
        if "backing-filename" in info:
            raise _failed("images with a backing file are not allowed")
        specific = info.get("format-specific", {}).get("data", {})
        if specific.get("data-file") is not None:
            raise _failed("images with an external data file are not allowed")
        if disk_format == "vmdk" and specific.get("create-type") not in VMDK_ALLOWED_TYPES:
            raise _failed(f"VMDK create-type {specific.get('create-type')} is not allowed")
        return int(info.get("virtual-size", 0))
