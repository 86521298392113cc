"""Metadefs as Glance shows them: absent values left out, timestamps to the second."""

from __future__ import annotations

from typing import Any

from glimpse.api.images.views import timestamp
from glimpse.metadefs.model import (
    Association,
    MetadefObject,
    Namespace,
    NamespaceContents,
    ResourceType,
    Tag,
)

ROOT = "/v2/metadefs/namespaces"


def _stamps(view: dict[str, Any], item: Any) -> dict[str, Any]:
    if item.created_at is not None:
        view["created_at"] = timestamp(item.created_at)
    if item.updated_at is not None:
        view["updated_at"] = timestamp(item.updated_at)
    return view


def namespace_view(ns: Namespace) -> dict[str, Any]:
    view: dict[str, Any] = {"namespace": ns.namespace}
    if ns.display_name is not None:
        view["display_name"] = ns.display_name
    if ns.description is not None:
        view["description"] = ns.description
    view["visibility"] = ns.visibility
    view["protected"] = ns.protected
    view["owner"] = ns.owner
    return _stamps(view, ns)


def association_view(association: Association, *, stamps: bool = True) -> dict[str, Any]:
    view: dict[str, Any] = {"name": association.name}
    if association.prefix is not None:
        view["prefix"] = association.prefix
    if association.properties_target is not None:
        view["properties_target"] = association.properties_target
    return _stamps(view, association) if stamps else view


def object_view(ns_name: str, obj: MetadefObject, *, full: bool = True) -> dict[str, Any]:
    view: dict[str, Any] = {"name": obj.name}
    if full or obj.required is not None:
        view["required"] = obj.required or []
    if obj.description is not None:
        view["description"] = obj.description
    if obj.properties:
        view["properties"] = obj.properties
    if not full:
        return view
    _stamps(view, obj)
    view["self"] = f"{ROOT}/{ns_name}/objects/{obj.name}"
    view["schema"] = "/v2/schemas/metadefs/object"
    return view


def tag_view(tag: Tag) -> dict[str, Any]:
    return _stamps({"name": tag.name}, tag)


def resource_type_view(rt: ResourceType) -> dict[str, Any]:
    return _stamps({"name": rt.name}, rt)


def full_namespace_view(
    ns: Namespace, contents: NamespaceContents, *, created: bool = False
) -> dict[str, Any]:
    """A namespace with what it holds; as created, its parts are echoed as sent."""
    view = namespace_view(ns)
    if contents.associations:
        view["resource_type_associations"] = [
            association_view(a, stamps=not created) for a in contents.associations
        ]
    if contents.properties:
        view["properties"] = contents.properties
    if contents.objects:
        view["objects"] = [object_view(ns.namespace, o, full=not created) for o in contents.objects]
    if contents.tags:
        view["tags"] = [{"name": t.name} for t in contents.tags]
    view["self"] = f"{ROOT}/{ns.namespace}"
    view["schema"] = "/v2/schemas/metadefs/namespace"
    return view
