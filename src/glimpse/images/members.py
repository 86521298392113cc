"""Image sharing: the members of ``shared`` images and what each caller may do with them.

Checks run in Glance's order, since the first failing one decides the status code:
the image must be visible (404), then ``shared`` (403; 404 for a single member), then the
caller must pass ``get_image`` (404), then the member rule (403). A caller who neither
owns the image nor is an admin sees only its own membership, so another project's
membership is 404 to it, as it is in Glance's database layer.

Memberships outlive a change of visibility: they count only while the image is
``shared`` and come back into force when it is shared again (Glance keeps them too).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.exc import IntegrityError

from glimpse.clock import utcnow
from glimpse.db.engine import Database, UnitsOfWork
from glimpse.errors import Conflict, InvalidInput, LimitExceeded, NotFound, NotPermitted
from glimpse.images.attributes import within_quota
from glimpse.images.member_repository import MemberRepository
from glimpse.images.service import ImageService
from glimpse.images.visibility import policy_target
from glimpse.model.context import RequestContext
from glimpse.model.images import Image, Member
from glimpse.notifications.payloads import member_payload

MEMBER_STATUSES = ("pending", "accepted", "rejected")
# the member column's width; Glance on SQLite stores longer ids, PostgreSQL cannot
MAX_MEMBER_ID = 255


def check_member_id(member_id: object) -> str:
    """The ``member`` of a create body: a non-empty project id string."""
    if not member_id:
        raise InvalidInput("Member can't be empty")
    if not isinstance(member_id, str):
        raise InvalidInput('Expected a member in the form: {"member": "image_id"}')
    if len(member_id) > MAX_MEMBER_ID:
        raise InvalidInput(f"Member id must not be longer than {MAX_MEMBER_ID} characters.")
    return member_id


def check_member_status(status: object) -> str:
    if not isinstance(status, str) or status not in MEMBER_STATUSES:
        raise InvalidInput('Incorrect request: Status must be "pending", "accepted" or "rejected".')
    return status


class MemberService:
    def __init__(self, images: ImageService, db: Database) -> None:
        self.images = images
        self.db = UnitsOfWork(db, MemberRepository)
        self.policy = images.policy
        self.settings = images.settings

    # ------------------------------------------------------------ shared checks

    def _shared_image(
        self,
        repo: MemberRepository,
        context: RequestContext,
        image_id: str,
        *,
        for_update: bool = False,
    ) -> Image:
        """The image, if the caller can see it (404) and it is ``shared`` (403)."""
        image = repo.images.get_image(image_id, for_update=for_update)
        if image is None or not repo.images.can_see(image, context.viewer):
            raise NotFound(f"Image {image_id} not found.")
        if image.visibility != "shared":
            raise NotPermitted("Only shared images have members.")
        return image

    def _require(self, context: RequestContext, rule: str, image: Image) -> None:
        """``get_image`` (404 when refused: the caller may not see the image), then ``rule``
        (403)."""
        self.images.enforce(context, "get_image", image)
        self.policy.require(rule, context, policy_target(image, context))

    def _sees_every_member(self, context: RequestContext, image: Image) -> bool:
        return context.is_admin or (
            context.project_id is not None and image.owner == context.project_id
        )

    def _member(
        self, repo: MemberRepository, context: RequestContext, image: Image, member_id: str
    ) -> Member:
        """One membership, after ``get_member``; 404 when absent or when it is another
        project's and the caller does not own the image."""
        self._require(context, "get_member", image)
        member = None
        if self._sees_every_member(context, image) or member_id == context.project_id:
            member = repo.get_member(image.id, member_id)
        if member is None:
            raise NotFound(f"{member_id} not found in the member list of the image {image.id}.")
        return member

    @property
    def _legacy(self) -> bool:
        # Glance's hard-coded owner rules apply only without the secure-RBAC defaults
        return not self.settings.new_policy_defaults

    # ------------------------------------------------------------------ calls

    async def add_member(self, context: RequestContext, image_id: str, member_id: str) -> Member:
        def work(repo: MemberRepository) -> Member:
            image = self._shared_image(repo, context, image_id, for_update=True)
            if (
                self._legacy
                and not context.is_admin
                and (image.owner is None or image.owner != context.project_id)
            ):
                raise NotPermitted(f"Not allowed to create members for image {image_id}.")
            self._require(context, "add_member", image)
            quota = self.settings.image_member_quota
            attempted = repo.count_members(image_id) + 1
            # as Glance: the quota is counted before duplicates are looked for
            if not within_quota(attempted, quota):
                raise LimitExceeded(
                    f"Image member limit exceeded for image {image_id}: The limit has been "
                    "exceeded on the number of allowed image members for this image. "
                    f"Attempted: {attempted}, Maximum: {quota}"
                )
            if repo.get_member(image_id, member_id) is not None:
                raise Conflict(f"Member {member_id} is duplicated for image {image_id}")
            now = utcnow()
            member = Member(image_id, member_id, "pending", now, now)
            try:
                repo.add_member(member)
            except IntegrityError:  # added meanwhile by a concurrent request
                raise Conflict(f"Member {member_id} is duplicated for image {image_id}") from None
            return member

        member = await self.db.write(work)
        self._notify("image.member.create", member)
        return member

    async def list_members(self, context: RequestContext, image_id: str) -> list[Member]:
        def work(repo: MemberRepository) -> list[Member]:
            image = self._shared_image(repo, context, image_id)
            self._require(context, "get_members", image)
            # each member is then shown only if get_member allows (one target for all)
            if not self.policy.allows("get_member", context, policy_target(image, context)):
                return []
            if self._sees_every_member(context, image):
                return repo.list_members(image_id)
            if context.project_id is None:
                return []
            return repo.list_members(image_id, only=context.project_id)

        return await self.db.read(work)

    async def get_member(self, context: RequestContext, image_id: str, member_id: str) -> Member:
        def work(repo: MemberRepository) -> Member:
            try:
                image = self._shared_image(repo, context, image_id)
                return self._member(repo, context, image, member_id)
            except NotPermitted as exc:
                # Glance hides every refusal of this call as a 404
                raise NotFound(exc.message) from None

        return await self.db.read(work)

    async def update_member(
        self, context: RequestContext, image_id: str, member_id: str, status: object
    ) -> Member:
        """``status`` is checked after the policy, as Glance does (the owner gets 403
        whatever it sends)."""

        def work(repo: MemberRepository) -> Member:
            image = self._shared_image(repo, context, image_id)
            if self._legacy and not context.is_admin and image.owner == context.project_id:
                raise NotPermitted(f"Not allowed to update members for image {image_id}.")
            member = self._member(repo, context, image, member_id)
            self._require(context, "modify_member", image)
            new_status = check_member_status(status)
            # Glance saves nothing, so updated_at stays, when the status is unchanged
            if new_status != member.status:
                member.status, member.updated_at = new_status, utcnow()
                if not repo.update_member(image_id, member_id, new_status, member.updated_at):
                    raise NotFound(
                        f"{member_id} not found in the member list of the image {image_id}."
                    )
            return member

        member = await self.db.write(work)
        self._notify("image.member.update", member)
        return member

    async def delete_member(self, context: RequestContext, image_id: str, member_id: str) -> None:
        def work(repo: MemberRepository) -> Member:
            image = self._shared_image(repo, context, image_id)
            if self._legacy and not context.is_admin and image.owner != context.project_id:
                raise NotPermitted(f"Not allowed to delete members for image {image_id}.")
            member = self._member(repo, context, image, member_id)
            self._require(context, "delete_member", image)
            if not repo.delete_member(image_id, member_id):
                raise NotFound(f"{member_id} not found in the member list of the image {image_id}.")
            return member

        member = await self.db.write(work)
        if self.images.notifier.wants("image.member.delete"):
            now = utcnow()
            member.updated_at = now
            self._notify("image.member.delete", member, deleted_at=now)

    def _notify(self, event_type: str, member: Member, **how: Any) -> None:
        if self.images.notifier.wants(event_type):
            self.images.notifier.emit(event_type, member_payload(member, **how))
