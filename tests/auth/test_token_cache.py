"""The cache of validated tokens (both identity modes use it): bounded, least recently
used out first, never past an entry's deadline, never refilled by a validation that
raced with a drop, and never holding a usable token."""

from __future__ import annotations

import gc
import time

from glimpse.auth.token_cache import TokenCache


def later(seconds: float = 60) -> float:
    return time.time() + seconds


def test_bounded_least_recently_used_out_first() -> None:
    cache: TokenCache[str] = TokenCache(2)
    for token in ("t1", "t2"):
        cache.put(token, f"meaning of {token}", later())
    assert cache.get("t1") == "meaning of t1"  # t1 is now the most recently used
    cache.put("t3", "meaning of t3", later())
    assert len(cache) == 2
    assert cache.get("t2") is None
    assert cache.get("t1") is not None and cache.get("t3") is not None


def test_entries_end_at_their_deadline() -> None:
    cache: TokenCache[str] = TokenCache(10)
    cache.put("t", "v", later(0.05))
    assert cache.get("t") == "v"
    time.sleep(0.06)
    assert cache.get("t") is None
    cache.put("past", "v", later(-1))
    assert len(cache) == 0


def test_a_validation_older_than_a_drop_is_not_remembered() -> None:
    cache: TokenCache[str] = TokenCache(10)
    started = cache.epoch
    cache.drop_where(lambda v: v == "x")
    cache.put("t", "v", later(), epoch=started)
    assert cache.get("t") is None
    cache.put("t", "x", later(), epoch=cache.epoch)
    cache.put("u", "y", later(), epoch=cache.epoch)
    cache.drop_where(lambda v: v == "x")
    assert cache.get("t") is None and cache.get("u") == "y"


def test_clear_forgets_everything_and_moves_the_epoch() -> None:
    cache: TokenCache[str] = TokenCache(10)
    cache.put("t", "v", later())
    started = cache.epoch
    cache.clear()
    assert cache.get("t") is None and cache.epoch != started


def test_size_zero_caches_nothing() -> None:
    cache: TokenCache[str] = TokenCache(0)
    cache.put("t", "v", later())
    assert cache.get("t") is None


def test_the_cache_never_holds_the_token_itself() -> None:
    token = "gAAAAAB-a-token-that-must-not-be-kept-" + "x" * 40
    cache: TokenCache[str] = TokenCache(10)
    cache.put(token, "meaning", later())
    referenced = gc.get_referents(*gc.get_referents(cache))
    assert token not in referenced
    assert all(token not in repr(entry) for entry in cache._entries.items())
    assert cache.get(token) == "meaning"
