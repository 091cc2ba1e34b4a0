"""DataView and the query language on SQLite and PostgreSQL (the ``lib`` fixture), each query's
answer compared with a brute-force filter over the same frames (``querydata.py``)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import orjson
import pytest

from ingest import (
    DatasetVersion,
    DataView,
    FrameGroup,
    IterationOrder,
    QueryError,
    SingleFrame,
    ValidationError,
)
from ingest.query import FrameFilter, parse_query, roi_query_node

from .querydata import make_frames, selects, sort_key

FRAME_QUERIES = [
    "Car",
    "label:Car",
    'label.keyword:"Car Door"',
    "Car AND Person",
    "Car OR lane",
    "NOT Car",
    "Car AND NOT Person",
    "+Car -lane",
    "Car Person",  # the default operator is AND
    "label:Ca*",
    "label:?ane",
    "label:*",
    "day AND Car",
    "meta.city:bremen",
    'meta.city:"bremen" OR meta.city:hamburg',
    "meta.city:b*",
    "meta.n:12",
    "meta.n:1*",  # a wildcard over numbers' text
    "meta.exposure:9?? OR meta.city:*erlin",
    "meta.n:[10 TO 20]",
    "meta.n:{10 TO 20}",
    "meta.n:>=40",
    "meta.n:<5",
    "meta.flag:true",
    "meta.nested.k:v1",
    "meta.tags:y",
    "meta.date:[2023-11-12 TO 2023-11-14]",
    "meta.exposure:<500",
    "confidence:[0.5 TO 1]",
    "confidence:0.75",
    "confidence:>0.8 AND label:Person",
    "source.id:front",
    "sources.id:rear AND label:lane",
    "source.uri:*front*",
    "source.width:1280",
    'source.content_type:"image/png"',
    "source.height:[400 TO 500]",
    "context_id:drive-a",
    "context_id:drive*",
    "timestamp:[1700000100 TO 1700000900]",
    "timestamp:>=2023-11-14T22:40:00",
    "id:single-3",
    "id:single-*",
    "(Car OR Person) AND meta.city:berlin AND NOT source.id:left",
    "NOT (meta.city:bremen OR label:lane)",
]

ROI_QUERIES: list[Any] = [
    "Car",
    ["Car", "partly_occluded"],
    'label.keyword:"Car" AND NOT label.keyword:"partly_occluded"',
    "Car AND confidence:>=0.5",
    "Car OR Person",
    "NOT Car",
]

RULES: list[dict[str, Any]] = [
    {"roi_query": "Car", "count_range": (2, None)},
    {"roi_query": "Car", "count_range": (0, 0)},
    {"roi_query": "Person", "count_range": (1, 1)},
    {"roi_query": "Car", "conf_range": (0.7, 1.0)},
    {"roi_query": "lane", "frame_query": "meta.city:berlin", "source_query": "source.id:front"},
    {"frame_query": "meta.n:[0 TO 9]", "source_query": "source.width:640"},
]


def _filter(**kwargs: Any) -> FrameFilter:
    roi = kwargs.get("roi_query")
    return FrameFilter(
        roi=None if roi is None else roi_query_node(roi),
        frame=parse_query(kwargs["frame_query"]) if "frame_query" in kwargs else None,
        source=parse_query(kwargs["source_query"]) if "source_query" in kwargs else None,
        count_range=kwargs.get("count_range"),
        conf_range=kwargs.get("conf_range"),
    )


@pytest.fixture
def drive(lib: str) -> list[dict[str, Any]]:
    """The frames registered in Drive/v1; their documents (with ids)."""
    version = DatasetVersion.create_new_dataset("Drive", version_name="v1")
    items = make_frames()
    assert version.add_frames(items) == []
    return [item.to_doc() | {"id": item.id} for item in items]


def _ids(view: DataView) -> list[str]:
    return [item.id for item in view.to_list()]


def test_every_query_form_matches_a_brute_force_filter(drive: list[dict[str, Any]]) -> None:
    cases = [{"frame_query": q} for q in FRAME_QUERIES]
    cases += [{"roi_query": q} for q in ROI_QUERIES] + RULES
    for case in cases:
        view = DataView()
        view.add_query(dataset_name="Drive", version_name="v1", **case)
        expected = sorted((d for d in drive if selects(_filter(**case), d)), key=sort_key)
        got = _ids(view)
        assert got == [d["id"] for d in expected], case  # (context_id, timestamp) order
        assert view.get_count() == len(expected), case
    # the data is varied enough that the queries tell frames apart
    assert 0 < len(_ids(_view(frame_query="Car AND NOT Person"))) < len(drive)


def _view(**query: Any) -> DataView:
    view = DataView()
    view.add_query(dataset_name="Drive", version_name="v1", **query)
    return view


def test_queries_are_or_ed_and_versions_merged_in_order(drive: list[dict[str, Any]]) -> None:
    car, lane = _filter(roi_query="Car"), _filter(roi_query="lane")
    view = DataView()
    view.add_query(dataset_name="Drive", version_name="v1", roi_query="Car")
    view.add_query(dataset_name="Drive", version_name="v1", roi_query="lane")
    expected = sorted((d for d in drive if selects(car, d) or selects(lane, d)), key=sort_key)
    assert _ids(view) == [d["id"] for d in expected]
    assert view.get_count() == len(expected)

    # a child version (of the Published v1): shares the parent's index rows; its own edit
    # shows only in it
    DatasetVersion.get_version(dataset_name="Drive", version_name="v1").publish_version()
    child = DatasetVersion.create_version("Drive", "v2", parent_version_names=["v1"])
    solo = SingleFrame(id="only-in-v2", source="https://host/x.png", context_id="zzz")
    solo.add_annotation(labels=["lane"])
    assert child.add_frames([solo]) == []
    both = DataView()
    both.add_query(dataset_name="Drive", version_name="v1", roi_query="lane")
    both.add_query(dataset_name="Drive", version_name="v2", roi_query="lane")
    in_v1 = [d for d in drive if selects(lane, d)]
    merged = sorted([*in_v1, *in_v1, solo.to_doc() | {"id": "only-in-v2"}], key=sort_key)
    assert _ids(both) == [d["id"] for d in merged]
    assert both.get_count() == 2 * len(in_v1) + 1


def test_index_follows_updates_deletes_and_dataset_deletion(lib: str) -> None:
    version = DatasetVersion.create_new_dataset("Edits", version_name="v1")
    group = FrameGroup(id="g", context_id="c", timestamp=1.0, metadata={"city": "bremen"})
    group["front"] = SingleFrame(source="https://host/f.jpg")
    group["front"].add_annotation(box2d_xywh=(1, 1, 2, 2), labels=["car"])
    assert version.add_frames([group]) == []
    car, bremen = _edit_view("car"), _edit_view("meta.city:bremen")
    assert (car.get_count(), bremen.get_count()) == (1, 1)

    fg = DatasetVersion.get_single_frame("g", dataset_name="Edits", version_name="v1")
    fg["front"].annotations[0].labels = ["bus"]
    fg.metadata["city"] = "berlin"
    version.update_frames([fg])
    assert (car.get_count(), bremen.get_count(), _edit_view("bus").get_count()) == (0, 0, 1)
    version.delete_frames(["g"])
    assert _edit_view("bus").get_count() == 0


def _edit_view(query: str) -> DataView:
    view = DataView()
    view.add_query(dataset_name="Edits", version_name="v1", frame_query=query)
    return view


def test_random_order_is_weighted_and_reproducible(drive: list[dict[str, Any]]) -> None:
    def view(seed: int, limit: int | None = 600) -> DataView:
        v = DataView(iteration_order=IterationOrder.random, random_seed=seed)
        v.add_query(dataset_name="Drive", version_name="v1", frame_query="meta.city:bremen")
        v.add_query(dataset_name="Drive", version_name="v1", frame_query="meta.city:hamburg",
                    weight=4)  # fmt: skip
        if limit is not None:
            v.set_iteration_parameters(maximum_number_of_frames=limit)
        return v

    first, again, other = _ids(view(1)), _ids(view(1)), _ids(view(2))
    assert first == again and first != other and len(first) == 600
    cities = Counter(_city(drive, fid) for fid in first)
    assert set(cities) == {"bremen", "hamburg"}
    assert 0.72 < cities["hamburg"] / 600 < 0.88  # weight 4 of 5
    # without a limit: as many draws as frames selected; some repeat
    default = _ids(view(3, None))
    selected = [d for d in drive if d.get("metadata", {}).get("city") in ("bremen", "hamburg")]
    assert len(default) == len(selected)


def _city(drive: list[dict[str, Any]], frame_id: str) -> str:
    return next(d["metadata"]["city"] for d in drive if d["id"] == frame_id)


def test_iteration_limits_infinite_mapping_and_dicts(drive: list[dict[str, Any]]) -> None:
    matches = _ids(_view(roi_query="lane"))
    endless = DataView(iteration_infinite=True)
    endless.add_query(dataset_name="Drive", version_name="v1", roi_query="lane")
    with pytest.raises(ValidationError, match="infinite"):
        endless.to_list()
    stream = endless.get_iterator()
    taken = [next(stream).id for _ in range(2 * len(matches) + 1)]
    assert taken == matches + matches + matches[:1]  # sequential, starting over
    endless.set_iteration_parameters(maximum_number_of_frames=3)
    assert _ids(endless) == matches[:3]

    view = _view(roi_query="Car")
    view.add_mapping_rule(from_labels=["Car", "Car Door"], to_label="vehicle",
                          dataset_name="Drive")  # fmt: skip
    view.set_labels({"vehicle": 1, "Person": 2})
    labels = {x for item in view.to_list() for f in _frames(item) for a in f.annotations
              for x in a.labels}  # fmt: skip
    assert "vehicle" in labels and not labels & {"Car", "Car Door"}
    assert (view.get_labels(), view.get_label_id("vehicle"), view.get_label_id("x")) == (
        {"vehicle": 1, "Person": 2}, 1, -1)  # fmt: skip
    docs = view.to_dict(projection=["id", "context_id"])
    assert docs and all(set(d) == {"id", "context_id"} for d in docs)


def _frames(item: Any) -> list[Any]:
    return [item] if isinstance(item, SingleFrame) else [item, *item.values()]


@pytest.mark.parametrize(
    ("query", "column", "words"),
    [
        ("label:car AND", 14, "end of query"),
        ("meta.city:(a OR b", 18, "end of query"),
        ("wheels:4", 1, "unknown field 'wheels'"),
        ("label:car AND confidence:high", 26, "confidence takes a number"),
        ("car~2", 1, "fuzzy"),
        ("", 1, "empty"),
        ("label:car ) x", 11, r"unexpected '\)"),
    ],
)
def test_a_bad_query_names_its_column(lib: str, query: str, column: int, words: str) -> None:
    with pytest.raises(QueryError, match=words) as caught:
        DataView().add_query(dataset_name="D", frame_query=query)
    assert caught.value.column == column and f"column {column}" in str(caught.value)


def test_roi_queries_take_roi_fields_only_and_arguments_are_checked(lib: str) -> None:
    view = DataView()
    with pytest.raises(QueryError, match="an ROI query takes label and confidence"):
        view.add_query(dataset_name="D", roi_query="meta.city:bremen")
    with pytest.raises(ValidationError, match="weight"):
        view.add_query(dataset_name="D", roi_query="car", weight=-1)
    with pytest.raises(ValidationError, match="count_range"):
        view.add_query(dataset_name="D", roi_query="car", count_range=(1, "x"))
    with pytest.raises(ValidationError, match="add a query first"):
        view.get_count()
    assert orjson.dumps(IterationOrder.random.value) == b'"random"'
