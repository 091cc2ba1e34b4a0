"""Reads of the frames a query selects (DataView, ``ingest query``, REST ``q=``): counts,
keyset pages in (context_id, timestamp, id) order, ids for random draws, frames by id."""

from __future__ import annotations

from collections.abc import Sequence

from ..query import FrameFilter
from .base import FrameCursor, StoredFrame
from .querysql import filters_sql
from .sqlframes import _CHUNK, SqlFrames


class SqlQueries(SqlFrames):
    """Query reads over one version; ``SqlCatalog`` is the class to use."""

    async def query_count(self, version_id: str, filters: Sequence[FrameFilter]) -> int:
        """How many frames of the version any of ``filters`` selects."""
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
        """The next ``limit`` selected frames after ``after``, in (context_id, timestamp) order."""
        condition, args = filters_sql(self.db.dialect, version_id, filters, ordered=True)
        return await self.page(
            version_id, conditions=[f"({condition})"], args=args, after=after, limit=limit
        )

    async def query_ids(
        self,
        version_id: str,
        filters: Sequence[FrameFilter],
        *,
        after: str | None = None,
        limit: int = 10_000,
    ) -> list[str]:
        """The next ``limit`` selected frame ids after ``after``, in id order (no documents)."""
        condition, args = filters_sql(self.db.dialect, version_id, filters, ordered=True)
        since = " AND vf.frame_id > ?" if after is not None else ""
        rows = await self.db.fetchall(
            f"SELECT vf.frame_id FROM version_frames vf WHERE vf.version_id = ?{since} "
            f"AND ({condition}) ORDER BY vf.frame_id LIMIT ?",
            (version_id, *([after] if after is not None else []), *args, limit),
        )
        return [row[0] for row in rows]

    async def frames_by_id(self, version_id: str, frame_ids: Sequence[str]) -> list[StoredFrame]:
        """These frames of the version (ids not in it are left out), in no particular order."""
        found: list[StoredFrame] = []
        ids = list(dict.fromkeys(frame_ids))
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start : start + _CHUNK]
            marks = ", ".join("?" * len(chunk))
            rows = await self.db.fetchall(
                "SELECT f.id, f.kind, f.document, f.saved_at FROM version_frames vf "
                "JOIN frames f ON f.row_id = vf.frame_row "
                f"WHERE vf.version_id = ? AND vf.frame_id IN ({marks})",
                (version_id, *chunk),
            )
            found += [StoredFrame(fid, kind, doc.encode(), saved) for fid, kind, doc, saved in rows]
        return found
