"""procrastinate's queue on a real PostgreSQL: two daemons discovering one manifest at the
same moment queue one job; one stalled-job sweep at a time; the hourly housekeeping removes old
finished jobs only."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from procrastinate.jobs import Status

from ingest.config import Settings
from ingest.daemon.inbox import LocalInbox
from ingest.daemon.worker import Worker, WorkerOptions
from ingest.queue import QUEUE, build_queue
from ingest.queue.locks import advisory_lock
from ingest.queue.sweeper import SWEEP_LOCK, sweep_stalled
from ingest.service import Ingest

from ..pg import create_database


@pytest.fixture
def pg_url(pg_admin_url: str) -> str:
    return create_database(pg_admin_url)


@pytest.fixture
async def app(pg_url: str, tmp_path: Path) -> AsyncIterator[Ingest]:
    settings = Settings(database_url=pg_url, storage_url=f"file://{tmp_path / 'objects'}")
    async with Ingest(settings) as app:
        yield app


def _daemon(app: Ingest, inbox: Path, name: str) -> Worker:
    options = WorkerOptions(dataset="D", version="v", create=True, worker_id=name)
    return Worker(app=app, inbox=LocalInbox(str(inbox), 0), options=options)


async def test_two_discoveries_of_one_manifest_at_once_queue_one_job(
    app: Ingest, tmp_path: Path
) -> None:
    """Daemon A has checked that the manifest has no job and is about to queue it; daemon B
    discovers it then, and B's job (were it queued) starts at once. Without a lock spanning
    A's check and queueing, A would queue a second job (procrastinate's queueing lock holds
    only while a job waits)."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "drive.jsonl").write_text(json.dumps({"id": "g", "source": "https://h/1.jpg"}) + "\n")
    first, second = _daemon(app, inbox, "a"), _daemon(app, inbox, "b")
    checked, resume = asyncio.Event(), asyncio.Event()
    unqueued = first._unqueued

    async def paused(name: str, job: str) -> bool:
        answer = await unqueued(name, job)
        checked.set()
        await resume.wait()
        return answer

    first._unqueued = paused  # type: ignore[method-assign]
    async with first.queue.open_async(), second.queue.open_async():
        manager = first.queue.job_manager
        a = asyncio.create_task(first.discover())
        await asyncio.wait_for(checked.wait(), 10)
        b = asyncio.create_task(second.discover())
        await asyncio.wait({b}, timeout=1.0)  # B queues now, unless it waits for A's lock
        worker_id = await manager.register_worker()
        await manager.fetch_job(queues=None, worker_id=worker_id)  # a queued job starts
        resume.set()
        found = await asyncio.gather(a, b)
        jobs = list(await manager.list_jobs_async(task="ingest.inbox"))
    assert sorted(found) == [0, 1]
    assert len(jobs) == 1, [(j.id, j.status) for j in jobs]


async def test_one_sweep_at_a_time(app: Ingest, tmp_path: Path) -> None:
    worker = _daemon(app, tmp_path, "a")
    async with worker.queue.open_async():
        async with advisory_lock(worker.queue, SWEEP_LOCK, wait=False) as mine:
            assert mine
            async with advisory_lock(worker.queue, SWEEP_LOCK, wait=False) as theirs:
                assert not theirs  # another connection: another process's sweep skips
        async with advisory_lock(worker.queue, SWEEP_LOCK, wait=False) as again:
            assert again  # released with its transaction
        assert await sweep_stalled(worker.queue, 3) == 0


async def test_housekeeping_removes_old_finished_jobs_only(app: Ingest) -> None:
    queue = build_queue(app, "t")
    async with queue.open_async():
        manager = queue.job_manager
        ids = [await queue.configure_task(f"t.job{n}", queue="other").defer_async()
               for n in range(5)]  # fmt: skip
        await manager.cancel_job_by_id_async(ids[2])  # cancelled while it waited
        worker_id = await manager.register_worker()
        started = []
        for _ in range(3):
            job = await manager.fetch_job(queues=["other"], worker_id=worker_id)
            assert job is not None
            started.append(job)
        assert [job.id for job in started] == [ids[0], ids[1], ids[3]]
        await manager.finish_job(started[0], status=Status.SUCCEEDED, delete_job=False)
        await manager.finish_job(started[1], status=Status.FAILED, delete_job=False)
        async with queue.connector.pool.connection() as conn:  # type: ignore[attr-defined]
            await conn.execute("UPDATE procrastinate_events SET at = at - interval '8 days'")
        recent = await queue.configure_task("t.recent", queue="recent").defer_async()
        job = await manager.fetch_job(queues=["recent"], worker_id=worker_id)
        assert job is not None and job.id == recent
        await manager.finish_job(job, status=Status.SUCCEEDED, delete_job=False)

        assert (
            "ingest.housekeeping",
            "ingest.housekeeping",
        ) in queue.periodic_registry.periodic_tasks
        await queue.tasks["ingest.housekeeping"].defer_async(timestamp=0)
        await queue.run_worker_async(queues=[QUEUE], wait=False, install_signal_handlers=False)
        left = {
            j.id: j.status
            for q in ("other", "recent")
            for j in await manager.list_jobs_async(queue=q)
        }
    # 8 days old, past queue_retention_days (7): succeeded, failed, cancelled removed;
    # running, waiting and recent jobs kept
    assert left == {ids[3]: "doing", ids[4]: "todo", recent: "succeeded"}
