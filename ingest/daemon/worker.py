"""The ingestion daemon's worker: watch the inbox, queue a job per manifest, run the queue.

Discovery follows the inbox protocol (``inbox.py``): only settled manifests, one job per
(name, content) and generation (a next generation once the manifest of the previous one was
moved to done/ or failed/). The jobs are procrastinate's (``jobs.py``); this process runs a
procrastinate worker on its inbox's queue and the fleet's chunk queue, ``--jobs`` at once.
Shutdown is two-phase: the first signal stops taking jobs and cancels the running ones (their
in-flight groups commit within the grace period, then they are queued again); a second signal
exits at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket

from procrastinate.testing import InMemoryConnector

from ..errors import IngestError
from ..queue.locks import advisory_lock
from ..queue.pg import build_queue, worker_options
from ..queue.sweeper import run_worker
from ..report import Report
from ..service import Ingest
from .chunks import ChunkedJobs
from .inbox import Arrival, Inbox, LocalInbox, job_id
from .jobs import InboxJobs, WorkerOptions
from .metrics import Metrics

log = logging.getLogger("ingest.daemon")

__all__ = ["Worker", "WorkerOptions", "default_worker_id", "run_until_signalled"]


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class Worker:
    def __init__(
        self,
        *,
        app: Ingest,
        inbox: Inbox,
        options: WorkerOptions,
        metrics: Metrics | None = None,
    ) -> None:
        self.app = app
        self.settings = app.settings
        self.inbox = inbox
        self.options = options
        self.id = options.worker_id or default_worker_id()
        self.metrics = metrics or Metrics()
        self.stopping = asyncio.Event()
        self._discovering = asyncio.Lock()
        self._queued: set[str] = set()  # jobs this process queued
        self.jobs = InboxJobs(app, inbox, options, self.metrics, self.id, self.stopping)
        # PostgreSQL: the fleet's queue in the catalog's database; SQLite: this process's own
        # (procrastinate's in-memory connector), the same tasks either way
        postgres = self.settings.database_url.startswith("postgres")
        self._in_memory = not postgres
        self._alone = self._in_memory and isinstance(inbox, LocalInbox)
        self.queue = build_queue(
            app,
            self.id,
            connector=None if postgres else InMemoryConnector(),
            on_chunk=self.metrics.chunk_ended,
            follower=self.metrics.follower,
            on_upload=self.metrics.observe_upload,
        )
        self.jobs.register(self.queue)
        s3_inbox = None if isinstance(inbox, LocalInbox) else inbox.url
        self.jobs.chunked = ChunkedJobs(app, self.queue, self.jobs.queue_name, s3_inbox)
        self.metrics.groups_in_flight.set_function(lambda: app.in_flight()[0])
        self.metrics.uploads_in_flight.set_function(lambda: app.in_flight()[1])

    @property
    def abandoned(self) -> set[asyncio.Task[Report | None]]:
        """Jobs cancelled at their timeout that did not stop within the grace period."""
        return self.jobs.abandoned

    # ------------------------------------------------------------------ main loop

    async def run(self) -> None:
        """Run until ``stop()``: discover manifests, run the queue's jobs."""
        log.info("worker started", extra={"worker": self.id})
        held = self.inbox.hold() if isinstance(self.inbox, LocalInbox) and self._alone else None
        options = worker_options(
            self.app,
            max(1, self.options.jobs),
            queues=(self.jobs.queue_name,),
            stalled_s=self.options.lease_s,
        )
        async with self.queue.open_async():
            watcher = asyncio.create_task(self._watch(), name="ingest-inbox-watch")
            runner = asyncio.create_task(run_worker(self.queue, options))
            stop = asyncio.create_task(self.stopping.wait())
            try:
                await self.discover()
                await asyncio.wait({runner, stop}, return_when=asyncio.FIRST_COMPLETED)
                if runner.done():
                    runner.result()  # the worker's error, if it ended on one
            finally:
                for task in (watcher, runner, stop):
                    task.cancel()
                await asyncio.gather(watcher, runner, stop, return_exceptions=True)
                if held is not None:
                    os.close(held)
        log.info("worker stopped", extra={"worker": self.id})

    async def _watch(self) -> None:
        settler = asyncio.create_task(self._settle_rescans(), name="ingest-inbox-settle")
        try:
            async for _ in self.inbox.changes(self.options.poll_s):
                await self._scan()
        finally:
            settler.cancel()
            await asyncio.gather(settler, return_exceptions=True)

    async def _settle_rescans(self) -> None:
        """Rescan when a manifest seen still changing may have settled (not only on events)."""
        while True:
            due = self.inbox.settle_due()
            await asyncio.sleep(self.options.poll_s if due is None else min(due + 0.05, 60))
            if due is not None:
                await self._scan()

    async def _scan(self) -> None:
        try:
            await self.discover()
        except IngestError as exc:
            log.warning("inbox scan failed: %s", exc)

    async def discover(self) -> int:
        """Queue a job for every settled manifest that has none; how many were queued."""
        async with self._discovering:
            new = 0
            for arrival in await self.inbox.scan():
                new += await self._queue(arrival)
            return new

    async def _queue(self, arrival: Arrival) -> int:
        name, gen = arrival.name, 1
        job = job_id(self.inbox.url, name, arrival.content, gen)
        # this content under this name ended already (its manifest was moved away): if the
        # name still holds it, it was dropped again: a next generation
        while await self.inbox.finished(name, job) is not None:
            gen += 1
            job = job_id(self.inbox.url, name, arrival.content, gen)
        if gen > 1 and await self.inbox.content(name) != arrival.content:
            return 0
        # the check and the queueing under one fleet-wide lock: procrastinate's queueing lock
        # holds only while a job waits, so another daemon's job of this manifest started
        # between the two would be queued again
        async with advisory_lock(self.queue, job):
            if not await self._unqueued(name, job):
                return 0
            self._queued.add(job)
            if not await self.jobs.submit(job, name):
                return 0
        log.info("manifest queued", extra={"manifest": name, "job": job})
        return 1

    async def _unqueued(self, name: str, job: str) -> bool:
        """True when the job is neither queued, running nor ended."""
        # a queue in memory lost its jobs with the process before this one: a job this process
        # has not queued yet is queued even while its import runs (it resumes that import)
        resume = self._in_memory and job not in self._queued
        if await self.jobs.active(job, resume=resume):
            return False
        # a job that ended between the check above and this one moved its manifest before its
        # state changed: looked at again now, it is seen (else it would be queued a second time)
        return await self.inbox.finished(name, job) is None

    def stop(self) -> None:
        """Phase one: stop taking jobs; running ones are cancelled and drain gracefully."""
        self.stopping.set()

    async def job_counts(self) -> dict[str, int]:
        counts = await self.jobs.counts()
        for state, n in counts.items():
            self.metrics.jobs.labels(state).set(n)
        return counts


async def run_until_signalled(worker: Worker) -> None:
    """Run the worker; SIGTERM/SIGINT stop it gracefully, a second one exits at once."""
    import signal

    loop = asyncio.get_running_loop()
    signals = 0

    def on_signal() -> None:
        nonlocal signals
        signals += 1
        if signals == 1:
            log.info("signal: finishing in-flight groups, then queueing running jobs again")
            worker.stop()
        else:
            os._exit(130)

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal)
    with contextlib.suppress(asyncio.CancelledError):
        await worker.run()
