"""The lean PUT path's pure parts: URL and Host building from botocore's own endpoint
resolution (virtual-hosted and path style), signing with per-request (refreshable)
credentials, the Content-MD5, error bodies and the network-error mapping. No network: an
aiobotocore client is opened (no request is sent) and requests are only prepared."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aioboto3
import aiohttp
import botocore.exceptions as bexc
import pytest
from aiobotocore.credentials import AioRefreshableCredentials
from botocore.auth import UNSIGNED_PAYLOAD

from ingest.storage.s3 import S3Storage
from ingest.storage.s3errors import client_error_from_response, translate_error
from ingest.storage.s3put import LeanPut, Target, content_md5, host_header, object_url


@pytest.fixture(autouse=True)
def no_aws_files(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.setenv(name, "/dev/null")
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "HTTP_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def session(region: str = "us-east-1") -> aioboto3.Session:
    return aioboto3.Session(
        aws_access_key_id="AKIAIOSFODNN7EXAMPLE",
        aws_secret_access_key="wJalrXUtnPxEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        region_name=region,
    )


async def opened(bucket: str, **kwargs: Any) -> S3Storage:
    region = kwargs.pop("region", "us-east-1")
    store = S3Storage(bucket, "runs/1", region=region, session=session(region), **kwargs)
    return await store.open()


@pytest.fixture
async def stores() -> AsyncIterator[list[S3Storage]]:
    opened_stores: list[S3Storage] = []
    yield opened_stores
    for store in opened_stores:
        await store.close()


def lean_of(store: S3Storage) -> LeanPut:
    lean = store._lean
    assert lean is not None, "the lean PUT path is off"
    return lean


# -- URL and Host building ---------------------------------------------------------------------


def test_object_url_encodes_keys_as_botocore() -> None:
    assert object_url("http://h:9000/b/", "a b/c#1+~.jpg") == "http://h:9000/b/a%20b/c%231%2B~.jpg"
    assert object_url("https://b.s3.amazonaws.com/", "x/é.png") == (
        "https://b.s3.amazonaws.com/x/%C3%A9.png"
    )


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("https://b.s3.amazonaws.com/", "b.s3.amazonaws.com"),
        ("https://b.s3.amazonaws.com:443/", "b.s3.amazonaws.com"),
        ("http://127.0.0.1:9000/b/", "127.0.0.1:9000"),
        ("http://h:80/b/", "h"),
        ("http://[::1]:9000/b/", "[::1]:9000"),
        ("https://MinIO.local:8443/b/", "minio.local:8443"),
    ],
)
def test_host_header(url: str, host: str) -> None:
    assert host_header(url) == host


def test_target_from_endpoint() -> None:
    signing = {"region": "eu-west-1", "signing_name": "s3"}
    target = Target.from_endpoint("https://bkt.s3.eu-west-1.amazonaws.com", signing)
    assert target == Target("https://bkt.s3.eu-west-1.amazonaws.com/", "eu-west-1", "s3")
    assert Target.from_endpoint("http://127.0.0.1:9000/bkt", signing).base_url == (
        "http://127.0.0.1:9000/bkt/"
    )


@pytest.mark.parametrize(
    ("bucket", "kwargs", "url", "host"),
    [
        # AWS, no endpoint: botocore's rules pick virtual-hosted addressing, regional host
        (
            "bkt",
            {"region": "eu-west-1"},
            "https://bkt.s3.eu-west-1.amazonaws.com/runs/1/cam%201/a.jpg",
            "bkt.s3.eu-west-1.amazonaws.com",
        ),
        ("bkt", {}, "https://bkt.s3.amazonaws.com/runs/1/cam%201/a.jpg", "bkt.s3.amazonaws.com"),
        # a custom endpoint configured for virtual-hosted addressing: bucket in the host
        (
            "bkt",
            {"endpoint_url": "http://s3.example.test:9000", "addressing_style": "virtual"},
            "http://bkt.s3.example.test:9000/runs/1/cam%201/a.jpg",
            "bkt.s3.example.test:9000",
        ),
        # custom endpoints default to path style (moto, rclone, MinIO on loopback)
        (
            "bkt",
            {"endpoint_url": "http://127.0.0.1:9000"},
            "http://127.0.0.1:9000/bkt/runs/1/cam%201/a.jpg",
            "127.0.0.1:9000",
        ),
        # a dotted bucket name cannot be a TLS host name: botocore falls back to path style
        (
            "b.dotted",
            {"region": "eu-west-1"},
            "https://s3.eu-west-1.amazonaws.com/b.dotted/runs/1/cam%201/a.jpg",
            "s3.eu-west-1.amazonaws.com",
        ),
    ],
)
async def test_lean_url_follows_the_clients_addressing(
    stores: list[S3Storage], bucket: str, kwargs: dict[str, Any], url: str, host: str
) -> None:
    store = await opened(bucket, **kwargs)
    stores.append(store)
    lean = lean_of(store)
    got_url, headers = await lean.prepare("runs/1/cam 1/a.jpg", b"jpeg", "image/jpeg")
    assert got_url == url
    assert headers["Host"] == host
    assert lean.target.region == kwargs.get("region", "us-east-1")
    assert f"/{lean.target.region}/s3/aws4_request" in headers["Authorization"]
    assert "host" in headers["Authorization"].split("SignedHeaders=")[1]


async def test_prepare_signs_md5_and_unsigned_payload(stores: list[S3Storage]) -> None:
    store = await opened("bkt", endpoint_url="http://127.0.0.1:9000")
    stores.append(store)
    data = b"\x89PNG" + bytes(range(256)) * 10
    _url, headers = await lean_of(store).prepare("k.png", data, "image/png")
    assert headers["Content-MD5"] == base64.b64encode(hashlib.md5(data).digest()).decode()
    assert headers["Content-MD5"] == content_md5(data)
    assert headers["Content-Type"] == "image/png"
    # the body is not hashed a second time: the signed Content-MD5 covers it
    assert headers["X-Amz-Content-SHA256"] == UNSIGNED_PAYLOAD
    signed = headers["Authorization"].split("SignedHeaders=")[1].split(",")[0].split(";")
    assert {"content-md5", "content-type", "host", "x-amz-content-sha256", "x-amz-date"} <= set(
        signed
    )
    _url, headers = await lean_of(store).prepare("k.bin", b"", None)
    assert "Content-Type" not in headers  # as put_object without ContentType


async def test_payload_signing_when_the_config_asks(stores: list[S3Storage]) -> None:
    store = S3Storage("bkt", endpoint_url="http://127.0.0.1:9000", session=session())
    config = store.client_config()
    store.client_config = lambda: config.merge(  # type: ignore[method-assign]
        type(config)(s3={"addressing_style": "path", "payload_signing_enabled": True})
    )
    stores.append(await store.open())
    _url, headers = await lean_of(store).prepare("k", b"abc", None)
    assert headers["X-Amz-Content-SHA256"] == hashlib.sha256(b"abc").hexdigest()


async def test_lean_off_by_flag_and_without_credentials(stores: list[S3Storage]) -> None:
    stores.append(await opened("bkt", endpoint_url="http://127.0.0.1:9000", lean_put=False))
    assert stores[-1]._lean is None
    from botocore import UNSIGNED
    from botocore.config import Config

    anonymous = S3Storage("bkt", endpoint_url="http://127.0.0.1:9000", session=session())
    config = anonymous.client_config()
    anonymous.client_config = lambda: config.merge(  # type: ignore[method-assign]
        Config(signature_version=UNSIGNED)
    )
    stores.append(await anonymous.open())
    assert anonymous._lean is None  # botocore's put_object sends unsigned requests


# -- refreshable credentials -------------------------------------------------------------------


def rotating_credentials(keys: Iterator[str]) -> AioRefreshableCredentials:
    """Credentials that expire within the mandatory refresh window: every use refreshes
    them from the fake provider, which hands out the next key pair."""

    async def provider() -> dict[str, str]:
        key = next(keys)
        soon = datetime.now(UTC) + timedelta(seconds=30)
        return {
            "access_key": key,
            "secret_key": f"secret-of-{key}",
            "token": f"token-of-{key}",
            "expiry_time": soon.isoformat(),
        }

    expired = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
    return AioRefreshableCredentials.create_from_metadata(
        {"access_key": "OLD", "secret_key": "old", "token": "old", "expiry_time": expired},
        refresh_using=provider,
        method="fake-provider",
    )


async def test_refreshable_credentials_change_between_two_puts(
    stores: list[S3Storage],
) -> None:
    aio_session = session()
    aio_session._session._credentials = rotating_credentials(iter(["AKIDFIRST", "AKIDSECOND"]))
    store = S3Storage("bkt", endpoint_url="http://127.0.0.1:9000", session=aio_session)
    stores.append(await store.open())
    lean = lean_of(store)
    _url, first = await lean.prepare("a", b"1", None)
    _url, second = await lean.prepare("b", b"2", None)
    assert "Credential=AKIDFIRST/" in first["Authorization"]
    assert first["X-Amz-Security-Token"] == "token-of-AKIDFIRST"
    assert "Credential=AKIDSECOND/" in second["Authorization"]
    assert second["X-Amz-Security-Token"] == "token-of-AKIDSECOND"


# -- errors ------------------------------------------------------------------------------------

_XML = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code>'
    b"<Message>Please reduce your request rate.</Message><RequestId>R1</RequestId></Error>"
)


@pytest.mark.parametrize(
    ("status", "body", "code", "message", "transient"),
    [
        (503, _XML, "SlowDown", "Please reduce your request rate.", True),
        (
            400,
            b"<Error><Code>BadDigest</Code><Message>m</Message></Error>",
            "BadDigest",
            "m",
            False,
        ),
        (400, b"<Error><Code>RequestTimeout</Code></Error>", "RequestTimeout", "", True),
        (403, b"<Error><Code>AccessDenied</Code></Error>", "AccessDenied", "", False),
        (502, b"<html>bad gateway</html>", "502", "Bad Gateway", True),
        (500, b"", "500", "Internal Server Error", True),
        (301, b"<Error><Code>PermanentRedirect</Code></Error>", "PermanentRedirect", "", False),
    ],
)
def test_client_error_from_response(
    status: int, body: bytes, code: str, message: str, transient: bool
) -> None:
    exc = client_error_from_response("PutObject", status, {"x-amz-request-id": "R1"}, body)
    assert exc.response["Error"] == {"Code": code, "Message": message}
    assert exc.response["ResponseMetadata"]["HTTPStatusCode"] == status
    err = translate_error(exc, "PutObject", "s3://b/k")
    assert err.transient is transient
    assert err.code == code  # type: ignore[attr-defined]


async def test_modeled_error_class(stores: list[S3Storage]) -> None:
    store = await opened("bkt", endpoint_url="http://127.0.0.1:9000")
    stores.append(store)
    body = b"<Error><Code>NoSuchBucket</Code><Message>gone</Message></Error>"
    exc = client_error_from_response("PutObject", 404, {}, body, store.client.exceptions)
    assert type(exc).__name__ == "NoSuchBucket"
    assert isinstance(exc, bexc.ClientError)


class _Raising:
    """An aiohttp-session stand-in whose request fails with ``exc``."""

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc
        self.calls = 0

    def put(self, *args: Any, **kwargs: Any) -> _Raising:
        self.calls += 1
        return self

    async def __aenter__(self) -> None:
        raise self.exc

    async def __aexit__(self, *exc_info: object) -> None:
        return None


@pytest.mark.parametrize(
    ("exc", "mapped"),
    [
        (aiohttp.ServerDisconnectedError(), "ConnectionClosedError"),
        (aiohttp.ClientPayloadError("truncated"), "ConnectionClosedError"),
        (aiohttp.SocketTimeoutError("Timeout on reading data from socket"), "ReadTimeoutError"),
        (aiohttp.ConnectionTimeoutError("Connection timeout to host"), "ConnectTimeoutError"),
        (aiohttp.ClientOSError(104, "Connection reset by peer"), "EndpointConnectionError"),
        (TimeoutError(), "ReadTimeoutError"),
        (ValueError("odd"), "HTTPClientError"),
    ],
    ids=repr,
)
async def test_network_errors_map_as_aiobotocore_maps_them(exc: BaseException, mapped: str) -> None:
    http = _Raising(exc)
    target = Target("http://127.0.0.1:9/b/", "us-east-1", "s3")
    lean = LeanPut(target, rotating_credentials(iter(["A"] * 9)), http)  # type: ignore[arg-type]
    with pytest.raises(bexc.BotoCoreError) as info:
        await lean.put("k", b"x", None)
    assert type(info.value).__name__ == mapped
    assert http.calls == 1
    assert translate_error(info.value, "PutObject", "s3://b/k").transient


def test_wrong_region_is_recognized() -> None:
    target = Target("https://b.s3.eu-west-1.amazonaws.com/", "eu-west-1", "s3")
    lean = LeanPut(target, None, None)  # type: ignore[arg-type]

    def answer(status: int, region: str | None) -> bexc.ClientError:
        headers = {"x-amz-bucket-region": region} if region else {}
        return client_error_from_response("PutObject", status, headers, b"")

    assert lean.wrong_region(answer(301, "us-west-2"))
    assert lean.wrong_region(answer(400, "us-west-2"))
    assert not lean.wrong_region(answer(301, None))
    assert not lean.wrong_region(answer(403, "eu-west-1"))
    assert not lean.wrong_region(answer(503, "us-west-2"))
