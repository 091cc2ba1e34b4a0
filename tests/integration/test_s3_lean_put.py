"""The lean PUT path against real servers: moto (behind the fault proxy) and ``rclone serve
s3``, which verifies SigV4 signatures and Content-MD5 (moto verifies neither)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aioboto3
import pytest
from aiobotocore.credentials import AioRefreshableCredentials

from ingest.errors import PermanentStorageError
from ingest.storage import open_storage, s3put
from ingest.storage.s3 import S3Storage
from tests.faultproxy import FaultProxy
from tests.rclone import RcloneServer
from tests.s3server import s3_client, unique_bucket_name

#: two key pairs rclone accepts (AWS-shaped: 20 and 40 characters)
KEYS = {
    "AKIALEANPUTTESTKEY01": "leanputtestsecret0000000000000000000001",
    "AKIALEANPUTTESTKEY02": "leanputtestsecret0000000000000000000002",
}


def boto_client(endpoint: str, key: str = "AKIALEANPUTTESTKEY01") -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=key,
        aws_secret_access_key=KEYS[key],
        config=Config(s3={"addressing_style": "path"}, retries={"total_max_attempts": 1}),
    )


@pytest.fixture(scope="module")
def rclone() -> Iterator[str]:
    (k1, s1), (k2, s2) = KEYS.items()
    with RcloneServer(access_key=k1, secret_key=s1, extra_args=("--auth-key", f"{k2},{s2}")) as srv:
        yield srv.endpoint


@pytest.fixture
def rclone_bucket(rclone: str) -> Iterator[tuple[str, str]]:
    bucket = unique_bucket_name("lean")
    boto_client(rclone).create_bucket(Bucket=bucket)
    yield rclone, bucket


def session_with(credentials: Any = None) -> aioboto3.Session:
    first = next(iter(KEYS))
    session = aioboto3.Session(
        aws_access_key_id=first, aws_secret_access_key=KEYS[first], region_name="us-east-1"
    )
    if credentials is not None:
        session._session._credentials = credentials
    return session


@pytest.fixture
async def rclone_store(rclone_bucket: tuple[str, str]) -> AsyncIterator[S3Storage]:
    endpoint, bucket = rclone_bucket
    async with S3Storage(bucket, "lean", endpoint_url=endpoint, session=session_with()) as store:
        assert store._lean is not None
        yield store


def no_put_object(store: S3Storage) -> None:
    """Make botocore's put_object fail loudly: the test must go through the lean path."""

    async def refuse(**kwargs: Any) -> None:
        raise AssertionError("put_object was called")

    store.client.put_object = refuse


async def test_lean_put_lands_with_bytes_and_content_type(s3_bucket: tuple[str, str]) -> None:
    endpoint, bucket = s3_bucket
    async with S3Storage(bucket, "runs/1", endpoint_url=endpoint) as store:
        no_put_object(store)
        data = bytes(range(256)) * 256
        uri = await store.put_bytes("cam 1/0001+a.jpg", data, "image/jpeg")
        await store.put_bytes("empty.bin", b"", None)
    assert uri == f"s3://{bucket}/runs/1/cam 1/0001+a.jpg"
    head = s3_client(endpoint).head_object(Bucket=bucket, Key="runs/1/cam 1/0001+a.jpg")
    assert head["ContentType"] == "image/jpeg"
    assert head["ContentLength"] == len(data)
    got = s3_client(endpoint).get_object(Bucket=bucket, Key="runs/1/cam 1/0001+a.jpg")
    assert got["Body"].read() == data
    assert (
        s3_client(endpoint).head_object(Bucket=bucket, Key="runs/1/empty.bin")["ContentLength"] == 0
    )


async def test_lean_put_on_rclone_verifies_signature_and_md5(
    rclone_store: S3Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    no_put_object(rclone_store)
    await rclone_store.put_bytes("a/ok.bin", b"right bytes", "application/octet-stream")
    got = boto_client(rclone_store.endpoint_url or "").get_object(
        Bucket=rclone_store.bucket, Key="lean/a/ok.bin"
    )
    assert got["Body"].read() == b"right bytes"

    # a Content-MD5 that does not match the body: the server recomputes it and refuses
    real_md5 = s3put.content_md5
    monkeypatch.setattr(s3put, "content_md5", lambda data: real_md5(b"not the body"))
    with pytest.raises(PermanentStorageError, match="BadDigest") as info:
        await rclone_store.put_bytes("a/bad.bin", b"right bytes", None)
    assert info.value.code == "BadDigest"  # type: ignore[attr-defined]
    assert await rclone_store.stat("a/bad.bin") is None


def rotating(keys: list[str], handed: list[str]) -> AioRefreshableCredentials:
    """Refreshable credentials whose provider hands out the next key pair at every use
    (they expire within the mandatory refresh window); ``handed`` logs what it gave."""
    it = iter(keys)

    async def provider() -> dict[str, str]:
        key = next(it)
        handed.append(key)
        return {
            "access_key": key,
            "secret_key": KEYS.get(key, "not-a-secret-rclone-knows-0000000000000"),
            "token": "",
            "expiry_time": (datetime.now(UTC) + timedelta(seconds=30)).isoformat(),
        }

    expired = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
    return AioRefreshableCredentials.create_from_metadata(
        {"access_key": "OLD", "secret_key": "old", "token": "", "expiry_time": expired},
        refresh_using=provider,
        method="rotating-test-provider",
    )


async def test_refreshed_keys_sign_the_next_put(rclone_bucket: tuple[str, str]) -> None:
    endpoint, bucket = rclone_bucket
    k1, k2 = KEYS
    handed: list[str] = []
    creds = rotating([k1, k2, "AKIAUNKNOWNKEY000000"], handed)
    async with S3Storage(bucket, "", endpoint_url=endpoint, session=session_with(creds)) as store:
        no_put_object(store)
        await store.put_bytes("one", b"1", None)  # signed with k1
        assert handed == [k1]
        await store.put_bytes("two", b"2", None)  # refreshed: signed with k2
        assert handed == [k1, k2]
        # refreshed to a key the server does not know: refused, so the key really is used
        with pytest.raises(PermanentStorageError, match="InvalidAccessKeyId"):
            await store.put_bytes("three", b"3", None)
        assert len(handed) == 3
    keys = sorted(
        o["Key"] for o in boto_client(endpoint).list_objects_v2(Bucket=bucket)["Contents"]
    )
    assert keys == ["one", "two"]


async def test_lean_put_off_uses_put_object(s3_bucket: tuple[str, str]) -> None:
    endpoint, bucket = s3_bucket
    store = await open_storage(f"s3://{bucket}/x", endpoint_url=endpoint, lean_put=False)
    assert isinstance(store, S3Storage)
    try:
        assert store._lean is None
        calls: list[str] = []
        real = store.client.put_object

        async def spy(**kwargs: Any) -> Any:
            calls.append(kwargs["Key"])
            return await real(**kwargs)

        store.client.put_object = spy
        await store.put_bytes("k", b"v", "text/plain")
        assert calls == ["x/k"]
        assert await store.read("k") == b"v"
    finally:
        await store.close()


async def test_cancelled_lean_put_sends_one_request(
    fault_proxy: FaultProxy, s3_bucket: tuple[str, str]
) -> None:
    _endpoint, bucket = s3_bucket
    async with S3Storage(bucket, "c", endpoint_url=fault_proxy.endpoint, timeout_s=5) as store:
        no_put_object(store)
        fault_proxy.script("slow.bin", ["delay:1"], method="PUT")
        task = asyncio.create_task(store.put_bytes("slow.bin", b"abc", None))
        while fault_proxy.count("PUT", "slow.bin") == 0:  # noqa: ASYNC110 (proxy thread)
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # the connection was dropped, not re-sent; the pool still works afterwards
        await store.put_bytes("next.bin", b"def", None)
        assert await store.read("next.bin") == b"def"
        await asyncio.sleep(1.2)  # past the delay: the cancelled request was never re-sent
        assert fault_proxy.count("PUT", "slow.bin") == 1
