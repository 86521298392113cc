"""The tasks API's rules (Glance's names): every call needs ``tasks_api_access``
(admins only by default), then the per-call rule."""

from __future__ import annotations

from glimpse.auth.policy import ADMIN, Rules

RULES: Rules = {
    "tasks_api_access": (ADMIN, None),
    "get_task": ("rule:default", None),
    "get_tasks": ("rule:default", None),
    "add_task": ("rule:default", None),
    "modify_task": ("rule:default", None),
}
