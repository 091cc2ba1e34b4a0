"""The sweeper of stalled workers' jobs: every process that runs a procrastinate worker (a
daemon, an ``ingest worker``) runs it beside its worker, every ``stalled_s / 3`` seconds; the
jobs of workers that sent no heartbeat for ``stalled_s`` (a SIGKILLed process) are retried, so
another worker takes them. One sweep at a time in the fleet (an advisory lock, ``locks.py``).

Why not procrastinate's periodic task (``@app.periodic``), used here before: two causes of a
killed worker's job left 'doing' for minutes.

- Its cron ``*/5 * * * * *`` meant "every second of every fifth minute", not "every 5 s":
  procrastinate's 6th cron column is the seconds, the first the minutes. The deferrer deferred
  one sweep at start-up (the last due time), then waited for the next fifth minute
  (``procrastinate.periodic`` at DEBUG: "waiting for next tasks to defer (180 s)").
- Even with a right cron, a periodic task is an ordinary job: it runs only when a worker has a
  free slot. With every slot held by a long chunk (``--jobs 1``, the default), the sweep waited
  behind them ("cannot be enqueued: there is already a job in the queue with the queueing lock
  ingest.sweep"), and so did the killed worker's chunk.

A coroutine beside the worker needs no slot and no schedule.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import procrastinate
from procrastinate import exceptions
from procrastinate.jobs import Status

from .locks import advisory_lock

log = logging.getLogger("ingest.queue")

SWEEP_LOCK = "ingest.sweep"


async def sweep_stalled(queue: procrastinate.App, stalled_s: float) -> int:
    """Retry the jobs of workers that sent no heartbeat for ``stalled_s`` (SIGKILLed); how
    many were retried. Does nothing while another process sweeps."""
    retried = 0
    async with advisory_lock(queue, SWEEP_LOCK, wait=False) as mine:
        if not mine:
            return 0
        manager = queue.job_manager
        for job in await manager.get_stalled_jobs(seconds_since_heartbeat=stalled_s):
            log.warning("retrying %s of a stalled worker", job.call_string)
            try:
                await manager.retry_job(job)
            except exceptions.UniqueViolation:
                # a copy of it waits already (same queueing lock): that copy does the work
                log.warning("%s has a queued copy; this run ends as failed", job.call_string)
                await manager.finish_job(job, status=Status.FAILED, delete_job=False)
            except exceptions.ConnectorException as exc:  # it ended meanwhile: nothing to do
                log.info("%s not retried: %s", job.call_string, exc)
                continue
            retried += 1
    return retried


async def sweep_forever(queue: procrastinate.App, stalled_s: float) -> None:
    """``sweep_stalled`` every ``stalled_s / 3`` seconds (not on the in-memory connector: one
    process, nobody else's jobs to take over)."""
    if not isinstance(queue.connector, procrastinate.PsycopgConnector):
        return
    while True:
        await asyncio.sleep(max(0.5, stalled_s / 3))
        try:
            await sweep_stalled(queue, stalled_s)
        except Exception as exc:  # the database away for a moment: the next round tries again
            log.warning("stalled-job sweep failed: %s", exc)


async def run_worker(queue: procrastinate.App, options: dict[str, Any]) -> None:
    """procrastinate's worker (``worker_options``) with this process's sweeper beside it."""
    sweeper = asyncio.create_task(
        sweep_forever(queue, options["stalled_worker_timeout"]), name="ingest-sweep"
    )
    try:
        await queue.run_worker_async(**options)
    finally:
        sweeper.cancel()
        await asyncio.gather(sweeper, return_exceptions=True)
