from __future__ import annotations

import orjson
import pytest

from ingest import Annotation, FrameGroup, SingleFrame, ValidationError
from ingest.frames import derive_id, item_from_doc


def make_group() -> FrameGroup:
    group = FrameGroup(context_id="drive-1", timestamp=12.5, metadata={"weather": "rain"})
    front = SingleFrame(
        source="https://host/front/000012.jpg",
        width=512,
        height=256,
        preview_uri="https://host/front/000012_small.jpg",
        metadata={"exposure": 3},
        mask_source="https://host/front/000012_mask.png",
        timestamp=12.5,
    )
    front.add_annotation(box2d_xywh=(10, 20, 30, 40), labels=["car"], confidence=0.9)
    front.add_annotation(poly2d_xy=[1, 1, 5, 1, 5, 5], labels="road")
    front.add_annotation(poly2d_xy=[[0, 0, 1, 0, 1, 1], [2, 2, 3, 2, 3, 3]], labels=["lane"])
    front.add_annotation(ellipse2d_xyrrt=[5, 5, 2, 1, 0.5], labels=["sign"])
    front.add_annotation(keypoints=[1, 2, 3, 4], labels=["person"], metadata={"id": 7})
    front.add_annotation(labels=["day"])
    group["front"] = front
    group["rear"] = SingleFrame(source="s3://bucket/rear/000012.jpg", masks_source=["a", "b"])
    group.add_global_annotation(labels=["highway"])
    return group


def test_document_round_trip_is_exact() -> None:
    group = make_group()
    doc = group.to_doc()
    again = FrameGroup.from_doc(orjson.loads(orjson.dumps(doc)))
    assert again.to_doc() == doc
    assert again == group
    assert doc["schema_version"] == 2
    assert set(doc) == {
        "schema_version",
        "context_id",
        "timestamp",
        "metadata",
        "annotations",
        "frames",
    }
    front = doc["frames"]["front"]
    assert front["masks"] == {"semantic": "https://host/front/000012_mask.png"}
    assert doc["frames"]["rear"]["masks"] == {"00": "a", "01": "b"}  # the docs' list ids
    first = front["annotations"][0]
    assert first == {
        "id": first["id"],
        "labels": ["car"],
        "confidence": 0.9,
        "box2d_xywh": [10, 20, 30, 40],
        "metadata": {},
    }
    # one polygon is normalised to a list of polygons
    assert front["annotations"][1]["poly2d_xy"] == [[1, 1, 5, 1, 5, 5]]
    assert group["front"].frame_labels == ["day"]


def test_single_frame_document_has_fields_at_top_level() -> None:
    frame = SingleFrame("https://h/x.jpg", width=3, height=4, id="abc")
    doc = frame.to_doc()
    assert doc["source"] == "https://h/x.jpg" and doc["id"] == "abc"
    assert "frames" not in doc
    parsed = item_from_doc(doc)
    assert isinstance(parsed, SingleFrame) and parsed == frame


def test_context_id_defaults_to_source_and_meta_is_metadata() -> None:
    frame = SingleFrame(source="https://host/000012.jpg")
    assert frame.context_id == "https://host/000012.jpg"
    frame.meta["k"] = "v"
    assert frame.metadata == {"k": "v"}
    assert frame.meta is frame.metadata


@pytest.mark.parametrize(
    "build, field",
    [
        (lambda: SingleFrame("x.jpg", width=0), "frame.width"),
        (lambda: SingleFrame("x.jpg", height=-2), "frame.height"),
        (lambda: SingleFrame("x.jpg", width=True), "frame.width"),
        (lambda: SingleFrame(""), "frame.source"),
        (lambda: SingleFrame("x.jpg", timestamp="noon"), "frame.timestamp"),
        (lambda: SingleFrame("x.jpg", metadata=[1]), "frame.metadata"),
        (
            lambda: SingleFrame("x.jpg").add_annotation(box2d_xywh=[1, 2, 3], labels=["a"]),
            "annotations[0].box2d_xywh",
        ),
        (
            lambda: SingleFrame("x.jpg").add_annotation(labels=["a"], confidence=1.5),
            "annotations[0].confidence",
        ),
        (
            lambda: SingleFrame("x.jpg").add_annotation(labels=["a"], confidence=-0.1),
            "annotations[0].confidence",
        ),
        (
            lambda: SingleFrame("x.jpg").add_annotation(poly2d_xy=[1, 2, 3, 4, 5], labels=["a"]),
            "annotations[0].poly2d_xy",
        ),
        (
            lambda: SingleFrame("x.jpg").add_annotation(poly2d_xy=[[1, 2, 3, 4, 5, 6], [1, 2, 3]]),
            "annotations[0].poly2d_xy[1]",
        ),
        (lambda: SingleFrame("x.jpg").add_annotation(), "annotations[0]"),
        (
            lambda: SingleFrame("x.jpg").add_annotation(
                box2d_xywh=[1, 2, 3, 4], ellipse2d_xyrrt=[1, 2, 3, 4, 5]
            ),
            "annotations[0]",
        ),
        (
            lambda: SingleFrame.from_doc({"source": "x", "annotations": [{"circle": [1, 2]}]}),
            "frame.annotations[0]",
        ),
        (lambda: SingleFrame.from_doc({"source": "x", "colour": "red"}), "frame"),
        (lambda: SingleFrame.from_doc({"width": 3}), "frame.source"),
        (lambda: FrameGroup.from_doc({"frames": {}}), "group.frames"),
        (
            lambda: FrameGroup.from_doc({"schema_version": 9, "frames": {"a": {"source": "x"}}}),
            "group.schema_version",
        ),
    ],
)
def test_validation_errors_name_the_field(build, field: str) -> None:
    with pytest.raises(ValidationError) as err:
        build()
    assert err.value.field == field
    assert str(err.value).startswith(field + ":")


@pytest.mark.parametrize("name", ["", "cam/front", 3])
def test_bad_frame_names_are_refused(name: object) -> None:
    group = FrameGroup()
    with pytest.raises(ValidationError, match=r"name"):
        group[name] = SingleFrame("x.jpg")  # type: ignore[index]
    assert len(group) == 0


def test_group_accepts_only_single_frames() -> None:
    group = FrameGroup()
    with pytest.raises(ValidationError, match="must be a SingleFrame"):
        group["a"] = {"source": "x"}  # type: ignore[assignment]


def test_derived_ids_are_deterministic_and_distinct() -> None:
    assert derive_id(make_group()) == derive_id(make_group())
    other = make_group()
    other["rear"] = SingleFrame(source="s3://bucket/rear/000013.jpg")
    assert derive_id(other) != derive_id(make_group())
    one = SingleFrame("https://h/a.jpg")
    assert derive_id(one) == derive_id(SingleFrame("https://h/a.jpg"))
    assert derive_id(one) != derive_id(SingleFrame("https://h/b.jpg"))


def test_annotation_from_doc_and_equality() -> None:
    a = Annotation.from_doc({"labels": ["x"], "box2d_xywh": [1, 2, 3, 4], "confidence": 0.5})
    assert a == Annotation(box2d_xywh=[1, 2, 3, 4], labels=["x"], confidence=0.5)
    assert not a.is_frame_label
