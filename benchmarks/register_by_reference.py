"""Register N by-reference frames (FrameGroups of 6 cameras) into a fresh SQLite catalog.

    .venv/bin/python benchmarks/register_by_reference.py [--frames 100000] [--cameras 6]

Prints frames/s (wall time of add_frames, commit included), CPU ms per frame and peak RSS.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ingest import DatasetVersion, FrameGroup, SingleFrame, configure
from ingest.runtime import new_event_loop

CAMERAS = ("front", "front_left", "front_right", "rear", "rear_left", "rear_right")


def groups(n_frames: int, cameras: int) -> Iterator[FrameGroup]:
    names = CAMERAS[:cameras] if cameras <= len(CAMERAS) else [f"cam{i}" for i in range(cameras)]
    for g in range(n_frames // cameras):
        fg = FrameGroup(context_id=f"drive-{g // 1000:04d}", timestamp=g * 0.1)
        for cam in names:
            frame = SingleFrame(
                source=f"https://data.example.com/drive/{cam}/{g:08d}.jpg",
                width=1920,
                height=1080,
                metadata={"camera": cam, "exposure_us": 800},
            )
            frame.add_annotation(box2d_xywh=[100, 200, 50, 80], labels=["car"], confidence=0.9)
            fg[cam] = frame
        yield fg


async def main(n_frames: int, cameras: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        configure(database_url=f"sqlite:///{tmp}/catalog.sqlite3", storage_url=f"file://{tmp}/o")
        version = await DatasetVersion.create_new_dataset_async("bench")
        cpu0, t0 = time.process_time(), time.perf_counter()
        rejected = await version.add_frames_async(groups(n_frames, cameras))
        wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        registered = await version.get_frame_count_async() * cameras
        assert not rejected and registered == n_frames // cameras * cameras
    return {
        "frames": registered,
        "seconds": round(wall, 3),
        "frames_per_s": round(registered / wall),
        "cpu_ms_per_frame": round(cpu * 1000 / registered, 4),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frames", type=int, default=100_000)
    parser.add_argument("--cameras", type=int, default=6)
    args = parser.parse_args()
    loop = new_event_loop()
    result = loop.run_until_complete(main(args.frames, args.cameras))
    for key, value in result.items():
        print(f"{key}: {value}")
