"""``/v2/metadefs/…`` and ``/v2/schemas/metadefs/…``: the metadata definitions catalog.

Bodies are checked against the schemas the service publishes before anything else is
looked at, as Glance's deserializers do.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import orjson
from starlette.requests import Request
from starlette.responses import Response

from glimpse.api.bodies import context_of, json_body, json_response, no_content, reject_body
from glimpse.api.metadefs.views import (
    ROOT,
    association_view,
    full_namespace_view,
    namespace_view,
    object_view,
    resource_type_view,
    tag_view,
)
from glimpse.api.routing import Router
from glimpse.config import Settings
from glimpse.errors import InvalidInput
from glimpse.metadefs import schemas
from glimpse.metadefs.model import (
    Association,
    MetadefObject,
    Namespace,
    NamespaceContents,
    NamespaceQuery,
    Tag,
)
from glimpse.metadefs.service import SORT_KEYS, MetadefService, check_limit, split_definition

_NAMESPACE_FIELDS = ("namespace", "display_name", "description", "visibility", "protected", "owner")


def _object(body: dict[str, Any]) -> MetadefObject:
    return MetadefObject(
        name=body["name"],
        description=body.get("description"),
        required=body.get("required"),
        properties=body.get("properties") or {},
    )


def _contents(body: dict[str, Any]) -> NamespaceContents:
    return NamespaceContents(
        properties={
            name: {k: v for k, v in d.items() if k != "name"}
            for name, d in (body.get("properties") or {}).items()
        },
        objects=[_object(o) for o in body.get("objects") or []],
        tags=[Tag(t["name"]) for t in body.get("tags") or []],
        associations=[
            Association(a["name"], a.get("prefix"), a.get("properties_target"))
            for a in body.get("resource_type_associations") or []
        ],
    )


def _names_required(body: dict[str, Any], key: str) -> None:
    for item in body.get(key) or []:
        if "name" not in item:
            raise InvalidInput(f"Provided object does not match schema 'namespace': "
                               f"'name' is a required property of each of {key}")  # fmt: skip


class MetadefsApi:
    def __init__(self, service: MetadefService, settings: Settings) -> None:
        self.service = service
        self.settings = settings

    def register(self, router: Router) -> None:
        ns = f"{ROOT}/{{ns}}"
        router.add(ROOT, {"GET": self.list_namespaces, "POST": self.create_namespace})
        router.add(
            ns,
            {"GET": self.show_namespace, "PUT": self.update_namespace,
             "DELETE": self.delete_namespace},
        )  # fmt: skip
        router.add(
            f"{ns}/properties",
            {"GET": self.list_properties, "POST": self.create_property,
             "DELETE": self.delete_properties},
        )  # fmt: skip
        router.add(
            f"{ns}/properties/{{name}}",
            {"GET": self.show_property, "PUT": self.update_property,
             "DELETE": self.delete_property},
        )  # fmt: skip
        router.add(
            f"{ns}/objects",
            {"GET": self.list_objects, "POST": self.create_object, "DELETE": self.delete_objects},
        )
        router.add(
            f"{ns}/objects/{{name}}",
            {"GET": self.show_object, "PUT": self.update_object, "DELETE": self.delete_object},
        )
        router.add(
            f"{ns}/tags",
            {"GET": self.list_tags, "POST": self.create_tags, "DELETE": self.delete_tags},
        )
        router.add(
            f"{ns}/tags/{{name}}",
            {"GET": self.show_tag, "POST": self.create_tag, "PUT": self.update_tag,
             "DELETE": self.delete_tag},
        )  # fmt: skip
        router.add("/v2/metadefs/resource_types", {"GET": self.list_resource_types})
        router.add(
            f"{ns}/resource_types",
            {"GET": self.list_associations, "POST": self.create_association},
        )
        router.add(f"{ns}/resource_types/{{name}}", {"DELETE": self.delete_association})
        for name in schemas.NAMES:
            router.add(f"/v2/schemas/metadefs/{name}", {"GET": self._schema(name)})

    def _schema(self, name: str):  # type: ignore[no-untyped-def]
        body = orjson.dumps(schemas.document(name))

        async def serve(request: Request) -> Response:
            await reject_body(request)
            return Response(body, media_type="application/json")

        return serve

    # ---------------------------------------------------------------- namespaces

    async def list_namespaces(self, request: Request) -> Response:
        await reject_body(request)
        params = request.query_params
        sort_key = params.get("sort_key", "created_at")
        if sort_key not in SORT_KEYS:
            raise InvalidInput(f"Invalid sort key: {sort_key}")
        sort_dir = params.get("sort_dir", "desc")
        if sort_dir not in ("asc", "desc"):
            raise InvalidInput(f"Invalid sort direction: {sort_dir}")
        visibility = params.get("visibility")
        kinds = params.get("resource_types")
        query = NamespaceQuery(
            limit=check_limit(
                params.get("limit"), self.settings.limit_param_default, self.settings.api_limit_max
            ),
            marker=params.get("marker"),
            sort_key=sort_key,
            sort_dir=sort_dir,
            visibility=visibility,
            resource_types=tuple(k for k in (kinds or "").split(",") if k),
        )
        page = await self.service.list_namespaces(context_of(request), query)
        kept = urlencode([(k, v) for k, v in params.multi_items() if k != "marker"])
        first = f"{ROOT}?{kept}" if kept else ROOT
        items = []
        for ns, associations in page:
            view = namespace_view(ns)
            if associations:
                view["resource_type_associations"] = [association_view(a) for a in associations]
            view["self"] = f"{ROOT}/{ns.namespace}"
            view["schema"] = "/v2/schemas/metadefs/namespace"
            items.append(view)
        body: dict[str, Any] = {"namespaces": items}
        if page and len(page) == query.limit:
            joiner = "&" if kept else "?"
            body["next"] = f"{first}{joiner}{urlencode({'marker': page[-1][0].namespace})}"
        body["schema"] = "/v2/schemas/metadefs/namespaces"
        body["first"] = first
        return json_response(body)

    async def create_namespace(self, request: Request) -> Response:
        body = schemas.check("namespace", await json_body(request))
        for key in ("objects", "tags", "resource_type_associations"):
            _names_required(body, key)
        context = context_of(request)
        owner = body.get("owner") or context.project_id
        if owner is None:
            raise InvalidInput("A namespace needs an owner: none was given and none is known.")
        ns = Namespace(
            namespace=body["namespace"],
            owner=owner,
            visibility=body.get("visibility", "private"),
            protected=body.get("protected", False),
            display_name=body.get("display_name"),
            description=body.get("description"),
        )
        created = await self.service.create_namespace(context, ns, _contents(body))
        view = full_namespace_view(created.namespace, created.contents, created=True)
        return json_response(view, 201, {"Location": view["self"]})

    async def show_namespace(self, request: Request, ns: str) -> Response:
        await reject_body(request)
        found = await self.service.get_namespace(
            context_of(request), ns, request.query_params.get("resource_type")
        )
        return json_response(full_namespace_view(found.namespace, found.contents))

    async def update_namespace(self, request: Request, ns: str) -> Response:
        body = schemas.check("namespace", await json_body(request))
        changes = {k: body[k] for k in _NAMESPACE_FIELDS if k in body}
        updated = await self.service.update_namespace(context_of(request), ns, changes)
        view = namespace_view(updated)
        view["self"] = f"{ROOT}/{updated.namespace}"
        view["schema"] = "/v2/schemas/metadefs/namespace"
        return json_response(view)

    async def delete_namespace(self, request: Request, ns: str) -> Response:
        await reject_body(request)
        await self.service.delete_namespace(context_of(request), ns)
        return no_content()

    # ---------------------------------------------------------------- properties

    async def list_properties(self, request: Request, ns: str) -> Response:
        await reject_body(request)
        found = await self.service.list_properties(context_of(request), ns)
        return json_response({"properties": found})

    async def show_property(self, request: Request, ns: str, name: str) -> Response:
        await reject_body(request)
        found = await self.service.get_property(
            context_of(request), ns, name, request.query_params.get("resource_type")
        )
        return json_response(found)

    async def create_property(self, request: Request, ns: str) -> Response:
        name, definition = split_definition(schemas.check("property", await json_body(request)))
        created = await self.service.add_property(context_of(request), ns, name, definition)
        return json_response(created, 201)

    async def update_property(self, request: Request, ns: str, name: str) -> Response:
        new_name, definition = split_definition(schemas.check("property", await json_body(request)))
        updated = await self.service.update_property(
            context_of(request), ns, name, new_name, definition
        )
        return json_response(updated)

    async def delete_property(self, request: Request, ns: str, name: str) -> Response:
        await reject_body(request)
        await self.service.delete_property(context_of(request), ns, name)
        return no_content()

    async def delete_properties(self, request: Request, ns: str) -> Response:
        await reject_body(request)
        await self.service.delete_properties(context_of(request), ns)
        return no_content()

    # ------------------------------------------------------------------- objects

    async def list_objects(self, request: Request, ns: str) -> Response:
        await reject_body(request)
        found = await self.service.list_objects(context_of(request), ns)
        # Glance's link really lacks its leading slash
        return json_response(
            {
                "objects": [object_view(ns, o) for o in found],
                "schema": "v2/schemas/metadefs/objects",
            }
        )

    async def show_object(self, request: Request, ns: str, name: str) -> Response:
        await reject_body(request)
        found = await self.service.get_object(
            context_of(request), ns, name, request.query_params.get("resource_type")
        )
        return json_response(object_view(ns, found))

    async def create_object(self, request: Request, ns: str) -> Response:
        obj = _object(schemas.check("object", await json_body(request)))
        created = await self.service.add_object(context_of(request), ns, obj)
        return json_response(object_view(ns, created), 201)

    async def update_object(self, request: Request, ns: str, name: str) -> Response:
        obj = _object(schemas.check("object", await json_body(request)))
        updated = await self.service.update_object(context_of(request), ns, name, obj)
        return json_response(object_view(ns, updated))

    async def delete_object(self, request: Request, ns: str, name: str) -> Response:
        await reject_body(request)
        await self.service.delete_object(context_of(request), ns, name)
        return no_content()

    async def delete_objects(self, request: Request, ns: str) -> Response:
        await reject_body(request)
        await self.service.delete_objects(context_of(request), ns)
        return no_content()

    # ---------------------------------------------------------------------- tags

    async def list_tags(self, request: Request, ns: str) -> Response:
        await reject_body(request)
        found = await self.service.list_tags(context_of(request), ns)
        return json_response({"tags": [{"name": t.name} for t in found]})

    async def show_tag(self, request: Request, ns: str, name: str) -> Response:
        await reject_body(request)
        return json_response(tag_view(await self.service.get_tag(context_of(request), ns, name)))

    async def create_tag(self, request: Request, ns: str, name: str) -> Response:
        created = await self.service.add_tag(context_of(request), ns, name)
        return json_response(tag_view(created), 201)

    async def create_tags(self, request: Request, ns: str) -> Response:
        body = await json_body(request)
        if not isinstance(body, dict) or not isinstance(body.get("tags"), list):
            raise InvalidInput("Provided object does not match schema 'tags': 'tags' is required")
        names = [schemas.check("tag", t)["name"] for t in body["tags"]]
        append = request.headers.get("x-openstack-append", "").lower() == "true"
        created = await self.service.add_tags(context_of(request), ns, names, append=append)
        return json_response({"tags": [{"name": n} for n in created]}, 201)

    async def update_tag(self, request: Request, ns: str, name: str) -> Response:
        body = schemas.check("tag", await json_body(request))
        updated = await self.service.rename_tag(context_of(request), ns, name, body["name"])
        return json_response(tag_view(updated))

    async def delete_tag(self, request: Request, ns: str, name: str) -> Response:
        await reject_body(request)
        await self.service.delete_tag(context_of(request), ns, name)
        return no_content()

    async def delete_tags(self, request: Request, ns: str) -> Response:
        await reject_body(request)
        await self.service.delete_tags(context_of(request), ns)
        return no_content()

    # ------------------------------------------------------------ resource types

    async def list_resource_types(self, request: Request) -> Response:
        await reject_body(request)
        found = await self.service.list_resource_types(context_of(request))
        return json_response({"resource_types": [resource_type_view(r) for r in found]})

    async def list_associations(self, request: Request, ns: str) -> Response:
        await reject_body(request)
        found = await self.service.list_associations(context_of(request), ns)
        return json_response({"resource_type_associations": [association_view(a) for a in found]})

    async def create_association(self, request: Request, ns: str) -> Response:
        body = schemas.check("resource_type", await json_body(request))
        association = Association(body["name"], body.get("prefix"), body.get("properties_target"))
        created = await self.service.add_association(context_of(request), ns, association)
        return json_response(association_view(created), 201)

    async def delete_association(self, request: Request, ns: str, name: str) -> Response:
        await reject_body(request)
        await self.service.delete_association(context_of(request), ns, name)
        return no_content()
