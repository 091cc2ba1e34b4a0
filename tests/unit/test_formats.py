"""Format readers' pure parts: the label set, grouping by a rule, YOLO's label path rule, the
nuScenes box conversion, and COCO records refused by file and record."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ingest.formats import FormatError, open_reader
from ingest.formats.common import LabelSet, Pending, group_frames
from ingest.formats.nuscenes import box3d
from ingest.formats.yolo import label_path
from ingest.frames import FrameGroup, SingleFrame
from ingest.report import Located, RejectedFrame


def test_label_set_merge_keeps_existing_ids_and_gives_clashing_ones_the_next() -> None:
    met = LabelSet()
    met.add("car", id=1)
    met.add("bus", id=2)
    met.add("car", id=9)  # a name met again changes nothing
    merged = met.merged_into([{"id": 1, "name": "car"}, {"id": 2, "name": "truck"}])
    assert merged == [
        {"id": 1, "name": "car"},
        {"id": 2, "name": "truck"},
        {"id": 3, "name": "bus"},
    ]


def pending(name: str, path: str) -> Pending:
    return Pending(SingleFrame(f"/data/{path}"), f"{name}.json: images[0]", name, path)


def test_group_by_rule_groups_by_every_field_but_the_name_and_refuses_what_does_not_fit() -> None:
    records = [
        pending("front", "000001.png"),
        pending("rear", "000001.png"),
        pending("front", "000002.png"),
        pending("rear", "x.txt"),
        pending("front", "000002.png"),
    ]
    out = list(group_frames(records, "{timestamp}.png"))
    groups = [e.item for e in out if isinstance(e, Located)]
    rejected = [e for e in out if isinstance(e, RejectedFrame)]
    assert [sorted(g) for g in groups] == [["front", "rear"], ["front"]]
    assert all(isinstance(g, FrameGroup) for g in groups) and groups[0].timestamp == 1
    assert [r.error_class for r in rejected] == ["LayoutMismatch", "ValidationError"]
    assert "does not match --group-by '{timestamp}.png'" in rejected[0].message
    assert "given twice in one group" in rejected[1].message


def test_yolo_label_file_is_the_image_path_with_labels_for_images_and_txt() -> None:
    assert label_path("/d/images/train/a/x.jpg") == "/d/labels/train/a/x.txt"
    assert label_path("/images/d/images/x.png") == "/images/d/labels/x.txt"  # the last one


def test_nuscenes_box_becomes_its_front_and_back_faces() -> None:
    assert box3d([1, 2, 3], [2, 4, 1.5], [1, 0, 0, 0]) == [3, 2, 3, 2, 1.5, -1, 2, 3, 2, 1.5]
    yawed = box3d([0, 0, 0], [2, 4, 1], [0.7071068, 0, 0, 0.7071068])  # 90 degrees about z
    assert yawed == pytest.approx([0, 2, 0, 2, 1, 0, -2, 0, 2, 1], abs=1e-6)


def test_coco_record_errors_name_the_file_and_the_record(tmp_path: Path) -> None:
    path = tmp_path / "instances.json"
    path.write_text(
        json.dumps(
            {
                "images": [{"id": 1, "file_name": "a.png"}, {"id": 2}],
                "categories": [{"id": 1, "name": "car"}, {"id": 2}],
                "annotations": [{"id": 5, "image_id": 1, "category_id": 1, "keypoints": [1, 2]}],
            }
        )
    )
    out = list(open_reader("coco", [str(path)]).entries())
    assert [(r.where, r.message) for r in out if isinstance(r, RejectedFrame)] == [
        ("instances.json: categories[1] (id 2)", "a category needs a name"),
        ("instances.json: annotations[0] (id 5).keypoints", "must be [x1, y1, v1, ...] triples"),
        ("instances.json: images[1] (id 2)", "an image needs a file_name"),
    ]
    with pytest.raises(FormatError, match="does not exist"):
        open_reader("coco", [str(tmp_path / "missing.json")])
    with pytest.raises(FormatError, match="applies to coco"):
        open_reader("yolo", [str(tmp_path)], group_by="{camera}")
