"""Tokens this node validated recently, so that most requests skip decryption and the
database. Bounded in size (least recently used first out) and age; an entry never
outlives its token, and can be dropped at once when a token is revoked here."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from glimpse.auth.builtin.model import ValidatedToken

_EPOCH = datetime(1970, 1, 1)


@dataclass(frozen=True, slots=True)
class _Entry:
    validated: ValidatedToken
    fresh_until: float  # time.monotonic()
    expires_at: float  # time.time() of the token's own expiry


class ValidatedTokenCache:
    def __init__(self, *, size: int, seconds: float) -> None:
        self._size = max(size, 0)
        self._seconds = seconds
        self._entries: dict[str, _Entry] = {}
        # moves whenever entries are dropped, so that a validation that started before
        # can tell that its result may be stale and must not be remembered
        self.epoch = 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, token: str) -> ValidatedToken | None:
        entry = self._entries.get(token)
        if entry is None:
            return None
        if entry.fresh_until < time.monotonic() or entry.expires_at <= time.time():
            del self._entries[token]
            return None
        self._entries[token] = self._entries.pop(token)  # now the most recently used
        return entry.validated

    def put(self, validated: ValidatedToken, *, epoch: int) -> None:
        """Remember a validation that started at ``epoch`` (ignored if entries were
        dropped since: it may have read what they were dropped for)."""
        if epoch != self.epoch or self._size == 0 or self._seconds <= 0:
            return
        while len(self._entries) >= self._size:
            # the least recently used goes first (dicts keep insertion order)
            del self._entries[next(iter(self._entries))]
        expires_at = (validated.payload.expires_at - _EPOCH).total_seconds()
        self._entries[validated.token] = _Entry(
            validated, time.monotonic() + self._seconds, expires_at
        )

    def drop_where(self, doomed: Callable[[ValidatedToken], bool]) -> None:
        self.epoch += 1
        for token in [t for t, e in self._entries.items() if doomed(e.validated)]:
            del self._entries[token]

    def clear(self) -> None:
        self.epoch += 1
        self._entries.clear()
