"""COCO in: images -> SingleFrames, annotations -> annotations, categories -> the label set.

One COCO annotation becomes up to three annotations of its image, all carrying the same
``metadata["coco"]`` (``id``, ``iscrowd``, ``area``, any other field of the record), so an
export puts them back together: its ``bbox`` a ``box2d_xywh``, its polygon ``segmentation`` a
``poly2d_xy``, its ``keypoints`` a ``keypoints`` (x, y pairs; the visibility flags in
``metadata["coco"]["visibility"]``). An RLE ``segmentation`` (crowds) becomes a mask image of
the frame (id ``coco-<annotation id>``, 255 inside, decoded by pycocotools, written once to
``$XDG_DATA_HOME/frame-ingest/coco-masks/<hash of the RLE>.png``: the same RLE is the same file,
so a re-run or a re-import of an export uploads nothing new) and stays in
``metadata["coco"]["rle"]``, so the export writes it back exactly.
``score`` (a results file) becomes the confidence. The image's ``id``, ``file_name`` and other
fields go to the frame's ``metadata["coco"]``.

A COCO file is read whole: its annotations name their image by id, in any order, so an index
of them is needed anyway (pycocotools reads it whole too). A bad annotation rejects its image,
named ``file: annotations[i] (id N)``; an image is never registered without one of its
annotations.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from typing import Any

import orjson

from ..config import default_data_dir
from ..errors import ValidationError
from ..frames import Annotation, SingleFrame
from ..rowitems import resolve_uri
from .common import Entry, FormatError, LabelSet, Pending, group_frames, read_json, reject

_ANN_FIELDS = {"id", "image_id", "category_id", "bbox", "segmentation", "keypoints", "score"}
_CATEGORY_FIELDS = ("supercategory", "keypoints", "skeleton")
_ID_SUFFIX: dict[str | None, str] = {"poly2d_xy": ".segmentation", "keypoints": ".keypoints"}


def _where(path: str, table: str, index: int, record: Any) -> str:
    rid = record.get("id") if isinstance(record, dict) else None
    return f"{os.path.basename(path)}: {table}[{index}]" + (
        f" (id {rid})" if rid is not None else ""
    )


class CocoReader:
    """``paths``: COCO files (one per camera when grouping); ``images_root``: the folder the
    ``file_name`` s are relative to (default: each file's folder); ``group_by``: see
    ``common.group_frames`` (the frame name defaults to the COCO file's stem)."""

    def __init__(
        self,
        paths: list[str],
        *,
        images_root: str | None = None,
        group_by: str | None = None,
        masks_dir: str | None = None,
    ) -> None:
        self.paths, self.images_root, self.group_by = paths, images_root, group_by
        self.masks_dir = masks_dir
        self.labels = LabelSet()
        for path in paths:  # before the target version is made: a typo costs nothing
            if not os.path.isfile(path):
                raise FormatError(path, "does not exist or is not a file")

    def entries(self) -> Iterator[Entry]:
        records = (entry for path in self.paths for entry in self._file(path))
        return group_frames(records, self.group_by)

    def _file(self, path: str) -> Iterator[Pending | Entry]:
        data = read_json(path)
        name = os.path.basename(path)
        if not isinstance(data, dict) or not isinstance(data.get("images"), list):
            raise FormatError(path, "is not a COCO file: expected an object with an images list")
        for table in ("annotations", "categories"):
            if not isinstance(data.get(table, []), list):
                raise FormatError(f"{name}: {table}", "must be a list")
        categories: dict[Any, str] = {}
        for i, cat in enumerate(data.get("categories", [])):
            if not isinstance(cat, dict) or not isinstance(cat.get("name"), str) or not cat["name"]:
                yield reject(_where(path, "categories", i, cat), "a category needs a name")
                continue
            categories[cat.get("id")] = cat["name"]
            extra = {k: cat[k] for k in _CATEGORY_FIELDS if k in cat}
            self.labels.add(
                cat["name"],
                **({"id": cat["id"]} if isinstance(cat.get("id"), int) else {}),
                **extra,
            )
        images = data["images"]
        by_image: dict[Any, list[tuple[int, dict[str, Any]]]] = {}
        image_ids = {img.get("id") for img in images if isinstance(img, dict)}
        for i, ann in enumerate(data.get("annotations", [])):
            if not isinstance(ann, dict) or ann.get("image_id") not in image_ids:
                got = ann.get("image_id") if isinstance(ann, dict) else ann
                yield reject(
                    _where(path, "annotations", i, ann), f"image_id {got!r} names no image"
                )
                continue
            by_image.setdefault(ann["image_id"], []).append((i, ann))
        root = self.images_root or os.path.dirname(os.path.abspath(path))
        masks = self.masks_dir or str(default_data_dir() / "coco-masks")
        stem = os.path.splitext(name)[0]
        for i, img in enumerate(images):
            where = _where(path, "images", i, img)
            anns = by_image.get(img.get("id"), []) if isinstance(img, dict) else []
            try:
                frame = self._frame(path, img, where, anns, categories, root, masks)
            except ValidationError as exc:
                source = img.get("file_name") if isinstance(img, dict) else None
                yield reject(exc.field, exc.reason, source=source)
                continue
            yield Pending(frame, where, stem, str(img["file_name"]))

    def _frame(
        self,
        path: str,
        img: Any,
        where: str,
        anns: list[tuple[int, dict[str, Any]]],
        categories: dict[Any, str],
        root: str,
        masks_dir: str,
    ) -> SingleFrame:
        if not isinstance(img, dict) or not isinstance(img.get("file_name"), str):
            raise ValidationError(where, "an image needs a file_name")
        annotations: list[Annotation] = []
        masks: dict[str, str] = {}
        for i, ann in anns:
            ann_where = _where(path, "annotations", i, ann)
            if ann.get("category_id") not in categories:
                raise ValidationError(
                    ann_where, f"category_id {ann.get('category_id')!r} names no category"
                )
            parts, mask = _annotation(ann, categories[ann["category_id"]], ann_where, masks_dir)
            annotations += parts
            masks.update(mask)
        meta = {k: v for k, v in img.items() if k not in ("width", "height")}
        return SingleFrame(
            resolve_uri(img["file_name"], root),
            width=img.get("width"),
            height=img.get("height"),
            metadata={"coco": meta},
            annotations=annotations,
            masks_source=masks,
            where=where,
        )


def _annotation(
    ann: dict[str, Any], label: str, where: str, masks_dir: str
) -> tuple[list[Annotation], dict[str, str]]:
    """The annotations of one COCO record (ids ``<id>``, ``<id>.segmentation``,
    ``<id>.keypoints``) and its RLE mask, if any."""
    coco = {k: v for k, v in ann.items() if k not in _ANN_FIELDS - {"id"}}
    coco.setdefault("iscrowd", 0)
    shapes: dict[str, Any] = {}
    masks: dict[str, str] = {}
    if ann.get("bbox") is not None:
        shapes["box2d_xywh"] = ann["bbox"]
    seg = ann.get("segmentation")
    if isinstance(seg, dict):
        coco["rle"] = seg
        if ann.get("id") is None:
            raise ValidationError(where, "an RLE segmentation needs the record's id")
        masks[f"coco-{ann['id']}"], box = _write_mask(seg, where, masks_dir)
        shapes.setdefault("box2d_xywh", box)
    elif seg:
        shapes["poly2d_xy"] = seg
    kps = ann.get("keypoints")
    if kps:
        if not isinstance(kps, list) or len(kps) % 3:
            raise ValidationError(f"{where}.keypoints", "must be [x1, y1, v1, ...] triples")
        coco["visibility"] = kps[2::3]
        shapes["keypoints"] = [c for i in range(0, len(kps), 3) for c in kps[i : i + 2]]
    parts = []
    for shape, coords in shapes.items() or [(None, None)]:  # no shape: the label stays
        part = {"labels": [label], "confidence": ann.get("score"), "metadata": {"coco": coco}}
        if shape is not None:
            part[shape] = coords
        if ann.get("id") is not None:
            part["id"] = f"{ann['id']}{_ID_SUFFIX.get(shape, '')}"
        parts.append(Annotation.from_doc(part, where))
    return parts, masks


def _write_mask(rle: dict[str, Any], where: str, masks_dir: str) -> tuple[str, list[float]]:
    """The RLE decoded to a PNG (pycocotools, Pillow); rewritten only when it changed, so a
    re-run keeps the file (same object key, nothing uploaded again)."""
    try:
        import io

        from PIL import Image
        from pycocotools import mask as coco_mask
    except ImportError as exc:  # pragma: no cover - the formats extra installs both
        raise ValidationError(
            where, "RLE masks need pycocotools and Pillow: pip install 'frame-ingest[formats]'"
        ) from exc
    try:
        size = rle["size"]
        counts = rle["counts"]
        if isinstance(counts, list):
            rle = coco_mask.frPyObjects(rle, size[0], size[1])
        elif isinstance(counts, str):
            rle = {"size": size, "counts": counts.encode()}
        pixels = coco_mask.decode(rle) * 255
        box = [float(v) for v in coco_mask.toBbox(rle)]
    except Exception as exc:  # pycocotools raises many kinds on a bad RLE
        raise ValidationError(where, f"segmentation is not a valid RLE: {exc}") from None
    buf = io.BytesIO()
    Image.fromarray(pixels.astype("uint8"), mode="L").save(buf, format="PNG")
    os.makedirs(masks_dir, exist_ok=True)
    digest = hashlib.blake2b(orjson.dumps([size, counts]), digest_size=16).hexdigest()
    out = os.path.join(masks_dir, f"{digest}.png")
    try:
        with open(out, "rb") as fh:
            same = fh.read() == buf.getvalue()
    except FileNotFoundError:
        same = False
    if not same:
        with open(out + ".part", "wb") as fh:
            fh.write(buf.getvalue())
        os.replace(out + ".part", out)
    return out, box
