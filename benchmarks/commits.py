"""Watch a catalog while ``ingest import`` runs: when groups become visible, and how steadily.

``CommitWatch(database_url)`` polls the catalog from a thread of the harness (never from the
measured process) every 50 ms with ``SELECT COUNT(*) FROM version_frames`` (one row per
committed group): SQLite opened read-only (``mode=ro``, so the poller never writes or locks),
PostgreSQL through asyncpg on the thread's own event loop. ``start(pid, t0)`` is called right
after the process is spawned (``t0`` = its spawn time), ``stop()`` right after it is reaped,
with one last poll, so the final commit is seen too.

The timeline gives:
- ``first_commit_s``: seconds from spawn to the first poll that sees a non-zero count (the
  first committed group, to within one poll interval);
- ``max_commit_gap_s``: the longest time between two successive count changes, from the first
  commit to the last (0 when everything came in one commit);
- ``commits_seen``: how many count changes the polls saw (commits closer than 50 ms merge);
- ``cpu_s_at_first_commit``: user + sys CPU of the measured process at the first commit
  (``/proc/<pid>/stat``), for reference.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import sqlite3
import threading
import time
from typing import Any

POLL_S = 0.05
_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def process_cpu_s(pid: int) -> float | None:
    """user + sys CPU seconds of a live process, from /proc/<pid>/stat (Linux), else None."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            fields = fh.read().rsplit(b")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _TICK  # utime, stime (fields 14, 15)
    except (OSError, IndexError, ValueError):
        return None


class CommitWatch:
    def __init__(self, database_url: str, poll_s: float = POLL_S) -> None:
        self.database_url = database_url
        self.poll_s = poll_s
        self.changes: list[tuple[float, int]] = []  # (seconds since spawn, count) on change
        self.cpu_at_first: float | None = None
        self.polls = 0
        self._pid: int | None = None
        self._t0 = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self, pid: int, t0: float) -> None:
        self._pid, self._t0 = pid, t0
        self._thread = threading.Thread(target=self._run, name="commit-watch", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)

    # -- polling ---------------------------------------------------------------------------

    def _run(self) -> None:
        if self.database_url.startswith("sqlite:///"):
            self._poll_sqlite(self.database_url.removeprefix("sqlite:///"))
        else:
            asyncio.run(self._poll_postgres())

    def _seen(self, count: int | None, final: bool = False) -> None:
        self.polls += 1
        if count is None:
            return
        last = self.changes[-1][1] if self.changes else 0
        if count != last:
            now = time.perf_counter() - self._t0
            if not self.changes and count and not final and self._pid is not None:
                self.cpu_at_first = process_cpu_s(self._pid)
            self.changes.append((now, count))

    def _poll_sqlite(self, path: str) -> None:
        conn: sqlite3.Connection | None = None

        def count() -> int | None:
            nonlocal conn
            try:
                if conn is None:
                    if not os.path.exists(path):
                        return None
                    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=0.02)
                return int(conn.execute("SELECT COUNT(*) FROM version_frames").fetchone()[0])
            except sqlite3.Error:  # not created or migrated yet, or busy: next poll
                if conn is not None:
                    conn.close()
                    conn = None
                return None

        try:
            while not self._stop.wait(self.poll_s):
                self._seen(count())
            self._seen(count(), final=True)
        finally:
            if conn is not None:
                conn.close()

    async def _poll_postgres(self) -> None:
        import asyncpg

        conn: Any = None

        async def count() -> int | None:
            nonlocal conn
            try:
                if conn is None:
                    conn = await asyncpg.connect(self.database_url, timeout=2)
                return int(await conn.fetchval("SELECT COUNT(*) FROM version_frames"))
            except (TimeoutError, asyncpg.PostgresError, OSError):
                return None

        try:
            while not self._stop.is_set():
                await asyncio.sleep(self.poll_s)
                self._seen(await count())
            self._seen(await count(), final=True)
        finally:
            if conn is not None:
                await conn.close()

    # -- results ---------------------------------------------------------------------------

    def summary(self, wall_s: float | None = None) -> dict[str, Any]:
        changes = [(min(t, wall_s) if wall_s else t, n) for t, n in self.changes if n]
        gaps = [b[0] - a[0] for a, b in itertools.pairwise(changes)]
        return {
            "first_commit_s": round(changes[0][0], 3) if changes else None,
            "groups_at_first_commit": changes[0][1] if changes else 0,
            "max_commit_gap_s": round(max(gaps), 3) if gaps else 0.0,
            "commits_seen": len(changes),
            "cpu_s_at_first_commit": self.cpu_at_first,
            "polls": self.polls,
            "timeline": [(round(t, 3), n) for t, n in changes[:400]],
        }
