"""Version actions of the REST API (publish, snapshot, create a child), on SQLite and
PostgreSQL (``alib``), through aiohttp's test client."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from ingest import DatasetVersion, runtime
from ingest.web import make_app

from ..webfixtures import Example, build_example

TOKEN = "versions-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
async def example(alib: str, tmp_path: Path) -> Example:
    return await build_example(tmp_path / "src")


@pytest.fixture
async def client(example: Example, aiohttp_client: Any) -> TestClient:
    client: TestClient = await aiohttp_client(make_app(runtime.get_settings(), token=TOKEN))
    return client


async def test_snapshot_child_and_publish(client: TestClient, example: Example) -> None:
    url = f"/api/versions/{example.draft_id}/snapshot"
    body = {"publish_name": "v1-snap", "child_name": "v1-next"}
    assert (await client.post(url, json=body)).status == 401
    # a cross-site form cannot post JSON without a preflight: other bodies are refused
    resp = await client.post(url, data="x", headers={**AUTH, "Content-Type": "text/plain"})
    assert resp.status == 415
    resp = await client.post(url, json=body, headers=AUTH)
    assert resp.status == 201, await resp.text()
    out = await resp.json()
    assert (out["published"]["name"], out["published"]["state"]) == ("v1-snap", "Published")
    assert out["child"]["name"] == "v1-next"
    assert out["published"]["id"] == example.draft_id  # the snapshot keeps the id
    assert out["child"]["parents"] == [example.draft_id]
    assert out["published"]["frame_count"] == out["child"]["frame_count"] == 7

    resp = await client.post(
        "/api/datasets/city-drive/versions",
        json={"name": "v2", "parents": ["v1-snap"]},
        headers=AUTH,
    )
    assert resp.status == 201, await resp.text()
    v2 = await resp.json()
    assert (v2["state"], v2["parents"], v2["frame_count"]) == (
        "Draft",
        [out["published"]["id"]],
        7,
    )
    again = await client.post(
        "/api/datasets/city-drive/versions", json={"name": "v2"}, headers=AUTH
    )
    assert again.status == 409
    missing = await client.post("/api/datasets/city-drive/versions", json={}, headers=AUTH)
    assert missing.status == 400 and (await missing.json())["error"]["field"] == "name"

    resp = await client.post(f"/api/versions/{v2['id']}/publish", json={}, headers=AUTH)
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["state"] == "Published"
    version = await DatasetVersion.get_version_async(version_id=v2["id"])
    assert not version.is_draft
