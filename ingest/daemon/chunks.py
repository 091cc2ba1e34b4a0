"""The daemon's large manifests as chunked imports (a folder inbox; JSONL in an S3 inbox).

A manifest of more than ``chunk_groups`` groups is not run by the daemon whose inbox job took
it: the job records the import (its id is the job's, its ``origin`` this inbox's queue) and
queues its chunks on the fleet's chunk queue, which every daemon and every ``ingest worker``
consumes (on SQLite, this daemon alone), then returns. The finalize of the last chunk queues
``ingest.inbox_end`` on the inbox's queue (``jobs.py``), which ends the job once: one merged
report in ``reports/``, the manifest moved to ``done/`` or ``failed/``. The same job run again
(a takeover, a restart on SQLite) finds the import and queues only its chunks not done.

In an S3 inbox the job cuts the copy it fetched, and the import names the manifest by its
``s3://`` URL and ETag: each chunk job reads its byte range only, with a ranged GET
(``rangeread.py``). CSV and Parquet manifests in an S3 inbox run whole.
"""

from __future__ import annotations

import asyncio

import procrastinate

from ..manifest import Manifest
from ..queue.pg import queue_import
from ..service import Ingest


class ChunkedJobs:
    """``s3_inbox``: the inbox's URL when it is an S3 prefix (chunks read by ranged GETs)."""

    def __init__(
        self, app: Ingest, queue: procrastinate.App, inbox_queue: str, s3_inbox: str | None
    ) -> None:
        self.app, self.queue, self.inbox_queue = app, queue, inbox_queue
        self.s3_inbox = s3_inbox

    async def wants(self, manifest: Manifest) -> bool:
        """True for a manifest of more lines (rows) than ``chunk_groups``."""
        if self.s3_inbox is not None and manifest.format != "jsonl":
            return False
        count = await asyncio.to_thread(manifest.count)
        return count is not None and count > self.app.settings.chunk_groups

    async def start(
        self, job: str, name: str, path: str, manifest: Manifest, version_id: str, content: str
    ) -> None:
        origin = {"queue": self.inbox_queue, "job": job, "name": name}
        location = None
        if self.s3_inbox is not None:
            location, origin["etag"] = f"{self.s3_inbox}/{name}", content
        await self.app.plan_import(
            path, version_id, fmt=manifest.format, known_id=job, origin=origin, location=location
        )
        await queue_import(self.queue, self.app, job)
