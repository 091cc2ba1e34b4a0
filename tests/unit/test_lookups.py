"""The groups' lookups of stored objects: coalesced into one catalog query while one runs."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from ingest.errors import CatalogError
from ingest.pipeline.lookups import ObjectLookups


class SlowCatalog:
    def __init__(self, stored: dict[str, int], fail: bool = False) -> None:
        self.stored, self.fail = stored, fail
        self.asked: list[list[str]] = []

    async def object_sizes(self, uris: Sequence[str]) -> dict[str, int]:
        self.asked.append(list(uris))
        await asyncio.sleep(0.05)  # a commit's transaction holds the catalog meanwhile
        if self.fail:
            raise CatalogError("catalog unreachable", transient=True)
        return {u: self.stored[u] for u in uris if u in self.stored}


async def test_groups_asking_while_a_query_runs_share_the_next_one() -> None:
    catalog = SlowCatalog({"s3://b/1": 10, "s3://b/3": 30, "s3://b/7": 70})
    lookups = ObjectLookups(catalog)
    first = asyncio.ensure_future(lookups.object_sizes(["s3://b/0", "s3://b/1"]))
    await asyncio.sleep(0.01)  # the first query is running
    rest = await asyncio.gather(
        *(lookups.object_sizes([f"s3://b/{i}", "s3://b/1"]) for i in range(2, 10))
    )
    assert await first == {"s3://b/1": 10}
    assert rest[1] == {"s3://b/3": 30, "s3://b/1": 10}
    assert rest[5] == {"s3://b/7": 70, "s3://b/1": 10}
    assert rest[0] == {"s3://b/1": 10}
    # two queries for nine groups; each URI asked once per query
    assert len(catalog.asked) == 2 == lookups.queries
    assert sorted(catalog.asked[1]) == sorted({"s3://b/1", *(f"s3://b/{i}" for i in range(2, 10))})


async def test_each_group_that_asked_gets_the_catalogs_error() -> None:
    lookups = ObjectLookups(SlowCatalog({}, fail=True))
    results = await asyncio.gather(
        *(lookups.object_sizes([f"s3://b/{i}"]) for i in range(3)), return_exceptions=True
    )
    assert all(isinstance(r, CatalogError) for r in results)


async def test_a_cancelled_group_leaves_the_others_their_answer() -> None:
    catalog = SlowCatalog({"s3://b/1": 1, "s3://b/2": 2})
    lookups = ObjectLookups(catalog)
    one = asyncio.ensure_future(lookups.object_sizes(["s3://b/1"]))
    two = asyncio.ensure_future(lookups.object_sizes(["s3://b/2"]))
    await asyncio.sleep(0.01)
    one.cancel()
    assert await two == {"s3://b/2": 2}
    with pytest.raises(asyncio.CancelledError):
        await one
    assert await lookups.object_sizes(["s3://b/1"]) == {"s3://b/1": 1}  # and later ones too
