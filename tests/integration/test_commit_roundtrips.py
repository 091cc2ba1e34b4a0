"""A commit (``write_frames``) is one call into SQLite's database thread (``Database.atomic``)
and four round trips to PostgreSQL (BEGIN, one check, one write, COMMIT): the same rows, the
same atomicity, counted with a spy on the database's executor / asyncpg's connection."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import orjson
import pytest

from ingest.catalog import FrameRow, commitrows
from ingest.catalog.db import Conn
from ingest.catalog.sql import SqlCatalog
from ingest.errors import CatalogError


def _row(i: int, label: str) -> FrameRow:
    doc = {
        "id": f"g{i}",
        "context_id": "run",
        "timestamp": i,
        "frames": {"cam": {"source": f"s3://b/{i}.jpg", "annotations": [{"labels": [label]}]}},
        "metadata": {"n": i, "city": "bremen"},
    }
    return FrameRow(doc["id"], "group", "run", i, orjson.dumps(doc))


async def _counts(catalog: SqlCatalog, version_id: str) -> tuple[Any, ...]:
    """Members, frames rows, index rows, label counts, objects: all a commit writes."""
    tables = (
        "version_frames",
        "frames",
        "frame_units",
        "frame_labels",
        "frame_meta",
        "frame_nums",
        "objects",
    )
    counts = [(await catalog.db.fetchone(f"SELECT COUNT(*) FROM {t}"))[0] for t in tables]  # type: ignore[index]
    labels = await catalog.db.fetchall(
        "SELECT label, SUM(frames) FROM version_labels WHERE version_id = ? "
        "GROUP BY label ORDER BY label",
        (version_id,),
    )
    return (*counts, [tuple(r) for r in labels])


async def _draft(catalog: SqlCatalog) -> str:
    dataset = await catalog.create_dataset("D")
    return (await catalog.create_version(dataset.id, "v1", parent_ids=())).id


async def _insert_then_replace(catalog: SqlCatalog, calls: list[Any]) -> list[list[Any]]:
    """Six new frames, then three of them replaced and one added, then one again unchanged:
    what ``calls`` (a spy's record) saw during each of the first two commits."""
    version_id = await _draft(catalog)
    seen = []
    objects = [(f"s3://b/{i}.jpg", 10 + i) for i in range(6)]
    calls.clear()
    result = await catalog.write_frames(
        version_id, [_row(i, "car") for i in range(6)], objects=objects
    )
    assert result.inserted == 6
    seen.append(list(calls))
    # replacing frames reads their old documents, uncounts labels, drops orphan rows
    calls.clear()
    result = await catalog.write_frames(
        version_id, [_row(i, "bus") for i in range(3)] + [_row(9, "car")], objects=objects
    )
    assert (result.updated, result.inserted) == (3, 1)
    seen.append(list(calls))
    assert await _counts(catalog, version_id) == (
        7, 7, 7, 7, 7, 7, 6, [("bus", 3), ("car", 4)]
    )  # fmt: skip
    # the same rows again change nothing (idempotent)
    result = await catalog.write_frames(version_id, [_row(9, "car")])
    assert (result.unchanged, result.inserted) == (1, 0)
    return seen


async def test_a_sqlite_commit_is_one_call_into_the_database_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    catalog = await SqlCatalog.open(f"sqlite:///{tmp_path}/c.db")
    try:
        executor = catalog.db._executor  # type: ignore[attr-defined]
        calls: list[Any] = []
        submit = executor.submit

        def spy(fn: Any, *args: Any) -> Any:
            calls.append(fn)
            return submit(fn, *args)

        monkeypatch.setattr(executor, "submit", spy)
        assert [len(c) for c in await _insert_then_replace(catalog, calls)] == [1, 1]
    finally:
        await catalog.close()


async def test_a_postgresql_commit_is_four_round_trips(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Counted on asyncpg's connection (every query, BEGIN and COMMIT included): a commit of
    new frames was 12 round trips (a statement per table), now BEGIN, one statement that
    checks the version and its members and takes row ids, one that writes every table,
    COMMIT. Replacing frames adds the reads of the old documents and the orphans' deletes
    (one statement for every index table)."""
    import asyncpg

    if not database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL's round trips (SQLite's: the test above)")
    catalog = await SqlCatalog.open(database_url)
    try:
        calls: list[Any] = []
        for name in ("execute", "executemany", "fetch", "fetchrow", "fetchval"):
            real = getattr(asyncpg.Connection, name)

            def spy(self: Any, query: str, *args: Any, _real: Any = real, **kw: Any) -> Any:
                calls.append(query.split()[0])
                return _real(self, query, *args, **kw)

            monkeypatch.setattr(asyncpg.Connection, name, spy)
        inserted, replaced = await _insert_then_replace(catalog, calls)
        # and nothing after COMMIT: the pool takes the connection back without a reset query
        # (it was one more round trip, for any use: ``catalog/db.py``, ``_keep_session``)
        assert inserted == ["BEGIN;", "WITH", "WITH", "COMMIT;"]
        # was 19, then 11 (a delete per index table and a reset query), now one orphan delete
        assert len(replaced) == 8, replaced
    finally:
        await catalog.close()


async def test_a_commit_failing_midway_leaves_nothing(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    catalog = await SqlCatalog.open(database_url)
    try:
        version_id = await _draft(catalog)
        await catalog.write_frames(version_id, [_row(0, "car")])
        before = await _counts(catalog, version_id)

        write = commitrows.write

        async def refuse(*args: Any) -> None:  # after every row of the commit was written
            await write(*args)
            raise CatalogError("refused", transient=False)

        monkeypatch.setattr(commitrows, "write", refuse)
        with pytest.raises(CatalogError, match="refused"):
            await catalog.write_frames(
                version_id, [_row(0, "bus"), _row(1, "car")], objects=[("s3://b/1.jpg", 1)]
            )
        monkeypatch.undo()
        assert await _counts(catalog, version_id) == before
        # the row ids it took are free again, and the next commit goes through
        result = await catalog.write_frames(version_id, [_row(1, "car")])
        assert result.inserted == 1
        assert (await _counts(catalog, version_id))[-1] == [("car", 2)]
    finally:
        await catalog.close()


async def test_a_sqlite_transaction_body_may_await_only_the_database(tmp_path: Path) -> None:
    catalog = await SqlCatalog.open(f"sqlite:///{tmp_path}/c.db")
    try:

        async def body(conn: Conn) -> None:
            await conn.execute("INSERT INTO objects (uri, size, stored_at) VALUES ('u', 1, 0)")
            await asyncio.sleep(0)

        with pytest.raises(CatalogError, match="awaited something other than the database"):
            await catalog.db.atomic(body)
        assert await catalog.object_sizes(["u"]) == {}  # rolled back
        # the connection is usable afterwards
        assert await catalog.db.atomic(lambda conn: conn.fetchone("SELECT 1")) == (1,)
    finally:
        await catalog.close()
