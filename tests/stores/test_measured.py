"""The measured store (metrics on): the whole store contract through it, and each of
its operations counted by outcome."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from glimpse import metrics
from glimpse.errors import DataMissing
from glimpse.stores.file import FileStore
from glimpse.stores.measured import MeasuredStore
from tests.stores.contract import StoreContract
from tests.support.store_data import get, put


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> MeasuredStore:
    monkeypatch.setattr(metrics, "_enabled", True)  # counted for this test only
    return MeasuredStore(FileStore("measured", tmp_path / "images"))


class TestMeasuredStore(StoreContract):
    pass


def counted(operation: str, outcome: str) -> float:
    value = REGISTRY.get_sample_value(
        "glimpse_store_operations_total",
        {"store": "measured", "operation": operation, "outcome": outcome},
    )
    return value or 0.0


async def test_each_operation_is_counted_by_outcome(store: MeasuredStore) -> None:
    before = {op: counted(op, "ok") for op in ("write", "read", "size", "delete")}
    location = await put(store, b"measured bytes")
    assert await get(store, location) == b"measured bytes"
    assert await store.size(location) == len(b"measured bytes")
    await store.modified(location)
    await store.probe()
    assert [found async for found in store.objects()]
    await store.delete(location)
    for op in ("write", "read", "size", "delete"):
        assert counted(op, "ok") == before[op] + 1, op
    failed = counted("size", "DataMissing")
    with pytest.raises(DataMissing):
        await store.size(location)
    assert counted("size", "DataMissing") == failed + 1
    with pytest.raises(DataMissing):
        await store.read(location)
    writer = await store.writer("aborted", 4)
    await writer.write(memoryview(b"abcd"))
    await writer.abort()


async def test_an_adopted_file_is_counted_as_a_write(store: MeasuredStore, tmp_path: Path) -> None:
    staged = await put(FileStore("staging", tmp_path / "staging"), b"staged bytes")
    before = counted("write", "ok")
    writer = await store.writer("adopted", 12)
    assert await writer.adopt(staged)
    location = await writer.commit()
    assert await get(store, location) == b"staged bytes"
    assert counted("write", "ok") == before + 1
