"""Glance's metadefs files in and out: the operator's catalog (one JSON file per
namespace, as in Glance's ``etc/metadefs``) loaded, unloaded and exported.

Loading follows ``glance-manage db load_metadefs``: a namespace already in the catalog is
skipped, unless ``overwrite`` (drop it and load the file's) or ``merge`` (add what the
file has and the catalog lacks; with ``prefer_new`` the file's values also replace the
catalog's). Resource types first named by a file are created protected, as Glance's are.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import delete

from glimpse.clock import utcnow
from glimpse.config import ConfigurationError
from glimpse.db.engine import Database
from glimpse.db.tables import metadef_namespaces, metadef_resource_types
from glimpse.metadefs.model import (
    Association,
    MetadefObject,
    Namespace,
    NamespaceQuery,
    ResourceType,
)
from glimpse.metadefs.repository import MetadefRepository
from glimpse.model.context import Viewer

DEFAULT_OWNER = "admin"


@dataclass(slots=True)
class LoadReport:
    loaded: list[str] = field(default_factory=list)
    merged: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def _read(path: Path) -> dict[str, Any]:
    try:
        document = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        raise ConfigurationError(f"{path}: not a metadefs file: {exc}") from None
    if not isinstance(document, dict) or not isinstance(document.get("namespace"), str):
        raise ConfigurationError(f"{path}: not a metadefs file: no namespace name")
    return document


def _objects(document: dict[str, Any]) -> list[MetadefObject]:
    return [
        MetadefObject(
            name=o["name"],
            description=o.get("description"),
            required=o.get("required"),
            properties=o.get("properties") or {},
        )
        for o in document.get("objects") or []
    ]


def _namespace_values(document: dict[str, Any], ns: Namespace) -> None:
    ns.display_name = document.get("display_name")
    ns.description = document.get("description")
    ns.visibility = document.get("visibility") or "private"
    ns.protected = bool(document.get("protected", False))
    ns.owner = document.get("owner") or DEFAULT_OWNER


def _ensure_resource_type(repo: MetadefRepository, name: str, now: Any) -> None:
    if repo.resource_type_id(name, now, create=False) is None:
        repo.add_resource_type(ResourceType(name, True, now, now))


def _load_one(
    repo: MetadefRepository, document: dict[str, Any], *, merge: bool, prefer_new: bool,
    overwrite: bool, report: LoadReport,
) -> None:  # fmt: skip
    name = document["namespace"]
    now = utcnow()
    existing = repo.get_namespace(name)
    if existing is not None and not merge:
        if not overwrite:
            report.skipped.append(name)
            return
        assert existing.id is not None
        repo.delete_namespace(existing.id)
        existing = None
    for a in document.get("resource_type_associations") or []:
        _ensure_resource_type(repo, a["name"], now)
    if existing is None:
        ns = Namespace(namespace=name, owner=DEFAULT_OWNER, created_at=now, updated_at=now)
        _namespace_values(document, ns)
        ns.id = repo.add_namespace(ns)
        report.loaded.append(name)
    else:
        ns = existing
        if prefer_new:
            _namespace_values(document, ns)
            ns.updated_at = now
            repo.update_namespace(ns)
        report.merged.append(name)
    namespace_id = ns.id
    assert namespace_id is not None
    have_properties = repo.properties(namespace_id)
    for prop, definition in (document.get("properties") or {}).items():
        if prop not in have_properties:
            repo.add_property(namespace_id, prop, definition, now)
        elif prefer_new:
            repo.update_property(namespace_id, prop, prop, definition, now)
    for obj in _objects(document):
        obj.created_at = obj.updated_at = now
        if repo.get_object(namespace_id, obj.name) is None:
            repo.add_object(namespace_id, obj)
        elif prefer_new:
            repo.update_object(namespace_id, obj.name, obj)
    have_tags = {t.name for t in repo.tags(namespace_id)}
    repo.add_tags(
        namespace_id, [t["name"] for t in document.get("tags") or [] if t["name"] not in have_tags],
        now,
    )  # fmt: skip
    associated = {a.name for a in repo.associations([namespace_id]).get(namespace_id, [])}
    for a in document.get("resource_type_associations") or []:
        if a["name"] not in associated:
            association = Association(a["name"], a.get("prefix"), a.get("properties_target"))
            repo.add_association(namespace_id, association, now)


def load(
    db: Database, directory: Path, *, merge: bool = False, prefer_new: bool = False,
    overwrite: bool = False,
) -> LoadReport:  # fmt: skip
    """Load every ``*.json`` file of ``directory``, in one transaction."""
    if not directory.is_dir():
        raise ConfigurationError(f"{directory}: no such directory of metadefs files")
    documents = [_read(path) for path in sorted(directory.glob("*.json"))]
    report = LoadReport()
    with db.engine.begin() as conn:
        repo = MetadefRepository(conn)
        for document in documents:
            _load_one(
                repo, document, merge=merge, prefer_new=prefer_new, overwrite=overwrite,
                report=report,
            )  # fmt: skip
    return report


def unload(db: Database) -> int:
    """Remove the whole catalog; how many namespaces went."""
    with db.engine.begin() as conn:
        gone = conn.execute(delete(metadef_namespaces)).rowcount  # cascades to their contents
        conn.execute(delete(metadef_resource_types))
    return int(gone)


def file_name(namespace: str) -> str:
    """A file name for a namespace: ``OS::Compute::Watchdog`` → ``OS-Compute-Watchdog.json``."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", namespace).strip("-") + ".json"


def document_of(repo: MetadefRepository, ns: Namespace) -> dict[str, Any]:
    """A namespace in Glance's metadefs file format."""
    assert ns.id is not None
    document: dict[str, Any] = {"namespace": ns.namespace}
    if ns.display_name is not None:
        document["display_name"] = ns.display_name
    if ns.description is not None:
        document["description"] = ns.description
    document["visibility"] = ns.visibility
    document["protected"] = ns.protected
    document["owner"] = ns.owner
    associations = repo.associations([ns.id]).get(ns.id, [])
    if associations:
        document["resource_type_associations"] = [
            {k: v for k, v in (("name", a.name), ("prefix", a.prefix),
                               ("properties_target", a.properties_target)) if v is not None}
            for a in associations
        ]  # fmt: skip
    properties = repo.properties(ns.id)
    if properties:
        document["properties"] = properties
    objects = sorted(repo.objects(ns.id), key=lambda o: o.name)
    if objects:
        document["objects"] = [
            {k: v for k, v in (("name", o.name), ("description", o.description),
                               ("required", o.required), ("properties", o.properties or None))
             if v is not None}
            for o in objects
        ]  # fmt: skip
    tags = sorted(t.name for t in repo.tags(ns.id))
    if tags:
        document["tags"] = [{"name": t} for t in tags]
    return document


def export(db: Database, directory: Path) -> list[Path]:
    """Write each namespace to ``directory`` as a metadefs file; the files written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    with db.engine.connect() as conn:
        repo = MetadefRepository(conn)
        everyone = Viewer(project=None, is_admin=True)
        query = NamespaceQuery(limit=1_000_000, sort_key="namespace", sort_dir="asc")
        for ns in repo.list_namespaces(query, everyone):
            path = directory / file_name(ns.namespace)
            path.write_bytes(
                orjson.dumps(document_of(repo, ns), option=orjson.OPT_INDENT_2) + b"\n"
            )
            written.append(path)
    return written
