"""One commit's SQL (``write_frames``) in the fewest round trips each dialect allows.

A commit checks (the version is a Draft, which of its frames are members, fresh row ids), then
writes (frames rows, their index rows, membership, label counts, stored objects). On SQLite it
runs in the database thread (``Database.atomic``), where a statement costs no round trip:
a statement per table (``executemany``). On PostgreSQL every statement is a round trip, and a
commit was ~12 of them (BEGIN, the draft check, the member lookup, the row ids, six
``executemany``, COMMIT): ``check`` is one statement, and ``write`` one statement whose
data-modifying CTEs insert each table's rows from arrays (``unnest``), so a commit of new
frames is BEGIN, two statements, COMMIT. Same SQL semantics: the same upserts, foreign keys
checked at the statement's end, all of it in the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from ..errors import VersionNotFound
from .base import FrameRow, VersionRecord
from .bulk import Insert
from .db import Conn
from .frameindex import INSERTS, IndexRows
from .labelcounts import UPSERT, shard

CHUNK = 500  # ids per IN (...) list; well under SQLite's and asyncpg's parameter limits

VERSION_COLS = "id, dataset_id, name, state, metadata, parents, created_at, published_at, comment"
#: (frame id, row id, rev) of a version's members
MEMBERS = (
    "SELECT vf.frame_id, vf.frame_row, f.rev FROM version_frames vf "
    "JOIN frames f ON f.row_id = vf.frame_row WHERE vf.version_id = ? AND vf.frame_id "
)
#: one revision of a frame document, under a row id from ``row_ids``
INSERT_FRAME = Insert(
    "frames",
    "row_id bigint, rev text, id text, kind text, context_id text, timestamp float8, "
    "document text, saved_at float8",
)
_UPSERT_MEMBER = Insert(
    "version_frames",
    "version_id text, frame_id text, frame_row bigint, sort_ctx text, sort_ts float8",
    " ON CONFLICT (version_id, frame_id) DO UPDATE SET frame_row = excluded.frame_row, "
    "sort_ctx = excluded.sort_ctx, sort_ts = excluded.sort_ts",
)
_UPSERT_OBJECT = Insert(
    "objects",
    "uri text, size bigint, stored_at float8",
    " ON CONFLICT (uri) DO UPDATE SET size = excluded.size",
)


def version_record(row: Sequence[Any]) -> VersionRecord:
    """A ``versions`` row (``VERSION_COLS``) as a record."""
    return VersionRecord(
        row[0], row[1], row[2], row[3], orjson.loads(row[4]), orjson.loads(row[5]), row[6], row[7],
        row[8],
    )  # fmt: skip


def frame_values(row_id: int, rev: str, row: FrameRow, now: float) -> tuple[Any, ...]:
    """The row of ``INSERT_FRAME`` for ``row``."""
    doc = row.document.decode()
    return (row_id, rev, row.id, row.kind, row.context_id, row.timestamp, doc, now)


def _version_not_found(version_id: str) -> VersionNotFound:
    return VersionNotFound(f"version id {version_id!r} does not exist")


async def draft(conn: Conn, version_id: str) -> VersionRecord:
    """The version, if it exists and is a Draft (else VersionNotFound / PublishedVersionError)."""
    row = await conn.fetchone(f"SELECT {VERSION_COLS} FROM versions WHERE id = ?", (version_id,))
    if row is None:
        raise _version_not_found(version_id)
    return version_record(row).require_draft()


async def members(conn: Conn, version_id: str, frame_ids: list[str]) -> dict[str, tuple[int, str]]:
    """{frame id: (row id, rev)} of those of ``frame_ids`` in the version."""
    found: dict[str, tuple[int, str]] = {}
    for start in range(0, len(frame_ids), CHUNK):
        chunk = frame_ids[start : start + CHUNK]
        marks = ", ".join("?" * len(chunk))
        for fid, row_id, rev in await conn.fetchall(f"{MEMBERS}IN ({marks})", (version_id, *chunk)):
            found[fid] = (int(row_id), rev)
    return found


async def row_ids(conn: Conn, count: int) -> Sequence[int]:
    """``count`` fresh ``frames.row_id`` values, taken inside the caller's write transaction.

    PostgreSQL: from the column's sequence. SQLite: ``sqlite_sequence`` holds the largest row id
    ever used (``AUTOINCREMENT``); inserting explicit ids above it advances it, and the caller's
    ``BEGIN IMMEDIATE`` transaction is the only writer until it commits.
    """
    if conn.dialect == "postgresql":
        return [int(r[0]) for r in await conn.fetchall(_PG_ROW_IDS, (count,))]
    row = await conn.fetchone("SELECT seq FROM sqlite_sequence WHERE name = 'frames'")
    start = int(row[0]) + 1 if row else 1
    return range(start, start + count)


_PG_ROW_IDS = (
    "SELECT nextval(pg_get_serial_sequence('frames', 'row_id')) FROM generate_series(1, ?::int)"
)
#: the version (no row: none), its members among $2 (a row each, else one row of NULLs) and
#: $3 fresh row ids
_PG_CHECK = (
    "WITH ids AS MATERIALIZED (SELECT array_agg(id) AS ids FROM "
    f"({_PG_ROW_IDS.replace('?', '$3')}) AS fresh (id)) "
    f"SELECT {', '.join('v.' + c.strip() for c in VERSION_COLS.split(','))}, "
    "m.frame_id, m.frame_row, m.rev, ids.ids FROM versions v CROSS JOIN ids "
    f"LEFT JOIN ({MEMBERS.replace('?', '$1')}= ANY($2::text[])) m ON true WHERE v.id = $1"
)


@dataclass
class Checked:
    existing: dict[str, tuple[int, str]]  # members: {frame id: (row id, rev)}
    row_ids: Sequence[int]  # at least as many fresh row ids as were asked for


async def check(conn: Conn, version_id: str, frame_ids: list[str], count: int) -> Checked:
    """The Draft version, which of ``frame_ids`` are its members, ``count`` fresh row ids."""
    if conn.dialect != "postgresql":
        await draft(conn, version_id)
        existing = await members(conn, version_id, frame_ids)
        return Checked(existing, await row_ids(conn, count))
    rows = await conn.fetchall(_PG_CHECK, (version_id, frame_ids, count))
    if not rows:
        raise _version_not_found(version_id)
    version_record(rows[0]).require_draft()
    existing = {r[9]: (int(r[10]), r[11]) for r in rows if r[9] is not None}
    return Checked(existing, [int(i) for i in rows[0][12] or ()])


@dataclass
class Rows:
    """What a commit writes, as parameter tuples of each table's insert."""

    frames: list[tuple[Any, ...]] = field(default_factory=list)  # ``frame_values``
    index: IndexRows = field(default_factory=IndexRows)
    members: list[tuple[Any, ...]] = field(default_factory=list)  # ``_UPSERT_MEMBER``
    counts: list[tuple[Any, ...]] = field(default_factory=list)  # (version, label, delta)
    objects: list[tuple[Any, ...]] = field(default_factory=list)  # (uri, size, stored_at)


def _tables(rows: Rows) -> list[tuple[Insert, Sequence[Sequence[Any]]]]:
    return [
        (INSERT_FRAME, rows.frames),
        *((INSERTS[table], values) for table, values in rows.index.tables()),
        (_UPSERT_MEMBER, rows.members),
        (UPSERT, rows.counts),
        (_UPSERT_OBJECT, rows.objects),
    ]


def _exprs(insert: Insert, dialect: str) -> dict[str, str]:
    """SQL values of columns rows do not hold: the shard of a label count delta."""
    return {"shard": shard(dialect)} if insert is UPSERT else {}


def _pg_write() -> str:
    """Every table's rows in one statement: each insert a data-modifying CTE but the last
    (an empty array inserts nothing)."""
    parts, first = [], 1
    for insert, _ in _tables(Rows()):
        exprs = _exprs(insert, "postgresql")
        parts.append(insert.arrays(first, **exprs))
        first += len(insert.names) - len(exprs)
    ctes = ", ".join(f"t{i} AS ({sql})" for i, sql in enumerate(parts[:-1]))
    return f"WITH {ctes} {parts[-1]}"


_PG_WRITE = _pg_write()


async def write(conn: Conn, rows: Rows) -> None:
    """Insert ``rows`` in the caller's transaction."""
    if not any(values for _, values in _tables(rows)):
        return  # every frame unchanged (a re-run)
    if conn.dialect == "postgresql":
        args: list[Any] = []
        for insert, values in _tables(rows):
            width = len(insert.names) - len(_exprs(insert, conn.dialect))
            args += [list(c) for c in zip(*values, strict=True)] if values else [[]] * width
        await conn.execute(_PG_WRITE, args)
        return
    for insert, values in _tables(rows):
        if values:
            await conn.executemany(insert.values(**_exprs(insert, conn.dialect)), values)
