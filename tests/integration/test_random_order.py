"""Random order streams each filter's matches in shuffled row-id blocks (``querycases.py``):
every frame once per pass, the same sequence for the same seed, the first item after a window
of block reads, not a pass over all the matches, and any query's matches read block by block
equal to a brute-force filter's; SQLite and PostgreSQL."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from ingest import DatasetVersion, DataView, IterationOrder, SingleFrame
from ingest.catalog.queries import SqlQueries

from .querydata import selects
from .test_query import _filter, drive  # noqa: F401 - fixture

FRAMES = 1200


@pytest.fixture
def cars(lib: str) -> list[str]:
    """Frames 'Rnd'/'v1': every third one has the label 'car'; the ids of those."""
    version = DatasetVersion.create_new_dataset("Rnd", version_name="v1")
    items = []
    for i in range(FRAMES):
        frame = SingleFrame(id=f"r{i:04d}", source=f"https://host/{i}.jpg", context_id="c",
                            timestamp=float(i))  # fmt: skip
        frame.add_annotation(labels=["car" if i % 3 == 0 else "bus"])
        items.append(frame)
    assert version.add_frames(items) == []
    return [f"r{i:04d}" for i in range(0, FRAMES, 3)]


def _view(seed: int, **params: Any) -> DataView:
    view = DataView(iteration_order=IterationOrder.random, random_seed=seed)
    view.add_query(dataset_name="Rnd", version_name="v1", roi_query="car")
    if params:
        view.set_iteration_parameters(**params)
    return view


def test_every_selected_frame_once_per_pass_in_a_seeded_order(cars: list[str]) -> None:
    first = [item.id for item in _view(5).to_list()]
    assert sorted(first) == cars  # a permutation: no frame twice before all were drawn
    assert first != cars and first != sorted(first, reverse=True)
    assert [item.id for item in _view(5).to_list()] == first
    assert [item.id for item in _view(6).to_list()] != first
    # endless: pass after pass, each a new order
    stream = _view(5, infinite=True).get_iterator()
    two = [next(stream).id for _ in range(2 * len(cars))]
    assert Counter(two) == Counter(cars * 2) and two[: len(cars)] == first
    assert two[len(cars) :] != first
    # frames of one block do not come out together: the first 40 draws span the rows
    positions = sorted(cars.index(fid) for fid in first[:40])
    assert positions[-1] - positions[0] > len(cars) // 2


def test_the_first_item_reads_a_window_of_blocks(
    cars: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    read: list[int] = []
    query_rows = SqlQueries.query_rows

    async def counting(self: SqlQueries, *args: Any, **kwargs: Any) -> list[int]:
        rows = await query_rows(self, *args, **kwargs)
        read.extend(rows)
        return rows

    monkeypatch.setattr(SqlQueries, "query_rows", counting)
    monkeypatch.setattr("ingest.querycases.BLOCK_MATCHES", 4)  # 100 blocks of ~4 matches
    monkeypatch.setattr("ingest.querycases.WINDOW", 3)
    monkeypatch.setattr("ingest.querycases.FIRST_PAGE", 1)  # the first batch: one draw
    stream = _view(1).get_iterator()
    assert next(stream).id in cars
    assert 0 < len(read) <= 40  # three blocks of ~4 matches each, of 400
    stream.close()


@pytest.mark.parametrize(
    "query",
    [
        {"frame_query": "Car AND NOT Person"},
        {"frame_query": "NOT (meta.city:bremen OR label:lane)"},
        {"frame_query": "(Car OR Person) AND meta.city:berlin AND NOT source.id:left"},
        {"roi_query": "Car", "count_range": (0, 0)},
        {"roi_query": "Car", "conf_range": (0.7, 1.0), "frame_query": "meta.n:<30"},
    ],
)
def test_random_order_of_any_query_is_a_permutation_of_its_matches(
    drive: list[dict[str, Any]],  # noqa: F811 - the fixture
    query: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("ingest.querycases.BLOCK_MATCHES", 3)  # many small bounded blocks
    view = DataView(iteration_order=IterationOrder.random, random_seed=3)
    view.add_query(dataset_name="Drive", version_name="v1", **query)
    expected = sorted(d["id"] for d in drive if selects(_filter(**query), d))
    assert expected and sorted(item.id for item in view.to_list()) == expected
