"""Counts of plain label queries read ``version_labels`` (``catalog/labelcounts.py``); the
table follows every membership change, compared here with a brute-force count over the
version's documents after each change, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest

from ingest.catalog import FrameRow
from ingest.catalog.labelcounts import plain_label
from ingest.catalog.sql import SqlCatalog
from ingest.catalog.sqlframes import revision
from ingest.query import FrameFilter, Match, Range, frame_filter, roi_query_node

from .querydata import LABELS, make_frames, selects

EVERY_LABEL = [*LABELS, "day", "night", "absent"]


def _row(doc: dict[str, Any]) -> FrameRow:
    kind = "group" if isinstance(doc.get("frames"), dict) else "single"
    return FrameRow(doc["id"], kind, doc.get("context_id"), doc.get("timestamp"), orjson.dumps(doc))


async def _docs(catalog: SqlCatalog, version_id: str) -> list[dict[str, Any]]:
    return [orjson.loads(s.document) async for _, s in catalog.iter_frames(version_id)]


async def _check(catalog: SqlCatalog, version_id: str) -> dict[str, int]:
    """Every label's count from the table equals the brute-force count; returns them."""
    docs = await _docs(catalog, version_id)
    counts = {}
    for label in EVERY_LABEL:
        rule = FrameFilter(frame=Match("label", label))
        assert plain_label([rule]) == label  # the table answers, not the index
        counts[label] = await catalog.query_count(version_id, [rule])
        assert counts[label] == sum(selects(rule, d) for d in docs), (label, version_id)
    return counts


async def test_label_counts_follow_every_membership_change(database_url: str) -> None:
    catalog = await SqlCatalog.open(database_url)
    try:
        docs = [dict(item.to_doc(), id=f"f{i}") for i, item in enumerate(make_frames())]
        dataset = await catalog.create_dataset("C", tags=(), description=None,
                                               raise_if_exists=False)  # fmt: skip
        v1 = await catalog.create_version(dataset.id, "v1", parent_ids=(), raise_if_exists=False)
        await catalog.write_frames(v1.id, [_row(d) for d in docs[:40]])
        await catalog.write_frames(v1.id, [_row(d) for d in docs[30:]])  # 10 rewritten as is
        before = await _check(catalog, v1.id)
        assert before["Car"] > 0 and before["absent"] == 0

        # a child of one parent: the parent's rows copied; edits in the child only
        _, child = await catalog.snapshot_version(v1.id, child_name="child")
        assert await _check(catalog, child.id) == before
        edited = [dict(d, annotations=[{"labels": ["absent"]}]) for d in docs if "frames" not in d]
        await catalog.write_frames(child.id, [_row(d) for d in edited])  # replaced revisions
        await catalog.delete_frames(child.id, [docs[0]["id"], docs[1]["id"]])
        after = await _check(catalog, child.id)
        assert after["absent"] == len(edited) and after != before
        assert await _check(catalog, v1.id) == before  # the snapshot kept its counts

        stored = await catalog.get_frame(child.id, docs[2]["id"])
        new = dict(docs[2], annotations=[{"labels": ["night"]}])
        assert await catalog.replace_frame_if(child.id, _row(new), _rev(stored)) is not None
        assert await catalog.delete_frame_if(child.id, docs[3]["id"], _rev(
            await catalog.get_frame(child.id, docs[3]["id"])))  # fmt: skip
        await _check(catalog, child.id)

        # two parents sharing frame ids (the first one's frame wins): counted again
        other = await catalog.create_version(dataset.id, "other", parent_ids=(),
                                             raise_if_exists=False)  # fmt: skip
        await catalog.write_frames(other.id, [_row(dict(d, annotations=[{"labels": ["day"]}]))
                                              for d in docs[40:] if "frames" not in d])  # fmt: skip
        both = await catalog.create_version(dataset.id, "both", parent_ids=(other.id, child.id),
                                            raise_if_exists=False)  # fmt: skip
        await _check(catalog, both.id)

        await catalog.delete_version(both.id)
        await catalog.delete_dataset(dataset.id, delete_all_versions=True, force=True)
        left = await catalog.db.fetchone("SELECT COUNT(*) FROM version_labels")
        assert left[0] == 0
    finally:
        await catalog.close()


def _rev(stored: Any) -> str:
    return revision(stored.document)


@pytest.mark.parametrize(
    ("rule", "label"),
    [
        (frame_filter("car"), "car"),
        (frame_filter("label.keyword:car"), "car"),
        (FrameFilter(roi=roi_query_node("car")), "car"),
        (FrameFilter(roi=roi_query_node(["car", "red"])), None),  # both on one ROI
        (frame_filter("car OR bus"), None),
        (frame_filter("ca*"), None),
        (frame_filter("meta.label:car"), None),
        (FrameFilter(roi=roi_query_node("car"), conf_range=(0.5, None)), None),
        (FrameFilter(roi=roi_query_node("car"), count_range=(2, None)), None),
        (FrameFilter(roi=roi_query_node("car"), source=frame_filter("source.id:a").frame), None),
        (FrameFilter(frame=Range("confidence", 0.5, None)), None),
    ],
)
def test_only_a_plain_label_query_reads_the_counts(rule: FrameFilter, label: str | None) -> None:
    assert plain_label([rule]) == label
    assert plain_label([rule, rule]) is None  # OR-ed filters: counted through the index


async def test_concurrent_writers_of_one_version_add_up(database_url: str) -> None:
    """Two catalogs (chunk workers) writing one version at once: on PostgreSQL each adds to
    its connection's shard rows; the sum is the brute-force count."""
    first, second = await SqlCatalog.open(database_url), await SqlCatalog.open(database_url)
    try:
        docs = [dict(item.to_doc(), id=f"w{i}") for i, item in enumerate(make_frames(seed=3))]
        dataset = await first.create_dataset("W", tags=(), description=None,
                                             raise_if_exists=False)  # fmt: skip
        version = await first.create_version(dataset.id, "v", parent_ids=(),
                                             raise_if_exists=False)  # fmt: skip

        async def write(catalog: SqlCatalog, part: list[dict[str, Any]]) -> None:
            for start in range(0, len(part), 3):
                await catalog.write_frames(version.id, [_row(d) for d in part[start : start + 3]])

        await asyncio.gather(write(first, docs[::2]), write(second, docs[1::2]))
        counts = await _check(first, version.id)
        assert counts["Car"] > 0
    finally:
        await first.close()
        await second.close()
