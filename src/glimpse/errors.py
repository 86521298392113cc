"""The one exception tree of glimpse, named for what happened.

Every layer below HTTP raises these and knows nothing of status codes: ``api/errors.py``
holds the one table that maps each of them to Glance's status code and body.

    GlimpseError
    ├── InvalidInput                malformed input, schema failures, bad lengths
    ├── NotAuthenticated            no credentials, or bad, expired or revoked ones
    ├── NotPermitted                policy refusals, read-only or reserved attributes,
    │   │                           protected images
    │   └── RefusedInStatus         an action the image's status does not allow
    ├── NotFound                    absent, deleted or invisible to the caller
    │   └── DataMissing             a store has no data where the database says it is
    ├── Conflict                    duplicates, lost races
    │   └── InvalidStatusTransition the image's status does not allow the change
    ├── ImageDeleted                deleted while its data was being written
    ├── LimitExceeded               size cap, quotas, counts of properties, tags, members
    │   └── StorageFull             a store's media is full
    ├── DataFormatMismatch          image data that is not what its disk_format says
    └── BackendUnavailable          a store, Keystone or the identity store cannot be
        │                           used right now
        └── StoreUnavailable
"""

from __future__ import annotations


class GlimpseError(Exception):
    def __init__(self, message: str = "", *, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        # response headers that belong to this error (e.g. WWW-Authenticate on a 401)
        self.headers = headers or {}


class InvalidInput(GlimpseError):
    """The request itself is wrong: it cannot succeed as sent."""


class NotAuthenticated(GlimpseError):
    """No credentials, or credentials that are not (or no longer) valid."""


class NotPermitted(GlimpseError):
    """The caller is known but may not do this."""


class RefusedInStatus(NotPermitted):
    """An action the image's current status does not allow (Glance answers these with
    403, not 409: deactivating a queued image, for one)."""


class NotFound(GlimpseError):
    """Absent, deleted, or invisible to the caller (which, for them, is the same)."""


class DataMissing(NotFound):
    """A store has no data at a location the database records."""


class Conflict(GlimpseError):
    """The request conflicts with the current state: a duplicate, a lost race."""


class InvalidStatusTransition(Conflict):
    """The image's status does not allow this change."""


class ImageDeleted(GlimpseError):
    """The image was deleted while its data was being written."""


class LimitExceeded(GlimpseError):
    """A size cap or quota: image size, storage, properties, tags, members, bodies."""


class StorageFull(LimitExceeded):
    """The store's media has no room left."""


class DataFormatMismatch(GlimpseError):
    """Image data that is not what its ``disk_format`` says, or unsafe to boot."""


class BackendUnavailable(GlimpseError):
    """Something glimpse depends on cannot be used right now; retrying may work."""


class StoreUnavailable(BackendUnavailable):
    """An image store refused or failed an operation."""
