"""Fetching remote sources (http, https, s3) when copying them into storage is asked for."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

from .config import Settings
from .errors import PermanentStorageError, TransientStorageError

_TRANSIENT_STATUS = {408, 429, 500, 502, 503, 504}


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

        if self._session is None:
            timeout = aiohttp.ClientTimeout(total=self.settings.upload_timeout_s)
            self._session = aiohttp.ClientSession(timeout=timeout)
        try:
            async with self._session.get(uri) as response:
                if response.status in _TRANSIENT_STATUS:
                    raise TransientStorageError(f"GET {uri}: HTTP {response.status}")
                if response.status >= 400:
                    raise PermanentStorageError(f"GET {uri}: HTTP {response.status}")
                data: bytes = await response.read()
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
