"""The storage seam: LocalStorage, S3Storage against a real moto server, error translation
through a fault-injecting proxy."""

from __future__ import annotations

import asyncio
import errno
import hashlib
import os
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import botocore.exceptions
import pytest

from ingest.errors import (
    ConfigError,
    PermanentStorageError,
    StorageError,
    TransientStorageError,
)
from ingest.storage import (
    LocalStorage,
    ObjectNotFoundError,
    S3Storage,
    Storage,
    StoredObject,
    open_storage,
)
from ingest.storage.base import MiB
from ingest.storage.s3 import StorageNotOpenError
from ingest.storage.s3errors import botocore_is_transient, translate_error
from tests.faultproxy import FaultProxy
from tests.s3fixtures import BOTH_S3_SERVERS
from tests.s3server import list_keys, list_multipart_uploads, s3_client


async def collect(store: Storage, prefix: str = "") -> list[StoredObject]:
    return [obj async for obj in store.list(prefix)]


def temp_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.name.startswith(".") and p.name.endswith(".tmp")]


# ==============================================================================================
# LocalStorage


@pytest.fixture
def local(tmp_path: Path) -> LocalStorage:
    return LocalStorage(str(tmp_path / "objects"))


async def test_local_put_stat_read_list_delete(local: LocalStorage) -> None:
    uri = await local.put_bytes("cam1/0001.jpg", b"hello", "image/jpeg")
    assert uri == (local.root / "cam1" / "0001.jpg").as_uri()
    assert uri.startswith(local.url + "/")
    assert local.key_of(uri) == "cam1/0001.jpg"
    assert await local.stat("cam1/0001.jpg") == StoredObject("cam1/0001.jpg", 5)
    assert await local.read("cam1/0001.jpg") == b"hello"
    await local.put_bytes("cam1/0002.jpg", b"xx", None)
    await local.put_bytes("cam10/0001.jpg", b"y", None)
    await local.put_bytes("top.bin", b"", None)
    assert [o.key for o in await collect(local)] == [
        "cam1/0001.jpg",
        "cam1/0002.jpg",
        "cam10/0001.jpg",
        "top.bin",
    ]
    # a plain string prefix, as in S3
    assert [o.key for o in await collect(local, "cam1/")] == ["cam1/0001.jpg", "cam1/0002.jpg"]
    assert [o.key for o in await collect(local, "cam1")] == [
        "cam1/0001.jpg",
        "cam1/0002.jpg",
        "cam10/0001.jpg",
    ]
    assert [o.key for o in await collect(local, "cam1/0002")] == ["cam1/0002.jpg"]
    assert await collect(local, "nope/") == []

    await local.delete("cam1/0001.jpg")
    await local.delete("cam1/0001.jpg")  # already gone: no error
    assert await local.stat("cam1/0001.jpg") is None
    with pytest.raises(ObjectNotFoundError):
        await local.read("cam1/0001.jpg")
    assert isinstance(local, Storage)


def test_local_uris(tmp_path: Path) -> None:
    store = LocalStorage(str(tmp_path / "my objects"))
    uri = store.uri("a b/c#1.jpg")
    assert "%20" in uri and "%23" in uri
    assert store.key_of(uri) == "a b/c#1.jpg"
    assert store.key_of(store.url) is None
    assert store.key_of(f"file://{tmp_path}/other/x.jpg") is None
    assert store.key_of(store.url + "x/y.jpg") is None  # sibling dir sharing the name prefix
    assert store.key_of("s3://bucket/a.jpg") is None
    with pytest.raises(ValueError):
        LocalStorage("relative/path")


@pytest.mark.parametrize("key", ["", "/abs", "a/../b", "a//b", "./a", "a/.x.1234.tmp"])
async def test_local_rejects_bad_keys(local: LocalStorage, key: str) -> None:
    with pytest.raises(PermanentStorageError, match="invalid storage key"):
        await local.put_bytes(key, b"x", None)


async def test_local_put_file_chunked(tmp_path: Path) -> None:
    store = LocalStorage(str(tmp_path / "objects"), chunk_size=1000)
    src = tmp_path / "src.bin"
    data = os.urandom(10_500)
    src.write_bytes(data)
    uri = await store.put_file("deep/er/x.bin", str(src), len(data), "application/octet-stream")
    assert uri == (store.root / "deep" / "er" / "x.bin").as_uri()
    assert await store.read("deep/er/x.bin") == data
    assert temp_files(store.root) == []


async def test_local_put_file_replaces_existing(local: LocalStorage, tmp_path: Path) -> None:
    src = tmp_path / "src.bin"
    src.write_bytes(b"new")
    await local.put_bytes("k.bin", b"old content", None)
    await local.put_file("k.bin", str(src), 3, None)
    assert await local.read("k.bin") == b"new"


@pytest.mark.parametrize(
    ("err", "expected"),
    [
        (errno.EIO, TransientStorageError),
        (errno.EAGAIN, TransientStorageError),
        (errno.ENOSPC, PermanentStorageError),
    ],
)
async def test_local_failure_mid_copy_leaves_no_object(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, err: int, expected: type[StorageError]
) -> None:
    store = LocalStorage(str(tmp_path / "objects"), chunk_size=1024)
    src = tmp_path / "src.bin"
    src.write_bytes(os.urandom(10 * 1024))
    await store.put_bytes("cam1/keep.bin", b"previous version", None)

    calls = 0

    def failing_copy(out: int, src: int, offset: int, count: int) -> int:
        nonlocal calls
        calls += 1
        os.write(out, b"x" * 2048)  # two chunks are already in the temp file
        raise OSError(err, os.strerror(err))

    monkeypatch.setattr(os, "sendfile", failing_copy)
    with pytest.raises(expected) as info:
        await store.put_file("cam1/new.bin", str(src), 10 * 1024, None)
    # OSError(EAGAIN, ...) is built as a BlockingIOError
    assert info.value.cause_name == type(OSError(err, "")).__name__  # type: ignore[attr-defined]
    assert info.value.code == errno.errorcode[err]  # type: ignore[attr-defined]
    assert isinstance(info.value.__cause__, OSError)
    calls = 0
    with pytest.raises(expected):
        await store.put_file("cam1/keep.bin", str(src), 10 * 1024, None)
    monkeypatch.undo()

    assert await store.stat("cam1/new.bin") is None
    assert not (store.root / "cam1" / "new.bin").exists()
    assert await store.read("cam1/keep.bin") == b"previous version"  # old object intact
    assert temp_files(store.root) == []
    assert [o.key for o in await collect(store)] == ["cam1/keep.bin"]


async def test_local_cancelled_mid_copy_leaves_no_object(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = LocalStorage(str(tmp_path / "objects"), chunk_size=1024, inline_max=0)
    src = tmp_path / "src.bin"
    src.write_bytes(os.urandom(10 * 1024))
    real_copy = os.sendfile
    started = threading.Event()
    release = threading.Event()

    def slow_copy(out: int, src: int, offset: int, count: int) -> int:
        os.write(out, b"x" * 1024)
        started.set()
        release.wait(10)
        return real_copy(out, src, offset, count)

    monkeypatch.setattr(os, "sendfile", slow_copy)
    task = asyncio.create_task(store.put_file("a/b.bin", str(src), 10 * 1024, None))
    await asyncio.to_thread(started.wait, 10)
    assert len(temp_files(store.root)) == 1  # the partial copy lives under a temp name
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    release.set()  # the worker thread finishes its copy, sees the cancel, drops the temp file
    for _ in range(100):
        if not temp_files(store.root):
            break
        await asyncio.sleep(0.02)
    assert not (store.root / "a" / "b.bin").exists()
    assert temp_files(store.root) == []


async def test_local_temp_files_are_invisible_and_swept(local: LocalStorage) -> None:
    await local.put_bytes("a/x.jpg", b"1", None)
    stale = local.root / "a" / ".y.jpg.0123abcd.tmp"
    stale.write_bytes(b"partial")
    old = time.time() - 7200
    os.utime(stale, (old, old))
    fresh = local.root / "a" / ".z.jpg.4567.tmp"
    fresh.write_bytes(b"in progress")
    assert [o.key for o in await collect(local)] == ["a/x.jpg"]
    assert await local.remove_stale_partials(older_than_s=3600) == 1
    assert not stale.exists() and fresh.exists()


async def test_local_source_errors_are_permanent(local: LocalStorage, tmp_path: Path) -> None:
    missing = tmp_path / "missing.jpg"
    with pytest.raises(PermanentStorageError, match=str(missing)) as info:
        await local.put_file("k.jpg", str(missing), 1, None)
    assert info.value.cause_name == "FileNotFoundError"  # type: ignore[attr-defined]
    with pytest.raises(PermanentStorageError, match="IsADirectoryError"):
        await local.put_file("k.jpg", str(tmp_path), 1, None)
    if os.geteuid() != 0:
        locked = tmp_path / "locked.jpg"
        locked.write_bytes(b"x")
        locked.chmod(0)
        with pytest.raises(PermanentStorageError, match="PermissionError"):
            await local.put_file("k.jpg", str(locked), 1, None)
    assert await collect(local) == []


async def test_local_destination_blocked_is_permanent(local: LocalStorage) -> None:
    await local.put_bytes("a", b"file, not a directory", None)
    with pytest.raises(PermanentStorageError):
        await local.put_bytes("a/b.jpg", b"x", None)


# ==============================================================================================
# open_storage


async def test_open_storage_file(tmp_path: Path) -> None:
    store = await open_storage(f"file://{tmp_path}/objs")
    try:
        assert isinstance(store, LocalStorage)
        assert store.url == f"file://{tmp_path}/objs"
    finally:
        await store.close()


@pytest.mark.parametrize(
    "url",
    [
        "ftp://host/x",
        "file://relative/x",
        "s3://",
        "gs://",
        "az:///x",
        "gcs://b/x",
        "/plain/path",
        "",
    ],
)
async def test_open_storage_rejects(url: str) -> None:
    with pytest.raises(ConfigError) as info:
        await open_storage(url)
    assert repr(url) in str(info.value)


async def test_an_azure_store_needs_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AZURE_STORAGE_CONNECTION_STRING", raising=False)
    with pytest.raises(ConfigError, match="AZURE_STORAGE_CONNECTION_STRING") as info:
        await open_storage("az://container/x")
    assert "'az://container/x'" in str(info.value) and "azure_account_url" in str(info.value)
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", "not a connection string")
    with pytest.raises(ConfigError, match="'az://container/x'"):
        await open_storage("az://container/x")


async def test_open_storage_bad_endpoint() -> None:
    with pytest.raises(ConfigError, match="not a url"):
        await open_storage("s3://bucket", endpoint_url="not a url")


@BOTH_S3_SERVERS
async def test_open_storage_s3(s3_bucket: tuple[str, str]) -> None:
    endpoint, bucket = s3_bucket
    store = await open_storage(
        f"s3://{bucket}/runs/", endpoint_url=endpoint, concurrency=8, multipart_threshold_mb=1
    )
    try:
        assert isinstance(store, S3Storage)
        assert store.url == f"s3://{bucket}/runs"
        assert store.multipart_threshold == MiB
        assert await store.put_bytes("a.txt", b"x", None) == f"s3://{bucket}/runs/a.txt"
        assert list_keys(endpoint, bucket) == ["runs/a.txt"]
    finally:
        await store.close()


# ==============================================================================================
# S3Storage against moto


@pytest.fixture
async def s3(s3_bucket: tuple[str, str]) -> AsyncIterator[S3Storage]:
    endpoint, bucket = s3_bucket
    async with S3Storage(
        bucket,
        "runs/1",
        endpoint_url=endpoint,
        multipart_threshold=1 * MiB,
        multipart_chunksize=5 * MiB,
        timeout_s=10,
    ) as store:
        yield store


@BOTH_S3_SERVERS
async def test_s3_put_stat_read_list_delete(s3: S3Storage) -> None:
    uri = await s3.put_bytes("cam1/0001.jpg", b"jpegdata", "image/jpeg")
    assert uri == f"s3://{s3.bucket}/runs/1/cam1/0001.jpg"
    assert s3.key_of(uri) == "cam1/0001.jpg"
    assert s3.key_of(f"s3://{s3.bucket}/runs/2/cam1/0001.jpg") is None
    assert s3.key_of("file:///runs/1/cam1/0001.jpg") is None
    assert await s3.stat("cam1/0001.jpg") == StoredObject("cam1/0001.jpg", 8)
    assert await s3.content_type("cam1/0001.jpg") == "image/jpeg"
    assert await s3.read("cam1/0001.jpg") == b"jpegdata"
    await s3.put_bytes("cam1/0002.jpg", b"", None)
    await s3.put_bytes("cam10/0001.jpg", b"z", None)
    # outside the store's prefix: never listed
    s3_client(s3.endpoint_url or "").put_object(Bucket=s3.bucket, Key="runs/10/x", Body=b"")
    assert [(o.key, o.size) for o in await collect(s3)] == [
        ("cam1/0001.jpg", 8),
        ("cam1/0002.jpg", 0),
        ("cam10/0001.jpg", 1),
    ]
    assert [o.key for o in await collect(s3, "cam1/")] == ["cam1/0001.jpg", "cam1/0002.jpg"]
    await s3.delete("cam1/0001.jpg")
    await s3.delete("cam1/0001.jpg")  # already gone: no error
    assert await s3.stat("cam1/0001.jpg") is None
    with pytest.raises(ObjectNotFoundError, match="NoSuchKey"):
        await s3.read("cam1/0001.jpg")
    assert isinstance(s3, Storage)


async def test_s3_list_paginates(s3: S3Storage, fault_proxy: FaultProxy) -> None:
    await asyncio.gather(*(s3.put_bytes(f"p/{i:04d}", b"x", None) for i in range(7)))
    async with S3Storage(
        s3.bucket, "runs/1", endpoint_url=fault_proxy.endpoint, list_page_size=3
    ) as store:
        keys = [o.key for o in await collect(store, "p/")]
    assert keys == [f"p/{i:04d}" for i in range(7)]
    assert fault_proxy.count("GET") == 3  # 3 + 3 + 1


@BOTH_S3_SERVERS
async def test_s3_put_file_single_request(s3: S3Storage, tmp_path: Path) -> None:
    src = tmp_path / "a.png"
    src.write_bytes(b"\x89PNG" + os.urandom(1000))
    await s3.put_file("a.png", str(src), src.stat().st_size, "image/png")
    head = s3_client(s3.endpoint_url or "").head_object(Bucket=s3.bucket, Key="runs/1/a.png")
    assert head["ContentType"] == "image/png"
    assert "-" not in head["ETag"]  # a plain PutObject
    assert await s3.read("a.png") == src.read_bytes()


async def test_s3_put_file_multipart(s3: S3Storage, tmp_path: Path) -> None:
    src = tmp_path / "big.mp4"
    data = os.urandom(11 * MiB + 123)
    src.write_bytes(data)
    await s3.put_file("video/big.mp4", str(src), len(data), "video/mp4")
    head = s3_client(s3.endpoint_url or "").head_object(
        Bucket=s3.bucket, Key="runs/1/video/big.mp4"
    )
    assert head["ETag"].strip('"').endswith("-3")  # 5 MiB + 5 MiB + rest (S3 minimum part)
    assert head["ContentType"] == "video/mp4"
    assert head["ContentLength"] == len(data)
    got = await s3.read("video/big.mp4")
    assert hashlib.sha256(got).digest() == hashlib.sha256(data).digest()
    assert list_multipart_uploads(s3.endpoint_url or "", s3.bucket) == []


@BOTH_S3_SERVERS
async def test_s3_put_file_missing_source_is_permanent(s3: S3Storage, tmp_path: Path) -> None:
    for size in (10, 20 * MiB):  # single request and multipart paths
        with pytest.raises(PermanentStorageError, match=r"nope\.jpg") as info:
            await s3.put_file("x.jpg", str(tmp_path / "nope.jpg"), size, None)
        assert info.value.cause_name == "FileNotFoundError"  # type: ignore[attr-defined]


async def test_s3_no_such_bucket_is_permanent(moto_server: str) -> None:
    async with S3Storage("no-such-bucket-here", endpoint_url=moto_server, timeout_s=5) as store:
        with pytest.raises(PermanentStorageError, match="NoSuchBucket") as info:
            await store.put_bytes("a", b"x", None)
        # botocore raises its modeled subclass of ClientError
        assert info.value.cause_name == "NoSuchBucket"  # type: ignore[attr-defined]
        assert info.value.code == "NoSuchBucket"  # type: ignore[attr-defined]
        assert isinstance(info.value.__cause__, botocore.exceptions.ClientError)


async def test_s3_unreachable_endpoint_is_transient() -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    async with S3Storage("b", endpoint_url=f"http://127.0.0.1:{port}", timeout_s=2) as store:
        with pytest.raises(TransientStorageError, match="EndpointConnectionError"):
            await store.put_bytes("a", b"x", None)


async def test_s3_not_open() -> None:
    store = S3Storage("b")
    with pytest.raises(StorageNotOpenError, match="not open"):
        await store.put_bytes("a", b"x", None)


# ==============================================================================================
# Through the fault proxy


@pytest.fixture
async def proxied(fault_proxy: FaultProxy, s3_bucket: tuple[str, str]) -> AsyncIterator[S3Storage]:
    _endpoint, bucket = s3_bucket
    async with S3Storage(
        bucket,
        "p",
        endpoint_url=fault_proxy.endpoint,
        multipart_threshold=1 * MiB,
        multipart_chunksize=5 * MiB,
        timeout_s=1,
    ) as store:
        yield store


async def test_proxy_passes_everything_through(
    proxied: S3Storage, fault_proxy: FaultProxy, tmp_path: Path
) -> None:
    src = tmp_path / "big.bin"
    src.write_bytes(os.urandom(6 * MiB))
    await proxied.put_bytes("cam1/0001.jpg", b"abc", "image/jpeg")
    await proxied.put_bytes("cam1/empty", b"", None)
    await proxied.put_file("cam1/big.bin", str(src), 6 * MiB, None)
    assert await proxied.stat("cam1/0001.jpg") == StoredObject("cam1/0001.jpg", 3)  # HEAD
    assert await proxied.stat("cam1/nope") is None
    assert await proxied.read("cam1/big.bin") == src.read_bytes()
    assert await proxied.stat("cam1/empty") == StoredObject("cam1/empty", 0)
    assert await proxied.read("cam1/empty") == b""
    assert [o.key for o in await collect(proxied)] == [
        "cam1/0001.jpg",
        "cam1/big.bin",
        "cam1/empty",
    ]
    assert await proxied.content_type("cam1/0001.jpg") == "image/jpeg"
    assert fault_proxy.count("PUT", "cam1/0001.jpg") == 1
    assert fault_proxy.count("PUT", "cam1/big.bin") == 2  # two UploadPart
    assert fault_proxy.count("POST", "cam1/big.bin") == 2  # create + complete
    assert fault_proxy.puts == 4


@pytest.mark.parametrize(
    ("fault", "code"),
    [
        ("503", "ServiceUnavailable"),
        ("SlowDown", "SlowDown"),
        ("500", "InternalError"),
        ("429", "TooManyRequests"),
        ("RequestTimeout", "RequestTimeout"),
    ],
)
async def test_transient_status_after_exactly_one_request(
    proxied: S3Storage, fault_proxy: FaultProxy, fault: str, code: str
) -> None:
    fault_proxy.script("cam1/0001.jpg", [fault])
    with pytest.raises(TransientStorageError, match=code) as info:
        await proxied.put_bytes("cam1/0001.jpg", b"abc", None)
    assert info.value.code == code  # type: ignore[attr-defined]
    assert info.value.cause_name == "ClientError"  # type: ignore[attr-defined]
    # botocore did not retry on its own: the pipeline owns the retry budget
    assert fault_proxy.count("PUT", "cam1/0001.jpg") == 1
    # the script is used up: the next attempt passes through
    await proxied.put_bytes("cam1/0001.jpg", b"abc", None)
    assert fault_proxy.count("PUT", "cam1/0001.jpg") == 2
    assert await proxied.read("cam1/0001.jpg") == b"abc"


async def test_access_denied_is_permanent(proxied: S3Storage, fault_proxy: FaultProxy) -> None:
    fault_proxy.script("0001.jpg", ["AccessDenied"], method="PUT")
    with pytest.raises(PermanentStorageError, match="AccessDenied") as info:
        await proxied.put_bytes("cam1/0001.jpg", b"abc", None)
    assert info.value.code == "AccessDenied"  # type: ignore[attr-defined]
    assert fault_proxy.count("PUT", "cam1/0001.jpg") == 1


async def test_reset_is_transient(proxied: S3Storage, fault_proxy: FaultProxy) -> None:
    fault_proxy.script("cam1/0001.jpg", ["reset"])
    with pytest.raises(TransientStorageError) as info:
        await proxied.put_bytes("cam1/0001.jpg", b"abc", None)
    assert info.value.cause_name in {  # type: ignore[attr-defined]
        "ConnectionClosedError",
        "EndpointConnectionError",
    }
    assert fault_proxy.count("PUT", "cam1/0001.jpg") == 1
    assert await proxied.stat("cam1/0001.jpg") is None


async def test_reset_on_read_is_transient(proxied: S3Storage, fault_proxy: FaultProxy) -> None:
    await proxied.put_bytes("a.jpg", b"abc", None)
    await proxied.read("a.jpg")  # the next GET goes over a reused keep-alive connection
    fault_proxy.script("a.jpg", ["reset"], method="GET")
    with pytest.raises(TransientStorageError):
        await proxied.read("a.jpg")
    # aiohttp would silently re-send an idempotent request once after a reset; it is off
    assert fault_proxy.count("GET", "a.jpg") == 2


async def test_stall_past_timeout_is_transient(proxied: S3Storage, fault_proxy: FaultProxy) -> None:
    fault_proxy.script("cam1/0001.jpg", ["stall:5"])
    t0 = time.monotonic()
    with pytest.raises(TransientStorageError, match="ReadTimeoutError") as info:
        await proxied.put_bytes("cam1/0001.jpg", b"abc", None)
    assert time.monotonic() - t0 < 3  # the client's 1 s read timeout, not the 5 s stall
    assert info.value.cause_name == "ReadTimeoutError"  # type: ignore[attr-defined]
    assert fault_proxy.count("PUT", "cam1/0001.jpg") == 1


async def test_head_errors(proxied: S3Storage, fault_proxy: FaultProxy) -> None:
    fault_proxy.script("a.jpg", ["503", "AccessDenied"], method="HEAD")
    with pytest.raises(TransientStorageError, match="503"):
        await proxied.stat("a.jpg")
    with pytest.raises(PermanentStorageError, match="403"):
        await proxied.stat("a.jpg")
    assert await proxied.stat("a.jpg") is None
    assert fault_proxy.count("HEAD", "a.jpg") == 3


async def test_failed_part_aborts_multipart_upload(
    proxied: S3Storage, fault_proxy: FaultProxy, s3_bucket: tuple[str, str], tmp_path: Path
) -> None:
    endpoint, bucket = s3_bucket
    src = tmp_path / "big.bin"
    src.write_bytes(os.urandom(11 * MiB))
    fault_proxy.script("big.bin", ["pass", "503"], method="PUT")  # the second part fails
    with pytest.raises(TransientStorageError, match="UploadPart"):
        await proxied.put_file("big.bin", str(src), 11 * MiB, None)
    assert list_multipart_uploads(endpoint, bucket) == []  # aborted
    assert list_keys(endpoint, bucket) == []  # nothing under the final key
    assert fault_proxy.count("DELETE", "big.bin") == 1  # AbortMultipartUpload


async def test_cancelled_multipart_upload_is_aborted(
    proxied: S3Storage, fault_proxy: FaultProxy, s3_bucket: tuple[str, str], tmp_path: Path
) -> None:
    endpoint, bucket = s3_bucket
    src = tmp_path / "big.bin"
    src.write_bytes(os.urandom(11 * MiB))
    fault_proxy.script("big.bin", ["delay:0.8"] * 3, method="PUT")  # parts hang a while
    task = asyncio.create_task(proxied.put_file("big.bin", str(src), 11 * MiB, None))
    while fault_proxy.count("PUT", "big.bin") == 0:  # noqa: ASYNC110 (counted in another thread)
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert fault_proxy.count("DELETE", "big.bin") == 1  # AbortMultipartUpload, shielded
    assert list_multipart_uploads(endpoint, bucket) == []
    assert list_keys(endpoint, bucket) == []


async def test_remove_stale_partials(s3: S3Storage) -> None:
    client = s3_client(s3.endpoint_url or "")
    client.create_multipart_upload(Bucket=s3.bucket, Key="runs/1/left-by-a-dead-worker")
    client.create_multipart_upload(Bucket=s3.bucket, Key="elsewhere/not-ours")
    # moto reports every upload as initiated on 2010-11-10, so only the prefix filter and
    # the abort itself can be checked here, not the age filter
    assert await s3.remove_stale_partials(older_than_s=3600) == 1
    remaining = list_multipart_uploads(s3.endpoint_url or "", s3.bucket)
    assert [u["Key"] for u in remaining] == ["elsewhere/not-ours"]


def test_proxy_from_sync_code(fault_proxy: FaultProxy, s3_bucket: tuple[str, str]) -> None:
    _endpoint, bucket = s3_bucket
    client = s3_client(fault_proxy.endpoint)
    fault_proxy.script("k", ["503"])
    with pytest.raises(botocore.exceptions.ClientError, match="ServiceUnavailable"):
        client.put_object(Bucket=bucket, Key="k", Body=b"1")
    client.put_object(Bucket=bucket, Key="k", Body=b"1")
    assert client.get_object(Bucket=bucket, Key="k")["Body"].read() == b"1"
    assert fault_proxy.count("PUT", "k") == 2
    assert fault_proxy.pending() == 0


def test_default_boto3_client_retries_by_itself(
    fault_proxy: FaultProxy, s3_bucket: tuple[str, str]
) -> None:
    """Why S3Storage turns botocore's retries off: by default one call = several requests."""
    import boto3

    _endpoint, bucket = s3_bucket
    client = boto3.client("s3", endpoint_url=fault_proxy.endpoint)
    fault_proxy.script("k", ["503"])
    client.put_object(Bucket=bucket, Key="k", Body=b"1")  # no error: botocore retried
    assert fault_proxy.count("PUT", "k") == 2


def _client_error(code: str, status: int, op: str = "PutObject") -> Exception:
    return botocore.exceptions.ClientError(
        {"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}},
        op,
    )


@pytest.mark.parametrize(
    ("exc", "transient"),
    [
        (_client_error("ServiceUnavailable", 503), True),
        (_client_error("SlowDown", 503), True),
        (_client_error("InternalError", 500), True),
        (_client_error("502", 502, "HeadObject"), True),
        (_client_error("GatewayTimeout", 504), True),
        (_client_error("TooManyRequests", 429), True),
        (_client_error("RequestTimeout", 400), True),
        (_client_error("Throttling", 400), True),
        (_client_error("AccessDenied", 403), False),
        (_client_error("NoSuchBucket", 404), False),
        (_client_error("InvalidArgument", 400), False),
        (_client_error("403", 403, "HeadObject"), False),
        (botocore.exceptions.EndpointConnectionError(endpoint_url="http://x"), True),
        (botocore.exceptions.ConnectionClosedError(endpoint_url="http://x"), True),
        (botocore.exceptions.ReadTimeoutError(endpoint_url="http://x"), True),
        (botocore.exceptions.ConnectTimeoutError(endpoint_url="http://x"), True),
        (aiohttp.ClientPayloadError("truncated"), True),
        (TimeoutError(), True),
        (ConnectionResetError(), True),
        (botocore.exceptions.NoCredentialsError(), False),
        (botocore.exceptions.ParamValidationError(report="bad"), False),
        (FileNotFoundError(errno.ENOENT, "x"), False),
        (PermissionError(errno.EACCES, "x"), False),
        (OSError(errno.ENOSPC, "x"), False),
        (OSError(errno.EIO, "x"), True),
        (TransientStorageError("x"), True),
        (PermanentStorageError("x"), False),
    ],
    ids=repr,
)
def test_is_transient(exc: Exception, transient: bool) -> None:
    assert botocore_is_transient(exc) is transient
    err = translate_error(exc, "PutObject", "s3://b/k")
    assert err.transient is transient
    if not isinstance(exc, StorageError):
        assert err.cause_name == type(exc).__name__  # type: ignore[attr-defined]
        assert "s3://b/k" in str(err)
