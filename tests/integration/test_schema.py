"""Migration 5 (integer row ids) upgrades an existing catalog in place, on SQLite and PostgreSQL.

The catalog is built at schema 4 with the SQL of that schema (frames keyed by their ``rev``,
membership pointing at the rev), then opened by the current code.
"""

from __future__ import annotations

import time

import orjson

from ingest.catalog.base import FrameRow
from ingest.catalog.db import connect
from ingest.catalog.schema import _DIALECT, MIGRATIONS
from ingest.catalog.sql import SqlCatalog, revision

V1, V2 = "v1", "v2"


def _doc(fid: str, ctx: str, ts: float, label: str) -> bytes:
    return orjson.dumps({"id": fid, "context_id": ctx, "timestamp": ts, "label": label})


async def _schema4_catalog(url: str) -> dict[str, bytes]:
    """A schema-4 catalog: v1 (a, b), its child v2 sharing a, with b edited and c added."""
    db = await connect(url)
    subst = _DIALECT[db.dialect]
    now = time.time()
    docs = {
        "a": _doc("a", "ctx", 1.0, "car"),
        "b1": _doc("b", "ctx", 2.0, "car"),
        "b2": _doc("b", "ctx", 2.0, "bus"),
        "c": _doc("c", "ctx2", 0.5, "car"),
    }
    async with db.transaction() as conn:
        await conn.execute(
            "CREATE TABLE schema_migrations "
            f"(version INTEGER PRIMARY KEY, applied_at {subst['real']} NOT NULL)"
        )
        for number, statements in enumerate(MIGRATIONS[:4], start=1):
            for statement in statements:
                await conn.execute(statement.format(**subst))
            await conn.execute("INSERT INTO schema_migrations VALUES (?, ?)", (number, now))
        await conn.execute("INSERT INTO datasets VALUES ('d', 'old', NULL, '[]', ?)", (now,))
        for vid, parents in ((V1, "[]"), (V2, '["v1"]')):
            await conn.execute(
                "INSERT INTO versions VALUES (?, 'd', ?, 'Draft', '{}', ?, ?, NULL)",
                (vid, vid, parents, now),
            )
        for doc in docs.values():
            parsed = orjson.loads(doc)
            await conn.execute(
                "INSERT INTO frames VALUES (?, ?, 'single', ?, ?, ?, ?)",
                (
                    revision(doc),
                    parsed["id"],
                    parsed["context_id"],
                    parsed["timestamp"],
                    doc.decode(),
                    now,
                ),
            )
        members = [(V1, "a"), (V1, "b1"), (V2, "a"), (V2, "b2"), (V2, "c")]
        for vid, key in members:
            parsed = orjson.loads(docs[key])
            await conn.execute(
                "INSERT INTO version_frames VALUES (?, ?, ?, ?, ?)",
                (vid, parsed["id"], revision(docs[key]), parsed["context_id"], parsed["timestamp"]),
            )
    await db.close()
    return docs


async def _frames(catalog: SqlCatalog, version_id: str) -> dict[str, bytes]:
    return {s.id: s.document async for _, s in catalog.iter_frames(version_id)}


async def test_migration_keeps_every_version_and_revision(database_url: str) -> None:
    docs = await _schema4_catalog(database_url)
    catalog = await SqlCatalog.open(database_url)
    try:
        assert await _frames(catalog, V1) == {"a": docs["a"], "b": docs["b1"]}
        assert await _frames(catalog, V2) == {"a": docs["a"], "b": docs["b2"], "c": docs["c"]}
        # one frames row per revision, integer keyed; the child shares the parent's row of a
        rows = await catalog.db.fetchall("SELECT row_id, rev FROM frames ORDER BY row_id")
        assert sorted(rev for _, rev in rows) == sorted(revision(d) for d in docs.values())
        assert all(isinstance(row_id, int) for row_id, _ in rows)
        shared = await catalog.db.fetchall(
            "SELECT DISTINCT frame_row FROM version_frames WHERE frame_id = 'a'"
        )
        assert len(shared) == 1
        # the old revisions are still the ETags: a compare-and-set with them succeeds once
        new_b = _doc("b", "ctx", 2.0, "truck")
        row = FrameRow("b", "single", "ctx", 2.0, new_b)
        assert await catalog.replace_frame_if(V2, row, revision(docs["b2"])) == revision(new_b)
        assert await catalog.replace_frame_if(V2, row, revision(docs["b2"])) is None
        assert (await catalog.get_frame(V1, "b")).document == docs["b1"]  # parent untouched
        # b2 is referenced by no version any more: its row is gone; new rows come after the old
        revs = {
            rev: row_id
            for row_id, rev in await catalog.db.fetchall("SELECT row_id, rev FROM frames")
        }
        assert revision(docs["b2"]) not in revs
        assert revs[revision(new_b)] > max(row_id for row_id, _ in rows)
        assert await catalog.delete_frame_if(V2, "c", revision(docs["c"]))
        assert await _frames(catalog, V2) == {"a": docs["a"], "b": new_b}
    finally:
        await catalog.close()


async def test_row_ids_are_never_reused(database_url: str) -> None:
    """A deleted frame's row id is not given to the next revision (index tables keyed by it
    must never see a row id change meaning)."""
    catalog = await SqlCatalog.open(database_url)
    try:
        dataset = await catalog.create_dataset("d")
        version = await catalog.create_version(dataset.id, "v")
        first = FrameRow("x", "single", None, None, _doc("x", "", 0, "a"))
        await catalog.write_frames(version.id, [first])
        (old,) = await catalog.db.fetchone("SELECT MAX(row_id) FROM frames") or (None,)
        await catalog.delete_frames(version.id, ["x"])
        assert await catalog.db.fetchone("SELECT COUNT(*) FROM frames") == (0,)
        await catalog.write_frames(version.id, [first])
        (new,) = await catalog.db.fetchone("SELECT MAX(row_id) FROM frames") or (None,)
        assert new > old
    finally:
        await catalog.close()
