"""The ingestion daemon's worker: watch the inbox, claim jobs through leases, run the pipeline.

Modelled on arq's Worker: a semaphore bounds the jobs in progress; each job has a heartbeat
that renews its lease and cancels the job if the lease was lost; a job running longer than
``job_timeout_s`` is cancelled and failed; outcomes go to the jobs table and the metrics;
shutdown is two-phase (stop claiming, let in-flight groups finish within the grace period and
commit, release the lease; a second signal exits at once).
Discovery follows the inbox protocol (``inbox.py``): only settled manifests, one job per
(name, content) and generation, and before a job runs the name must still hold its content.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import socket
from dataclasses import dataclass

import orjson

from ..catalog.jobs import DONE, FAILED, PENDING, RUNNING, Job
from ..errors import IngestError
from ..logs import current_job
from ..manifest import Manifest
from ..report import Report
from ..service import Ingest
from .inbox import Arrival, Inbox, generation, job_id
from .metrics import Metrics

log = logging.getLogger("ingest.daemon")


@dataclass(frozen=True)
class WorkerOptions:
    dataset: str | None = None
    version: str | None = None
    create: bool = False
    worker_id: str = ""
    lease_s: float = 30.0
    max_attempts: int = 3
    poll_s: float = 2.0
    jobs: int = 1
    upload_retries: int | None = None


class JobTimeout(Exception):
    """A job ran longer than ``job_timeout_s``."""


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
        self.queue = app.job_queue()
        self.inbox = inbox
        self.options = options
        self.id = options.worker_id or default_worker_id()
        self.metrics = metrics or Metrics()
        self.stopping = asyncio.Event()
        self._wake = asyncio.Event()
        self._slots = asyncio.Semaphore(options.jobs)
        self._running: dict[str, asyncio.Task[None]] = {}
        self._discovering = asyncio.Lock()
        #: jobs cancelled at their timeout that did not stop within the grace period
        self.abandoned: set[asyncio.Task[Report]] = set()
        self.metrics.groups_in_flight.set_function(lambda: app.in_flight()[0])
        self.metrics.uploads_in_flight.set_function(lambda: app.in_flight()[1])

    # ------------------------------------------------------------------ main loop

    async def run(self) -> None:
        """Run until ``stop()``: discover manifests, claim and run jobs."""
        log.info("worker started", extra={"worker": self.id})
        watcher = asyncio.create_task(self._watch(), name="ingest-inbox-watch")
        try:
            await self.discover()
            while not self.stopping.is_set():
                await self._slots.acquire()
                if self.stopping.is_set():
                    self._slots.release()
                    break
                job = await self.queue.claim(self.id, self.options.lease_s)
                if job is None:
                    self._slots.release()
                    await self._idle()
                    continue
                task = asyncio.create_task(self._job(job), name=f"ingest-job-{job.id}")
                self._running[job.id] = task
                task.add_done_callback(functools.partial(self._done, job.id))
        finally:
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)
            await self.drain()
            log.info("worker stopped", extra={"worker": self.id})

    def _done(self, job_id: str, _task: asyncio.Task[None]) -> None:
        self._running.pop(job_id, None)
        self._slots.release()

    async def _idle(self) -> None:
        self._wake.clear()
        waiters = [
            asyncio.create_task(self._wake.wait()),
            asyncio.create_task(self.stopping.wait()),
        ]
        await asyncio.wait(
            waiters, timeout=self.options.poll_s, return_when=asyncio.FIRST_COMPLETED
        )
        for waiter in waiters:
            waiter.cancel()

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
            if await self.discover():
                self.wake()
        except IngestError as exc:
            log.warning("inbox scan failed: %s", exc)

    def wake(self) -> None:
        self._wake.set()

    async def discover(self) -> int:
        """Queue a job for every settled manifest that has none; how many were queued."""
        async with self._discovering:
            new = 0
            for arrival in await self.inbox.scan():
                new += await self._queue(arrival)
            return new

    async def _queue(self, arrival: Arrival) -> int:
        gen = 1
        while True:
            job = job_id(self.inbox.url, arrival.name, arrival.content, gen)
            known = await self.queue.get(job)
            if known is None:
                break
            if known.state in (PENDING, RUNNING):
                return 0
            gen += 1
        # this content under this name ran already: if the name still holds it (its manifest
        # moved away when the job ended), it was dropped again: a next generation
        if gen > 1 and await self.inbox.content(arrival.name) != arrival.content:
            return 0
        if not await self.queue.submit(job, arrival.name):
            return 0
        log.info("manifest queued", extra={"manifest": arrival.name, "job": job})
        return 1

    def stop(self) -> None:
        """Phase one: stop claiming; running jobs are cancelled and drain gracefully."""
        if not self.stopping.is_set():
            self.stopping.set()
            for task in self._running.values():
                task.cancel()

    async def drain(self) -> None:
        if self._running:
            await asyncio.gather(*self._running.values(), return_exceptions=True)

    # ------------------------------------------------------------------ one job

    async def _job(self, job: Job) -> None:
        current_job.set(job.id)
        log.info("job claimed", extra={"manifest": job.manifest, "worker": self.id})
        heartbeat = asyncio.create_task(self._heartbeat(job, asyncio.current_task()))
        content: str | None = None
        try:
            content = await self._verify(job)
            if content is None:
                return
            if job.attempts > self.options.max_attempts:
                await self._end(
                    job,
                    FAILED,
                    Report(),
                    f"gave up after {job.attempts - 1} "
                    f"attempts; last error: {job.error or 'worker lost'}",
                    content,
                )
                return
            report = await self._ingest_within_timeout(job)
            await self._end(job, DONE, report, None, content)
        except JobTimeout as exc:
            log.error("job failed: %s", exc, extra={"manifest": job.manifest})
            await self._end(job, FAILED, Report(), str(exc), content)
        except asyncio.CancelledError:
            if self.stopping.is_set():
                await asyncio.shield(self.queue.release(job.id, self.id))
                self.metrics.jobs_processed.labels("released").inc()
                log.info("job released at shutdown", extra={"manifest": job.manifest})
            raise
        except Exception as exc:  # a fatal job error: retried by a later claim, then failed
            message = f"{type(exc).__name__}: {exc}"
            log.error("job failed: %s", message, extra={"manifest": job.manifest})
            if job.attempts >= self.options.max_attempts:
                report = Report()
                await self._end(job, FAILED, report, message, content)
            else:
                await self.queue.finish(job.id, self.id, "pending", error=message)
        finally:
            heartbeat.cancel()
            await asyncio.gather(heartbeat, return_exceptions=True)

    async def _ingest(self, job: Job) -> Report:
        path = await self.inbox.fetch(job.manifest)
        manifest = Manifest(path, decode_processes=self.settings.decode_processes)
        try:
            sidecar = await self.inbox.sidecar(job.manifest)
            dataset = manifest.header.dataset or sidecar.get("dataset") or self.options.dataset
            version_name = manifest.header.version or sidecar.get("version") or self.options.version
            version = await self.app.resolve_version(
                dataset, version_name, create=self.options.create
            )
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
        log.info(
            "job ingested",
            extra={
                "manifest": job.manifest,
                "outcome": (
                    f"{s.groups_committed} committed, {s.groups_unchanged} unchanged, "
                    f"{s.groups_rejected} groups and {s.frames_rejected} frames rejected"
                ),
            },
        )
        return report

    async def _verify(self, job: Job) -> str | None:
        """The job's content when its manifest name still holds it; else the job ends here."""
        content = await self.inbox.content(job.manifest)
        if content is not None and (
            job_id(self.inbox.url, job.manifest, content, generation(job.id)) == job.id
        ):
            return content
        moved = await self.inbox.finished(job.manifest, job.id)
        if moved is not None:  # a worker died between moving the manifest and the catalog
            await self.queue.finish(job.id, self.id, moved, error=job.error)
            return None
        await self._end(
            job,
            FAILED,
            Report(),
            f"manifest {job.manifest} was removed or replaced before this job ran "
            "(a new content under that name is a job of its own)",
            None,
        )
        return None

    async def _ingest_within_timeout(self, job: Job) -> Report:
        """``_ingest``, cancelled after ``job_timeout_s`` (0 = no limit): JobTimeout then.

        A cancelled job gets the grace period to commit its in-flight groups; one that does
        not stop within it is abandoned (and ``/readyz`` says so) so the worker goes on."""
        limit = self.settings.job_timeout_s
        if limit <= 0:
            return await self._ingest(job)
        task = asyncio.create_task(self._ingest(job), name=f"ingest-run-{job.id}")
        try:
            await asyncio.wait({task}, timeout=limit)
        except asyncio.CancelledError:
            task.cancel()
            await asyncio.wait({task})
            raise
        if task.done():
            return task.result()
        task.cancel()
        await asyncio.wait({task}, timeout=self.settings.shutdown_grace_s + 5)
        if task.done():
            if not task.cancelled():
                task.exception()  # retrieved: the timeout is the error reported
        else:
            log.error("job did not stop after its timeout", extra={"manifest": job.manifest})
            self.abandoned.add(task)
            task.add_done_callback(self.abandoned.discard)
        raise JobTimeout(
            f"job timed out after {limit:g} s (job_timeout_s) and was cancelled; "
            "groups committed before that stay registered"
        )

    async def _end(
        self, job: Job, outcome: str, report: Report, error: str | None, content: str | None
    ) -> None:
        if not await self.queue.heartbeat(job.id, self.id, self.options.lease_s):
            log.warning("lease lost before the end; leaving the job to its new owner")
            return
        head = {
            "job": job.id,
            "manifest": job.manifest,
            "outcome": outcome,
            "error": error,
            "summary": report.summary.to_dict(),
        }
        body = (
            orjson.dumps(head)
            + b"\n"
            + b"".join(orjson.dumps(r.to_dict()) + b"\n" for r in report.rejected)
        )
        await self.inbox.finish(job.manifest, job.id, content, outcome, body)
        await self.queue.finish(
            job.id, self.id, outcome, error=error, summary=report.summary.to_dict()
        )
        self.metrics.jobs_processed.labels(outcome).inc()
        log.info("job %s", outcome, extra={"manifest": job.manifest, "error": error})

    async def _heartbeat(self, job: Job, task: asyncio.Task[None] | None) -> None:
        interval = max(0.2, self.options.lease_s / 3)
        while True:
            await asyncio.sleep(interval)
            try:
                kept = await self.queue.heartbeat(job.id, self.id, self.options.lease_s)
            except IngestError as exc:
                log.warning("heartbeat failed: %s", exc)
                continue
            if not kept and task is not None:
                log.warning("lease lost; stopping the job", extra={"manifest": job.manifest})
                task.cancel()
                return

    async def job_counts(self) -> dict[str, int]:
        counts = await self.queue.counts()
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
            log.info("signal: finishing in-flight groups, then releasing leases")
            worker.stop()
        else:
            os._exit(130)

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal)
    with contextlib.suppress(asyncio.CancelledError):
        await worker.run()
