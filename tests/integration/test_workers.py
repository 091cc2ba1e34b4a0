"""Storage worker processes: a big run deals its groups to them; what the report says, the
exact attempt counts and whole groups all hold as in one process."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

import ingest
from ingest import DatasetVersion, FrameGroup, SingleFrame
from ingest.pipeline import run as pipeline_run
from ingest.service import Ingest

from ..faultproxy import FaultProxy
from ..images import write_png
from .test_pipeline_s3 import groups_of, s3_lib  # noqa: F401 - fixture


@pytest.fixture(autouse=True)
def every_group_to_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Once started, workers take every group (not only after the 64th)."""
    monkeypatch.setattr(pipeline_run, "WORKERS_AFTER_GROUPS", 0)


def groups(root: Path, n: int, cameras: tuple[str, ...] = ("a", "b", "c")) -> list[FrameGroup]:
    out = []
    for i in range(n):
        fg = FrameGroup(context_id="drive", timestamp=float(i))
        for cam in cameras:
            fg[cam] = SingleFrame(str(write_png(root / cam / f"{i:04d}.png", 6 + i % 5, 4)))
        out.append(fg)
    return out


async def started(app: Ingest) -> list[int]:
    """Start the app's workers now; their process ids."""
    pool = app.workers()
    assert pool is not None
    assert await pool.started(), pool.failed
    return [w.process.pid for w in pool._workers]


async def test_a_big_run_deals_its_groups_to_worker_processes(
    alib: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pipeline_run, "WORKERS_AFTER_GROUPS", 8)
    version = await DatasetVersion.create_new_dataset_async("Workers")
    items = groups(tmp_path / "in", 60)
    settings = ingest.get_settings().replace(workers=2)
    timings: list[tuple[float, bool]] = []
    async with Ingest(settings) as app:
        pool = app.workers()
        assert pool is not None

        async def read() -> AsyncIterator[FrameGroup]:
            for item in items[:10]:
                yield item
            for _ in range(500):  # the run starts the workers once it has 8 groups
                if pool._starting is not None:
                    break
                await asyncio.sleep(0.01)
            assert await pool.started(), pool.failed
            for item in items[10:]:
                yield item

        report = await app.import_items(
            version.version_id, read(), on_upload=lambda s, ok: timings.append((s, ok))
        )
        assert pool.groups_dealt >= 50  # every group read once they were ready
        pids = [w.process.pid for w in pool._workers]
        assert len(set(pids)) == 2 and os.getpid() not in pids
    s = report.summary
    assert (s.groups_committed, s.frames_registered, s.objects_uploaded) == (60, 180, 180)
    assert len(timings) == 180 and all(ok for _, ok in timings)  # each upload observed once
    for item in items[::7]:
        stored = await version.get_frame_async(item.id)
        for name in ("a", "b", "c"):
            path = Path(stored[name].source.removeprefix("file://"))
            original = Path(item[name].source)
            assert path.read_bytes() == original.read_bytes()  # noqa: ASYNC240 - small files
            assert stored[name].width and stored[name].height  # read from the header


async def test_groups_are_stored_in_process_while_the_workers_start(
    alib: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The workers' start (0.3 s idle, 0.5-0.8 s at load 4) used to hold every group
    after the 64th, and so every commit; the groups are stored here meanwhile."""
    from ingest.pipeline.workers import WorkerPool

    monkeypatch.setattr(pipeline_run, "WORKERS_AFTER_GROUPS", 8)
    release = asyncio.Event()
    real_spawn = WorkerPool._spawn

    async def spawn(self: WorkerPool, number: int) -> Any:
        await release.wait()  # a start that takes as long as the run
        return await real_spawn(self, number)

    monkeypatch.setattr(WorkerPool, "_spawn", spawn)
    version = await DatasetVersion.create_new_dataset_async("Starting")
    items = groups(tmp_path / "in", 30)
    async with Ingest(ingest.get_settings().replace(workers=2)) as app:
        report = await asyncio.wait_for(app.import_items(version.version_id, items), 30)
        pool = app.workers()
        assert pool is not None and not pool.ready and pool.groups_dealt == 0
        release.set()
        assert await pool.started(), pool.failed
    assert (report.summary.groups_committed, report.summary.frames_registered) == (30, 90)


@pytest.mark.parametrize("fault", ["503", "reset"])
async def test_exact_attempts_and_rejections_from_a_worker(
    s3_lib: tuple[str, str],  # noqa: F811 - the fixture
    fault_proxy: FaultProxy,
    tmp_path: Path,
    fault: str,
) -> None:
    settings = ingest.get_settings().replace(workers=2)
    async with Ingest(settings) as app:
        await started(app)
        dataset = await app.create_dataset("W")
        version = await app.create_version(dataset, "v1")
        items = groups_of(tmp_path, 2, ("cam", "other"))
        fault_proxy.script("-cam-000000.png", [fault] * 2, method="PUT", contains=True)
        fault_proxy.script("-cam-000001.png", [fault] * 3, method="PUT", contains=True)
        report = await app.import_items(version.id, items, upload_retries=2)
    assert report.rejected_items == [items[1]]
    assert fault_proxy.count("PUT", "-cam-000000.png", contains=True) == 3
    assert fault_proxy.count("PUT", "-cam-000001.png", contains=True) == 3
    by_frame = {r.frame_name: r for r in report.rejected}
    assert by_frame["cam"].attempts == 3 and by_frame["cam"].error_class.startswith("Transient")
    assert by_frame["other"].error_class == "GroupRejected"
    assert report.summary.retries == 2 + 2


async def test_a_worker_that_dies_fails_only_its_groups_and_the_run_goes_on(
    s3_lib: tuple[str, str],  # noqa: F811 - the fixture
    fault_proxy: FaultProxy,
    tmp_path: Path,
) -> None:
    settings = ingest.get_settings().replace(workers=2, upload_timeout_s=30)
    async with Ingest(settings) as app:
        pids = await started(app)
        dataset = await app.create_dataset("Dies")
        version = await app.create_version(dataset, "v1")
        items = groups_of(tmp_path, 12, ("cam",))
        for i in range(12):  # every upload hangs a while: the kill lands mid-upload
            fault_proxy.script(f"-cam-{i:06d}.png", ["delay:2"], method="PUT", contains=True)
        run = asyncio.create_task(app.import_items(version.id, items, upload_retries=0))
        await asyncio.sleep(1.0)
        os.kill(pids[0], signal.SIGKILL)
        report = await asyncio.wait_for(run, 120)
    s = report.summary
    assert s.frames_registered + s.frames_rejected == 12
    assert 0 < s.frames_rejected < 12, [(r.error_class, r.message) for r in report.rejected]
    assert {r.message for r in report.rejected} == {"a storage worker exited (IncompleteReadError)"}


async def test_workers_that_started_are_stopped_when_another_fails_to_start(
    alib: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ingest.pipeline.workers import WorkerPool

    real_spawn = WorkerPool._spawn
    started: list[Any] = []

    async def spawn(self: WorkerPool, number: int) -> Any:
        if number == 1:
            await asyncio.sleep(0.5)  # the first worker is up by then
            raise RuntimeError("no more connections")
        worker = await real_spawn(self, number)
        started.append(worker)
        return worker

    monkeypatch.setattr(WorkerPool, "_spawn", spawn)
    settings = ingest.get_settings().replace(workers=2)
    async with Ingest(settings) as app:
        pool = app.workers()
        assert pool is not None
        assert not await pool.started()
        assert pool.failed == "RuntimeError: no more connections"
        assert len(started) == 1 and started[0].process.returncode is not None  # stopped
