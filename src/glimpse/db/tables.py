"""The metadata schema (SQLAlchemy Core). Alembic migrations create exactly this."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

images = Table(
    "images",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("name", String(255)),
    Column("status", String(30), nullable=False),
    Column("visibility", String(20), nullable=False),
    Column("protected", Boolean, nullable=False, default=False),
    Column("os_hidden", Boolean, nullable=False, default=False),
    Column("checksum", String(32)),
    Column("os_hash_algo", String(64)),
    Column("os_hash_value", String(128)),
    Column("owner", String(255)),
    Column("size", BigInteger),
    Column("virtual_size", BigInteger),
    Column("container_format", String(32)),
    Column("disk_format", String(32)),
    Column("min_disk", Integer, nullable=False, default=0),
    Column("min_ram", Integer, nullable=False, default=0),
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
    Column("deleted_at", DateTime),
    Column("deleted", Boolean, nullable=False, default=False),
    # the default listing: live images, newest first
    Index("ix_images_deleted_created", "deleted", "created_at", "id"),
    Index("ix_images_owner", "owner"),
    Index("ix_images_visibility", "visibility"),
    Index("ix_images_status", "status"),
    Index("ix_images_updated_at", "updated_at"),
    Index("ix_images_name", "name"),
)

image_properties = Table(
    "image_properties",
    metadata,
    Column("image_id", String(36), ForeignKey("images.id", ondelete="CASCADE"), primary_key=True),
    Column("name", String(255), primary_key=True),
    Column("value", Text),  # null: a schema property set to null
    Index("ix_image_properties_name", "name"),
)

image_tags = Table(
    "image_tags",
    metadata,
    Column("image_id", String(36), ForeignKey("images.id", ondelete="CASCADE"), primary_key=True),
    Column("value", String(255), primary_key=True),
    # its image's created_at (never changes), visibility and owner (kept in step by the
    # image repository): a tag's images in creation order, per visibility and per owner,
    # from an index (0200_tag_sort_keys)
    Column("created_at", DateTime, nullable=False),
    Column("visibility", String(20)),
    Column("owner", String(255)),
    Index("ix_image_tags_value", "value"),
)

image_members = Table(
    "image_members",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("image_id", String(36), ForeignKey("images.id", ondelete="CASCADE"), nullable=False),
    Column("member", String(255), nullable=False),
    Column("status", String(20), nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
    # its image's created_at (never changes): the images shared with a project in
    # creation order, from an index (0230_member_sort_keys)
    Column("image_created_at", DateTime, nullable=False),
    UniqueConstraint("image_id", "member", name="uq_image_members_image_member"),
    Index("ix_image_members_member", "member"),
)

image_locations = Table(
    "image_locations",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("image_id", String(36), ForeignKey("images.id", ondelete="CASCADE"), nullable=False),
    Column("url", Text, nullable=False),
    Column("store", String(255)),
    Column("meta", Text, nullable=False, default="{}"),  # JSON object
    Column("created_at", DateTime, nullable=False),
    Index("ix_image_locations_image_id", "image_id"),
    # whether any image still holds the data at a URL (0210_location_urls)
    Index("ix_image_locations_url", "url", postgresql_using="hash"),
)

# An upload in progress: who holds it and until when. A lease nobody renews marks an
# upload whose node died; the reaper returns its image to `queued` and removes the
# partial data at `location`.
image_uploads = Table(
    "image_uploads",
    metadata,
    Column("image_id", String(36), ForeignKey("images.id", ondelete="CASCADE"), primary_key=True),
    Column("store", String(255), nullable=False),
    Column("location", Text, nullable=False),
    Column("node", String(255), nullable=False),
    Column("expires_at", DateTime, nullable=False),
)

# Image data whose image is gone but whose bytes could not be removed yet.
orphaned_data = Table(
    "orphaned_data",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("store", String(255), nullable=False),
    Column("location", Text, nullable=False),
    Column("created_at", DateTime, nullable=False),
)

# --- built-in identity (auth_mode = "builtin"): Keystone's model cut down to what the
# Image service needs — domains, users, projects, roles granted on projects, and the
# tokens revoked before they expire. Ids are 32 hex digits, as Keystone's.

identity_domains = Table(
    "identity_domains",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(255), nullable=False, unique=True),
    Column("enabled", Boolean, nullable=False, default=True),
    Column("created_at", DateTime, nullable=False),
)

identity_users = Table(
    "identity_users",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("domain_id", String(64), ForeignKey("identity_domains.id"), nullable=False),
    Column("name", String(255), nullable=False),
    Column("password_hash", String(255)),  # argon2 PHC string; NULL: no password login
    Column("enabled", Boolean, nullable=False, default=True),
    # tokens issued up to this instant are void (password changed, user disabled)
    Column("tokens_valid_after", DateTime),
    Column("created_at", DateTime, nullable=False),
    UniqueConstraint("domain_id", "name", name="uq_identity_users_domain_name"),
)

identity_projects = Table(
    "identity_projects",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("domain_id", String(64), ForeignKey("identity_domains.id"), nullable=False),
    Column("name", String(255), nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("enabled", Boolean, nullable=False, default=True),
    Column("created_at", DateTime, nullable=False),
    UniqueConstraint("domain_id", "name", name="uq_identity_projects_domain_name"),
)

identity_roles = Table(
    "identity_roles",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(255), nullable=False, unique=True),
    Column("created_at", DateTime, nullable=False),
)

identity_role_assignments = Table(
    "identity_role_assignments",
    metadata,
    Column(
        "user_id",
        String(64),
        ForeignKey("identity_users.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column(
        "project_id",
        String(64),
        ForeignKey("identity_projects.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column(
        "role_id",
        String(64),
        ForeignKey("identity_roles.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Index("ix_identity_role_assignments_project", "project_id"),
    Index("ix_identity_role_assignments_role", "role_id"),
)

# Tokens revoked before their expiry, by audit id; a row is useless (and removed by
# housekeeping) once the token would have expired anyway.
identity_revoked_tokens = Table(
    "identity_revoked_tokens",
    metadata,
    Column("audit_id", String(64), primary_key=True),
    Column("expires_at", DateTime, nullable=False),
    Column("revoked_at", DateTime, nullable=False),
    Index("ix_identity_revoked_tokens_expires_at", "expires_at"),
)

# One row (id 1) whose value grows on every identity change that can void a validated
# token (revocation, roles, users, projects); each node polls it and forgets the tokens
# it has validated when it moves.
identity_generation = Table(
    "identity_generation",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("value", BigInteger, nullable=False),
)

# ---- metadata definitions (metadefs): Glance's catalog of properties that may exist

metadef_namespaces = Table(
    "metadef_namespaces",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("namespace", String(80), nullable=False, unique=True),
    Column("display_name", String(80)),
    Column("description", Text),
    Column("visibility", String(32), nullable=False),
    Column("protected", Boolean, nullable=False),
    Column("owner", String(255), nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
    Index("ix_metadef_namespaces_owner", "owner"),
)

metadef_properties = Table(
    "metadef_properties",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "namespace_id",
        Integer,
        ForeignKey("metadef_namespaces.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("name", String(80), nullable=False),
    Column("json_schema", Text, nullable=False),  # the definition, as JSON
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
    UniqueConstraint("namespace_id", "name", name="uq_metadef_properties_namespace_name"),
)

metadef_objects = Table(
    "metadef_objects",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "namespace_id",
        Integer,
        ForeignKey("metadef_namespaces.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("name", String(80), nullable=False),
    Column("description", Text),
    Column("required", Text),  # JSON list of property names
    Column("json_schema", Text, nullable=False),  # JSON object: the object's properties
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
    UniqueConstraint("namespace_id", "name", name="uq_metadef_objects_namespace_name"),
)

metadef_tags = Table(
    "metadef_tags",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "namespace_id",
        Integer,
        ForeignKey("metadef_namespaces.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("name", String(80), nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
    UniqueConstraint("namespace_id", "name", name="uq_metadef_tags_namespace_name"),
)

metadef_resource_types = Table(
    "metadef_resource_types",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(80), nullable=False, unique=True),
    Column("protected", Boolean, nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
)

metadef_namespace_resource_types = Table(
    "metadef_namespace_resource_types",
    metadata,
    Column(
        "resource_type_id",
        Integer,
        ForeignKey("metadef_resource_types.id"),
        primary_key=True,
    ),
    Column(
        "namespace_id",
        Integer,
        ForeignKey("metadef_namespaces.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("properties_target", String(80)),
    Column("prefix", String(80)),
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
    Index("ix_metadef_ns_res_types_namespace_id", "namespace_id"),
)

# --- tasks (durable jobs: imports, copies) ------------------------------------------
# A task row is the job: its input, its outcome and who is running it. A worker claims a
# pending task (or one whose lease ran out: its node died) and renews `lease_until`
# while it works; progress is bytes_done of bytes_total.
tasks = Table(
    "tasks",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("type", String(30), nullable=False),
    Column("status", String(30), nullable=False),  # pending/processing/success/failure
    Column("owner", String(255)),
    Column("image_id", String(36)),
    Column("request_id", String(64)),
    Column("user_id", String(64)),
    Column("input", Text, nullable=False),  # JSON object
    Column("result", Text),  # JSON object
    Column("message", Text, nullable=False, default=""),
    Column("bytes_done", BigInteger, nullable=False, default=0),
    Column("bytes_total", BigInteger),
    Column("attempts", Integer, nullable=False, default=0),
    Column("node", String(255)),
    Column("lease_until", DateTime),
    Column("expires_at", DateTime),
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
    Column("deleted", Boolean, nullable=False, default=False),
    Column("deleted_at", DateTime),
    # the caller's token, for a job that acts as the caller elsewhere (glance-download
    # reads the other region's image service with it); never shown, cleared at the end
    Column("auth_token", Text),
    Index("ix_tasks_status_lease", "status", "lease_until"),
    Index("ix_tasks_image_id", "image_id"),
)

# Where an import attempt is writing (a store writer's partial object), recorded before
# the first byte: the worker that resumes or fails the task removes a dead attempt's.
task_partials = Table(
    "task_partials",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "task_id",
        String(36),
        ForeignKey("tasks.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("store", String(255), nullable=False),
    Column("location", Text, nullable=False),
)

# A periodic job that the cluster runs once per interval (the periodic verify): the node
# holding it renews `lease_until` while it runs; `next_run_at` is when the next pass is
# due, whichever node then claims it.
job_leases = Table(
    "job_leases",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("node", String(255)),
    Column("lease_until", DateTime),
    Column("next_run_at", DateTime),
)

# The import that holds an image: one row per image (its primary key makes a second
# import of the same image fail at once, on any node), removed when the task ends.
image_import_locks = Table(
    "image_import_locks",
    metadata,
    Column("image_id", String(36), ForeignKey("images.id", ondelete="CASCADE"), primary_key=True),
    Column("task_id", String(36), nullable=False),
)

# The image cache (Glance's centralized_db driver): what each node holds in its own
# cache directory, and what it is asked to fetch. A node is named by its URL.
cached_images = Table(
    "cached_images",
    metadata,
    Column("node", String(255), primary_key=True),
    Column("image_id", String(36), primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("hits", Integer, nullable=False, default=0),
    Column("last_accessed", Float, nullable=False),  # POSIX time, as the API shows it
    Column("last_modified", Float, nullable=False),
    Index("ix_cached_images_image_id", "image_id"),
)
cache_queue = Table(
    "cache_queue",
    metadata,
    Column("node", String(255), primary_key=True),
    Column("image_id", String(36), primary_key=True),
    Column("queued_at", DateTime, nullable=False),
)

# Data staged for an image (glance-direct's PUT …/stage, web-download's fetch), waiting
# in the staging store for its import; removed when the import ends either way.
image_staged = Table(
    "image_staged",
    metadata,
    Column("image_id", String(36), ForeignKey("images.id", ondelete="CASCADE"), primary_key=True),
    Column("location", Text, nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("created_at", DateTime, nullable=False),
    # JSON: the hashes and format findings taken while staging (None: not taken)
    Column("digests", Text),
)

# Unified limits of one project under the built-in identity (or noauth), set with
# ``glimpse limits set``; a resource without a row has its registered default
# (``registered_limits``). Keystone mode reads them from Keystone instead.
project_limits = Table(
    "project_limits",
    metadata,
    Column("project_id", String(64), primary_key=True),
    Column("resource_name", String(255), primary_key=True),
    Column("resource_limit", BigInteger, nullable=False),  # -1: unlimited
    Column("updated_at", DateTime, nullable=False),
)
