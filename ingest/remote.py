"""Fetching remote sources (http, https, s3) when copying them into storage is asked for.

``async with fetcher.open(uri) as body:`` gives the object's size before anything is read
(``body.size``: Content-Length or S3's ContentLength, None if unknown) and ``await body.read()``
reads it, never more than ``max_remote_object_mb`` (over it: ``PermanentStorageError``).

HTTP redirects are followed here, not by aiohttp, so every hop is checked: unless
``allow_private_addresses`` is set, each hop's host must be a public address (an IP literal is
checked at once, a name through ``PublicOnlyResolver`` on the addresses actually connected to;
see ``addresses.py`` for the special-purpose table). Errors are classified: timeouts, resets,
408, 429 and 5xx are ``TransientStorageError``; everything else ``PermanentStorageError``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import urljoin, urlsplit

from .addresses import IPAddress, ip_literal, is_public, special_purpose
from .config import Settings
from .errors import PermanentStorageError, StorageError, TransientStorageError
from .storage.factory import open_storage

__all__ = ["PrivateAddressRefused", "PublicOnlyResolver", "RemoteBody", "RemoteFetcher"]
__all__ += ["is_public"]

_TRANSIENT_STATUS = frozenset({408, 429, 500, 502, 503, 504})
_REDIRECT_STATUS = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 5
_CHUNK = 256 * 1024

#: decides whether a resolved or literal address may be connected to
AddressPolicy = Callable[[IPAddress], bool]


class PrivateAddressRefused(PermanentStorageError):
    """A copy from a loopback, link-local, private or other special-purpose address."""


def _refusal(host: str, addresses: list[str]) -> PrivateAddressRefused:
    kinds = sorted({f"{a} ({special_purpose(a) or 'not allowed'})" for a in addresses})
    return PrivateAddressRefused(
        f"{host} is or resolves to a loopback, link-local, private or special-purpose address "
        f"({', '.join(kinds)}); copying from it is not allowed (allow_private_addresses)"
    )


class PublicOnlyResolver:
    """An aiohttp resolver that keeps only the addresses ``allowed`` accepts (public ones).

    The check is on the addresses actually connected to, so DNS tricks (a public name that
    resolves to 127.0.0.1) are refused too. ``inner``: the resolver asked (aiohttp's default).
    """

    def __init__(self, inner: Any = None, allowed: AddressPolicy = is_public) -> None:
        if inner is None:
            from aiohttp.resolver import DefaultResolver

            inner = DefaultResolver()
        self._inner = inner
        self._allowed = allowed

    async def resolve(self, host: str, port: int = 0, family: int = 0) -> list[dict[str, Any]]:
        found = await self._inner.resolve(host, port, family)
        kept = [dict(e) for e in found if self._allowed(_address(e["host"]))]
        if not kept:
            raise _refusal(host, [str(e["host"]) for e in found])
        return kept

    async def close(self) -> None:
        await self._inner.close()


def _address(text: str) -> IPAddress:
    ip = ip_literal(text)
    if ip is None:
        raise PrivateAddressRefused(f"the resolver returned {text!r}, not an IP address")
    return ip


class RemoteBody:
    """An opened remote object: ``size`` known up front, ``read()`` within the limit."""

    def __init__(self, uri: str, size: int | None, limit: int, chunks: Any) -> None:
        self.uri = uri
        self.size = size
        self._limit = limit
        self._chunks = chunks  # async (n) -> bytes, b"" at the end

    async def chunks(self, max_bytes: int | None = None) -> AsyncIterator[bytes]:
        """The body in chunks; ``PermanentStorageError`` past ``max_bytes`` or the setting,
        ``TransientStorageError`` when it ends short of its announced size."""
        limit = self._limit if max_bytes is None else min(max_bytes, self._limit)
        if self.size is not None and self.size > limit:
            raise _too_large(self.uri, self.size, limit)
        total = 0
        while True:
            chunk = await self._chunks(_CHUNK)
            if not chunk:
                break
            total += len(chunk)
            if total > limit:
                raise _too_large(self.uri, total, limit)
            yield chunk
        if self.size is not None and total != self.size:
            raise TransientStorageError(f"GET {self.uri}: got {total} bytes, {self.size} announced")

    async def read(self, max_bytes: int | None = None) -> bytes:
        """The whole body; ``PermanentStorageError`` past ``max_bytes`` or the setting."""
        data = b"".join([chunk async for chunk in self.chunks(max_bytes)])
        if not data:
            raise PermanentStorageError(f"GET {self.uri}: empty body")
        return data


def _too_large(uri: str, size: int, limit: int) -> PermanentStorageError:
    return PermanentStorageError(
        f"GET {uri}: the object is larger than the limit ({size} > {limit} bytes; "
        "setting max_remote_object_mb)"
    )


class RemoteFetcher:
    """One aiohttp session (and S3 stores by bucket) per run; errors translated here.

    ``resolver`` / ``address_allowed``: the inner DNS resolver and the address policy used
    when private addresses are refused (tests inject both; the defaults are aiohttp's resolver
    and ``addresses.is_public``).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        resolver: Any = None,
        address_allowed: AddressPolicy | None = None,
    ) -> None:
        self.settings = settings
        self.limit = max(1, settings.max_remote_object_mb) * 1024 * 1024
        self._resolver = resolver
        self._allowed: AddressPolicy = address_allowed or is_public
        self._session: Any = None
        self._buckets: dict[str, Any] = {}
        self._lock = asyncio.Lock()

    @contextlib.asynccontextmanager
    async def open(self, uri: str) -> AsyncIterator[RemoteBody]:
        """Open ``uri`` (http, https, s3): ``async with fetcher.open(uri) as body``."""
        scheme = urlsplit(uri).scheme.lower()
        if scheme == "s3":
            async with self._open_s3(uri) as body:
                yield body
        elif scheme in ("http", "https"):
            async with self._open_http(uri) as body:
                yield body
        else:
            raise PermanentStorageError(f"cannot fetch {uri[:200]!r}: unsupported scheme")

    async def fetch(self, uri: str) -> bytes:
        """The whole object (within the limit); the pipeline's old entry point."""
        async with self.open(uri) as body:
            return await body.read()

    # ---------------------------------------------------------------- http(s)

    async def _http(self) -> Any:
        import aiohttp

        async with self._lock:
            if self._session is None:
                timeout = aiohttp.ClientTimeout(total=self.settings.upload_timeout_s)
                resolver = self._resolver
                if not self.settings.allow_private_addresses:
                    resolver = PublicOnlyResolver(resolver, self._allowed)
                connector = aiohttp.TCPConnector(resolver=resolver)
                self._session = aiohttp.ClientSession(timeout=timeout, connector=connector)
            return self._session

    def check_hop(self, url: str) -> None:
        """Refuse a hop that is not http(s) or names a refused IP literal.

        aiohttp connects to IP literals without asking the resolver, so they are checked here;
        names are checked by ``PublicOnlyResolver`` on each connection.
        """
        parts = urlsplit(url)
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            raise PermanentStorageError(f"GET {url[:200]}: only http(s) URLs can be fetched")
        if self.settings.allow_private_addresses:
            return
        host = parts.hostname
        ip = ip_literal(host)
        if ip is None and (":" in host or host.replace(".", "").isdigit()):
            # aiohttp takes these for IP literals and skips the resolver, while getaddrinfo
            # reads "2130706433", "0177.0.0.1" or "127.0.0.1." as 127.0.0.1
            raise PrivateAddressRefused(
                f"{host}: not a canonical IP address; copying from it is not allowed"
            )
        if ip is not None and not self._allowed(ip):
            raise _refusal(host, [str(ip)])

    async def _get(self, url: str) -> Any:
        """One GET without following redirects, errors translated."""
        session = await self._http()
        self.check_hop(url)
        return await _translated(url, session.get(url, allow_redirects=False))

    @contextlib.asynccontextmanager
    async def _open_http(self, uri: str) -> AsyncIterator[RemoteBody]:
        url = uri
        response = await self._get(url)
        for _ in range(MAX_REDIRECTS):
            if response.status not in _REDIRECT_STATUS:
                break
            location = response.headers.get("Location")
            response.close()
            if not location:
                raise PermanentStorageError(f"GET {url}: HTTP {response.status} without Location")
            url = urljoin(url, location)
            response = await self._get(url)
        try:
            where = uri if url == uri else f"{uri} (redirected to {url})"
            if response.status in _REDIRECT_STATUS:
                raise PermanentStorageError(f"GET {where}: more than {MAX_REDIRECTS} redirects")
            if response.status in _TRANSIENT_STATUS:
                raise TransientStorageError(f"GET {where}: HTTP {response.status}")
            if response.status >= 400:
                raise PermanentStorageError(f"GET {where}: HTTP {response.status}")
            size = response.content_length
            if size is not None and size > self.limit:
                raise _too_large(where, size, self.limit)

            async def chunks(n: int) -> bytes:
                return await _translated(where, response.content.read(n))

            yield RemoteBody(where, size, self.limit, chunks)
        finally:
            response.close()  # after a whole body the connection is back in the pool already

    # ---------------------------------------------------------------- s3

    async def _store(self, bucket: str) -> Any:
        """The bucket's store, opened once even when several first fetches race."""
        async with self._lock:
            store = self._buckets.get(bucket)
            if store is None:
                s = self.settings
                store = await open_storage(
                    f"s3://{bucket}",
                    endpoint_url=s.s3_endpoint_url or None,
                    region=s.s3_region,
                    concurrency=s.concurrency,
                    timeout_s=s.upload_timeout_s,
                )
                self._buckets[bucket] = store
            return store

    @contextlib.asynccontextmanager
    async def _open_s3(self, uri: str) -> AsyncIterator[RemoteBody]:
        from .storage.s3 import translate_error

        parts = urlsplit(uri)
        bucket, key = parts.netloc, parts.path.lstrip("/")
        if not bucket or not key:
            raise PermanentStorageError(f"not an s3://bucket/key URI: {uri[:200]!r}")
        store = await self._store(bucket)
        try:
            response = await store.client.get_object(Bucket=bucket, Key=key)
        except Exception as exc:
            raise translate_error(exc, "GetObject", uri) from exc
        stream = response["Body"]
        size = response.get("ContentLength")
        try:
            if size is not None and size > self.limit:
                raise _too_large(uri, size, self.limit)

            async def chunks(n: int) -> bytes:
                try:
                    data: bytes = await stream.read(n)
                except Exception as exc:
                    raise translate_error(exc, "GetObject", uri) from exc
                return data

            yield RemoteBody(uri, size, self.limit, chunks)
        finally:
            stream.close()

    async def close(self) -> None:
        session, self._session = self._session, None
        buckets, self._buckets = list(self._buckets.values()), {}
        if session is not None:
            await session.close()
        for store in buckets:
            await store.close()


async def _translated(url: str, awaitable: Any) -> Any:
    """Await an aiohttp call; its errors as Transient / PermanentStorageError."""
    import aiohttp

    try:
        return await awaitable
    except StorageError:
        raise
    except (TimeoutError, aiohttp.ClientConnectionError, aiohttp.ClientPayloadError) as exc:
        raise TransientStorageError(f"GET {url}: {type(exc).__name__}: {exc}") from exc
    except aiohttp.ClientError as exc:
        raise PermanentStorageError(f"GET {url}: {type(exc).__name__}: {exc}") from exc
