"""The test Ceph (RBD pool and RGW's S3) that ``scripts/test`` starts with
``.ci/backends/ceph-up.sh`` and describes in the environment. Without it the tests that
need it skip, except under ``GLIMPSE_TEST_REQUIRE_CEPH=1`` (as ``scripts/test`` sets),
where they fail."""

from __future__ import annotations

import contextlib
import os
import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.server import free_port, wait_until_answers

S3_ENV = ("S3_ENDPOINT", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")


def require(names: tuple[str, ...]) -> dict[str, str]:
    missing = [name for name in names if not os.environ.get(name)]
    if missing:
        reason = f"no test Ceph: {', '.join(missing)} not set (scripts/test sets them)"
        if os.environ.get("GLIMPSE_TEST_REQUIRE_CEPH") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    return {name: os.environ[name] for name in names}


def s3_section(bucket: str, **overrides: Any) -> dict[str, Any]:
    """A ``[stores.<name>]`` section of an s3 store on the test RGW."""
    env = require(S3_ENV)
    return {
        "type": "s3",
        "s3_store_host": env["S3_ENDPOINT"],
        "s3_store_access_key": env["AWS_ACCESS_KEY_ID"],
        "s3_store_secret_key": env["AWS_SECRET_ACCESS_KEY"],
        "s3_store_bucket": bucket,
        "s3_store_create_bucket_on_put": True,
        "s3_store_bucket_url_format": "path",
        "s3_store_large_object_chunk_size": 5,
        **overrides,
    }


def s3_client() -> Any:
    import boto3

    env = require(S3_ENV)
    return boto3.client(
        "s3",
        endpoint_url=env["S3_ENDPOINT"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        region_name="us-east-1",
    )


@contextlib.contextmanager
def s3_bucket() -> Iterator[str]:
    """A fresh bucket name; the bucket (if the test made it) and all in it removed after."""
    client = s3_client()
    name = f"glimpse-test-{secrets.token_hex(6)}"
    yield name
    with contextlib.suppress(client.exceptions.NoSuchBucket):
        for upload in client.list_multipart_uploads(Bucket=name).get("Uploads", []):
            client.abort_multipart_upload(
                Bucket=name, Key=upload["Key"], UploadId=upload["UploadId"]
            )
        for item in client.list_objects_v2(Bucket=name).get("Contents", []):
            client.delete_object(Bucket=name, Key=item["Key"])
        client.delete_bucket(Bucket=name)


RBD_ENV = ("CEPH_CONF", "CEPH_POOL")


def rbd_section(pool: str | None = None, **overrides: Any) -> dict[str, Any]:
    """A ``[stores.<name>]`` section of an rbd store on the test cluster (its own pool,
    or the cluster's RBD pool with the restricted user an image service has)."""
    env = require(RBD_ENV)
    return {
        "type": "rbd",
        "rbd_store_ceph_conf": env["CEPH_CONF"],
        "rbd_store_pool": pool or env["CEPH_POOL"],
        "rbd_store_user": None if pool else "glance",
        "rados_connect_timeout": 10,
        **overrides,
    }


@contextlib.contextmanager
def rbd_pool() -> Iterator[str]:
    """A fresh RBD pool (about half a second to make), removed with all in it after."""
    import rados
    import rbd

    env = require(RBD_ENV)
    cluster = rados.Rados(conffile=env["CEPH_CONF"], conf={"client_mount_timeout": "10"})
    cluster.connect(timeout=10)
    name = f"glimpse-test-{secrets.token_hex(6)}"
    try:
        cluster.create_pool(name)
        with cluster.open_ioctx(name) as ioctx:
            ioctx.application_enable("rbd")
            rbd.RBD().pool_init(ioctx, False)
        yield name
    finally:
        if cluster.pool_exists(name):
            cluster.delete_pool(name)
        cluster.shutdown()


class PrivateRgw:
    """A radosgw of one test's own on the test cluster, on a port of its own: the test
    may stop it mid-request without touching the RGW the other tests share."""

    def __init__(self, directory: Path) -> None:
        self.conf = require(("CEPH_CONF",))["CEPH_CONF"]
        self.directory = directory
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        # the shared gateway's identity and settings, its own port, socket and log
        command = [
            "radosgw", "-f", "-c", self.conf, "-n", "client.rgw.gw",
            f"--rgw_frontends=beast endpoint=127.0.0.1:{self.port}",
            f"--admin_socket={self.directory / 'rgw.asok'}",
            f"--pid_file={self.directory / 'rgw.pid'}",
            f"--log_file={self.directory / 'rgw.log'}",
        ]  # fmt: skip
        out_path = self.directory / "rgw.out"
        with out_path.open("ab") as out:
            self.process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        wait_until_answers(self.process, self.endpoint, 60, out_path.read_text)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()  # (a killed one's watches would hold up others)
            self.process.wait()
            self.process = None


@contextlib.contextmanager
def private_rgw(directory: Path) -> Iterator[PrivateRgw]:
    rgw = PrivateRgw(directory)
    rgw.start()
    try:
        yield rgw
    finally:
        rgw.stop()
