"""Who is asking: request contexts, identity modes, policy."""

from __future__ import annotations

from glimpse.auth.base import Authenticator
from glimpse.config import Settings
from glimpse.db.engine import Database


def build_authenticator(settings: Settings, db: Database) -> Authenticator:
    """The authenticator of the configured identity mode."""
    if settings.auth_mode == "noauth":
        from glimpse.auth.noauth import NoAuth

        return NoAuth()
    raise NotImplementedError(f"auth_mode {settings.auth_mode!r} is not available yet")
