"""The daemon's jobs on procrastinate: one manifest in the inbox (one content under one name) is
one ``ingest.inbox`` job on the inbox's own queue, run by any daemon watching that inbox. Its
queueing lock is the job id (the inbox, the name and the content's hash: one queued job per
content); its lock is the name (jobs of one name run one at a time).

- Before it runs, the name must still hold the job's content, else the job ends as failed
  ("replaced before this job ran").
- A manifest of more groups than ``chunk_groups`` (in an S3 inbox: a JSONL one) becomes a
  chunked import (``chunks.py``): its chunks go to the fleet's chunk queue and this job
  returns. The finalize of its last chunk queues ``ingest.inbox_end`` on this inbox's queue,
  which writes the ONE merged report and moves the manifest to ``done/`` or ``failed/``, once.
- A smaller manifest (or a CSV or Parquet one in an S3 inbox) runs whole here, cancelled after
  ``job_timeout_s``, then ends the same way.
- An error is retried (procrastinate's attempts; a stalled worker's job retried by the sweeper
  counts as one) until ``--max-attempts``, then the job ends as failed.
- SIGTERM cancels a running job at once: its in-flight groups commit within
  ``shutdown_grace_s`` and the job is queued again at once (another daemon may take it).

On PostgreSQL the queue is the fleet's, in the catalog's database; on SQLite it is
procrastinate's in-memory connector in the one daemon: the same tasks either way. What survives
a crash there is the inbox (a manifest not moved is queued again) and the chunk table (a chunked
import resumes at its first chunk not done).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson
import procrastinate

from ..catalog.chunks import DONE, FAILED, RUNNING
from ..logs import current_job
from ..manifest import Manifest
from ..queue.pg import INBOX_END, defer_once
from ..report import Report
from ..service import Ingest
from .inbox import Inbox, LocalInbox, generation, job_id
from .metrics import Metrics

if TYPE_CHECKING:
    from .chunks import ChunkedJobs

log = logging.getLogger("ingest.daemon")

TASK = "ingest.inbox"
#: procrastinate's job statuses as the ``ingest_jobs{state}`` gauge names them
_STATES = {"todo": "pending", "doing": "running", "succeeded": "done", "failed": "failed",
           "cancelled": "cancelled", "aborted": "cancelled"}  # fmt: skip


@dataclass(frozen=True)
class WorkerOptions:
    dataset: str | None = None
    version: str | None = None
    create: bool = False
    worker_id: str = ""
    lease_s: float = 0.0  # a worker silent this long is stalled (0: chunk_stalled_s)
    max_attempts: int = 3
    poll_s: float = 2.0
    jobs: int = 1
    upload_retries: int | None = None


def inbox_queue(inbox_url: str) -> str:
    """The queue of an inbox's jobs: a short name (PostgreSQL's NOTIFY channel, which
    procrastinate names after the queue, takes at most 63 bytes)."""
    return "inbox-" + hashlib.blake2b(inbox_url.encode(), digest_size=8).hexdigest()


class JobTimeout(Exception):
    """A job ran longer than ``job_timeout_s``."""


class JobRetry(Exception):
    """A job failed with attempts left: procrastinate runs it again."""


class InboxJobs:
    def __init__(
        self,
        app: Ingest,
        inbox: Inbox,
        options: WorkerOptions,
        metrics: Metrics,
        worker_id: str,
        stopping: asyncio.Event,
    ) -> None:
        self.app, self.inbox, self.options = app, inbox, options
        self.metrics, self.worker_id, self.stopping = metrics, worker_id, stopping
        self.queue_name = inbox_queue(inbox.url)
        self.chunked: ChunkedJobs | None = None  # large manifests as chunk jobs
        self.queue: procrastinate.App | None = None
        #: jobs cancelled at their timeout that did not stop within the grace period
        self.abandoned: set[asyncio.Task[Report | None]] = set()

    def register(self, queue: procrastinate.App) -> None:
        """This daemon's tasks on its procrastinate app."""
        self.queue = queue
        retry = procrastinate.RetryStrategy(
            max_attempts=self.options.max_attempts, wait=0, retry_exceptions={JobRetry}
        )

        async def inbox_job(context: Any, job: str, name: str) -> None:
            await self.run(job, name, context.job.attempts + 1)

        queue.task(name=TASK, queue=self.queue_name, pass_context=True, retry=retry)(inbox_job)
        queue.task(name=INBOX_END, queue=self.queue_name)(self.end_import)

    def _lock(self, name: str) -> str:
        return f"{self.inbox.url}#{name}"  # one job of a name at a time

    async def submit(self, job: str, name: str) -> bool:
        """Queue the job; False when it is queued already."""
        assert self.queue is not None
        task = self.queue.tasks[TASK].configure(queueing_lock=job, lock=self._lock(name))
        return await defer_once(task, job=job, name=name)

    async def active(self, job: str, *, resume: bool = False) -> bool:
        """True while the job is queued or running, its chunked import runs, or its end is
        queued. ``resume``: a running import does not count (a queue in memory, started
        again after a crash, has lost its chunk jobs: the job queues them again)."""
        assert self.queue is not None
        for lock in (job, f"end-{job}"):
            found = await self.queue.job_manager.list_jobs_async(queueing_lock=lock)
            if any(j.status in ("todo", "doing") for j in found):
                return True
        if resume:
            return False
        record = await self.app.chunk_table().get_import(job)
        return record is not None and record.state == RUNNING

    async def active_for(self, name: str) -> str | None:
        """The id of the queued or running job of this manifest name, if any."""
        assert self.queue is not None
        for j in await self.queue.job_manager.list_jobs_async(lock=self._lock(name)):
            if j.status in ("todo", "doing"):
                return str(j.task_kwargs["job"])
        return None

    async def counts(self) -> dict[str, int]:
        """This inbox's jobs by state (pending, running, done, failed, cancelled)."""
        assert self.queue is not None
        counts = {state: 0 for state in _STATES.values()}
        for row in await self.queue.job_manager.list_queues_async(queue=self.queue_name):
            for status, state in _STATES.items():
                counts[state] += int(row.get(status) or 0)
        return counts

    # ------------------------------------------------------------------ one job

    async def run(self, job: str, name: str, attempt: int) -> None:
        current_job.set(job)
        log.info("job claimed", extra={"manifest": name, "worker": self.worker_id})
        content: str | None = None
        try:
            content = await self._verify(job, name, attempt)
            if content is None:
                return
            if attempt > self.options.max_attempts:  # its workers died (stalled, retried)
                error = f"gave up after {attempt - 1} attempts; last error: worker lost"
                await self._end(job, name, FAILED, Report(), error, content, attempt)
                return
            report = await self._ingest_within_timeout(job, name, content)
            if report is not None:  # None: a chunked import, ended by its finalize
                await self._end(job, name, DONE, report, None, content, attempt)
        except JobTimeout as exc:
            log.error("job failed: %s", exc, extra={"manifest": name})
            await self._end(job, name, FAILED, Report(), str(exc), content, attempt)
        except asyncio.CancelledError:
            if self.stopping.is_set():  # its in-flight groups committed: queued again at once
                await asyncio.shield(self.submit(job, name))
                self.metrics.jobs_processed.labels("released").inc()
                log.info("job released at shutdown", extra={"manifest": name})
            raise
        except Exception as exc:
            message = f"{type(exc).__name__}: {exc}"
            log.error("job failed: %s", message, extra={"manifest": name})
            if attempt < self.options.max_attempts:
                if await self._copy_waits(job):
                    return  # the waiting copy is the retry
                raise JobRetry(message) from exc
            await self._end(job, name, FAILED, Report(), message, content, attempt)

    async def _copy_waits(self, job: str) -> bool:
        """Another daemon queued this job again while it ran (the queueing lock holds only
        while a job waits): that copy is the retry (procrastinate cannot put this one back)."""
        assert self.queue is not None
        found = await self.queue.job_manager.list_jobs_async(queueing_lock=job)
        return any(j.status == "todo" for j in found)

    async def _verify(self, job: str, name: str, attempt: int) -> str | None:
        """The job's content when its manifest name still holds it; else the job ends here."""
        content = await self.inbox.content(name)
        if content is not None and job_id(self.inbox.url, name, content, generation(job)) == job:
            return content
        if await self.inbox.finished(name, job) is not None:
            return None  # it ended already (a job run twice)
        error = (f"manifest {name} was removed or replaced before this job ran "
                 "(a new content under that name is a job of its own)")  # fmt: skip
        await self._end(job, name, FAILED, Report(), error, None, attempt)
        return None

    async def _ingest(self, job: str, name: str, content: str) -> Report | None:
        path = await self.inbox.fetch(name)  # an S3 inbox's: a copy, named by its URL
        named = None if isinstance(self.inbox, LocalInbox) else f"{self.inbox.url}/{name}"
        settings = self.app.settings
        manifest = Manifest(path, decode_processes=settings.decode_processes, name=named)
        try:
            sidecar = await self.inbox.sidecar(name)
            dataset = manifest.header.dataset or sidecar.get("dataset") or self.options.dataset
            version_name = manifest.header.version or sidecar.get("version") or self.options.version
            version = await self.app.resolve_version(
                dataset, version_name, create=self.options.create
            )
            if self.chunked is not None and await self.chunked.wants(manifest):
                await self.chunked.start(job, name, path, manifest, version.id, content)
                log.info("job chunked", extra={"manifest": name})
                return None
            report = await self.app.import_items(
                version.id,
                manifest,
                upload_retries=self.options.upload_retries,
                progress=self.metrics.follower(),
                on_upload=self.metrics.observe_upload,
            )
        finally:
            manifest.close()
        s = report.summary
        outcome = (
            f"{s.groups_committed} committed, {s.groups_unchanged} unchanged, "
            f"{s.groups_rejected} groups and {s.frames_rejected} frames rejected"
        )
        log.info("job ingested", extra={"manifest": name, "outcome": outcome})
        return report

    async def _ingest_within_timeout(self, job: str, name: str, content: str) -> Report | None:
        """``_ingest``, cancelled after ``job_timeout_s`` (0 = no limit): JobTimeout then.

        A cancelled job gets the grace period to commit its in-flight groups; one that does
        not stop within it is abandoned (and ``/readyz`` says so) so the worker goes on."""
        limit = self.app.settings.job_timeout_s
        if limit <= 0:
            return await self._ingest(job, name, content)
        run = self._ingest(job, name, content)
        task = asyncio.create_task(run, name=f"ingest-run-{job}")
        try:
            await asyncio.wait({task}, timeout=limit)
        except asyncio.CancelledError:
            task.cancel()
            await asyncio.wait({task})
            raise
        if task.done():
            return task.result()
        task.cancel()
        await asyncio.wait({task}, timeout=self.app.settings.shutdown_grace_s + 5)
        if task.done():
            if not task.cancelled():
                task.exception()  # retrieved: the timeout is the error reported
        else:
            log.error("job did not stop after its timeout", extra={"manifest": name})
            self.abandoned.add(task)
            task.add_done_callback(self.abandoned.discard)
        raise JobTimeout(
            f"job timed out after {limit:g} s (job_timeout_s) and was cancelled; "
            "groups committed before that stay registered"
        )

    async def end_import(self, job: str, name: str) -> None:
        """``ingest.inbox_end``: a chunked import has ended; end its job once (report, move)."""
        current_job.set(job)
        if await self.inbox.finished(name, job) is not None:
            return  # ended already (a job run twice)
        record = await self.app.chunk_table().get_import(job)
        if record is None or record.state == RUNNING:
            raise ValueError(f"import {job} has not ended")
        content = await self.inbox.content(name)
        if content is not None and job_id(self.inbox.url, name, content, generation(job)) != job:
            content = None  # the name holds another content now: that one stays
        outcome, error = DONE, None
        if record.state != DONE:
            outcome, error = FAILED, f"import {job} {record.state}: {record.error or 'cancelled'}"
        report = await self.app.import_report(job)
        await self._end(job, name, outcome, report, error, content, None)

    async def _end(
        self,
        job: str,
        name: str,
        outcome: str,
        report: Report,
        error: str | None,
        content: str | None,
        attempt: int | None,
    ) -> None:
        head = {"job": job, "manifest": name, "outcome": outcome, "error": error,
                "summary": report.summary.to_dict(), "worker": self.worker_id,
                "attempt": attempt}  # fmt: skip
        body = (
            orjson.dumps(head)
            + b"\n"
            + b"".join(orjson.dumps(r.to_dict()) + b"\n" for r in report.rejected)
        )
        await self.inbox.finish(name, job, content, outcome, body)
        self.metrics.jobs_processed.labels(outcome).inc()
        log.info("job %s", outcome, extra={"manifest": name, "error": error})
