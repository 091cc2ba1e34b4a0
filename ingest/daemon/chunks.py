"""The daemon's large manifests as chunked imports (a folder inbox).

A manifest of more than ``chunk_groups`` groups is not run by the daemon whose inbox job took
it: the job records the import (its id is the job's, its ``origin`` this inbox's queue) and
queues its chunks on the fleet's chunk queue, which every daemon and every ``ingest worker``
consumes (on SQLite, this daemon alone), then returns. The finalize of the last chunk queues
``ingest.inbox_end`` on the inbox's queue (``jobs.py``), which ends the job once: one merged
report in ``reports/``, the manifest moved to ``done/`` or ``failed/``. The same job run again
(a takeover, a restart on SQLite) finds the import and queues only its chunks not done.
"""

from __future__ import annotations

import asyncio

import procrastinate

from ..manifest import Manifest
from ..queue.pg import queue_import
from ..service import Ingest


class ChunkedJobs:
    def __init__(self, app: Ingest, queue: procrastinate.App, inbox_queue: str) -> None:
        self.app, self.queue, self.inbox_queue = app, queue, inbox_queue

    async def wants(self, manifest: Manifest) -> bool:
        """True for a manifest of more lines (rows) than ``chunk_groups``."""
        count = await asyncio.to_thread(manifest.count)
        return count is not None and count > self.app.settings.chunk_groups

    async def start(
        self, job: str, name: str, path: str, manifest: Manifest, version_id: str
    ) -> None:
        origin = {"queue": self.inbox_queue, "job": job, "name": name}
        await self.app.plan_import(
            path, version_id, fmt=manifest.format, known_id=job, origin=origin
        )
        await queue_import(self.queue, self.app, job)
