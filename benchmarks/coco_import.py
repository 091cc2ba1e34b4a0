"""A 100,000-annotation COCO import next to the JSONL import of the same frames.

    .venv/bin/python benchmarks/coco_import.py [--images 10000] [--per-image 10] [--pairs 3]
                                               [--write benchmarks/RESULTS.md]

Both sides are ``ingest import`` processes on a fresh SQLite catalog, images by reference
(https file names with their sizes: no upload, so the figure is reading, converting, planning
and committing). The JSONL side imports the ``ingest export`` of the COCO import, so both
register the same documents. Runs alternate (COCO, JSONL, COCO, ...); the figures are medians
and the ratio the median of per-pair ratios. ``--write`` replaces the section between
``<!-- formats:begin -->`` and ``<!-- formats:end -->`` of that file (appended if absent).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
INGEST = str(Path(sys.executable).parent / "ingest")
BEGIN, END = "<!-- formats:begin -->", "<!-- formats:end -->"


def make_coco(path: Path, images: int, per_image: int) -> int:
    cats = [{"id": i + 1, "name": n} for i, n in enumerate(("car", "person", "bike", "sign"))]
    imgs, anns = [], []
    for i in range(images):
        imgs.append(
            {
                "id": i + 1,
                "file_name": f"https://data.example.com/coco/{i:08d}.jpg",
                "width": 1920,
                "height": 1080,
            }
        )
        for k in range(per_image):
            x, y = 10 + 37 * k, 20 + 11 * k
            anns.append(
                {
                    "id": len(anns) + 1,
                    "image_id": i + 1,
                    "category_id": k % 4 + 1,
                    "bbox": [x, y, 50, 80],
                    "area": 4000,
                    "iscrowd": 0,
                    "segmentation": [[x, y, x + 50, y, x + 50, y + 80, x, y + 80]],
                }
            )
    path.write_text(json.dumps({"images": imgs, "annotations": anns, "categories": cats}))
    return len(anns)


def timed(args: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU (user + sys of the child) seconds of one command."""
    before = os.times()
    start = time.perf_counter()
    done = subprocess.run([INGEST, *args], env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = os.times()
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed: {done.stderr}")
    return wall, (after.children_user - before.children_user) + (
        after.children_system - before.children_system
    )


def env_for(work: Path, run: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INGEST_")}
    env.update(
        INGEST_DATABASE_URL=f"sqlite:///{work / run}.sqlite3",
        INGEST_STORAGE_URL=f"file://{work / 'objects'}",
        PYTHONPATH=str(ROOT),
    )
    return env


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--images", type=int, default=10_000)
    p.add_argument("--per-image", type=int, default=10)
    p.add_argument("--pairs", type=int, default=3)
    p.add_argument("--write", type=Path, help="RESULTS.md to put the section in")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        coco = work / "instances.json"
        annotations = make_coco(coco, args.images, args.per_image)
        target = ["--dataset", "B", "--version", "v1", "--create", "--quiet"]
        first = env_for(work, "seed")
        timed(["import", "--format", "coco", str(coco), *target], first)
        manifest = work / "same.jsonl"
        timed(["export", "--dataset", "B", "--version", "v1", "-o", str(manifest)], first)
        rows: dict[str, list[tuple[float, float]]] = {"coco": [], "jsonl": []}
        for pair in range(args.pairs):
            rows["coco"].append(
                timed(
                    ["import", "--format", "coco", str(coco), *target], env_for(work, f"coco{pair}")
                )
            )
            rows["jsonl"].append(
                timed(["import", str(manifest), *target], env_for(work, f"jsonl{pair}"))
            )
    pairs = list(zip(rows["coco"], rows["jsonl"], strict=True))
    ratios = [c[0] / j[0] for c, j in pairs]
    cpu_ratios = [c[1] / j[1] for c, j in pairs]
    lines = [
        "## COCO import next to the JSONL import",
        "",
        f"`benchmarks/coco_import.py --images {args.images} --per-image {args.per_image} "
        f"--pairs {args.pairs}` ({time.strftime('%Y-%m-%d %H:%M:%S %z')}, "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores): "
        f"{args.images:,} images by reference, {annotations:,} COCO annotations (a box and a "
        "polygon each: two annotations of the document per COCO record), SQLite, one fresh "
        "process and catalog per run, alternating runs; medians.",
        "",
        "| input | wall s | CPU s | images/s | COCO annotations/s |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, runs in rows.items():
        wall = statistics.median(w for w, _ in runs)
        cpu = statistics.median(c for _, c in runs)
        lines.append(
            f"| {name} | {wall:.2f} | {cpu:.2f} | {args.images / wall:,.0f} | "
            f"{annotations / wall:,.0f} |"
        )
    lines += [
        "",
        f"COCO / JSONL wall time: {statistics.median(ratios):.2f}x, CPU time: "
        f"{statistics.median(cpu_ratios):.2f}x (medians of per-pair ratios: wall "
        f"{', '.join(f'{r:.2f}' for r in ratios)}; CPU {', '.join(f'{r:.2f}' for r in cpu_ratios)}"
        "). CPU is the steadier figure on a shared machine. The COCO side also parses the whole "
        "file and indexes annotations by image before the first frame (the format names images "
        "by id, in any order); both then plan and commit the same documents.",
        "",
    ]
    section = "\n".join(lines)
    print(section)
    if args.write:
        text = args.write.read_text() if args.write.exists() else ""
        if BEGIN in text and END in text:
            head, rest = text.split(BEGIN, 1)
            text = f"{head}{BEGIN}\n{section}\n{END}{rest.split(END, 1)[1]}"
        else:
            text = f"{text.rstrip()}\n\n{BEGIN}\n{section}\n{END}\n"
        args.write.write_text(text)


if __name__ == "__main__":
    main()
