"""Invariant 1 and 2: SIGKILL an import at random moments; never a partial group, no duplicates."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

from ingest.frames import FrameGroup

from ..envs import clean_env
from ..images import write_png

CAMERAS = ("front", "front_left", "front_right", "rear", "rear_left", "rear_right")
GROUPS = 600

WORKER = """
import sys
from ingest import DatasetVersion, FrameGroup, SingleFrame
root = sys.argv[1]
version = DatasetVersion.create_version(dataset_name="Crash", version_name="v1")
def groups():
    for i in range({groups}):
        fg = FrameGroup(context_id="drive", timestamp=float(i))
        for cam in {cameras!r}:
            fg[cam] = SingleFrame(source=f"{{root}}/{{cam}}/{{i:05d}}.png")
        yield fg
failed = version.add_frames(groups(), upload_retries=1)
print("rejected", len(failed))
"""


def count_groups(database_url: str) -> int:
    import asyncio

    from ingest.catalog import open_catalog

    async def count() -> int:
        catalog = await open_catalog(database_url)
        try:
            row = await catalog.db.fetchone("SELECT COUNT(*) FROM version_frames")
            return int(row[0]) if row else 0
        finally:
            await catalog.close()

    return asyncio.run(count())


class GroupCounter:
    """``count_groups`` on one open catalog, for a poll loop: opening a catalog per poll took
    longer, on a loaded CI machine, than the import took to finish its remaining groups, so
    the kills landed after the end instead of mid-import."""

    def __init__(self, database_url: str) -> None:
        import asyncio

        from ingest.catalog import open_catalog

        self.loop = asyncio.new_event_loop()
        self.catalog = self.loop.run_until_complete(open_catalog(database_url))

    def __call__(self) -> int:
        query = self.catalog.db.fetchone("SELECT COUNT(*) FROM version_frames")
        row = self.loop.run_until_complete(query)
        return int(row[0]) if row else 0

    def close(self) -> None:
        self.loop.run_until_complete(self.catalog.close())
        self.loop.close()


def check_catalog(database_url: str, cameras: tuple[str, ...] = CAMERAS) -> tuple[int, set[str]]:
    """Every registered group is whole and points at whole objects; returns (groups, ids)."""
    import asyncio

    from ingest.catalog import open_catalog

    async def scan() -> list[tuple[str, bytes]]:
        catalog = await open_catalog(database_url)
        try:
            dataset = await catalog.get_dataset(name="Crash")
            version = await catalog.get_version(dataset_id=dataset.id, name="v1")
            return [(s.id, s.document) async for _, s in catalog.iter_frames(version.id)]
        finally:
            await catalog.close()

    rows = asyncio.run(scan())
    ids = set()
    for frame_id, document in rows:
        group = FrameGroup.from_doc(orjson.loads(document))
        assert sorted(group) == sorted(cameras), f"partial group {frame_id}: {sorted(group)}"
        for frame in group.values():
            path = Path(frame.source.removeprefix("file://"))
            assert path.is_file() and path.stat().st_size > 0, f"{frame.source} missing"
        ids.add(frame_id)
    assert len(ids) == len(rows)
    return len(rows), ids


@pytest.mark.slow
def test_sigkill_at_random_moments_never_leaves_a_partial_group(
    database_url: str, tmp_path: Path
) -> None:
    root = tmp_path / "in"
    for i in range(GROUPS):
        for cam in CAMERAS:
            write_png(root / cam / f"{i:05d}.png", 16, 12)
    script = tmp_path / "worker.py"
    script.write_text(WORKER.format(groups=GROUPS, cameras=CAMERAS))
    env = {
        **os.environ,
        "INGEST_DATABASE_URL": database_url,
        "INGEST_STORAGE_URL": f"file://{tmp_path / 'objects'}",
        "INGEST_COMMIT_BATCH_GROUPS": "4",
        "INGEST_COMMIT_INTERVAL_S": "0.01",
        "INGEST_CONCURRENCY": "4",
        "INGEST_GROUPS_IN_FLIGHT": "16",
        "INGEST_WORKERS": "1",
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
    }
    subprocess.run(
        [
            sys.executable,
            "-c",
            "from ingest import DatasetVersion as V; "
            "V.create_new_dataset('Crash', version_name='v1')",
        ],
        env=env,
        check=True,
    )
    rng = random.Random(1234)
    seen_progress = []
    counter = GroupCounter(database_url)
    for kill in range(12):
        # kill at a random moment past a rising threshold of committed groups, so every kill
        # lands mid-import however fast the machine is
        threshold = GROUPS * (kill + 1) // 14 + rng.randint(0, GROUPS // 30)
        proc = subprocess.Popen(
            [sys.executable, str(script), str(root)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 120
        while proc.poll() is None and time.monotonic() < deadline:
            if counter() >= threshold:
                break
            time.sleep(0.01)
        time.sleep(rng.uniform(0, 0.05))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        count, _ = check_catalog(database_url)
        seen_progress.append(count)
    counter.close()
    # most kills landed mid-import (else this test proves nothing)
    assert sum(0 < c < GROUPS for c in seen_progress) >= 8, seen_progress

    done = subprocess.run(
        [sys.executable, str(script), str(root)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "rejected 0" in done.stdout
    count, ids = check_catalog(database_url)
    assert count == GROUPS and len(ids) == GROUPS


STEADY_GROUPS = 1500


@pytest.mark.slow
def test_sigkill_at_35_to_95_percent_of_the_run_finds_committed_groups(
    sqlite_url: str, tmp_path: Path
) -> None:
    """Steady commits: with the default commit settings, a SIGKILL at any moment from 35% to
    95% of an ``add_frames`` run (by the clock, not at observed progress) finds whole groups
    committed, and the re-run finishes the rest."""
    root = tmp_path / "in"
    cameras = CAMERAS[:5]
    for i in range(STEADY_GROUPS):
        for cam in cameras:
            write_png(root / cam / f"{i:05d}.png", 16, 12)
    script = tmp_path / "worker.py"
    script.write_text(WORKER.format(groups=STEADY_GROUPS, cameras=cameras))
    base = clean_env()
    base["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    create = (
        "from ingest import DatasetVersion as V; V.create_new_dataset('Crash', version_name='v1')"
    )

    def fresh(name: str) -> dict[str, str]:
        env = {
            **base,
            "INGEST_DATABASE_URL": f"sqlite:///{tmp_path / name}.sqlite3",
            "INGEST_STORAGE_URL": f"file://{tmp_path / name}-objects",
        }
        subprocess.run([sys.executable, "-c", create], env=env, check=True)
        return env

    started = time.monotonic()  # the whole run, start-up included, is what a user waits for
    subprocess.run([sys.executable, str(script), str(root)], env=fresh("calibrate"), check=True)
    whole_run = time.monotonic() - started
    rng = random.Random(99)
    for kill in range(3):
        env = fresh(f"kill{kill}")
        fraction = rng.uniform(0.35, 0.95)
        proc = subprocess.Popen(
            [sys.executable, str(script), str(root)], env=env, stdout=subprocess.DEVNULL
        )
        time.sleep(fraction * whole_run)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        url = env["INGEST_DATABASE_URL"]
        count = count_groups(url)
        assert count > 0, f"nothing committed at {fraction:.0%} of a {whole_run:.1f}s run"
        check_catalog(url, cameras)  # whole groups only
        done = subprocess.run(
            [sys.executable, str(script), str(root)], env=env, capture_output=True, text=True
        )
        assert done.returncode == 0 and "rejected 0" in done.stdout, done.stderr
        assert count_groups(url) == STEADY_GROUPS
