"""The cache of validated tokens: bounded, least recently used out first, never past a
token's expiry, and never refilled by a validation that raced with a drop."""

from __future__ import annotations

import time
from datetime import timedelta

from glimpse.auth.builtin.cache import ValidatedTokenCache
from glimpse.auth.builtin.model import Domain, TokenPayload, User, ValidatedToken, utcnow


def validated(token: str, *, lifetime: float = 3600, audit_id: str = "a") -> ValidatedToken:
    now = utcnow()
    payload = TokenPayload(
        "u", None, ("password",), (audit_id,), now, now + timedelta(seconds=lifetime)
    )
    return ValidatedToken(token, payload, User("u", "user", Domain("d", "D")), None, ())


def test_bounded_least_recently_used_out_first() -> None:
    cache = ValidatedTokenCache(size=2, seconds=60)
    for token in ("t1", "t2"):
        cache.put(validated(token), epoch=cache.epoch)
    assert cache.get("t1") is not None  # t1 is now the most recently used
    cache.put(validated("t3"), epoch=cache.epoch)
    assert len(cache) == 2
    assert cache.get("t2") is None
    assert cache.get("t1") is not None and cache.get("t3") is not None


def test_entries_end_with_the_cache_time_or_the_token() -> None:
    short = ValidatedTokenCache(size=10, seconds=0.05)
    short.put(validated("t"), epoch=short.epoch)
    assert short.get("t") is not None
    time.sleep(0.06)
    assert short.get("t") is None
    cache = ValidatedTokenCache(size=10, seconds=60)
    cache.put(validated("t", lifetime=0.05), epoch=cache.epoch)
    time.sleep(0.06)
    assert cache.get("t") is None


def test_a_validation_older_than_a_drop_is_not_remembered() -> None:
    cache = ValidatedTokenCache(size=10, seconds=60)
    started = cache.epoch
    cache.drop_where(lambda v: "x" in v.payload.audit_ids)
    cache.put(validated("t"), epoch=started)
    assert cache.get("t") is None
    cache.put(validated("t", audit_id="x"), epoch=cache.epoch)
    cache.put(validated("u", audit_id="y"), epoch=cache.epoch)
    cache.drop_where(lambda v: "x" in v.payload.audit_ids)
    assert cache.get("t") is None and cache.get("u") is not None


def test_size_zero_caches_nothing() -> None:
    cache = ValidatedTokenCache(size=0, seconds=60)
    cache.put(validated("t"), epoch=cache.epoch)
    assert cache.get("t") is None
