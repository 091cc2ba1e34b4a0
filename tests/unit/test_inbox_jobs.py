"""The daemon's tasks on procrastinate's in-memory connector (what a SQLite daemon runs): an
inbox manifest is queued once, a large one becomes chunk jobs whose finalize queues the
inbox's end job, which writes one merged report and moves the manifest once."""

from __future__ import annotations

import asyncio
import collections
import json
from pathlib import Path
from typing import Any

import pytest
from procrastinate.testing import InMemoryConnector

from ingest.config import Settings
from ingest.daemon.inbox import LocalInbox
from ingest.daemon.worker import Worker, WorkerOptions
from ingest.errors import ConfigError
from ingest.queue import QUEUE
from ingest.service import Ingest


async def _drain(worker: Worker) -> None:
    options = {"queues": [worker.jobs.queue_name, QUEUE], "install_signal_handlers": False}
    connector = worker.queue.connector
    assert isinstance(connector, InMemoryConnector)
    while any(j["status"] == "todo" for j in connector.jobs.values()):
        await worker.queue.run_worker_async(wait=False, **options)


def _tasks(worker: Worker) -> collections.Counter[tuple[str, str]]:
    jobs: Any = worker.queue.connector.jobs  # type: ignore[attr-defined]
    return collections.Counter((j["task_name"], j["status"]) for j in jobs.values())


async def test_a_large_manifest_is_chunked_and_ended_once(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    rows = [json.dumps({"id": f"g{i}", "source": f"https://h/{i}.jpg"}) for i in range(25)]
    rows[13] = "{not json"
    (inbox / "drive.jsonl").write_text("\n".join(rows) + "\n")
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'c.sqlite3'}",
                        storage_url=f"file://{tmp_path / 'objects'}", chunk_groups=10)  # fmt: skip
    async with Ingest(settings) as app:
        options = WorkerOptions(dataset="D", version="v", create=True, worker_id="t")
        worker = Worker(app=app, inbox=LocalInbox(str(inbox), 0), options=options)
        async with worker.queue.open_async():
            assert await worker.discover() == 1
            assert await worker.discover() == 0  # queued: once
            await _drain(worker)
            assert await worker.discover() == 0  # ended: moved away
            counts = await worker.job_counts()
        version = await app.resolve_version("D", "v")
        assert await app.count_frames(version.id) == 24
    tasks = _tasks(worker)
    assert tasks[("ingest.inbox", "succeeded")] == 1
    assert tasks[("ingest.chunk", "succeeded")] == 3
    assert tasks[("ingest.finalize", "succeeded")] == 1
    assert tasks[("ingest.inbox_end", "succeeded")] == 1
    assert counts["done"] == 2 and counts["pending"] == counts["running"] == 0
    (moved,) = (inbox / "done").glob("drive@*.jsonl")
    (report,) = (inbox / "reports").glob("drive@*.report.jsonl")
    head, *rejected = [json.loads(line) for line in report.read_text().splitlines()]
    assert head["outcome"] == "done" and moved.name.startswith("drive@")
    assert head["summary"]["groups_committed"] == 24 and head["summary"]["input_errors"] == 1
    assert len(rejected) == 1 and rejected[0]["where"].endswith("drive.jsonl:14")
    assert not (inbox / "drive.jsonl").exists()


async def test_a_second_sqlite_daemon_on_one_inbox_is_refused(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'c.sqlite3'}",
                        storage_url=f"file://{tmp_path / 'objects'}")  # fmt: skip
    async with Ingest(settings) as app:
        first = Worker(app=app, inbox=LocalInbox(str(tmp_path), 0), options=WorkerOptions())
        second = Worker(app=app, inbox=LocalInbox(str(tmp_path), 0), options=WorkerOptions())
        running = asyncio.create_task(first.run())
        for _ in range(500):  # until the first holds the inbox (its queue is open)
            if "open_async" in first.queue.connector.states:  # type: ignore[attr-defined]
                break
            await asyncio.sleep(0.01)
        with pytest.raises(ConfigError, match="one daemon per inbox"):
            await second.run()
        first.stop()
        await running
        third = Worker(app=app, inbox=LocalInbox(str(tmp_path), 0), options=WorkerOptions())
        third.stop()
        await third.run()  # the inbox is free again once the first stopped
