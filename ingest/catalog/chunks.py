"""Chunked imports in the catalog: one ``imports`` row per (manifest content, version), one
``chunks`` row per chunk with its outcome. What runs the chunks (procrastinate's workers on
PostgreSQL, the importing process on SQLite) reads and writes only this; it is the progress
shown to users and what a restarted process resumes from.

A chunk is pending, running, done, failed or cancelled; an import is running until its last
chunk ends, then done (or failed when a chunk failed), or cancelled.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from .db import Database

PENDING, RUNNING, DONE, FAILED, CANCELLED = "pending", "running", "done", "failed", "cancelled"
ENDED = (DONE, FAILED, CANCELLED)
_IMPORT = "id, manifest, format, version_id, state, chunks, summary, error, created_at, origin"
_CHUNK = "import_id, idx, span_start, span_end, first_line, state, worker, attempts, summary, error"


@dataclass(frozen=True)
class ImportRecord:
    id: str
    manifest: str
    format: str
    version_id: str
    state: str
    chunks: int
    summary: dict[str, Any] | None
    error: str | None
    created_at: float
    #: chunks per state (pending, running, done, failed, cancelled)
    counts: dict[str, int]
    #: who ends the import once finalized: a daemon's inbox job (``{"queue", "job", "name"}``)
    origin: dict[str, Any] | None = None


@dataclass(frozen=True)
class ChunkRecord:
    import_id: str
    idx: int
    start: int
    end: int
    first_line: int
    state: str
    worker: str | None
    attempts: int
    summary: dict[str, Any] | None
    error: str | None


def _json(value: Any) -> dict[str, Any] | None:
    return orjson.loads(value) if value else None


def _chunk(row: Any) -> ChunkRecord:
    return ChunkRecord(
        str(row[0]), int(row[1]), int(row[2]), int(row[3]), int(row[4]),
        str(row[5]), row[6], int(row[7]), _json(row[8]), row[9],
    )  # fmt: skip


def _import(r: Any, counts: dict[str, int]) -> ImportRecord:
    return ImportRecord(
        r[0], r[1], r[2], r[3], r[4], int(r[5]), _json(r[6]), r[7], float(r[8]), counts,
        _json(r[9]),
    )  # fmt: skip


class ChunkTable:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def create_import(
        self,
        import_id: str,
        manifest: str,
        fmt: str,
        version_id: str,
        origin: dict[str, Any] | None = None,
    ) -> bool:
        """Record a new import (no chunks yet); False when it is known already."""
        now, by = time.time(), orjson.dumps(origin).decode() if origin else None
        return (
            await self.db.execute(
                f"INSERT INTO imports ({_IMPORT}, updated_at) "
                "VALUES (?, ?, ?, ?, ?, 0, NULL, NULL, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
                (import_id, manifest, fmt, version_id, RUNNING, now, by, now),
            )
            > 0
        )

    async def add_chunks(self, import_id: str, spans: Sequence[tuple[int, int, int]]) -> None:
        """The import's chunks (start, end, first line); a second call changes nothing."""
        now = time.time()
        async with self.db.transaction() as conn:
            await conn.executemany(
                f"INSERT INTO chunks ({_CHUNK}, rejected, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, NULL, 0, NULL, NULL, NULL, ?) "
                "ON CONFLICT (import_id, idx) DO NOTHING",
                [(import_id, i, a, b, line, PENDING, now) for i, (a, b, line) in enumerate(spans)],
            )
            await conn.execute(
                "UPDATE imports SET chunks = ?, updated_at = ? WHERE id = ? AND chunks = 0",
                (len(spans), now, import_id),
            )

    async def get_import(self, import_id: str) -> ImportRecord | None:
        found = await self.list_imports(import_id)
        return found[0] if found else None

    async def list_imports(self, import_id: str | None = None) -> list[ImportRecord]:
        where, args = ("WHERE id = ?", (import_id,)) if import_id else ("", ())
        rows = await self.db.fetchall(
            f"SELECT {_IMPORT} FROM imports {where} ORDER BY created_at, id", args
        )
        counts = await self.db.fetchall(
            "SELECT import_id, state, COUNT(*) FROM chunks "
            + ("WHERE import_id = ? " if import_id else "")
            + "GROUP BY import_id, state",
            args,
        )
        per: dict[str, dict[str, int]] = {}
        for owner, state, n in counts:
            per.setdefault(owner, dict.fromkeys((PENDING, RUNNING, *ENDED), 0))[state] = int(n)
        empty = dict.fromkeys((PENDING, RUNNING, *ENDED), 0)
        return [_import(r, per.get(r[0], empty)) for r in rows]

    async def chunks(self, import_id: str) -> list[ChunkRecord]:
        rows = await self.db.fetchall(
            f"SELECT {_CHUNK} FROM chunks WHERE import_id = ? ORDER BY idx", (import_id,)
        )
        return [_chunk(r) for r in rows]

    async def rejected(self, import_id: str) -> list[bytes]:
        """The rejection records (JSON lines) of the import's chunks, in chunk order."""
        rows = await self.db.fetchall(
            "SELECT rejected FROM chunks WHERE import_id = ? AND rejected IS NOT NULL ORDER BY idx",
            (import_id,),
        )
        return [line for (text,) in rows for line in text.encode().splitlines() if line]

    async def start_chunk(self, import_id: str, idx: int, worker: str) -> ChunkRecord | None:
        """Mark a chunk running under ``worker``; None when it has ended (done, failed or
        cancelled: a job that ran twice, or an import cancelled meanwhile)."""
        async with self.db.transaction() as conn:
            row = await conn.fetchone(
                "UPDATE chunks SET state = ?, worker = ?, attempts = attempts + 1, "
                "updated_at = ? WHERE import_id = ? AND idx = ? AND state IN (?, ?) "
                f"RETURNING {_CHUNK}",
                (RUNNING, worker, time.time(), import_id, idx, PENDING, RUNNING),
            )
        return _chunk(row) if row else None

    async def end_chunk(
        self,
        import_id: str,
        idx: int,
        worker: str,
        state: str,
        *,
        summary: dict[str, Any] | None = None,
        rejected: bytes = b"",
        error: str | None = None,
    ) -> bool | None:
        """Record the outcome of a chunk ``worker`` runs (a chunk handed back is ``PENDING``):
        None when nothing changed (the chunk was cancelled or taken over meanwhile), else
        True when this was the import's last chunk to end (then the import is to be
        finalized)."""
        async with self.db.transaction() as conn:
            if conn.dialect == "postgresql":  # one finisher sees "no chunk left"
                await conn.execute("SELECT 1 FROM imports WHERE id = ? FOR UPDATE", (import_id,))
            changed = await conn.execute(
                "UPDATE chunks SET state = ?, summary = ?, rejected = ?, error = ?, "
                "updated_at = ? WHERE import_id = ? AND idx = ? AND state = ? AND worker = ?",
                (
                    state,
                    orjson.dumps(summary).decode() if summary is not None else None,
                    rejected.decode() or None,
                    error,
                    time.time(),
                    import_id,
                    idx,
                    RUNNING,
                    worker,
                ),
            )
            if not changed:
                return None
            if state not in ENDED:
                return False
            row = await conn.fetchone(
                "SELECT COUNT(*) FROM chunks WHERE import_id = ? AND state NOT IN (?, ?, ?)",
                (import_id, *ENDED),
            )
        return row is not None and int(row[0]) == 0

    async def end_import(
        self, import_id: str, state: str, summary: dict[str, Any] | None, error: str | None
    ) -> bool:
        """Record the import's outcome once; False when it had ended already."""
        return (
            await self.db.execute(
                "UPDATE imports SET state = ?, summary = ?, error = ?, updated_at = ? "
                "WHERE id = ? AND state = ?",
                (
                    state,
                    orjson.dumps(summary).decode() if summary is not None else None,
                    error,
                    time.time(),
                    import_id,
                    RUNNING,
                ),
            )
            > 0
        )

    async def cancel(self, import_id: str) -> list[int]:
        """Cancel an import: its pending and running chunks end as cancelled (a running one
        stops between groups); the chunks that were cancelled."""
        now = time.time()
        async with self.db.transaction() as conn:
            rows = await conn.fetchall(
                "UPDATE chunks SET state = ?, updated_at = ? "
                "WHERE import_id = ? AND state IN (?, ?) RETURNING idx",
                (CANCELLED, now, import_id, PENDING, RUNNING),
            )
            await conn.execute(
                "UPDATE imports SET state = ?, updated_at = ? WHERE id = ? AND state = ?",
                (CANCELLED, now, import_id, RUNNING),
            )
        return sorted(int(r[0]) for r in rows)

    async def retry(self, import_id: str) -> list[int]:
        """Make an import's failed and cancelled chunks pending again; the chunks to run."""
        now = time.time()
        async with self.db.transaction() as conn:
            rows = await conn.fetchall(
                "UPDATE chunks SET state = ?, error = NULL, updated_at = ? "
                "WHERE import_id = ? AND state IN (?, ?) RETURNING idx",
                (PENDING, now, import_id, FAILED, CANCELLED),
            )
            if rows:
                await conn.execute(
                    "UPDATE imports SET state = ?, summary = NULL, error = NULL, updated_at = ? "
                    "WHERE id = ?",
                    (RUNNING, now, import_id),
                )
        return sorted(int(r[0]) for r in rows)

    async def owner_of(self, import_id: str, idx: int) -> tuple[str | None, str | None]:
        """(state, worker) of a chunk."""
        row = await self.db.fetchone(
            "SELECT state, worker FROM chunks WHERE import_id = ? AND idx = ?", (import_id, idx)
        )
        return (row[0], row[1]) if row else (None, None)
