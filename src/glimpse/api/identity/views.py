"""The identity API's documents, in Keystone's shapes and key order: version discovery,
tokens, the service catalog, users, projects and domains."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from glimpse.identity.model import Domain, Project, User, ValidatedToken

# what Keystone 2023+ announces; keystoneauth only looks at the major version
V3_ID = "v3.14"
V3_UPDATED = "2020-04-07T00:00:00Z"
_MEDIA_TYPES = [{"base": "application/json", "type": "application/vnd.openstack.identity-v3+json"}]
_IDS = uuid.UUID("6f0c1e55-0b1d-4c5e-9a8e-2f1f6b3c9d10")  # namespace of the catalog's ids
INTERFACES = ("public", "internal", "admin")


def timestamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def version_document(identity_url: str) -> dict[str, Any]:
    return {
        "id": V3_ID,
        "status": "stable",
        "updated": V3_UPDATED,
        "links": [{"rel": "self", "href": f"{identity_url}/v3/"}],
        "media-types": _MEDIA_TYPES,
    }


def catalog(base_url: str, region: str) -> list[dict[str, Any]]:
    """glimpse is both services of its catalog: identity here, image at the root."""
    return [
        _service("identity", "keystone", f"{base_url}/identity/v3", region),
        _service("image", "glance", base_url, region),
    ]


def _service(kind: str, name: str, url: str, region: str) -> dict[str, Any]:
    return {
        "endpoints": [
            {
                "id": uuid.uuid5(_IDS, f"{kind}:{interface}").hex,
                "interface": interface,
                "region_id": region,
                "url": url,
                "region": region,
            }
            for interface in INTERFACES
        ],
        "id": uuid.uuid5(_IDS, kind).hex,
        "type": kind,
        "name": name,
    }


def _domain_ref(domain: Domain) -> dict[str, str]:
    return {"id": domain.id, "name": domain.name}


def token_document(
    validated: ValidatedToken, catalog: list[dict[str, Any]] | None
) -> dict[str, Any]:
    payload, user = validated.payload, validated.user
    body: dict[str, Any] = {
        "methods": list(payload.methods),
        "user": {
            "domain": _domain_ref(user.domain),
            "id": user.id,
            "name": user.name,
            "password_expires_at": None,
        },
        "audit_ids": list(payload.audit_ids),
        "expires_at": timestamp(payload.expires_at),
        "issued_at": timestamp(payload.issued_at),
    }
    project = validated.project
    if project is not None:
        body["project"] = {
            "domain": _domain_ref(project.domain),
            "id": project.id,
            "name": project.name,
        }
        body["is_domain"] = False
        body["roles"] = [{"id": role.id, "name": role.name} for role in validated.roles]
        if catalog is not None:
            body["catalog"] = catalog
    return {"token": body}


def user_document(user: User, v3_url: str) -> dict[str, Any]:
    return {
        "id": user.id,
        "name": user.name,
        "domain_id": user.domain.id,
        "enabled": user.enabled,
        "password_expires_at": None,
        "options": {},
        "links": {"self": f"{v3_url}/users/{user.id}"},
    }


def project_document(project: Project, v3_url: str) -> dict[str, Any]:
    return {
        "id": project.id,
        "name": project.name,
        "domain_id": project.domain.id,
        "description": project.description,
        "enabled": project.enabled,
        "parent_id": project.domain.id,
        "is_domain": False,
        "tags": [],
        "options": {},
        "links": {"self": f"{v3_url}/projects/{project.id}"},
    }


def domain_document(domain: Domain, v3_url: str) -> dict[str, Any]:
    return {
        "id": domain.id,
        "name": domain.name,
        "description": "",
        "enabled": domain.enabled,
        "tags": [],
        "options": {},
        "links": {"self": f"{v3_url}/domains/{domain.id}"},
    }


def collection(key: str, items: list[dict[str, Any]], self_url: str) -> dict[str, Any]:
    return {key: items, "links": {"next": None, "self": self_url, "previous": None}}
