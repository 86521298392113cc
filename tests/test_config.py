"""glimpse.config.Settings: store sections and what makes them invalid, the default
store, the one way to name stores, ``public_url``, and Glance's size syntax."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from glimpse.config import FileStoreSettings, HttpStoreSettings, Settings, parse_size


def settings(tmp_path: Path, **values: Any) -> Settings:
    return Settings(data_dir=tmp_path, **values)


def error_types(raised: pytest.ExceptionInfo[ValidationError]) -> list[tuple[str, tuple[Any, ...]]]:
    return [(error["type"], error["loc"]) for error in raised.value.errors()]


# ------------------------------------------------------------------ stores


def test_store_sections(tmp_path: Path) -> None:
    made = settings(
        tmp_path,
        stores={
            "fast": {"type": "file", "directory": "/srv/fast", "fsync": False},
            "slow": {"type": "file", "directory": "/srv/slow", "direct_io": False},
        },
    )
    assert made.stores == {
        "fast": FileStoreSettings(type="file", directory=Path("/srv/fast"), fsync=False),
        "slow": FileStoreSettings(type="file", directory=Path("/srv/slow"), direct_io=False),
    }


def test_a_file_store_needs_a_directory(tmp_path: Path) -> None:
    with pytest.raises(ValidationError) as raised:
        settings(tmp_path, stores={"fast": {"type": "file"}})
    assert error_types(raised) == [("missing", ("stores", "fast", "file", "directory"))]


def test_a_swift_store_needs_its_account(tmp_path: Path) -> None:
    with pytest.raises(ValidationError) as raised:
        settings(tmp_path, stores={"s": {"type": "swift", "multiple_containers_seed": 33}})
    assert error_types(raised) == [
        ("missing", ("stores", "s", "swift", key)) for key in ("auth_address", "user", "key")
    ] + [("less_than_equal", ("stores", "s", "swift", "multiple_containers_seed"))]


def test_a_swift_store_with_keystone_names_a_project(tmp_path: Path) -> None:
    account = {"type": "swift", "auth_address": "http://keystone:5000/v3", "key": "k"}
    with pytest.raises(ValidationError, match="user is \"project:user\", not 'glance'"):
        settings(tmp_path, stores={"s": {**account, "user": "glance", "auth_version": "3"}})
    made = settings(
        tmp_path, stores={"s": {**account, "user": "service:glance", "auth_version": "2"}}
    )
    assert made.stores["s"].user == "service:glance"  # type: ignore[union-attr]
    assert settings(tmp_path, stores={"s": {**account, "user": "glance"}}).stores["s"]


@pytest.mark.parametrize(
    ("section", "error"),
    [
        ({"type": "ceph", "directory": "/srv"}, "union_tag_invalid"),
        ({"directory": "/srv"}, "union_tag_not_found"),
    ],
)
def test_a_store_of_unknown_or_no_type_is_invalid(
    tmp_path: Path, section: dict[str, Any], error: str
) -> None:
    with pytest.raises(ValidationError) as raised:
        settings(tmp_path, stores={"fast": section})
    assert error_types(raised) == [(error, ("stores", "fast"))]


def test_a_store_section_takes_no_unknown_keys(tmp_path: Path) -> None:
    with pytest.raises(ValidationError) as raised:
        settings(tmp_path, stores={"fast": {"type": "file", "directory": "/srv", "fsnyc": 1}})
    assert error_types(raised) == [("extra_forbidden", ("stores", "fast", "file", "fsnyc"))]


@pytest.mark.parametrize(
    ("stores", "default"),
    [
        ({}, "fast"),
        ({"fast": {"type": "file", "directory": "/srv/fast"}}, "file"),
        ({"fast": {"type": "file", "directory": "/srv/fast"}}, "slow"),
    ],
)
def test_the_default_store_must_be_configured(
    tmp_path: Path, stores: dict[str, Any], default: str
) -> None:
    with pytest.raises(ValidationError, match=f"default_store '{default}' is not a configured"):
        settings(tmp_path, stores=stores, default_store=default)


@pytest.mark.parametrize(
    "flat",
    [
        {"file_store_dir": "/srv/flat"},
        {"file_store_fsync": True},  # even its default value, once set
        {"file_store_direct_io": False},
    ],
)
def test_sections_and_flat_settings_do_not_mix(tmp_path: Path, flat: dict[str, Any]) -> None:
    [name] = flat
    with pytest.raises(ValidationError, match=f"set either \\[stores.<name>\\] tables or {name}"):
        settings(tmp_path, stores={"fast": {"type": "file", "directory": "/srv/fast"}}, **flat)


def test_resolved_stores_put_the_default_first(tmp_path: Path) -> None:
    stores = {name: {"type": "file", "directory": f"/srv/{name}"} for name in ("a", "b", "c")}
    assert list(settings(tmp_path, stores=stores).resolved_stores) == ["a", "b", "c"]
    resolved = settings(tmp_path, stores=stores, default_store="c").resolved_stores
    assert list(resolved) == ["c", "a", "b"]
    assert resolved["c"].directory == Path("/srv/c")


def test_resolved_stores_of_flat_settings(tmp_path: Path) -> None:
    assert settings(tmp_path).resolved_stores == {
        "file": FileStoreSettings(type="file", directory=tmp_path / "images"),
        "http": HttpStoreSettings(type="http"),
    }
    flat = settings(
        tmp_path,
        default_store="file",
        file_store_dir="/srv/flat",
        file_store_fsync=False,
        file_store_direct_io=False,
    )
    assert flat.resolved_stores == {
        "file": FileStoreSettings(
            type="file", directory=Path("/srv/flat"), fsync=False, direct_io=False
        ),
        "http": HttpStoreSettings(type="http"),
    }


def test_an_http_store_is_never_the_default(tmp_path: Path) -> None:
    web = {"type": "http"}
    disk = {"type": "file", "directory": "/srv/fast"}
    with pytest.raises(ValidationError, match=r"'web' is read-only .* set default_store"):
        settings(tmp_path, stores={"web": web, "fast": disk})
    with pytest.raises(ValidationError, match="'web' is read-only"):
        settings(tmp_path, stores={"fast": disk, "web": web}, default_store="web")
    with pytest.raises(ValidationError, match="os_glance_staging_store' cannot be read-only"):
        settings(tmp_path, stores={"fast": disk, "os_glance_staging_store": web})
    chosen = settings(tmp_path, stores={"web": web, "fast": disk}, default_store="fast")
    assert list(chosen.resolved_stores) == ["fast", "web"]


# -------------------------------------------------------------- public url


@pytest.mark.parametrize(
    ("endpoint", "request_base", "expected"),
    [
        ("https://images.example.com/", None, "https://images.example.com"),
        ("https://images.example.com/v/", "http://10.0.0.1:9292/", "https://images.example.com/v"),
        ("https://images.example.com", "http://10.0.0.1:9292", "https://images.example.com"),
        (None, "http://10.0.0.1:9292/", "http://10.0.0.1:9292"),
        (None, "http://[fd00::1]:9292", "http://[fd00::1]:9292"),
        ("", "http://10.0.0.1:9292/", "http://10.0.0.1:9292"),  # empty: not configured
    ],
)
def test_public_url_configured_or_from_the_request(
    tmp_path: Path, endpoint: str | None, request_base: str | None, expected: str
) -> None:
    made = settings(tmp_path, public_endpoint=endpoint, host="images.internal", port=1234)
    assert made.public_url(request_base) == expected


@pytest.mark.parametrize(
    ("host", "port", "expected"),
    [
        ("127.0.0.1", 9292, "http://127.0.0.1:9292"),
        ("0.0.0.0", 9292, "http://127.0.0.1:9292"),
        ("::", 8080, "http://127.0.0.1:8080"),
        ("", 9292, "http://127.0.0.1:9292"),
        ("::1", 9292, "http://[::1]:9292"),
        ("fd00::5", 1234, "http://[fd00::5]:1234"),
        ("images.internal", 80, "http://images.internal:80"),
    ],
)
def test_public_url_from_host_and_port(tmp_path: Path, host: str, port: int, expected: str) -> None:
    assert settings(tmp_path, host=host, port=port).public_url() == expected


# -------------------------------------------------------------------- sizes


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("0", 0),
        ("10", 10),
        ("7B", 7),
        ("1KB", 1 << 10),
        ("5 mb", 5 << 20),
        (" 2GB ", 2 << 30),
        ("3tb", 3 << 40),
        (1234, 1234),
    ],
)
def test_parse_size(text: str | int, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "GB", "1.5GB", "-1", "10PB", "1 K B", "1KiB", "ten"])
def test_parse_size_refuses_what_is_not_a_size(text: str) -> None:
    with pytest.raises(ValueError, match="invalid size"):
        parse_size(text)


def test_registered_limits_name_known_resources(tmp_path: Path) -> None:
    made = settings(tmp_path, registered_limits={"image_count_total": 5, "image_size_total": -1})
    assert made.registered_limits == {"image_count_total": 5, "image_size_total": -1}
    with pytest.raises(ValidationError, match="unknown resource 'cores'"):
        settings(tmp_path, registered_limits={"cores": 4})
    with pytest.raises(ValidationError, match="must be -1 or more"):
        settings(tmp_path, registered_limits={"image_count_total": -2})


def test_the_storage_quota_takes_sizes(tmp_path: Path) -> None:
    assert settings(tmp_path, user_storage_quota="3GB").user_storage_quota == 3 << 30
    assert settings(tmp_path, user_storage_quota=100).user_storage_quota == 100
    with pytest.raises(ValidationError, match="invalid size"):
        settings(tmp_path, user_storage_quota="lots")


# ------------------------------------------------------------------ import plugins


def test_import_plugins_are_off_by_default_and_named_as_in_glance(tmp_path: Path) -> None:
    made = settings(tmp_path)
    assert made.image_import_plugins == []
    assert made.image_conversion_output_format == "raw"
    assert made.inject_metadata_ignore_user_roles == ["admin"]
    assert made.inject_metadata_properties == {}
    assert made.resolved_import_work_dir == tmp_path / "import-work"
    assert made.resolved_import_work_dir_size == 2 * made.image_size_cap
    chosen = settings(
        tmp_path,
        image_import_plugins=["image_decompression", "image_conversion", "no_op"],
        image_import_work_dir_size="20GB",
        image_import_work_dir="/srv/work",
    )
    assert chosen.resolved_import_work_dir_size == 20 << 30
    assert chosen.resolved_import_work_dir == Path("/srv/work")
    with pytest.raises(ValidationError, match="image_import_plugins"):
        settings(tmp_path, image_import_plugins=["image_compression"])
    with pytest.raises(ValidationError, match="image_conversion_output_format"):
        settings(tmp_path, image_conversion_output_format="vdi")
    with pytest.raises(ValidationError, match="image_conversion_timeout_seconds must be at"):
        settings(tmp_path, image_conversion_timeout_seconds=0)


# ------------------------------------------------------------------ import methods


def test_import_methods_are_known_and_glance_download_needs_keystone(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="unknown glance-upload"):
        settings(tmp_path, enabled_import_methods=["glance-direct", "glance-upload"])
    with pytest.raises(ValidationError, match="glance-download needs auth_mode = keystone"):
        settings(tmp_path, enabled_import_methods=["glance-download"])
    made = settings(tmp_path, auth_mode="keystone", enabled_import_methods=["glance-download"])
    assert made.glance_download_properties == [
        "hw_", "trait:", "os_distro", "os_secure_boot", "os_type",
    ]  # fmt: skip
