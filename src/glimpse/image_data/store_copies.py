"""The copies of an image's data in several stores (multi-store): removing one.

``DELETE /v2/stores/{store}/{image}`` forgets the image's location in one store and
removes the bytes there; the image keeps its other copies. The last copy is never
removed this way (deleting the image is how).
"""

from __future__ import annotations

from glimpse.errors import Conflict, NotFound, NotPermitted
from glimpse.images.removal import DataRemoval
from glimpse.images.repository import ImageRepository
from glimpse.images.service import ImageService
from glimpse.model.context import RequestContext
from glimpse.model.images import Location, Status
from glimpse.stores.registry import StoreRegistry


class StoreCopies:
    def __init__(
        self, *, images: ImageService, stores: StoreRegistry, removal: DataRemoval
    ) -> None:
        self.images = images
        self.stores = stores
        self.removal = removal

    async def remove_copy(self, context: RequestContext, store_name: str, image_id: str) -> None:
        """Glance's order of checks: the store, the image, the rules, its status, then
        whether this copy may go."""
        if not self.stores.multi:
            raise NotFound("The resource could not be found.")
        if self.stores.get(store_name) is None:
            raise Conflict(f"The selected store {store_name} is not available on this node.")

        def work(repo: ImageRepository) -> list[Location]:
            image = self.images.found_image(repo, context, image_id, for_update=True)
            self.images.enforce(context, "get_image_location", image)
            self.images.authorize_change(context, "delete_image_location", image)
            if image.status != Status.ACTIVE:
                raise Conflict(
                    "It's not allowed to remove image data from store if image status is "
                    "not 'active'"
                )
            if len(repo.get_locations(image_id)) <= 1:
                raise NotPermitted(
                    "Cannot delete image data from the only store containing it. Consider "
                    "deleting the image instead."
                )
            removed = repo.remove_store_locations(image_id, store_name)
            if not removed:
                raise NotFound(f"Image {image_id} is not present in store {store_name}")
            return removed

        for location in await self.images.db.write(work):
            await self.removal.remove(location)
