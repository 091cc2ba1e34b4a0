"""The SQL catalog: one implementation for SQLite (embedded default) and PostgreSQL."""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson

from ..errors import (
    AlreadyExistsError,
    CatalogError,
    DatasetNotFound,
    FrameNotFound,
    PublishedVersionError,
    ValidationError,
    VersionNotFound,
)
from .base import (
    DRAFT,
    NO_TIMESTAMP,
    PUBLISHED,
    DatasetRecord,
    FrameCursor,
    FrameRow,
    StoredFrame,
    VersionRecord,
    WriteResult,
)
from .db import Conn, Database, connect
from .schema import migrate

_CHUNK = 500  # ids per IN (...) list; well under SQLite's and asyncpg's parameter limits

_DATASET_COLS = "id, name, description, tags, created_at"
_VERSION_COLS = "id, dataset_id, name, state, metadata, parents, created_at, published_at"


def _dataset(row: Sequence[Any]) -> DatasetRecord:
    return DatasetRecord(row[0], row[1], row[2], orjson.loads(row[3]), row[4])


def _version(row: Sequence[Any]) -> VersionRecord:
    return VersionRecord(
        row[0], row[1], row[2], row[3], orjson.loads(row[4]), orjson.loads(row[5]), row[6], row[7]
    )


def _check_name(name: Any, what: str) -> str:
    if not isinstance(name, str) or not name.strip():
        raise ValidationError(what, f"must be a non-empty string, got {name!r}")
    return name


def revision(document: bytes) -> str:
    return hashlib.blake2b(document, digest_size=16).hexdigest()


class SqlCatalog:
    def __init__(self, db: Database) -> None:
        self.db = db

    @classmethod
    async def open(cls, url: str) -> SqlCatalog:
        db = await connect(url)
        try:
            await migrate(db)
        except BaseException:
            await db.close()
            raise
        return cls(db)

    async def close(self) -> None:
        await self.db.close()

    # ------------------------------------------------------------------ datasets

    async def create_dataset(
        self,
        name: str,
        *,
        tags: Sequence[str] = (),
        description: str | None = None,
        raise_if_exists: bool = False,
    ) -> DatasetRecord:
        _check_name(name, "dataset_name")
        async with self.db.transaction() as conn:
            row = await conn.fetchone(
                f"SELECT {_DATASET_COLS} FROM datasets WHERE name = ?", (name,)
            )
            if row is not None:
                if raise_if_exists:
                    raise AlreadyExistsError(f"dataset {name!r} already exists")
                return _dataset(row)
            record = DatasetRecord(uuid.uuid4().hex, name, description, list(tags), time.time())
            await conn.execute(
                f"INSERT INTO datasets ({_DATASET_COLS}) VALUES (?, ?, ?, ?, ?)",
                (
                    record.id,
                    name,
                    description,
                    orjson.dumps(record.tags).decode(),
                    record.created_at,
                ),
            )
        return record

    async def get_dataset(self, *, name: str | None = None, id: str | None = None) -> DatasetRecord:
        if id is not None:
            row = await self.db.fetchone(
                f"SELECT {_DATASET_COLS} FROM datasets WHERE id = ?", (id,)
            )
            what = f"dataset id {id!r}"
        elif name is not None:
            row = await self.db.fetchone(
                f"SELECT {_DATASET_COLS} FROM datasets WHERE name = ?", (name,)
            )
            what = f"dataset {name!r}"
        else:
            raise ValidationError("dataset", "give dataset_name or dataset_id")
        if row is None:
            raise DatasetNotFound(f"{what} does not exist")
        return _dataset(row)

    async def list_datasets(self) -> list[DatasetRecord]:
        rows = await self.db.fetchall(f"SELECT {_DATASET_COLS} FROM datasets ORDER BY name")
        return [_dataset(r) for r in rows]

    async def delete_dataset(
        self, dataset_id: str, *, delete_all_versions: bool = False, force: bool = False
    ) -> None:
        async with self.db.transaction() as conn:
            row = await conn.fetchone("SELECT name FROM datasets WHERE id = ?", (dataset_id,))
            if row is None:
                raise DatasetNotFound(f"dataset id {dataset_id!r} does not exist")
            name = row[0]
            versions = await conn.fetchall(
                "SELECT name, state FROM versions WHERE dataset_id = ?", (dataset_id,)
            )
            if versions and not delete_all_versions:
                raise CatalogError(
                    f"dataset {name!r} has {len(versions)} version(s); "
                    "pass delete_all_versions=True to delete them too"
                )
            published = [v[0] for v in versions if v[1] == PUBLISHED]
            if published and not force:
                raise PublishedVersionError(
                    f"dataset {name!r} has published version(s) {', '.join(published)}; "
                    "pass force=True to delete them"
                )
            scope = "SELECT id FROM versions WHERE dataset_id = ?"
            await conn.execute(
                f"DELETE FROM version_frames WHERE version_id IN ({scope})", (dataset_id,)
            )
            await conn.execute("DELETE FROM versions WHERE dataset_id = ?", (dataset_id,))
            await conn.execute("DELETE FROM datasets WHERE id = ?", (dataset_id,))
            await conn.execute(
                "DELETE FROM frames WHERE NOT EXISTS "
                "(SELECT 1 FROM version_frames vf WHERE vf.rev = frames.rev)"
            )

    # ------------------------------------------------------------------ versions

    async def create_version(
        self,
        dataset_id: str,
        name: str,
        *,
        parent_ids: Sequence[str] = (),
        raise_if_exists: bool = False,
    ) -> VersionRecord:
        _check_name(name, "version_name")
        async with self.db.transaction() as conn:
            if await conn.fetchone("SELECT 1 FROM datasets WHERE id = ?", (dataset_id,)) is None:
                raise DatasetNotFound(f"dataset id {dataset_id!r} does not exist")
            row = await conn.fetchone(
                f"SELECT {_VERSION_COLS} FROM versions WHERE dataset_id = ? AND name = ?",
                (dataset_id, name),
            )
            if row is not None:
                if raise_if_exists:
                    raise AlreadyExistsError(f"version {name!r} already exists in the dataset")
                return _version(row)
            for parent in parent_ids:
                if await conn.fetchone("SELECT 1 FROM versions WHERE id = ?", (parent,)) is None:
                    raise VersionNotFound(f"parent version id {parent!r} does not exist")
            record = VersionRecord(
                uuid.uuid4().hex, dataset_id, name, DRAFT, {}, list(parent_ids), time.time(), None
            )
            # a child inherits its parents' metadata (mask_labels...), first parent first
            metadata: dict[str, Any] = {}
            for parent in reversed(parent_ids):
                prow = await conn.fetchone("SELECT metadata FROM versions WHERE id = ?", (parent,))
                metadata.update(orjson.loads(prow[0]) if prow else {})
            record = VersionRecord(**{**record.__dict__, "metadata": metadata})
            await conn.execute(
                f"INSERT INTO versions ({_VERSION_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    record.id,
                    dataset_id,
                    name,
                    DRAFT,
                    orjson.dumps(metadata).decode(),
                    orjson.dumps(record.parents).decode(),
                    record.created_at,
                    None,
                ),
            )
            for parent in parent_ids:  # first parent wins where parents share a frame id
                await conn.execute(
                    "INSERT INTO version_frames (version_id, frame_id, rev, sort_ctx, sort_ts) "
                    "SELECT ?, frame_id, rev, sort_ctx, sort_ts FROM version_frames "
                    "WHERE version_id = ? ON CONFLICT (version_id, frame_id) DO NOTHING",
                    (record.id, parent),
                )
        return record

    async def get_version(
        self, *, dataset_id: str | None = None, name: str | None = None, id: str | None = None
    ) -> VersionRecord:
        if id is not None:
            row = await self.db.fetchone(
                f"SELECT {_VERSION_COLS} FROM versions WHERE id = ?", (id,)
            )
            what = f"version id {id!r}"
        elif name is not None and dataset_id is not None:
            row = await self.db.fetchone(
                f"SELECT {_VERSION_COLS} FROM versions WHERE dataset_id = ? AND name = ?",
                (dataset_id, name),
            )
            what = f"version {name!r}"
        else:
            raise ValidationError("version", "give version_name (with a dataset) or version_id")
        if row is None:
            raise VersionNotFound(f"{what} does not exist")
        return _version(row)

    async def list_versions(self, dataset_id: str) -> list[VersionRecord]:
        rows = await self.db.fetchall(
            f"SELECT {_VERSION_COLS} FROM versions WHERE dataset_id = ? ORDER BY created_at, name",
            (dataset_id,),
        )
        return [_version(r) for r in rows]

    async def _draft(self, conn: Conn, version_id: str) -> VersionRecord:
        row = await conn.fetchone(
            f"SELECT {_VERSION_COLS} FROM versions WHERE id = ?", (version_id,)
        )
        if row is None:
            raise VersionNotFound(f"version id {version_id!r} does not exist")
        record = _version(row)
        if record.is_published:
            raise PublishedVersionError(
                f"version {record.name!r} is Published and read-only; "
                "create a child version (create_version(parent_version_names=[...])) to edit"
            )
        return record

    async def publish_version(self, version_id: str) -> VersionRecord:
        async with self.db.transaction() as conn:
            await self._draft(conn, version_id)
            await conn.execute(
                "UPDATE versions SET state = ?, published_at = ? WHERE id = ?",
                (PUBLISHED, time.time(), version_id),
            )
        return await self.get_version(id=version_id)

    async def rename_version(self, version_id: str, name: str) -> VersionRecord:
        _check_name(name, "version_name")
        async with self.db.transaction() as conn:
            record = await self._draft(conn, version_id)
            taken = await conn.fetchone(
                "SELECT 1 FROM versions WHERE dataset_id = ? AND name = ? AND id <> ?",
                (record.dataset_id, name, version_id),
            )
            if taken:
                raise AlreadyExistsError(f"version {name!r} already exists in the dataset")
            await conn.execute("UPDATE versions SET name = ? WHERE id = ?", (name, version_id))
        return await self.get_version(id=version_id)

    async def current_version(self, dataset_id: str) -> VersionRecord:
        """The newest Published version of the dataset; if none is published, the newest Draft."""
        versions = await self.list_versions(dataset_id)
        if not versions:
            raise VersionNotFound(f"dataset id {dataset_id!r} has no version")
        published = [v for v in versions if v.is_published]
        return (published or versions)[-1]

    async def snapshot_version(
        self, version_id: str, publish_name: str | None = None, child_name: str | None = None
    ) -> tuple[VersionRecord, VersionRecord]:
        """Publish a copy of a draft as ``publish_name``; the draft goes on as its child.

        The draft keeps its id (references to it stay valid), is renamed ``child_name`` and gets
        the snapshot as its only parent. Defaults: ``"<draft name> <UTC date time>"`` and the
        draft's own name. Returns (snapshot, draft).
        """
        async with self.db.transaction() as conn:
            draft = await self._draft(conn, version_id)
            stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
            publish_name = publish_name or f"{draft.name} {stamp}"
            child_name = child_name or draft.name
            _check_name(publish_name, "publish_name")
            _check_name(child_name, "child_name")
            if publish_name == child_name:
                raise ValidationError("publish_name", "must differ from child_name")
            for name in (publish_name, child_name):
                taken = await conn.fetchone(
                    "SELECT 1 FROM versions WHERE dataset_id = ? AND name = ? AND id <> ?",
                    (draft.dataset_id, name, version_id),
                )
                if taken:
                    raise AlreadyExistsError(f"version {name!r} already exists in the dataset")
            now = time.time()
            snap_id = uuid.uuid4().hex
            await conn.execute(
                "UPDATE versions SET name = ? WHERE id = ?", (f"~{version_id}", version_id)
            )  # frees the name for a moment
            await conn.execute(
                f"INSERT INTO versions ({_VERSION_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    snap_id,
                    draft.dataset_id,
                    publish_name,
                    PUBLISHED,
                    orjson.dumps(draft.metadata).decode(),
                    orjson.dumps(draft.parents).decode(),
                    now,
                    now,
                ),
            )
            await conn.execute(
                "INSERT INTO version_frames (version_id, frame_id, rev, sort_ctx, sort_ts) "
                "SELECT ?, frame_id, rev, sort_ctx, sort_ts FROM version_frames "
                "WHERE version_id = ?",
                (snap_id, version_id),
            )
            await conn.execute(
                "UPDATE versions SET name = ?, parents = ? WHERE id = ?",
                (child_name, orjson.dumps([snap_id]).decode(), version_id),
            )
        return await self.get_version(id=snap_id), await self.get_version(id=version_id)

    async def set_version_metadata(
        self, version_id: str, metadata: dict[str, Any]
    ) -> VersionRecord:
        async with self.db.transaction() as conn:
            await self._draft(conn, version_id)
            await conn.execute(
                "UPDATE versions SET metadata = ? WHERE id = ?",
                (orjson.dumps(metadata).decode(), version_id),
            )
        return await self.get_version(id=version_id)

    async def count_frames(self, version_id: str) -> int:
        row = await self.db.fetchone(
            "SELECT COUNT(*) FROM version_frames WHERE version_id = ?", (version_id,)
        )
        return int(row[0]) if row else 0

    # ------------------------------------------------------------------ frames

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
            existing = await self._revs(conn, version_id, list(latest))
            if must_exist:
                missing = [fid for fid in latest if fid not in existing]
                if missing:
                    raise FrameNotFound(
                        f"frame id(s) {', '.join(map(repr, missing[:10]))} not in version "
                        f"id {version_id!r}"
                    )
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
                frame_rows.append(
                    (rev, fid, row.kind, row.context_id, row.timestamp, row.document.decode(), now)
                )
                member_rows.append(
                    (
                        version_id,
                        fid,
                        rev,
                        row.context_id or "",
                        NO_TIMESTAMP if row.timestamp is None else float(row.timestamp),
                    )
                )
            if frame_rows:
                await conn.executemany(
                    "INSERT INTO frames (rev, id, kind, context_id, timestamp, document, saved_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (rev) DO NOTHING",
                    frame_rows,
                )
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
            raise FrameNotFound(f"frame id {frame_id!r} is not in version id {version_id!r}")
        return StoredFrame(row[0], row[1], row[2].encode(), row[3])

    async def delete_frames(self, version_id: str, frame_ids: Sequence[str]) -> int:
        ids = list(dict.fromkeys(frame_ids))
        async with self.db.transaction() as conn:
            await self._draft(conn, version_id)
            existing = await self._revs(conn, version_id, ids)
            missing = [fid for fid in ids if fid not in existing]
            if missing:
                raise FrameNotFound(
                    f"frame id(s) {', '.join(map(repr, missing[:10]))} not in version "
                    f"id {version_id!r}"
                )
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
