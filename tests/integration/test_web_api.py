"""The web app through aiohttp's test client, on SQLite and on PostgreSQL (``alib``)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from ingest import ConfigError, DatasetVersion, runtime
from ingest.catalog.base import FrameCursor
from ingest.catalog.search import decode_cursor, encode_cursor
from ingest.service import Ingest
from ingest.web import make_app
from ingest.web.patch import merge_patch
from ingest.web.server import check_bind, host_is_loopback, run_server

from ..webfixtures import XSS, Example, build_example

TOKEN = "t0ken-for-tests"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
async def example(alib: str, tmp_path: Path) -> Example:
    return await build_example(tmp_path / "src")


@pytest.fixture
async def client(example: Example, aiohttp_client: Any) -> TestClient:
    client: TestClient = await aiohttp_client(make_app(runtime.get_settings(), token=TOKEN))
    return client


def frames_url(version_id: str, frame_id: str | None = None) -> str:
    base = f"/api/versions/{version_id}/frames"
    return base if frame_id is None else f"{base}/{quote(frame_id, safe='')}"


async def error_of(resp: Any, status: int) -> dict[str, Any]:
    assert resp.status == status, await resp.text()
    assert resp.content_type == "application/json"
    body = await resp.json()
    assert set(body) == {"error"} and {"type", "message"} <= set(body["error"])
    return body["error"]  # type: ignore[no-any-return]


async def ids(client: TestClient, version_id: str, **query: str) -> list[str]:
    resp = await client.get(frames_url(version_id), params=query)
    assert resp.status == 200, await resp.text()
    return [doc["id"] for doc in (await resp.json())["frames"]]


# ---------------------------------------------------------------- reads


async def test_datasets_and_versions(client: TestClient, example: Example) -> None:
    resp = await client.get("/api/datasets")
    assert resp.status == 200
    datasets = (await resp.json())["datasets"]
    assert [d["name"] for d in datasets] == ["archive", "city-drive", "remote-refs"]
    assert datasets[1]["version_count"] == 1 and datasets[1]["tags"] == ["road", "rgb"]

    resp = await client.get("/api/datasets/city-drive/versions")
    body = await resp.json()
    (v1,) = body["versions"]
    assert body["dataset"]["name"] == "city-drive"
    assert (v1["id"], v1["name"], v1["state"], v1["read_only"]) == (
        example.draft_id,
        "v1",
        "Draft",
        False,
    )
    assert v1["frame_count"] == 5 + 2
    assert {tuple(m["value"]): m["labels"] for m in v1["mask_labels"]} == {
        (0, 0, 0): ["background"],
        (60, 120, 255): ["road"],
        (255, 60, 60): ["car"],
    }
    resp = await client.get(f"/api/versions/{example.published_id}")
    assert (await resp.json())["state"] == "Published"

    error = await error_of(await client.get("/api/datasets/nope/versions"), 404)
    assert error["type"] == "DatasetNotFound" and "'nope'" in error["message"]
    await error_of(await client.get("/api/versions/" + "0" * 32), 404)
    error = await error_of(await client.get("/api/versions/bad%20id!"), 400)
    assert error["field"] == "version_id"
    await error_of(await client.get("/api/nowhere"), 404)
    await error_of(await client.post("/api/datasets", headers=AUTH), 405)


async def test_frames_filters_and_pages(client: TestClient, example: Example) -> None:
    vid = example.draft_id
    every = await ids(client, vid)
    assert every == [
        "drive-01-000",
        "drive-01-001",
        "drive-01-002",
        "drive-02-000",
        "drive-02-001",
        "solo-0",
        example.odd_id,
    ]
    # keyset pages of 2 with the opaque cursor give the same order
    seen: list[str] = []
    cursor: str | None = None
    while True:
        params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        page = await (await client.get(frames_url(vid), params=params)).json()
        seen += [d["id"] for d in page["frames"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
        assert re.fullmatch(r"[A-Za-z0-9_-]+", cursor)
    assert seen == every

    assert await ids(client, vid, context_id="drive-02") == ["drive-02-000", "drive-02-001"]
    # label: a SingleFrame's ROI, a frame label, a group label, a lone SingleFrame's ROI
    assert await ids(client, vid, label="car") == [*every[:5], "solo-0"]
    assert await ids(client, vid, label="pedestrian") == every[:5]
    assert await ids(client, vid, label="day") == every[:5]
    assert await ids(client, vid, label="urban") == every[:5]
    assert await ids(client, vid, label="truck") == []
    # meta: group-level string and number, frame-level number and boolean, combined
    assert await ids(client, vid, **{"meta.weather": "sunny"}) == [
        "drive-01-000",
        "drive-01-002",
        "drive-02-000",
    ]
    assert await ids(client, vid, **{"meta.speed_kmh": "41"}) == ["drive-01-001", "drive-02-001"]
    assert await ids(client, vid, **{"meta.exposure": "0.01", "context_id": "drive-02"}) == [
        "drive-02-000",
        "drive-02-001",
    ]
    assert await ids(client, vid, **{"meta.flag": "true"}) == ["solo-0"]
    assert await ids(client, vid, **{"meta.camera": "left", "meta.weather": "cloudy"}) == [
        "drive-01-001",
        "drive-02-001",
    ]
    assert await ids(client, vid, **{"meta.note": XSS}) == ["drive-01-000"]
    assert await ids(client, vid, **{"meta.weather": "sunny", "label": "car", "limit": "1"}) == [
        "drive-01-000"
    ]
    # the documents are the JSON document form
    page = await (await client.get(frames_url(vid), params={"context_id": "solo"})).json()
    (solo,) = page["frames"]
    assert solo["schema_version"] == 2 and solo["metadata"] == {"weather": "rain", "flag": True}

    for params, field in [
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"limit": "0"}, "limit"),
        ({"limit": "x"}, "limit"),
        ({"labels": "car"}, "labels"),
        ({"label": "a", "meta.": "x"}, "meta"),
    ]:
        error = await error_of(await client.get(frames_url(vid), params=params), 400)
        assert error["field"] == field, error
    await error_of(await client.get(frames_url("f" * 32)), 404)


async def test_contexts(client: TestClient, example: Example) -> None:
    resp = await client.get(f"/api/versions/{example.draft_id}/contexts", params={"limit": "2"})
    body = await resp.json()
    assert body == {
        "contexts": [
            {"context_id": "drive-01", "frame_count": 3},
            {"context_id": "drive-02", "frame_count": 2},
        ],
        "next_after": "drive-02",
    }
    resp = await client.get(
        f"/api/versions/{example.draft_id}/contexts", params={"after": "drive-02"}
    )
    assert [c["context_id"] for c in (await resp.json())["contexts"]] == ["solo", "zz-odd"]


def test_cursor_round_trip() -> None:
    cursor = FrameCursor("ctx/ü", -1.0e300, "id 1")
    assert decode_cursor(encode_cursor(cursor)) == cursor


async def test_get_frame(client: TestClient, example: Example) -> None:
    version = await DatasetVersion.get_version_async(version_id=example.draft_id)
    for frame_id in ("drive-01-000", example.odd_id, "solo-0"):
        resp = await client.get(frames_url(example.draft_id, frame_id))
        assert resp.status == 200, await resp.text()
        assert resp.headers["ETag"].startswith('"')
        assert await resp.json() == (await version.get_frame_async(frame_id)).to_doc()
    error = await error_of(await client.get(frames_url(example.draft_id, "missing")), 404)
    assert error["type"] == "FrameNotFound"
    error = await error_of(await client.get(frames_url(example.draft_id, "bad\x01id")), 400)
    assert error["field"] == "frame_id"


# ---------------------------------------------------------------- mutations


async def test_mutations_need_the_token(client: TestClient, example: Example) -> None:
    url = frames_url(example.draft_id, "drive-01-001")
    body = {"metadata": {"x": 1}}
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
        resp = await client.patch(url, json=body, headers=headers)
        error = await error_of(resp, 401)
        assert error["type"] == "Unauthorized"
        assert resp.headers["WWW-Authenticate"].startswith("Bearer")
        await error_of(await client.delete(url, headers=headers), 401)
    version = await DatasetVersion.get_version_async(version_id=example.draft_id)
    assert (await version.get_frame_async("drive-01-001")).metadata == {
        "weather": "cloudy",
        "speed_kmh": 41,
    }


async def test_patch_partial_document(client: TestClient, example: Example) -> None:
    url = frames_url(example.draft_id, "drive-01-001")
    before = await client.get(url)
    etag = before.headers["ETag"]
    patch = {
        "metadata": {"weather": "fog", "speed_kmh": 12.5},
        "frames": {"front": {"metadata": {"exposure": 0.02, "reviewed": "yes"}}},
    }
    resp = await client.patch(url, json=patch, headers={**AUTH, "If-Match": etag})
    assert resp.status == 200, await resp.text()
    doc = await resp.json()
    assert resp.headers["ETag"] != etag
    assert doc["metadata"] == {"weather": "fog", "speed_kmh": 12.5}
    assert doc["frames"]["front"]["metadata"] == {"exposure": 0.02, "reviewed": "yes"}
    assert doc["frames"]["left"]["metadata"] == {"camera": "left"}  # untouched
    assert len(doc["frames"]["front"]["annotations"]) == 4  # untouched

    # saved through the library: the library reads it back
    version = await DatasetVersion.get_version_async(version_id=example.draft_id)
    item = await version.get_frame_async("drive-01-001")
    assert item.to_doc() == doc
    assert item["front"].metadata["reviewed"] == "yes"  # type: ignore[index]
    # and the list filter sees the new value
    assert await ids(client, example.draft_id, **{"meta.weather": "fog"}) == ["drive-01-001"]

    # the old ETag is stale now: 412, nothing written
    resp = await client.patch(url, json={"metadata": {}}, headers={**AUTH, "If-Match": etag})
    assert (await error_of(resp, 412))["type"] == "PreconditionFailed"
    assert (await version.get_frame_async("drive-01-001")).metadata["weather"] == "fog"

    # removing a SingleFrame from the group, then the frame has two
    resp = await client.patch(url, json={"frames": {"right": None}}, headers=AUTH)
    assert set((await resp.json())["frames"]) == {"front", "left"}


async def test_patch_merge_patch(client: TestClient, example: Example) -> None:
    url = frames_url(example.draft_id, "solo-0")
    body = orjson.dumps({"metadata": {"flag": None, "new": {"a": 1}}, "timestamp": 5})
    resp = await client.patch(
        url, data=body, headers={**AUTH, "Content-Type": "application/merge-patch+json"}
    )
    assert resp.status == 200, await resp.text()
    doc = await resp.json()
    assert doc["metadata"] == {"weather": "rain", "new": {"a": 1}}
    assert doc["timestamp"] == 5
    assert merge_patch({"a": {"b": 1, "c": 2}}, {"a": {"b": None}, "d": [1]}) == {
        "a": {"c": 2},
        "d": [1],
    }


async def test_patch_rejects_bad_input(client: TestClient, example: Example) -> None:
    url = frames_url(example.draft_id, "drive-01-002")
    version = await DatasetVersion.get_version_async(version_id=example.draft_id)
    before = (await version.get_frame_async("drive-01-002")).to_doc()
    cases: list[tuple[Any, int, str]] = [
        ({"frames": {"front": {"annotations": [{"box2d_xywh": [1, 2, 3]}]}}}, 400, "box"),
        ({"frames": {"front": {"metadata": [1]}}}, 400, "metadata"),
        ({"id": "other"}, 400, "id"),
        ({"frames": {}, "source": "x"}, 400, "unknown"),
        ({"frames": {"front": {"source": "/etc/passwd"}}}, 400, "upload local files"),
        ({"frames": {"front": {"preview_uri": "file:///etc/passwd"}}}, 400, "local"),
        ({"frames": {"front": None, "left": None, "right": None}}, 400, "non-empty"),
        ([1, 2], 400, "JSON object"),
        ({"schema_version": 3}, 400, "schema"),
    ]
    for body, status, words in cases:
        error = await error_of(await client.patch(url, json=body, headers=AUTH), status)
        assert error["type"] == "ValidationError"
        assert words in error["message"], (body, error)
    error = await error_of(
        await client.patch(
            url, data=b"{nope", headers={**AUTH, "Content-Type": "application/json"}
        ),
        400,
    )
    assert "not valid JSON" in error["message"]
    error = await error_of(
        await client.patch(url, data=b"{}", headers={**AUTH, "Content-Type": "text/plain"}), 415
    )
    assert "application/json" in error["message"]
    # a SingleFrame cannot become a group
    resp = await client.patch(
        frames_url(example.draft_id, "solo-0"),
        json={"frames": {"a": {"source": "https://h/x.png"}}},
        headers=AUTH,
    )
    assert "stays" in (await error_of(resp, 400))["message"]
    # a remote URI is accepted
    resp = await client.patch(
        url, json={"frames": {"right": {"preview_uri": "https://cdn.example/p.jpg"}}}, headers=AUTH
    )
    assert resp.status == 200, await resp.text()
    after = (await version.get_frame_async("drive-01-002")).to_doc()
    assert after["frames"]["right"]["preview_uri"] == "https://cdn.example/p.jpg"
    after["frames"]["right"]["preview_uri"] = None
    assert after == before  # nothing else changed by the rejected patches


async def test_published_version_is_read_only(client: TestClient, example: Example) -> None:
    url = frames_url(example.published_id, "old-drive-000")
    assert (await client.get(url)).status == 200
    error = await error_of(await client.patch(url, json={"metadata": {"x": 1}}, headers=AUTH), 409)
    assert error["type"] == "PublishedVersionError" and "Published" in error["message"]
    error = await error_of(await client.delete(url, headers=AUTH), 409)
    assert error["type"] == "PublishedVersionError"
    version = await DatasetVersion.get_version_async(version_id=example.published_id)
    assert await version.get_frame_count_async() == 1


async def test_delete(client: TestClient, example: Example) -> None:
    url = frames_url(example.draft_id, "drive-02-001")
    resp = await client.delete(url, headers=AUTH)
    assert resp.status == 204
    await error_of(await client.get(url), 404)
    assert (await error_of(await client.delete(url, headers=AUTH), 404))["type"] == "FrameNotFound"
    version = await DatasetVersion.get_version_async(version_id=example.draft_id)
    assert await version.get_frame_count_async() == 6


# ---------------------------------------------------------------- media


async def test_media(client: TestClient, example: Example, monkeypatch: pytest.MonkeyPatch) -> None:
    vid = example.draft_id
    resp = await client.get(f"/media/{vid}/drive-01-000/front/source")
    assert resp.status == 200
    assert resp.content_type == "image/png"
    assert "sandbox" in resp.headers["Content-Security-Policy"]
    assert await resp.read() == example.files["front0"].read_bytes()
    # preview: the preview if there is one, else the source
    left = await (await client.get(f"/media/{vid}/drive-01-000/left/preview")).read()
    right = await (await client.get(f"/media/{vid}/drive-01-000/right/preview")).read()
    assert left.startswith(b"\x89PNG") and len(left) < len(right)
    resp = await client.get(f"/media/{vid}/drive-01-000/front/masks/semantic")
    assert resp.status == 200 and (await resp.read()).startswith(b"\x89PNG")
    # a lone SingleFrame is "_"; ids are URL-encoded
    assert (await client.get(f"/media/{vid}/solo-0/_/source")).status == 200
    odd = quote(example.odd_id, safe="")
    assert (await client.get(f"/media/{vid}/{odd}/_/preview")).status == 200
    for path, status in [
        (f"/media/{vid}/drive-01-000/rear/source", 404),
        (f"/media/{vid}/drive-01-000/front/masks/instance", 404),
        (f"/media/{vid}/solo-0/front/source", 404),
        (f"/media/{vid}/missing/_/source", 404),
        (f"/media/{vid}/drive-01-000/front/raw", 404),
        ("/media/bad!/x/_/source", 400),
    ]:
        await error_of(await client.get(path), status)

    # remote references: https redirects to itself; s3 outside the configured store (here a
    # local one) is never presigned with the server's credentials (test_web_hardening: S3 store)
    rid = example.remote_id
    resp = await client.get(f"/media/{rid}/web-1/_/source", allow_redirects=False)
    assert resp.status == 302
    assert resp.headers["Location"] == "https://example.com/cams/000001.jpg"
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    resp = await client.get(f"/media/{rid}/s3-1/cam/preview", allow_redirects=False)
    error = await error_of(resp, 404)
    assert "not in the configured store" in error["message"] and "Location" not in resp.headers

    # a file:// URI outside the configured store is never served
    remote = await DatasetVersion.get_version_async(version_id=rid)
    item = await remote.get_frame_async("escape-1")
    item.preview_uri = "file:///etc/passwd"  # type: ignore[union-attr]
    await remote.update_frames_async([item])
    error = await error_of(await client.get(f"/media/{rid}/escape-1/_/preview"), 404)
    assert "not in the configured store" in error["message"]


# ---------------------------------------------------------------- pages, headers, openapi


async def test_pages_escape_and_headers(client: TestClient, example: Example) -> None:
    resp = await client.get("/")
    html = await resp.text()
    assert resp.status == 200 and resp.content_type == "text/html"
    csp = resp.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert "<script>window.__xss" not in html
    assert "&lt;script&gt;window.__xss = 1&lt;/script&gt;" in html

    html = await (await client.get("/datasets/city-drive")).text()
    assert "v1" in html and "Draft" in html and "road" in html

    vid = example.draft_id
    html = await (await client.get(f"/versions/{vid}")).text()
    assert html.count('class="card"') == 7
    assert html.count('class="thumb-name"') == 15  # 5 groups x 3 cameras
    html = await (await client.get(f"/versions/{vid}", params={"by_context": "1"})).text()
    assert html.count('class="card"') == 3 and 'id="next-context"' in html
    html = await (
        await client.get(f"/versions/{vid}", params={"meta": "weather=sunny", "label": "car"})
    ).text()
    assert html.count('class="card"') == 3
    html = await (await client.get(f"/versions/{vid}", params={"limit": "2"})).text()
    assert 'id="next-page"' in html

    resp = await client.get(f"/versions/{vid}/frames/drive-01-000")
    html = await resp.text()
    assert resp.status == 200
    data = re.search(r'<script type="application/json" id="viewer-data">(.*?)</script>', html, re.S)
    assert data is not None and "<script>" not in data.group(1)
    parsed = orjson.loads(data.group(1))
    assert parsed["doc"]["frames"]["front"]["metadata"]["note"] == XSS
    assert parsed["names"] == ["front", "left", "right"]
    assert 'id="save-button"' in html

    html = await (await client.get(f"/versions/{example.published_id}/frames/old-drive-000")).text()
    assert 'id="readonly-banner"' in html and 'id="save-button"' not in html

    resp = await client.get("/versions/" + "0" * 32)
    assert resp.status == 404 and resp.content_type == "text/html"
    resp = await client.get(f"/versions/{vid}", params={"meta": "no-equals-sign"})
    assert resp.status == 400 and "KEY=VALUE" in await resp.text()


async def test_openapi(client: TestClient) -> None:
    spec = await (await client.get("/api/openapi.json")).json()
    assert spec["openapi"].startswith("3.")
    paths = spec["paths"]
    assert "/api/versions/{version_id}/frames/{frame_id}" in paths
    assert set(paths["/api/versions/{version_id}/frames/{frame_id}"]) == {"get", "patch", "delete"}
    assert "/api/datasets/{name}/versions" in paths
    assert spec["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"


# ---------------------------------------------------------------- no token: loopback only


async def test_no_token_serves_loopback_hosts_only(example: Example, aiohttp_client: Any) -> None:
    client: TestClient = await aiohttp_client(make_app(runtime.get_settings(), token=None))
    url = frames_url(example.draft_id, "solo-0")
    resp = await client.patch(url, json={"metadata": {"open": True}})
    assert resp.status == 200, await resp.text()
    for host in ("evil.example", "evil.example:80", "10.0.0.1"):
        resp = await client.get("/api/datasets", headers={"Host": host})
        assert (await error_of(resp, 403))["type"] == "Forbidden"
    resp = await client.get("/api/datasets", headers={"Host": "localhost:8080"})
    assert resp.status == 200


def test_binding_needs_a_token_off_loopback() -> None:
    for host in ("127.0.0.1", "localhost", "::1", "[::1]", "127.0.0.2"):
        assert host_is_loopback(host), host
        check_bind(host, None)
    for host in ("0.0.0.0", "", "::", "192.0.2.1"):
        assert not host_is_loopback(host), host
        with pytest.raises(ConfigError, match="INGEST_API_TOKEN"):
            check_bind(host, None)
        check_bind(host, "a-token")
    with pytest.raises(ConfigError, match="without an API token"):
        run_server("0.0.0.0", 0, None)
    with pytest.raises(ConfigError, match="whitespace"):
        check_bind("127.0.0.1", " token")


def test_module_entry_point_refuses_public_without_token(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from ingest.web.__main__ import main

    monkeypatch.delenv("INGEST_API_TOKEN", raising=False)
    assert main(["--host", "0.0.0.0", "--port", "0"]) == 2
    assert "INGEST_API_TOKEN" in capsys.readouterr().err


def test_app_keys_are_typed() -> None:
    from ingest.web.common import ACCESS, APP, SETTINGS

    for key in (ACCESS, APP, SETTINGS):
        assert isinstance(key, web.AppKey)


async def test_version_page_shows_running_imports(
    client: TestClient, example: Example, tmp_path: Path
) -> None:
    vid = example.draft_id
    html = await (await client.get(f"/versions/{vid}")).text()
    assert 'id="running-imports"' not in html
    manifest = tmp_path / "queued.jsonl"
    manifest.write_text("".join(
        f'{{"id": "q{i}", "frames": {{"a": {{"source": "https://h/{i}.jpg"}}}}}}\n'
        for i in range(5)
    ))  # fmt: skip
    app = runtime.get_settings()
    async with Ingest(app.replace(chunk_groups=2)) as ingest_app:
        record = await ingest_app.plan_import(str(manifest), vid)
        await ingest_app.run_chunk(record.id, 0, "w0")
    html = await (await client.get(f"/versions/{vid}")).text()
    assert 'id="running-imports"' in html and "queued.jsonl" in html
    assert "1/3 chunks done" in html and '<progress max="3" value="1">' in html
