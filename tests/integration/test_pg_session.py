"""The catalog's PostgreSQL pool takes connections back without a reset query (one round trip
less per statement and per commit, ``catalog/db.py``), which is safe only while no use leaves
session state behind: settings, session advisory locks, LISTEN, cursors, temporary tables.
Checked on every release of a connection while the library, the web app and queries run
(asyncpg's own type introspection turns ``jit`` off and back to what it was: a setting whose
value is its reset value is no state)."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

import ingest
from ingest import DatasetVersion, DataView, IterationOrder, runtime
from ingest.catalog import db
from ingest.web import make_app

from ..webfixtures import build_example

TOKEN = "t0ken-for-tests"
SESSION_STATE = """SELECT
  (SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()),
  (SELECT count(*) FROM pg_cursors WHERE name <> ''),  -- not this query's own portal
  (SELECT count(*) FROM pg_listening_channels()),
  (SELECT coalesce(array_agg(name), '{}') FROM pg_settings
     WHERE source = 'session' AND setting IS DISTINCT FROM reset_val),
  (SELECT count(*) FROM pg_class WHERE relnamespace = pg_my_temp_schema()),
  (SELECT current_setting('plan_cache_mode'))"""
CLEAN = (0, 0, 0, [], 0, "force_custom_plan")


async def test_no_session_state_is_left_on_a_released_connection(
    lib: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, aiohttp_client: Any
) -> None:
    if not lib.startswith("postgresql"):
        pytest.skip("PostgreSQL's pool (SQLite has one connection and no reset)")
    released: list[tuple[Any, ...]] = []

    async def check(conn: Any) -> None:
        released.append(tuple(await conn.fetchrow(SESSION_STATE)))

    monkeypatch.setattr(db, "_keep_session", check)
    try:  # migrations, the library's writes and reads
        example = await build_example(tmp_path / "src")
        version = await DatasetVersion.get_version_async(version_id=example.draft_id)
        frame = await version.get_frame_async("drive-01-001")
        frame.metadata["seen"] = True
        await version.update_frames_async([frame])
        for order in (IterationOrder.sequential, IterationOrder.random):  # the query paths
            view = DataView(iteration_order=order, random_seed=1)
            view.add_query(dataset_name=example.dataset, version_name="v1", roi_query="car")
            assert await view.get_count_async() > 0
            assert await view.to_list_async()
        client: TestClient = await aiohttp_client(make_app(runtime.get_settings(), token=TOKEN))
        base = f"/api/versions/{example.draft_id}/frames"
        pages = (f"/datasets/{example.dataset}", f"/versions/{example.draft_id}")
        for url in ("/api/datasets", f"{base}?q=label:car", f"{base}/solo-0", "/", *pages):
            assert (await client.get(url)).status == 200, url
        resp = await client.patch(
            f"{base}/solo-0",
            json={"metadata": {"x": 1}},
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
        assert resp.status == 200, await resp.text()
        await version.publish_version_async()
    finally:
        await ingest.aclose()
    assert len(released) > 20
    assert [state for state in released if state != CLEAN] == []


#: statements that leave state on a session (``SET LOCAL`` and ``pg_advisory_xact_lock`` end
#: with their transaction)
SESSION_SQL = re.compile(
    r"(^|;)\s*(SET\s+(?!LOCAL\b)|RESET\b|LISTEN\b|DECLARE\b|PREPARE\b)"
    r"|set_config\s*\(|pg_(try_)?advisory_lock(_shared)?\s*\(|\bTEMP(ORARY)?\s+TABLE\b"
    r"|\bWITH\s+HOLD\b",
    re.IGNORECASE,
)


def session_sql(source: str) -> list[str]:
    """The string constants of a module's source (docstrings aside) holding session-state SQL."""
    tree = ast.parse(source)
    docs = {id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Expr)}
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docs
        and SESSION_SQL.search(node.value)
    ]


def test_the_catalog_sends_no_session_state_sql() -> None:
    """Every query of the catalog is in ``ingest/catalog/`` (``test_layout.py``): none of its
    statements sets session state (what the test above sees at run time, for every path)."""
    catalog = Path(db.__file__).parent
    assert {p.name: session_sql(p.read_text()) for p in catalog.glob("*.py")} == {
        p.name: [] for p in catalog.glob("*.py")
    }
    # what it would catch
    assert session_sql('q = "SET search_path TO x"; r = "SELECT pg_advisory_lock(1)"') == [
        "SET search_path TO x",
        "SELECT pg_advisory_lock(1)",
    ]
    assert session_sql('q = "UPDATE t SET a = 1; SET LOCAL lock_timeout = 1"') == []
