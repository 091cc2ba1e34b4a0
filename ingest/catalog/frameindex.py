"""Index rows of a frame document, for queries (``querysql.py``): written with the frame.

Four tables, keyed by the frame's row (``frames.row_id``: one immutable revision, so its
rows are written once, in the same transaction, and every version holding it shares them). A
*unit* is one SingleFrame, numbered: a FrameGroup's frames 0, 1, ... in the document's order,
a lone SingleFrame 0. A group's own annotations belong to each of its units; a group's own
metadata is written once, under the unit ``GROUP`` (-1), and a query matches it for each of
the group's units (a group matches when one of its SingleFrames does, with what the group
says about all of them).

- ``frame_units (frame_row, unit, name, uri, width, height, content_type, context_id,
  timestamp)``: one row per SingleFrame (its name, ``""`` for a lone one; its source fields;
  the group's context and timestamp, else its own);
- ``frame_labels (frame_row, unit, roi, label, confidence)``: one row per label of each
  annotation (``roi`` numbers the annotations of the unit, the group's first; one without
  labels has label ``""``);
- ``frame_meta (frame_row, unit, key, seq, text)``: one row per non-numeric scalar metadata
  value (strings as is, ``true`` / ``false``), keyed by (key, text, ...): equality and text
  ranges read one index range;
- ``frame_nums (frame_row, unit, key, seq, num, text)``: one row per numeric scalar (``text``
  as JSON writes it, for wildcards), keyed by (key, frame_row, ...): a query scans its key's
  rows. Keyed by value, as before migration 11, every number landed at a random place of its
  key's range: at 1M frames those inserts alone cost ~27 s of SQLite CPU (RESULTS.md); keyed
  by row they append at the end of each key's range.

Nested objects give dotted keys (``meta.a.b``), a list gives one row per scalar element
(``seq`` numbers a unit's scalars). Keys and strings over ``MAX_INDEXED`` characters are not
indexed (a B-tree entry has a size limit on PostgreSQL), so such values never match a query.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec
import orjson

from .bulk import Insert
from .db import Conn

MAX_INDEXED = 256
GROUP = -1  # the unit of a FrameGroup's own metadata rows

TABLES = ("frame_units", "frame_labels", "frame_meta", "frame_nums")

# each table is keyed by what queries look up, so it is its own index (one B-tree on SQLite);
# rows of a frames row are deleted by their whole key, worked out again from its document
CREATE = [
    """CREATE TABLE frame_units (
        frame_row BIGINT NOT NULL, unit INTEGER NOT NULL, name {text} NOT NULL, uri {text},
        width {real}, height {real}, content_type {text}, context_id {text}, timestamp {real},
        PRIMARY KEY (frame_row, unit)){without_rowid}""",
    """CREATE TABLE frame_labels (
        frame_row BIGINT NOT NULL, unit INTEGER NOT NULL, roi INTEGER NOT NULL,
        label {text} NOT NULL, confidence {real},
        PRIMARY KEY (label, frame_row, unit, roi)){without_rowid}""",
    """CREATE TABLE frame_meta (
        frame_row BIGINT NOT NULL, unit INTEGER NOT NULL, key {text} NOT NULL,
        seq INTEGER NOT NULL, text {text} NOT NULL,
        PRIMARY KEY (key, text, frame_row, unit, seq)){without_rowid}""",
    """CREATE TABLE frame_nums (
        frame_row BIGINT NOT NULL, unit INTEGER NOT NULL, key {text} NOT NULL,
        seq INTEGER NOT NULL, num {real} NOT NULL, text {text} NOT NULL,
        PRIMARY KEY (key, frame_row, unit, seq)){without_rowid}""",
]
#: migration 11: the tables of migration 7 (units named in every row, numbers keyed by value,
#: group metadata once per SingleFrame) rebuilt in this shape from the stored documents
REBUILD = [*(f"DROP TABLE IF EXISTS {table}" for table in TABLES), *CREATE]

INSERTS = {
    "frame_units": Insert(
        "frame_units",
        "frame_row bigint, unit int, name text, uri text, width float8, height float8, "
        "content_type text, context_id text, timestamp float8",
    ),
    "frame_labels": Insert(
        "frame_labels", "frame_row bigint, unit int, roi int, label text, confidence float8"
    ),
    "frame_meta": Insert("frame_meta", "frame_row bigint, unit int, key text, seq int, text text"),
    "frame_nums": Insert(
        "frame_nums", "frame_row bigint, unit int, key text, seq int, num float8, text text"
    ),
}

#: each table's key (its primary key's columns, as ``CREATE`` says), and where they are in a row
_KEYS = {
    table: (columns, tuple(INSERTS[table].names.index(c) for c in columns))
    for table, columns in {
        "frame_units": ("frame_row", "unit"),
        "frame_labels": ("label", "frame_row", "unit", "roi"),
        "frame_meta": ("key", "text", "frame_row", "unit", "seq"),
        "frame_nums": ("key", "frame_row", "unit", "seq"),
    }.items()
}


def _pg_delete() -> str:
    """The rows of every table by their keys in one statement (one round trip on PostgreSQL):
    each delete a data-modifying CTE but the last, the keys from one array per column."""
    parts, first = [], 1
    for table in TABLES:
        columns = _KEYS[table][0]
        types = dict(zip(INSERTS[table].names, INSERTS[table].types, strict=True))
        arrays = ", ".join(f"${first + i}::{types[c]}[]" for i, c in enumerate(columns))
        match = " AND ".join(f"{table}.{c} = k.{c}" for c in columns)
        parts.append(
            f"DELETE FROM {table} USING unnest({arrays}) AS k ({', '.join(columns)}) WHERE {match}"
        )
        first += len(columns)
    ctes = ", ".join(f"d{i} AS ({sql})" for i, sql in enumerate(parts[:-1]))
    return f"WITH {ctes} {parts[-1]}"


_PG_DELETE = _pg_delete()
_CHUNK = 500  # row ids per IN (...) list


def _number(value: Any) -> float | None:
    kind = type(value)
    return float(value) if kind is int or kind is float else None  # not bool


def _text(scalar: Any) -> str:
    """A number or boolean as JSON writes it (``str`` is the same for an int, and cheaper)."""
    return str(scalar) if type(scalar) is int else orjson.dumps(scalar).decode()


def _scalars(prefix: str, value: dict[str, Any], out: list[tuple[str, str, float | None]]) -> None:
    """Append (key, text, number or None) of every scalar under ``value``; nested keys joined
    with dots, each scalar element of a list under its list's key."""
    for key, inner in value.items():
        name = f"{prefix}.{key}" if prefix else key
        kind = type(inner)
        if kind is dict:
            _scalars(name, inner, out)
        elif len(name) > MAX_INDEXED:
            continue
        elif kind is str:  # the common cases first: one scalar
            if len(inner) <= MAX_INDEXED:
                out.append((name, inner, None))
        elif kind is int or kind is float:
            out.append((name, _text(inner), float(inner)))
        else:
            for scalar in inner if kind is list else (inner,):
                if type(scalar) is str:
                    if len(scalar) <= MAX_INDEXED:
                        out.append((name, scalar, None))
                elif scalar is not None and type(scalar) not in (dict, list):
                    out.append((name, _text(scalar), _number(scalar)))


# What the index reads of a document, and nothing more: msgspec decodes the document's bytes
# straight into these, skipping every other field (an annotation's coordinates, its metadata,
# ids, masks, previews) without building it. Documents are the catalog's own schema form
# (validated on the way in), so the containers have these types; scalars are kept as they are
# (``Any``) and checked as the index uses them, as before.
class _Annotation(msgspec.Struct, gc=False):
    labels: list[str] | None = None
    confidence: Any = None


class _Frame(msgspec.Struct, gc=False):
    source: Any = None
    width: Any = None
    height: Any = None
    content_type: Any = None
    context_id: Any = None
    timestamp: Any = None
    metadata: dict[str, Any] | None = None
    annotations: list[_Annotation] | None = None


class _Document(_Frame, gc=False):
    frames: dict[str, _Frame] | None = None  # a FrameGroup's; none for a lone SingleFrame


_decode = msgspec.json.Decoder(_Document).decode

_Rois = list[tuple[list[str], float | None]]


class IndexRows:
    """The rows of the four tables for a batch of (row id, document) pairs. Rows are lists:
    ``build`` makes a document's rows without their frames row (the work, done before the
    write transaction: off the database thread), ``take`` gives them theirs."""

    def __init__(self) -> None:
        self.units: list[list[Any]] = []
        self.labels: list[list[Any]] = []
        self.meta: list[list[Any]] = []
        self.nums: list[list[Any]] = []

    def tables(self) -> list[tuple[str, list[list[Any]]]]:
        """(table, rows) of each table, in ``TABLES`` order."""
        return list(zip(TABLES, (self.units, self.labels, self.meta, self.nums), strict=True))

    def add(self, row: int, document: bytes | str) -> None:
        self.take(row, IndexRows.build(document))

    def take(self, row: int, built: IndexRows) -> None:
        """Add the rows of ``build`` (once) as frames row ``row``'s."""
        for _, rows in built.tables():
            for values in rows:
                values[0] = row
        self.units += built.units
        self.labels += built.labels
        self.meta += built.meta
        self.nums += built.nums

    @staticmethod
    def build(document: bytes | str) -> IndexRows:
        """A document's rows, their frames row left to ``take``."""
        out, doc = IndexRows(), _decode(document)
        if doc.frames is None:
            out._unit(0, "", doc, doc, _rois(doc))
            out._meta(0, doc.metadata)
            return out
        rois = _rois(doc)  # what the group says counts for each of its frames
        if doc.frames:  # (a group without frames has no unit to match)
            out._meta(GROUP, doc.metadata)
        for unit, (name, frame) in enumerate(doc.frames.items()):
            out._unit(unit, name, frame, doc, rois + _rois(frame))
            out._meta(unit, frame.metadata)
        return out

    def _unit(self, unit: int, name: str, frame: _Frame, group: _Document, rois: _Rois) -> None:
        stamp = group.timestamp
        self.units.append(
            [None, unit, name, frame.source, _number(frame.width), _number(frame.height),
             frame.content_type, group.context_id or frame.context_id,
             _number(frame.timestamp if stamp is None else stamp)]
        )  # fmt: skip
        self.labels += [
            [None, unit, roi, label, confidence]
            for roi, (labels, confidence) in enumerate(rois)
            for label in labels
        ]

    def _meta(self, unit: int, metadata: dict[str, Any] | None) -> None:
        if not metadata:
            return
        scalars: list[tuple[str, str, float | None]] = []
        _scalars("", metadata, scalars)
        for seq, (key, text, num) in enumerate(scalars):
            if num is None:
                self.meta.append([None, unit, key, seq, text])
            else:
                self.nums.append([None, unit, key, seq, num, text])

    async def write(self, conn: Conn) -> None:
        for table, rows in self.tables():
            if rows:  # row ids are new and increasing: these append at the end of the keys
                await conn.executemany(INSERTS[table].values(), rows)


def _rois(part: _Frame) -> _Rois:
    """(labels, confidence) of each annotation of a group or frame; a label twice in one ROI
    counts once, an ROI without (indexable) labels has the label ``""``."""
    out = []
    for annotation in part.annotations or ():
        labels = annotation.labels
        if not labels or len(labels) > 1 or len(labels[0]) > MAX_INDEXED:  # else: as it is
            labels = list(dict.fromkeys(x for x in labels or () if len(x) <= MAX_INDEXED)) or [""]
        confidence = annotation.confidence
        kind = type(confidence)
        out.append((labels, float(confidence) if kind is float or kind is int else None))
    return out


async def index_documents(conn: Conn, docs: Sequence[tuple[int, bytes | str]]) -> IndexRows:
    """Write the index rows of new (frames row id, document) pairs; returns them."""
    rows = IndexRows()
    for row, document in docs:
        rows.add(row, document)
    await rows.write(conn)
    return rows


async def documents_of(conn: Conn, row_ids: Sequence[int], condition: str = "") -> IndexRows:
    """The index rows of stored frames rows (``condition``: more SQL on ``frames``)."""
    ids = sorted(set(row_ids))
    rows = IndexRows()
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        for row, document in await conn.fetchall(
            f"SELECT row_id, document FROM frames WHERE row_id IN ({', '.join('?' * len(chunk))})"
            f"{condition}",
            chunk,
        ):
            rows.add(int(row), document)
    return rows


async def drop_orphan_rows(conn: Conn, row_ids: Sequence[int]) -> None:
    """Remove the index rows of these frames rows when no version points at them any more
    (before the frames rows go: their documents say which rows they have)."""
    rows = await documents_of(
        conn,
        row_ids,
        " AND NOT EXISTS (SELECT 1 FROM version_frames WHERE frame_row = frames.row_id)",
    )
    keys = {table: [tuple(r[i] for i in _KEYS[table][1]) for r in values]
            for table, values in rows.tables()}  # fmt: skip
    if conn.dialect == "postgresql":
        if any(keys.values()):
            args = [list(c) for t in TABLES for c in _columns(keys[t], len(_KEYS[t][0]))]
            await conn.execute(_PG_DELETE, args)
        return
    for table in TABLES:
        if keys[table]:
            match = " AND ".join(f"{c} = ?" for c in _KEYS[table][0])
            await conn.executemany(f"DELETE FROM {table} WHERE {match}", keys[table])


def _columns(rows: list[tuple[Any, ...]], width: int) -> list[tuple[Any, ...]]:
    """``rows`` as columns (``width`` empty ones for no rows)."""
    return list(zip(*rows, strict=True)) if rows else [()] * width


async def prune(conn: Conn) -> None:
    """Remove every index row of a frames row no version points at (a dataset deleted)."""
    for table in TABLES:
        await conn.execute(
            f"DELETE FROM {table} WHERE NOT EXISTS "
            f"(SELECT 1 FROM version_frames vf WHERE vf.frame_row = {table}.frame_row)"
        )


async def backfill(conn: Conn, page_size: int = 2000) -> None:
    """Index every stored frame (the migrations that create the tables, on an existing
    catalog)."""
    last = 0
    while True:
        rows = await conn.fetchall(
            "SELECT row_id, document FROM frames WHERE row_id > ? ORDER BY row_id LIMIT ?",
            (last, page_size),
        )
        if not rows:
            return
        await index_documents(conn, [(int(row), document) for row, document in rows])
        last = int(rows[-1][0])
