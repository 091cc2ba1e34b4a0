"""The web API under concurrent and hostile edits (SQLite and PostgreSQL): atomic If-Match on
PATCH and DELETE, deeply nested bodies, media of sources outside the configured S3 store, and
the catalog's per-version counts in one query."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp.test_utils import TestClient

import ingest
from ingest import DatasetVersion, SingleFrame, runtime
from ingest.catalog import FrameRow
from ingest.catalog.sql import revision
from ingest.catalog.sqlframes import SqlFrames
from ingest.service import Ingest
from ingest.web import make_app

from ..s3server import s3_client
from ..webfixtures import Example
from .test_web_api import AUTH, TOKEN, client, error_of, example, frames_url  # noqa: F401

# ---------------------------------------------------------------- If-Match


async def test_concurrent_patches_with_one_etag_have_one_winner(
    client: TestClient,  # noqa: F811
    example: Example,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url = frames_url(example.draft_id, "drive-01-001")
    etag = (await client.get(url)).headers["ETag"]
    read = SqlFrames.get_frame

    async def slow_read(self: SqlFrames, version_id: str, frame_id: str) -> Any:
        stored = await read(self, version_id, frame_id)
        await asyncio.sleep(0.02)  # every editor reads before any writes: the probe's race
        return stored

    monkeypatch.setattr(SqlFrames, "get_frame", slow_read)

    async def patch(n: int) -> Any:
        return await client.patch(
            url, json={"metadata": {"n": n}}, headers={**AUTH, "If-Match": etag}
        )

    responses = await asyncio.gather(*(patch(n) for n in range(20)))
    statuses = sorted(r.status for r in responses)
    assert statuses == [200] + [412] * 19, statuses
    (winner,) = [r for r in responses if r.status == 200]
    won = await winner.json()
    after = await client.get(url)
    assert (await after.json())["metadata"] == won["metadata"]
    assert after.headers["ETag"] == winner.headers["ETag"] != etag
    for loser in responses:
        if loser.status == 412:
            assert (await loser.json())["error"]["type"] == "PreconditionFailed"


async def test_concurrent_patches_without_if_match_lose_no_update(
    client: TestClient,  # noqa: F811
    example: Example,  # noqa: F811
) -> None:
    url = frames_url(example.draft_id, "solo-0")
    headers = {**AUTH, "Content-Type": "application/merge-patch+json"}

    async def patch(n: int) -> Any:
        body = orjson.dumps({"metadata": {f"k{n}": n}})
        return await client.patch(url, data=body, headers=headers)

    responses = await asyncio.gather(*(patch(n) for n in range(5)))
    assert [r.status for r in responses] == [200] * 5
    metadata = (await (await client.get(url)).json())["metadata"]
    assert {f"k{n}": n for n in range(5)}.items() <= metadata.items()


async def test_delete_honours_if_match(client: TestClient, example: Example) -> None:  # noqa: F811
    url = frames_url(example.draft_id, "drive-02-000")
    etag = (await client.get(url)).headers["ETag"]
    for wrong in ('"0123"', 'W/"' + etag.strip('"') + '"', '"x", "y"'):
        resp = await client.delete(url, headers={**AUTH, "If-Match": wrong})
        assert (await error_of(resp, 412))["type"] == "PreconditionFailed"
    assert (await client.get(url)).status == 200
    # a PATCH in between makes the ETag stale
    resp = await client.patch(url, json={"metadata": {"x": 1}}, headers=AUTH)
    assert resp.status == 200
    await error_of(await client.delete(url, headers={**AUTH, "If-Match": etag}), 412)
    fresh = resp.headers["ETag"]
    resp = await client.delete(url, headers={**AUTH, "If-Match": f'"other", {fresh}'})
    assert resp.status == 204
    await error_of(await client.get(url), 404)
    resp = await client.delete(url, headers={**AUTH, "If-Match": "*"})
    assert (await error_of(resp, 404))["type"] == "FrameNotFound"
    other = frames_url(example.draft_id, "drive-02-001")
    assert (await client.delete(other, headers={**AUTH, "If-Match": "*"})).status == 204


async def test_if_match_on_a_published_version_is_409(
    client: TestClient,  # noqa: F811
    example: Example,  # noqa: F811
) -> None:
    url = frames_url(example.published_id, "old-drive-000")
    etag = (await client.get(url)).headers["ETag"]
    for method in (client.delete, client.patch):
        kwargs: dict[str, Any] = {"json": {"metadata": {}}} if method == client.patch else {}
        resp = await method(url, headers={**AUTH, "If-Match": etag}, **kwargs)
        assert (await error_of(resp, 409))["type"] == "PublishedVersionError"


async def test_catalog_compare_and_set(alib: str) -> None:
    version = await DatasetVersion.create_new_dataset_async("Cas")
    frame = SingleFrame(source="https://example.com/a.jpg", width=1, height=1, id="f")
    assert await version.add_frames_async([frame]) == []
    async with Ingest(runtime.get_settings()) as app:
        catalog = app.catalog
        stored = await catalog.get_frame(version.version_id, "f")
        rev = revision(stored.document)
        doc = orjson.loads(stored.document)
        doc["metadata"] = {"v": 2}
        row = FrameRow("f", "single", doc.get("context_id"), None, orjson.dumps(doc))
        results = await asyncio.gather(
            *(catalog.replace_frame_if(version.version_id, row, rev) for _ in range(5))
        )
        assert results.count(None) == 4 and results.count(revision(row.document)) == 1
        assert await catalog.delete_frame_if(version.version_id, "f", rev) is False
        new_rev = revision(row.document)
        assert await catalog.delete_frame_if(version.version_id, "f", new_rev) is True
        with pytest.raises(ingest.FrameNotFound):
            await catalog.replace_frame_if(version.version_id, row, new_rev)
        # counts per version of a dataset, and versions per dataset, in one query each
        other = SingleFrame(source="https://example.com/b.jpg", width=1, height=1, id="g")
        assert await version.add_frames_async([other]) == []
        child = await catalog.create_version(version.dataset_id, "child", parent_ids=[])
        counts = await catalog.frame_counts(version.dataset_id)
        assert counts == {version.version_id: 1, child.id: 0}
        assert (await catalog.version_counts())[version.dataset_id] == 2


# ---------------------------------------------------------------- hostile bodies


def nested(depth: int) -> bytes:
    """JSON text of an object ``depth`` levels deep."""
    return b'{"k": ' * (depth - 1) + b'{"leaf": 1}' + b"}" * (depth - 1)


async def test_deeply_nested_metadata_is_a_400(
    client: TestClient,  # noqa: F811
    example: Example,  # noqa: F811
) -> None:
    url = frames_url(example.draft_id, "solo-0")
    before = await (await client.get(url)).json()
    for depth in (1000, 300):
        raw = b'{"metadata": ' + nested(depth - 1) + b"}"
        for content_type in ("application/json", "application/merge-patch+json"):
            headers = {**AUTH, "Content-Type": content_type}
            error = await error_of(await client.patch(url, data=raw, headers=headers), 400)
            assert error["type"] == "ValidationError" and "nested" in error["message"]
    # 2,000 levels: orjson's own parser limit, also a 400
    raw = b'{"metadata": ' + b'{"k": ' * 2000 + b"1" + b"}" * 2000 + b"}"
    error = await error_of(
        await client.patch(url, data=raw, headers={**AUTH, "Content-Type": "application/json"}),
        400,
    )
    # below the body limit: stored, or refused by validation; never a 500
    for depth in (199, 120, 60):
        raw = b'{"metadata": ' + nested(depth) + b"}"
        headers = {**AUTH, "Content-Type": "application/json"}
        resp = await client.patch(url, data=raw, headers=headers)
        assert resp.status in (200, 400), (depth, resp.status, await resp.text())
    # numbers orjson would not write back: integers past 64 bits, 1e999 (infinity)
    for raw in (b'{"metadata": {"big": 1180591620717411303424}}', b'{"metadata": {"x": 1e999}}'):
        headers = {**AUTH, "Content-Type": "application/json"}
        resp = await client.patch(url, data=raw, headers=headers)
        assert resp.status in (200, 400), (raw, resp.status, await resp.text())
    resp = await client.patch(url, json=before, headers=AUTH)
    assert resp.status == 200, await resp.text()


async def test_an_integer_past_64_bits_in_a_patch_is_refused_not_rounded(
    client: TestClient,  # noqa: F811
    example: Example,  # noqa: F811
) -> None:
    url = frames_url(example.draft_id, "solo-0")
    before = await (await client.get(url)).json()
    raw = b'{"metadata": {"big": 1180591620717411303424}}'  # 2**70
    headers = {**AUTH, "Content-Type": "application/json"}
    error = await error_of(await client.patch(url, data=raw, headers=headers), 400)
    assert error["type"] == "ValidationError" and "metadata" in error["message"]
    assert await (await client.get(url)).json() == before  # nothing stored, nothing rounded


# ---------------------------------------------------------------- media on an S3 store


@pytest.fixture
async def s3_app(
    sqlite_url: str, s3_bucket: tuple[str, str], aiohttp_client: Any
) -> AsyncIterator[tuple[TestClient, str, str, str]]:
    endpoint, bucket = s3_bucket
    s3_client(endpoint).put_object(Bucket=bucket, Key="store/cam/a.png", Body=b"\x89PNG in store")
    ingest.configure(
        database_url=sqlite_url, storage_url=f"s3://{bucket}/store", s3_endpoint_url=endpoint
    )
    version = await DatasetVersion.create_new_dataset_async("S3Media")
    frames = [
        SingleFrame(source=f"s3://{bucket}/store/cam/a.png", width=1, height=1, id="inside"),
        SingleFrame(source="s3://another-bucket/secret.png", width=1, height=1, id="foreign"),
        SingleFrame(source=f"s3://{bucket}/other/x.png", width=1, height=1, id="beside"),
        SingleFrame(source=f"s3://{bucket}/store/../other/x.png", width=1, height=1, id="dots"),
    ]
    assert await version.add_frames_async(frames) == []
    web_client: TestClient = await aiohttp_client(make_app(runtime.get_settings(), token=TOKEN))
    yield web_client, version.version_id, bucket, endpoint
    await ingest.aclose()
    runtime.close_all()


async def test_media_presigns_only_objects_of_the_configured_store(
    s3_app: tuple[TestClient, str, str, str],
) -> None:
    web, vid, bucket, endpoint = s3_app
    resp = await web.get(f"/media/{vid}/inside/_/source", allow_redirects=False)
    assert resp.status == 302, await resp.text()
    location = resp.headers["Location"]
    assert location.startswith(endpoint) and f"/{bucket}/store/cam/a.png" in location
    async with aiohttp.ClientSession() as session, session.get(location) as got:
        assert await got.read() == b"\x89PNG in store"  # the presigned URL works
    for frame_id in ("foreign", "beside", "dots"):
        resp = await web.get(f"/media/{vid}/{frame_id}/_/source", allow_redirects=False)
        error = await error_of(resp, 404)
        assert "not" in error["message"] and "Location" not in resp.headers, frame_id
    # the probe's case: a PATCHed source pointing at another bucket
    url = frames_url(vid, "inside")
    resp = await web.patch(url, json={"source": "s3://another-bucket/stolen.png"}, headers=AUTH)
    assert resp.status == 200, await resp.text()
    resp = await web.get(f"/media/{vid}/inside/_/source", allow_redirects=False)
    assert "not in the configured store" in (await error_of(resp, 404))["message"]
