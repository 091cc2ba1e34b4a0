"""The frame half of the SQL catalog: membership rows, documents, counts, compare-and-set.

``SqlCatalog`` (``sql.py``) adds datasets and versions on top of this class. A frame's ``rev``
(``revision``, a hash of its document) is also its ETag in the web API: ``replace_frame_if``
and ``delete_frame_if`` change a frame only if it still has the revision the caller read, in
one conditional statement (``UPDATE``/``DELETE ... WHERE rev = ?``) inside a transaction, so
concurrent editors get exactly one winner on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import AsyncIterator, Sequence
from operator import itemgetter
from typing import Any

import orjson

from ..errors import FrameNotFound, VersionNotFound
from .base import NO_TIMESTAMP, FrameCursor, FrameRow, StoredFrame, VersionRecord, WriteResult
from .db import Conn, Database

_CHUNK = 500  # ids per IN (...) list; well under SQLite's and asyncpg's parameter limits

VERSION_COLS = "id, dataset_id, name, state, metadata, parents, created_at, published_at, comment"
#: a frame document under its revision; a document already stored (same rev) is kept
_INSERT_FRAME = (
    "INSERT INTO frames (rev, id, kind, context_id, timestamp, document, saved_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (rev) DO NOTHING"
)


def revision(document: bytes) -> str:
    return hashlib.blake2b(document, digest_size=16).hexdigest()


def version_record(row: Sequence[Any]) -> VersionRecord:
    """A ``versions`` row (``VERSION_COLS``) as a record."""
    return VersionRecord(
        row[0], row[1], row[2], row[3], orjson.loads(row[4]), orjson.loads(row[5]), row[6], row[7],
        row[8],
    )  # fmt: skip


def _frame_values(rev: str, row: FrameRow, now: float) -> tuple[Any, ...]:
    """The parameters of ``_INSERT_FRAME`` for ``row``."""
    return (rev, row.id, row.kind, row.context_id, row.timestamp, row.document.decode(), now)


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
        row = await conn.fetchone(
            f"SELECT {VERSION_COLS} FROM versions WHERE id = ?", (version_id,)
        )
        if row is None:
            raise VersionNotFound(f"version id {version_id!r} does not exist")
        return version_record(row).require_draft()

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
        now = time.time()
        try:
            async with self.db.transaction() as conn:
                await self._draft(conn, version_id)
                await conn.execute(_INSERT_FRAME, _frame_values(rev, row, now))
                changed = await conn.execute(
                    "UPDATE version_frames SET rev = ?, sort_ctx = ?, sort_ts = ? "
                    "WHERE version_id = ? AND frame_id = ? AND rev = ?",
                    (rev, *_sort_key(row), version_id, row.id, expected_rev),
                )
                if not changed:
                    await self._require_frame(conn, version_id, row.id)
                    raise _RevisionChanged
                if rev != expected_rev:
                    await self._drop_orphans(conn, [expected_rev])
        except _RevisionChanged:
            return None
        return rev

    async def delete_frame_if(self, version_id: str, frame_id: str, expected_rev: str) -> bool:
        """Remove one frame only if its revision is still ``expected_rev``; False if not."""
        async with self.db.transaction() as conn:
            await self._draft(conn, version_id)
            deleted = await conn.execute(
                "DELETE FROM version_frames WHERE version_id = ? AND frame_id = ? AND rev = ?",
                (version_id, frame_id, expected_rev),
            )
            if not deleted:
                await self._require_frame(conn, version_id, frame_id)
                return False
            await self._drop_orphans(conn, [expected_rev])
        return True

    async def _require_frame(self, conn: Conn, version_id: str, frame_id: str) -> None:
        found = await conn.fetchone(
            "SELECT 1 FROM version_frames WHERE version_id = ? AND frame_id = ?",
            (version_id, frame_id),
        )
        if found is None:
            raise frame_not_found(version_id, frame_id)

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
        result = WriteResult()
        if not rows:
            return result
        latest: dict[str, FrameRow] = {}
        for row in rows:  # the last write of an id in a batch wins
            latest[row.id] = row
        now = time.time()
        async with self.db.transaction() as conn:
            await self._draft(conn, version_id)
            existing = await self._revs(conn, version_id, sorted(latest))
            if must_exist:
                missing = [fid for fid in latest if fid not in existing]
                if missing:
                    raise _missing(version_id, missing)
            frame_rows = []
            member_rows = []
            for fid, row in latest.items():
                rev = revision(row.document)
                old = existing.get(fid)
                if old == rev:
                    result.unchanged += 1
                    continue
                if old is None:
                    result.inserted += 1
                else:
                    result.updated += 1
                    result.replaced_revs.append(old)
                frame_rows.append(_frame_values(rev, row, now))
                member_rows.append((version_id, fid, rev, *_sort_key(row)))
            if frame_rows:
                # in key order: the hot indexes are keyed by hashes (rev, frame id); a batch
                # in order visits each of their pages once, in one sweep
                frame_rows.sort(key=itemgetter(0))
                member_rows.sort(key=itemgetter(1))
                await conn.executemany(_INSERT_FRAME, frame_rows)
                await conn.executemany(
                    "INSERT INTO version_frames (version_id, frame_id, rev, sort_ctx, sort_ts) "
                    "VALUES (?, ?, ?, ?, ?) ON CONFLICT (version_id, frame_id) DO UPDATE SET "
                    "rev = excluded.rev, sort_ctx = excluded.sort_ctx, sort_ts = excluded.sort_ts",
                    member_rows,
                )
            await self._drop_orphans(conn, result.replaced_revs)
            if objects:
                await conn.executemany(
                    "INSERT INTO objects (uri, size, stored_at) VALUES (?, ?, ?) "
                    "ON CONFLICT (uri) DO UPDATE SET size = excluded.size",
                    [(uri, size, now) for uri, size in dict(objects).items()],
                )
        return result

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
        last = ""
        while True:
            rows = await self.db.fetchall(
                "SELECT rev, document FROM frames WHERE rev > ? ORDER BY rev LIMIT ?",
                (last, page_size),
            )
            for rev, document in rows:
                last = rev
                yield document.encode()
            if len(rows) < page_size:
                return

    async def forget_objects(self, uris: Sequence[str]) -> None:
        await self.db.executemany("DELETE FROM objects WHERE uri = ?", [(u,) for u in uris])

    async def _revs(self, conn: Conn, version_id: str, frame_ids: list[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        for start in range(0, len(frame_ids), _CHUNK):
            chunk = frame_ids[start : start + _CHUNK]
            marks = ", ".join("?" * len(chunk))
            for fid, rev in await conn.fetchall(
                "SELECT frame_id, rev FROM version_frames "
                f"WHERE version_id = ? AND frame_id IN ({marks})",
                (version_id, *chunk),
            ):
                found[fid] = rev
        return found

    async def _drop_orphans(self, conn: Conn, revs: Sequence[str]) -> None:
        if revs:
            await conn.executemany(
                "DELETE FROM frames WHERE rev = ? AND NOT EXISTS "
                "(SELECT 1 FROM version_frames WHERE rev = ?)",
                [(rev, rev) for rev in set(revs)],
            )

    async def get_frame(self, version_id: str, frame_id: str) -> StoredFrame:
        row = await self.db.fetchone(
            "SELECT f.id, f.kind, f.document, f.saved_at FROM version_frames vf "
            "JOIN frames f ON f.rev = vf.rev WHERE vf.version_id = ? AND vf.frame_id = ?",
            (version_id, frame_id),
        )
        if row is None:
            raise frame_not_found(version_id, frame_id)
        return StoredFrame(row[0], row[1], row[2].encode(), row[3])

    async def delete_frames(self, version_id: str, frame_ids: Sequence[str]) -> int:
        ids = list(dict.fromkeys(frame_ids))
        async with self.db.transaction() as conn:
            await self._draft(conn, version_id)
            existing = await self._revs(conn, version_id, ids)
            missing = [fid for fid in ids if fid not in existing]
            if missing:
                raise _missing(version_id, missing)
            await conn.executemany(
                "DELETE FROM version_frames WHERE version_id = ? AND frame_id = ?",
                [(version_id, fid) for fid in ids],
            )
            await self._drop_orphans(conn, list(existing.values()))
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
            "FROM version_frames vf JOIN frames f ON f.rev = vf.rev "
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
