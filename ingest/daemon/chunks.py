"""The daemon's large manifests as chunk jobs (a folder inbox).

A manifest of more than ``chunk_groups`` groups is not run by the daemon that holds its job:
its chunks go to procrastinate's queue, which every daemon and every ``ingest worker`` of the
fleet consumes, and the daemon holding the job waits for the import to end, then ends the job
as usual (one merged report in ``reports/``, the manifest moved to ``done/`` or ``failed/``
once). If that daemon dies, its lease expires and another daemon takes the job over: it finds
the same import (same id) and waits for it in turn. On SQLite the daemon runs the chunks
itself. Smaller manifests run whole in the daemon.
"""

from __future__ import annotations

import asyncio
from typing import Any

from ..catalog.chunks import DONE, ENDED, RUNNING, ImportRecord
from ..errors import IngestError
from ..manifest import Manifest
from ..queue.local import run_in_process
from ..queue.pg import defer_chunks
from ..report import Report
from ..service import Ingest


class ChunkedJobs:
    """``queue``: procrastinate's (PostgreSQL); None runs the chunks in this daemon (SQLite),
    one after the other: a daemon killed mid-manifest resumes from the chunk table when it
    (or another daemon) takes the job again."""

    def __init__(self, app: Ingest, queue: Any, worker: str) -> None:
        self.app, self.queue, self.worker = app, queue, worker

    async def wants(self, manifest: Manifest) -> bool:
        """True for a manifest of more lines (rows) than ``chunk_groups``."""
        count = await asyncio.to_thread(manifest.count)
        return count is not None and count > self.app.settings.chunk_groups

    async def run(self, job_id: str, path: str, manifest: Manifest, version_id: str) -> Report:
        ident = f"{job_id}-{version_id}"
        await self.app.plan_import(path, version_id, fmt=manifest.format, known_id=ident)
        if self.queue is None:
            return await self._report(ident, await run_in_process(self.app, ident, self.worker))
        chunks = await self.app.chunk_table().chunks(ident)
        await defer_chunks(self.queue, ident, [c.idx for c in chunks if c.state not in ENDED])
        known = await self.app.chunk_table().get_import(ident)
        if known is not None and known.state == RUNNING and all(c.state in ENDED for c in chunks):
            await self.app.finalize_import(ident)  # a takeover after the last chunk ended
        return await self._report(ident, await self.app.wait_import(ident))

    async def _report(self, ident: str, record: ImportRecord) -> Report:
        if record.state != DONE:  # the job fails (retried, then moved to failed/)
            raise IngestError(f"import {ident} {record.state}: {record.error or 'cancelled'}")
        return await self.app.import_report(ident)
