"""Pages of a compound query in (context_id, timestamp, id) order: windows of the frames in
order first, then the set of all matches (``catalog/queries.py``); every page size and window
size gives the brute-force filter's frames, in order, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest

from ingest import runtime
from ingest.catalog import FrameCursor

from .querydata import selects, sort_key
from .test_query import _filter, drive  # noqa: F401 - fixture

QUERIES: list[dict[str, Any]] = [
    {"frame_query": "Car AND NOT Person"},
    {"frame_query": "NOT (meta.city:bremen OR label:lane)"},
    {"frame_query": "meta.city:hamburg AND source.id:front"},  # selective: past the windows
    {"roi_query": "Car", "count_range": (2, None)},
    {"roi_query": "Person", "frame_query": "meta.n:<20", "source_query": "source.width:640"},
]


async def _pages(version_id: str, query: dict[str, Any], limit: int) -> list[str]:
    app = await runtime.get_app()
    after: FrameCursor | None = None
    ids: list[str] = []
    while True:
        page = await app.catalog.query_page(version_id, [_filter(**query)], after=after,
                                            limit=limit)  # fmt: skip
        ids += [stored.id for _, stored in page]
        if len(page) < limit:
            return ids
        after = page[-1][0]


@pytest.mark.parametrize("windows", [(4, 64), (1, 2), ()])
async def test_compound_pages_in_windows_match_a_brute_force_filter(
    drive: list[dict[str, Any]],  # noqa: F811 - the fixture
    windows: tuple[int, ...],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("ingest.catalog.queries.WINDOWS", windows)
    app = await runtime.get_app()
    version = await app.catalog.get_version(
        dataset_id=(await app.catalog.get_dataset(name="Drive")).id, name="v1"
    )
    for query in QUERIES:
        expected = [d["id"] for d in sorted(drive, key=sort_key) if selects(_filter(**query), d)]
        assert expected, query
        for limit in (1, 3, 1000):
            assert await _pages(version.id, query, limit) == expected, (query, limit)
    await runtime.aclose()
