"""Invariant 4: memory is bounded by the in-flight limits, not by the input's size."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = """
import asyncio, resource, sys
import ingest
from ingest import DatasetVersion, FrameGroup, SingleFrame
from ingest.runtime import new_event_loop

def groups(n):
    for g in range(n // 4):
        fg = FrameGroup(context_id=f"ctx-{g // 500}", timestamp=float(g))
        for cam in ("a", "b", "c", "d"):
            fg[cam] = SingleFrame(f"https://h/{cam}/{g:08d}.jpg", width=640, height=480,
                                  metadata={"cam": cam, "pad": "x" * 200})
        yield fg

async def main(n):
    version = await DatasetVersion.create_new_dataset_async("mem")
    failed = await version.add_frames_async(groups(n))
    assert failed == [] and version.last_report.summary.frames_registered == n
    await ingest.aclose()

new_event_loop().run_until_complete(main(int(sys.argv[1])))
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def run_peak_rss_kb(script: str, arg: str, tmp_path: Path, name: str) -> int:
    """Run ``script`` in a fresh interpreter on a fresh catalog; its peak RSS in KiB."""
    env = {
        **os.environ,
        # SQLite's page cache (64 MiB by default) fills with the catalog's size up to its cap, a
        # fixed bound of its own; 2 MiB leaves the pipeline's memory to measure
        "INGEST_DATABASE_URL": f"sqlite:///{tmp_path}/{name}.sqlite3?cache_mb=2",
        "INGEST_STORAGE_URL": f"file://{tmp_path}/objects",
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
    }
    out = subprocess.run(
        [sys.executable, "-c", script, arg],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    return int(out.stdout.strip().splitlines()[-1])


def peak_rss_kb(frames: int, tmp_path: Path) -> int:
    return run_peak_rss_kb(SCRIPT, str(frames), tmp_path, f"c{frames}")


@pytest.mark.slow
def test_peak_rss_does_not_grow_with_the_input(tmp_path: Path) -> None:
    # from 100,000 frames on, the in-flight windows are full (50,000 frames are still below
    # that steady state, ~10 MB less); 4x the input: peak RSS stays within a few MB
    small = peak_rss_kb(100_000, tmp_path)
    large = peak_rss_kb(400_000, tmp_path)
    assert large - small < 8 * 1024, (small, large)


MANIFEST_SCRIPT = """
import resource, subprocess, sys
from ingest.cli import main
code = main(["import", sys.argv[1], "--dataset", "m", "--version", "v1", "--create", "--quiet"])
assert code == 0, code
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def manifest_peak_rss_kb(frames: int, tmp_path: Path) -> int:
    path = tmp_path / f"m{frames}.jsonl"
    with open(path, "w") as fh:
        for g in range(frames // 4):
            frames_doc = ",".join(
                f'"{cam}": {{"source": "https://h/{cam}/{g:08d}.jpg", "width": 640, '
                f'"metadata": {{"pad": "{"x" * 200}"}}}}'
                for cam in ("a", "b", "c", "d")
            )
            fh.write(
                f'{{"context_id": "c{g // 500}", "timestamp": {g}, "frames": {{{frames_doc}}}}}\n'
            )
    return run_peak_rss_kb(MANIFEST_SCRIPT, str(path), tmp_path, f"m{frames}")


@pytest.mark.slow
def test_manifest_import_streams(tmp_path: Path) -> None:
    """The same through `ingest import` of a JSONL manifest: lines are streamed, not listed."""
    small = manifest_peak_rss_kb(100_000, tmp_path)
    large = manifest_peak_rss_kb(400_000, tmp_path)
    assert large - small < 8 * 1024, (small, large)
