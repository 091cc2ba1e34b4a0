"""The daemon's job queue in the catalog: leases so that each manifest has one worker at a time.

A job is pending, running (owner + lease expiry, renewed by heartbeats), done or failed. A
running job whose lease expired is claimable again (its worker died); on PostgreSQL claims use
``FOR UPDATE SKIP LOCKED`` so workers never wait on each other, on SQLite ``BEGIN IMMEDIATE``
serialises them (one host).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import orjson

from .db import Database

PENDING, RUNNING, DONE, FAILED = "pending", "running", "done", "failed"
_COLS = "id, manifest, dataset, version, state, owner, lease_until, attempts, error, summary"


@dataclass(frozen=True)
class Job:
    id: str
    manifest: str
    dataset: str | None
    version: str | None
    state: str
    owner: str | None
    lease_until: float
    attempts: int
    error: str | None
    summary: dict[str, Any] | None


def _job(row: Any) -> Job:
    return Job(
        row[0],
        row[1],
        row[2],
        row[3],
        row[4],
        row[5],
        float(row[6]),
        int(row[7]),
        row[8],
        orjson.loads(row[9]) if row[9] else None,
    )


class JobQueue:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def submit(
        self, job_id: str, manifest: str, dataset: str | None = None, version: str | None = None
    ) -> bool:
        """Add a pending job unless it is known already; True when it was new."""
        now = time.time()
        count = await self.db.execute(
            f"INSERT INTO jobs ({_COLS}, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, NULL, 0, 0, NULL, NULL, ?, ?) ON CONFLICT (id) DO NOTHING",
            (job_id, manifest, dataset, version, PENDING, now, now),
        )
        return count > 0

    async def claim(self, owner: str, lease_s: float) -> Job | None:
        """Take the oldest pending job, or a running one whose lease expired; never a job
        whose manifest name has another job running (one job per name at a time)."""
        now = time.time()
        async with self.db.transaction() as conn:
            lock = " FOR UPDATE SKIP LOCKED" if conn.dialect == "postgresql" else ""
            row = await conn.fetchone(
                "SELECT id FROM jobs j WHERE (state = ? OR (state = ? AND lease_until < ?)) "
                "AND NOT EXISTS (SELECT 1 FROM jobs r WHERE r.manifest = j.manifest "
                "AND r.state = ? AND r.lease_until >= ? AND r.id <> j.id) "
                f"ORDER BY created_at, id LIMIT 1{lock}",
                (PENDING, RUNNING, now, RUNNING, now),
            )
            if row is None:
                return None
            claimed = await conn.fetchone(
                "UPDATE jobs SET state = ?, owner = ?, lease_until = ?, attempts = attempts + 1, "
                f"updated_at = ? WHERE id = ? RETURNING {_COLS}",
                (RUNNING, owner, now + lease_s, now, row[0]),
            )
        return _job(claimed) if claimed else None

    async def heartbeat(self, job_id: str, owner: str, lease_s: float) -> bool:
        """Renew the lease; False when this worker lost it (expired and taken over)."""
        now = time.time()
        count = await self.db.execute(
            "UPDATE jobs SET lease_until = ?, updated_at = ? "
            "WHERE id = ? AND owner = ? AND state = ?",
            (now + lease_s, now, job_id, owner, RUNNING),
        )
        return count > 0

    async def finish(
        self,
        job_id: str,
        owner: str,
        state: str,
        *,
        error: str | None = None,
        summary: dict[str, Any] | None = None,
    ) -> bool:
        count = await self.db.execute(
            "UPDATE jobs SET state = ?, error = ?, summary = ?, lease_until = 0, updated_at = ? "
            "WHERE id = ? AND owner = ?",
            (
                state,
                error,
                orjson.dumps(summary).decode() if summary else None,
                time.time(),
                job_id,
                owner,
            ),
        )
        return count > 0

    async def release(self, job_id: str, owner: str) -> None:
        """Give a running job back (graceful shutdown): claimable at once by anyone."""
        await self.db.execute(
            "UPDATE jobs SET state = ?, owner = NULL, lease_until = 0, updated_at = ? "
            "WHERE id = ? AND owner = ? AND state = ?",
            (PENDING, time.time(), job_id, owner, RUNNING),
        )

    async def active(self, manifest: str) -> Job | None:
        """The pending or running job of this manifest name, if any."""
        row = await self.db.fetchone(
            f"SELECT {_COLS} FROM jobs WHERE manifest = ? AND state IN (?, ?) "
            "ORDER BY created_at, id LIMIT 1",
            (manifest, PENDING, RUNNING),
        )
        return _job(row) if row else None

    async def get(self, job_id: str) -> Job | None:
        row = await self.db.fetchone(f"SELECT {_COLS} FROM jobs WHERE id = ?", (job_id,))
        return _job(row) if row else None

    async def all(self) -> list[Job]:
        rows = await self.db.fetchall(f"SELECT {_COLS} FROM jobs ORDER BY created_at, id")
        return [_job(r) for r in rows]

    async def counts(self) -> dict[str, int]:
        rows = await self.db.fetchall("SELECT state, COUNT(*) FROM jobs GROUP BY state")
        counts = {state: 0 for state in (PENDING, RUNNING, DONE, FAILED)}
        counts.update({state: int(n) for state, n in rows})
        return counts
