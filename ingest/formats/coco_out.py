"""COCO out: one file per version, or one per frame name (``front.json``...), that
``pycocotools.coco.COCO`` loads.

Annotations that share ``metadata["coco"]["id"]`` (a box, a polygon, keypoints of one COCO
record read by ``coco.py``) become one record again, with their RLE, visibility flags and other
fields, so a COCO import exports as it came. Categories keep the version's label set ids (its
``label_set`` metadata); labels it lacks get the next ids. What COCO cannot hold (ellipses,
frame labels, a second label, metadata outside ``coco``, masks not from an RLE, group fields) is
counted in ``Losses``. The file is built in memory: COCO is one JSON document.
"""

from __future__ import annotations

import os
from typing import Any

import orjson

from .common import LabelSet
from .losses import Losses, frames_of, shape_of

_HELD = {"box2d_xywh", "poly2d_xy", "keypoints"}


class CocoWriter:
    def __init__(self, label_set: list[dict[str, Any]], per_frame_name: bool = False) -> None:
        self.labels = LabelSet([dict(c) for c in label_set])
        self.per_frame_name = per_frame_name
        self.files: dict[str, dict[str, Any]] = {}
        self.losses = Losses("coco")

    def _file(self, name: str) -> dict[str, Any]:
        key = name if self.per_frame_name else "annotations"
        return self.files.setdefault(key, {"images": [], "annotations": [], "ids": set()})

    def add(self, doc: dict[str, Any]) -> None:
        if "frames" in doc:
            self.losses.group_parts(doc)
        for name, frame in frames_of(doc):
            self._frame(name or "frames", frame)

    def _frame(self, name: str, frame: dict[str, Any]) -> None:
        if not frame.get("width") or not frame.get("height"):  # a point cloud, a radar...
            self.losses.add("frames without width and height (not exported)")
            return
        out = self._file(name)
        meta = dict(frame.get("metadata") or {})
        coco_image = dict(meta.pop("coco", None) or {})
        self.losses.add("frame metadata (outside 'coco')", 1 if meta else 0)
        self.losses.add("preview URIs", 1 if frame.get("preview_uri") else 0)
        image_id = coco_image.get("id")
        if not isinstance(image_id, int) or image_id in out["ids"]:
            image_id = max(out["ids"], default=0) + 1
        out["ids"].add(image_id)
        rle_masks = set()
        records: dict[Any, dict[str, Any]] = {}
        for annotation in frame.get("annotations") or []:
            shape = shape_of(annotation)
            if shape is None and "coco" not in (annotation.get("metadata") or {}):
                self.losses.add("frame labels")  # (a COCO record with no shape is kept)
                continue
            if shape is not None and shape not in _HELD:
                self.losses.add(f"{shape} annotations")
                continue
            record = self._record(records, annotation, image_id)
            if shape == "box2d_xywh":
                record["bbox"] = annotation[shape]
            elif shape == "poly2d_xy":
                record["segmentation"] = annotation[shape]
            elif shape == "keypoints":
                record["keypoints"] = _keypoints(annotation[shape], record.pop("visibility", None))
                record["num_keypoints"] = sum(1 for v in record["keypoints"][2::3] if v > 0)
            if "rle" in record:
                record["segmentation"] = record.pop("rle")
                rle_masks.add(f"coco-{record['id']}")
        for record in records.values():
            _finish(record)
        self.losses.add("masks not from a COCO RLE", len(set(frame.get("masks") or {}) - rle_masks))
        out["annotations"] += records.values()
        out["images"].append(
            {
                **coco_image,
                "id": image_id,
                "file_name": coco_image.get("file_name", frame["source"]),
                "width": frame.get("width"),
                "height": frame.get("height"),
            }
        )

    def _record(
        self, records: dict[Any, dict[str, Any]], ann: dict[str, Any], image_id: int
    ) -> dict[str, Any]:
        """The COCO record ``ann`` is part of (by ``metadata.coco.id``), made on first use."""
        meta = dict(ann.get("metadata") or {})
        coco = dict(meta.pop("coco", None) or {})
        self.losses.add("annotation metadata (outside 'coco')", 1 if meta else 0)
        self.losses.add("labels past the first of an annotation", len(ann["labels"][1:]))
        key = coco.get("id", object())
        if key in records:
            return records[key]
        label = ann["labels"][0] if ann["labels"] else "object"
        self.labels.add(label)
        category = next(c["id"] for c in self.labels.categories if c["name"] == label)
        record = {**coco, "image_id": image_id, "category_id": category}
        if ann.get("confidence") is not None:
            record["score"] = ann["confidence"]
        records[key] = record
        return record

    def write(self, out_dir: str) -> list[str]:
        """Write the files into ``out_dir``; their paths."""
        os.makedirs(out_dir, exist_ok=True)
        given = [a.get("id") for f in self.files.values() for a in f["annotations"]]
        next_id = max((i for i in given if isinstance(i, int)), default=0) + 1
        paths = []
        for name, content in sorted(self.files.items()):
            taken: set[int] = set()
            for ann in content["annotations"]:  # ids unique in a file (two sources may share)
                if not isinstance(ann.get("id"), int) or ann["id"] in taken:
                    ann["id"], next_id = next_id, next_id + 1
                taken.add(ann["id"])
            doc = {
                "images": content["images"],
                "annotations": content["annotations"],
                "categories": self.labels.categories,
            }
            path = os.path.join(out_dir, f"{name}.json")
            with open(path, "wb") as fh:
                fh.write(orjson.dumps(doc))
            paths.append(path)
        return paths


def _keypoints(xy: list[float], visibility: list[int] | None) -> list[float]:
    count = len(xy) // 2
    flags = visibility if visibility and len(visibility) == count else [2] * count
    return [v for i in range(count) for v in (xy[2 * i], xy[2 * i + 1], flags[i])]


def _finish(record: dict[str, Any]) -> None:
    """The fields COCO readers expect: iscrowd, area (the box's, when not given)."""
    record.setdefault("iscrowd", 0)
    if "area" not in record:
        box = record.get("bbox")
        record["area"] = box[2] * box[3] if box else 0
    record.pop("visibility", None)
