"""The cache API's authorisation rules: Glance's names, admin only by default (the
legacy default being Glance's ``manage_image_cache``: the admin role)."""

from __future__ import annotations

from glimpse.auth.policy import ADMIN, Rules

RULES: Rules = {
    "cache_image": (ADMIN, "role:admin"),
    "cache_list": (ADMIN, "role:admin"),
    "cache_delete": (ADMIN, "role:admin"),
    "cache_clean": (ADMIN, None),
    "cache_prune": (ADMIN, None),
    "list_cached_nodes": (ADMIN, None),
}
