"""Builds the ASGI application: the front door every request passes through.

Order of work for a request: request id (431 if too long) → ``/healthcheck`` →
``/identity`` (built-in identity only; it checks its own callers) → version negotiation
(versions document, or the path mapped onto ``/v2``) → who is asking (the auth layer) →
the router → errors rendered as Glance renders them. Every response carries
``x-openstack-request-id``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from datetime import timedelta

from prometheus_client import CollectorRegistry
from starlette.datastructures import Headers
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from glimpse import logs, metrics
from glimpse.api.bodies import CONTEXT_KEY
from glimpse.api.cache import CacheApi
from glimpse.api.discovery import DiscoveryApi
from glimpse.api.errors import HeaderTooLarge, error_response, render_error, status_of
from glimpse.api.health import Health
from glimpse.api.identity.routes import IdentityApi
from glimpse.api.images.data import ImageDataApi
from glimpse.api.images.imports import ImportsApi
from glimpse.api.images.locations import LocationsApi
from glimpse.api.images.members import MembersApi
from glimpse.api.images.records import ImagesApi
from glimpse.api.metadefs.routes import MetadefsApi
from glimpse.api.routing import LABELS_KEY, Router
from glimpse.api.schemas import SchemasApi
from glimpse.api.stores import StoresApi
from glimpse.api.tasks import TasksApi
from glimpse.api.versions import negotiate, version_list, versions_response
from glimpse.auth.base import Authenticator
from glimpse.auth.noauth import NoAuth
from glimpse.auth.policy import Policy
from glimpse.cache.policies import RULES as CACHE_RULES
from glimpse.cache.service import ImageCache
from glimpse.config import Settings
from glimpse.db.engine import Database
from glimpse.errors import GlimpseError, NotAuthenticated, NotPermitted
from glimpse.identity.authenticator import BuiltinAuth
from glimpse.image_data.download import ImageDownload
from glimpse.image_data.housekeeping import Housekeeping
from glimpse.image_data.staging import ImageStaging
from glimpse.image_data.store_copies import StoreCopies
from glimpse.image_data.upload import ImageUpload
from glimpse.image_data.verification import VERIFY_JOB, Verifier
from glimpse.images.counts import status_counts
from glimpse.images.locations import UrlChecker
from glimpse.images.members import MemberService
from glimpse.images.policies import RULES as IMAGE_RULES
from glimpse.images.protections import (
    PropertyProtections,
    ProtectionFile,
    read_protection_file,
)
from glimpse.images.removal import DataRemoval
from glimpse.images.schema import Schemas
from glimpse.images.scrubber import Scrubber
from glimpse.images.service import ImageService
from glimpse.imports.job import ImportJob
from glimpse.imports.location_import import LOCATION_TASK, LocationImportJob, LocationImports
from glimpse.imports.service import IMPORT_TASK, ImportService
from glimpse.memory import BUDGET, limit_malloc_arenas
from glimpse.metadefs.policies import RULES as METADEF_RULES
from glimpse.metadefs.service import MetadefService
from glimpse.model.context import RequestContext
from glimpse.notifications.notifier import Notifier
from glimpse.quotas.enforcer import Quotas
from glimpse.stores.registry import StoreRegistry, build_stores
from glimpse.stores.web_guard import WebGuard
from glimpse.tasks.counts import backlog
from glimpse.tasks.leases import JobLease
from glimpse.tasks.policies import RULES as TASK_RULES
from glimpse.tasks.service import TaskService
from glimpse.tasks.worker import Worker

log = logging.getLogger("glimpse")
access_log = logging.getLogger("glimpse.access")

# paths the front door answers itself, each its own metric label
_OWN_ROUTES = frozenset({"/healthcheck", "/metrics", "/", "/versions"})


def build_authenticator(settings: Settings, db: Database) -> Authenticator:
    """The authenticator of the configured identity mode."""
    if settings.auth_mode == "noauth":
        return NoAuth()
    if settings.auth_mode == "keystone":
        # only then: keystoneauth1 costs every worker memory
        from glimpse.auth.keystone import KeystoneAuthenticator

        return KeystoneAuthenticator(settings)
    return BuiltinAuth(settings, db)


def read_protections(settings: Settings) -> ProtectionFile | None:
    """The operator's property protection file, parsed (a flaw stops start-up)."""
    if settings.property_protection_file is None:
        return None
    return read_protection_file(
        settings.property_protection_file, settings.property_protection_rule_format
    )


def build_policy(settings: Settings, protections: ProtectionFile | None = None) -> Policy:
    """oslo.policy with every capability's rules and the operator's policy file (and
    the rules a policies-format property protection file names)."""
    rules = {**IMAGE_RULES, **METADEF_RULES, **TASK_RULES, **CACHE_RULES}
    if protections is not None:
        rules.update(protections.policy_rules)
    return Policy(
        rules,
        legacy_defaults=not settings.new_policy_defaults,
        policy_file=settings.policy_file,
    )


def build_metrics_registry(db: Database) -> CollectorRegistry:
    """What a metrics scrape reads: the recorded metrics and the images by status."""

    def jobs() -> tuple[dict[str, int], float | None]:
        found = backlog(db.engine)
        return found.by_status, found.oldest_pending_seconds

    return metrics.registry(
        [metrics.ImageCounts(lambda: status_counts(db.engine)), metrics.JobCounts(jobs)]
    )


def build_worker(
    settings: Settings,
    db: Database,
    stores: StoreRegistry,
    staging: ImageStaging,
    removal: DataRemoval,
    quotas: Quotas,
    notifier: Notifier,
) -> Worker:
    """The task worker with every job type's handler."""
    job = ImportJob(
        db=db,
        stores=stores,
        staging=staging,
        removal=removal,
        settings=settings,
        quotas=quotas,
        notifier=notifier,
    )
    locations = LocationImportJob(db=db, stores=stores, settings=settings)
    return Worker(
        db,
        {IMPORT_TASK: job, LOCATION_TASK: locations},
        lease_seconds=settings.task_lease_seconds,
        time_to_live=timedelta(hours=settings.task_time_to_live_hours),
        notifier=notifier,
    )


class Glimpse:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        if settings.metrics != "off":
            metrics.enable()
        BUDGET.total = settings.transfer_memory_budget
        limit_malloc_arenas()  # before the data threads start
        self.db = Database(settings.resolved_database_url)
        self.metrics_registry = (
            build_metrics_registry(self.db) if settings.metrics == "admin" else None
        )
        self.stores = build_stores(settings)
        self.schemas = Schemas(
            disk_formats=settings.disk_formats, container_formats=settings.container_formats
        )
        protection_file = read_protections(settings)
        self.policy = build_policy(settings, protection_file)
        removal = DataRemoval(self.db, self.stores)
        self.images = ImageService(
            db=self.db,
            removal=removal,
            policy=self.policy,
            schemas=self.schemas,
            settings=settings,
            protections=PropertyProtections(protection_file, self.policy),
            notifier=Notifier(settings),
            urls=UrlChecker(self.stores, WebGuard(settings)),
        )
        self.housekeeping = Housekeeping(self.db, removal)
        self.scrubber = Scrubber(self.db, removal, settings)
        self.health = Health(settings, self.db, self.stores, self.images.notifier)
        self.authenticator: Authenticator = build_authenticator(settings, self.db)
        # built-in identity: glimpse is also the Keystone its clients log in to
        self.identity_api: IdentityApi | None = None
        if isinstance(self.authenticator, BuiltinAuth):
            self.identity_api = IdentityApi(self.authenticator.identity, settings)
        self.router = Router()
        uploads = ImageUpload(
            images=self.images, db=self.db, stores=self.stores, removal=removal, settings=settings
        )
        # interoperable import: staging, the import request, the job a worker runs
        staging = ImageStaging(
            images=self.images, db=self.db, stores=self.stores, removal=removal, settings=settings
        )
        self.worker = build_worker(
            settings, self.db, self.stores, staging, removal, self.images.quotas,
            self.images.notifier,
        )  # fmt: skip
        imports = ImportService(
            images=self.images,
            db=self.db,
            stores=self.stores,
            settings=settings,
            wake=self.worker.wake,
        )
        # the image cache, when this node has a directory for it
        self.cache = (
            ImageCache(
                directory=settings.image_cache_dir,
                db=self.db,
                images=self.images,
                stores=self.stores,
                settings=settings,
            )
            if settings.image_cache_dir is not None
            else None
        )
        for api in (
            ImagesApi(self.images, settings, self.stores),
            ImportsApi(staging, imports),
            LocationsApi(
                self.images,
                LocationImports(
                    db=self.db,
                    images=self.images,
                    stores=self.stores,
                    settings=settings,
                    wake=self.worker.wake,
                ),
                self.stores.multi,
            ),
            TasksApi(
                TaskService(self.db, self.policy), self.images, limit_max=settings.api_limit_max
            ),
            ImageDataApi(
                uploads, ImageDownload(images=self.images, stores=self.stores, cache=self.cache)
            ),
            CacheApi(self.cache, self.policy),
            MembersApi(MemberService(self.images, self.db)),
            SchemasApi(self.schemas),
            DiscoveryApi(settings, self.images.quotas),
            StoresApi(
                self.stores,
                StoreCopies(images=self.images, stores=self.stores, removal=removal),
                self.policy,
            ),
            MetadefsApi(MetadefService(self.db, self.policy, self.images.notifier), settings),
        ):
            api.register(self.router)
        self._versions = version_list(
            multi_store=settings.multi_store, cache=settings.image_cache_dir is not None
        )
        self._v2_prefixes = frozenset({"v2", *(version for version, _ in self._versions)})
        self._housekeeping: asyncio.Task[None] | None = None
        self._working: asyncio.Task[None] | None = None
        self._scrubbing: asyncio.Task[None] | None = None
        self._verifying: asyncio.Task[None] | None = None
        self._prefetching: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ ASGI

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            if self.settings.metrics == "off":
                await self._http(scope, receive, send)
            else:
                await self._measured_http(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)

    async def _measured_http(self, scope: Scope, receive: Receive, send: Send) -> None:
        """:meth:`_http`, counted by route template, method and status, timed, and its
        body bytes counted both ways."""
        path: str = scope["path"]
        route = path if path in _OWN_ROUTES else "other"
        if self.identity_api is not None and self.identity_api.serves(path):
            route = "/identity"
        labels = {"route": route}
        scope[LABELS_KEY] = labels
        status = 0
        received = sent = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
            return message

        async def counting_send(message: Message) -> None:
            nonlocal status, sent
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                sent += len(message.get("body", b""))
            await send(message)

        started = time.perf_counter()
        try:
            await self._http(scope, counting_receive, counting_send)
        finally:
            metrics.observe_request(
                labels["route"], scope["method"], status, time.perf_counter() - started,
                received, sent,
            )  # fmt: skip

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = Headers(scope=scope)
        request_id = headers.get("x-openstack-request-id")
        too_long = request_id is not None and len(request_id) > self.settings.max_request_id_length
        if not request_id or too_long:
            request_id = f"req-{uuid.uuid4()}"
        elif not request_id.startswith("req-"):
            request_id = f"req-{request_id}"
        id_header = (b"x-openstack-request-id", request_id.encode("latin-1"))
        status = 0
        sent = 0
        began = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status, sent
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), id_header]
            elif message["type"] == "http.response.body":
                sent += len(message.get("body", b""))
            await send(message)

        try:
            await self._handle(scope, receive, send_with_id, headers, request_id, too_long)
        finally:
            if self.settings.access_log:
                self._access_line(scope, request_id, status, sent, time.perf_counter() - began)

    def _access_line(
        self, scope: Scope, request_id: str, status: int, sent: int, seconds: float
    ) -> None:
        context: RequestContext | None = scope.get(CONTEXT_KEY)
        query = scope.get("query_string", b"").decode("latin-1")
        path = scope["path"] + (f"?{query}" if query else "")
        client = scope.get("client")
        fields = {
            "request_id": request_id,
            "user_id": context.user_id if context else None,
            "project_id": context.project_id if context else None,
            "client": client[0] if client else None,
            "method": scope["method"],
            "path": path,
            "status": status,
            "bytes": sent,
            "duration_ms": round(seconds * 1000, 1),
        }
        access_log.info(
            '%s %s %s %s "%s %s" %s %s %.1fms',
            request_id, fields["user_id"] or "-", fields["project_id"] or "-",
            fields["client"] or "-", scope["method"], path, status or "-", sent,
            seconds * 1000, extra={logs.FIELDS: fields},
        )  # fmt: skip

    async def _handle(
        self, scope: Scope, receive: Receive, send_with_id: Send, headers: Headers,
        request_id: str, too_long: bool,
    ) -> None:  # fmt: skip
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send_with_id(message)

        try:
            if too_long:
                raise HeaderTooLarge(
                    "x-openstack-request-id is longer than "
                    f"{self.settings.max_request_id_length} characters."
                )
            response = await self._respond(scope, receive, watch, headers, request_id)
            if response is not None:
                await response(scope, receive, watch)
        except GlimpseError as exc:
            if started:
                raise
            status_code = status_of(exc)[0]
            if status_code >= 500:
                log.warning("%s %s: %s", request_id, status_code, exc.message)
            head = scope["method"] == "HEAD"
            await error_response(exc, headers.get("accept"), head=head)(scope, receive, watch)
        except ClientDisconnect:
            # the client left mid-request; whatever it started was undone on the way out
            log.info("%s client disconnected", request_id)
        except Exception:
            log.exception("%s unexpected error", request_id)
            if started:
                raise
            response = render_error(
                500, "Internal Server Error",
                "The server has either erred or is incapable of performing the requested "
                "operation.", headers.get("accept"), {}, head=scope["method"] == "HEAD",
            )  # fmt: skip
            await response(scope, receive, watch)

    async def _respond(
        self, scope: Scope, receive: Receive, send: Send, headers: Headers, request_id: str
    ) -> Response | None:
        path: str = scope["path"]
        if path == "/healthcheck":
            return await self.health.respond(
                scope["method"],
                scope.get("query_string", b"").decode("latin-1"),
                headers,
                lambda: self._who_is_asking(headers, request_id),
            )
        if path == "/metrics" and self.metrics_registry is not None:
            return await self._metrics(headers, request_id)
        if self.identity_api is not None and self.identity_api.serves(path):
            return await self.identity_api.respond(scope, receive, send)
        routed, status = negotiate(path, headers.get("accept", ""), self._v2_prefixes)
        if routed is None:
            return versions_response(
                self.settings.public_url(str(Request(scope).base_url)), status, self._versions
            )
        context = await self._who_is_asking(headers, request_id)
        scope[CONTEXT_KEY] = context  # for the access log too
        if scope["method"] == "OPTIONS":
            return Response(status_code=200)  # as Glance: any path, an empty 200
        if routed == "/v2":  # a bare version prefix goes to its root, as in Glance
            root = self.settings.public_url(str(Request(scope).base_url)) + "/v2/"
            return Response(status_code=302, headers={"Location": root})
        scope = {**scope, "path": routed, CONTEXT_KEY: context}
        return await self.router.dispatch(Request(scope, receive, send))

    async def _who_is_asking(self, headers: Headers, request_id: str) -> RequestContext:
        try:
            return await self.authenticator.authenticate(headers, request_id)
        except NotAuthenticated as exc:
            challenge = self.authenticator.www_authenticate
            if challenge:
                exc.headers.setdefault("WWW-Authenticate", challenge)
            raise

    async def _metrics(self, headers: Headers, request_id: str) -> Response:
        """The Prometheus exposition, for admins only (``metrics = "admin"``)."""
        context = await self._who_is_asking(headers, request_id)
        if not context.is_admin:
            raise NotPermitted("Metrics are for administrators.")
        assert self.metrics_registry is not None
        body, content_type = await asyncio.to_thread(metrics.exposition, self.metrics_registry)
        return Response(body, media_type=content_type)

    # ------------------------------------------------------------- lifespan

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.startup()
                except Exception as exc:
                    log.exception("start-up failed")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def startup(self) -> None:
        if self.identity_api is not None:
            await self.identity_api.identity.start()
        self._housekeeping = asyncio.create_task(self._housekeep())
        if self.settings.run_workers:
            self._working = asyncio.create_task(self.worker.run_forever())
        if self.cache is not None:
            self._prefetching = asyncio.create_task(self.cache.run())
        if self.settings.delayed_delete:
            self._scrubbing = asyncio.create_task(self._scrub())
        if self.settings.verify_interval_seconds > 0:
            self._verifying = asyncio.create_task(self._verify())

    async def shutdown(self) -> None:
        # the worker stops on a flag: a cancellation alone can be lost in a race
        self.worker.stop()
        for task in (
            self._working,
            self._housekeeping,
            self._scrubbing,
            self._verifying,
            self._prefetching,
        ):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self.authenticator.close()
        await asyncio.to_thread(self.images.notifier.close)
        await self.db.aclose()

    async def _verify(self) -> None:
        """The periodic ``glimpse verify`` (``verify_interval_seconds``): every node looks,
        one runs each pass (the ``verify`` job lease)."""
        verifier = Verifier(self.db, self.stores)
        lease = JobLease(self.db, VERIFY_JOB, lease_seconds=self.settings.task_lease_seconds)
        interval = self.settings.verify_interval_seconds

        async def one_pass() -> None:
            log.info("verify pass on %s: started", lease.node)
            report = await verifier.run(
                fix=self.settings.verify_fix,
                grace_seconds=self.settings.verify_grace_seconds,
                rate_mb_s=self.settings.verify_rate_limit_mb_s,
            )
            summary = report.summary()
            log.log(
                logging.INFO if report.clean else logging.WARNING,
                "verify pass on %s: %d images, %d corrupted, %d missing, %d orphans",
                lease.node, summary["images_checked"], summary["corrupted"],
                summary["missing"], summary["orphans"],
            )  # fmt: skip

        while True:
            await asyncio.sleep(interval)
            try:
                # None: another node runs it, or ran it less than an interval ago
                await lease.run(one_pass, every=interval)
            except Exception:
                log.exception("verify failed; retrying later")

    async def _scrub(self) -> None:
        while True:
            try:
                await self.scrubber.run_once()
            except Exception:
                log.exception("scrubbing failed; retrying later")
            await asyncio.sleep(self.settings.scrub_wakeup_time)

    async def _housekeep(self) -> None:
        while True:
            try:
                await self.housekeeping.run_once()
                if self.identity_api is not None:
                    await self.identity_api.identity.purge_expired_revocations()
            except Exception:
                log.exception("housekeeping failed; retrying later")
            await asyncio.sleep(self.settings.housekeeping_seconds)


def create_app(settings: Settings | None = None) -> Glimpse:
    settings = settings or Settings()
    if not logging.getLogger().handlers:  # a worker process of `glimpse serve --workers N`
        logs.configure(settings.log_level, settings.log_format)
    return Glimpse(settings)
