"""Chunked imports on procrastinate, on the catalog's PostgreSQL (its schema comes with the
catalog's migrations). Four tasks and a sweeper, each a thin call into the application
(``chunked.py``):

- ``ingest.manifest`` (queueing lock: the import id, i.e. the manifest's content hash and the
  version): record the chunks, defer one ``ingest.chunk`` job per chunk not yet ended;
- ``ingest.chunk`` (lock per chunk): run it; a failure with attempts left raises, so
  procrastinate's retry strategy runs it again; the chunk that ends last defers
  ``ingest.finalize`` (lock per import), which merges the report once;
- ``ingest.housekeeping``, periodic (hourly): procrastinate's ``remove_old_jobs`` removes the
  finished jobs (succeeded, failed, cancelled, aborted) older than ``queue_retention_days``;
  waiting and running ones stay. An ordinary job: a worker runs it when it has a free slot,
  which is soon enough for housekeeping (the sweeper, which is not, runs beside the worker);
- the sweeper (``sweeper.py``), beside every worker: jobs of workers that sent no heartbeat
  for ``chunk_stalled_s`` (a SIGKILLed worker) are retried, so another worker takes them (chunk
  jobs and the daemons' inbox jobs alike).

An import started by a daemon's inbox job (``daemon/jobs.py``) has an ``origin``: its finalize
then queues ``ingest.inbox_end`` on that daemon's inbox queue, which writes the one report and
moves the manifest (only daemons watching that inbox can).

procrastinate speaks psycopg 3: it has its own small pool beside the catalog's asyncpg pool.
SIGTERM: the worker stops fetching and cancels its running chunks at once; each lets its
in-flight groups commit (``shutdown_grace_s``), hands its chunk back as pending and queues a
new job for it (the cancelled job ends as aborted), which another worker takes at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import procrastinate
from procrastinate import builtin_tasks, exceptions
from procrastinate.job_context import JobContext

from ..catalog.chunks import DONE, ENDED, FAILED, PENDING
from ..report import Report
from ..service import Ingest

log = logging.getLogger("ingest.queue")

QUEUE = "ingest"
INBOX_END = "ingest.inbox_end"  # a daemon's task (daemon/jobs.py), deferred here by name
HOUSEKEEPING_CRON = "17 * * * *"  # hourly (minute 17)


class ChunkRetry(Exception):
    """A chunk failed and has attempts left: procrastinate runs it again."""


def queue_url(database_url: str) -> str:
    """The catalog's URL as psycopg takes it."""
    return database_url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def _defer(task: Any, lock: str, **kwargs: Any) -> None:
    """Defer under a queueing lock, unless a job of that lock is queued already."""
    await defer_once(task.configure(queueing_lock=lock), **kwargs)


async def defer_once(deferrer: Any, **kwargs: Any) -> bool:
    """Defer a job configured with a queueing lock; False when one is queued already."""
    try:
        await deferrer.defer_async(**kwargs)
    except exceptions.AlreadyEnqueued:  # queued already (a job that ran twice): once is enough
        return False
    return True


def build_queue(
    app: Ingest,
    worker: str,
    *,
    connector: Any = None,
    on_chunk: Callable[[str], None] | None = None,
    follower: Callable[[], Callable[[Report], None]] | None = None,
    on_upload: Callable[[float, bool], None] | None = None,
) -> procrastinate.App:
    """The procrastinate app of this process; ``worker`` names it in the chunk table;
    ``on_chunk(state)`` is told each chunk this process ended, ``follower()`` makes each
    chunk's progress callback (for metrics)."""
    settings = app.settings
    if connector is None:
        connector = procrastinate.PsycopgConnector(
            conninfo=queue_url(settings.database_url), min_size=1, max_size=4
        )
    queue = procrastinate.App(connector=connector)
    retry = procrastinate.RetryStrategy(
        max_attempts=settings.chunk_attempts, wait=1, retry_exceptions={ChunkRetry}
    )

    @queue.task(name="ingest.finalize", queue=QUEUE)
    async def finalize(import_id: str) -> None:
        record = await app.finalize_import(import_id)
        log.info("import %s: %s", record.state, record.manifest, extra={"job": import_id})
        if record.origin is not None:  # a daemon's inbox job: it ends on that inbox's queue
            origin = record.origin
            end = queue.configure_task(
                INBOX_END, queue=origin["queue"], queueing_lock=f"end-{import_id}"
            )
            await defer_once(end, job=origin["job"], name=origin["name"])

    @queue.task(name="ingest.chunk", queue=QUEUE, retry=retry)
    async def chunk(import_id: str, idx: int) -> None:
        try:
            progress = follower() if follower is not None else None
            state, last = await app.run_chunk(
                import_id, idx, worker, progress=progress, on_upload=on_upload
            )
        except asyncio.CancelledError:  # SIGTERM: handed back, so queued again at once
            await asyncio.shield(defer_chunks(queue, import_id, [idx]))
            raise
        if state is not None and on_chunk is not None:
            on_chunk(state)
        if state == PENDING:
            raise ChunkRetry(f"chunk {idx} of {import_id} failed; it is tried again")
        if state in (DONE, FAILED) and last:
            await defer_finalize(queue, import_id)

    @queue.task(name="ingest.manifest", queue=QUEUE)
    async def manifest(import_id: str, path: str, fmt: str, version_id: str) -> None:
        record = await app.plan_import(path, version_id, fmt=fmt, known_id=import_id)
        await queue_import(queue, app, record.id)

    @queue.periodic(cron=HOUSEKEEPING_CRON, periodic_id="ingest.housekeeping")
    @queue.task(
        name="ingest.housekeeping", queue=QUEUE, queueing_lock="ingest.housekeeping",
        pass_context=True,
    )  # fmt: skip
    async def housekeeping(context: JobContext, timestamp: int) -> None:
        await remove_finished_jobs(context, settings.queue_retention_days)

    return queue


async def remove_finished_jobs(context: JobContext, days: float) -> None:
    """procrastinate's ``remove_old_jobs``: finished jobs older than ``days`` (0: none)."""
    if days > 0:
        await builtin_tasks.remove_old_jobs(
            context, max_hours=max(1, round(days * 24)), remove_failed=True,
            remove_cancelled=True, remove_aborted=True,
        )  # fmt: skip


async def enqueue_import(
    queue: procrastinate.App,
    import_id: str,
    path: str,
    fmt: str,
    version_id: str,
) -> None:
    """Queue a manifest job (once per import id)."""
    await _defer(
        queue.tasks["ingest.manifest"],
        import_id,
        import_id=import_id,
        path=path,
        fmt=fmt,
        version_id=version_id,
    )


async def defer_finalize(queue: procrastinate.App, import_id: str) -> None:
    await _defer(queue.tasks["ingest.finalize"], f"finalize-{import_id}", import_id=import_id)


async def queue_import(queue: procrastinate.App, app: Ingest, import_id: str) -> None:
    """Queue the chunks of a planned import that have not ended, or its finalize when none
    is left (a manifest job run again after its last chunk ended)."""
    chunks = await app.chunk_table().chunks(import_id)
    await defer_chunks(queue, import_id, [c.idx for c in chunks if c.state not in ENDED])
    if chunks and all(part.state in ENDED for part in chunks):
        await defer_finalize(queue, import_id)


async def defer_chunks(queue: procrastinate.App, import_id: str, chunks: list[int]) -> None:
    """Queue chunk jobs (once per chunk while one is queued)."""
    for idx in chunks:
        await _defer(
            queue.tasks["ingest.chunk"], f"chunk-{import_id}-{idx}", import_id=import_id, idx=idx
        )


def worker_options(
    app: Ingest, concurrency: int, *, queues: tuple[str, ...] = (), stalled_s: float = 0
) -> dict[str, Any]:
    """procrastinate worker settings from ours: heartbeats thrice per stall period; SIGTERM
    cancels running chunks at once (they commit their in-flight groups and hand back).
    ``queues``: besides the chunk queue (a daemon's inbox queue)."""
    stalled = stalled_s or app.settings.chunk_stalled_s
    return {
        "queues": [*queues, QUEUE],
        "concurrency": concurrency,
        "install_signal_handlers": False,
        "shutdown_graceful_timeout": 0,
        "update_heartbeat_interval": max(0.5, stalled / 3),
        "stalled_worker_timeout": stalled,
        "fetch_job_polling_interval": 1.0,
        "abort_job_polling_interval": 1.0,
        "delete_jobs": "never",  # the queue's history: `ingest jobs shell`, ingest_jobs{state}
    }
