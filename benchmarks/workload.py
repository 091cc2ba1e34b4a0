"""Deterministic multi-camera workloads for the benchmarks.

A workload is ``groups x cameras`` frames. For uploads, every frame is a real file
(``<root>/data/<camera>/<group:08d>.jpg``, pseudo-random bytes behind a JPEG marker, sizes
spread around a mean, fixed mtime), and a JSONL manifest (``ingest import`` document form)
lists one FrameGroup per line with ROIs and metadata per frame. For by-reference runs only
the manifest is written, streamed line by line, so a million frames never sit in memory.

The same ``(seed, groups, cameras, ...)`` always yields byte-identical files and manifests.

    .venv/bin/python benchmarks/workload.py DIR --groups 100 --cameras 6 --size-kb 64
    .venv/bin/python benchmarks/workload.py DIR --groups 166667 --by-reference
"""

from __future__ import annotations

import argparse
import json
import os
import random
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import orjson

CAMERAS = ("front", "front_left", "front_right", "rear", "rear_left", "rear_right")
LABELS = ("car", "truck", "pedestrian", "cyclist", "traffic_light", "sign")
FIXED_MTIME_NS = 1_700_000_000 * 1_000_000_000  # deterministic object keys across regenerations
JPEG_HEAD = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00"


def camera_names(cameras: int) -> list[str]:
    if cameras <= len(CAMERAS):
        return list(CAMERAS[:cameras])
    return [f"cam{i:02d}" for i in range(cameras)]


@dataclass(frozen=True)
class Spec:
    groups: int
    cameras: int = 6
    size_kb: int = 64  # mean file size; sizes spread uniformly over [0.5, 1.5] x mean
    seed: int = 1
    by_reference: bool = False
    base_url: str = "https://data.example.com/drive"

    @property
    def frames(self) -> int:
        return self.groups * self.cameras


@dataclass
class Workload:
    spec: Spec
    root: Path
    manifest: Path
    data_dir: Path | None  # None for by-reference workloads
    total_bytes: int

    @property
    def frames(self) -> int:
        return self.spec.frames

    def frame_paths(self) -> Iterator[tuple[str, Path]]:
        """(camera/name.jpg key, path) of every file, in manifest order."""
        assert self.data_dir is not None
        names = camera_names(self.spec.cameras)
        for g in range(self.spec.groups):
            for cam in names:
                rel = f"{cam}/{g:08d}.jpg"
                yield rel, self.data_dir / rel


def _size(rng: random.Random, mean_kb: int) -> int:
    mean = mean_kb * 1024
    return max(len(JPEG_HEAD) + 1, int(mean * (0.5 + rng.random())))


def _annotations(rng: random.Random, width: int, height: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for _ in range(rng.randint(1, 5)):
        x, y = rng.randint(0, width - 200), rng.randint(0, height - 200)
        w, h = rng.randint(10, 200), rng.randint(10, 200)
        if rng.random() < 0.25:
            out.append(
                {
                    "poly2d_xy": [x, y, x + w, y, x + w, y + h, x, y + h],
                    "labels": [rng.choice(LABELS)],
                    "confidence": round(rng.random(), 3),
                }
            )
        else:
            out.append(
                {
                    "box2d_xywh": [x, y, w, h],
                    "labels": [rng.choice(LABELS)],
                    "confidence": round(rng.random(), 3),
                    "metadata": {"track_id": rng.randint(0, 10_000)},
                }
            )
    if rng.random() < 0.3:
        out.append({"labels": ["night" if rng.random() < 0.5 else "day"]})  # a frame label
    return out


def group_doc(spec: Spec, g: int, rng: random.Random, source_of: Any) -> dict[str, Any]:
    """The document of group ``g`` (its random draws come from ``rng``, in a fixed order)."""
    frames = {}
    for c, cam in enumerate(camera_names(spec.cameras)):
        frames[cam] = {
            "source": source_of(cam, g),
            "width": 1920,
            "height": 1080,
            "content_type": "image/jpeg",
            "timestamp": round(g * 0.1 + c * 0.001, 6),
            "metadata": {
                "camera": cam,
                "exposure_us": rng.randint(100, 2000),
                "gain_db": round(rng.uniform(0, 24), 2),
                "frame_index": g,
            },
            "annotations": _annotations(rng, 1920, 1080),
        }
    return {
        "context_id": f"drive-{g // 1000:04d}",
        "timestamp": round(g * 0.1, 6),
        "metadata": {"vehicle": f"car-{spec.seed:02d}", "speed_kmh": rng.randint(0, 130)},
        "frames": frames,
    }


def generate(spec: Spec, root: str | Path) -> Workload:
    """Write the workload under ``root`` (created); return its description."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    manifest = root / "manifest.jsonl"
    rng = random.Random(spec.seed)
    total = 0
    data_dir: Path | None = None
    if spec.by_reference:

        def source_of(cam: str, g: int) -> str:
            return f"{spec.base_url}/{cam}/{g:08d}.jpg"

    else:
        data_dir = root / "data"
        for cam in camera_names(spec.cameras):
            (data_dir / cam).mkdir(parents=True, exist_ok=True)

        def source_of(cam: str, g: int) -> str:
            return f"data/{cam}/{g:08d}.jpg"

    with open(manifest, "wb", buffering=1 << 20) as out:
        for g in range(spec.groups):
            doc = group_doc(spec, g, rng, source_of)
            out.write(orjson.dumps(doc) + b"\n")
            if data_dir is None:
                continue
            for cam in doc["frames"]:
                size = _size(rng, spec.size_kb)
                path = data_dir / cam / f"{g:08d}.jpg"
                with open(path, "wb") as fh:
                    fh.write(JPEG_HEAD)
                    fh.write(rng.randbytes(size - len(JPEG_HEAD)))
                os.utime(path, ns=(FIXED_MTIME_NS, FIXED_MTIME_NS))
                total += size
    (root / "workload.json").write_text(json.dumps({**asdict(spec), "bytes": total}, indent=1))
    return Workload(spec, root, manifest, data_dir, total)


def ensure(spec: Spec, root: str | Path) -> Workload:
    """Reuse the workload under ``root`` if it was generated from the same spec."""
    root = Path(root)
    meta = root / "workload.json"
    if meta.exists():
        saved = json.loads(meta.read_text())
        total = saved.pop("bytes")
        if saved == asdict(spec) and (root / "manifest.jsonl").exists():
            data = None if spec.by_reference else root / "data"
            return Workload(spec, root, root / "manifest.jsonl", data, total)
    return generate(spec, root)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("root")
    parser.add_argument("--groups", type=int, default=100)
    parser.add_argument("--cameras", type=int, default=6)
    parser.add_argument("--size-kb", type=int, default=64)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--by-reference", action="store_true")
    args = parser.parse_args()
    spec = Spec(args.groups, args.cameras, args.size_kb, args.seed, args.by_reference)
    wl = generate(spec, args.root)
    print(f"{wl.frames} frames, {wl.total_bytes / 1e6:.1f} MB, manifest {wl.manifest}")


if __name__ == "__main__":
    main()
