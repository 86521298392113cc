"""A task as every capability sees it: plain data."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from glimpse.clock import utcnow


class TaskStatus(StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    SUCCESS = "success"
    FAILURE = "failure"


# the part of a task's input only its job reads (the roles of who asked, say); the tasks
# API never shows it
PRIVATE_INPUT = "glimpse_private"


@dataclass(slots=True)
class Task:
    id: str
    type: str
    status: str = TaskStatus.PENDING
    owner: str | None = None
    image_id: str | None = None
    request_id: str | None = None
    user_id: str | None = None
    input: dict[str, Any] = field(default_factory=dict)
    result: dict[str, Any] | None = None
    message: str = ""
    bytes_done: int = 0
    bytes_total: int | None = None
    attempts: int = 0
    node: str | None = None
    lease_until: datetime | None = None
    expires_at: datetime | None = None
    created_at: datetime = field(default_factory=utcnow)
    updated_at: datetime = field(default_factory=utcnow)
    deleted: bool = False
    deleted_at: datetime | None = None

    @property
    def public_input(self) -> dict[str, Any]:
        return {key: value for key, value in self.input.items() if key != PRIVATE_INPUT}


class JobFailed(Exception):
    """A job ended without its outcome; the message is what the task and image show."""
