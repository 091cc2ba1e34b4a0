"""The query language in REST (``q=``), on the command line (``ingest query``), and the index
tables filled by their migration for a catalog written before them; SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp.test_utils import TestClient

from ingest import Dataset, DatasetVersion, DataView, FrameGroup, SingleFrame, runtime
from ingest.catalog.db import connect
from ingest.catalog.frameindex import TABLES, backfill
from ingest.catalog.schema import MIGRATIONS
from ingest.catalog.sql import SqlCatalog
from ingest.web import make_app

from ..webfixtures import Example, build_example
from .test_cli import env, run  # noqa: F401 - fixture

#: tables the migrations after the query index's create (chunked imports, label counts)
LATER_TABLES = ["chunks", "imports", "version_labels"]


@pytest.fixture
async def client(alib: str, tmp_path: Path, aiohttp_client: Any) -> tuple[TestClient, Example]:
    example = await build_example(tmp_path / "src")
    return await aiohttp_client(make_app(runtime.get_settings(), token="t")), example


async def test_rest_q_filters_and_points_at_errors(client: tuple[TestClient, Example]) -> None:
    http, example = client
    url = f"/api/versions/{example.draft_id}/frames"

    async def ids(**params: str) -> list[str]:
        resp = await http.get(url, params=params)
        assert resp.status == 200, await resp.text()
        return [doc["id"] for doc in (await resp.json())["frames"]]

    every = example.group_ids
    assert await ids(q="label:car AND NOT label:day") == ["solo-0"]
    assert await ids(q="pedestrian OR meta.flag:true") == [*every, "solo-0"]
    assert await ids(q="meta.speed_kmh:[41 TO 42]", context_id="drive-01") == every[1:3]
    assert await ids(q="source.id:left AND confidence:<0.6") == every
    assert await ids(q="car", limit="2") == every[:2]  # pages like the other filters
    resp = await http.get(url, params={"q": "label:car AND (day OR"})
    assert resp.status == 400
    error = (await resp.json())["error"]
    assert error["field"] == "q" and error["column"] == 22 and "column 22" in error["message"]
    resp = await http.get(url, params={"q": "colour:red"})
    assert (await resp.json())["error"]["column"] == 1


def test_cli_query_counts_lists_and_writes_jsonl(env: dict[str, str], tmp_path: Path) -> None:  # noqa: F811
    manifest = tmp_path / "m.jsonl"
    lines = []
    for i in range(6):
        doc: dict[str, Any] = {
            "id": f"f{i}", "source": f"https://host/{i}.jpg", "context_id": "c",
            "timestamp": float(i), "metadata": {"city": "bremen" if i % 2 else "berlin"},
            "annotations": [{"labels": ["car"] if i < 3 else ["bus"]}],
        }  # fmt: skip
        lines.append(orjson.dumps(doc).decode())
    manifest.write_text("\n".join(lines) + "\n")
    done = run(["import", str(manifest), "--dataset", "D", "--version", "v", "--create",
                "--quiet"], env)  # fmt: skip
    assert done.returncode == 0, done.stderr

    query = "label:car AND NOT meta.city:bremen"
    counted = run(["query", "D", "v", query, "--count"], env)
    assert (counted.returncode, counted.stdout) == (0, "2\n")
    listed = run(["query", "D", "v", query], env)
    assert [line.split("\t")[0] for line in listed.stdout.splitlines()] == ["f0", "f2"]
    jsonl = run(["query", "D", "v", "meta.city:bremen", "--jsonl"], env)
    docs = [orjson.loads(line) for line in jsonl.stdout.splitlines()]
    assert [d["id"] for d in docs] == ["f1", "f3", "f5"] and docs[0]["metadata"]["city"]

    bad = run(["query", "D", "v", "label:car AND NOT"], env)
    assert bad.returncode == 2 and bad.stdout == ""
    assert "column 18" in bad.stderr and "  label:car AND NOT\n" + " " * 19 + "^" in bad.stderr


async def test_migration_indexes_frames_written_before_it(alib: str) -> None:
    version = await DatasetVersion.create_new_dataset_async("Old", version_name="v1")
    group = FrameGroup(id="g", context_id="c", timestamp=1.0, metadata={"city": "bremen", "n": 1})
    group["front"] = SingleFrame(source="https://host/f.jpg")
    group["front"].add_annotation(box2d_xywh=(1, 1, 2, 2), labels=["car"], confidence=0.9)
    solo = SingleFrame(id="s", source="https://host/s.jpg", metadata={"city": "berlin"})
    assert await version.add_frames_async([group, solo]) == []
    await runtime.aclose()

    # back to the schema before the index tables: they, the tables of the migrations after
    # theirs (the chunk tables) and those migrations' records go
    number = next(n for n, m in enumerate(MIGRATIONS, start=1) if backfill in m)
    db = await connect(alib)
    async with db.transaction() as conn:
        for table in [*TABLES, *LATER_TABLES]:
            await conn.execute(f"DROP TABLE {table}")
        await conn.execute("DELETE FROM schema_migrations WHERE version >= ?", (number,))
    await db.close()

    catalog = await SqlCatalog.open(alib)  # migrates: creates and fills the tables
    for table in TABLES:
        assert (await catalog.db.fetchone(f"SELECT COUNT(*) FROM {table}"))[0] > 0
    counted = await catalog.db.fetchall(
        "SELECT label, SUM(frames) FROM version_labels GROUP BY label"
    )
    assert sorted(counted) == [("car", 1)]  # the label counts filled too
    await catalog.close()
    view = DataView()
    view.add_query(dataset_name="Old", version_name="v1", roi_query="car",
                   frame_query="meta.city:bremen")  # fmt: skip
    assert [item.id for item in await view.to_list_async()] == ["g"]
    view = DataView()
    view.add_query(dataset_name="Old", version_name="v1", frame_query="NOT label:car")
    assert await view.get_count_async() == 1


async def _orphans(url: str) -> tuple[int, int]:
    """(index rows of frames rows no version holds, index rows in all)."""
    catalog = await SqlCatalog.open(url)
    try:
        stale = total = 0
        for table in TABLES:
            stale += (await catalog.db.fetchone(
                f"SELECT COUNT(*) FROM {table} WHERE frame_row NOT IN "
                "(SELECT frame_row FROM version_frames)"
            ))[0]  # fmt: skip
            total += (await catalog.db.fetchone(f"SELECT COUNT(*) FROM {table}"))[0]
        return stale, total
    finally:
        await catalog.close()


async def test_index_rows_go_with_their_frames(alib: str) -> None:
    version = await DatasetVersion.create_new_dataset_async("Gone", version_name="v1")
    group = FrameGroup(id="g", context_id="c", metadata={"city": "bremen", "tags": ["a", "b"]})
    for cam in ("front", "rear"):
        group[cam] = SingleFrame(source=f"https://host/{cam}.jpg", metadata={"cam": cam})
        group[cam].add_annotation(box2d_xywh=(1, 1, 2, 2), labels=["car", "car", "red"])
    assert await version.add_frames_async([group]) == []
    assert (await _orphans(alib))[0] == 0 and (await _orphans(alib))[1] > 0
    fg = await version.get_frame_async("g")
    fg.metadata["city"] = "berlin"
    await version.update_frames_async([fg])  # a new frames row; the old one's rows go
    assert (await _orphans(alib))[0] == 0
    await version.delete_frames_async(["g"])
    assert await _orphans(alib) == (0, 0)
    assert await version.add_frames_async([group]) == []
    await version.publish_version_async()
    await Dataset.delete_async("Gone", delete_all_versions=True, force=True)
    assert await _orphans(alib) == (0, 0)
