"""Index rows of a frame document, for queries (``querysql.py``): written with the frame.

Three tables, keyed by the frame's row (``frames.row_id``: one immutable revision, so its
rows are written once, in the same transaction, and every version holding it shares them). A
*unit* is one SingleFrame: a FrameGroup's frame under its name, or a lone SingleFrame under
``""``. A group's own metadata and annotations belong to each of its units (a group matches
when one of its SingleFrames does, with what the group says about all of them).

- ``frame_units (frame_row, unit, uri, width, height, content_type, context_id, timestamp)``:
  one row per SingleFrame (its source fields; the group's context and timestamp, else its own);
- ``frame_labels (frame_row, unit, roi, label, confidence)``: one row per label of each
  annotation (``roi`` numbers the annotations of the unit; one without labels has label ``""``);
- ``frame_meta (frame_row, unit, key, seq, text, num)``: one row per scalar metadata value; nested
  objects give dotted keys (``meta.a.b``), a list gives one row per scalar element. ``text`` is
  the value's text (strings as is, numbers as JSON writes them, ``true`` / ``false``), ``num``
  the number. Keys and strings over ``MAX_INDEXED`` characters are not indexed (a B-tree entry
  has a size limit on PostgreSQL), so such values never match a query.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec
import orjson

from .bulk import Insert
from .db import Conn

MAX_INDEXED = 256

TABLES = ("frame_units", "frame_labels", "frame_meta")

SCHEMA = [
    """CREATE TABLE frame_units (
        frame_row BIGINT NOT NULL, unit {text} NOT NULL, uri {text}, width {real}, height {real},
        content_type {text}, context_id {text}, timestamp {real},
        PRIMARY KEY (frame_row, unit)){without_rowid}""",
    # keyed by what queries look up, so the table is its own index (one B-tree on SQLite);
    # rows of a frames row are deleted by their whole key, worked out again from its document
    """CREATE TABLE frame_labels (
        frame_row BIGINT NOT NULL, unit {text} NOT NULL, roi INTEGER NOT NULL,
        label {text} NOT NULL, confidence {real},
        PRIMARY KEY (label, frame_row, unit, roi)){without_rowid}""",
    """CREATE TABLE frame_meta (
        frame_row BIGINT NOT NULL, unit {text} NOT NULL, key {text} NOT NULL, seq INTEGER NOT NULL,
        text {text} NOT NULL, num {real},
        PRIMARY KEY (key, text, frame_row, unit, seq)){without_rowid}""",
    # a query's matches are checked against the version through this index: with the version
    # in it, the check needs no table read (it still serves the orphan checks)
    "DROP INDEX version_frames_row",
    "CREATE INDEX version_frames_row ON version_frames (frame_row, version_id)",
]

INSERTS = {
    "frame_units": Insert(
        "frame_units",
        "frame_row bigint, unit text, uri text, width float8, height float8, "
        "content_type text, context_id text, timestamp float8",
    ),
    "frame_labels": Insert(
        "frame_labels", "frame_row bigint, unit text, roi int, label text, confidence float8"
    ),
    "frame_meta": Insert(
        "frame_meta", "frame_row bigint, unit text, key text, seq int, text text, num float8"
    ),
}


_DELETES = {
    "frame_units": "DELETE FROM frame_units WHERE frame_row = ? AND unit = ?",
    "frame_labels": "DELETE FROM frame_labels "
    "WHERE label = ? AND frame_row = ? AND unit = ? AND roi = ?",
    "frame_meta": "DELETE FROM frame_meta "
    "WHERE key = ? AND text = ? AND frame_row = ? AND unit = ? AND seq = ?",
}
_CHUNK = 500  # row ids per IN (...) list


def _number(value: Any) -> float | None:
    kind = type(value)
    return float(value) if kind is int or kind is float else None  # not bool


def _text(scalar: Any) -> str:
    """A number or boolean as JSON writes it (``str`` is the same for an int, and cheaper)."""
    return str(scalar) if type(scalar) is int else orjson.dumps(scalar).decode()


def _scalars(prefix: str, value: dict[str, Any], out: list[tuple[str, str | None, Any]]) -> None:
    """Append (key, text, number) of every scalar under ``value``; nested keys joined with
    dots, each scalar element of a list under its list's key."""
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
_Meta = list[tuple[str, str | None, Any]]


class IndexRows:
    """The rows of the three tables for a batch of (row id, document) pairs."""

    def __init__(self) -> None:
        self.units: list[tuple[Any, ...]] = []
        self.labels: list[tuple[Any, ...]] = []
        self.meta: list[tuple[Any, ...]] = []

    def add(self, row: int, document: bytes | str) -> None:
        doc = _decode(document)
        if doc.frames is None:
            self._unit(row, "", doc, doc, _rois(doc), _meta(doc.metadata, []))
            return
        # what the group says counts for each of its frames: worked out once
        rois = _rois(doc)
        meta = _meta(doc.metadata, [])
        for name, frame in doc.frames.items():
            self._unit(row, name, frame, doc, rois + _rois(frame), _meta(frame.metadata, meta))

    def _unit(
        self, row: int, unit: str, frame: _Frame, group: _Document, rois: _Rois, meta: _Meta
    ) -> None:
        stamp = group.timestamp
        self.units.append(
            (row, unit, frame.source, _number(frame.width), _number(frame.height),
             frame.content_type, group.context_id or frame.context_id,
             _number(frame.timestamp if stamp is None else stamp))
        )  # fmt: skip
        self.labels += [
            (row, unit, roi, label, confidence)
            for roi, (labels, confidence) in enumerate(rois)
            for label in labels
        ]
        self.meta += [(row, unit, key, seq, text, num) for seq, (key, text, num) in enumerate(meta)]

    async def write(self, conn: Conn) -> None:
        tables = zip(TABLES, (self.units, self.labels, self.meta), strict=True)
        for table, rows in tables:
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


def _meta(metadata: dict[str, Any] | None, first: _Meta) -> _Meta:
    """``first`` (a copy), then the scalars of ``metadata``."""
    out = list(first)
    if metadata:
        _scalars("", metadata, out)
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
    keys: tuple[list[tuple[Any, ...]], ...] = (
        [(r[0], r[1]) for r in rows.units],
        [(r[3], r[0], r[1], r[2]) for r in rows.labels],
        [(r[2], r[4], r[0], r[1], r[3]) for r in rows.meta],
    )
    for table, by_key in zip(TABLES, keys, strict=True):
        if by_key:
            await conn.executemany(_DELETES[table], by_key)


async def prune(conn: Conn) -> None:
    """Remove every index row of a frames row no version points at (a dataset deleted)."""
    for table in TABLES:
        await conn.execute(
            f"DELETE FROM {table} WHERE NOT EXISTS "
            f"(SELECT 1 FROM version_frames vf WHERE vf.frame_row = {table}.frame_row)"
        )


async def backfill(conn: Conn, page_size: int = 2000) -> None:
    """Index every stored frame (the migration that adds the tables, on an existing catalog)."""
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
