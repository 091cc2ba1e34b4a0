"""Fetching remote sources (http, https, s3) when copying them into storage is asked for."""

from __future__ import annotations

import ipaddress
from typing import Any
from urllib.parse import urlparse

from .config import Settings
from .errors import PermanentStorageError, TransientStorageError

_TRANSIENT_STATUS = {408, 429, 500, 502, 503, 504}


def is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    return not (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_reserved
        or ip.is_multicast
        or ip.is_unspecified
    )


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


class PrivateAddressRefused(PermanentStorageError):
    """A copy from a loopback, link-local or private address, which is not allowed."""


class PublicOnlyResolver:
    """An aiohttp resolver that drops loopback, link-local and private addresses.

    The check is on the addresses actually connected to, so DNS tricks (a public name that
    resolves to 127.0.0.1) are refused too.
    """

    def __init__(self) -> None:
        from aiohttp.resolver import DefaultResolver

        self._inner = DefaultResolver()

    async def resolve(self, host: str, port: int = 0, family: int = 0) -> list[dict[str, Any]]:
        found = await self._inner.resolve(host, port, family)  # type: ignore[arg-type]
        public = [dict(entry) for entry in found if is_public(entry["host"])]
        if not public:
            addresses = ", ".join(sorted({entry["host"] for entry in found}))
            raise PrivateAddressRefused(
                f"{host} resolves to a loopback, link-local or private address ({addresses}); "
                "copying from it is not allowed (allow_private_addresses)"
            )
        return public

    async def close(self) -> None:
        await self._inner.close()


class RemoteFetcher:
    """One aiohttp session (and S3 stores by bucket) per run; errors translated here."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._session: Any = None
        self._buckets: dict[str, Any] = {}

    async def fetch(self, uri: str) -> bytes:
        parsed = urlparse(uri)
        if parsed.scheme == "s3":
            return await self._fetch_s3(parsed.netloc, parsed.path.lstrip("/"))
        return await self._fetch_http(uri)

    async def _fetch_http(self, uri: str) -> bytes:
        import aiohttp

        host = urlparse(uri).hostname or ""
        if not self.settings.allow_private_addresses and _is_ip(host) and not is_public(host):
            # aiohttp connects to IP literals without asking the resolver
            raise PrivateAddressRefused(
                f"{host} is a loopback, link-local or private address; copying from it is "
                "not allowed (allow_private_addresses)"
            )

        if self._session is None:
            timeout = aiohttp.ClientTimeout(total=self.settings.upload_timeout_s)
            resolver = None if self.settings.allow_private_addresses else PublicOnlyResolver()
            connector = aiohttp.TCPConnector(resolver=resolver)  # type: ignore[arg-type]
            self._session = aiohttp.ClientSession(timeout=timeout, connector=connector)
        try:
            async with self._session.get(uri) as response:
                if response.status in _TRANSIENT_STATUS:
                    raise TransientStorageError(f"GET {uri}: HTTP {response.status}")
                if response.status >= 400:
                    raise PermanentStorageError(f"GET {uri}: HTTP {response.status}")
                data: bytes = await response.read()
        except PrivateAddressRefused:
            raise
        except (TimeoutError, aiohttp.ClientConnectionError, aiohttp.ClientPayloadError) as exc:
            raise TransientStorageError(f"GET {uri}: {type(exc).__name__}: {exc}") from exc
        except aiohttp.ClientError as exc:
            raise PermanentStorageError(f"GET {uri}: {type(exc).__name__}: {exc}") from exc
        if not data:
            raise PermanentStorageError(f"GET {uri}: empty body")
        return data

    async def _fetch_s3(self, bucket: str, key: str) -> bytes:
        store = self._buckets.get(bucket)
        if store is None:
            from .storage.factory import open_storage

            s = self.settings
            store = self._buckets[bucket] = await open_storage(
                f"s3://{bucket}",
                endpoint_url=s.s3_endpoint_url or None,
                region=s.s3_region,
                concurrency=s.concurrency,
                timeout_s=s.upload_timeout_s,
            )
        data: bytes = await store.read(key)
        return data

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
        for store in self._buckets.values():
            await store.close()
