"""Migration 11 (the query index reshaped, ``catalog/frameindex.py``) on a catalog the former
code left at migration 10: its index tables in migration 7's shape, filled with the rows that
code wrote (``tests/oldindex.py``). After the upgrade the index holds exactly the rows the new
code writes, and every query of ``test_query.py`` answers as the brute-force filter says, on
SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from ingest import DatasetVersion, DataView, runtime
from ingest.catalog.db import connect
from ingest.catalog.frameindex import TABLES
from ingest.catalog.schema import _DIALECT, MIGRATIONS
from ingest.catalog.sql import SqlCatalog

from ..oldindex import OLD_SCHEMA, OLD_TABLES, old_rows, rows
from .querydata import make_frames, selects, sort_key
from .test_query import FRAME_QUERIES, ROI_QUERIES, RULES, _filter


async def _back_to_migration_10(url: str) -> list[list[Any]]:
    """The index tables as migration 7 made them and the former code filled them, migration
    11 unrecorded; returns the index rows the new code gives the stored documents."""
    db = await connect(url)
    async with db.transaction() as conn:
        stored = await conn.fetchall("SELECT row_id, document FROM frames ORDER BY row_id")
        for table in TABLES:
            await conn.execute(f"DROP TABLE {table}")
        for statement in OLD_SCHEMA:
            await conn.execute(statement.format(**_DIALECT[conn.dialect]))
        for row_id, document in stored:
            for table, values in zip(OLD_TABLES, old_rows([document], int(row_id)), strict=True):
                if values:
                    marks = ", ".join("?" * len(values[0]))
                    await conn.executemany(f"INSERT INTO {table} VALUES ({marks})", values)
        await conn.execute("DELETE FROM schema_migrations WHERE version = 11")
    await db.close()
    new = [rows([document], int(row_id)) for row_id, document in stored]
    return [sorted(r for tables in new for r in tables[i]) for i in range(len(TABLES))]


async def test_a_catalog_at_migration_10_answers_every_query_after_migration_11(
    alib: str,
) -> None:
    assert len(MIGRATIONS) == 11
    version = await DatasetVersion.create_new_dataset_async("Drive", version_name="v1")
    items = make_frames()
    assert await version.add_frames_async(items) == []
    drive = [item.to_doc() | {"id": item.id} for item in items]
    await runtime.aclose()
    expected_rows = await _back_to_migration_10(alib)

    catalog = await SqlCatalog.open(alib)  # migrates: rebuilds the index from the documents
    try:
        found = []
        for table in TABLES:
            found.append(sorted(map(tuple, await catalog.db.fetchall(f"SELECT * FROM {table}"))))
        assert found == expected_rows
        assert all(found)  # every table has rows (numbers, strings, group metadata)
    finally:
        await catalog.close()

    cases: list[dict[str, Any]] = [{"frame_query": q} for q in FRAME_QUERIES]
    cases += [{"roi_query": q} for q in ROI_QUERIES] + RULES
    for case in cases:
        view = DataView()
        view.add_query(dataset_name="Drive", version_name="v1", **case)
        expected = sorted((d for d in drive if selects(_filter(**case), d)), key=sort_key)
        assert [item.id for item in await view.to_list_async()] == [d["id"] for d in expected]
        assert await view.get_count_async() == len(expected), case
