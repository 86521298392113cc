"""The image API's authorisation rules: Glance's names and secure-RBAC defaults, with
the legacy check strings oslo.policy ORs in when ``enforce_new_defaults`` is off."""

from __future__ import annotations

from glimpse.auth.policy import ADMIN, SERVICE, Rules

_MEMBER_OF_OWNER = f"{ADMIN} or (role:member and project_id:%(project_id)s)"
_READER_OF_OWNER = f"{ADMIN} or (role:reader and project_id:%(project_id)s)"
_CAN_SEE = (
    "(project_id:%(project_id)s or project_id:%(member_id)s or 'community':%(visibility)s"
    " or 'public':%(visibility)s or 'shared':%(visibility)s)"
)
_MEMBER_OR_OWNER = "(project_id:%(project_id)s or project_id:%(member_id)s)"

RULES: Rules = {
    "add_image": (
        f"{ADMIN} or (role:member and project_id:%(project_id)s and project_id:%(owner)s)",
        "rule:default",
    ),
    "delete_image": (_MEMBER_OF_OWNER, "rule:default"),
    "get_image": (f"{ADMIN} or (role:reader and {_CAN_SEE})", "rule:default"),
    "get_images": (_READER_OF_OWNER, "rule:default"),
    "modify_image": (_MEMBER_OF_OWNER, "rule:default"),
    "publicize_image": (ADMIN, None),
    "communitize_image": (_MEMBER_OF_OWNER, "rule:default"),
    "download_image": (f"{ADMIN} or (role:member and {_CAN_SEE})", "rule:default"),
    "upload_image": (_MEMBER_OF_OWNER, "rule:default"),
    "delete_image_location": (ADMIN, "rule:default"),
    "get_image_location": (_READER_OF_OWNER, "rule:default"),
    "set_image_location": (_MEMBER_OF_OWNER, "rule:default"),
    "add_image_location": (
        f"{SERVICE} or (role:member and project_id:%(project_id)s and project_id:%(owner)s)",
        None,
    ),
    "fetch_image_location": (SERVICE, None),
    "add_member": (_MEMBER_OF_OWNER, "rule:default"),
    "delete_member": (_MEMBER_OF_OWNER, "rule:default"),
    "get_member": (f"{ADMIN} or role:reader and {_MEMBER_OR_OWNER}", "rule:default"),
    "get_members": (f"{ADMIN} or role:reader and {_MEMBER_OR_OWNER}", "rule:default"),
    "modify_member": (f"{ADMIN} or (role:member and project_id:%(member_id)s)", "rule:default"),
    "deactivate": (_MEMBER_OF_OWNER, "rule:default"),
    "reactivate": (_MEMBER_OF_OWNER, "rule:default"),
    "copy_image": (ADMIN, None),
    "stores_info_detail": (f"{ADMIN} or {SERVICE}", ADMIN),
}
