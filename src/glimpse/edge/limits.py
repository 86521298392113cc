"""What the edge allows, read once from the settings; how many connections fit in the
file descriptors this process may open."""

from __future__ import annotations

import contextlib
import resource
from dataclasses import dataclass

from glimpse.config import Settings

# descriptors kept for everything but client connections: the database, store files
# being read and written, the event loop, logs, worker pipes
RESERVED_FDS = 64


@dataclass(frozen=True, slots=True)
class EdgeLimits:
    max_header_bytes: int
    header_timeout: float
    keepalive_timeout: int
    body_timeout: float
    max_connections: int
    max_connections_per_client: int

    @classmethod
    def from_settings(cls, settings: Settings) -> EdgeLimits:
        return cls(
            max_header_bytes=settings.http_max_header_bytes,
            header_timeout=settings.http_header_timeout_seconds,
            keepalive_timeout=settings.http_keepalive_timeout_seconds,
            body_timeout=settings.http_body_timeout_seconds,
            max_connections=settings.http_max_connections,
            max_connections_per_client=settings.http_max_connections_per_client,
        )

    def connection_cap(self) -> int:
        """``max_connections``, lowered to what the open-files limit leaves room for:
        past it a connection is refused at once instead of the process running out of
        descriptors (when it could no longer accept, open a file or reach its database)."""
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft == resource.RLIM_INFINITY:
            return self.max_connections
        return max(1, min(self.max_connections, soft - RESERVED_FDS))

    def client_cap(self, connection_cap: int) -> int | None:
        """How many of the ``connection_cap`` connections one client address may hold:
        never more than half, so others still get in; None when there is no such limit."""
        if not self.max_connections_per_client:
            return None
        return max(1, min(self.max_connections_per_client, connection_cap // 2))


def raise_open_files_limit() -> None:
    """Use all the descriptors the hard limit allows (the soft limit is often 1024)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        # a hard limit of "unlimited" the kernel caps lower: keep the soft one
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
