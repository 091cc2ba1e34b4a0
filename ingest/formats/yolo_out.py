"""YOLO out: ``data.yaml``, ``images/<split>/...`` (copied from the store) and
``labels/<split>/....txt`` that Ultralytics' loader reads.

The split and the file name come from ``metadata["yolo"]`` (a YOLO import), else ``train`` and
the source's name (``<frame name>/<name>`` for a frame of a group). Class ids follow the
version's label set order. Boxes and polygons are written normalized (a frame needs its width
and height); keypoints, ellipses, frame labels, confidences and metadata are counted as losses.
"""

from __future__ import annotations

import os
import posixpath
from typing import Any
from urllib.parse import urlparse

from .common import LabelSet
from .losses import Losses, frames_of, shape_of


class YoloWriter:
    def __init__(self, label_set: list[dict[str, Any]], per_frame_name: bool = False) -> None:
        self.labels = LabelSet(sorted((dict(c) for c in label_set), key=lambda c: c["id"]))
        self.per_frame_name = per_frame_name
        self.losses = Losses("yolo")
        self.copies: list[tuple[str, str]] = []  # (source URI, path under the output folder)
        self.rows: dict[str, list[str]] = {}  # label file (relative) -> lines
        self.taken: set[str] = set()

    def add(self, doc: dict[str, Any]) -> None:
        if "frames" in doc:
            self.losses.group_parts(doc)
        for name, frame in frames_of(doc):
            self._frame(name, frame)

    def _frame(self, name: str | None, frame: dict[str, Any]) -> None:
        meta = dict(frame.get("metadata") or {})
        yolo = meta.pop("yolo", None) or {}
        self.losses.add("frame metadata (outside 'yolo')", 1 if meta else 0)
        self.losses.add("masks", len(frame.get("masks") or {}))
        width, height = frame.get("width"), frame.get("height")
        if not width or not height:
            self.losses.add("frames without width and height (not exported)")
            return
        split = name if self.per_frame_name and name else yolo.get("split", "train")
        original = (meta.get("coco") or {}).get("file_name") or urlparse(frame["source"]).path
        file = yolo.get("file") or posixpath.basename(str(original))
        if name and not self.per_frame_name and "file" not in yolo:
            file = f"{name}/{file}"
        rel = f"{split}/{file}"
        stem, ext = posixpath.splitext(rel)
        suffix = 1
        while rel in self.taken:  # two sources of one name
            rel, suffix = f"{stem}-{suffix}{ext}", suffix + 1
        self.taken.add(rel)
        self.copies.append((frame["source"], f"images/{rel}"))
        lines = []
        for annotation in frame.get("annotations") or []:
            line = self._line(annotation, width, height)
            if line:
                lines.append(line)
        self.rows[posixpath.splitext(f"labels/{rel}")[0] + ".txt"] = lines

    def _line(self, ann: dict[str, Any], width: int, height: int) -> str | None:
        shape = shape_of(ann)
        if shape not in ("box2d_xywh", "poly2d_xy"):
            self.losses.add(f"{shape} annotations" if shape else "frame labels")
            return None
        self.losses.add("annotation metadata", 1 if ann.get("metadata") else 0)
        self.losses.add("confidences", 1 if ann.get("confidence") is not None else 0)
        self.losses.add("labels past the first of an annotation", len(ann["labels"][1:]))
        label = ann["labels"][0] if ann["labels"] else "object"
        self.labels.add(label)
        cls = [c["name"] for c in self.labels.categories].index(label)
        if shape == "box2d_xywh":
            x, y, w, h = ann[shape]
            values = [(x + w / 2) / width, (y + h / 2) / height, w / width, h / height]
        else:
            polygons = ann[shape]
            self.losses.add("polygons past the first of an annotation", len(polygons) - 1)
            values = [v / (width if i % 2 == 0 else height) for i, v in enumerate(polygons[0])]
        return " ".join([str(cls), *(repr(v) for v in values)])

    def write(self, out_dir: str) -> list[str]:
        import yaml

        splits = sorted({rel.split("/")[1] for rel in self.rows})
        paths = []
        for rel, lines in sorted(self.rows.items()):
            path = os.path.join(out_dir, rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w", encoding="utf-8") as fh:
                fh.write("".join(f"{line}\n" for line in lines))
        data = {
            "path": os.path.abspath(out_dir),
            **{s: f"images/{s}" for s in splits},
            "names": {i: c["name"] for i, c in enumerate(self.labels.categories)},
        }
        yaml_path = os.path.join(out_dir, "data.yaml")
        with open(yaml_path, "w", encoding="utf-8") as fh:
            yaml.safe_dump(data, fh, sort_keys=False)
        paths.append(yaml_path)
        self.copies = [(uri, os.path.join(out_dir, rel)) for uri, rel in self.copies]
        return paths
