"""The metadefs authorisation rules: Glance's names and secure-RBAC defaults (admins
write; readers of the owning project, and anyone for public namespaces, read)."""

from __future__ import annotations

from glimpse.auth.policy import ADMIN, Rules

_READ = f"{ADMIN} or (role:reader and (project_id:%(project_id)s or 'public':%(visibility)s))"
_WRITE = "rule:metadef_admin"

RULES: Rules = {
    "metadef_default": ("", None),
    "metadef_admin": (ADMIN, None),
    "get_metadef_namespace": (_READ, "rule:metadef_default"),
    "get_metadef_namespaces": (
        f"{ADMIN} or (role:reader and project_id:%(project_id)s)",
        "rule:metadef_default",
    ),
    "modify_metadef_namespace": (_WRITE, None),
    "add_metadef_namespace": (_WRITE, None),
    "delete_metadef_namespace": (_WRITE, None),
    "get_metadef_object": (_READ, "rule:metadef_default"),
    "get_metadef_objects": (_READ, "rule:metadef_default"),
    "modify_metadef_object": (_WRITE, None),
    "add_metadef_object": (_WRITE, None),
    "delete_metadef_object": (_WRITE, None),
    "list_metadef_resource_types": (_READ, "rule:metadef_default"),
    "get_metadef_resource_type": (_READ, "rule:metadef_default"),
    "add_metadef_resource_type_association": (_WRITE, None),
    "remove_metadef_resource_type_association": (_WRITE, None),
    "get_metadef_property": (_READ, "rule:metadef_default"),
    "get_metadef_properties": (_READ, "rule:metadef_default"),
    "modify_metadef_property": (_WRITE, None),
    "add_metadef_property": (_WRITE, None),
    "remove_metadef_property": (_WRITE, None),
    "get_metadef_tag": (_READ, "rule:metadef_default"),
    "get_metadef_tags": (_READ, "rule:metadef_default"),
    "modify_metadef_tag": (_WRITE, None),
    "add_metadef_tag": (_WRITE, None),
    "add_metadef_tags": (_WRITE, None),
    "delete_metadef_tag": (_WRITE, None),
    "delete_metadef_tags": (_WRITE, None),
}
