"""Reading tasks for the API: ``tasks_api_access`` first, then the call's own rule;
a task of another project is not found (admins see all)."""

from __future__ import annotations

from glimpse.auth.policy import Policy
from glimpse.db.engine import Database, UnitsOfWork
from glimpse.errors import InvalidInput, NotFound, NotPermitted
from glimpse.model.context import RequestContext
from glimpse.tasks.model import Task
from glimpse.tasks.repository import TaskRepository


class TaskService:
    def __init__(self, db: Database, policy: Policy) -> None:
        self.tasks = UnitsOfWork(db, TaskRepository)
        self.policy = policy

    def _enforce(self, context: RequestContext, rule: str) -> None:
        for name in ("tasks_api_access", rule):
            if not self.policy.allows(name, context, {"project_id": context.project_id}):
                raise NotPermitted(f"You are not authorized to complete {name} action.")

    def _mine(self, context: RequestContext, task: Task | None, task_id: str) -> Task:
        if task is None or not (context.is_admin or task.owner == context.project_id):
            raise NotFound(f"Task with identifier {task_id} could not be found")
        return task

    async def get(self, context: RequestContext, task_id: str) -> Task:
        self._enforce(context, "get_task")
        task = await self.tasks.read(lambda repo: repo.get(task_id))
        return self._mine(context, task, task_id)

    async def page(self, context: RequestContext, *, limit: int, marker: str | None) -> list[Task]:
        self._enforce(context, "get_tasks")
        owner = None if context.is_admin else context.project_id

        def work(repo: TaskRepository) -> list[Task]:
            after = None
            if marker is not None:
                after = repo.get(marker)
                if after is None:
                    raise InvalidInput(f"Invalid marker. Task {marker} could not be found.")
            return repo.page(owner, limit=limit, marker=after)

        return await self.tasks.read(work)

    async def for_image(self, image_id: str) -> list[Task]:
        """An image's tasks (the caller's right to see the image is checked by the
        image service before)."""
        return await self.tasks.read(lambda repo: repo.for_image(image_id))
