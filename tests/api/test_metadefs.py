"""The metadata definitions API, compared with what the real Glance 33 answers to the
same requests (its bodies and codes were read off it; the messages are Glance's)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.builtin_callers import CHEAP_HASHES, builtin_callers, create_accounts
from tests.support.personas import Callers, header_callers

NS = "/v2/metadefs/namespaces"
ADMIN = {"X-Roles": "admin,member,reader", "X-Project-Id": "p1", "X-User-Id": "u1"}

FULL = {
    "namespace": "ns1",
    "display_name": "Namespace One",
    "visibility": "public",
    "protected": True,
    "properties": {"p1": {"title": "P1", "type": "string", "enum": ["a", "b"]}},
    "objects": [{"name": "o1", "properties": {"x": {"title": "X", "type": "integer"}}}],
    "tags": [{"name": "t1"}],
    "resource_type_associations": [{"name": "OS::Glance::Image", "prefix": "hw_"}],
}


async def _create(client: httpx.AsyncClient, body: dict[str, Any], **headers: str) -> Any:
    r = await client.post(NS, json=body, headers=headers or ADMIN)
    assert r.status_code == 201, r.text
    return r.json()


async def test_create_echoes_the_namespace_and_its_parts(client: httpx.AsyncClient) -> None:
    r = await client.post(NS, json=FULL, headers=ADMIN)
    assert r.status_code == 201
    assert r.headers["location"] == f"{NS}/ns1"
    body = r.json()
    assert body["owner"] == "p1"
    assert body["resource_type_associations"] == [{"name": "OS::Glance::Image", "prefix": "hw_"}]
    assert body["properties"] == FULL["properties"]
    assert body["objects"] == [
        {"name": "o1", "properties": {"x": {"title": "X", "type": "integer"}}}
    ]
    assert body["tags"] == [{"name": "t1"}]
    assert body["self"] == f"{NS}/ns1" and body["schema"] == "/v2/schemas/metadefs/namespace"
    assert "description" not in body


async def test_show_with_resource_type_prefixes_property_names(client: httpx.AsyncClient) -> None:
    await _create(client, FULL)
    plain = (await client.get(f"{NS}/ns1", headers=ADMIN)).json()
    assert list(plain["properties"]) == ["p1"]
    assert plain["objects"][0]["required"] == []
    assert plain["objects"][0]["self"] == f"{NS}/ns1/objects/o1"
    assert plain["resource_type_associations"][0]["created_at"].endswith("Z")
    prefixed = (
        await client.get(f"{NS}/ns1", params={"resource_type": "OS::Glance::Image"}, headers=ADMIN)
    ).json()
    assert list(prefixed["properties"]) == ["hw_p1"]
    assert list(prefixed["objects"][0]["properties"]) == ["hw_x"]
    # a prefixed property name is found without its prefix
    r = await client.get(
        f"{NS}/ns1/properties/hw_p1", params={"resource_type": "OS::Glance::Image"}, headers=ADMIN
    )
    assert r.json() == {"name": "p1", "title": "P1", "type": "string", "enum": ["a", "b"]}


async def test_duplicates_and_bad_bodies(client: httpx.AsyncClient) -> None:
    await _create(client, FULL)
    r = await client.post(NS, json={"namespace": "ns1"}, headers=ADMIN)
    assert r.status_code == 409
    assert "The metadata definition namespace=ns1 already exists." in r.text
    r = await client.post(NS, json={"namespace": "ns2", "bogus": 1}, headers=ADMIN)
    assert r.status_code == 400
    assert "Additional properties are not allowed" in r.text
    r = await client.post(NS, json={"namespace": "x" * 81}, headers=ADMIN)
    assert r.status_code == 400
    r = await client.post(
        f"{NS}/ns1/properties", json={"name": "q", "type": "string"}, headers=ADMIN
    )
    assert r.status_code == 400 and "'title' is a required property" in r.text
    r = await client.post(
        f"{NS}/ns1/properties", json={"name": "q", "title": "Q", "type": "str"}, headers=ADMIN
    )
    assert r.status_code == 400
    r = await client.post(
        f"{NS}/ns1/properties", json={"name": "p1", "title": "P", "type": "string"}, headers=ADMIN
    )
    assert r.status_code == 409
    assert "A metadata definition property with name=p1 already exists in namespace=ns1." in r.text
    r = await client.post(f"{NS}/ns1/objects", json={"name": "o1"}, headers=ADMIN)
    assert r.status_code == 409
    r = await client.post(f"{NS}/ns1/tags/t1", headers=ADMIN)
    assert r.status_code == 409
    r = await client.post(
        f"{NS}/ns1/resource_types", json={"name": "OS::Glance::Image"}, headers=ADMIN
    )
    assert r.status_code == 409
    r = await client.post(
        f"{NS}/ns1/tags", json={"tags": [{"name": "a"}, {"name": "a"}]}, headers=ADMIN
    )
    assert r.status_code == 409


async def test_protected_namespace_refuses_deletions(client: httpx.AsyncClient) -> None:
    await _create(client, FULL)
    expected = {
        f"{NS}/ns1": "namespace ns1",
        f"{NS}/ns1/properties": "namespace ns1",
        f"{NS}/ns1/objects": "namespace ns1",
        f"{NS}/ns1/tags": "namespace ns1",
        f"{NS}/ns1/properties/p1": "property p1",
        f"{NS}/ns1/objects/o1": "object o1",
        f"{NS}/ns1/tags/t1": "tag t1",
        f"{NS}/ns1/resource_types/OS::Glance::Image": "resource-type-association OS::Glance::Image",
    }
    for path, what in expected.items():
        r = await client.delete(path, headers=ADMIN)
        assert r.status_code == 403, path
        assert f"Metadata definition {what} is protected and cannot be deleted." in r.text
    r = await client.put(
        f"{NS}/ns1", json={"namespace": "ns1", "visibility": "public", "protected": False},
        headers=ADMIN,
    )  # fmt: skip
    assert r.status_code == 200 and r.json()["protected"] is False
    assert "display_name" not in r.json()  # replaced: absent means none, as Glance
    assert (await client.delete(f"{NS}/ns1", headers=ADMIN)).status_code == 204
    # everything inside went with it
    assert (await client.get(f"{NS}/ns1/properties", headers=ADMIN)).status_code == 404
    types = (await client.get("/v2/metadefs/resource_types", headers=ADMIN)).json()
    assert [t["name"] for t in types["resource_types"]] == ["OS::Glance::Image"]


async def test_properties_objects_tags_lifecycle(client: httpx.AsyncClient) -> None:
    await _create(client, {"namespace": "ns3", "description": "d"})
    base = f"{NS}/ns3"
    r = await client.post(
        f"{base}/properties", json={"name": "q1", "title": "Q", "type": "string"}, headers=ADMIN
    )
    assert r.status_code == 201 and r.json() == {"name": "q1", "title": "Q", "type": "string"}
    r = await client.put(
        f"{base}/properties/q1", json={"name": "q9", "title": "Q9", "type": "integer"},
        headers=ADMIN,
    )  # fmt: skip
    assert r.json()["name"] == "q9"
    r = await client.get(f"{base}/properties/q1", headers=ADMIN)
    assert r.status_code == 404 and "Could not find property q1" in r.text
    assert (await client.get(f"{base}/properties", headers=ADMIN)).json() == {
        "properties": {"q9": {"title": "Q9", "type": "integer"}}
    }
    r = await client.post(
        f"{base}/objects",
        json={"name": "ob", "description": "d", "required": ["a"],
              "properties": {"a": {"title": "A", "type": "string"}}},
        headers=ADMIN,
    )  # fmt: skip
    assert r.status_code == 201
    assert r.json()["self"] == f"{base}/objects/ob" and r.json()["required"] == ["a"]
    r = await client.put(
        f"{base}/objects/ob", json={"name": "ob2", "description": "e"}, headers=ADMIN
    )
    assert r.status_code == 200 and "properties" not in r.json()
    listed = (await client.get(f"{base}/objects", headers=ADMIN)).json()
    assert [o["name"] for o in listed["objects"]] == ["ob2"]
    assert listed["schema"] == "v2/schemas/metadefs/objects"
    r = await client.get(f"{base}/objects/ob", headers=ADMIN)
    assert r.status_code == 404
    # tags: replace all, append, one, rename, delete
    r = await client.post(
        f"{base}/tags", json={"tags": [{"name": "a"}, {"name": "b"}]}, headers=ADMIN
    )
    assert r.status_code == 201 and r.json() == {"tags": [{"name": "a"}, {"name": "b"}]}
    r = await client.post(
        f"{base}/tags",
        json={"tags": [{"name": "c"}]},
        headers={**ADMIN, "X-Openstack-Append": "true"},
    )
    assert r.status_code == 201
    names = {t["name"] for t in (await client.get(f"{base}/tags", headers=ADMIN)).json()["tags"]}
    assert names == {"a", "b", "c"}
    await client.post(f"{base}/tags", json={"tags": [{"name": "x"}]}, headers=ADMIN)
    assert (await client.get(f"{base}/tags", headers=ADMIN)).json() == {"tags": [{"name": "x"}]}
    r = await client.post(f"{base}/tags/d", headers=ADMIN)
    assert r.status_code == 201 and set(r.json()) == {"name", "created_at", "updated_at"}
    r = await client.put(f"{base}/tags/d", json={"name": "e"}, headers=ADMIN)
    assert r.json()["name"] == "e"
    r = await client.put(f"{base}/tags/e", json={"name": "x"}, headers=ADMIN)
    assert r.status_code == 409
    r = await client.get(f"{base}/tags/zz", headers=ADMIN)
    assert r.status_code == 404 and "Could not find metadata tag zz" in r.text
    assert (await client.delete(f"{base}/tags/e", headers=ADMIN)).status_code == 204
    assert (await client.delete(f"{base}/tags", headers=ADMIN)).status_code == 204
    assert (await client.get(f"{base}/tags", headers=ADMIN)).json() == {"tags": []}
    assert (await client.delete(f"{base}/properties/q9", headers=ADMIN)).status_code == 204
    assert (await client.delete(f"{base}/properties/q9", headers=ADMIN)).status_code == 404
    assert (await client.delete(f"{base}/objects", headers=ADMIN)).status_code == 204
    assert (await client.get(f"{base}/objects", headers=ADMIN)).json()["objects"] == []


async def test_resource_type_associations(client: httpx.AsyncClient) -> None:
    await _create(client, {"namespace": "ns3"})
    r = await client.post(
        f"{NS}/ns3/resource_types",
        json={"name": "OS::Nova::Flavor", "prefix": "p:", "properties_target": "image"},
        headers=ADMIN,
    )
    assert r.status_code == 201
    assert r.json()["properties_target"] == "image" and r.json()["prefix"] == "p:"
    listed = (await client.get(f"{NS}/ns3/resource_types", headers=ADMIN)).json()
    assert [a["name"] for a in listed["resource_type_associations"]] == ["OS::Nova::Flavor"]
    found = (
        await client.get(NS, params={"resource_types": "OS::Nova::Flavor"}, headers=ADMIN)
    ).json()
    assert [n["namespace"] for n in found["namespaces"]] == ["ns3"]
    assert found["first"] == f"{NS}?resource_types=OS%3A%3ANova%3A%3AFlavor"
    path = f"{NS}/ns3/resource_types/OS::Nova::Flavor"
    assert (await client.delete(path, headers=ADMIN)).status_code == 204
    r = await client.delete(path, headers=ADMIN)
    assert r.status_code == 404 and "Failed to find resource type OS::Nova::Flavor" in r.text
    # the resource type itself stays
    types = (await client.get("/v2/metadefs/resource_types", headers=ADMIN)).json()
    assert [t["name"] for t in types["resource_types"]] == ["OS::Nova::Flavor"]


async def test_list_pages_sorts_and_filters(client: httpx.AsyncClient) -> None:
    for i in range(5):
        await _create(
            client, {"namespace": f"n{i}", "visibility": "public" if i % 2 else "private"}
        )
    body = (await client.get(NS, headers=ADMIN)).json()
    assert [n["namespace"] for n in body["namespaces"]] == ["n4", "n3", "n2", "n1", "n0"]
    assert body["first"] == NS and "next" not in body
    page = (await client.get(NS, params={"limit": 2}, headers=ADMIN)).json()
    assert [n["namespace"] for n in page["namespaces"]] == ["n4", "n3"]
    assert page["next"] == f"{NS}?limit=2&marker=n3"
    page = (await client.get(page["next"], headers=ADMIN)).json()
    assert [n["namespace"] for n in page["namespaces"]] == ["n2", "n1"]
    asc = (
        await client.get(NS, params={"sort_key": "namespace", "sort_dir": "asc"}, headers=ADMIN)
    ).json()
    assert [n["namespace"] for n in asc["namespaces"]] == ["n0", "n1", "n2", "n3", "n4"]
    public = (await client.get(NS, params={"visibility": "public"}, headers=ADMIN)).json()
    assert {n["namespace"] for n in public["namespaces"]} == {"n1", "n3"}
    for params, status, text in (
        ({"marker": "nope"}, 404, "Metadata definition namespace=nope was not found."),
        ({"sort_dir": "bogus"}, 400, "Invalid sort direction: bogus"),
        ({"sort_key": "bogus"}, 400, "Invalid sort key: bogus"),
        ({"limit": "-1"}, 400, "limit param must be positive"),
        ({"limit": "x"}, 400, "limit param must be an integer"),
    ):
        r = await client.get(NS, params=params, headers=ADMIN)
        assert r.status_code == status and text in r.text


async def test_rename_onto_an_existing_name_is_a_conflict(client: httpx.AsyncClient) -> None:
    await _create(client, {"namespace": "a"})
    await _create(client, {"namespace": "b"})
    r = await client.put(f"{NS}/b", json={"namespace": "a"}, headers=ADMIN)
    assert r.status_code == 409
    r = await client.put(f"{NS}/b", json={"namespace": "c", "description": "x"}, headers=ADMIN)
    assert r.status_code == 200 and r.json()["self"] == f"{NS}/c"
    assert (await client.get(f"{NS}/b", headers=ADMIN)).status_code == 404
    assert (await client.put(f"{NS}/b", json={"namespace": "b"}, headers=ADMIN)).status_code == 404


async def test_schemas_are_served(client: httpx.AsyncClient) -> None:
    for name in (
        "namespace", "namespaces", "object", "objects", "property", "properties",
        "tag", "tags", "resource_type", "resource_types",
    ):  # fmt: skip
        r = await client.get(f"/v2/schemas/metadefs/{name}")
        assert r.status_code == 200 and "properties" in r.json()
    assert (await client.post("/v2/schemas/metadefs/tag")).status_code == 405


# ---------------------------------------------------------------- who may do what

PRIVATE_OWN = "own-private"
PUBLIC_OTHER = "other-public"
PRIVATE_OTHER = "other-private"


@pytest.fixture(params=["headers", "tokens"])
async def catalog(request: pytest.FixtureRequest, make_client: Any, make_settings: Any) -> Callers:
    """Three namespaces, and the personas as ``noauth`` headers or as real tokens of the
    built-in identity."""
    if request.param == "headers":
        callers = header_callers(await make_client(enforce_new_defaults=True))
    else:
        client = await make_client(auth_mode="builtin", **CHEAP_HASHES)
        await create_accounts(make_settings().resolved_database_url)
        callers = await builtin_callers(client)
    client = callers.client
    admin = callers.headers["admin"]
    for name, owner, visibility in (
        (PRIVATE_OWN, callers.projects["owner"], "private"),
        (PUBLIC_OTHER, callers.projects["other"], "public"),
        (PRIVATE_OTHER, callers.projects["other"], "private"),
    ):
        body = {
            "namespace": name, "owner": owner, "visibility": visibility,
            "properties": {"p": {"title": "P", "type": "string"}},
            "objects": [{"name": "o"}], "tags": [{"name": "t"}],
            "resource_type_associations": [{"name": "OS::Glance::Image"}],
        }  # fmt: skip
        r = await client.post(NS, json=body, headers=admin)
        assert r.status_code == 201, r.text
    return callers


READS = ("", "/properties", "/properties/p", "/objects", "/objects/o", "/tags", "/tags/t",
         "/resource_types")  # fmt: skip
WRITES: tuple[tuple[str, str, dict[str, Any] | None], ...] = (
    ("PUT", "", {"namespace": "{ns}"}),
    ("POST", "/properties", {"name": "q", "title": "Q", "type": "string"}),
    ("PUT", "/properties/p", {"name": "p", "title": "P", "type": "string"}),
    ("POST", "/objects", {"name": "o2"}),
    ("PUT", "/objects/o", {"name": "o"}),
    ("PUT", "/tags/t", {"name": "t"}),
    ("POST", "/tags", {"tags": [{"name": "u"}, {"name": "t"}]}),
    ("POST", "/tags/u2", None),
    ("POST", "/resource_types", {"name": "OS::Nova::Flavor"}),
    ("DELETE", "/properties/p", None),
    ("DELETE", "/objects/o", None),
    ("DELETE", "/tags/t", None),
    ("DELETE", "/resource_types/OS::Glance::Image", None),
    ("DELETE", "/properties", None),
    ("DELETE", "/objects", None),
    ("DELETE", "/tags", None),
    ("DELETE", "", None),
)


@pytest.mark.parametrize("persona", ["owner_member", "owner_reader"])
async def test_non_admins_read_own_and_public_and_never_write(
    catalog: Callers, persona: str
) -> None:
    client, headers = catalog.client, catalog.headers[persona]
    for ns, visible in ((PRIVATE_OWN, True), (PUBLIC_OTHER, True), (PRIVATE_OTHER, False)):
        for suffix in READS:
            r = await client.get(f"{NS}/{ns}{suffix}", headers=headers)
            assert r.status_code == (200 if visible else 404), (ns, suffix, r.text)
        for method, suffix, body in WRITES:
            if body is not None and body.get("namespace") == "{ns}":
                body = {"namespace": ns}
            r = await client.request(method, f"{NS}/{ns}{suffix}", json=body, headers=headers)
            assert r.status_code == (403 if visible else 404), (method, ns, suffix, r.text)
    listed = (await client.get(NS, headers=headers)).json()
    assert {n["namespace"] for n in listed["namespaces"]} == {PRIVATE_OWN, PUBLIC_OTHER}
    r = await client.post(NS, json={"namespace": "mine"}, headers=headers)
    assert r.status_code == 403
    assert (await client.get("/v2/metadefs/resource_types", headers=headers)).status_code == 200


async def test_admin_does_everything_and_a_roleless_caller_nothing(catalog: Callers) -> None:
    client = catalog.client
    admin = catalog.headers["admin"]
    listed = (await client.get(NS, headers=admin)).json()
    assert {n["namespace"] for n in listed["namespaces"]} == {
        PRIVATE_OWN,
        PUBLIC_OTHER,
        PRIVATE_OTHER,
    }
    for method, suffix, body in WRITES:
        if body is not None and body.get("namespace") == "{ns}":
            body = {"namespace": PRIVATE_OTHER}
        r = await client.request(method, f"{NS}/{PRIVATE_OTHER}{suffix}", json=body, headers=admin)
        assert r.status_code in (200, 201, 204), (method, suffix, r.text)
    norole = catalog.headers["norole"]
    assert (await client.get(NS, headers=norole)).status_code == 403
    assert (await client.get(f"{NS}/{PUBLIC_OTHER}", headers=norole)).status_code == 404
    assert (await client.get("/v2/metadefs/resource_types", headers=norole)).status_code == 403


async def test_anonymous_callers_are_refused(make_client: Any) -> None:
    client = await make_client(auth_mode="builtin", **CHEAP_HASHES)
    for path in (NS, f"{NS}/{PUBLIC_OTHER}", "/v2/metadefs/resource_types"):
        assert (await client.get(path)).status_code == 401
    assert (await client.post(NS, json={"namespace": "x"})).status_code == 401


async def test_rules_are_overridden_in_policy_yaml(make_client: Any, tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text('"metadef_admin": "role:member"\n"get_metadef_namespace": "!"\n')
    client = await make_client(enforce_new_defaults=True, policy_file=policy)
    member = {"X-Roles": "member,reader", "X-Project-Id": "p1", "X-User-Id": "u"}
    r = await client.post(NS, json={"namespace": "mine"}, headers=member)
    assert r.status_code == 201  # members write now
    # and nobody reads a namespace any more: invisible, so 404
    assert (await client.get(f"{NS}/mine", headers=member)).status_code == 404


async def test_every_missing_and_taken_name(client: httpx.AsyncClient) -> None:
    await _create(client, FULL)
    base = f"{NS}/ns1"
    prop = {"name": "p2", "title": "P2", "type": "string"}
    assert (await client.post(f"{base}/properties", json=prop, headers=ADMIN)).status_code == 201
    for method, path, body, status in (
        ("PUT", "/properties/nope", {"name": "x", "title": "X", "type": "string"}, 404),
        ("PUT", "/properties/p2", {"name": "p1", "title": "X", "type": "string"}, 409),
        ("PUT", "/objects/nope", {"name": "x"}, 404),
        ("DELETE", "/objects/nope", None, 403),  # protected first, as Glance
        ("GET", "/objects/nope", None, 404),
        ("PUT", "/tags/nope", {"name": "x"}, 404),
        ("GET", "/tags/nope", None, 404),
    ):
        r = await client.request(method, f"{base}{path}", json=body, headers=ADMIN)
        assert r.status_code == status, (method, path, r.text)
    await client.post(f"{base}/objects", json={"name": "o2"}, headers=ADMIN)
    r = await client.put(f"{base}/objects/o2", json={"name": "o1"}, headers=ADMIN)
    assert r.status_code == 409
    r = await client.post(
        f"{base}/tags",
        json={"tags": [{"name": "t1"}]},
        headers={**ADMIN, "X-Openstack-Append": "true"},
    )
    assert r.status_code == 409 and "A metadata tag with name=t1 already exists" in r.text
    # an object shown for a resource type gets that association's prefix
    r = await client.get(
        f"{base}/objects/o1", params={"resource_type": "OS::Glance::Image"}, headers=ADMIN
    )
    assert list(r.json()["properties"]) == ["hw_x"]
    # unprotected: missing names inside are 404 on delete
    await client.put(f"{base}", json={"namespace": "ns1", "protected": False}, headers=ADMIN)
    for path in ("/objects/nope", "/tags/nope", "/properties/nope"):
        assert (await client.delete(f"{base}{path}", headers=ADMIN)).status_code == 404


async def test_racing_creators_of_one_name_get_one_201_and_409s(
    client: httpx.AsyncClient,
) -> None:
    """Nodes creating the same names at once: the database's unique names decide, and
    the losers get Glance's 409, never a 500."""
    import asyncio

    async def create(name: str) -> int:
        r = await client.post(NS, json={"namespace": name}, headers=ADMIN)
        return r.status_code

    for round_ in range(3):
        codes = await asyncio.gather(*(create(f"race-{round_}") for _ in range(8)))
        assert sorted(codes) == [201] + [409] * 7
    await _create(client, {"namespace": "ns"})

    async def add_tag(name: str) -> int:
        return (await client.post(f"{NS}/ns/tags/{name}", headers=ADMIN)).status_code

    codes = await asyncio.gather(*(add_tag("same") for _ in range(8)))
    assert sorted(codes) == [201] + [409] * 7
