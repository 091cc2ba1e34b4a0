"""Presigned GET URLs for ``s3://`` objects that frames reference.

``S3Storage`` has no presign method, so this small helper asks an aiobotocore client for
``generate_presigned_url('get_object', ...)``: the configured store's own client when the store
is S3, else a client of its own (same endpoint and region settings), opened on first use and
closed with the app.
"""

from __future__ import annotations

import contextlib
from typing import Any
from urllib.parse import unquote, urlsplit

import aioboto3

from ..config import Settings
from ..errors import StorageError, ValidationError
from ..storage import Storage
from ..storage.s3 import S3Storage

PRESIGN_EXPIRES_S = 300


def split_s3_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/a/b.jpg`` -> ("bucket", "a/b.jpg")."""
    parts = urlsplit(uri)
    key = unquote(parts.path.lstrip("/"))
    if parts.scheme != "s3" or not parts.netloc or not key:
        raise ValidationError("uri", f"not an s3://bucket/key URI: {uri[:200]!r}")
    return parts.netloc, key


class S3Presigner:
    def __init__(self, settings: Settings, storage: Storage | None) -> None:
        self._settings = settings
        self._storage = storage
        self._stack: contextlib.AsyncExitStack | None = None
        self._client: Any = None

    async def _get_client(self) -> Any:
        if isinstance(self._storage, S3Storage):
            return self._storage.client
        if self._client is None:
            stack = contextlib.AsyncExitStack()
            endpoint = self._settings.s3_endpoint_url or None
            try:
                self._client = await stack.enter_async_context(
                    aioboto3.Session().client(
                        "s3", endpoint_url=endpoint, region_name=self._settings.s3_region
                    )
                )
            except Exception as exc:
                await stack.aclose()
                raise StorageError(f"cannot open an S3 client to presign URLs: {exc}") from exc
            self._stack = stack
        return self._client

    async def url(self, uri: str, expires_s: int = PRESIGN_EXPIRES_S) -> str:
        """A presigned HTTPS URL for GET of ``uri`` (valid ``expires_s`` seconds)."""
        bucket, key = split_s3_uri(uri)
        client = await self._get_client()
        try:
            url: str = await client.generate_presigned_url(
                "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=expires_s
            )
        except Exception as exc:
            raise StorageError(f"cannot presign {uri[:200]}: {exc}") from exc
        return url

    async def close(self) -> None:
        stack, self._stack, self._client = self._stack, None, None
        if stack is not None:
            await stack.aclose()
