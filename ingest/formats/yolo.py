"""YOLO in: a ``data.yaml`` (``path``, ``train``/``val``/``test``, ``names``) and its images and
``labels/*.txt`` (Ultralytics' rule: a label file is the image path with its last ``/images/``
made ``/labels/`` and the extension ``.txt``).

A line is ``class cx cy w h`` (detection) or ``class x1 y1 x2 y2 ...`` (segmentation, at least
3 points), normalized to [0, 1]; it becomes a ``box2d_xywh`` or ``poly2d_xy`` in pixels, rounded
to 1/10000 of a pixel so an export and a re-import give the same numbers. The image size is read
from its header. A bad line rejects its image, named ``labels/train/x.txt:3``. The frame's
``metadata["yolo"]`` keeps its split and its path under the split's image folder.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import imagesize

from ..errors import ValidationError
from ..frames import SingleFrame
from .common import Entry, FormatError, LabelSet, Pending, group_frames, reject

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
SPLITS = ("train", "val", "test")


def load_yaml(path: str) -> Any:
    try:
        import yaml
    except ImportError as exc:  # pragma: no cover - a dependency
        raise FormatError(path, "YOLO needs PyYAML: pip install pyyaml") from exc
    try:
        with open(path, encoding="utf-8") as fh:
            return yaml.safe_load(fh)
    except FileNotFoundError as exc:
        raise FormatError(path, "does not exist") from exc
    except yaml.YAMLError as exc:
        raise FormatError(path, f"is not valid YAML: {exc}") from exc


def label_path(image: str) -> str:
    head, sep, tail = image.rpartition(f"{os.sep}images{os.sep}")
    base = f"{head}{os.sep}labels{os.sep}{tail}" if sep else image
    return os.path.splitext(base)[0] + ".txt"


def names_of(data: dict[str, Any], where: str) -> list[str]:
    names = data.get("names")
    if isinstance(names, dict) and all(isinstance(k, int) for k in names):
        if sorted(names) != list(range(len(names))):
            raise FormatError(f"{where}: names", "class ids must be 0..n-1")
        return [str(names[i]) for i in range(len(names))]
    if isinstance(names, list):
        return [str(n) for n in names]
    raise FormatError(f"{where}: names", "must be a list or a map id -> name")


class YoloReader:
    def __init__(self, path: str, *, split: str | None = None) -> None:
        self.yaml = os.path.join(path, "data.yaml") if os.path.isdir(path) else path
        data = load_yaml(self.yaml)
        if not isinstance(data, dict):
            raise FormatError(self.yaml, "must be a mapping with names and train/val/test")
        self.names = names_of(data, os.path.basename(self.yaml))
        self.labels = LabelSet()
        for i, name in enumerate(self.names):
            self.labels.add(name, id=i)
        base = os.path.dirname(os.path.abspath(self.yaml))
        self.root = os.path.normpath(os.path.join(base, str(data.get("path") or ".")))
        wanted = [split] if split else [s for s in SPLITS if data.get(s)]
        if split and not data.get(split):
            raise FormatError(self.yaml, f"names no {split!r} split")
        self.splits = [(s, data[s]) for s in wanted]

    def entries(self) -> Iterator[Entry]:
        return group_frames(self._records(), None)

    def _images(self, value: Any) -> Iterator[tuple[str, str]]:
        """(image path, its name under the split's folder) of a split: folders or list files."""
        for item in value if isinstance(value, list) else [value]:
            where = os.path.normpath(os.path.join(self.root, str(item)))
            if os.path.isfile(where):  # a list of image paths, one a line
                with open(where, encoding="utf-8") as fh:
                    for line in fh:
                        if line.strip():
                            image = os.path.normpath(os.path.join(self.root, line.strip()))
                            yield image, os.path.basename(image)
                continue
            if not os.path.isdir(where):
                raise FormatError(self.yaml, f"split folder {where} does not exist")
            for dirpath, dirnames, filenames in os.walk(where):
                dirnames.sort()
                for filename in sorted(filenames):
                    if filename.lower().endswith(IMAGE_EXTENSIONS):
                        image = os.path.join(dirpath, filename)
                        yield image, os.path.relpath(image, where)

    def _records(self) -> Iterator[Pending | Entry]:
        for split, value in self.splits:
            for image, rel in self._images(value):
                where = os.path.relpath(image, self.root)
                try:
                    frame = self._frame(image, split, rel)
                except ValidationError as exc:
                    yield reject(exc.field, exc.reason, source=image)
                    continue
                yield Pending(frame, where, split, rel)

    def _frame(self, image: str, split: str, rel: str) -> SingleFrame:
        try:
            width, height = imagesize.get(image)
        except OSError as exc:
            raise ValidationError(os.path.relpath(image, self.root), str(exc)) from None
        if width <= 0 or height <= 0:
            raise ValidationError(os.path.relpath(image, self.root), "image size unreadable")
        labels = label_path(image)
        annotations = []
        if os.path.isfile(labels):
            with open(labels, encoding="utf-8", errors="replace") as fh:
                for number, line in enumerate(fh, 1):
                    if line.strip():
                        spot = f"{os.path.relpath(labels, self.root)}:{number}"
                        annotations.append(self._line(line.split(), spot, width, height))
        return SingleFrame(
            image,
            width=width,
            height=height,
            annotations=annotations,
            metadata={"yolo": {"split": split, "file": rel}},
        )

    def _line(self, parts: list[str], where: str, width: int, height: int) -> dict[str, Any]:
        try:
            cls, values = int(parts[0]), [float(v) for v in parts[1:]]
        except ValueError:
            raise ValidationError(where, f"expected a class id and numbers, got {parts}") from None
        if not 0 <= cls < len(self.names):
            raise ValidationError(where, f"class {cls} is not in names (0..{len(self.names) - 1})")
        if any(not 0 <= v <= 1 for v in values):
            raise ValidationError(where, "coordinates must be normalized to [0, 1]")
        labels = [self.names[cls]]
        if len(values) == 4:
            cx, cy, w, h = values
            box = [(cx - w / 2) * width, (cy - h / 2) * height, w * width, h * height]
            return {"labels": labels, "box2d_xywh": [round(v, 4) for v in box]}
        if len(values) >= 6 and len(values) % 2 == 0:
            scale = [width, height] * (len(values) // 2)
            return {
                "labels": labels,
                "poly2d_xy": [round(v * s, 4) for v, s in zip(values, scale, strict=True)],
            }
        raise ValidationError(where, f"expected 4 numbers (a box) or 3+ points, got {len(values)}")
