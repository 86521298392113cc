"""Listings at scale on PostgreSQL: seed N images by bulk SQL, time each listing shape.

    python -m bench.listing_scale --sizes 2000,100000,1000000 \\
        --url postgresql://postgres@127.0.0.1:5432/glimpse_listing_bench

For each size the database is emptied, migrated to head, filled with ``COPY`` (images
with properties, tags and members; a mix of owners, visibilities, statuses, deleted and
hidden rows like a public cloud's catalogue: mostly private snapshots, a few public
images), ANALYZEd, and then every listing shape runs ``--repeat`` times through the
repository's own list code (the SQL and the one round trip for the page's extras, not
HTTP): p50 and p99 in ms, and whether the plan reads ``images`` sequentially. Run it
under ``flock /tmp/glimpse-bench.lock``.
"""

from __future__ import annotations

import argparse
import io
import json
import random
import statistics
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
from sqlalchemy import text
from sqlalchemy.engine import make_url

from glimpse.db import migrate
from glimpse.db.engine import make_engine
from glimpse.images import listing
from glimpse.images.repository import IMAGE_COLUMNS, ImageRepository
from glimpse.model.context import Viewer
from glimpse.model.listing import ImageQuery, TimeFilter

TAGS = [f"tag-{i}" for i in range(50)]
DISTROS = ["ubuntu", "debian", "centos", "rhel", "windows", "fedora", "cirros"]
START = datetime(2023, 1, 1)
PAGE = 25


@dataclass(frozen=True)
class Catalogue:
    size: int
    projects: list[str]
    member_of_shared: str  # a project with accepted memberships
    name_of_one: str
    deep_marker: str  # an image ~90% down the admin default order


def _projects(size: int) -> list[str]:
    return [uuid.UUID(int=i + 1).hex for i in range(max(20, size // 1000))]


def _rows(size: int, projects: list[str], rng: random.Random) -> Iterator[dict[str, object]]:
    span = 3 * 365 * 86400
    for i in range(size):
        r = rng.random()
        vis = (
            "public"
            if r < 0.01
            else "community"
            if r < 0.02
            else "shared"
            if r < 0.10
            else "private"
        )
        s = rng.random()
        status = (
            "active"
            if s < 0.93
            else "queued"
            if s < 0.96
            else "deactivated"
            if s < 0.98
            else "killed"
        )
        created = START + timedelta(seconds=rng.randrange(span))
        yield {
            "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "name": None if rng.random() < 0.01 else f"{rng.choice(DISTROS)}-{i:08d}",
            "status": status,
            "visibility": vis,
            "owner": rng.choice(projects),
            "size": rng.randrange(1 << 20, 1 << 34),
            "disk_format": rng.choice(["qcow2", "raw", "vmdk"]),
            "container_format": "bare",
            "created_at": created,
            "deleted": rng.random() < 0.05,
            "os_hidden": rng.random() < 0.01,
        }


def _copy(
    cur: psycopg.Cursor[tuple[object, ...]], table: str, columns: str, lines: io.StringIO
) -> None:
    lines.seek(0)
    with cur.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        while chunk := lines.read(1 << 20):
            copy.write(chunk)
    lines.seek(0)
    lines.truncate()


def _field(value: object) -> str:
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    return str(value)


def seed(url: str, size: int, seed_value: int = 12) -> Catalogue:
    """Empty the database, migrate it and fill it with ``size`` images."""
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("DROP SCHEMA public CASCADE")
        conn.execute("CREATE SCHEMA public")
    migrate.upgrade(url)
    rng = random.Random(seed_value)
    projects = _projects(size)
    images, props, tags, members = io.StringIO(), io.StringIO(), io.StringIO(), io.StringIO()
    member_of_shared = projects[1]
    name_of_one = ""
    image_cols = (
        "id, name, status, visibility, owner, size, disk_format, container_format, "
        "created_at, updated_at, deleted, deleted_at, os_hidden, protected, min_disk, min_ram"
    )
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        for n, row in enumerate(_rows(size, projects, rng), start=1):
            created = row["created_at"]
            images.write(
                "\t".join(
                    _field(v)
                    for v in (
                        row["id"],
                        row["name"],
                        row["status"],
                        row["visibility"],
                        row["owner"],
                        row["size"],
                        row["disk_format"],
                        row["container_format"],
                        created,
                        created,
                        row["deleted"],
                        created if row["deleted"] else None,
                        row["os_hidden"],
                        False,
                        0,
                        0,
                    )
                )
                + "\n"
            )
            image_id = row["id"]
            props.write(f"{image_id}\tos_distro\t{rng.choice(DISTROS)}\n")
            props.write(f"{image_id}\thw_disk_bus\t{rng.choice(['virtio', 'scsi', 'ide'])}\n")
            props.write(f"{image_id}\tbuild\t{n % 100}\n")
            if rng.random() < 0.3:
                for tag in rng.sample(TAGS, rng.randint(1, 2)):
                    tags.write(
                        f"{image_id}\t{tag}\t{_field(created)}\t{row['visibility']}"
                        f"\t{_field(row['owner'])}\n"
                    )
            if row["visibility"] == "shared":
                others = rng.sample(projects, 2)
                if rng.random() < 0.02 and member_of_shared not in others:
                    others[0] = member_of_shared
                for member in others:
                    if member == row["owner"]:
                        continue
                    status = (
                        "accepted"
                        if rng.random() < 0.7 or member == member_of_shared
                        else "pending"
                    )
                    members.write(
                        f"{image_id}\t{member}\t{status}\t{_field(created)}\t{_field(created)}"
                        f"\t{_field(created)}\n"
                    )
            if n == size // 2:
                name_of_one = str(row["name"] or "")
            if n % 100_000 == 0 or n == size:
                _copy(cur, "images", image_cols, images)
                _copy(cur, "image_properties", "image_id, name, value", props)
                _copy(cur, "image_tags", "image_id, value, created_at, visibility, owner", tags)
                _copy(
                    cur,
                    "image_members",
                    "image_id, member, status, created_at, updated_at, image_created_at",
                    members,
                )
        conn.commit()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    return _catalogue(dsn, size, projects, member_of_shared, name_of_one)


def _catalogue(
    dsn: str, size: int, projects: list[str], member_of_shared: str, name_of_one: str
) -> Catalogue:
    with psycopg.connect(dsn, autocommit=True) as conn:
        deep = conn.execute(
            "SELECT id FROM images WHERE NOT deleted ORDER BY created_at DESC, id DESC "
            "OFFSET %s LIMIT 1",
            (int(size * 0.9 * 0.94),),
        ).fetchone()
    return Catalogue(size, projects, member_of_shared, name_of_one, deep[0] if deep else "")


def reuse(url: str, size: int) -> Catalogue | None:
    """The catalogue ``seed`` left, if the database holds exactly ``size`` images."""
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn, autocommit=True) as conn:
        try:
            found = conn.execute("SELECT count(*), max(name) FROM images").fetchone()
        except psycopg.errors.UndefinedTable:
            return None
    if found is None or found[0] != size:
        return None
    projects = _projects(size)
    return _catalogue(dsn, size, projects, projects[1], str(found[1]))


# ------------------------------------------------------------------- the shapes

ADMIN = Viewer(project=None, is_admin=True)


@dataclass(frozen=True)
class Shape:
    name: str
    viewer: Callable[[Catalogue], Viewer]
    query: Callable[[Catalogue], ImageQuery]


def _as_project(c: Catalogue) -> Viewer:
    return Viewer(project=c.projects[0], is_admin=False)


def _as_member(c: Catalogue) -> Viewer:
    return Viewer(project=c.member_of_shared, is_admin=False)


def _q(**kwargs: object) -> Callable[[Catalogue], ImageQuery]:
    def build(c: Catalogue) -> ImageQuery:
        query = ImageQuery(limit=PAGE)
        for key, value in kwargs.items():
            setattr(query, key, value(c) if callable(value) else value)
        return query

    return build


def _sorted(*keys: tuple[str, str]) -> list[tuple[str, str]]:
    sort = list(keys)
    for tie in ("created_at", "id"):
        if tie not in (k for k, _ in keys):
            sort.append((tie, keys[0][1] if len({d for _, d in keys}) == 1 else "desc"))
    return sort


SHAPES = [
    Shape("admin", lambda c: ADMIN, _q()),
    Shape("project", _as_project, _q()),
    Shape("project sort=name:asc", _as_project, _q(sort=_sorted(("name", "asc")))),
    Shape("admin sort=name:asc", lambda c: ADMIN, _q(sort=_sorted(("name", "asc")))),
    Shape("admin sort=size:desc", lambda c: ADMIN, _q(sort=_sorted(("size", "desc")))),
    Shape(
        "project sort=status:asc,name:desc",
        _as_project,
        _q(sort=_sorted(("status", "asc"), ("name", "desc"))),
    ),
    Shape(
        "project sort=name:asc,created_at:desc",
        _as_project,
        _q(sort=_sorted(("name", "asc"), ("created_at", "desc"))),
    ),
    Shape("project status=active", _as_project, _q(values={"status": ["active"]})),
    Shape("project visibility=public", _as_project, _q(visibility="public")),
    Shape("project name=<one>", _as_project, _q(values=lambda c: {"name": [c.name_of_one]})),
    Shape("project tag=tag-7", _as_project, _q(tags=["tag-7"])),
    Shape("project os_distro=debian", _as_project, _q(properties={"os_distro": "debian"})),
    Shape("project size_min/max", _as_project, _q(ranges={"size": (1 << 30, 1 << 31)})),
    Shape(
        "project created_at=gt:2025-06-01",
        _as_project,
        _q(times=[TimeFilter("created_at", "gt", datetime(2025, 6, 1))]),
    ),
    Shape("admin deep marker", lambda c: ADMIN, _q(marker=lambda c: c.deep_marker)),
    Shape("member visibility=shared", _as_member, _q(visibility="shared")),
    Shape("member member_status=all", _as_member, _q(member_status="all")),
    Shape("project visibility=community", _as_project, _q(visibility="community")),
    Shape("project visibility=all", _as_project, _q(visibility="all")),
]


def plan(url: str, shape: Shape, c: Catalogue) -> list[str]:
    """PostgreSQL's plan of one shape's page query."""
    query, viewer = shape.query(c), shape.viewer(c)
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            marker = ImageRepository(conn).get_marker(query.marker) if query.marker else None
            stmt = listing.statement(query, viewer, marker, IMAGE_COLUMNS)
            compiled = stmt.compile(conn, compile_kwargs={"literal_binds": True})
            return [str(line) for line in conn.execute(text(f"EXPLAIN {compiled}")).scalars()]
    finally:
        engine.dispose()


def time_shapes(url: str, c: Catalogue, repeat: int) -> dict[str, dict[str, object]]:
    engine = make_engine(url)
    results: dict[str, dict[str, object]] = {}
    try:
        for shape in SHAPES:
            query, viewer = shape.query(c), shape.viewer(c)
            times: list[float] = []
            count = 0
            for _ in range(repeat + 2):
                started = time.perf_counter()
                with engine.connect() as conn:
                    repo = ImageRepository(conn)
                    marker = repo.get_marker(query.marker) if query.marker else None
                    count = len(repo.list_images(query, viewer, marker))
                times.append((time.perf_counter() - started) * 1000)
            times = sorted(times[2:])  # the first two warm the pool and caches
            results[shape.name] = {
                "p50_ms": round(statistics.median(times), 2),
                "p99_ms": round(times[min(len(times) - 1, int(len(times) * 0.99))], 2),
                "rows": count,
                "seq_scan": any("Seq Scan on images" in line for line in plan(url, shape, c)),
            }
    finally:
        engine.dispose()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--url", default="postgresql://postgres@127.0.0.1:5432/glimpse_listing_bench"
    )
    parser.add_argument("--sizes", default="2000,100000,1000000")
    parser.add_argument(
        "--reuse", action="store_true", help="keep a database already seeded with that size"
    )
    parser.add_argument("--repeat", type=int, default=100)
    parser.add_argument("--out", type=Path, default=Path("bench/results/listing-scale.json"))
    args = parser.parse_args()
    _ensure_database(args.url)
    report: dict[str, dict[str, dict[str, object]]] = {}
    for size in (int(s) for s in args.sizes.split(",")):
        started = time.monotonic()
        catalogue = reuse(args.url, size) if args.reuse else None
        catalogue = catalogue or seed(args.url, size)
        print(f"seeded {size:,} images in {time.monotonic() - started:.0f} s", flush=True)
        report[str(size)] = time_shapes(args.url, catalogue, args.repeat)
    _print(report)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps({"at": datetime.now(UTC).isoformat(), "sizes": report}, indent=1)
    )


def _ensure_database(url: str) -> None:
    parsed = make_url(url)
    admin = parsed.set(drivername="postgresql", database="postgres")
    with psycopg.connect(admin.render_as_string(hide_password=False), autocommit=True) as conn:
        if (
            conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (parsed.database,)
            ).fetchone()
            is None
        ):
            conn.execute(f'CREATE DATABASE "{parsed.database}"')


def _print(report: dict[str, dict[str, dict[str, object]]]) -> None:
    sizes = list(report)
    header = "| shape | " + " | ".join(f"{int(s):,} p50 / p99 ms" for s in sizes)
    print(header + " | p99 ratio largest/smallest |")
    print("|---" * (len(sizes) + 2) + "|")
    for shape in SHAPES:
        cells = []
        for s in sizes:
            r = report[s][shape.name]
            seq = " seq" if r["seq_scan"] else ""
            cells.append(f"{r['p50_ms']} / {r['p99_ms']}{seq}")
        first, last = report[sizes[0]][shape.name], report[sizes[-1]][shape.name]
        ratio = float(str(last["p99_ms"])) / max(float(str(first["p99_ms"])), 0.01)
        print(f"| {shape.name} | " + " | ".join(cells) + f" | {ratio:.1f}x |")


if __name__ == "__main__":
    main()
