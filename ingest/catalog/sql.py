"""The SQL catalog: one implementation for SQLite (embedded default) and PostgreSQL.

Datasets here; versions in ``sqlversions.py``; frames (membership, documents, counts,
compare-and-set) in ``sqlframes.py``, the base classes.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from typing import Any

import orjson

from ..errors import (
    AlreadyExistsError,
    CatalogError,
    DatasetNotFound,
    PublishedVersionError,
    ValidationError,
)
from . import labelcounts
from .base import PUBLISHED, DatasetRecord
from .chunks import ChunkTable
from .db import Database, connect
from .schema import migrate as migrate_schema
from .sqlframes import revision
from .sqlversions import SqlVersions, check_name, delete_orphan_frames

__all__ = ["SqlCatalog", "revision"]

_DATASET_COLS = "id, name, description, tags, created_at, project"


def _dataset(row: Sequence[Any]) -> DatasetRecord:
    return DatasetRecord(row[0], row[1], row[2], orjson.loads(row[3]), row[4], row[5])


class SqlCatalog(SqlVersions):
    def __init__(self, db: Database) -> None:
        self.db = db

    def chunk_table(self) -> ChunkTable:
        """Chunked imports and their chunks (``chunks.py``)."""
        return ChunkTable(self.db)

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
        project: str | None = None,
    ) -> DatasetRecord:
        check_name(name, "dataset_name")
        async with self.db.transaction() as conn:
            row = await conn.fetchone(
                f"SELECT {_DATASET_COLS} FROM datasets WHERE name = ?", (name,)
            )
            if row is not None:
                if raise_if_exists:
                    raise AlreadyExistsError(f"dataset {name!r} already exists")
                return _dataset(row)
            record = DatasetRecord(
                uuid.uuid4().hex, name, description, list(tags), time.time(), project
            )
            await conn.execute(
                f"INSERT INTO datasets ({_DATASET_COLS}) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    record.id,
                    name,
                    description,
                    orjson.dumps(record.tags).decode(),
                    record.created_at,
                    project,
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
            await labelcounts.forget(conn, scope, (dataset_id,))
            await conn.execute("DELETE FROM versions WHERE dataset_id = ?", (dataset_id,))
            await conn.execute("DELETE FROM datasets WHERE id = ?", (dataset_id,))
            await delete_orphan_frames(conn)

    async def set_dataset_tags(self, dataset_id: str, tags: Sequence[str]) -> DatasetRecord:
        if isinstance(tags, str) or not all(isinstance(t, str) and t for t in tags):
            raise ValidationError("tags", f"must be a list of non-empty strings, got {tags!r}")
        async with self.db.transaction() as conn:
            await conn.execute(
                "UPDATE datasets SET tags = ? WHERE id = ?",
                (orjson.dumps(list(tags)).decode(), dataset_id),
            )
        return await self.get_dataset(id=dataset_id)
