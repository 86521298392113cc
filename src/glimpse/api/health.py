"""``/healthcheck``: Glance's public form for load balancers, and a detailed form for
operators.

Public: ``OK`` (200), or ``DISABLED BY FILE`` (503) while the file named by
``healthcheck_disable_by_file_path`` exists (oslo.middleware's ``disable_by_file``: touch
it to drain a node behind a load balancer, remove it to bring the node back).

Detailed (``GET /healthcheck?detailed``): for admins, or for whoever sends the configured
``healthcheck_token`` as ``X-Healthcheck-Token``. The database and each store are
checked, each within ``healthcheck_timeout_seconds``; the job (task) backlog and the
notification queue are reported. 200 when all are well, 503 otherwise, with a JSON body
saying which is not.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import Connection, text
from starlette.datastructures import Headers
from starlette.responses import PlainTextResponse, Response

from glimpse.api.bodies import json_response
from glimpse.config import Settings
from glimpse.db.engine import Database
from glimpse.errors import NotPermitted
from glimpse.model.context import RequestContext
from glimpse.notifications.notifier import Notifier
from glimpse.stores.registry import StoreRegistry
from glimpse.tasks.counts import backlog

Authenticate = Callable[[], Awaitable[RequestContext]]


def _select_one(conn: Connection) -> None:
    conn.execute(text("SELECT 1"))


def public_form(method: str, accept: str, disabled: bool) -> Response:
    """oslo.middleware's answer: 204 to HEAD, JSON to a JSON client, else plain text."""
    reason, status = ("DISABLED BY FILE", 503) if disabled else ("OK", 200)
    if method == "HEAD":
        return Response(status_code=204 if status == 200 else status)
    if "application/json" in accept and "text/plain" not in accept:
        body = json.dumps({"detailed": False, "reasons": [reason]}, indent=4)
        return Response(body, status, media_type="application/json")
    return PlainTextResponse(reason, status)


class Health:
    def __init__(
        self, settings: Settings, db: Database, stores: StoreRegistry, notifier: Notifier
    ) -> None:
        self.settings = settings
        self.db = db
        self.stores = stores
        self.notifier = notifier
        self.disable_file = (
            settings.healthcheck_disable_by_file_path or settings.data_dir / "healthcheck_disable"
        )

    async def respond(
        self, method: str, query: str, headers: Headers, authenticate: Authenticate
    ) -> Response:
        if method not in ("GET", "HEAD"):
            return PlainTextResponse("Method Not Allowed", 405, {"Allow": "GET, HEAD"})
        disabled = self.disable_file.exists()
        if "detailed" not in query.split("&") and not query.startswith("detailed="):
            return public_form(method, headers.get("accept", ""), disabled)
        await self._authorize(headers, authenticate)
        report = await self.report(disabled)
        return json_response(report, 200 if report["status"] == "OK" else 503)

    async def _authorize(self, headers: Headers, authenticate: Authenticate) -> None:
        token = self.settings.healthcheck_token
        offered = headers.get("x-healthcheck-token")
        if token and offered is not None and hmac.compare_digest(offered, token):
            return
        if not (await authenticate()).is_admin:
            raise NotPermitted("The detailed health check is for administrators.")

    async def report(self, disabled: bool = False) -> dict[str, Any]:
        checks: dict[str, Any] = {"database": await self._timed(self.db.read(_select_one))}
        stores = [(store.name, self._timed(store.probe())) for store in self.stores]
        found = await asyncio.gather(*(check for _, check in stores))
        checks["stores"] = {name: result for (name, _), result in zip(stores, found, strict=True)}
        checks["jobs"] = await self._jobs()
        checks["notifications"] = {
            "ok": True,
            "enabled": self.notifier.enabled,
            "backlog": self.notifier.backlog,
            "sent": self.notifier.sent,
            "failed": self.notifier.failed,
            "dropped": self.notifier.dropped,
        }
        healthy = checks["database"]["ok"] and all(s["ok"] for s in checks["stores"].values())
        status = "DISABLED BY FILE" if disabled else ("OK" if healthy else "FAILED")
        return {"status": status, "checks": checks}

    async def _jobs(self) -> dict[str, Any]:
        """The task queue's backlog (read in a thread: a sync engine)."""
        try:
            found = await asyncio.wait_for(
                asyncio.to_thread(backlog, self.db.engine),
                self.settings.healthcheck_timeout_seconds,
            )
        except Exception as exc:
            return {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:500]}
        return {
            "ok": True,
            **{status: found.by_status.get(status, 0)
               for status in ("pending", "processing", "success", "failure")},
            "oldest_pending_seconds": found.oldest_pending_seconds,
        }  # fmt: skip

    async def _timed(self, check: Awaitable[Any]) -> dict[str, Any]:
        started = time.perf_counter()
        try:
            await asyncio.wait_for(check, self.settings.healthcheck_timeout_seconds)
        except TimeoutError:
            return {"ok": False, "error": "timed out", "seconds": self._since(started)}
        except Exception as exc:
            return {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:500],
                    "seconds": self._since(started)}  # fmt: skip
        return {"ok": True, "seconds": self._since(started)}

    @staticmethod
    def _since(started: float) -> float:
        return round(time.perf_counter() - started, 4)
