"""Fernet tokens, as Keystone's: the payload is encrypted and signed with a key every
node shares, so any node can validate a token without asking anyone.

The key file holds one urlsafe-base64 Fernet key per line. The first signs new tokens;
all of them are accepted, which is how keys are rotated: add the new key as a later line
on every node, then move it to the top, and drop the old one after
``token_expiration_seconds``.
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
import secrets
from datetime import datetime, timedelta
from pathlib import Path

import orjson
from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from glimpse.config import ConfigurationError
from glimpse.identity.model import TokenPayload

log = logging.getLogger(__name__)

# Tokens made here are ~250 characters. Anything much longer is not one of ours and is
# refused before any decoding.
MAX_TOKEN_LENGTH = 1024
_PAYLOAD_VERSION = 1
_EPOCH = datetime(1970, 1, 1)


def new_audit_id() -> str:
    """22 urlsafe characters, as Keystone's audit ids."""
    return secrets.token_urlsafe(16)


def _micros(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(microseconds=1)


def _from_micros(value: int) -> datetime:
    return _EPOCH + timedelta(microseconds=value)


def load_or_create_keys(path: Path) -> list[bytes]:
    """The keys in ``path``, first the signing one. A missing file gets one new key,
    written 0600; two processes starting at once end up with the same key."""
    if not path.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(Fernet.generate_key() + b"\n")
                out.flush()
                os.fsync(out.fileno())
            try:
                os.link(temporary, path)  # never replaces a key another process made
                log.info("created the token signing key %s", path)
            except FileExistsError:
                pass
        finally:
            temporary.unlink(missing_ok=True)
    if path.stat().st_mode & 0o077:
        log.warning("token key file %s is readable by others than its owner", path)
    keys = [line.strip() for line in path.read_bytes().splitlines() if line.strip()]
    if not keys:
        raise ConfigurationError(f"token key file {path} holds no key")
    for key in keys:
        try:
            Fernet(key)
        except ValueError as exc:
            raise ConfigurationError(f"token key file {path}: not a Fernet key") from exc
    return keys


class TokenCodec:
    """Turns payloads into token strings and back."""

    def __init__(self, keys: list[bytes]) -> None:
        self._fernet = MultiFernet([Fernet(key) for key in keys])

    def encode(self, payload: TokenPayload) -> str:
        body = orjson.dumps(
            [
                _PAYLOAD_VERSION,
                payload.user_id,
                payload.project_id,
                list(payload.methods),
                list(payload.audit_ids),
                _micros(payload.issued_at),
                _micros(payload.expires_at),
            ]
        )
        # Keystone strips the base64 padding; clients treat the token as opaque
        return self._fernet.encrypt(body).decode("ascii").rstrip("=")

    def decode(self, token: str) -> TokenPayload | None:
        """The payload of one of our tokens; None for anything else (garbage, another
        key's token, a tampered one), whatever its expiry."""
        if not token or len(token) > MAX_TOKEN_LENGTH or not token.isascii() or "=" in token:
            return None  # tokens are issued without padding: a padded one is a look-alike
        padded = token + "=" * (-len(token) % 4)
        try:
            # one spelling per token: base64 decoding forgives padding, stray characters
            # and unused low bits, and a token must not have look-alikes
            if base64.urlsafe_b64encode(base64.urlsafe_b64decode(padded)).decode() != padded:
                return None
            body = self._fernet.decrypt(padded)
            version, user_id, project_id, methods, audit_ids, issued, expires = orjson.loads(body)
            if version != _PAYLOAD_VERSION:
                return None
            return TokenPayload(
                user_id=str(user_id),
                project_id=None if project_id is None else str(project_id),
                methods=tuple(str(m) for m in methods),
                audit_ids=tuple(str(a) for a in audit_ids),
                issued_at=_from_micros(int(issued)),
                expires_at=_from_micros(int(expires)),
            )
        except (InvalidToken, ValueError, TypeError, OverflowError, binascii.Error):
            return None
