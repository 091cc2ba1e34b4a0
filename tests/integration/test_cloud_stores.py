"""The pipeline on Google Cloud Storage and Azure Blob Storage: their emulators, started by the
tests (gcp-storage-emulator, Azurite), behind the fault-injecting proxy (``tests.cloudfixtures``).

The same guarantees as on S3: exactly ``upload_retries + 1`` attempts (no retry of the SDKs' or
aiohttp's own), permanent errors not retried, a failing frame rejects its whole group and leaves
no object behind, whole objects whose bytes the service checked, re-runs that upload nothing.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

import ingest
from ingest import DatasetVersion, FrameGroup, SingleFrame
from ingest.runtime import close_all

from ..cloudfixtures import BOTH_CLOUDS, SCHEMES, CloudTarget
from ..images import write_png
from .test_pipeline_s3 import groups_of


@pytest.fixture
def cloud_lib(
    sqlite_url: str, cloud: CloudTarget, monkeypatch: pytest.MonkeyPatch
) -> Iterator[CloudTarget]:
    """The library on a fresh catalog and the cloud store (through the proxy)."""
    for key in list(os.environ):
        if key.startswith("INGEST_"):
            monkeypatch.delenv(key)
    ingest.configure(
        database_url=sqlite_url,
        storage_url=cloud.storage_url,
        retry_backoff_base_s=0.01,
        retry_backoff_max_s=0.05,
        upload_timeout_s=1.5,
        multipart_threshold_mb=1,
        concurrency=4,  # the GCS emulator serves one request at a time, backlog 5
    )
    yield cloud
    close_all()


@BOTH_CLOUDS
@pytest.mark.parametrize("fault", ["503", "reset"])
def test_transient_failures_get_exactly_retries_plus_one_attempts(
    cloud_lib: CloudTarget, tmp_path: Path, fault: str
) -> None:
    version = DatasetVersion.create_new_dataset("Cloud")
    groups = groups_of(tmp_path, 2, ("cam", "lidar"))
    cloud_lib.script_uploads("-cam-000000.png", [fault] * 2)  # = upload_retries
    cloud_lib.script_uploads("-cam-000001.png", [fault] * 9)  # more than the budget
    failed = version.add_frames(groups, upload_retries=2)
    assert failed == [groups[1]]
    assert cloud_lib.uploads("-cam-000000.png") == 3
    assert cloud_lib.uploads("-cam-000001.png") == 3
    report = version.last_report
    assert report is not None
    cam = next(r for r in report.rejected if r.frame_name == "cam")
    assert cam.attempts == 3 and "Transient" in cam.error_class, cam
    lidar = next(r for r in report.rejected if r.frame_name == "lidar")
    assert lidar.message == "group rejected: cam failed"
    registered = version.get_frame(groups[0].id)["cam"].source
    assert registered.startswith(f"{cloud_lib.storage_url}/")
    names = cloud_lib.names()
    assert registered.split("/", 3)[3] in names
    # the rejected group's objects (its lidar was stored) are removed at the end of the run
    assert not [n for n in names if n.endswith("000001.png")]


@BOTH_CLOUDS
def test_forbidden_is_not_retried(cloud_lib: CloudTarget, tmp_path: Path) -> None:
    version = DatasetVersion.create_new_dataset("Forbidden")
    groups = groups_of(tmp_path, 1, ("cam",))
    cloud_lib.script_uploads("-cam-000000.png", ["AccessDenied"])  # 403
    assert version.add_frames(groups, upload_retries=5) == groups
    assert cloud_lib.uploads("-cam-000000.png") == 1
    record = version.last_report.rejected[0]  # type: ignore[union-attr]
    assert record.attempts == 1 and "Permanent" in record.error_class
    assert "403" in record.message, record.message


@BOTH_CLOUDS
def test_a_body_corrupted_in_transit_is_refused_by_the_service(
    cloud_lib: CloudTarget, tmp_path: Path
) -> None:
    """The upload carries the MD5 (and on GCS the CRC32C) of the bytes; the service checks it
    against what it received (GCS: md5Hash/crc32c in the JSON metadata, Azurite: Content-MD5)
    and refuses the object, which is never written."""
    groups = groups_of(tmp_path, 1, ("cam",))
    path = Path(groups[0]["cam"].source)
    path.write_bytes(path.read_bytes() + os.urandom(64 * 1024))  # the middle byte is data
    cloud_lib.script_uploads("-cam-000000.png", ["corrupt"])
    version = DatasetVersion.create_new_dataset("Corrupt")
    assert version.add_frames(groups, upload_retries=2) == groups
    record = version.last_report.rejected[0]  # type: ignore[union-attr]
    assert record.attempts == 1 and "400" in record.message, record.message
    assert any(word in record.message for word in ("MD5", "Md5", "CRC32C")), record.message
    assert cloud_lib.names() == []


@BOTH_CLOUDS
def test_stall_past_the_timeout_is_retried(cloud_lib: CloudTarget, tmp_path: Path) -> None:
    version = DatasetVersion.create_new_dataset("Stall")
    groups = groups_of(tmp_path, 1, ("cam",))
    cloud_lib.script_uploads("-cam-000000.png", ["stall:4"])
    assert version.add_frames(groups, upload_retries=1) == []
    assert cloud_lib.uploads("-cam-000000.png") == 2


@BOTH_CLOUDS
def test_large_files_take_the_resumable_or_block_path_within_the_budget(
    cloud_lib: CloudTarget, tmp_path: Path
) -> None:
    """Above multipart_threshold_mb (1 here): a GCS resumable upload (5 MB and more is also
    where gcloud-aio-storage would retry on its own) or Azure blocks; two 503s on the request
    that starts it are two retries, and the object is whole."""
    groups = groups_of(tmp_path, 2, ("cam",))
    big = Path(groups[0]["cam"].source)
    big.write_bytes(big.read_bytes() + os.urandom(9 * 1024 * 1024 + 17))
    cloud_lib.script_uploads("-cam-000000.png", ["503", "503"])
    version = DatasetVersion.create_new_dataset("Big")
    assert version.add_frames(groups, upload_retries=2) == []
    summary = version.last_report.summary  # type: ignore[union-attr]
    assert summary.retries == 2 and summary.objects_uploaded == 2
    if cloud_lib.kind == "gcs":  # one resumable session per attempt, then ONE PUT
        assert cloud_lib.uploads("-cam-000000.png") == 3
        assert cloud_lib.proxy.count("PUT") == 1
    else:  # Put Block x2 (8 MiB blocks) + Put Block List, after two refused first requests
        assert cloud_lib.proxy.count("PUT", "comp=blocklist", anywhere=True) == 1
    _assert_whole(version, groups)


def _assert_whole(version: DatasetVersion, groups: list[FrameGroup]) -> None:
    """Each registered object holds its source's exact bytes (read back through the store)."""
    from ingest.runtime import get_settings, run_sync
    from ingest.storage.factory import open_configured_storage

    expected = {
        version.get_frame(fg.id)[name].source: Path(frame.source).read_bytes()
        for fg in groups
        for name, frame in fg.items()
    }

    async def read_all() -> dict[str, bytes]:
        store = await open_configured_storage(get_settings())
        try:
            return {uri: await store.read(store.key_of(uri) or "") for uri in expected}
        finally:
            await store.close()

    for uri, body in run_sync(read_all()).items():
        assert hashlib.md5(body).digest() == hashlib.md5(expected[uri]).digest(), uri


@BOTH_CLOUDS
def test_rerun_uploads_nothing(cloud_lib: CloudTarget, tmp_path: Path) -> None:
    version = DatasetVersion.create_new_dataset("Again")
    assert version.add_frames(groups_of(tmp_path, 3, ("cam", "lidar"))) == []
    assert cloud_lib.uploads() == 6
    before = cloud_lib.proxy.count()
    assert version.add_frames(groups_of(tmp_path, 3, ("cam", "lidar"))) == []
    summary = version.last_report.summary  # type: ignore[union-attr]
    assert summary.groups_unchanged == 3 and summary.objects_uploaded == 0
    assert cloud_lib.proxy.count() == before  # not a single request
    assert len(cloud_lib.names()) == 6


@BOTH_CLOUDS
def test_cloud_sources_by_reference_and_copied(
    cloud: CloudTarget, sqlite_url: str, storage_dir: Path, tmp_path: Path
) -> None:
    """gs:// and az:// sources are registered as they are (and get_local_source() downloads
    them into the cache), or copied into the configured store (here a local folder) with the
    credentials of the environment."""
    from ingest.runtime import run_sync
    from ingest.storage import open_storage

    png = write_png(tmp_path / "a.png", 12, 7).read_bytes()

    async def put() -> str:
        store = await open_storage(f"{cloud.storage_url.rsplit('/', 1)[0]}/incoming")
        try:
            return await store.put_bytes("cam/a.png", png, "image/png")
        finally:
            await store.close()

    uri = run_sync(put())
    assert uri == f"{SCHEMES[cloud.kind]}://{cloud.bucket}/incoming/cam/a.png"
    cache = tmp_path / "cache"
    ingest.configure(
        database_url=sqlite_url, storage_url=f"file://{storage_dir}", cache_dir=str(cache)
    )
    try:
        version = DatasetVersion.create_new_dataset("Refs")
        by_ref = SingleFrame(source=uri, width=12, height=7)
        assert version.add_frames([by_ref]) == []
        assert version.get_frame(by_ref.id).source == uri
        local = Path(version.get_frame(by_ref.id).get_local_source())
        assert local.is_relative_to(cache) and local.read_bytes() == png
        copied, missing = SingleFrame(source=uri), SingleFrame(source=uri + ".missing")
        assert version.add_frames([copied, missing], copy_remote=True) == [missing]
        stored = version.get_frame(copied.id).source
        assert stored.startswith(f"file://{storage_dir}/remote/")
        assert Path(stored.removeprefix("file://")).read_bytes() == png
        record = version.last_report.rejected[0]  # type: ignore[union-attr]
        assert record.attempts == 1 and "ObjectNotFoundError" in record.error_class
        assert "404" in record.message, record.message
    finally:
        close_all()


@BOTH_CLOUDS
async def test_download_writes_the_whole_object_or_nothing(
    cloud: CloudTarget, tmp_path: Path
) -> None:
    from ingest.errors import PermanentStorageError
    from ingest.storage import open_storage
    from ingest.storage.reading import download

    body = os.urandom(3 * 1024 * 1024 + 5)
    store = await open_storage(cloud.storage_url)
    try:
        await store.put_bytes("d/x.bin", body, None)
        assert await download(store, "d/x.bin", str(tmp_path / "x.bin")) == len(body)
        assert (tmp_path / "x.bin").read_bytes() == body
        with pytest.raises(PermanentStorageError, match="404"):
            await download(store, "d/missing.bin", str(tmp_path / "missing.bin"))
        assert sorted(os.listdir(tmp_path)) == ["x.bin"]  # no temp file left
    finally:
        await store.close()


@pytest.mark.parametrize("kind", ["local", "s3"])
async def test_download_from_local_and_s3_stores(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """The same download function serves every store (the remote-source cache calls it)."""
    from ingest.errors import PermanentStorageError
    from ingest.storage import open_storage
    from ingest.storage.reading import download

    if kind == "s3":
        endpoint, bucket = request.getfixturevalue("s3_bucket")
        store = await open_storage(f"s3://{bucket}/p", endpoint_url=endpoint)
    else:
        store = await open_storage(f"file://{tmp_path}/objects")
    body = os.urandom(2 * 1024 * 1024 + 3)
    out = tmp_path / "out"
    out.mkdir()
    try:
        await store.put_bytes("d/x.bin", body, None)
        assert await download(store, "d/x.bin", str(out / "x.bin")) == len(body)
        assert (out / "x.bin").read_bytes() == body
        with pytest.raises(PermanentStorageError):
            await download(store, "d/missing.bin", str(out / "missing.bin"))
        assert os.listdir(out) == ["x.bin"]
    finally:
        await store.close()
