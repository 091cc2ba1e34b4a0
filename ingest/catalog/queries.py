"""Reads of the frames a query selects (DataView, ``ingest query``, REST ``q=``): counts,
keyset pages in (context_id, timestamp, id) order, ids for random draws, frames by id."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..query import FrameFilter
from . import labelcounts
from .base import FrameCursor, StoredFrame
from .querysql import Sql, filters_sql, materialises, rows_sql
from .sqlframes import _CHUNK, SqlFrames

#: the windows a compound query's page tries, in frames per frame of the page
WINDOWS = (4, 64)


def _after(cursor: FrameCursor | None, op: str = ">", alias: str = "") -> Sql:
    """`` AND`` the sort key of version_frames ``alias`` past (or up to) ``cursor`` (none:
    nothing)."""
    if cursor is None:
        return "", []
    key = f"({alias}sort_ctx, {alias}sort_ts, {alias}frame_id)"
    return f" AND {key} {op} (?, ?, ?)", [cursor.sort_ctx, cursor.sort_ts, cursor.frame_id]


def _window(version_id: str, after: FrameCursor | None, last: FrameCursor | None) -> Sql:
    """A term bound (``{col}``: its row column): the version's frames in ``(after, last]``."""
    low, high = _after(after), _after(last, "<=")
    sql = "{col} IN (SELECT frame_row FROM version_frames WHERE version_id = ?"
    return f"{sql}{low[0]}{high[0]})", [version_id, *low[1], *high[1]]


class SqlQueries(SqlFrames):
    """Query reads over one version; ``SqlCatalog`` is the class to use."""

    async def query_count(self, version_id: str, filters: Sequence[FrameFilter]) -> int:
        """How many frames of the version any of ``filters`` selects (a plain label query:
        one row of ``version_labels``)."""
        label = labelcounts.plain_label(filters)
        if label is not None:
            return await labelcounts.count(self.db, version_id, label)
        condition, args = filters_sql(self.db.dialect, version_id, filters)
        row = await self.db.fetchone(
            f"SELECT COUNT(*) FROM version_frames vf WHERE vf.version_id = ? AND ({condition})",
            (version_id, *args),
        )
        return int(row[0]) if row else 0

    async def query_page(
        self,
        version_id: str,
        filters: Sequence[FrameFilter],
        *,
        after: FrameCursor | None = None,
        limit: int = 1000,
    ) -> list[tuple[FrameCursor, StoredFrame]]:
        """The next ``limit`` selected frames after ``after``, in (context_id, timestamp) order.

        A query of one term walks the order index with an index probe per frame. A compound
        one (AND, NOT, several rules) first tries windows of the next ``WINDOWS`` x ``limit``
        frames in order, each term reading only the frames of the window (a common match
        comes at once, without the whole set of matches built first), then, for a selective
        query, the set of all its matches after the last window."""
        dialect = self.db.dialect
        out: list[tuple[FrameCursor, StoredFrame]] = []
        windows = WINDOWS if materialises(dialect, version_id, filters) else ()
        for factor in windows:
            last = await self._nth(version_id, after, limit * factor)
            bound = _window(version_id, after, last)
            condition, args = filters_sql(dialect, version_id, filters, ordered=True, bound=bound)
            upper = _after(last, "<=", "vf.")  # the walk in order stops at the window's end
            out += await self.page(
                version_id, conditions=[f"({condition}){upper[0]}"],
                args=[*args, *upper[1]], after=after, limit=limit - len(out),
            )  # fmt: skip
            if len(out) == limit or last is None:
                return out
            after = last
        condition, args = filters_sql(dialect, version_id, filters, ordered=True)
        return out + await self.page(
            version_id, conditions=[f"({condition})"], args=args, after=after,
            limit=limit - len(out),
        )  # fmt: skip

    async def _nth(self, version_id: str, after: FrameCursor | None, n: int) -> FrameCursor | None:
        """The sort key of the ``n``-th frame of the version after ``after`` (None: fewer)."""
        where, args = _after(after)
        row = await self.db.fetchone(
            "SELECT sort_ctx, sort_ts, frame_id FROM version_frames WHERE version_id = ?"
            f"{where} ORDER BY sort_ctx, sort_ts, frame_id LIMIT 1 OFFSET ?",
            (version_id, *args, n - 1),
        )
        return None if row is None else FrameCursor(row[0], float(row[1]), row[2])

    async def query_rows(
        self,
        version_id: str,
        filters: Sequence[FrameFilter],
        *,
        after: int = 0,
        until: int | None = None,
        limit: int = 10_000,
    ) -> list[int]:
        """The next ``limit`` selected frames in ``after < row <= until`` as frames row ids,
        in row order: a walk over the matches only (the index range of a term), each checked
        in the version."""
        span = None if until is None else ("{col} > ? AND {col} <= ?", [after, until])
        units = rows_sql(self.db.dialect, version_id, filters, span)
        if units is None:
            sql = "SELECT frame_row FROM version_frames WHERE version_id = ? AND frame_row > ?"
            args: list[Any] = [version_id, after]
            if until is not None:
                sql, args = f"{sql} AND frame_row <= ?", [*args, until]
        else:
            # GROUP BY (not DISTINCT in a subquery): SQLite streams a term's index range in
            # row order, no sort; each term is bounded by ``span`` already
            sql = (
                f"SELECT s.frame_row FROM ({units[0]}) AS s WHERE s.frame_row > ? AND EXISTS "
                "(SELECT 1 FROM version_frames vf WHERE vf.frame_row = s.frame_row "
                "AND vf.version_id = ?) GROUP BY s.frame_row"
            )
            args = [*units[1], after, version_id]
        rows = await self.db.fetchall(f"{sql} ORDER BY frame_row LIMIT ?", (*args, limit))
        return [int(row[0]) for row in rows]

    async def row_span(self) -> tuple[int, int]:
        """The smallest and largest frames row id stored ((0, -1): none), where random order
        lays its blocks."""
        # two subqueries: SQLite reads a lone MIN or MAX off the key, both at once by a scan
        row = await self.db.fetchone(
            "SELECT (SELECT MIN(row_id) FROM frames), (SELECT MAX(row_id) FROM frames)"
        )
        return (int(row[0]), int(row[1])) if row and row[0] is not None else (0, -1)

    async def frames_by_row(self, row_ids: Sequence[int]) -> dict[int, StoredFrame]:
        """The frames stored under these row ids (``query_rows``), by row id."""
        found: dict[int, StoredFrame] = {}
        rows = sorted(set(row_ids))
        for start in range(0, len(rows), _CHUNK):
            chunk = rows[start : start + _CHUNK]
            marks = ", ".join("?" * len(chunk))
            for row, fid, kind, doc, saved in await self.db.fetchall(
                "SELECT row_id, id, kind, document, saved_at FROM frames "
                f"WHERE row_id IN ({marks})",
                chunk,
            ):
                found[int(row)] = StoredFrame(fid, kind, doc.encode(), saved)
        return found
