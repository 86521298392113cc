"""``/v2/images/{id}/members``: sharing an image with other projects.

Bodies are checked before anything else, as Glance's deserializer does: a create
without ``member`` or an update without ``status`` is a 400 even for an unknown image.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from glimpse.api.bodies import context_of, json_body, json_response, no_content, reject_body
from glimpse.api.images.views import member_view
from glimpse.api.routing import Router
from glimpse.errors import InvalidInput
from glimpse.images.members import MemberService, check_member_id


async def _object_body(request: Request, form: str) -> dict[str, Any]:
    body = await json_body(request)
    if not isinstance(body, dict):
        raise InvalidInput(f"Expected a {form}")
    return body


class MembersApi:
    def __init__(self, members: MemberService) -> None:
        self.members = members

    def register(self, router: Router) -> None:
        router.add("/v2/images/{image_id}/members", {"GET": self.index, "POST": self.create})
        router.add(
            "/v2/images/{image_id}/members/{member_id}",
            {"GET": self.show, "PUT": self.update, "DELETE": self.delete},
        )

    async def create(self, request: Request, image_id: str) -> Response:
        body = await _object_body(request, 'member in the form: {"member": "image_id"}')
        if "member" not in body:
            raise InvalidInput("Member to be added not specified")
        member_id = check_member_id(body["member"])
        member = await self.members.add_member(context_of(request), image_id, member_id)
        return json_response(member_view(member))  # 200, not 201, as Glance

    async def index(self, request: Request, image_id: str) -> Response:
        await reject_body(request)
        found = await self.members.list_members(context_of(request), image_id)
        return json_response(
            {"members": [member_view(m) for m in found], "schema": "/v2/schemas/members"}
        )

    async def show(self, request: Request, image_id: str, member_id: str) -> Response:
        await reject_body(request)
        member = await self.members.get_member(context_of(request), image_id, member_id)
        return json_response(member_view(member))

    async def update(self, request: Request, image_id: str, member_id: str) -> Response:
        body = await _object_body(request, 'status in the form: {"status": "status"}')
        if "status" not in body:
            raise InvalidInput("Status not specified")
        member = await self.members.update_member(
            context_of(request), image_id, member_id, body["status"]
        )
        return json_response(member_view(member))

    async def delete(self, request: Request, image_id: str, member_id: str) -> Response:
        await reject_body(request)
        await self.members.delete_member(context_of(request), image_id, member_id)
        return no_content()
