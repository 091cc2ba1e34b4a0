"""Public dataset formats in and out: COCO, YOLO, KITTI object, nuScenes (v1.0 tables).

A reader turns files of its format into the pipeline's entries (``Located`` items with
``where`` = ``file: record``, and rejections naming the file and the record), so a format import
gets the retries, atomic groups, report and idempotent re-runs of ``ingest import``; it also
collects the label set it met. A writer takes stored documents and writes files the format's
own readers load, counting what the format cannot hold.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol

from .common import Entry, FormatError, LabelSet

IMPORT_FORMATS = ("coco", "yolo", "kitti", "nuscenes")
EXPORT_FORMATS = ("coco", "yolo")


class FormatReader(Protocol):
    labels: LabelSet

    def entries(self) -> Iterator[Entry]: ...


def open_reader(
    fmt: str,
    paths: list[str],
    *,
    images_root: str | None = None,
    group_by: str | None = None,
    split: str | None = None,
) -> FormatReader:
    """The reader of ``fmt`` over ``paths`` (COCO files; a YOLO data.yaml or folder; a KITTI
    object folder; a nuScenes dataroot). ``group_by``: COCO's frame grouping rule;
    ``split``: the YOLO split (default: every one data.yaml names), the KITTI folder
    (``training``), the nuScenes version (``v1.0-mini``)."""
    if fmt == "coco":
        from .coco import CocoReader

        return CocoReader(paths, images_root=images_root, group_by=group_by)
    if len(paths) != 1:
        raise FormatError(fmt, f"{fmt} reads one folder or file, got {len(paths)}")
    if group_by is not None:
        raise FormatError("--group-by", f"applies to coco, not {fmt}")
    if fmt == "yolo":
        from .yolo import YoloReader

        return YoloReader(paths[0], split=split)
    if fmt == "kitti":
        from .kitti import KittiReader

        return KittiReader(paths[0], split=split)
    if fmt == "nuscenes":
        from .nuscenes import NuScenesReader

        return NuScenesReader(paths[0], version=split)
    raise FormatError("--format", f"unknown format {fmt!r}; use one of {', '.join(IMPORT_FORMATS)}")


def open_writer(fmt: str, label_set: list[dict[str, Any]], per_frame_name: bool) -> Any:
    if fmt == "coco":
        from .coco_out import CocoWriter

        return CocoWriter(label_set, per_frame_name)
    if fmt == "yolo":
        from .yolo_out import YoloWriter

        return YoloWriter(label_set, per_frame_name)
    raise FormatError("--format", f"cannot export {fmt!r}; use one of {', '.join(EXPORT_FORMATS)}")


__all__ = [
    "EXPORT_FORMATS",
    "IMPORT_FORMATS",
    "FormatError",
    "FormatReader",
    "open_reader",
    "open_writer",
]
