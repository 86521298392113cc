"""Version discovery, the service catalog, and the lookups Keystone clients make
(``/v3/auth/projects``, users, projects, domains), with Keystone's access rules."""

from __future__ import annotations

from typing import Any

import pytest

from tests.identity.conftest import Node, auth, password_body

BASE = "http://glimpse.test"


@pytest.mark.parametrize("path", ["/identity", "/identity/"])
async def test_versions_document(node: Node, path: str) -> None:
    response = await node.client.get(path)
    assert response.status_code == 300
    assert response.headers["location"] == f"{BASE}/identity/v3/"
    (version,) = response.json()["versions"]["values"]
    assert version["id"].startswith("v3.")
    assert version["status"] == "stable"


@pytest.mark.parametrize("path", ["/identity/v3", "/identity/v3/"])
async def test_v3_document(node: Node, path: str) -> None:
    response = await node.client.get(path)
    assert response.status_code == 200
    assert response.json() == {
        "version": {
            "id": "v3.14",
            "status": "stable",
            "updated": "2020-04-07T00:00:00Z",
            "links": [{"rel": "self", "href": f"{BASE}/identity/v3/"}],
            "media-types": [
                {"base": "application/json", "type": "application/vnd.openstack.identity-v3+json"}
            ],
        }
    }


async def test_identity_is_only_served_in_builtin_mode(make_client: Any) -> None:
    client = await make_client()  # noauth
    assert (await client.get("/identity/v3")).status_code == 300  # the image versions


def _endpoints(catalog: list[dict[str, Any]]) -> dict[tuple[str, str], tuple[str, str]]:
    return {
        (service["type"], endpoint["interface"]): (endpoint["url"], endpoint["region_id"])
        for service in catalog
        for endpoint in service["endpoints"]
    }


async def test_catalog_points_at_this_server(node: Node) -> None:
    response = await node.client.post(
        "/identity/v3/auth/tokens", json=password_body("alice", project="alpha")
    )
    catalog = response.json()["token"]["catalog"]
    assert {(s["type"], s["name"]) for s in catalog} == {
        ("identity", "keystone"),
        ("image", "glance"),
    }
    expected = {}
    for interface in ("public", "internal", "admin"):
        expected[("identity", interface)] = (f"{BASE}/identity/v3", "RegionOne")
        expected[("image", interface)] = (BASE, "RegionOne")
    assert _endpoints(catalog) == expected
    for service in catalog:
        for endpoint in service["endpoints"]:
            assert endpoint["region"] == "RegionOne"
    # the same from /v3/auth/catalog
    token = response.headers["x-subject-token"]
    listed = await node.client.get("/identity/v3/auth/catalog", headers=auth(token))
    assert listed.status_code == 200
    assert _endpoints(listed.json()["catalog"]) == expected


async def test_catalog_follows_public_endpoint_and_region(make_node: Any) -> None:
    node: Node = await make_node(
        public_endpoint="https://images.example:8443/", identity_region="Lab"
    )
    response = await node.client.post(
        "/identity/v3/auth/tokens", json=password_body("alice", project="alpha")
    )
    endpoints = _endpoints(response.json()["token"]["catalog"])
    assert endpoints[("image", "public")] == ("https://images.example:8443", "Lab")
    assert endpoints[("identity", "admin")] == ("https://images.example:8443/identity/v3", "Lab")
    version = await node.client.get("/identity/v3")
    assert version.json()["version"]["links"][0]["href"] == (
        "https://images.example:8443/identity/v3/"
    )


async def test_catalog_needs_a_scoped_token(node: Node) -> None:
    token = await node.token("alice")
    response = await node.client.get("/identity/v3/auth/catalog", headers=auth(token))
    assert response.status_code == 403


async def test_auth_projects_domains_system(node: Node) -> None:
    unscoped = await node.token("root")
    await node.accounts.directory.grant("reader", user="root", project="beta")
    response = await node.client.get("/identity/v3/auth/projects", headers=auth(unscoped))
    assert response.status_code == 200
    assert sorted(p["name"] for p in response.json()["projects"]) == ["alpha", "beta"]
    project = response.json()["projects"][0]
    assert project["domain_id"] == "default" and project["is_domain"] is False
    domains = await node.client.get("/identity/v3/auth/domains", headers=auth(unscoped))
    assert domains.json()["domains"] == []
    system = await node.client.get("/identity/v3/auth/system", headers=auth(unscoped))
    assert system.json()["system"] == []
    assert (await node.client.get("/identity/v3/auth/projects")).status_code == 401


async def test_users_see_themselves_admins_see_all(node: Node) -> None:
    alice = await node.token("alice", project="alpha")
    root = await node.token("root", project="alpha")
    alice_id, bob_id = node.accounts.users["alice"], node.accounts.users["bob"]
    own = await node.client.get(f"/identity/v3/users/{alice_id}", headers=auth(alice))
    assert own.status_code == 200
    assert own.json()["user"]["name"] == "alice"
    assert "$argon2" not in own.text
    other = await node.client.get(f"/identity/v3/users/{bob_id}", headers=auth(alice))
    assert other.status_code == 403
    assert (await node.client.get("/identity/v3/users", headers=auth(alice))).status_code == 403
    by_admin = await node.client.get(f"/identity/v3/users/{bob_id}", headers=auth(root))
    assert by_admin.status_code == 200
    found = await node.client.get("/identity/v3/users?name=bob", headers=auth(root))
    assert [u["id"] for u in found.json()["users"]] == [bob_id]
    missing = await node.client.get("/identity/v3/users/nobody", headers=auth(root))
    assert missing.status_code == 404
    projects = await node.client.get(f"/identity/v3/users/{alice_id}/projects", headers=auth(alice))
    assert [p["name"] for p in projects.json()["projects"]] == ["alpha"]


async def test_projects_own_or_admin(node: Node) -> None:
    alice = await node.token("alice", project="alpha")
    root = await node.token("root", project="alpha")
    alpha, beta = node.accounts.projects["alpha"], node.accounts.projects["beta"]
    own = await node.client.get(f"/identity/v3/projects/{alpha}", headers=auth(alice))
    assert own.status_code == 200 and own.json()["project"]["name"] == "alpha"
    assert (
        await node.client.get(f"/identity/v3/projects/{beta}", headers=auth(alice))
    ).status_code == 403
    # Keystone refuses a member the project list; openstack then takes names as ids
    listing = await node.client.get("/identity/v3/projects?name=beta", headers=auth(alice))
    assert listing.status_code == 403
    found = await node.client.get("/identity/v3/projects?name=beta", headers=auth(root))
    assert [p["id"] for p in found.json()["projects"]] == [beta]
    everything = await node.client.get("/identity/v3/projects", headers=auth(root))
    assert sorted(p["name"] for p in everything.json()["projects"]) == ["alpha", "beta"]


async def test_domains(node: Node) -> None:
    alice = await node.token("alice", project="alpha")
    root = await node.token("root", project="alpha")
    own = await node.client.get("/identity/v3/domains/default", headers=auth(alice))
    assert own.status_code == 200 and own.json()["domain"]["name"] == "Default"
    assert (await node.client.get("/identity/v3/domains", headers=auth(alice))).status_code == 403
    named = await node.client.get("/identity/v3/domains?name=Default", headers=auth(root))
    assert [d["id"] for d in named.json()["domains"]] == ["default"]


async def test_unknown_paths_and_methods(node: Node) -> None:
    missing = await node.client.get("/identity/v3/regions")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == 404
    wrong = await node.client.put("/identity/v3/auth/tokens")
    assert wrong.status_code == 405
