"""Tokens this node validated recently, so that most requests skip the validation.

Bounded in size (the least recently used goes first) and in age: each entry is kept
until its own deadline, which callers set no later than the token's expiry. Keys are
digests of the tokens, so the cache never holds a usable token. Entries can be dropped
at once (a revocation seen here); :attr:`epoch` then moves, so that a validation that
started before can tell that its result may be stale and must not be remembered. Used
from the event loop only (no locks).
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

from glimpse import metrics

V = TypeVar("V")


def _key(token: str) -> bytes:
    # latin-1: header values arrive decoded that way, so it round-trips any of them
    return hashlib.sha256(token.encode("latin-1", "replace")).digest()


class TokenCache(Generic[V]):
    """At most ``size`` entries (0: cache nothing)."""

    def __init__(self, size: int) -> None:
        self._size = max(size, 0)
        self._entries: OrderedDict[bytes, tuple[float, V]] = OrderedDict()
        self.epoch = 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, token: str) -> V | None:
        key = _key(token)
        entry = self._entries.get(key)
        if entry is None:
            metrics.count_token_lookup(False)
            return None
        until, value = entry
        if until <= time.time():
            del self._entries[key]
            metrics.count_token_lookup(False)
            return None
        self._entries.move_to_end(key)
        metrics.count_token_lookup(True)
        return value

    def put(self, token: str, value: V, until: float, *, epoch: int | None = None) -> None:
        """Remember ``value`` until ``until`` (seconds since the epoch). With ``epoch``
        (read when the validation started), only if nothing was dropped since."""
        if self._size == 0 or until <= time.time():
            return
        if epoch is not None and epoch != self.epoch:
            return
        key = _key(token)
        self._entries[key] = (until, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self._size:
            self._entries.popitem(last=False)

    def drop_where(self, doomed: Callable[[V], bool]) -> None:
        self.epoch += 1
        for key in [k for k, (_, value) in self._entries.items() if doomed(value)]:
            del self._entries[key]

    def clear(self) -> None:
        self.epoch += 1
        self._entries.clear()
