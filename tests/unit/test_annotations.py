"""Annotations as the reference docs describe them: every shape, stable ids unique within a
frame, filters and removal, global annotations, the schema_version 2 document (and 1 read)."""

from __future__ import annotations

import orjson
import pytest

from ingest import Annotation, FrameGroup, ImageAnnotation, SingleFrame, ValidationError
from ingest.annotation import AnnotationNotFound, content_id
from ingest.decode import decode_line
from ingest.frames import item_from_doc
from tests.unit.test_decode import BASE, _check

H = "https://h.example"

SHAPES = [  # (keyword, given, stored)
    ("box2d_xywh", (10, 10, 30, 20), [10, 10, 30, 20]),
    ("poly2d_xy", [1, 1, 5, 1, 5, 5], [[1, 1, 5, 1, 5, 5]]),
    ("poly2d_xy", [(1, 1), (5, 1), (5, 5)], [[1, 1, 5, 1, 5, 5]]),  # pairs: ONE polygon
    ("poly2d_xy", [[0, 0, 1, 0, 1, 1], [(2, 2), (3, 2), (3, 3)]],
     [[0, 0, 1, 0, 1, 1], [2, 2, 3, 2, 3, 3]]),
    ("points2d_xy", [(1, 2), (3, 4)], [1, 2, 3, 4]),
    ("points2d_xy", [1, 2], [1, 2]),
    ("ellipse2d_xyrrt", [5, 5, 2, 1, 0.5], [5, 5, 2, 1, 0.5]),
    ("keypoints", [1, 2, 3, 4], [1, 2, 3, 4]),
    ("box3d_xyzwhxyzwh", list(range(10)), list(range(10))),
    ("poly3d_xyz", [(0, 0, 0), (1, 0, 0), (1, 1, 1)], [[0, 0, 0, 1, 0, 0, 1, 1, 1]]),
    ("points3d_xyz", [(0, 0, 0), (1, 2, 3)], [0, 0, 0, 1, 2, 3]),
    ("mask_rgb", (1, 2, 3), [1, 2, 3]),
    ("frame_class", "indoor", ["indoor"]),
]  # fmt: skip


@pytest.mark.parametrize(("shape", "given", "stored"), SHAPES, ids=range(len(SHAPES)))
def test_every_shape_of_the_docs_is_stored_and_read_back(shape, given, stored) -> None:
    frame = SingleFrame(f"{H}/a.jpg")
    annotation = frame.add_annotation(**{shape: given}, labels=["x"])
    assert getattr(annotation, shape) == stored and annotation.shape == shape
    doc = frame.to_doc()
    assert doc["annotations"][0][shape] == stored
    again = item_from_doc(orjson.loads(orjson.dumps(doc)))
    assert again == frame and again.annotations[0].id == annotation.id


BAD_SHAPES = [
    ("poly2d_xy", [(1, 1), (5, 1)], "annotations[0].poly2d_xy"),
    ("poly2d_xy", [[0, 0, 1, 0, 1, 1], [1, 2, 3]], "annotations[0].poly2d_xy[1]"),
    ("points2d_xy", [1, 2, 3], "annotations[0].points2d_xy"),
    ("box3d_xyzwhxyzwh", [1, 2, 3], "annotations[0].box3d_xyzwhxyzwh"),
    ("box3d_xyzwhxyzwh", [0, 0, 0, -1, 1, 0, 0, 0, 1, 1], "annotations[0].box3d_xyzwhxyzwh"),
    ("poly3d_xyz", [1, 2, 3, 4, 5, 6, 7, 8], "annotations[0].poly3d_xyz"),
    ("points3d_xyz", [(1, 2)], "annotations[0].points3d_xyz"),
    ("mask_rgb", (1, 2, 256), "annotations[0].mask_rgb"),
    ("mask_rgb", (1, 2), "annotations[0].mask_rgb"),
    ("frame_class", [], "annotations[0].frame_class"),
]


@pytest.mark.parametrize(("shape", "given", "field"), BAD_SHAPES, ids=range(len(BAD_SHAPES)))
def test_bad_coordinates_name_the_field(shape, given, field) -> None:
    with pytest.raises(ValidationError) as err:
        SingleFrame("a.jpg").add_annotation(**{shape: given}, labels=["x"])
    assert err.value.field == field


def test_one_shape_per_annotation() -> None:
    with pytest.raises(ValidationError, match="one shape per annotation"):
        Annotation(box2d_xywh=[1, 2, 3, 4], mask_rgb=[1, 2, 3])


def test_ids_given_generated_stable_and_unique_within_a_frame() -> None:
    frame = SingleFrame(f"{H}/a.jpg")
    given = frame.add_annotation(box2d_xywh=(1, 2, 3, 4), labels=["car"], id="car-1")
    first = frame.add_annotation(labels=["day"])
    twin = frame.add_annotation(labels=["day"])  # same content: same base id, suffixed
    assert given.id == "car-1"
    assert first.id == content_id(
        {"id": None, "labels": ["day"], "confidence": None, "metadata": {}}
    )
    assert twin.id == f"{first.id}-2"
    other = SingleFrame(f"{H}/b.jpg")
    assert other.add_annotation(labels=["day"]).id == first.id  # deterministic across frames
    with pytest.raises(ValidationError, match="duplicate annotation id 'car-1'") as err:
        frame.add_annotation(labels=["x"], id="car-1")
    assert err.value.field == "annotations[3].id"
    with pytest.raises(ValidationError) as err:
        SingleFrame.from_doc(
            {
                "source": "a",
                "annotations": [{"labels": ["a"], "id": "i"}, {"labels": ["b"], "id": "i"}],
            }
        )
    assert err.value.field == "frame.annotations[1].id"


def test_schema_1_documents_get_the_same_ids_on_every_read() -> None:
    twins = [{"labels": ["day"]}, {"labels": ["day"]}, {"box2d_xywh": [1, 2, 3, 4]}]
    v1 = {"schema_version": 1, "source": f"{H}/a.jpg", "annotations": twins}
    one, two = SingleFrame.from_doc(dict(v1)), SingleFrame.from_doc(orjson.loads(orjson.dumps(v1)))
    ids = [a.id for a in one.annotations]
    assert ids == [a.id for a in two.annotations] and len(set(ids)) == 3
    assert one.to_doc()["schema_version"] == 2
    # the fast path of the manifest readers gives the same documents and ids (twins: the
    # object model's)
    assert decode_line(orjson.dumps(v1), "m.jsonl:1", BASE) is None
    v1["annotations"] = v1["annotations"][1:]
    fast = decode_line(orjson.dumps(v1), "m.jsonl:1", BASE)
    assert fast is not None and [a["id"] for a in fast[0].doc["annotations"]] == ids[::2]
    assert _check(orjson.dumps(v1))


FAST = [
    {"source": f"{H}/a.jpg", "annotations": [
        {"id": "a-1", "points2d_xy": [1, 2, 3, 4], "labels": ["p"]},
        {"box3d_xyzwhxyzwh": list(range(10)), "labels": ["car"], "confidence": 0.5},
        {"poly3d_xyz": [0, 0, 0, 1, 0, 0, 1, 1, 1], "labels": ["plane"]},
        {"points3d_xyz": [1, 2, 3], "labels": ["lidar"]},
        {"mask_rgb": [1, 1, 1], "labels": ["person", "sitting"]},
        {"frame_class": "indoor"},
        {"frame_class": ["a", "b"], "labels": ["c"]},
    ]},
    {"schema_version": 2, "frames": {"cam": {"source": "x.jpg"}},
     "annotations": [{"labels": ["cityscape"], "confidence": 1.0, "id": "g"}]},
]  # fmt: skip
SLOW = [  # forms the fast path leaves to the object model, which reads them the same
    {"source": "a.jpg", "annotations": [{"poly2d_xy": [[1, 1], [5, 1], [5, 5]], "labels": ["x"]}]},
    {"source": "a.jpg", "annotations": [{"labels": ["x"]}, {"labels": ["x"]}]},
    {
        "source": "a.jpg",
        "annotations": [{"labels": ["x"], "id": "i"}, {"labels": ["y"], "id": "i"}],
    },
]


@pytest.mark.parametrize("doc", FAST, ids=range(len(FAST)))
def test_fast_path_reads_the_new_shapes_and_ids_like_the_object_model(doc: dict) -> None:
    assert _check(orjson.dumps(doc))


@pytest.mark.parametrize("doc", SLOW, ids=range(len(SLOW)))
def test_fast_path_leaves_pairs_and_id_collisions_to_the_object_model(doc: dict) -> None:
    assert decode_line(orjson.dumps(doc), "m.jsonl:1", BASE) is None


def test_get_and_remove_annotations_with_filters() -> None:
    frame = SingleFrame(f"{H}/a.jpg")
    car = frame.add_annotation(box2d_xywh=(1, 2, 3, 4), labels=["car"], metadata={"occluded": 1})
    bus = frame.add_annotation(box2d_xywh=(5, 6, 7, 8), labels=["bus", "vehicle"], id="b")
    day = frame.add_annotation(labels=["day"])
    assert frame.get_annotations() == [car, bus, day]
    assert frame.get_annotations(id="b") == [bus]
    assert frame.get_annotations(index=-1) == [day] and frame.get_annotations(index=7) == []
    assert frame.get_annotations(labels=["car", "bus"]) == [car, bus]
    assert frame.get_annotations(labels="vehicle", metadata={"occluded": 1}) == []
    assert frame.get_annotations(metadata={"occluded": 1}) == [car]
    assert frame.remove_annotation(id="b") is bus
    with pytest.raises(AnnotationNotFound):
        frame.remove_annotation(id="b")
    assert frame.remove_annotation(annotation=day) is day
    frame.add_annotation(labels=["night"])
    assert [a.labels for a in frame.remove_annotations(labels=["night"])] == [["night"]]
    assert frame.annotations == [car]
    assert frame.remove_annotations() == [car] and frame.annotations == []


def test_global_annotation_on_a_frame_group() -> None:
    frame_group = FrameGroup({"cam": SingleFrame(f"{H}/a.jpg")})
    annotation = ImageAnnotation(labels=["cityscape"], confidence=1.0000)
    assert frame_group.add_global_annotation(annotation=annotation) is annotation
    frame_group.add_global_annotation(labels=["night"], id="n")
    assert frame_group.get_global_annotations(labels="cityscape") == [annotation]
    doc = frame_group.to_doc()
    assert [a["labels"] for a in doc["annotations"]] == [["cityscape"], ["night"]]
    assert doc["frames"]["cam"]["annotations"] == []
    assert FrameGroup.from_doc(doc) == frame_group
    assert frame_group.remove_global_annotation(id="n").labels == ["night"]
    with pytest.raises(ValidationError):
        frame_group.add_global_annotation(annotation={"labels": ["x"]})  # type: ignore[arg-type]


def test_masks_source_is_settable_and_lists_get_docs_ids() -> None:
    frame = SingleFrame(source=f"{H}/a.png")
    frame.masks_source = {"ID 1 ": "<mask_URI_1>", "ID 2": "<mask_URI_2>"}
    assert frame.to_doc()["masks"] == {"ID 1 ": "<mask_URI_1>", "ID 2": "<mask_URI_2>"}
    frame.masks_source = ["<mask_URI_1>", "<mask_URI_2>"]
    assert frame.masks_source == {"00": "<mask_URI_1>", "01": "<mask_URI_2>"}
    assert frame.mask_source == "<mask_URI_1>"
    frame.mask_source = f"{H}/m.png"
    assert frame.masks["semantic"] == f"{H}/m.png" and frame.mask_source == f"{H}/m.png"
    with pytest.raises(ValidationError):
        frame.masks_source = 3  # type: ignore[assignment]
    fast = decode_line(orjson.dumps({"source": "a", "masks": ["m0", "m1"]}), "m:1", BASE)
    assert fast is not None and list(fast[0].doc["masks"]) == ["00", "01"]


def test_csv_and_jsonl_manifests_read_ids_and_every_shape(tmp_path: object) -> None:
    """The manifest readers (CSV's annotations column, JSONL's fast path and object model)."""
    import csv
    import os

    from ingest.manifest import Manifest

    annotations = [
        {"id": "p", "poly2d_xy": [[1, 1], [5, 1], [5, 5]], "labels": ["lane"]},
        {"box3d_xyzwhxyzwh": list(range(10)), "labels": ["car"]},
        {"frame_class": "urban"},
    ]
    path = os.path.join(str(tmp_path), "m.csv")
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["group_id", "frame", "source", "annotations"])
        writer.writerow(["g", "cam", f"{H}/a.jpg", orjson.dumps(annotations).decode()])
    jsonl = os.path.join(str(tmp_path), "m.jsonl")
    with open(jsonl, "wb") as fh:
        fh.write(orjson.dumps({"source": f"{H}/a.jpg", "annotations": annotations}) + b"\n")
    for manifest in (path, jsonl):
        (entry,) = list(Manifest(manifest))
        entry = getattr(entry, "item", entry)  # a Located object-model item, or a document
        doc = entry.to_doc() if hasattr(entry, "to_doc") else entry.doc
        frame = doc["frames"]["cam"] if "frames" in doc else doc
        first, box, urban = frame["annotations"]
        assert first["id"] == "p" and first["poly2d_xy"] == [[1, 1, 5, 1, 5, 5]]
        assert box["box3d_xyzwhxyzwh"] == list(range(10)) and urban["frame_class"] == ["urban"]
        assert box["id"] == content_id({**box, "id": None})
