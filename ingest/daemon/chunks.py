"""The daemon's large manifests as chunk jobs (PostgreSQL, a folder inbox).

A manifest of more than ``chunk_groups`` groups is not run by the daemon that holds its job:
its chunks go to procrastinate's queue, which every daemon and every ``ingest worker`` of the
fleet consumes, and the daemon holding the job waits for the import to end, then ends the job
as usual (one merged report in ``reports/``, the manifest moved to ``done/`` or ``failed/``
once). If that daemon dies, its lease expires and another daemon takes the job over: it finds
the same import (same id) and waits for it in turn. Smaller manifests run in the daemon.
"""

from __future__ import annotations

import asyncio
from typing import Any

from ..catalog.chunks import DONE, ENDED, RUNNING
from ..errors import IngestError
from ..manifest import Manifest
from ..queue.pg import defer_chunks
from ..report import Report
from ..service import Ingest


class ChunkedJobs:
    def __init__(self, app: Ingest, queue: Any) -> None:
        self.app = app
        self.queue = queue

    async def wants(self, manifest: Manifest) -> bool:
        """True for a manifest of more lines (rows) than ``chunk_groups``."""
        count = await asyncio.to_thread(manifest.count)
        return count is not None and count > self.app.settings.chunk_groups

    async def run(self, job_id: str, path: str, manifest: Manifest, version_id: str) -> Report:
        ident = f"{job_id}-{version_id}"
        await self.app.plan_import(path, version_id, fmt=manifest.format, known_id=ident)
        chunks = await self.app.chunk_table().chunks(ident)
        await defer_chunks(self.queue, ident, [c.idx for c in chunks if c.state not in ENDED])
        record = await self.app.chunk_table().get_import(ident)
        if record is not None and record.state == RUNNING and all(c.state in ENDED for c in chunks):
            await self.app.finalize_import(ident)  # a takeover after the last chunk ended
        record = await self.app.wait_import(ident)
        if record.state != DONE:  # the job fails (retried, then moved to failed/)
            raise IngestError(f"import {ident} {record.state}: {record.error or 'cancelled'}")
        return await self.app.import_report(ident)
