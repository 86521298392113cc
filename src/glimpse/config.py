"""One typed settings object: defaults (Glance's), a TOML file, then GLIMPSE_* variables.

The TOML file is named by ``GLIMPSE_CONFIG`` (or ``glimpse serve --config``); keys are the
field names below, at top level, and stores are tables of their own::

    default_store = "fast"

    [stores.fast]
    type = "file"
    directory = "/srv/glimpse/fast"

Every field can also be set as ``GLIMPSE_<FIELD>`` (``GLIMPSE_STORES`` takes JSON). This
module imports nothing of glimpse: every other one may use it.
"""

from __future__ import annotations

import os
import re
import socket
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

DEFAULT_CONTAINER_FORMATS = ["ami", "ari", "aki", "bare", "ovf", "ova", "docker", "compressed"]
DEFAULT_DISK_FORMATS = [
    "ami", "ari", "aki", "vhd", "vhdx", "vmdk", "raw", "qcow2", "vdi", "iso", "ploop",
]  # fmt: skip

IMPORT_METHODS = ("glance-direct", "web-download", "copy-image", "glance-download")
_WILDCARD_HOSTS = frozenset({"0.0.0.0", "::", ""})
_SIZE_UNITS = {"": 1, "B": 1, "KB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30, "TB": 1 << 40}


class ConfigurationError(Exception):
    """Settings that cannot work; glimpse refuses to start and says why."""


def parse_size(text: str | int) -> int:
    """Glance's size syntax for ``user_storage_quota``: ``<n>`` then B/KB/MB/GB/TB (binary)."""
    if isinstance(text, int):
        return text
    match = re.fullmatch(r"\s*(\d+)\s*([KMGT]?B)?\s*", text.upper())
    if not match:
        raise ValueError(
            f"invalid size {text!r}: expected a number optionally followed by B/KB/MB/GB/TB"
        )
    return int(match.group(1)) * _SIZE_UNITS[match.group(2) or ""]


class StoreSectionBase(BaseModel):
    """What every ``[stores.<name>]`` section may say, whatever its type."""

    model_config = ConfigDict(extra="forbid")

    # downloads read from the store of highest weight holding the data (Glance's weight)
    weight: int = 0
    # shown by GET /v2/info/stores (Glance's store_description)
    description: str | None = None


class FileStoreSettings(StoreSectionBase):
    """A store of image files in one directory."""

    type: Literal["file"]
    directory: Path
    # fsync image files before the image becomes active (durable across power loss)
    fsync: bool = True
    # write whole blocks with O_DIRECT (falls back by itself where unsupported)
    direct_io: bool = True


class HttpStoreSettings(StoreSectionBase):
    """Read-only data at HTTP(S) URLs (locations added through the location APIs),
    fetched through the import filters (``import_*``) and web_download timeouts."""

    type: Literal["http"]


class S3StoreSettings(StoreSectionBase):
    """An S3 bucket (AWS, Ceph RGW, MinIO), with glance_store's option names and defaults."""

    type: Literal["s3"]
    # the endpoint: http(s)://host[:port] (no scheme: http, as Glance's s3:// locations)
    s3_store_host: str
    s3_store_access_key: SecretStr
    s3_store_secret_key: SecretStr
    s3_store_bucket: str = Field(min_length=3)
    s3_store_create_bucket_on_put: bool = False
    s3_store_region_name: str = ""
    # "auto", "virtual" (bucket.host) or "path" (host/bucket)
    s3_store_bucket_url_format: Literal["auto", "virtual", "path"] = "auto"
    # accepted for Glance's configurations; no effect: every size goes up in parts of the
    # chunk size (so memory stays two parts), and S3 takes parts of 5 MB at least
    s3_store_large_object_size: int = Field(default=100, ge=1)
    s3_store_large_object_chunk_size: int = Field(default=10, ge=5, le=5120)


class SwiftStoreSettings(StoreSectionBase):
    """A store in an OpenStack Swift account, laid out as Glance's swift store lays it
    out (the names are Glance's ``swift_store_*`` options without the prefix)."""

    type: Literal["swift"]
    # swift_store_auth_address, _user, _key: Swift's v1 auth (tempauth, swauth; the user
    # "account:user"), or Keystone's with auth_version "3" ("2" is read as "3", as Glance
    # does; the user "project:user", the address Keystone's)
    auth_address: str
    user: str
    key: SecretStr
    auth_version: Literal["1", "2", "3"] = "1"
    # with Keystone: the user's and project's domains, and the catalogue's object-store
    # endpoint to use (swift_store_region, _endpoint_type, _service_type)
    user_domain_id: str = "default"
    user_domain_name: str = "default"
    project_domain_id: str = "default"
    project_domain_name: str = "default"
    region: str | None = None
    endpoint_type: Literal["publicURL", "internalURL", "adminURL"] = "publicURL"
    service_type: str = "object-store"
    container: str = "glance"
    # images split over containers named <container>_<first N characters of the image id>
    multiple_containers_seed: int = Field(default=0, ge=0, le=32)
    # create the container on the first write into it (else it must exist)
    create_container_on_put: bool = False
    # MiB: an image of known size up to large_object_size is one segment; others are
    # segments of large_object_chunk_size, each sent as its bytes arrive
    large_object_size: int = Field(default=5120, ge=1)
    large_object_chunk_size: int = Field(default=200, ge=1)
    # the name locations give the account (swift+config://<reference>/…), never its
    # credentials (Glance's default_swift_reference); default: the store's name
    reference: str | None = None
    # seconds a Swift request may wait on its socket; attempts per request
    timeout_seconds: float = Field(default=60.0, gt=0)
    retries: int = Field(default=2, ge=0, le=10)

    @model_validator(mode="after")
    def _keystone_user_names_a_project(self) -> SwiftStoreSettings:
        if self.auth_version != "1" and not re.fullmatch(r"[^:]+:[^:]+", self.user):
            raise ValueError(
                f'with Keystone (auth_version "{self.auth_version}") user is '
                f'"project:user", not {self.user!r}'
            )
        return self


class RbdStoreSettings(StoreSectionBase):
    """A Ceph RBD pool, with glance_store's option names and defaults."""

    type: Literal["rbd"]
    rbd_store_pool: str = "images"
    # the cephx user (client.<user>); None: the configuration's default (client.admin)
    rbd_store_user: str | None = None
    rbd_store_ceph_conf: str = "/etc/ceph/ceph.conf"
    # MB per RADOS object of an image (a power of two)
    rbd_store_chunk_size: int = Field(default=8, ge=1, le=32)
    # seconds to reach the cluster before a call gives up (librados waits 300 s by
    # itself); Glance's 0 means that wait, here it means 15 s
    rados_connect_timeout: float = Field(default=15, ge=0)

    @field_validator("rbd_store_chunk_size")
    @classmethod
    def _power_of_two(cls, value: int) -> int:
        if value & (value - 1):
            raise ValueError(f"rbd_store_chunk_size must be a power of two, not {value}")
        return value


# one member per store type; the `type` key of a section picks it
StoreSettings = Annotated[
    FileStoreSettings | HttpStoreSettings | S3StoreSettings | SwiftStoreSettings | RbdStoreSettings,
    Field(discriminator="type"),
]

# Glance's unified limits, per project (sizes in MiB)
UNIFIED_LIMITS = ("image_size_total", "image_stage_total", "image_count_total",
                  "image_count_uploading")  # fmt: skip

# Glance's import plugins (no_op does nothing, as in Glance)
ImportPlugin = Literal["image_conversion", "image_decompression", "inject_image_metadata", "no_op"]

# Glance's reserved name of the store staged data waits in (never listed, never a target)
STAGING_STORE_NAME = "os_glance_staging_store"

# the name of the one store the flat file_store_* settings describe
FLAT_STORE_NAME = "file"
# beside it, as Glance's default `stores = file,http`: HTTP locations can be read
FLAT_HTTP_STORE_NAME = "http"
_FLAT_STORE_SETTINGS = frozenset({"file_store_dir", "file_store_fsync", "file_store_direct_io"})


# Each number a setting may hold: (lowest, highest), None for no bound. Checked once, in
# one place, so that a typo stops the start with the setting's name instead of a
# failure later (a port of 0, no workers, a timeout of -1, a 1-byte buffer).
RANGES: dict[str, tuple[float | None, float | None]] = {
    "port": (1, 65535),
    "metrics_port": (1, 65535),
    "workers": (1, 256),
    "max_request_id_length": (16, 4096),
    "token_expiration_seconds": (1, None),
    "password_hash_time_cost": (1, 100),
    "password_hash_memory_kib": (8, 4 << 20),
    "keystone_timeout_seconds": (0.1, 600),
    "token_cache_seconds": (0, 86400),
    "token_cache_size": (0, 10_000_000),
    "scrub_time": (0, None),
    "scrub_pool_size": (1, 1024),
    "scrub_wakeup_time": (0.1, None),
    "verify_rate_limit_mb_s": (0, None),
    "verify_grace_seconds": (0, None),
    "verify_interval_seconds": (0, None),
    "healthcheck_timeout_seconds": (0.1, 600),
    "notification_queue_size": (1, 10_000_000),
    "notification_retry": (0, 100),
    "image_size_cap": (1, 1 << 53),
    "user_storage_quota": (0, None),
    "limit_param_default": (1, None),
    "api_limit_max": (1, None),
    "image_property_quota": (-1, None),
    "image_tag_quota": (-1, None),
    "image_location_quota": (-1, None),
    "http_retries": (0, 100),
    "image_cache_max_size": (1, None),
    "image_cache_stall_time": (1, None),
    "image_cache_prefetcher_interval": (1, None),
    "image_member_quota": (-1, None),
    "web_download_connect_timeout": (0.1, 3600),
    "web_download_read_timeout": (0.1, 3600),
    "web_download_retries": (0, 100),
    "task_lease_seconds": (1, 3600),
    "housekeeping_seconds": (0.1, 86400),
    "task_time_to_live_hours": (0, None),
    "image_import_work_dir_size": (1 << 20, None),
    "image_conversion_cpu_seconds": (1, None),
    "image_conversion_memory_mb": (16, None),
    "image_conversion_timeout_seconds": (0.1, None),
    "upload_buffer_size": (4096, 256 << 20),
    "transfer_memory_budget": (1 << 20, 64 << 30),
}
LOG_LEVELS = ("critical", "error", "warning", "info", "debug")


def out_of_range(name: str, value: float) -> str | None:
    """Why ``value`` cannot be the setting ``name``, or None when it can."""
    low, high = RANGES[name]
    if low is not None and value < low:
        return f"{name} must be at least {low:g}, not {value:g}"
    if high is not None and value > high:
        return f"{name} must be at most {high:g}, not {value:g}"
    return None


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "glimpse"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GLIMPSE_", extra="forbid")

    # --- serving
    host: str = "127.0.0.1"
    port: int = 9292
    workers: int = 1
    public_endpoint: str | None = None
    log_level: str = "info"
    # "text", or "json": one JSON object per line (for log collectors)
    log_format: Literal["text", "json"] = "text"
    # one line per request: time, request id, user, project, method, path, status,
    # bytes sent, duration
    access_log: bool = True

    # --- where state lives
    data_dir: Path = Field(default_factory=default_data_dir)
    database_url: str | None = None  # default: sqlite file in data_dir
    # named stores ([stores.<name>] tables) and the one new data goes to by default
    # (default: the first); without any, one file store named "file" as described by
    # the flat file_store_* settings below
    stores: dict[str, StoreSettings] = {}
    default_store: str | None = None
    file_store_dir: Path | None = None  # default: data_dir / "images"
    file_store_fsync: bool = True
    file_store_direct_io: bool = True

    # --- who is asking
    # builtin: glimpse's own Keystone-compatible identity (users, projects, roles and
    #   tokens in its database, served under /identity/v3); keystone: tokens validated
    #   by a Keystone; noauth: trust everyone (tests only; logged loudly at start).
    auth_mode: Literal["builtin", "keystone", "noauth"] = "builtin"
    # oslo.policy: an operator's policy.yaml (Glance's rule names); secure-RBAC defaults
    # unless enforce_new_defaults is false (default: true, except in noauth mode, which
    # runs with Glance's legacy defaults as its unauthenticated pipeline does)
    policy_file: Path | None = None
    enforce_new_defaults: bool | None = None
    max_request_id_length: int = 64
    # Glance's property protections: an INI file of name patterns and who may create,
    # read, update and delete matching additional properties (roles, or policy rules)
    property_protection_file: Path | None = None
    property_protection_rule_format: Literal["roles", "policies"] = "roles"
    # built-in identity
    token_expiration_seconds: int = 3600
    identity_region: str = "RegionOne"
    # the Fernet keys that sign tokens, one per line, the first signs new ones (default:
    # data_dir/token-keys, made 0600 on first start); every node must read the same keys
    token_key_file: Path | None = None
    # argon2id cost of new password hashes (argon2-cffi's defaults: RFC 9106 low-memory)
    password_hash_time_cost: int = 3
    password_hash_memory_kib: int = 65536
    # Keystone mode: where tokens are validated, and glimpse's own service credentials
    keystone_auth_url: str | None = None
    keystone_www_authenticate_uri: str | None = None  # default: keystone_auth_url
    keystone_username: str | None = None
    keystone_password: str | None = None
    keystone_project_name: str = "service"
    keystone_user_domain_name: str = "Default"
    keystone_project_domain_name: str = "Default"
    keystone_timeout_seconds: float = 5.0
    # validated tokens are remembered this long (bounded by their own expiry)
    token_cache_seconds: float = 300.0
    token_cache_size: int = 10_000

    # --- delayed delete (Glance's): DELETE leaves an image with data pending_delete,
    # hidden but restorable (glimpse image restore), until every node's scrubber, which
    # wakes every scrub_wakeup_time seconds, removes images deleted scrub_time seconds
    # ago, scrub_pool_size data deletions at a time
    delayed_delete: bool = False
    scrub_time: float = 0
    scrub_pool_size: int = 1
    scrub_wakeup_time: float = 300

    # --- glimpse verify: defaults of the command, and the optional periodic run on
    # this node (every verify_interval_seconds; 0: never), which fixes only if asked
    verify_rate_limit_mb_s: float = 0  # 0: unlimited
    verify_grace_seconds: float = 86400  # orphans younger than this are only reported
    verify_interval_seconds: float = 0
    verify_fix: bool = False

    # --- /healthcheck: the file whose presence answers 503 DISABLED BY FILE (default:
    # data_dir/healthcheck_disable); a token that unlocks the detailed form for
    # non-admins (X-Healthcheck-Token); how long each dependency check may take
    healthcheck_disable_by_file_path: Path | None = None
    healthcheck_token: str | None = None
    healthcheck_timeout_seconds: float = 5.0

    # --- Prometheus metrics: "off"; "admin" (GET /metrics on the API port, admins only);
    # "listener" (a separate plain-HTTP listener on metrics_host:metrics_port)
    metrics: Literal["off", "admin", "listener"] = "off"
    metrics_host: str = "127.0.0.1"
    metrics_port: int = 9293
    # where worker processes keep their values for a scrape to add up (default:
    # data_dir/metrics, emptied at start)
    metrics_dir: Path | None = None

    # --- notifications (Glance's oslo.messaging notifications; off unless a driver is set)
    # "messagingv2" (what Ceilometer consumes), "messaging", "log", "routing" or "noop"
    notification_driver: str = "noop"
    notification_transport_url: str | None = None  # e.g. rabbit://user:pw@host:5672/
    notification_topics: list[str] = ["notifications"]
    notification_publisher_id: str = "image.localhost"
    # the exchange Glance's notifications go to (what consumers of Glance listen on)
    notification_control_exchange: str = "glance"
    # event types (image.send) or their groups (image) not to send
    disabled_notifications: list[str] = []
    # notifications waiting for the sender thread; more are dropped, never waited for
    notification_queue_size: int = 10_000
    # how often the sender retries a notification the broker refused (then drops it)
    notification_retry: int = 1

    # --- Glance's API limits and quotas
    image_size_cap: int = 1 << 40
    user_storage_quota: int = 0  # bytes; 0 = unlimited
    limit_param_default: int = 25
    api_limit_max: int = 1000
    image_property_quota: int = 128
    image_tag_quota: int = 128
    image_member_quota: int = 128
    image_location_quota: int = 10
    hashing_algorithm: str = "sha512"
    # `direct_url` in image views: where the data is (Nova and Cinder clone RBD images from it)
    show_image_direct_url: bool = False
    # `locations` in image views and PATCH of them (Glance's deprecated option: every
    # caller who sees an image sees where its data is; the owner may add locations)
    show_multiple_locations: bool = False
    # POST …/locations: read the data for its checksum and hash (before the image turns
    # active when the caller gave a hash to check, after when not), reading it again up
    # to http_retries times when a read breaks off
    do_secure_hash: bool = True
    http_retries: int = 3

    # --- the image cache (Glance's image_cache_*): off unless image_cache_dir is set.
    # Each node keeps its own directory; what it holds is recorded in the database.
    image_cache_dir: Path | None = None
    image_cache_max_size: int = 10 * 1024**3  # bytes; pruning keeps the cache under it
    # an unfinished cache file older than this (seconds) is removed by a clean
    image_cache_stall_time: int = 86400
    # seconds between looks at this node's prefetch queue (a PUT looks at once)
    image_cache_prefetcher_interval: int = 300
    # this node's URL, naming it in the cache's records (default http://<hostname>:<port>)
    worker_self_reference_url: str | None = None
    container_formats: list[str] = DEFAULT_CONTAINER_FORMATS
    disk_formats: list[str] = DEFAULT_DISK_FORMATS
    require_image_format_match: bool = True
    enabled_import_methods: list[str] = []
    # Glance's unified limits (image_size_total and image_stage_total in MiB,
    # image_count_total, image_count_uploading), per project; 413 past them. In keystone
    # mode they are Keystone's registered and project limits of the image service (read
    # with oslo.limit by glimpse's service user: admin or service role); otherwise the
    # limits set with `glimpse limits set`, else registered_limits here. A resource with
    # no limit anywhere gets 0 (nothing allowed), as in Keystone; -1 is unlimited.
    use_keystone_limits: bool = False
    registered_limits: dict[str, int] = {}
    # the image endpoint whose limits apply (Glance's [oslo_limit] endpoint_id); unset:
    # the image service's endpoint (public interface) in keystone_limits_region
    keystone_limits_endpoint_id: str | None = None
    keystone_limits_region: str | None = None

    # --- interoperable import (glance-direct, web-download, copy-image, glance-download)
    # where staged data waits for its import: a [stores.os_glance_staging_store] section
    # (Glance's reserved name; share it between nodes so any node finishes any import),
    # else a file store in data_dir/staging
    # web-download filtering (Glance's [import_filtering_opts]); addresses that are
    # loopback, private, link-local or otherwise not global are refused unless the host
    # (name or address) is listed in import_allowed_hosts
    import_allowed_schemes: list[str] = ["http", "https"]
    import_disallowed_schemes: list[str] = []
    import_allowed_hosts: list[str] = []
    import_disallowed_hosts: list[str] = []
    import_allowed_ports: list[int] = [80, 443]
    import_disallowed_ports: list[int] = []
    web_download_connect_timeout: float = 10.0
    web_download_read_timeout: float = 60.0
    web_download_retries: int = 3
    # glance-download (Glance's [glance_download_properties] extra_properties): the
    # remote image's properties whose names start with one of these are copied (never
    # os_glance*); its data and formats always are. The remote image service is the
    # region's image endpoint in Keystone's catalog, fetched through the web-download
    # filters above (allow those endpoints' hosts and ports), so keystone mode only.
    glance_download_properties: list[str] = [
        "hw_", "trait:", "os_distro", "os_secure_boot", "os_type",
    ]  # fmt: skip
    # tasks: a worker renews its lease this often x3; a task this old unrenewed is resumed
    # by another worker; finished tasks are kept this long (Glance's task_time_to_live)
    task_lease_seconds: float = 30.0
    task_time_to_live_hours: float = 48.0
    # glimpse serve runs a worker in each process unless this is false (then run
    # `glimpse worker` somewhere)
    run_workers: bool = True
    # import plugins (Glance's [image_import_opts] image_import_plugins), run in this
    # order on glance-direct and web-download imports (never on copy-image); none by
    # default. Put image_decompression before image_conversion.
    image_import_plugins: list[ImportPlugin] = []
    # where the data plugins work on a local copy of the staged data (default:
    # data_dir/import-work), and the most bytes one import's files there may hold at
    # once (the copy and one output; default: twice image_size_cap). A worker runs one
    # import at a time: a node needs this much per process.
    image_import_work_dir: Path | None = None
    image_import_work_dir_size: int | None = None
    # image_conversion (Glance's [image_conversion] output_format): qemu-img converts to
    # this format; disk_format becomes it and container_format bare
    image_conversion_output_format: Literal["raw", "qcow2", "vmdk"] = "raw"
    # limits of qemu-img convert (qemu-img info also within Glance's 30 CPU-s and 1 GiB)
    image_conversion_cpu_seconds: int = 600
    image_conversion_memory_mb: int = 1024
    image_conversion_timeout_seconds: float = 1800.0
    # inject_image_metadata (Glance's [inject_metadata_properties]): these properties
    # are set on images imported by users holding none of the ignored roles
    inject_metadata_properties: dict[str, str] = {}
    inject_metadata_ignore_user_roles: list[str] = ["admin"]

    # --- the HTTP edge (glimpse.edge): limits that keep hostile clients from stopping
    # the service, on by default (no proxy needed in front)
    # request line and headers, in all (431 past it)
    http_max_header_bytes: int = Field(default=64 << 10, ge=1 << 10, le=16 << 20)
    # a request's headers must arrive within this time of their first byte (408)
    http_header_timeout_seconds: float = Field(default=10.0, gt=0, le=3600)
    # an idle connection between requests is closed after this
    http_keepalive_timeout_seconds: int = Field(default=5, ge=1, le=3600)
    # a request body (upload) the client stops sending, or a response it stops reading,
    # for this long ends the connection (an upload's image goes back to queued)
    http_body_timeout_seconds: float = Field(default=60.0, gt=0, le=86400)
    # open connections per process (lowered to fit the open-files limit); one more is
    # answered 503 and closed
    http_max_connections: int = Field(default=4096, ge=1, le=1_000_000)
    # open connections per process from one client address, at most half the cap above
    # so that no one client can take every connection; 0: no such limit (behind a proxy,
    # where every client comes from the proxy's address)
    http_max_connections_per_client: int = Field(default=1024, ge=0, le=1_000_000)

    # --- the upload path
    # bytes gathered from the network before one hash/write step (the most: blocks get
    # smaller as more transfers share transfer_memory_budget)
    upload_buffer_size: int = 8 << 20
    # what the blocks of every transfer of one process may hold at once; more transfers
    # wait for room rather than grow the process
    transfer_memory_budget: int = 64 << 20
    # an upload renews its lease this often; a lease this old marks a dead upload
    upload_lease_seconds: float = 60.0
    # how often each node looks for dead uploads and for data still to be deleted
    housekeeping_seconds: float = 30.0

    @field_validator("user_storage_quota", mode="before")
    @classmethod
    def _quota_units(cls, value: Any) -> int:
        return parse_size(value)

    @field_validator("registered_limits")
    @classmethod
    def _known_limits(cls, value: dict[str, int]) -> dict[str, int]:
        for name, limit in value.items():
            if name not in UNIFIED_LIMITS:
                raise ValueError(
                    f"registered_limits: unknown resource {name!r} "
                    f"(known: {', '.join(UNIFIED_LIMITS)})"
                )
            if limit < -1:
                raise ValueError(f"registered_limits: {name} must be -1 or more, not {limit}")
        return value

    @field_validator("image_import_work_dir_size", mode="before")
    @classmethod
    def _work_dir_units(cls, value: Any) -> int | None:
        return None if value is None else parse_size(value)

    @field_validator("hashing_algorithm")
    @classmethod
    def _known_hash(cls, value: str) -> str:
        import hashlib

        if value not in hashlib.algorithms_available:
            raise ValueError(f"hashing_algorithm {value!r} is not available in hashlib")
        return value

    @model_validator(mode="after")
    def _one_way_to_name_stores(self) -> Settings:
        if self.stores and self.model_fields_set & _FLAT_STORE_SETTINGS:
            flat = ", ".join(sorted(self.model_fields_set & _FLAT_STORE_SETTINGS))
            raise ValueError(f"set either [stores.<name>] tables or {flat}, not both")
        names = [name for name in self.stores if name != STAGING_STORE_NAME] or [FLAT_STORE_NAME]
        if self.default_store is not None and self.default_store not in names:
            raise ValueError(
                f"default_store {self.default_store!r} is not a configured store "
                f"({', '.join(names)})"
            )
        default = self.default_store or names[0]
        if isinstance(self.stores.get(default), HttpStoreSettings):
            raise ValueError(
                f"store {default!r} is read-only (type http) and cannot be the default store"
                + ("" if self.default_store else ": set default_store")
            )
        staging = self.stores.get(STAGING_STORE_NAME)
        if isinstance(staging, HttpStoreSettings):
            raise ValueError(f"store {STAGING_STORE_NAME!r} cannot be read-only (type http)")
        return self

    @property
    def resolved_stores(self) -> dict[str, StoreSettings]:
        """Every configured store by name, the default one first."""
        named = {
            name: section for name, section in self.stores.items() if name != STAGING_STORE_NAME
        }
        stores: dict[str, StoreSettings] = named or {
            FLAT_STORE_NAME: FileStoreSettings(
                type="file",
                directory=self.file_store_dir or self.data_dir / "images",
                fsync=self.file_store_fsync,
                direct_io=self.file_store_direct_io,
            ),
            FLAT_HTTP_STORE_NAME: HttpStoreSettings(type="http"),
        }
        default = self.default_store or next(iter(stores))
        return {default: stores[default], **stores}

    @property
    def staging_store(self) -> StoreSettings:
        return self.stores.get(STAGING_STORE_NAME) or FileStoreSettings(
            type="file", directory=self.data_dir / "staging"
        )

    @property
    def multi_store(self) -> bool:
        """Glance's multi-store mode (its ``enabled_backends``): on when stores are named
        in ``[stores.<name>]`` tables; the flat file_store_* settings are one plain store."""
        return any(name != STAGING_STORE_NAME for name in self.stores)

    @property
    def resolved_import_work_dir(self) -> Path:
        return self.image_import_work_dir or self.data_dir / "import-work"

    @property
    def resolved_import_work_dir_size(self) -> int:
        return self.image_import_work_dir_size or 2 * self.image_size_cap

    @property
    def new_policy_defaults(self) -> bool:
        if self.enforce_new_defaults is not None:
            return self.enforce_new_defaults
        return self.auth_mode != "noauth"

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'glimpse.db'}"

    @property
    def resolved_token_key_file(self) -> Path:
        return self.token_key_file or self.data_dir / "token-keys"

    @model_validator(mode="after")
    def _known_import_methods(self) -> Settings:
        unknown = [m for m in self.enabled_import_methods if m not in IMPORT_METHODS]
        if unknown:
            raise ValueError(
                f"enabled_import_methods: unknown {', '.join(unknown)} "
                f"(known: {', '.join(IMPORT_METHODS)})"
            )
        if "glance-download" in self.enabled_import_methods and self.auth_mode != "keystone":
            raise ValueError(
                "glance-download needs auth_mode = keystone: the other region's image "
                "service is found in Keystone's catalog with the caller's token"
            )
        return self

    @model_validator(mode="after")
    def _numbers_in_range(self) -> Settings:
        for name in RANGES:
            value = getattr(self, name, None)
            if value is not None and (problem := out_of_range(name, value)):
                raise ValueError(problem)
        if self.log_level.lower() not in LOG_LEVELS:
            raise ValueError(
                f"log_level must be one of {', '.join(LOG_LEVELS)}, not {self.log_level!r}"
            )
        return self

    def make_data_dir(self) -> Path:
        """The data directory, private to glimpse's user (0700) whatever the umask: it
        holds the database (every password hash), the token keys and clouds.yaml."""
        self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.data_dir, 0o700)
        return self.data_dir

    @property
    def node_url(self) -> str:
        """This node's name in the records nodes share (the image cache's)."""
        return self.worker_self_reference_url or f"http://{socket.gethostname()}:{self.port}"

    def public_url(self, request_base_url: str | None = None) -> str:
        """Where clients reach this service, without a trailing slash: the configured
        ``public_endpoint``; else the URL a request came to; else host and port."""
        if self.public_endpoint:
            return self.public_endpoint.rstrip("/")
        if request_base_url is not None:
            return request_base_url.rstrip("/")
        host = "127.0.0.1" if self.host in _WILDCARD_HOSTS else self.host
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = os.environ.get("GLIMPSE_CONFIG")
        if config_file:
            if not Path(config_file).is_file():
                raise FileNotFoundError(
                    f"GLIMPSE_CONFIG names {config_file!r}, which is not a file"
                )
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=config_file))
        return tuple(sources)
