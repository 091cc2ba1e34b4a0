"""The remote fetcher (``--copy-remote``): every redirect hop checked, special-purpose ranges,
the size limit before reading, error classes, one S3 store per bucket under a race."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

import ingest.remote as remote
from ingest.addresses import SPECIAL_PURPOSE, is_public, special_purpose
from ingest.config import Settings
from ingest.errors import PermanentStorageError, TransientStorageError
from ingest.remote import PrivateAddressRefused, PublicOnlyResolver, RemoteFetcher

from ..s3server import s3_client

# ---------------------------------------------------------------- the special-purpose table

REFUSED = [
    ("0.1.2.3", "'this network'"),
    ("10.1.2.3", "private-use"),
    ("100.64.0.1", "CGNAT"),
    ("100.127.255.254", "CGNAT"),
    ("127.0.0.1", "loopback"),
    ("127.255.0.9", "loopback"),
    ("169.254.169.254", "link-local"),
    ("172.16.0.1", "private-use"),
    ("172.31.255.1", "private-use"),
    ("192.0.0.8", "IETF protocol"),
    ("192.0.0.170", "IETF protocol"),
    ("192.0.2.1", "TEST-NET-1"),
    ("192.31.196.1", "AS112"),
    ("192.52.193.1", "AMT"),
    ("192.88.99.1", "6to4 relay"),
    ("192.168.1.1", "private-use"),
    ("192.175.48.1", "AS112"),
    ("198.18.0.1", "benchmarking"),
    ("198.19.255.1", "benchmarking"),
    ("198.51.100.1", "TEST-NET-2"),
    ("203.0.113.1", "TEST-NET-3"),
    ("224.0.0.1", "multicast"),
    ("239.255.255.250", "multicast"),
    ("240.0.0.1", "reserved"),
    ("255.255.255.255", "broadcast"),
    ("::", "unspecified"),
    ("::1", "loopback"),
    ("::ffff:127.0.0.1", "IPv4-mapped"),
    ("::ffff:8.8.8.8", "IPv4-mapped"),
    ("::127.0.0.1", "IPv4-compatible"),
    ("::ffff:0:a00:1", "SIIT"),
    ("64:ff9b::7f00:1", "NAT64 of loopback"),
    ("64:ff9b::a00:1", "NAT64 of private-use"),
    ("64:ff9b::6440:1", "NAT64 of shared address space"),
    ("64:ff9b:1::1", "local-use"),
    ("100::1", "discard-only"),
    ("100:0:0:1::1", "dummy"),
    ("2001::1", "Teredo"),
    ("2001:2::1", "IETF protocol"),
    ("2001:20::1", "ORCHID"),
    ("2001:db8::1", "documentation"),
    ("2002:7f00:1::1", "6to4 of loopback"),
    ("2002:c0a8:101::1", "6to4 of private-use"),
    ("3fff::1", "documentation"),
    ("5f00::1", "SRv6"),
    ("fc00::1", "unique-local"),
    ("fd12:3456::1", "unique-local"),
    ("fe80::1", "link-local"),
    ("fe80::1%2", "link-local"),
    ("fec0::1", "site-local"),
    ("ff02::1", "multicast"),
    ("4000::1", "outside IPv6 global unicast"),
]

PUBLIC = ["8.8.8.8", "1.1.1.1", "100.128.0.1", "198.20.0.1", "2606:4700::1111", "64:ff9b::808:808"]
PUBLIC += ["2002:808:808::1", "2a00:1450:4001::1"]


@pytest.mark.parametrize("address, name", REFUSED)
def test_special_purpose_ranges_are_refused(address: str, name: str) -> None:
    found = special_purpose(address)
    assert found is not None and name in found, (address, found)
    assert not is_public(address)


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_are_allowed(address: str) -> None:
    assert special_purpose(address) is None and is_public(address)


def test_every_row_of_the_table_is_tested() -> None:
    refused = [ipaddress.ip_address(a.split("%")[0]) for a, _ in REFUSED]
    untested = [str(net) for net, _ in SPECIAL_PURPOSE if not any(ip in net for ip in refused)]
    assert untested == []


def test_private_addresses_are_refused_by_default() -> None:
    assert Settings().allow_private_addresses == 0


# ---------------------------------------------------------------- redirects, hop by hop


class FakeResolver:
    """Names -> addresses, as aiohttp's resolver answers."""

    def __init__(self, table: dict[str, list[str]]) -> None:
        self.table = table
        self.asked: list[str] = []

    async def resolve(self, host: str, port: int = 0, family: int = 0) -> list[dict[str, Any]]:
        self.asked.append(host)
        return [
            {
                "hostname": host,
                "host": a,
                "port": port,
                "family": socket.AF_INET6 if ":" in a else socket.AF_INET,
                "proto": 0,
                "flags": socket.AI_NUMERICHOST,
            }
            for a in self.table.get(host, [])
        ]

    async def close(self) -> None:
        pass


async def test_the_resolver_keeps_only_allowed_addresses() -> None:
    fake = FakeResolver(
        {"evil.test": ["10.0.0.1", "127.0.0.1"], "mixed.test": ["10.0.0.1", "8.8.8.8"]}
    )
    resolver = PublicOnlyResolver(fake)
    with pytest.raises(PrivateAddressRefused, match="private-use"):
        await resolver.resolve("evil.test", 80)
    assert [e["host"] for e in await resolver.resolve("mixed.test", 80)] == ["8.8.8.8"]


def test_hop_checker_refuses_ip_literals_and_other_schemes() -> None:
    fetcher = RemoteFetcher(Settings())
    for url in (
        "http://127.0.0.1/x",
        "http://[::1]:8/x",
        "https://100.64.0.1/",
        "http://[::ffff:7f00:1]/",
        # numeric forms getaddrinfo reads as 127.0.0.1 and aiohttp sends past the resolver
        "http://2130706433/x",
        "http://0177.0.0.1/x",
        "http://127.1/x",
        "http://127.0.0.1./x",
    ):
        with pytest.raises(PrivateAddressRefused):
            fetcher.check_hop(url)
    for url in ("file:///etc/passwd", "ftp://8.8.8.8/x", "http:///nohost"):
        with pytest.raises(PermanentStorageError, match="only http"):
            fetcher.check_hop(url)
    fetcher.check_hop("https://8.8.8.8/x")
    fetcher.check_hop("https://example.com/x")  # names: the resolver decides
    RemoteFetcher(Settings(allow_private_addresses=1)).check_hop("http://127.0.0.1/x")


async def _serve(app: web.Application, host: str) -> tuple[web.AppRunner, int]:
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, host, 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, port


@pytest.fixture
async def two_hosts() -> AsyncIterator[tuple[int, int, list[str]]]:
    """An 'allowed' server on 127.0.0.1 that redirects, a 'private' one on 127.0.0.2."""
    hits: list[str] = []

    async def secret(request: web.Request) -> web.Response:
        hits.append(request.path)
        return web.Response(body=b"secret")

    private = web.Application()
    private.router.add_get("/secret", secret)
    private_runner, private_port = await _serve(private, "127.0.0.2")

    async def redirect(request: web.Request) -> web.Response:
        raise web.HTTPFound(request.query["to"].replace("PORT", str(private_port)))

    async def data(request: web.Request) -> web.Response:
        return web.Response(body=b"public data")

    async def loop(request: web.Request) -> web.Response:
        raise web.HTTPFound("/loop")

    allowed = web.Application()
    allowed.router.add_get("/redirect", redirect)
    allowed.router.add_get("/data", data)
    allowed.router.add_get("/loop", loop)
    allowed_runner, allowed_port = await _serve(allowed, "127.0.0.1")
    yield allowed_port, private_port, hits
    await allowed_runner.cleanup()
    await private_runner.cleanup()


def _test_fetcher(**settings: Any) -> RemoteFetcher:
    """Refuses private addresses, except 127.0.0.1 (standing in for a public host)."""
    resolver = FakeResolver({"allowed.test": ["127.0.0.1"], "evil.test": ["127.0.0.2"]})
    return RemoteFetcher(
        Settings(**{"allow_private_addresses": 0, **settings}),
        resolver=resolver,
        address_allowed=lambda ip: ip == ipaddress.ip_address("127.0.0.1"),
    )


async def test_a_redirect_to_a_private_address_is_refused(
    two_hosts: tuple[int, int, list[str]],
) -> None:
    allowed_port, private_port, hits = two_hosts
    fetcher = _test_fetcher()
    base = f"http://allowed.test:{allowed_port}"
    try:
        assert await fetcher.fetch(f"{base}/data") == b"public data"
        # an allowed redirect (same host) is followed
        assert await fetcher.fetch(f"{base}/redirect?to=/data") == b"public data"
        for target in (
            "http://127.0.0.2:PORT/secret",  # an IP literal: checked on the hop
            "http://evil.test:PORT/secret",  # a name: its addresses checked by the resolver
            "http://[::1]:PORT/secret",
            "http://2130706434:PORT/secret",  # 127.0.0.2 for getaddrinfo
            "http://127.0.0.2.:PORT/secret",
        ):
            with pytest.raises(PrivateAddressRefused):
                await fetcher.fetch(f"{base}/redirect?to={target}")
        with pytest.raises(PermanentStorageError, match="only http"):
            await fetcher.fetch(f"{base}/redirect?to=file:///etc/passwd")
        with pytest.raises(PermanentStorageError, match="redirects"):
            await fetcher.fetch(f"{base}/loop")
        # the first hop is checked as well
        with pytest.raises(PrivateAddressRefused):
            await fetcher.fetch(f"http://evil.test:{private_port}/secret")
    finally:
        await fetcher.close()
    assert hits == []
    # with the explicit opt-in the same redirect is followed
    opted_in = _test_fetcher(allow_private_addresses=1)
    try:
        got = await opted_in.fetch(f"{base}/redirect?to=http://127.0.0.2:PORT/secret")
    finally:
        await opted_in.close()
    assert got == b"secret" and hits == ["/secret"]


# ---------------------------------------------------------------- size, errors


@pytest.fixture
async def http_server() -> AsyncIterator[str]:
    async def sized(request: web.Request) -> web.Response:
        return web.Response(body=b"x" * int(request.query["n"]))

    async def chunked(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        await response.prepare(request)
        for _ in range(int(request.query["n"])):
            await response.write(b"y" * 1024)
        await response.write_eof()
        return response

    async def status(request: web.Request) -> web.Response:
        return web.Response(status=int(request.query["s"]))

    app = web.Application()
    app.router.add_get("/sized", sized)
    app.router.add_get("/chunked", chunked)
    app.router.add_get("/status", status)
    runner, port = await _serve(app, "127.0.0.1")
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


async def test_size_is_known_before_reading_and_the_limit_holds(http_server: str) -> None:
    fetcher = RemoteFetcher(Settings(allow_private_addresses=1, max_remote_object_mb=1))
    mib = 1024 * 1024
    try:
        async with fetcher.open(f"{http_server}/sized?n=1000") as body:
            assert body.size == 1000
            assert await body.read() == b"x" * 1000
        async with fetcher.open(f"{http_server}/chunked?n=3") as body:
            assert body.size is None
            with pytest.raises(PermanentStorageError, match="larger than the limit"):
                await body.read(max_bytes=2048)
        with pytest.raises(PermanentStorageError, match="max_remote_object_mb"):
            async with fetcher.open(f"{http_server}/sized?n={mib + 1}"):
                pytest.fail("an announced size over the limit is refused before the body")
        with pytest.raises(PermanentStorageError, match="larger than the limit"):
            await fetcher.fetch(f"{http_server}/chunked?n={1024 + 1}")
        assert len(await fetcher.fetch(f"{http_server}/chunked?n=1024")) == mib
        with pytest.raises(PermanentStorageError, match="empty body"):
            await fetcher.fetch(f"{http_server}/sized?n=0")
    finally:
        await fetcher.close()


@pytest.mark.parametrize(
    "status, cls",
    [
        (503, TransientStorageError),
        (429, TransientStorageError),
        (408, TransientStorageError),
        (404, PermanentStorageError),
        (403, PermanentStorageError),
    ],
)
async def test_statuses_are_classified(http_server: str, status: int, cls: type) -> None:
    fetcher = RemoteFetcher(Settings(allow_private_addresses=1))
    try:
        with pytest.raises(cls, match=f"HTTP {status}"):
            await fetcher.fetch(f"{http_server}/status?s={status}")
    finally:
        await fetcher.close()


async def test_connection_errors_are_transient() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens there
    fetcher = RemoteFetcher(Settings(allow_private_addresses=1))
    try:
        with pytest.raises(TransientStorageError):
            await fetcher.fetch(f"http://127.0.0.1:{port}/x")
        with pytest.raises(PermanentStorageError, match="unsupported scheme"):
            await fetcher.fetch("ftp://example.com/x")
    finally:
        await fetcher.close()


# ---------------------------------------------------------------- S3


async def test_one_store_per_bucket_under_a_race(monkeypatch: pytest.MonkeyPatch) -> None:
    opened: list[str] = []
    closed: list[str] = []

    class FakeStore:
        def __init__(self, url: str) -> None:
            self.url = url

        async def close(self) -> None:
            closed.append(self.url)

    async def slow_open(url: str, **kwargs: Any) -> FakeStore:
        opened.append(url)
        await asyncio.sleep(0.05)  # both first fetches are waiting here without the lock
        return FakeStore(url)

    monkeypatch.setattr(remote, "open_storage", slow_open)
    fetcher = RemoteFetcher(Settings())
    stores = await asyncio.gather(*(fetcher._store(b) for b in ("a", "a", "a", "b")))
    assert opened == ["s3://a", "s3://b"]
    assert stores[0] is stores[1] is stores[2] and stores[3] is not stores[0]
    await fetcher.close()
    assert sorted(closed) == ["s3://a", "s3://b"]


async def test_s3_objects_stream_with_their_size(s3_bucket: tuple[str, str]) -> None:
    endpoint, bucket = s3_bucket
    client = s3_client(endpoint)
    client.put_object(Bucket=bucket, Key="cam/a.bin", Body=b"z" * 5000)
    client.put_object(Bucket=bucket, Key="cam/big.bin", Body=b"z" * (1024 * 1024 + 1))
    fetcher = RemoteFetcher(Settings(s3_endpoint_url=endpoint, max_remote_object_mb=1))
    try:
        async with fetcher.open(f"s3://{bucket}/cam/a.bin") as body:
            assert body.size == 5000
            assert await body.read() == b"z" * 5000
        with pytest.raises(PermanentStorageError, match="larger than the limit"):
            await fetcher.fetch(f"s3://{bucket}/cam/big.bin")
        with pytest.raises(PermanentStorageError, match="NoSuchKey"):
            await fetcher.fetch(f"s3://{bucket}/cam/missing.bin")
        results = await asyncio.gather(
            *(fetcher.fetch(f"s3://{bucket}/cam/a.bin") for _ in range(4))
        )
        assert results == [b"z" * 5000] * 4
        assert list(fetcher._buckets) == [f"s3://{bucket}"]
    finally:
        await fetcher.close()
