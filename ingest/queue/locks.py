"""PostgreSQL advisory locks on procrastinate's pool, for what procrastinate's own locks do not
cover across the fleet's processes:

- one sweep of stalled workers' jobs at a time (``sweeper.py``): two sweepers reading the same
  stalled job would both retry it, the second after another worker had taken it again;
- a manifest's check-then-queue (``daemon/worker.py``): procrastinate's queueing lock holds
  only while a job waits ('todo'), so two daemons discovering one manifest at the same moment
  could both queue it, the second once the first had started.

Transaction-scoped (``pg_advisory_xact_lock``): the lock ends with the transaction, even when
the process dies. On procrastinate's in-memory connector (SQLite: one process) there is
nothing to lock against.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import procrastinate

_LOCK = "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))"
_TRY_LOCK = "SELECT pg_try_advisory_xact_lock(hashtextextended(%s, 0))"


@contextlib.asynccontextmanager
async def advisory_lock(
    queue: procrastinate.App, key: str, *, wait: bool = True
) -> AsyncIterator[bool]:
    """Hold the fleet-wide lock ``key`` for the block; with ``wait=False`` yields False at
    once (and holds nothing) when another process holds it."""
    connector = queue.connector
    if not isinstance(connector, procrastinate.PsycopgConnector):
        yield True
        return
    async with connector.pool.connection() as conn, conn.transaction():
        cursor = await conn.execute(_LOCK if wait else _TRY_LOCK, (key,))
        row = await cursor.fetchone()
        yield wait or bool(row and row[0])
