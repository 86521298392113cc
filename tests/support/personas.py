"""The callers of the authorisation tests and sharing shortcuts.

Every persona carries the roles a Keystone token of it carries (Keystone's implied roles:
admin ⊃ member ⊃ reader). The projects of the story: ``owner`` owns the images under
test, ``shared`` is the project they are shared with, ``other`` sees them only when
public or community, ``norole`` holds a role no rule names, ``admin`` is the admin's.

:class:`Callers` holds each persona's request headers: ``noauth`` identity headers
(:func:`header_callers`), or real tokens of the built-in identity (see
``tests/support/builtin_callers.py``); the tests read the same either way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

# persona -> (project of the story, roles its token carries)
PERSONA_ROLES: dict[str, tuple[str, str]] = {
    "admin": ("admin", "admin,member,reader"),
    "owner_member": ("owner", "member,reader"),
    "owner_reader": ("owner", "reader"),
    "other_member": ("other", "member,reader"),
    "shared_member": ("shared", "member,reader"),
    "shared_reader": ("shared", "reader"),
    "norole": ("norole", "creator"),
}
V21 = {"Content-Type": "application/openstack-images-v2.1-json-patch"}
OCTETS = {"Content-Type": "application/octet-stream"}


def persona(project: str, roles: str) -> dict[str, str]:
    """``noauth`` identity headers of a caller of ``project`` with ``roles``."""
    return {"X-Project-Id": project, "X-User-Id": f"user-{roles}-{project}", "X-Roles": roles}


def members_path(image_id: str, member_id: str | None = None) -> str:
    path = f"/v2/images/{image_id}/members"
    return path if member_id is None else f"{path}/{member_id}"


@dataclass(frozen=True)
class Callers:
    client: httpx.AsyncClient
    headers: dict[str, dict[str, str]]  # persona -> request headers
    projects: dict[str, str]  # project of the story -> project id
    # headers of a member-role caller of any project id (None: only the story's projects)
    member_of_any: Callable[[str], dict[str, str]] | None = None

    def __getitem__(self, name: str) -> dict[str, str]:
        return self.headers[name]

    @property
    def owner(self) -> str:
        return self.projects["owner"]

    @property
    def shared(self) -> str:
        return self.projects["shared"]

    @property
    def other(self) -> str:
        return self.projects["other"]

    def member_of(self, project_id: str) -> dict[str, str]:
        """A member-role caller of ``project_id``."""
        for name, (project, roles) in PERSONA_ROLES.items():
            if self.projects[project] == project_id and "member" in roles.split(","):
                return self.headers[name]
        if self.member_of_any is None:
            raise KeyError(f"no member-role caller of {project_id}")
        return self.member_of_any(project_id)

    async def new_image(self, *, visibility: str = "shared", status: str = "active") -> str:
        """An image of the owner project with formats and the tag ``existing``, brought to
        ``status`` (queued, active or deactivated). Public ones are made by the admin
        (only an admin may publicize)."""
        creator = self["admin"] if visibility == "public" else self["owner_member"]
        body = {
            "owner": self.owner, "visibility": visibility, "disk_format": "raw",
            "container_format": "bare", "tags": ["existing"],
        }  # fmt: skip
        response = await self.client.post("/v2/images", json=body, headers=creator)
        assert response.status_code == 201, response.text
        image_id: str = response.json()["id"]
        owner = self["owner_member"]
        if status in ("active", "deactivated"):
            response = await self.client.put(
                f"/v2/images/{image_id}/file", content=b"shared data", headers={**owner, **OCTETS}
            )
            assert response.status_code == 204, response.text
        if status == "deactivated":
            response = await self.client.post(
                f"/v2/images/{image_id}/actions/deactivate", headers=owner
            )
            assert response.status_code == 204, response.text
        return image_id

    async def share(
        self,
        image_id: str,
        project_id: str | None = None,
        status: str = "pending",
        *,
        by: str = "owner_member",
    ) -> dict[str, Any]:
        """Add a member (the shared project by default) as persona ``by``, then let the
        member set ``status``."""
        project_id = project_id or self.shared
        response = await self.client.post(
            members_path(image_id), json={"member": project_id}, headers=self[by]
        )
        assert response.status_code == 200, response.text
        member: dict[str, Any] = response.json()
        if status != "pending":
            member = await self.set_status(image_id, project_id, status)
        return member

    async def set_status(self, image_id: str, project_id: str, status: str) -> dict[str, Any]:
        """The member project itself sets its status."""
        response = await self.client.put(
            members_path(image_id, project_id),
            json={"status": status},
            headers=self.member_of(project_id),
        )
        assert response.status_code == 200, response.text
        member: dict[str, Any] = response.json()
        return member

    async def patch(self, image_id: str, ops: list[dict[str, Any]], by: str) -> httpx.Response:
        return await self.client.patch(
            f"/v2/images/{image_id}", json=ops, headers={**self[by], **V21}
        )


def header_callers(client: httpx.AsyncClient) -> Callers:
    """The personas as ``noauth`` identity headers; projects are named after the story."""
    projects = {name: f"project-{name}" for name, _ in PERSONA_ROLES.values()}
    headers = {
        name: persona(projects[project], roles) for name, (project, roles) in PERSONA_ROLES.items()
    }
    return Callers(client, headers, projects, member_of_any=lambda p: persona(p, "member,reader"))
