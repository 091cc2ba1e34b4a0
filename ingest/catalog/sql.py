"""The SQL catalog: one implementation for SQLite (embedded default) and PostgreSQL.

Datasets and versions here; frames (membership, documents, counts, compare-and-set) in
``sqlframes.py``, the base class.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson

from ..errors import (
    AlreadyExistsError,
    CatalogError,
    DatasetNotFound,
    PublishedVersionError,
    ValidationError,
    VersionNotFound,
)
from .base import DRAFT, PUBLISHED, DatasetRecord, VersionRecord
from .chunks import ChunkTable
from .db import Database, connect
from .jobs import JobQueue
from .schema import migrate as migrate_schema
from .search import SqlSearch
from .sqlframes import VERSION_COLS, revision, version_record

__all__ = ["SqlCatalog", "revision"]

_DATASET_COLS = "id, name, description, tags, created_at"


def _dataset(row: Sequence[Any]) -> DatasetRecord:
    return DatasetRecord(row[0], row[1], row[2], orjson.loads(row[3]), row[4])


def _check_name(name: Any, what: str) -> str:
    if not isinstance(name, str) or not name.strip():
        raise ValidationError(what, f"must be a non-empty string, got {name!r}")
    return name


class SqlCatalog(SqlSearch):
    def __init__(self, db: Database) -> None:
        self.db = db

    def chunk_table(self) -> ChunkTable:
        """Chunked imports and their chunks (``chunks.py``)."""
        return ChunkTable(self.db)

    def job_queue(self) -> JobQueue:
        """The daemon's job table, in this database."""
        return JobQueue(self.db)

    @classmethod
    async def open(cls, url: str, *, migrate: bool = True) -> SqlCatalog:
        db = await connect(url)
        try:
            if migrate:
                await migrate_schema(db)
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
                f"SELECT {VERSION_COLS} FROM versions WHERE dataset_id = ? AND name = ?",
                (dataset_id, name),
            )
            if row is not None:
                if raise_if_exists:
                    raise AlreadyExistsError(f"version {name!r} already exists in the dataset")
                return version_record(row)
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
                f"INSERT INTO versions ({VERSION_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
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
            row = await self.db.fetchone(f"SELECT {VERSION_COLS} FROM versions WHERE id = ?", (id,))
            what = f"version id {id!r}"
        elif name is not None and dataset_id is not None:
            row = await self.db.fetchone(
                f"SELECT {VERSION_COLS} FROM versions WHERE dataset_id = ? AND name = ?",
                (dataset_id, name),
            )
            what = f"version {name!r}"
        else:
            raise ValidationError("version", "give version_name (with a dataset) or version_id")
        if row is None:
            raise VersionNotFound(f"{what} does not exist")
        return version_record(row)

    async def list_versions(self, dataset_id: str) -> list[VersionRecord]:
        rows = await self.db.fetchall(
            f"SELECT {VERSION_COLS} FROM versions WHERE dataset_id = ? ORDER BY created_at, name",
            (dataset_id,),
        )
        return [version_record(r) for r in rows]

    async def version_counts(self) -> dict[str, int]:
        """Versions per dataset, in one query: {dataset_id: count} (datasets with none absent)."""
        rows = await self.db.fetchall(
            "SELECT dataset_id, COUNT(*) FROM versions GROUP BY dataset_id"
        )
        return {str(dataset_id): int(count) for dataset_id, count in rows}

    async def publish_version(self, version_id: str) -> VersionRecord:
        async with self.db.transaction() as conn:
            await self._draft(conn, version_id)
            await conn.execute(
                "UPDATE versions SET state = ?, published_at = ? WHERE id = ?",
                (PUBLISHED, time.time(), version_id),
            )
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
                f"INSERT INTO versions ({VERSION_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
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
