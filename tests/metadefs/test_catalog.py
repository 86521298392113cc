"""Glance's own metadefs catalog (its ``etc/metadefs``, taken from the glance source
distribution on PyPI at test time) loaded, listed, exported and loaded again."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from glimpse.config import ConfigurationError
from glimpse.db.engine import Database
from glimpse.metadefs import catalog

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def glance_metadefs() -> Path:
    """Glance's ``etc/metadefs`` directory, from its sdist on PyPI (downloaded once)."""
    found = subprocess.run(
        [str(ROOT / ".ci" / "glance-metadefs.sh")],
        check=True, capture_output=True, text=True, env={**os.environ, "PYTHON": sys.executable},
    )  # fmt: skip
    return Path(found.stdout.strip())


@pytest.fixture
def db(client: httpx.AsyncClient, make_settings: Any) -> Any:
    made = Database(make_settings().resolved_database_url)
    yield made
    made.engine.dispose()


def _files(directory: Path) -> dict[str, dict[str, Any]]:
    documents = (orjson.loads(p.read_bytes()) for p in directory.glob("*.json"))
    return {d["namespace"]: d for d in documents}


def _comparable(document: dict[str, Any]) -> dict[str, Any]:
    """A metadefs document with list order and what a file may leave out made even."""
    found = {k: v for k, v in document.items() if k != "owner" and v not in ([], {}, None)}
    found.setdefault("visibility", "private")
    for key in ("resource_type_associations", "objects", "tags"):
        if key in found:
            found[key] = sorted(found[key], key=lambda item: item["name"])
    return found


async def test_the_standard_catalog_loads_lists_and_exports_unchanged(
    glance_metadefs: Path, db: Database, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    originals = _files(glance_metadefs)
    assert len(originals) >= 30
    report = catalog.load(db, glance_metadefs)
    assert sorted(report.loaded) == sorted(originals) and not report.skipped

    for_images = {
        name for name, d in originals.items()
        if any(a["name"] == "OS::Glance::Image" for a in d.get("resource_type_associations", []))
    }  # fmt: skip
    r = await client.get(
        "/v2/metadefs/namespaces",
        params={"resource_types": "OS::Glance::Image", "limit": 1000},
    )
    assert {n["namespace"] for n in r.json()["namespaces"]} == for_images
    largest = max(originals, key=lambda n: len(orjson.dumps(originals[n])))
    shown = (await client.get(f"/v2/metadefs/namespaces/{largest}")).json()
    assert shown.get("properties") == originals[largest].get("properties")
    assert len(shown.get("objects", [])) == len(originals[largest].get("objects", []))

    exported = tmp_path / "exported"
    catalog.export(db, exported)
    again = _files(exported)
    assert {n: _comparable(d) for n, d in again.items()} == {
        n: _comparable(d) for n, d in originals.items()
    }
    # and back: unload, load the export, export again — byte for byte the same
    assert catalog.unload(db) == len(originals)
    assert (await client.get("/v2/metadefs/resource_types")).json() == {"resource_types": []}
    catalog.load(db, exported)
    second = tmp_path / "second"
    catalog.export(db, second)
    for path in exported.glob("*.json"):
        assert (second / path.name).read_bytes() == path.read_bytes(), path.name


def _write(directory: Path, **document: Any) -> Path:
    directory.mkdir(exist_ok=True)
    path = directory / catalog.file_name(document["namespace"])
    path.write_bytes(orjson.dumps(document))
    return directory


async def test_merge_prefer_new_and_overwrite(db: Database, tmp_path: Path, client: Any) -> None:
    old = _write(
        tmp_path / "old", namespace="N", description="old", protected=True,
        properties={"a": {"title": "A", "type": "string"}},
        objects=[{"name": "o", "description": "old"}],
        resource_type_associations=[{"name": "OS::Glance::Image", "prefix": "x_"}],
    )  # fmt: skip
    new = _write(
        tmp_path / "new", namespace="N", description="new",
        properties={"a": {"title": "A2", "type": "integer"}, "b": {"title": "B", "type": "string"}},
        objects=[{"name": "o", "description": "new"}, {"name": "p"}],
        tags=[{"name": "t"}],
    )  # fmt: skip
    catalog.load(db, old)

    def shown() -> dict[str, Any]:
        with db.engine.connect() as conn:
            from glimpse.metadefs.repository import MetadefRepository

            repo = MetadefRepository(conn)
            ns = repo.get_namespace("N")
            assert ns is not None
            return catalog.document_of(repo, ns)

    assert catalog.load(db, new).skipped == ["N"]  # present: left alone
    assert shown()["description"] == "old" and "b" not in shown()["properties"]

    catalog.load(db, new, merge=True)  # adds what is missing, keeps what is there
    merged = shown()
    assert merged["description"] == "old" and merged["protected"] is True
    assert merged["properties"]["a"]["title"] == "A" and "b" in merged["properties"]
    assert [o["name"] for o in merged["objects"]] == ["o", "p"]
    assert merged["objects"][0]["description"] == "old"
    assert merged["tags"] == [{"name": "t"}]
    assert merged["resource_type_associations"] == [{"name": "OS::Glance::Image", "prefix": "x_"}]

    catalog.load(db, new, merge=True, prefer_new=True)  # the file's values win
    preferred = shown()
    assert preferred["description"] == "new" and preferred["protected"] is False
    assert preferred["properties"]["a"] == {"title": "A2", "type": "integer"}
    assert preferred["objects"][0]["description"] == "new"

    catalog.load(db, old, overwrite=True)  # replaced by the file alone
    replaced = shown()
    assert replaced["properties"] == {"a": {"title": "A", "type": "string"}}
    assert [o["name"] for o in replaced["objects"]] == ["o"] and "tags" not in replaced


def test_bad_catalogs_are_refused_with_the_file_named(db: Database, tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="no such directory"):
        catalog.load(db, tmp_path / "missing")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ConfigurationError, match=r"bad\.json: not a metadefs file"):
        catalog.load(db, tmp_path)
    (tmp_path / "bad.json").write_text('{"display_name": "no namespace"}')
    with pytest.raises(ConfigurationError, match="no namespace name"):
        catalog.load(db, tmp_path)


def test_the_command_line(glance_metadefs: Path, make_settings: Any, tmp_path: Path) -> None:
    settings = make_settings()
    env = {**os.environ, "GLIMPSE_DATABASE_URL": settings.resolved_database_url,
           "GLIMPSE_DATA_DIR": str(settings.data_dir)}  # fmt: skip
    glimpse = [sys.executable, "-m", "glimpse", "metadefs"]
    Database(settings.resolved_database_url)  # the schema is there
    out = subprocess.run([*glimpse, "unload"], env=env, capture_output=True, text=True, check=True)
    loaded = subprocess.run(
        [*glimpse, "load", str(glance_metadefs)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert loaded.stdout.startswith("loaded ")
    again = subprocess.run(
        [*glimpse, "load", "--merge", str(glance_metadefs)], env=env, capture_output=True,
        text=True, check=True,
    )  # fmt: skip
    assert "merged" in again.stdout and "merged 0" not in again.stdout
    out = subprocess.run(
        [*glimpse, "export", str(tmp_path / "e")],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.startswith(f"exported {len(list(glance_metadefs.glob('*.json')))} ")
    bad = subprocess.run(
        [*glimpse, "load", str(tmp_path / "nope")], env=env, capture_output=True, text=True
    )
    assert bad.returncode == 2 and "no such directory" in bad.stderr
    subprocess.run([*glimpse, "unload"], env=env, capture_output=True, text=True, check=True)
