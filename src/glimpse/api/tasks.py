"""``/v2/tasks``, ``/v2/tasks/{id}`` and ``/v2/images/{id}/tasks``: tasks as Glance
renders them (a task view; an image's tasks as raw records)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from glimpse.api.bodies import context_of, json_response, reject_body
from glimpse.api.images.views import timestamp
from glimpse.api.routing import Router
from glimpse.errors import InvalidInput
from glimpse.images.service import ImageService
from glimpse.tasks.model import Task
from glimpse.tasks.service import TaskService


def _raw(value: datetime | None) -> str | None:
    """Glance's raw record timestamps (``2020-12-18T05:20:38.000000``)."""
    return value.strftime("%Y-%m-%dT%H:%M:%S.%f") if value is not None else None


def task_stub(task: Task) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": task.id,
        "type": task.type,
        "status": task.status,
        "owner": task.owner,
        "created_at": timestamp(task.created_at),
        "updated_at": timestamp(task.updated_at),
    }
    if task.expires_at is not None:
        view["expires_at"] = timestamp(task.expires_at)
    view["self"] = f"/v2/tasks/{task.id}"
    view["schema"] = "/v2/schemas/task"
    return view


def task_view(task: Task) -> dict[str, Any]:
    view = task_stub(task)
    view.update(
        input=task.public_input,
        result=task.result,
        message=task.message,
        image_id=task.image_id,
        request_id=task.request_id,
        user_id=task.user_id,
    )
    return view


def task_record(task: Task) -> dict[str, Any]:
    return {
        "id": task.id,
        "type": task.type,
        "status": task.status,
        "owner": task.owner,
        "expires_at": _raw(task.expires_at),
        "created_at": _raw(task.created_at),
        "updated_at": _raw(task.updated_at),
        "deleted_at": _raw(task.deleted_at),
        "deleted": task.deleted,
        "image_id": task.image_id,
        "request_id": task.request_id,
        "user_id": task.user_id,
        "input": task.public_input,
        "result": task.result,
        "message": task.message,
    }


class TasksApi:
    def __init__(self, tasks: TaskService, images: ImageService, *, limit_max: int) -> None:
        self.tasks = tasks
        self.images = images
        self.limit_max = limit_max

    def register(self, router: Router) -> None:
        router.add("/v2/tasks", {"GET": self.index})
        router.add("/v2/tasks/{task_id}", {"GET": self.show})
        router.add("/v2/images/{image_id}/tasks", {"GET": self.for_image})

    async def index(self, request: Request) -> Response:
        params = request.query_params
        try:
            limit = min(int(params.get("limit", self.limit_max)), self.limit_max)
        except ValueError:
            raise InvalidInput("limit param must be an integer") from None
        if limit < 0:
            raise InvalidInput("limit param must be positive")
        marker = params.get("marker")
        found = await self.tasks.page(context_of(request), limit=limit, marker=marker)
        body: dict[str, Any] = {
            "tasks": [task_stub(task) for task in found],
            "first": "/v2/tasks",
            "schema": "/v2/schemas/tasks",
        }
        if found and len(found) == limit:
            body["next"] = f"/v2/tasks?marker={found[-1].id}&limit={limit}"
        return json_response(body)

    async def show(self, request: Request, task_id: str) -> Response:
        await reject_body(request)
        return json_response(task_view(await self.tasks.get(context_of(request), task_id)))

    async def for_image(self, request: Request, image_id: str) -> Response:
        await reject_body(request)
        await self.images.get(context_of(request), image_id)  # 404 unless visible
        found = await self.tasks.for_image(image_id)
        return json_response({"tasks": [task_record(task) for task in found]})
