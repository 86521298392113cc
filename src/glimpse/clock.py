"""The one clock: timestamps as the databases store them."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    """Naive UTC, as stored (both databases keep timestamps without a zone)."""
    return datetime.now(UTC).replace(tzinfo=None)
