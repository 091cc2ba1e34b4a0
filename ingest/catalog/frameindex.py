"""Index rows of a frame document, for queries (``querysql.py``): written with the frame.

Three tables, keyed by the frame's row (``frames.row_id``: one immutable revision, so its
rows are written once, in the same transaction, and every version holding it shares them). A *unit* is one SingleFrame:
a FrameGroup's frame under its name, or a lone SingleFrame under ``""``. A group's own
metadata and annotations belong to each of its units (a group matches when one of its
SingleFrames does, with what the group says about all of them).

- ``frame_units (frame_row, unit, uri, width, height, content_type, context_id, timestamp)``: one row
  per SingleFrame (its source fields; the group's context and timestamp, else its own);
- ``frame_labels (frame_row, unit, roi, label, confidence)``: one row per label of each annotation
  (``roi`` numbers the annotations of the unit; an annotation without labels gets label ``""``);
- ``frame_meta (frame_row, unit, key, seq, text, num)``: one row per scalar metadata value; nested
  objects give dotted keys (``meta.a.b``), a list gives one row per scalar element. ``text`` is
  the value's text (strings as is, numbers as JSON writes them, ``true`` / ``false``), ``num``
  the number. Keys and texts over ``MAX_INDEXED`` characters are not indexed (a B-tree entry
  has a size limit on PostgreSQL), so such values never match a query.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import orjson

from .db import Conn

MAX_INDEXED = 256

TABLES = ("frame_units", "frame_labels", "frame_meta")

SCHEMA = [
    """CREATE TABLE frame_units (
        frame_row BIGINT NOT NULL, unit {text} NOT NULL, uri {text}, width {real}, height {real},
        content_type {text}, context_id {text}, timestamp {real},
        PRIMARY KEY (frame_row, unit)){without_rowid}""",
    """CREATE TABLE frame_labels (
        frame_row BIGINT NOT NULL, unit {text} NOT NULL, roi INTEGER NOT NULL, label {text} NOT NULL,
        confidence {real}, PRIMARY KEY (frame_row, unit, roi, label)){without_rowid}""",
    "CREATE INDEX frame_labels_label ON frame_labels (label, frame_row)",
    """CREATE TABLE frame_meta (
        frame_row BIGINT NOT NULL, unit {text} NOT NULL, key {text} NOT NULL, seq INTEGER NOT NULL,
        text {text}, num {real}, PRIMARY KEY (frame_row, unit, key, seq)){without_rowid}""",
    "CREATE INDEX frame_meta_text ON frame_meta (key, text, frame_row)",
    # a query's matches are checked against the version through this index: with the version
    # in it, the check needs no table read (it still serves the orphan checks)
    "DROP INDEX version_frames_row",
    "CREATE INDEX version_frames_row ON version_frames (frame_row, version_id)",
]

_INSERTS = {
    "frame_units": "INSERT INTO frame_units (frame_row, unit, uri, width, height, content_type, "
    "context_id, timestamp) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    "frame_labels": "INSERT INTO frame_labels (frame_row, unit, roi, label, confidence) "
    "VALUES (?, ?, ?, ?, ?)",
    "frame_meta": "INSERT INTO frame_meta (frame_row, unit, key, seq, text, num) "
    "VALUES (?, ?, ?, ?, ?, ?)",
}


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _scalars(prefix: str, value: Any) -> Iterator[tuple[str, str | None, float | None]]:
    """(key, text, number) of every scalar under ``value``; nested keys joined with dots."""
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from _scalars(f"{prefix}.{key}" if prefix else str(key), inner)
    elif isinstance(value, list):
        for inner in value:
            if not isinstance(inner, dict | list):
                yield from _scalars(prefix, inner)
    elif value is not None and len(prefix) <= MAX_INDEXED:
        if isinstance(value, str):
            yield prefix, value if len(value) <= MAX_INDEXED else None, None
        else:  # numbers and booleans as JSON writes them
            yield prefix, orjson.dumps(value).decode(), _number(value)


class IndexRows:
    """The rows of the three tables for a batch of (row id, document) pairs."""

    def __init__(self) -> None:
        self.rows: dict[str, list[tuple[Any, ...]]] = {table: [] for table in TABLES}

    def add(self, row: int, document: bytes | str) -> None:
        doc = orjson.loads(document)
        frames = doc.get("frames")
        if isinstance(frames, dict):
            for name, frame in frames.items():
                self._unit(row, str(name), frame, doc)
        else:
            self._unit(row, "", doc, {})

    def _unit(self, row: int, unit: str, frame: dict[str, Any], group: dict[str, Any]) -> None:
        context = group.get("context_id") or frame.get("context_id")
        stamp = group.get("timestamp")
        stamp = frame.get("timestamp") if stamp is None else stamp
        self.rows["frame_units"].append(
            (row, unit, frame.get("source"), _number(frame.get("width")),
             _number(frame.get("height")), frame.get("content_type"), context, _number(stamp))
        )  # fmt: skip
        annotations = [*(group.get("annotations") or ()), *(frame.get("annotations") or ())]
        for roi, annotation in enumerate(annotations):
            confidence = _number(annotation.get("confidence"))
            labels = [x for x in annotation.get("labels") or () if len(x) <= MAX_INDEXED]
            labels = list(dict.fromkeys(labels))  # a label twice in one ROI: one row
            for label in labels or [""]:
                self.rows["frame_labels"].append((row, unit, roi, label, confidence))
        metadata = [group.get("metadata") or {}, frame.get("metadata") or {}]
        seq = 0
        for part in metadata:
            for key, text, num in _scalars("", part):
                self.rows["frame_meta"].append((row, unit, key, seq, text, num))
                seq += 1

    async def write(self, conn: Conn) -> None:
        for table, rows in self.rows.items():
            if rows:  # row ids are new and increasing: these append at the end of the keys
                await conn.executemany(_INSERTS[table], rows)


async def index_documents(conn: Conn, docs: Sequence[tuple[int, bytes | str]]) -> None:
    """Write the index rows of new (frames row id, document) pairs."""
    rows = IndexRows()
    for row, document in docs:
        rows.add(row, document)
    await rows.write(conn)


async def drop_orphan_rows(conn: Conn, row_ids: Sequence[int]) -> None:
    """Remove the index rows of these frames rows when no version points at them any more."""
    for table in TABLES:
        await conn.executemany(
            f"DELETE FROM {table} WHERE frame_row = ? AND NOT EXISTS "
            "(SELECT 1 FROM version_frames WHERE frame_row = ?)",
            [(row, row) for row in set(row_ids)],
        )


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
