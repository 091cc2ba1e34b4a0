"""The chunk queue's task logic on procrastinate's in-memory connector (a SQLite catalog in a
temp folder holds the chunk table): a manifest job defers one chunk job per chunk, the last
chunk defers one finalize, failures are retried then failed, and queueing locks dedupe."""

from __future__ import annotations

import asyncio
import collections
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from procrastinate.testing import InMemoryConnector

from ingest.config import Settings
from ingest.queue import QUEUE, build_queue
from ingest.queue.pg import enqueue_import
from ingest.service import Ingest


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[Ingest]:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'c.sqlite3'}",
        storage_url=f"file://{tmp_path / 'objects'}",
        chunk_groups=10,
        chunk_attempts=2,
    )
    async with Ingest(settings) as app:
        yield app


async def _setup(app: Ingest, tmp_path: Path, groups: int = 25) -> tuple[str, str, str]:
    path = tmp_path / "m.jsonl"
    path.write_text("".join(
        json.dumps({"id": f"g{i}", "frames": {"a": {"source": f"https://h/{i}.jpg"}}}) + "\n"
        for i in range(groups)
    ))  # fmt: skip
    version = await app.resolve_version("D", "v", create=True)
    ident = await app.new_import_id(str(path), version.id)
    return str(path), version.id, ident


async def _drain(queue: Any) -> None:
    """Run jobs until none is left to do (a retry is scheduled a second later)."""
    connector = queue.connector
    while True:
        await queue.run_worker_async(queues=[QUEUE], wait=False, install_signal_handlers=False)
        if not any(j["status"] == "todo" for j in connector.jobs.values()):
            return
        await asyncio.sleep(0.5)


def _tasks(connector: InMemoryConnector) -> collections.Counter[tuple[str, str]]:
    return collections.Counter((j["task_name"], j["status"]) for j in connector.jobs.values())


async def test_manifest_job_defers_chunks_and_the_last_one_finalizes(
    app: Ingest, tmp_path: Path
) -> None:
    path, version_id, ident = await _setup(app, tmp_path)
    connector = InMemoryConnector()
    ended: list[str] = []
    queue = build_queue(app, "w0", connector=connector, on_chunk=ended.append)
    async with queue.open_async():
        await enqueue_import(queue, ident, path, "jsonl", version_id)
        await enqueue_import(queue, ident, path, "jsonl", version_id)  # same lock: once
        await _drain(queue)
    tasks = _tasks(connector)
    assert tasks[("ingest.manifest", "succeeded")] == 1
    assert tasks[("ingest.chunk", "succeeded")] == 3
    assert tasks[("ingest.finalize", "succeeded")] == 1
    assert ended == ["done"] * 3
    record = await app.chunk_table().get_import(ident)
    assert record is not None and record.state == "done" and record.chunks == 3
    assert record.summary is not None and record.summary["groups_committed"] == 25
    assert await app.count_frames(version_id) == 25


async def test_a_failed_chunk_is_retried_then_fails_the_import(
    app: Ingest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, version_id, ident = await _setup(app, tmp_path)
    real = app.import_items
    calls: collections.Counter[int] = collections.Counter()

    async def flaky(version: str, manifest: Any, **kw: Any) -> Any:
        start = manifest.span.first_line
        calls[start] += 1
        if start == 11 and calls[start] == 1:
            raise OSError("catalog hiccup")  # chunk 1 fails once, then works
        if start == 21:
            raise OSError("always broken")  # chunk 2 fails every time
        return await real(version, manifest, **kw)

    monkeypatch.setattr(app, "import_items", flaky)
    connector = InMemoryConnector()
    queue = build_queue(app, "w0", connector=connector)
    async with queue.open_async():
        await enqueue_import(queue, ident, path, "jsonl", version_id)
        await _drain(queue)
    assert calls == {1: 1, 11: 2, 21: 2}  # chunk_attempts = 2
    chunks = {c.idx: c for c in await app.chunk_table().chunks(ident)}
    assert [chunks[i].state for i in range(3)] == ["done", "done", "failed"]
    assert "always broken" in (chunks[2].error or "")
    record = await app.chunk_table().get_import(ident)
    assert record is not None and record.state == "failed"
    assert "chunk 2: OSError: always broken" in (record.error or "")
    assert _tasks(connector)[("ingest.finalize", "succeeded")] == 1


async def test_a_chunk_that_ended_is_not_run_again(app: Ingest, tmp_path: Path) -> None:
    path, version_id, ident = await _setup(app, tmp_path)
    record = await app.plan_import(path, version_id, known_id=ident)
    assert await app.run_chunk(ident, 0, "w0") == ("done", False)
    assert await app.run_chunk(ident, 0, "w1") == (None, False)  # a job that ran twice
    again = await app.plan_import(path, version_id, known_id=ident)
    assert again.chunks == record.chunks == 3 and again.counts["done"] == 1  # no new chunks
    await app.run_chunk(ident, 1, "w0")
    assert await app.run_chunk(ident, 2, "w0") == ("done", True)  # the last one to end
