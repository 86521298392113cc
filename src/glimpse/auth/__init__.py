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
    if settings.auth_mode == "keystone":
        from glimpse.auth.keystone import KeystoneAuthenticator

        return KeystoneAuthenticator(settings)
    if settings.auth_mode == "builtin":
        from glimpse.auth.builtin.authenticator import BuiltinAuth

        return BuiltinAuth(settings, db)
    raise NotImplementedError(f"auth_mode {settings.auth_mode!r} is not available yet")
