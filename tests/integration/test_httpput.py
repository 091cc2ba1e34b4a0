"""The lean PUT path's hand-written HTTP/1.1 wire (``storage/httpput.py``): what it sends, how it
reads answers, how its failures map to botocore's exceptions, and that the lean PUTs of an
``http://`` endpoint go through it on both real S3 servers (moto and ``rclone serve s3``).

The wire tests talk to a scripted HTTP server on a loopback socket (``Scripted``): each
accepted request is recorded (head and body) and answered with the next scripted reply (raw
bytes, a reset, or silence)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from typing import Any

import botocore.exceptions as bexc
import pytest

from ingest.storage.httpput import WIRE_MAX, PutPool
from ingest.storage.s3 import S3Storage
from ingest.storage.s3errors import translate_error
from tests.s3fixtures import BOTH_S3_SERVERS
from tests.s3server import create_bucket, s3_client

OK = b'HTTP/1.1 200 OK\r\nContent-Length: 0\r\nETag: "x"\r\n\r\n'
ERROR_XML = b"<Error><Code>SlowDown</Code><Message>Reduce your rate</Message></Error>"


class Scripted:
    """A loopback HTTP server answering each request with the next scripted reply: bytes,
    ``"reset"`` (RST, no answer) or ``"silent"`` (never answers)."""

    def __init__(self, replies: list[bytes | str]) -> None:
        self.replies = list(replies)
        self.requests: list[tuple[bytes, bytes]] = []  # (head, body)
        self.connections = 0
        self.server: asyncio.Server | None = None

    async def __aenter__(self) -> Scripted:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()

    @property
    def port(self) -> int:
        assert self.server is not None
        return int(self.server.sockets[0].getsockname()[1])

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    int(line.split(b":", 1)[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                )
                body = await reader.readexactly(length)
                self.requests.append((head, body))
                reply = self.replies.pop(0)
                if reply == "reset":
                    sock = writer.get_extra_info("socket")
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\1\0\0\0\0\0\0\0")
                    writer.transport.abort()
                    return
                if reply == "silent":
                    await asyncio.sleep(30)
                    return
                assert isinstance(reply, bytes)
                writer.write(reply)
                await writer.drain()
                if b"Connection: close" in reply or reply.startswith(b"HTTP/1.0"):
                    writer.close()
                    return
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            writer.close()


def pool_for(server: Scripted, **kw: Any) -> PutPool:
    args: dict[str, Any] = {"limit": 4, "connect_timeout": 2.0, "read_timeout": 2.0}
    args.update(kw)
    return PutPool("127.0.0.1", server.port, body_max=64 * 1024, **args)


@pytest.fixture
async def ok_server() -> AsyncIterator[Scripted]:
    async with Scripted([OK] * 20) as server:
        yield server


async def test_sends_the_signed_headers_and_body_exactly(ok_server: Scripted) -> None:
    pool = pool_for(ok_server)
    headers = {"Host": "h:1", "Content-MD5": "abc==", "X-Amz-Date": "20260101T000000Z"}
    status, _headers, _body = await pool.put("/b/k%20x", headers, b"body bytes", "http://h/b/k")
    assert status == 200
    head, body = ok_server.requests[0]
    assert head == (
        b"PUT /b/k%20x HTTP/1.1\r\nHost: h:1\r\nContent-MD5: abc==\r\n"
        b"X-Amz-Date: 20260101T000000Z\r\nContent-Length: 10\r\n\r\n"
    )
    assert body == b"body bytes"
    pool.close()


async def test_keep_alive_reuses_one_connection(ok_server: Scripted) -> None:
    pool = pool_for(ok_server)
    for i in range(5):
        await pool.put(f"/b/{i}", {"Host": "h"}, b"x" * i, "u")
    assert ok_server.connections == 1 and pool.connections_opened == 1
    assert [b for _h, b in ok_server.requests] == [b"x" * i for i in range(5)]
    pool.close()


@pytest.mark.parametrize(
    ("reply", "body", "reopens"),
    [
        (b"HTTP/1.1 503 Slow Down\r\nContent-Length: %d\r\n\r\n%s", ERROR_XML, False),
        (
            b"HTTP/1.1 503 Slow Down\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"10\r\n%s\r\n%x\r\n%s\r\n0\r\n\r\n",
            ERROR_XML,
            False,
        ),
        (
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 503 Slow\r\nContent-Length: %d\r\n\r\n%s",
            ERROR_XML,
            False,
        ),
        (b"HTTP/1.0 503 Slow\r\n\r\n%s", ERROR_XML, True),  # ends with the connection
        (
            b"HTTP/1.1 503 Slow\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s",
            ERROR_XML,
            True,
        ),
    ],
    ids=["content-length", "chunked", "100-continue", "until-close", "connection-close"],
)
async def test_reads_each_response_framing(reply: bytes, body: bytes, reopens: bool) -> None:
    if b"chunked" in reply:
        raw = reply % (body[:16], len(body) - 16, body[16:])
    elif b"Content-Length" in reply:
        raw = reply % (len(body), body)
    else:
        raw = reply % body
    async with Scripted([raw, OK]) as server:
        pool = pool_for(server)
        status, _headers, got = await pool.put("/b/k", {"Host": "h"}, b"1", "u")
        assert (status, got) == (503, body)
        assert (await pool.put("/b/k", {"Host": "h"}, b"2", "u"))[0] == 200
        assert pool.connections_opened == (2 if reopens else 1)
        pool.close()


async def test_a_body_past_the_limit_is_cut_and_its_connection_dropped() -> None:
    """Of an answer longer than ``body_max`` only ``body_max`` bytes are kept, and the connection
    (with the rest of that answer unread) is not reused; the response headers are all kept."""
    long = b"HTTP/1.1 503 Slow\r\nX-Amz-Request-Id: R1\r\nContent-Length: 100\r\n\r\n" + b"e" * 100
    async with Scripted([long, OK]) as server:
        pool = PutPool(
            "127.0.0.1", server.port, limit=1, connect_timeout=2, read_timeout=2, body_max=10
        )
        status, headers, body = await pool.put("/b/k", {"Host": "h"}, b"1", "u")
        assert (status, body, headers["x-amz-request-id"]) == (503, b"e" * 10, "R1")
        assert (await pool.put("/b/k", {"Host": "h"}, b"2", "u"))[0] == 200
        assert pool.connections_opened == 2
        pool.close()


@pytest.mark.parametrize(
    ("reply", "mapped"),
    [
        ("reset", "ConnectionClosedError"),
        ("silent", "ReadTimeoutError"),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\nConnection: close\r\n\r\nshort",
            "ConnectionClosedError",
        ),
        (b"SPDY/9 what\r\n\r\n", "ConnectionClosedError"),
    ],
    ids=["reset", "silent", "truncated", "not-http"],
)
async def test_failures_map_to_botocore_and_are_transient(reply: bytes | str, mapped: str) -> None:
    async with Scripted([reply, OK]) as server:
        pool = pool_for(server, read_timeout=0.5)
        with pytest.raises(bexc.BotoCoreError) as info:
            await pool.put("/b/k", {"Host": "h"}, b"data", "http://h/b/k")
        assert type(info.value).__name__ == mapped
        assert translate_error(info.value, "PutObject", "s3://b/k").transient
        assert len(server.requests) == 1  # exactly one request on the wire: no hidden re-send
        assert (await pool.put("/b/k", {"Host": "h"}, b"next", "u"))[0] == 200  # pool recovers
        pool.close()


async def test_refused_connection_is_an_endpoint_error() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    pool = PutPool("127.0.0.1", port, limit=1, connect_timeout=2, read_timeout=2, body_max=10)
    with pytest.raises(bexc.EndpointConnectionError):
        await pool.put("/b/k", {"Host": "h"}, b"", "http://h/b/k")


async def test_a_header_that_would_split_the_request_is_refused(ok_server: Scripted) -> None:
    pool = pool_for(ok_server)
    with pytest.raises(ValueError, match="invalid HTTP header 'Content-Type'"):
        await pool.put("/b/k", {"Content-Type": "image/jpeg\r\nX-Evil: 1"}, b"", "u")
    assert ok_server.requests == []
    error = translate_error(ValueError("invalid HTTP header"), "PutObject", "s3://b/k")
    assert not error.transient
    pool.close()


async def test_cancelled_put_drops_its_connection(ok_server: Scripted) -> None:
    async with Scripted(["silent", OK]) as server:
        pool = pool_for(server)
        task = asyncio.create_task(pool.put("/b/k", {"Host": "h"}, b"1", "u"))
        while not server.requests:  # noqa: ASYNC110 (the server runs on this loop)
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert (await pool.put("/b/k", {"Host": "h"}, b"2", "u"))[0] == 200
        assert pool.connections_opened == 2 and len(server.requests) == 2
        pool.close()


@BOTH_S3_SERVERS
async def test_lean_puts_go_over_the_pool_on_both_servers(
    s3_bucket: tuple[str, str], request: pytest.FixtureRequest
) -> None:
    """On moto and rclone (which checks the signature and Content-MD5 it receives), every
    lean PUT of an http:// endpoint goes through ``PutPool``, never aiohttp, and lands;
    rclone keeps connections alive (moto's server answers HTTP/1.0: one per request)."""
    endpoint, bucket = s3_bucket
    async with S3Storage(bucket, "wire", endpoint_url=endpoint, max_pool_connections=4) as store:
        lean = store._lean
        assert lean is not None and lean._pool is not None

        def no_aiohttp(*a: Any, **k: Any) -> None:
            raise AssertionError("aiohttp was used for a lean PUT")

        lean._http = type("NoHttp", (), {"put": staticmethod(no_aiohttp)})()  # type: ignore[assignment]
        datas = {f"k{i:02d} +é.bin": bytes([i]) * (1000 * i) for i in range(24)}
        await asyncio.gather(
            *(store.put_bytes(k, v, "application/x-test") for k, v in datas.items())
        )
        keep_alive = request.node.callspec.params["s3_server"] == "rclone"
        assert 1 <= lean._pool.connections_opened <= (4 if keep_alive else len(datas))
    client = s3_client(endpoint)
    for key, data in datas.items():
        got = client.get_object(Bucket=bucket, Key=f"wire/{key}")
        assert got["Body"].read() == data


async def test_bodies_past_the_wire_limit_go_through_aiohttp(
    rclone_server: str,
) -> None:
    """A body larger than ``WIRE_MAX`` is streamed by aiohttp (whose read timeout starts at the
    end of the upload), not handed whole to the hand-written wire."""
    bucket = create_bucket(rclone_server)
    big = bytes(range(256)) * (WIRE_MAX // 256 + 1)
    async with S3Storage(bucket, "big", endpoint_url=rclone_server) as store:
        lean = store._lean
        assert lean is not None and lean._pool is not None
        await store.put_bytes("small.bin", b"s" * WIRE_MAX, None)
        assert lean._pool.connections_opened == 1
        await store.put_bytes("big.bin", big, None)
        assert lean._pool.connections_opened == 1  # not through the pool
        assert await store.read("big.bin") == big
