"""The web app's media on gs:// and az:// stores: an Azure SAS URL where the credentials are an
account key (Azurite's), the object streamed through the app where they cannot sign (the GCS
emulator has no credentials), never a URL for an object outside the configured store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

import ingest
from ingest import DatasetVersion, SingleFrame, runtime
from ingest.storage import open_storage
from ingest.web import make_app

from ..cloudfixtures import BOTH_CLOUDS, SCHEMES, CloudTarget
from .test_web_api import TOKEN, error_of

BODY = b"\x89PNG in the store" + bytes(range(256)) * 4000  # ~1 MB: several chunks


@pytest.fixture
async def cloud_app(
    sqlite_url: str, cloud: CloudTarget, aiohttp_client: Any
) -> AsyncIterator[tuple[TestClient, str, CloudTarget]]:
    store = await open_storage(cloud.storage_url)
    try:
        uri = await store.put_bytes("cam/a.png", BODY, "image/png")
    finally:
        await store.close()
    scheme = SCHEMES[cloud.kind]
    ingest.configure(database_url=sqlite_url, storage_url=cloud.storage_url)
    version = await DatasetVersion.create_new_dataset_async("CloudMedia")
    frames = [
        SingleFrame(source=uri, width=1, height=1, id="inside"),
        SingleFrame(
            source=f"{scheme}://another-bucket/secret.png", width=1, height=1, id="foreign"
        ),
        SingleFrame(
            source=f"{scheme}://{cloud.bucket}/other/x.png", width=1, height=1, id="beside"
        ),
        SingleFrame(source=f"{uri}.missing", width=1, height=1, id="missing"),
    ]
    assert await version.add_frames_async(frames) == []
    web_client: TestClient = await aiohttp_client(make_app(runtime.get_settings(), token=TOKEN))
    yield web_client, version.version_id, cloud
    await ingest.aclose()
    runtime.close_all()


@BOTH_CLOUDS
async def test_media_signed_or_streamed_only_inside_the_store(
    cloud_app: tuple[TestClient, str, CloudTarget],
) -> None:
    web, vid, cloud = cloud_app
    resp = await web.get(f"/media/{vid}/inside/_/source", allow_redirects=False)
    if cloud.kind == "azure":  # an account key signs: a read-only SAS URL on the store
        assert resp.status == 302, await resp.text()
        location = resp.headers["Location"]
        assert location.startswith(cloud.proxy.endpoint) and "sig=" in location
        assert f"/{cloud.bucket}/frames/cam/a.png?" in location and "sp=r" in location
        async with aiohttp.ClientSession() as session, session.get(location) as got:
            assert got.status == 200 and await got.read() == BODY  # Azurite checks the SAS
    else:  # no credentials that can sign: streamed through the app
        assert resp.status == 200, await resp.text()
        assert resp.headers["Content-Type"] == "image/png"
        assert resp.headers["Content-Length"] == str(len(BODY))
        assert await resp.read() == BODY
    for frame_id in ("foreign", "beside"):
        resp = await web.get(f"/media/{vid}/{frame_id}/_/source", allow_redirects=False)
        error = await error_of(resp, 404)
        assert "not in the configured store" in error["message"], frame_id
        assert "Location" not in resp.headers
    if cloud.kind == "gcs":
        resp = await web.get(f"/media/{vid}/missing/_/source", allow_redirects=False)
        assert "does not exist" in (await error_of(resp, 404))["message"]
