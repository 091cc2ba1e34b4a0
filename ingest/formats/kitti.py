"""KITTI object in: ``<root>/<split>/image_2/NNNNNN.png`` with ``label_2/NNNNNN.txt``, and when
present ``velodyne/NNNNNN.bin`` (a second frame, ``velodyne``) and ``calib/NNNNNN.txt`` (the
group's ``metadata["kitti"]["calib"]``, matrices as lists of numbers).

Each sample is one FrameGroup. A label line ``type truncated occluded alpha x1 y1 x2 y2 h w l x
y z rotation_y [score]`` becomes a ``box2d_xywh`` of the camera frame, labelled ``type``; the
rest of the line (truncation, occlusion, alpha, the 3D dimensions, location and rotation in
camera coordinates, a score) stays in the annotation's ``metadata["kitti"]``. A bad line rejects
its sample, named ``label_2/000042.txt:3``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

from ..errors import ValidationError
from ..frames import FrameGroup, SingleFrame
from .common import Entry, FormatError, LabelSet, Pending, group_frames, reject

_NAMES = ("truncated", "occluded", "alpha")


class KittiReader:
    def __init__(self, path: str, *, split: str | None = None) -> None:
        base = os.path.abspath(path)
        if os.path.isdir(os.path.join(base, "image_2")):  # given the split folder itself
            self.root = base
        else:
            self.root = os.path.join(base, split or "training")
        if not os.path.isdir(os.path.join(self.root, "image_2")):
            raise FormatError(path, f"no KITTI object layout: {self.root}/image_2 is missing")
        self.split = os.path.basename(self.root)
        self.labels = LabelSet()

    def entries(self) -> Iterator[Entry]:
        return group_frames(self._records(), None)

    def _records(self) -> Iterator[Pending | Entry]:
        images = os.path.join(self.root, "image_2")
        for filename in sorted(os.listdir(images)):
            sample, ext = os.path.splitext(filename)
            if ext.lower() not in (".png", ".jpg", ".jpeg"):
                continue
            where = f"image_2/{filename}"
            try:
                group = self._group(sample, os.path.join(images, filename))
            except ValidationError as exc:  # one rejection per frame of the sample
                cloud = os.path.join(self.root, "velodyne", f"{sample}.bin")
                for name, path in (
                    ("image_2", os.path.join(images, filename)),
                    ("velodyne", cloud),
                ):
                    if name == "image_2" or os.path.isfile(path):
                        yield reject(exc.field, exc.reason, source=path, frame=name, group=sample)
                continue
            yield Pending(group, where, sample, sample)

    def _group(self, sample: str, image: str) -> FrameGroup:
        frames = {
            "image_2": SingleFrame(
                image,
                context_id=self.split,
                annotations=[
                    self._line(line.split(), f"{self.split}/label_2/{sample}.txt:{n}")
                    for n, line in _lines(os.path.join(self.root, "label_2", f"{sample}.txt"))
                ],
            )
        }
        cloud = os.path.join(self.root, "velodyne", f"{sample}.bin")
        if os.path.isfile(cloud):
            frames["velodyne"] = SingleFrame(
                cloud, context_id=self.split, content_type="application/octet-stream"
            )
        meta: dict[str, Any] = {"sample": sample}
        calib = os.path.join(self.root, "calib", f"{sample}.txt")
        if os.path.isfile(calib):
            meta["calib"] = _calib(calib, f"{self.split}/calib/{sample}.txt")
        return FrameGroup(frames, context_id=self.split, metadata={"kitti": meta})

    def _line(self, parts: list[str], where: str) -> dict[str, Any]:
        if len(parts) not in (15, 16):
            raise ValidationError(where, f"a label line has 15 or 16 fields, got {len(parts)}")
        try:
            values = [float(v) for v in parts[1:]]
        except ValueError:
            raise ValidationError(where, f"fields 2..{len(parts)} must be numbers") from None
        x1, y1, x2, y2 = values[3:7]
        if x2 < x1 or y2 < y1:
            raise ValidationError(where, f"box corners out of order: {x1} {y1} {x2} {y2}")
        kitti: dict[str, Any] = dict(zip(_NAMES, values[:3], strict=True))
        kitti["occluded"] = int(kitti["occluded"])
        kitti.update(dimensions_hwl=values[7:10], location_xyz=values[10:13], rotation_y=values[13])
        if len(values) == 15:
            kitti["score"] = values[14]
        self.labels.add(parts[0])
        return {
            "labels": [parts[0]],
            "box2d_xywh": [x1, y1, x2 - x1, y2 - y1],
            "metadata": {"kitti": kitti},
        }


def _lines(path: str) -> Iterator[tuple[int, str]]:
    if not os.path.isfile(path):
        return
    with open(path, encoding="utf-8", errors="replace") as fh:
        for number, line in enumerate(fh, 1):
            if line.strip():
                yield number, line


def _calib(path: str, where: str) -> dict[str, list[float]]:
    out = {}
    for number, line in _lines(path):
        key, _, rest = line.partition(":")
        try:
            out[key.strip()] = [float(v) for v in rest.split()]
        except ValueError:
            raise ValidationError(
                f"{where}:{number}", "calibration values must be numbers"
            ) from None
    return out
