"""Filtered, keyset-paginated reads of a version's frames (for the web app and tools).

Filters run in SQL on both dialects: SQLite walks the stored JSON with ``json_each``;
PostgreSQL casts the document to ``jsonb`` and uses its operators. Every user value is a bound
parameter (never spliced into SQL or into a JSON path).

Filter semantics (the same on SQLite and PostgreSQL):

- ``context_id``: the frame's sort context (a group's ``context_id``, else its first frame's);
  ``""`` selects frames without a context.
- ``label``: the item has an annotation (ROI or frame label) with that label: for a FrameGroup,
  a group annotation or an annotation of any of its SingleFrames.
- ``meta``: ``{KEY: VALUE}``; every pair must match. A pair matches when the item's metadata
  (for a group: the group's, or any of its SingleFrames') has ``KEY`` with a scalar value whose
  text is ``VALUE``: a string equal to it, a number written that way (``12``, ``0.5``) or a
  boolean ``true`` / ``false``. Objects, arrays and null never match.

Order: (context_id, timestamp, id), as ``SqlCatalog.iter_frames``. A page's ``next_cursor`` is an
opaque URL-safe string encoding the ``FrameCursor`` of its last item (None on the last page).
"""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Mapping
from typing import Any

import orjson

from ..errors import ValidationError
from ..query import FrameFilter
from .base import FrameCursor, StoredFrame
from .queries import SqlQueries
from .querysql import filters_sql
from .sqlframes import frame_not_found

MAX_LIMIT = 500
_CURSOR_TAG = "c1"

# ---------------------------------------------------------------- cursors


def encode_cursor(cursor: FrameCursor) -> str:
    """An opaque, URL-safe form of a ``FrameCursor``."""
    raw = orjson.dumps([_CURSOR_TAG, cursor.sort_ctx, cursor.sort_ts, cursor.frame_id])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(text: str) -> FrameCursor:
    """The ``FrameCursor`` of ``encode_cursor``; ``ValidationError`` for anything else."""
    try:
        if len(text) > 4096:
            raise ValueError("too long")
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        tag, ctx, ts, fid = orjson.loads(raw)
    except (ValueError, TypeError, binascii.Error, orjson.JSONDecodeError) as exc:
        raise ValidationError("cursor", "is not a cursor returned by this API") from exc
    if (
        tag != _CURSOR_TAG
        or not isinstance(ctx, str)
        or isinstance(ts, bool)
        or not isinstance(ts, int | float)
        or not math.isfinite(ts)
        or not isinstance(fid, str)
    ):
        raise ValidationError("cursor", "is not a cursor returned by this API")
    return FrameCursor(ctx, float(ts), fid)


# ---------------------------------------------------------------- filters

# SQLite: the text of a scalar json_each row (strings as is, numbers as written, booleans)
_SQLITE_SCALAR_TEXT = (
    "CASE m.type WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' "
    "WHEN 'text' THEN m.atom WHEN 'integer' THEN CAST(m.atom AS TEXT) "
    "WHEN 'real' THEN CAST(m.atom AS TEXT) END"
)

_SQLITE_LABEL = (
    "(EXISTS (SELECT 1 FROM json_each(f.document, '$.annotations') a, "
    "json_each(a.value, '$.labels') l WHERE l.type = 'text' AND l.atom = ?) "
    "OR EXISTS (SELECT 1 FROM json_each(f.document, '$.frames') fr, "
    "json_each(fr.value, '$.annotations') a, json_each(a.value, '$.labels') l "
    "WHERE l.type = 'text' AND l.atom = ?))"
)

_SQLITE_META = (
    "(EXISTS (SELECT 1 FROM json_each(f.document, '$.metadata') m "
    f"WHERE m.key = ? AND {_SQLITE_SCALAR_TEXT} = ?) "
    "OR EXISTS (SELECT 1 FROM json_each(f.document, '$.frames') fr, "
    "json_each(fr.value, '$.metadata') m "
    f"WHERE m.key = ? AND {_SQLITE_SCALAR_TEXT} = ?))"
)

_PG_HAS_LABEL = "@> jsonb_build_array(jsonb_build_object('labels', jsonb_build_array(?::text)))"
_PG_LABEL = (
    f"((f.document::jsonb -> 'annotations') {_PG_HAS_LABEL} "
    "OR EXISTS (SELECT 1 FROM jsonb_each(f.document::jsonb -> 'frames') fr "
    f"WHERE (fr.value -> 'annotations') {_PG_HAS_LABEL}))"
)

_PG_META_MATCH = (
    "m.key = ?::text AND jsonb_typeof(m.value) IN ('string', 'number', 'boolean') "
    "AND (m.value #>> '{}') = ?::text"
)
_PG_META = (
    "(EXISTS (SELECT 1 FROM jsonb_each(f.document::jsonb -> 'metadata') m "
    f"WHERE {_PG_META_MATCH}) "
    "OR EXISTS (SELECT 1 FROM jsonb_each(f.document::jsonb -> 'frames') fr, "
    f"jsonb_each(fr.value -> 'metadata') m WHERE {_PG_META_MATCH}))"
)


def _check_text(value: Any, field: str, max_len: int = 1024) -> str:
    if not isinstance(value, str):
        raise ValidationError(field, f"must be a string, got {type(value).__name__}")
    if len(value) > max_len:
        raise ValidationError(field, f"is longer than {max_len} characters")
    if "\x00" in value:
        raise ValidationError(field, "must not contain NUL characters")
    return value


def filter_sql(
    dialect: str,
    *,
    context_id: str | None = None,
    label: str | None = None,
    meta: Mapping[str, str] | None = None,
) -> tuple[list[str], list[Any]]:
    """WHERE conditions (over ``version_frames vf JOIN frames f``) and their arguments."""
    where: list[str] = []
    args: list[Any] = []
    if context_id is not None:
        where.append("vf.sort_ctx = ?")
        args.append(_check_text(context_id, "context_id"))
    if label is not None:
        label = _check_text(label, "label")
        if not label:
            raise ValidationError("label", "must not be empty")
        where.append(_SQLITE_LABEL if dialect == "sqlite" else _PG_LABEL)
        args += [label, label]
    for key, value in (meta or {}).items():
        key = _check_text(key, "meta key")
        if not key:
            raise ValidationError("meta", "keys must not be empty (meta.KEY=VALUE)")
        value = _check_text(value, f"meta.{key}")
        where.append(_SQLITE_META if dialect == "sqlite" else _PG_META)
        args += [key, value, key, value]
    return where, args


# ---------------------------------------------------------------- queries


class SqlSearch(SqlQueries):
    """Filtered pages and neighbours over a version (``SqlCatalog`` builds on it)."""

    async def filtered_page(
        self,
        version_id: str,
        *,
        limit: int = 50,
        cursor: str | None = None,
        context_id: str | None = None,
        label: str | None = None,
        meta: Mapping[str, str] | None = None,
        query: FrameFilter | None = None,
    ) -> tuple[list[StoredFrame], str | None]:
        """One page of the version's frames that match the filters, and the next page's cursor.

        ``query``: a parsed query (``ingest.query``), AND-ed with the other filters.

        ``cursor`` is a ``next_cursor`` of an earlier page (with the same filters); the version
        must exist (the caller checks, so an unknown version is not mistaken for an empty one).
        """
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
            raise ValidationError("limit", f"must be an integer in 1..{MAX_LIMIT}, got {limit!r}")
        where, args = filter_sql(self.db.dialect, context_id=context_id, label=label, meta=meta)
        if query is not None:
            condition, more_args = filters_sql(self.db.dialect, version_id, [query], ordered=True)
            where.append(f"({condition})")
            args += more_args
        after = decode_cursor(cursor) if cursor is not None else None
        page = await self.page(
            version_id, conditions=where, args=args, after=after, limit=limit + 1
        )
        more = len(page) > limit
        page = page[:limit]
        items = [stored for _, stored in page]
        next_cursor = encode_cursor(page[-1][0]) if more and page else None
        return items, next_cursor

    async def list_contexts(
        self, version_id: str, *, after: str | None = None, limit: int = 100
    ) -> list[tuple[str, int]]:
        """The version's contexts in order, after ``after``, with their frame counts."""
        limit = max(1, min(limit, 10_000))
        where = "version_id = ?" + (" AND sort_ctx > ?" if after is not None else "")
        args: list[Any] = [version_id] + ([after] if after is not None else [])
        rows = await self.db.fetchall(
            f"SELECT sort_ctx, COUNT(*) FROM version_frames WHERE {where} "
            "GROUP BY sort_ctx ORDER BY sort_ctx LIMIT ?",
            (*args, limit),
        )
        return [(str(ctx), int(count)) for ctx, count in rows]

    async def context_neighbours(
        self, version_id: str, context_id: str
    ) -> tuple[str | None, str | None]:
        """The contexts just before and just after ``context_id`` in the version."""
        prev_row = await self.db.fetchone(
            "SELECT MAX(sort_ctx) FROM version_frames WHERE version_id = ? AND sort_ctx < ?",
            (version_id, context_id),
        )
        next_row = await self.db.fetchone(
            "SELECT MIN(sort_ctx) FROM version_frames WHERE version_id = ? AND sort_ctx > ?",
            (version_id, context_id),
        )
        return (
            prev_row[0] if prev_row else None,
            next_row[0] if next_row else None,
        )

    async def frame_neighbours(
        self, version_id: str, frame_id: str
    ) -> tuple[str | None, str | None]:
        """The frames just before and just after ``frame_id`` in its context (timestamp order)."""
        row = await self.db.fetchone(
            "SELECT sort_ctx, sort_ts FROM version_frames WHERE version_id = ? AND frame_id = ?",
            (version_id, frame_id),
        )
        if row is None:
            raise frame_not_found(version_id, frame_id)
        ctx, ts = row
        prev_row = await self.db.fetchone(
            "SELECT frame_id FROM version_frames WHERE version_id = ? AND sort_ctx = ? "
            "AND (sort_ts, frame_id) < (?, ?) ORDER BY sort_ts DESC, frame_id DESC LIMIT 1",
            (version_id, ctx, ts, frame_id),
        )
        next_row = await self.db.fetchone(
            "SELECT frame_id FROM version_frames WHERE version_id = ? AND sort_ctx = ? "
            "AND (sort_ts, frame_id) > (?, ?) ORDER BY sort_ts, frame_id LIMIT 1",
            (version_id, ctx, ts, frame_id),
        )
        return (prev_row[0] if prev_row else None, next_row[0] if next_row else None)
