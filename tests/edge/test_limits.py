"""The edge's settings: range-checked; the connection cap fits the open-files limit."""

from __future__ import annotations

import resource
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError

from glimpse.config import Settings
from glimpse.edge.limits import RESERVED_FDS, EdgeLimits, raise_open_files_limit


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("http_max_header_bytes", 0),
        ("http_max_header_bytes", 1 << 30),
        ("http_header_timeout_seconds", 0),
        ("http_keepalive_timeout_seconds", 0),
        ("http_body_timeout_seconds", -1),
        ("http_max_connections", 0),
        ("http_max_connections_per_client", -1),
    ],
)
def test_out_of_range_values_are_refused_by_name(name: str, value: int, tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match=name):
        Settings(data_dir=tmp_path, **{name: value})


@pytest.fixture
def open_files() -> Iterator[tuple[int, int]]:
    limits = resource.getrlimit(resource.RLIMIT_NOFILE)
    yield limits
    resource.setrlimit(resource.RLIMIT_NOFILE, limits)


def test_the_connection_cap_leaves_descriptors_for_the_rest(
    open_files: tuple[int, int], tmp_path: Path
) -> None:
    limits = EdgeLimits.from_settings(Settings(data_dir=tmp_path, http_max_connections=4096))
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, open_files[1]))
    assert limits.connection_cap() == 256 - RESERVED_FDS
    resource.setrlimit(resource.RLIMIT_NOFILE, (10, open_files[1]))
    assert limits.connection_cap() == 1
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, open_files[1]))
    raise_open_files_limit()
    assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] == open_files[1]
    if open_files[1] != resource.RLIM_INFINITY:
        assert limits.connection_cap() == min(4096, open_files[1] - RESERVED_FDS)


@pytest.mark.parametrize(
    ("per_client", "cap", "expected"),
    [(1024, 4096, 1024), (1024, 192, 96), (5, 1, 1), (0, 4096, None)],
)
def test_one_client_gets_at_most_half_the_connections(
    per_client: int, cap: int, expected: int | None, tmp_path: Path
) -> None:
    settings = Settings(data_dir=tmp_path, http_max_connections_per_client=per_client)
    assert EdgeLimits.from_settings(settings).client_cap(cap) == expected
