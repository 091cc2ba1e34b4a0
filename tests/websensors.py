"""Sensor data for the web editor's tests and screenshots: the example drive (4 instants x 4
cameras, ``examples/drive``) with a mask whose pixels are label ids, point clouds (``.pcd``,
ASCII and binary) and a video source, registered through the library.
"""

from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass, field
from pathlib import Path

from ingest import DatasetVersion, FrameGroup, SingleFrame
from ingest.frames import item_from_doc

from .webfixtures import _png

DRIVE = Path(__file__).resolve().parent.parent / "examples" / "drive"
#: mask pixel values are label ids: (1, 1, 1) is a car, (2, 2, 2) the lane
MASK_LABELS = {(0, 0, 0): ["background"], (1, 1, 1): ["car"], (2, 2, 2): ["lane"]}
MASK_W, MASK_H = 160, 96
MASK_CAR = (41, 50, 36, 22)  # the rear camera's first car box
MASK_LANE = (76, 48, 8, 47)


def label_id_mask() -> bytes:
    px = bytearray(MASK_W * MASK_H * 3)
    for value, (x0, y0, w, h) in ((2, MASK_LANE), (1, MASK_CAR)):
        for y in range(y0, y0 + h):
            for x in range(x0, x0 + w):
                i = (y * MASK_W + x) * 3
                px[i : i + 3] = bytes((value, value, value))
    return _png(MASK_W, MASK_H, bytes(px))


def cloud_points() -> list[tuple[float, float, float]]:
    """A ground grid and a car-sized box on it (metres, z up)."""
    points = [(x * 0.5, y * 0.5, 0.0) for x in range(-30, 31) for y in range(-20, 21)]
    for i in range(600):
        t = i / 600
        points.append((4 + 4 * t, 2 + 1.8 * math.sin(7 * t * math.pi), 0.2 + 1.4 * (i % 7) / 7))
    return points


def pcd(points: list[tuple[float, float, float]], data: str) -> bytes:
    header = (
        "# .PCD v0.7 - Point Cloud Data file format\nVERSION 0.7\nFIELDS x y z\nSIZE 4 4 4\n"
        f"TYPE F F F\nCOUNT 1 1 1\nWIDTH {len(points)}\nHEIGHT 1\n"
        f"VIEWPOINT 0 0 0 1 0 0 0\nPOINTS {len(points)}\nDATA {data}\n"
    ).encode()
    if data == "ascii":
        return header + "".join(f"{x:.3f} {y:.3f} {z:.3f}\n" for x, y, z in points).encode()
    return header + b"".join(struct.pack("<fff", *p) for p in points)


@dataclass
class Sensors:
    dataset: str
    version_id: str
    group_ids: list[str] = field(default_factory=list)
    pcd_ids: dict[str, str] = field(default_factory=dict)
    video_id: str = "video-1"


async def build_sensors(root: Path) -> Sensors:
    """Register the example drive (the rear camera's first frame with a label-id mask), two
    point clouds and a video in a Draft version of dataset "sensors"."""
    root.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240  (test data, before any I/O)
    version = await DatasetVersion.create_new_dataset_async("sensors", version_name="v1")
    await version.set_masks_labels_async(MASK_LABELS)
    mask = root / "rear_mask.png"
    mask.write_bytes(label_id_mask())
    items: list[FrameGroup | SingleFrame] = []
    for n, line in enumerate((DRIVE / "manifest.jsonl").read_text().splitlines()):
        doc = json.loads(line)
        for frame in doc["frames"].values():
            frame["source"] = str(DRIVE / frame["source"])
        if n == 0:
            doc["frames"]["rear"]["masks"] = {"semantic": str(mask)}
        doc["id"] = f"drive-{n}"
        item = item_from_doc(doc)
        assert isinstance(item, FrameGroup)
        items.append(item)
    pcd_ids = {}
    for data in ("ascii", "binary"):
        path = root / f"lidar_{data}.pcd"
        path.write_bytes(pcd(cloud_points(), data))
        pcd_ids[data] = f"lidar-{data}"
        cloud = SingleFrame(source=str(path), id=pcd_ids[data], context_id="lidar")
        cloud.add_annotation(box3d_xyzwhxyzwh=[4, 2, 0, 4, 2, 8, 2, 1.6, 4, 2], labels=["car"])
        cloud.add_annotation(points3d_xyz=[(0, 0, 0), (1, 1, 0)], labels=["pole"])
        items.append(cloud)
    video = root / "clip.webm"
    video.write_bytes(b"\x1aE\xdf\xa3" + bytes(64))  # a WebM header's magic: not played here
    items.append(
        SingleFrame(source=str(video), id="video-1", context_id="video", content_type="video/webm")
    )
    failed = await version.add_frames_async(items)
    assert not failed, version.last_report
    return Sensors(
        dataset="sensors",
        version_id=version.version_id,
        group_ids=[f"drive-{n}" for n in range(4)],
        pcd_ids=pcd_ids,
    )
