"""The frame half of the SQL catalog: membership rows, documents, counts, compare-and-set.

``SqlCatalog`` (``sql.py``) adds datasets and versions on top of this class. Each revision of
a frame is one immutable ``frames`` row with a sequence row id; membership points at it. A
frame's ``rev`` (``revision``, a hash of its document) is also its ETag in the web API:
``replace_frame_if`` and ``delete_frame_if`` read the row the frame points at, check its
``rev``, then change the membership in one conditional statement (``... WHERE frame_row = ?``,
row ids are never reused) inside a transaction, so concurrent editors get exactly one winner on
SQLite and on PostgreSQL.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import AsyncIterator, Sequence
from operator import itemgetter
from typing import Any

from ..errors import FrameNotFound
from . import commitrows, labelcounts
from .base import NO_TIMESTAMP, FrameCursor, FrameRow, StoredFrame, VersionRecord, WriteResult
from .commitrows import CHUNK as _CHUNK
from .commitrows import INSERT_FRAME, MEMBERS, draft, frame_values, members
from .commitrows import row_ids as _row_ids
from .db import Conn, Database
from .frameindex import IndexRows, drop_orphan_rows, index_documents


def revision(document: bytes) -> str:
    return hashlib.blake2b(document, digest_size=16).hexdigest()


def _sort_key(row: FrameRow) -> tuple[str, float]:
    """(sort_ctx, sort_ts) of ``row`` in ``version_frames``: the same on SQLite and PostgreSQL."""
    return row.context_id or "", NO_TIMESTAMP if row.timestamp is None else float(row.timestamp)


def frame_not_found(version_id: str, frame_id: str) -> FrameNotFound:
    return FrameNotFound(f"frame id {frame_id!r} is not in version id {version_id!r}")


def _missing(version_id: str, frame_ids: Sequence[str]) -> FrameNotFound:
    return FrameNotFound(
        f"frame id(s) {', '.join(map(repr, frame_ids[:10]))} not in version id {version_id!r}"
    )


class _RevisionChanged(Exception):
    """Internal: rolls back a compare-and-set whose expected revision is gone."""


class SqlFrames:
    """Frames of versions; ``SqlCatalog`` is the class to use."""

    db: Database

    async def _draft(self, conn: Conn, version_id: str) -> VersionRecord:
        return await draft(conn, version_id)

    async def count_frames(self, version_id: str) -> int:
        row = await self.db.fetchone(
            "SELECT COUNT(*) FROM version_frames WHERE version_id = ?", (version_id,)
        )
        return int(row[0]) if row else 0

    async def frame_counts(self, dataset_id: str) -> dict[str, int]:
        """Frames per version of a dataset, in one query: {version_id: count} (0 included)."""
        rows = await self.db.fetchall(
            "SELECT v.id, COUNT(vf.frame_id) FROM versions v "
            "LEFT JOIN version_frames vf ON vf.version_id = v.id "
            "WHERE v.dataset_id = ? GROUP BY v.id",
            (dataset_id,),
        )
        return {str(version_id): int(count) for version_id, count in rows}

    async def replace_frame_if(
        self, version_id: str, row: FrameRow, expected_rev: str
    ) -> str | None:
        """Replace one frame only if its revision is still ``expected_rev`` (compare-and-set).

        Returns the new revision, or None when the frame has another revision by now (nothing
        written). Raises FrameNotFound / PublishedVersionError like ``write_frames``.
        """
        rev = revision(row.document)
        try:
            async with self.db.transaction() as conn:
                await self._draft(conn, version_id)
                old_row = await self._current_row(conn, version_id, row.id, expected_rev)
                if rev == expected_rev:  # the same document: nothing to write
                    return rev
                (row_id,) = await _row_ids(conn, 1)
                await conn.execute(
                    INSERT_FRAME.values(), frame_values(row_id, rev, row, time.time())
                )
                added = await index_documents(conn, [(row_id, row.document)])
                changed = await conn.execute(
                    "UPDATE version_frames SET frame_row = ?, sort_ctx = ?, sort_ts = ? "
                    "WHERE version_id = ? AND frame_id = ? AND frame_row = ?",
                    (row_id, *_sort_key(row), version_id, row.id, old_row),
                )
                if not changed:  # edited by someone else since we read it
                    raise _RevisionChanged
                await self._moved(conn, version_id, [old_row], added)
        except _RevisionChanged:
            return None
        return rev

    async def delete_frame_if(self, version_id: str, frame_id: str, expected_rev: str) -> bool:
        """Remove one frame only if its revision is still ``expected_rev``; False if not."""
        try:
            async with self.db.transaction() as conn:
                await self._draft(conn, version_id)
                old_row = await self._current_row(conn, version_id, frame_id, expected_rev)
                deleted = await conn.execute(
                    "DELETE FROM version_frames "
                    "WHERE version_id = ? AND frame_id = ? AND frame_row = ?",
                    (version_id, frame_id, old_row),
                )
                if not deleted:
                    raise _RevisionChanged
                await self._moved(conn, version_id, [old_row])
        except _RevisionChanged:
            return False
        return True

    async def _current_row(
        self, conn: Conn, version_id: str, frame_id: str, expected_rev: str
    ) -> int:
        """The row id of the frame's revision if it is ``expected_rev``; else _RevisionChanged.

        The caller's change is then conditional on that row id (never reused): a concurrent
        edit between the two statements makes it change nothing.
        """
        found = await conn.fetchone(f"{MEMBERS}= ?", (version_id, frame_id))
        if found is None:
            raise frame_not_found(version_id, frame_id)
        _, row_id, rev = found
        if rev != expected_rev:
            raise _RevisionChanged
        return int(row_id)

    async def write_frames(
        self,
        version_id: str,
        rows: Sequence[FrameRow],
        *,
        must_exist: bool = False,
        objects: Sequence[tuple[str, int]] = (),
    ) -> WriteResult:
        """Insert or replace whole frames in one transaction (all of them or none).

        ``must_exist``: every frame id must already be in the version (``update_frames``).
        ``objects``: (uri, size) of the stored objects the rows reference, recorded alongside.
        """
        if not rows:
            return WriteResult()
        latest: dict[str, FrameRow] = {}
        for row in rows:  # the last write of an id in a batch wins
            latest[row.id] = row
        now = time.time()
        # the Python work of each row done here, not in the database thread the transaction
        # holds: its revision and index rows (at 1M by-reference frames, ~8 s of that thread)
        built = {
            fid: (row.rev or revision(row.document), IndexRows.build(row.document))
            for fid, row in latest.items()
        }

        async def write(conn: Conn) -> WriteResult:
            result = WriteResult()
            checked = await commitrows.check(conn, version_id, sorted(latest), len(latest))
            existing = checked.existing
            if must_exist:
                missing = [fid for fid in latest if fid not in existing]
                if missing:
                    raise _missing(version_id, missing)
            rows = commitrows.Rows()
            replaced: list[int] = []
            fresh = iter(checked.row_ids)
            for fid, row in latest.items():
                rev, index = built[fid]
                old = existing.get(fid)
                if old is None:
                    result.inserted += 1
                elif old[1] == rev:
                    result.unchanged += 1
                    continue
                else:
                    result.updated += 1
                    replaced.append(old[0])
                row_id = next(fresh)
                rows.frames.append(frame_values(row_id, rev, row, now))
                rows.index.take(row_id, index)
                rows.members.append((version_id, row.id, row_id, *_sort_key(row)))
            # new row ids append at the end of frames; the membership key is a hashed frame
            # id: a batch in key order visits each of its pages once, in one sweep
            rows.members.sort(key=itemgetter(1))
            rows.counts = await labelcounts.deltas(conn, version_id, rows.index, replaced)
            rows.objects = [(uri, size, now) for uri, size in dict(objects).items()]
            await commitrows.write(conn, rows)
            await self._orphans(conn, replaced)
            return result

        # one call into SQLite's thread for the whole transaction (a commit of the pipeline)
        return await self.db.atomic(write)

    async def object_sizes(self, uris: Sequence[str]) -> dict[str, int]:
        """Recorded sizes of stored objects (URIs the pipeline never stored are absent)."""
        found: dict[str, int] = {}
        for start in range(0, len(uris), _CHUNK):
            chunk = list(uris[start : start + _CHUNK])
            marks = ", ".join("?" * len(chunk))
            for uri, size in await self.db.fetchall(
                f"SELECT uri, size FROM objects WHERE uri IN ({marks})", chunk
            ):
                found[uri] = int(size)
        return found

    async def iter_all_documents(self, page_size: int = 1000) -> AsyncIterator[bytes]:
        """Every stored frame document of every version (for gc)."""
        last = 0
        while True:
            rows = await self.db.fetchall(
                "SELECT row_id, document FROM frames WHERE row_id > ? ORDER BY row_id LIMIT ?",
                (last, page_size),
            )
            for row_id, document in rows:
                last = row_id
                yield document.encode()
            if len(rows) < page_size:
                return

    async def forget_objects(self, uris: Sequence[str]) -> None:
        await self.db.executemany("DELETE FROM objects WHERE uri = ?", [(u,) for u in uris])

    async def _moved(
        self, conn: Conn, version_id: str, row_ids: Sequence[int], added: IndexRows | None = None
    ) -> None:
        """After a membership change: the version's label counts (``added`` frames rows in,
        ``row_ids`` out), and the frames rows of ``row_ids`` no version points at deleted."""
        await labelcounts.change(conn, version_id, added, row_ids)
        await self._orphans(conn, row_ids)

    async def _orphans(self, conn: Conn, row_ids: Sequence[int]) -> None:
        """Delete the frames rows of ``row_ids`` (and their index rows) no version points at."""
        if row_ids:
            await drop_orphan_rows(conn, row_ids)
            await conn.executemany(
                "DELETE FROM frames WHERE row_id = ? AND NOT EXISTS "
                "(SELECT 1 FROM version_frames WHERE frame_row = ?)",
                [(row_id, row_id) for row_id in set(row_ids)],
            )

    async def get_frame(self, version_id: str, frame_id: str) -> StoredFrame:
        row = await self.db.fetchone(
            "SELECT f.id, f.kind, f.document, f.saved_at FROM version_frames vf "
            "JOIN frames f ON f.row_id = vf.frame_row "
            "WHERE vf.version_id = ? AND vf.frame_id = ?",
            (version_id, frame_id),
        )
        if row is None:
            raise frame_not_found(version_id, frame_id)
        return StoredFrame(row[0], row[1], row[2].encode(), row[3])

    async def delete_frames(self, version_id: str, frame_ids: Sequence[str]) -> int:
        ids = list(dict.fromkeys(frame_ids))
        async with self.db.transaction() as conn:
            await self._draft(conn, version_id)
            existing = await members(conn, version_id, ids)
            missing = [fid for fid in ids if fid not in existing]
            if missing:
                raise _missing(version_id, missing)
            await conn.executemany(
                "DELETE FROM version_frames WHERE version_id = ? AND frame_id = ?",
                [(version_id, fid) for fid in ids],
            )
            await self._moved(conn, version_id, [row_id for row_id, _ in existing.values()])
        return len(ids)

    async def page(
        self,
        version_id: str,
        *,
        conditions: Sequence[str] = (),
        args: Sequence[Any] = (),
        after: FrameCursor | None = None,
        limit: int = 1000,
    ) -> list[tuple[FrameCursor, StoredFrame]]:
        """One page of a version's frames in (context_id, timestamp, id) order, after ``after``.

        ``conditions`` are extra SQL conditions over ``version_frames vf JOIN frames f``.
        """
        where = ["vf.version_id = ?", *conditions]
        params: list[Any] = [version_id, *args]
        if after is not None:
            where.append("(vf.sort_ctx, vf.sort_ts, vf.frame_id) > (?, ?, ?)")
            params += [after.sort_ctx, after.sort_ts, after.frame_id]
        rows = await self.db.fetchall(
            "SELECT vf.sort_ctx, vf.sort_ts, vf.frame_id, f.kind, f.document, f.saved_at "
            "FROM version_frames vf JOIN frames f ON f.row_id = vf.frame_row "
            f"WHERE {' AND '.join(where)} "
            "ORDER BY vf.sort_ctx, vf.sort_ts, vf.frame_id LIMIT ?",
            (*params, limit),
        )
        return [
            (FrameCursor(ctx, float(ts), fid), StoredFrame(fid, kind, document.encode(), saved))
            for ctx, ts, fid, kind, document, saved in rows
        ]

    async def iter_frames(
        self,
        version_id: str,
        *,
        context_id: str | None = None,
        after: FrameCursor | None = None,
        page_size: int = 1000,
    ) -> AsyncIterator[tuple[FrameCursor, StoredFrame]]:
        """Stream a version's frames in (context_id, timestamp, id) order, page by page."""
        conditions = ["vf.sort_ctx = ?"] if context_id is not None else []
        args = [context_id] if context_id is not None else []
        while True:
            page = await self.page(
                version_id, conditions=conditions, args=args, after=after, limit=page_size
            )
            for entry in page:
                yield entry
            if len(page) < page_size:
                return
            after = page[-1][0]
