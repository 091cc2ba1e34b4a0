"""Generate the example drive: 4 timestamps x 4 cameras of small real PNG images, with boxes,
a frame label and metadata per frame, and its manifest (examples/drive/manifest.jsonl).

    python examples/make_drive.py        # rewrites examples/drive/
"""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

HERE = Path(__file__).resolve().parent / "drive"
CAMERAS = {
    "front": (70, 110, 160),
    "left": (90, 140, 90),
    "right": (150, 120, 80),
    "rear": (110, 110, 130),
}
W, H = 160, 96
TIMESTAMPS = [1700000000.0 + 0.1 * i for i in range(4)]


def png(pixels: list[bytearray]) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    raw = b"".join(b"\x00" + bytes(row) for row in pixels)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", W, H, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )


def scene(sky: tuple[int, int, int], car_x: int) -> tuple[bytes, list[int]]:
    rows = []
    for y in range(H):
        row = bytearray()
        for x in range(W):
            if y < H // 2:  # sky gradient
                c = tuple(min(255, v + y) for v in sky)
            else:  # road with a lane marking
                c = (200, 200, 60) if abs(x - W // 2) < 2 and (y // 6) % 2 else (60, 60, 64)
            row += bytes(c)
        rows.append(row)
    box = [car_x, 50, 36, 22]
    for y in range(box[1], box[1] + box[3]):
        for x in range(box[0], box[0] + box[2]):
            rows[y][3 * x : 3 * x + 3] = bytes((190, 30, 30))
    return png(rows), box


def main() -> None:
    lines = []
    for i, ts in enumerate(TIMESTAMPS):
        group = {
            "context_id": "drive-2023-11-14",
            "timestamp": ts,
            "metadata": {"weather": "clear", "speed_kmh": 42 + i},
            "frames": {},
        }
        for n, (camera, sky) in enumerate(CAMERAS.items()):
            data, box = scene(sky, 20 + 25 * i + 7 * n)
            path = HERE / camera / f"{i:06d}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            group["frames"][camera] = {
                "source": f"{camera}/{i:06d}.png",
                "metadata": {"camera": camera, "exposure_us": 800 + 50 * n},
                "annotations": [
                    {"labels": ["car"], "confidence": 0.9, "box2d_xywh": box},
                    {"labels": ["lane"], "poly2d_xy": [[78, 48, 82, 48, 84, 95, 76, 95]]},
                    {"labels": ["day"]},
                ],
            }
        lines.append(json.dumps(group))
    (HERE / "manifest.jsonl").write_text("\n".join(lines) + "\n")
    print(f"wrote {len(lines)} groups x {len(CAMERAS)} cameras under {HERE}")


if __name__ == "__main__":
    main()
