"""The SQL catalog's versions: create (inheriting parents' frames), publish, snapshot, delete,
metadata. ``SqlCatalog`` (``sql.py``) adds datasets on top."""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson

from ..errors import AlreadyExistsError, DatasetNotFound, ValidationError, VersionNotFound
from . import frameindex, labelcounts
from .base import DRAFT, PUBLISHED, VersionRecord
from .commitrows import VERSION_COLS, version_record
from .db import Conn
from .search import SqlSearch


async def delete_orphan_frames(conn: Conn) -> None:
    """Delete the frames (and their query index rows) no version references any more, after a
    version or a dataset is deleted."""
    await frameindex.prune(conn)
    await conn.execute(
        "DELETE FROM frames WHERE NOT EXISTS "
        "(SELECT 1 FROM version_frames vf WHERE vf.frame_row = frames.row_id)"
    )


def check_name(name: Any, what: str) -> str:
    if not isinstance(name, str) or not name.strip():
        raise ValidationError(what, f"must be a non-empty string, got {name!r}")
    return name


async def _insert(conn: Conn, record: VersionRecord) -> None:
    marks = ", ".join("?" * len(VERSION_COLS.split(",")))
    await conn.execute(
        f"INSERT INTO versions ({VERSION_COLS}) VALUES ({marks})",
        (
            record.id,
            record.dataset_id,
            record.name,
            record.state,
            orjson.dumps(record.metadata).decode(),
            orjson.dumps(record.parents).decode(),
            record.created_at,
            record.published_at,
            record.comment,
        ),
    )


async def _inherit(conn: Conn, child_id: str, parent_id: str) -> None:
    """Copy a parent's membership rows; where parents share a frame id, the first one wins."""
    await conn.execute(
        "INSERT INTO version_frames (version_id, frame_id, frame_row, sort_ctx, sort_ts) "
        "SELECT ?, frame_id, frame_row, sort_ctx, sort_ts FROM version_frames "
        "WHERE version_id = ? ON CONFLICT (version_id, frame_id) DO NOTHING",
        (child_id, parent_id),
    )


async def _name_free(conn: Conn, dataset_id: str, name: str, but: str = "") -> None:
    taken = await conn.fetchone(
        "SELECT 1 FROM versions WHERE dataset_id = ? AND name = ? AND id <> ?",
        (dataset_id, name, but),
    )
    if taken:
        raise AlreadyExistsError(f"version {name!r} already exists in the dataset")


class SqlVersions(SqlSearch):
    async def create_version(
        self,
        dataset_id: str,
        name: str,
        *,
        parent_ids: Sequence[str] = (),
        raise_if_exists: bool = False,
    ) -> VersionRecord:
        check_name(name, "version_name")
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
            # a child inherits its parents' metadata (mask_labels...), first parent first
            metadata: dict[str, Any] = {}
            for parent in reversed(parent_ids):
                prow = await conn.fetchone("SELECT metadata FROM versions WHERE id = ?", (parent,))
                if prow is None:
                    raise VersionNotFound(f"parent version id {parent!r} does not exist")
                metadata.update(orjson.loads(prow[0]))
            record = VersionRecord(
                uuid.uuid4().hex, dataset_id, name, DRAFT, metadata, list(parent_ids), time.time(),
                None,
            )  # fmt: skip
            await _insert(conn, record)
            for parent in parent_ids:
                await _inherit(conn, record.id, parent)
            await labelcounts.inherit(conn, record.id, parent_ids)
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
        self,
        version_id: str,
        publish_name: str | None = None,
        child_name: str | None = None,
        child_metadata: dict[str, Any] | None = None,
        child_comment: str | None = None,
    ) -> tuple[VersionRecord, VersionRecord]:
        """The reference's snapshot: the Draft ``version_id`` becomes the Published snapshot
        (it keeps its id) named ``publish_name`` (default ``snapshot <ISO 8601 UTC time>``);
        a new Draft child (new id) named ``child_name`` (default ``Current``) goes on with its
        frames and metadata (updated with ``child_metadata``) and ``child_comment``. Returns
        (snapshot, child)."""
        async with self.db.transaction() as conn:
            draft = await self._draft(conn, version_id)
            stamp = datetime.now(UTC).replace(tzinfo=None).isoformat(timespec="microseconds")
            publish_name = check_name(publish_name or f"snapshot {stamp}", "publish_name")
            child_name = check_name(child_name or "Current", "child_name")
            if publish_name == child_name:
                raise ValidationError("publish_name", "must differ from child_name")
            await _name_free(conn, draft.dataset_id, publish_name, but=version_id)
            await _name_free(conn, draft.dataset_id, child_name, but=version_id)  # renamed
            now = time.time()
            await conn.execute(
                "UPDATE versions SET name = ?, state = ?, published_at = ? WHERE id = ?",
                (publish_name, PUBLISHED, now, version_id),
            )
            child = VersionRecord(
                uuid.uuid4().hex, draft.dataset_id, child_name, DRAFT,
                {**draft.metadata, **(child_metadata or {})}, [version_id], now, None,
                child_comment,
            )  # fmt: skip
            await _insert(conn, child)
            await _inherit(conn, child.id, version_id)
            await labelcounts.inherit(conn, child.id, [version_id])
        return await self.get_version(id=version_id), child

    async def delete_version(self, version_id: str) -> None:
        """Delete a Draft version and its membership rows (frames only it held go too)."""
        async with self.db.transaction() as conn:
            await self._draft(conn, version_id)
            await conn.execute("DELETE FROM version_frames WHERE version_id = ?", (version_id,))
            await labelcounts.forget(conn, "?", (version_id,))
            await conn.execute("DELETE FROM versions WHERE id = ?", (version_id,))
            await delete_orphan_frames(conn)

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
