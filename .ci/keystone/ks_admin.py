"""Set up a test Keystone over its REST API, with keystoneauth1 only (any venv with it).

setup --auth-url URL --admin-password-file F --credentials OUT
    roles admin/member/reader/service; project ``service`` with user ``glimpse``
    (admin + service: glimpse's own credentials); projects ``alpha`` and ``beta``, each
    with a ``member`` and a ``reader`` user; the admin user also gets ``admin`` on the
    system and on the Default domain (for system- and domain-scoped tokens). Writes
    every name and password to OUT (JSON, mode 600).
set-image-endpoint --credentials F --url URL [--region R] [--service-type T]
    point the ``image`` service's (or service type T's: Tempest's ``image_remote``, Swift's
    ``object-store``)
    public, internal and admin endpoints of region R (default: the credentials' region,
    RegionOne; created if missing) at URL.
remove-image-endpoint --credentials F --region R
    remove the ``image`` service's endpoints of region R, and R itself (not RegionOne).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
from pathlib import Path
from typing import Any

from keystoneauth1.adapter import Adapter
from keystoneauth1.identity import v3
from keystoneauth1.session import Session

DOMAIN = "default"
INTERFACES = ("public", "internal", "admin")
TEST_PROJECTS = ("alpha", "beta")


def admin_api(auth_url: str, password: str) -> Adapter:
    auth = v3.Password(
        auth_url=auth_url,
        username="admin",
        password=password,
        project_name="admin",
        user_domain_id=DOMAIN,
        project_domain_id=DOMAIN,
    )
    return Adapter(Session(auth=auth, timeout=30), endpoint_override=auth_url)


def find(api: Adapter, kind: str, **query: str) -> dict[str, Any] | None:
    found: list[dict[str, Any]] = api.get(f"/{kind}", params=query).json()[kind]
    return found[0] if found else None


def ensure(api: Adapter, kind: str, body: dict[str, Any], **query: str) -> dict[str, Any]:
    found = find(api, kind, **query)
    if found is not None:
        return found
    one = kind[:-1]
    created: dict[str, Any] = api.post(f"/{kind}", json={one: body}).json()[one]
    return created


def ensure_user(api: Adapter, name: str, project: dict[str, Any]) -> dict[str, Any]:
    password = secrets.token_hex(16)
    user = ensure(
        api, "users", {"name": name, "domain_id": DOMAIN, "password": password}, name=name
    )
    # (re)set the password so that the credentials file is always right
    api.patch(f"/users/{user['id']}", json={"user": {"password": password, "enabled": True}})
    return {
        "user_id": user["id"],
        "username": name,
        "password": password,
        "project_id": project["id"],
        "project_name": project["name"],
    }


def grant(api: Adapter, role: dict[str, Any], user_id: str, target: str) -> None:
    api.put(f"/{target}/users/{user_id}/roles/{role['id']}")


def setup(args: argparse.Namespace) -> None:
    api = admin_api(args.auth_url, Path(args.admin_password_file).read_text().strip())
    roles = {
        name: ensure(api, "roles", {"name": name}, name=name)
        for name in ("admin", "member", "reader", "service")
    }

    def project(name: str) -> dict[str, Any]:
        return ensure(
            api, "projects", {"name": name, "domain_id": DOMAIN}, name=name, domain_id=DOMAIN
        )

    service = ensure_user(api, "glimpse", project("service"))
    for role in ("admin", "service"):
        grant(api, roles[role], service["user_id"], f"projects/{service['project_id']}")
    admin = find(api, "users", name="admin")
    admin_project = find(api, "projects", name="admin")
    assert admin is not None and admin_project is not None
    grant(api, roles["admin"], admin["id"], "system")
    grant(api, roles["admin"], admin["id"], f"domains/{DOMAIN}")
    users = {}
    for name in TEST_PROJECTS:
        proj = project(name)
        for role in ("member", "reader"):
            user = ensure_user(api, f"{name}-{role}", proj)
            grant(api, roles[role], user["user_id"], f"projects/{proj['id']}")
            users[f"{name}-{role}"] = user
    ensure(api, "services", {"name": "glance", "type": "image"}, type="image")
    credentials = {
        "auth_url": args.auth_url,
        "region": "RegionOne",
        "admin": {
            "user_id": admin["id"],
            "username": "admin",
            "password": Path(args.admin_password_file).read_text().strip(),
            "project_id": admin_project["id"],
            "project_name": "admin",
        },
        "service": service,
        "users": users,
    }
    out = Path(args.credentials)
    out.touch(mode=0o600)
    out.write_text(json.dumps(credentials, indent=2))
    print(f"ks_admin: service user glimpse, test users {', '.join(users)}; wrote {out}")


def set_image_endpoint(args: argparse.Namespace) -> None:
    credentials = json.loads(Path(args.credentials).read_text())
    api = admin_api(credentials["auth_url"], credentials["admin"]["password"])
    region = args.region or credentials["region"]
    if api.get(f"/regions/{region}", raise_exc=False).status_code == 404:
        api.post("/regions", json={"region": {"id": region}})
    kind = args.service_type
    name = {"image": "glance", "object-store": "swift"}.get(kind, f"glance-{kind}")
    service = ensure(api, "services", {"name": name, "type": kind}, type=kind)
    existing = api.get(
        "/endpoints", params={"service_id": service["id"], "region_id": region}
    ).json()["endpoints"]
    for interface in INTERFACES:
        body = {
            "service_id": service["id"],
            "interface": interface,
            "url": args.url,
            "region_id": region,
        }
        mine = [e for e in existing if e["interface"] == interface and e["region_id"] == region]
        if mine:
            api.patch(f"/endpoints/{mine[0]['id']}", json={"endpoint": body})
            for extra in mine[1:]:
                api.delete(f"/endpoints/{extra['id']}")
        else:
            api.post("/endpoints", json={"endpoint": body})
    print(f"ks_admin: {kind} endpoint ({', '.join(INTERFACES)}) of {region} -> {args.url}")


def remove_image_endpoint(args: argparse.Namespace) -> None:
    credentials = json.loads(Path(args.credentials).read_text())
    api = admin_api(credentials["auth_url"], credentials["admin"]["password"])
    service = ensure(api, "services", {"name": "glance", "type": "image"}, type="image")
    found = api.get(
        "/endpoints", params={"service_id": service["id"], "region_id": args.region}
    ).json()["endpoints"]
    for endpoint in found:
        api.delete(f"/endpoints/{endpoint['id']}")
    if args.region != credentials["region"]:
        api.delete(f"/regions/{args.region}", raise_exc=False)
    print(f"ks_admin: image endpoints of {args.region} removed ({len(found)})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("setup")
    up.add_argument("--auth-url", required=True)
    up.add_argument("--admin-password-file", required=True)
    up.add_argument("--credentials", required=True)
    up.set_defaults(func=setup)
    ep = sub.add_parser("set-image-endpoint")
    ep.add_argument("--credentials", required=True)
    ep.add_argument("--url", required=True)
    ep.add_argument("--region")
    ep.add_argument("--service-type", default="image")
    ep.set_defaults(func=set_image_endpoint)
    rm = sub.add_parser("remove-image-endpoint")
    rm.add_argument("--credentials", required=True)
    rm.add_argument("--region", required=True)
    rm.set_defaults(func=remove_image_endpoint)
    args = parser.parse_args()
    args.func(args)


if __name__ == "__main__":
    os.umask(0o077)
    main()
