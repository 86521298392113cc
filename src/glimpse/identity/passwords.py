"""Password hashes: argon2id (argon2-cffi), parameters recorded in each hash."""

from __future__ import annotations

import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

# Keystone's limit; argon2 would take longer input, but nobody needs it
MAX_PASSWORD_LENGTH = 4096


class Passwords:
    def __init__(self, *, time_cost: int, memory_kib: int) -> None:
        parallelism = PasswordHasher().parallelism
        # argon2 needs 8 KiB per lane at least
        self._hasher = PasswordHasher(
            time_cost=max(time_cost, 1),
            memory_cost=max(memory_kib, 8 * parallelism),
            parallelism=parallelism,
        )
        self._dummy: str | None = None

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, stored: str | None, password: str) -> bool:
        """Whether ``password`` matches ``stored``. Without a stored hash (no such user,
        or no password set) a dummy hash is checked all the same, so that the answer
        takes as long and does not tell which users exist."""
        if len(password) > MAX_PASSWORD_LENGTH:
            return False
        if stored is None:
            if self._dummy is None:
                self._dummy = self._hasher.hash(secrets.token_urlsafe(16))
            self._check(self._dummy, password)
            return False
        return self._check(stored, password)

    def _check(self, stored: str, password: str) -> bool:
        try:
            return self._hasher.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, stored: str) -> bool:
        """Whether a hash was made with other parameters than the configured ones."""
        try:
            return self._hasher.check_needs_rehash(stored)
        except InvalidHashError:
            return False
