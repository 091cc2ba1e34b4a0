"""Data and a live server for the web app's tests; also takes the screenshots in docs/.

``build_example(root)`` registers, through the library, a small "drive": FrameGroups of three
cameras with real PNGs (uploaded into the configured local store), boxes, polygons, an
ellipse, a mask, frame labels and metadata (one value is a ``<script>`` payload); a lone
SingleFrame; a Published version; and frames that reference remote (https, s3) objects.

    python -m tests.webshots docs/    # regenerate the README screenshots (tests/webshots.py)
"""

from __future__ import annotations

import contextlib
import os
import socket
import struct
import subprocess
import sys
import time
import urllib.request
import zlib
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import ingest
from ingest import DatasetVersion, FrameGroup, SingleFrame, runtime

from .envs import clean_env
from .images import write_png

XSS = '<script>window.__xss = 1</script><img src=x id="xss-img">'
T0 = 1_700_000_000.0
ROAD = (60, 120, 255)
CAR = (255, 60, 60)
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update"]


# ---------------------------------------------------------------- images


def _png(width: int, height: int, pixels: bytes) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    stride = width * 3
    raw = b"".join(b"\x00" + pixels[y * stride : (y + 1) * stride] for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 6))
        + chunk(b"IEND", b"")
    )


W, H, HORIZON = 320, 240, 100


CAR_BOX = (168, 150, 62, 44)  # x, y, w, h
SIGN = (58, 64, 15)  # cx, cy, r
ROAD_POLY = [140, HORIZON, 180, HORIZON, 300, 239, 20, 239]


def _in_road(x: int, y: int) -> bool:
    if y < HORIZON:
        return False
    t = (y - HORIZON) / (H - 1 - HORIZON)
    left = 140 + (20 - 140) * t
    right = 180 + (300 - 180) * t
    return left <= x <= right


@cache
def scene_png(variant: int = 0, step: int = 1) -> bytes:
    """A small road scene (sky, road, a red car, a yellow sign); ``variant`` tints it;
    ``step`` > 1 keeps every step-th pixel (a preview)."""
    if step > 1:
        full = _scene_pixels(variant)
        w, h = W // step, H // step
        small = bytearray(w * h * 3)
        for y in range(h):
            for x in range(w):
                i, j = (y * w + x) * 3, (y * step * W + x * step) * 3
                small[i : i + 3] = full[j : j + 3]
        return _png(w, h, bytes(small))
    return _png(W, H, _scene_pixels(variant))


@cache
def _scene_pixels(variant: int) -> bytes:
    tint = [(0, 0, 0), (25, -10, -30), (-20, 10, 25)][variant % 3]
    px = bytearray(W * H * 3)
    cx, cy, cw, ch = CAR_BOX
    sx, sy, sr = SIGN
    for y in range(H):
        for x in range(W):
            if y < HORIZON:
                k = y / HORIZON
                rgb = (int(110 + 90 * k), int(160 + 70 * k), int(230 + 20 * k))
            elif _in_road(x, y):
                rgb = (92, 94, 100)
                if abs(x - 160) < 2 and (y // 12) % 2 == 0:
                    rgb = (235, 235, 235)
            else:
                rgb = (70 + (y % 7), 130 + (x * y % 11), 60)
            if variant == 0 and cx <= x < cx + cw and cy <= y < cy + ch:
                rgb = (200, 40, 45) if y < cy + ch - 8 else (30, 30, 30)
                if cy + 6 <= y < cy + 18 and cx + 8 <= x < cx + cw - 8:
                    rgb = (150, 200, 235)
            if (x - sx) ** 2 + (y - sy) ** 2 <= sr * sr:
                rgb = (245, 200, 40)
            elif sx - 1 <= x <= sx + 1 and sy + sr < y < HORIZON + 20:
                rgb = (80, 80, 80)
            i = (y * W + x) * 3
            px[i] = max(0, min(255, rgb[0] + tint[0]))
            px[i + 1] = max(0, min(255, rgb[1] + tint[1]))
            px[i + 2] = max(0, min(255, rgb[2] + tint[2]))
    return bytes(px)


@cache
def mask_png() -> bytes:
    """The semantic mask of ``scene_png(0)``: road and car in their mask_labels colours."""
    px = bytearray(W * H * 3)
    cx, cy, cw, ch = CAR_BOX
    for y in range(H):
        for x in range(W):
            rgb = (0, 0, 0)
            if _in_road(x, y):
                rgb = ROAD
            if cx <= x < cx + cw and cy <= y < cy + ch:
                rgb = CAR
            i = (y * W + x) * 3
            px[i : i + 3] = bytes(rgb)
    return _png(W, H, bytes(px))


def _write(path: Path, data: bytes) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return str(path)


# ---------------------------------------------------------------- data


@dataclass
class Example:
    dataset: str
    draft_id: str
    published_id: str
    remote_id: str
    group_ids: list[str] = field(default_factory=list)
    single_id: str = "solo-0"
    odd_id: str = "odd id/ü #1?"
    files: dict[str, Path] = field(default_factory=dict)


def _group(root: Path, context: str, index: int, ts: float) -> FrameGroup:
    fg = FrameGroup(
        id=f"{context}-{index:03d}",
        context_id=context,
        timestamp=ts,
        metadata={"weather": "sunny" if index % 2 == 0 else "cloudy", "speed_kmh": 40 + index},
    )
    fg.add_global_annotation(labels=["urban"])
    folder = root / context / f"{index:03d}"
    front = SingleFrame(
        source=_write(folder / "front.png", scene_png(0)),
        masks_source={"semantic": _write(folder / "front_mask.png", mask_png())},
        context_id=context,
        timestamp=ts,
        metadata={"exposure": 0.01, "camera": "front"},
    )
    front.add_annotation(box2d_xywh=list(CAR_BOX), labels=["car"], confidence=0.92)
    front.add_annotation(poly2d_xy=ROAD_POLY, labels=["road"], confidence=0.8)
    sx, sy, sr = SIGN
    front.add_annotation(
        ellipse2d_xyrrt=[sx, sy, sr + 3, sr + 1, 0.3], labels=["sign"], confidence=0.61
    )
    front.add_annotation(labels=["day"])
    left = SingleFrame(
        source=_write(folder / "left.png", scene_png(1)),
        preview_uri=_write(folder / "left_preview.png", scene_png(1, step=4)),
        context_id=context,
        timestamp=ts,
        metadata={"camera": "left"},
    )
    left.add_annotation(box2d_xywh=[20, 150, 40, 60], labels=["pedestrian"], confidence=0.55)
    right = SingleFrame(
        source=_write(folder / "right.png", scene_png(2)),
        context_id=context,
        timestamp=ts,
        metadata={"camera": "right"},
    )
    fg["front"] = front
    fg["left"] = left
    fg["right"] = right
    return fg


async def build_example(
    root: Path, *, groups_per_context: int = 3, payload: bool = True
) -> Example:
    """Register the example data through the library (the runtime must be configured).

    ``payload``: put the ``<script>`` payload in the dataset description and in one metadata
    value (off for the screenshots)."""
    version = await DatasetVersion.create_new_dataset_async(
        "city-drive",
        description=f"Dash cams {XSS}" if payload else "Dash cams: front, left and right",
        tags=["road", "rgb"],
        version_name="v1",
    )
    await version.set_masks_labels_async({(0, 0, 0): ["background"], ROAD: ["road"], CAR: ["car"]})
    items: list[FrameGroup | SingleFrame] = []
    for c, context in enumerate(("drive-01", "drive-02")):
        for i in range(groups_per_context - c):
            items.append(_group(root, context, i, T0 + 100 * c + 0.1 * i))
    items[0]["front"].metadata["note"] = XSS if payload else "lens cleaned"
    solo = SingleFrame(
        source=str(write_png(root / "solo" / "solo.png", 32, 24, (90, 160, 90))),
        context_id="solo",
        timestamp=T0,
        metadata={"weather": "rain", "flag": True},
        id="solo-0",
    )
    solo.add_annotation(box2d_xywh=[4, 4, 10, 8], labels=["car"], confidence=0.5)
    items.append(solo)
    odd = SingleFrame(
        source=str(write_png(root / "odd" / "odd.png", 10, 10, (10, 10, 200))),
        context_id="zz-odd",
        timestamp=T0,
        id="odd id/ü #1?",
    )
    items.append(odd)
    failed = await version.add_frames_async(items)
    assert not failed, version.last_report

    archive = await DatasetVersion.create_new_dataset_async("archive", version_name="2023")
    old = _group(root / "archive", "old-drive", 0, T0 - 86400)
    failed = await archive.add_frames_async([old])
    assert not failed, archive.last_report
    await archive.publish_version_async()

    remote = await DatasetVersion.create_new_dataset_async("remote-refs", version_name="v1")
    web_frame = SingleFrame(
        source="https://example.com/cams/000001.jpg",
        width=640,
        height=480,
        id="web-1",
        context_id="web",
    )
    s3_group = FrameGroup(
        {"cam": SingleFrame(source="s3://sensor-bucket/raw/cam/000001.png", width=64, height=48)},
        id="s3-1",
        context_id="s3",
    )
    escape = SingleFrame(source="https://example.com/x.jpg", id="escape-1", context_id="x")
    failed = await remote.add_frames_async([web_frame, s3_group, escape])
    assert not failed, remote.last_report

    return Example(
        dataset="city-drive",
        draft_id=version.version_id,
        published_id=archive.version_id,
        remote_id=remote.version_id,
        group_ids=[i.id for i in items if isinstance(i, FrameGroup) and i.id],
        files={"front0": root / "drive-01" / "000" / "front.png"},
    )


# ---------------------------------------------------------------- live server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def live_server(database_url: str, storage_url: str, token: str | None) -> Iterator[str]:
    """Run ``run_server`` in a subprocess on a free loopback port; yield its base URL."""
    port = free_port()
    env = clean_env(INGEST_DATABASE_URL=database_url, INGEST_STORAGE_URL=storage_url)
    code = (
        "import sys; from ingest.web.server import run_server; "
        "run_server('127.0.0.1', int(sys.argv[1]), sys.argv[2] or None)"
    )
    root = Path(__file__).resolve().parent.parent
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(port), token or ""],
        env=env,
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                out = proc.stdout.read().decode() if proc.stdout else ""
                raise RuntimeError(f"the web server exited with {proc.returncode}:\n{out}")
            try:
                with urllib.request.urlopen(f"{base}/api/datasets", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the web server did not start within 30 s")
            time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def serving(
    root: Path, token: str, *builders: Callable[[Path], Awaitable[Any]]
) -> Iterator[tuple[str, list[Any]]]:
    """The library configured on a fresh SQLite catalog and local store under ``root`` (the
    ``INGEST_*`` variables set aside), the data of each builder (an async function of a folder,
    e.g. ``build_example``) registered, all served by ``live_server``: yields the base URL and
    what each builder returned."""
    (root / "objects").mkdir()
    database_url = f"sqlite:///{root / 'catalog.sqlite3'}"
    storage_url = f"file://{root / 'objects'}"
    saved_env = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith("INGEST_")}
    try:
        ingest.configure(database_url=database_url, storage_url=storage_url)
        built = [runtime.run_sync(build(root / f"data-{i}")) for i, build in enumerate(builders)]
        with live_server(database_url, storage_url, token) as base:
            yield base, built
    finally:
        runtime.close_all()
        os.environ.update(saved_env)
        ingest.configure()
