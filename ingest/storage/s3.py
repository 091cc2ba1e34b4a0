"""A blob store on S3 or any S3-compatible service (MinIO, Ceph, moto...), with aioboto3.

One client (one connection pool) per store, opened by ``open()`` / ``async with`` and closed
by ``close()``; with ``defer_client=True`` (the application's stores) and the settings
``s3early`` reads without botocore, ``open()`` sets up only the lean path (PUT and HEAD on
the plain-HTTP wire) and the client is built on the first operation that needs it
(``get_client()``: multipart, delete, list, get, presign...), if any. botocore's own retries
are turned off (exactly one HTTP request per call): the pipeline owns the retry policy, so a
frame gets exactly ``upload_retries + 1`` attempts. Every lower-layer error is translated
here, once, by ``translate_error``, which classifies botocore's errors
(``botocore_is_transient``) into the ``transient`` flag of ``StorageError`` that
``errors.is_transient`` (the pipeline's one retry predicate) reads.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import time
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

import botocore.exceptions as bexc

from .base import MiB, StoredObject, read_whole, source_path, storage_error, translate_os_error
from .s3errors import _is_not_found, translate_error
from .s3put import LeanPut

if TYPE_CHECKING:
    from aiobotocore.config import AioConfig

__all__ = ["S3Storage", "StorageNotOpenError", "translate_error"]

log = logging.getLogger(__name__)

MIN_PART_SIZE = 5 * MiB  # S3's minimum for every part but the last
MAX_PARTS = 10_000

# files up to this size are read in the event loop's thread (cheaper than a thread hop)
INLINE_READ_MAX = 256 * 1024


class StorageNotOpenError(RuntimeError):
    """The store was used before ``open()`` or after ``close()`` (a programming error)."""


class S3Storage:
    """Objects are ``s3://bucket/prefix/key``.

    Single-request uploads take the lean PUT path (``s3put.LeanPut``: botocore's SigV4
    signer on the client's own aiohttp session) unless ``lean_put=False``; everything else
    (multipart, head, list, delete, get, presign) goes through aiobotocore.
    """

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        endpoint_url: str | None = None,
        region: str = "us-east-1",
        max_pool_connections: int = 64,
        multipart_threshold: int = 16 * MiB,
        timeout_s: float = 60.0,
        *,
        multipart_chunksize: int = 8 * MiB,
        multipart_concurrency: int = 4,
        list_page_size: int = 1000,
        session: Any = None,
        lean_put: bool = True,
        addressing_style: str | None = None,
        defer_client: bool = False,
    ) -> None:
        """``session``: an aioboto3 session (default: a new one, on the default chain);
        ``defer_client``: build the client on first need when the lean path can start
        without it (``s3early``); ``client`` then raises until ``await get_client()``."""
        if not bucket or "/" in bucket:
            raise ValueError(f"invalid S3 bucket name {bucket!r}")
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.endpoint_url = endpoint_url or None
        self.region = region
        self.max_pool_connections = max_pool_connections
        self.multipart_threshold = multipart_threshold
        self.multipart_chunksize = max(multipart_chunksize, MIN_PART_SIZE)
        self.multipart_concurrency = max(1, multipart_concurrency)
        self.timeout_s = timeout_s
        self.list_page_size = list_page_size
        self.lean_put = lean_put
        # None: path style for custom endpoints (MinIO, moto on 127.0.0.1), botocore's
        # default (virtual-hosted when the bucket name allows it) for AWS
        self.addressing_style = addressing_style or ("path" if self.endpoint_url else None)
        self.url = f"s3://{bucket}/{self.prefix}" if self.prefix else f"s3://{bucket}"
        self._key_base = f"{self.prefix}/" if self.prefix else ""
        self._session = session
        self.defer_client = defer_client
        self._stack: contextlib.AsyncExitStack | None = None
        self._client: Any = None
        self._lean: LeanPut | None = None
        self._early = False  # opened on the early lean path: stat on the wire too
        self._client_lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"S3Storage({self.url!r}, endpoint_url={self.endpoint_url!r})"

    # -- lifecycle -----------------------------------------------------------------------------

    def client_config(self) -> AioConfig:
        from .s3client import client_config

        return client_config(
            self.region, self.max_pool_connections, self.timeout_s, self.addressing_style
        )

    async def open(self) -> S3Storage:
        if self._client is not None or self._early:
            return self
        if self.defer_client and self.lean_put and self._session is None:
            self._lean = LeanPut.early(
                self.endpoint_url,
                self.bucket,
                self.region,
                self.addressing_style,
                limit=self.max_pool_connections,
                timeout_s=self.timeout_s,
                open_http=self._client_http,
            )
            if self._lean is not None:
                self._early = True
                return self
        await self._open_client()
        return self

    async def _open_client(self) -> Any:
        from . import s3client

        stack = contextlib.AsyncExitStack()
        try:
            if self._session is None:
                self._session = s3client.new_session()
            client = await s3client.open_client(
                stack, self._session, self.endpoint_url, self.client_config()
            )
            if self.lean_put and not self._early:  # resolved once: URL, scope, credentials
                self._lean = await LeanPut.resolve(client, self.bucket)
        except BaseException:
            await stack.aclose()
            raise
        self._client, self._stack = client, stack
        return client

    async def get_client(self) -> Any:
        """The aiobotocore client, built now if the store was opened without one."""
        if self._client is not None:
            return self._client
        if not self._early:
            raise StorageNotOpenError(
                f"{self!r} is not open: use `await store.open()` or `async with`"
            )
        async with self._client_lock:
            if self._client is None:
                log.debug("%r: building the S3 client for a non-lean operation", self)
                await self._open_client()
        return self._client

    async def _client_http(self) -> Any:
        """The client's aiohttp session (the lean path's for https and big bodies)."""
        client = await self.get_client()
        return await client._endpoint.http_session._get_session(None)

    async def close(self) -> None:
        stack, self._stack, self._client, lean = self._stack, None, None, self._lean
        self._lean, self._early = None, False
        if lean is not None:
            lean.close()
        if stack is not None:
            await stack.aclose()

    async def __aenter__(self) -> S3Storage:
        return await self.open()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @property
    def client(self) -> Any:
        """The open aiobotocore S3 client (for tests and tools; ``get_client()`` builds a
        deferred one)."""
        if self._client is None:
            how = "`await store.get_client()`" if self._early else "`await store.open()`"
            raise StorageNotOpenError(f"{self!r} has no S3 client: use {how}")
        return self._client

    # -- addressing ----------------------------------------------------------------------------

    def _full_key(self, key: str) -> str:
        if not key or key.startswith("/"):
            raise storage_error(False, f"invalid storage key {key!r} for {self.url}")
        return self._key_base + key

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._full_key(key)}"

    def key_of(self, uri: str) -> str | None:
        base = f"s3://{self.bucket}/{self._key_base}"
        if uri.startswith(base) and len(uri) > len(base):
            return uri[len(base) :]
        return None

    @contextlib.contextmanager
    def _translated(self, op: str, target: str) -> Iterator[None]:
        try:
            yield
        except StorageNotOpenError:
            raise
        except Exception as exc:
            raise translate_error(exc, op, target) from exc

    # -- writes --------------------------------------------------------------------------------

    async def put_bytes(self, key: str, data: bytes, content_type: str | None) -> str:
        full, uri = self._full_key(key), self.uri(key)
        with self._translated("PutObject", uri):
            if (lean := self._lean) is not None:
                try:
                    await lean.put(full, data, content_type)
                    return uri
                except bexc.ClientError as exc:
                    if not lean.wrong_region(exc):
                        raise
                    log.warning("%s: %s; lean PUT path off, botocore redirects", uri, exc)
                    await self.get_client()
                    self._lean, self._early = None, False
                    lean.close()
            extra = {"ContentType": content_type} if content_type else {}
            client = await self.get_client()
            await client.put_object(Bucket=self.bucket, Key=full, Body=data, **extra)
        return uri

    async def put_file(
        self, key: str, source: str | int, size: int, content_type: str | None
    ) -> str:
        if 0 < self.multipart_threshold <= size:
            return await self._put_multipart(key, source_path(source), content_type)
        try:  # one read below the multipart threshold: inline when small (no thread hop)
            if size <= INLINE_READ_MAX:
                data = read_whole(source, size)
            else:  # the thread reads (and closes) its own duplicate of a caller's descriptor
                own = os.dup(source) if isinstance(source, int) else source
                data = await asyncio.to_thread(read_whole, own, size, True)
        except OSError as exc:
            raise translate_os_error(exc, f"read source {source_path(source)}") from exc
        return await self.put_bytes(key, data, content_type)

    def part_size(self, size: int) -> int:
        return max(self.multipart_chunksize, math.ceil(size / MAX_PARTS))

    async def _put_multipart(self, key: str, path: str, content_type: str | None) -> str:
        from .s3multipart import put_multipart

        return await put_multipart(self, key, path, content_type)

    # -- reads ---------------------------------------------------------------------------------

    async def _head(self, key: str) -> dict[str, Any] | None:
        """HeadObject's answer, None when the object does not exist."""
        try:
            if self._early and (lean := self._lean) is not None and lean.wired:
                return await lean.head(self._full_key(key))
            head: dict[str, Any] = await (await self.get_client()).head_object(
                Bucket=self.bucket, Key=self._full_key(key)
            )
        except StorageNotOpenError:
            raise
        except Exception as exc:
            if _is_not_found(exc):
                return None
            raise translate_error(exc, "HeadObject", self.uri(key)) from exc
        return head

    async def stat(self, key: str) -> StoredObject | None:
        head = await self._head(key)
        if head is None:
            return None
        modified = head.get("LastModified")
        return StoredObject(
            key=key,
            size=int(head["ContentLength"]),
            modified=modified.timestamp() if modified is not None else None,
        )

    async def content_type(self, key: str) -> str | None:
        """The stored Content-Type (None when the object does not exist)."""
        head = await self._head(key)
        value = None if head is None else head.get("ContentType")
        return str(value) if value is not None else None

    async def delete(self, key: str) -> None:
        full, uri = self._full_key(key), self.uri(key)
        with self._translated("DeleteObject", uri):
            await (await self.get_client()).delete_object(Bucket=self.bucket, Key=full)

    async def read(self, key: str) -> bytes:
        full, uri = self._full_key(key), self.uri(key)
        with self._translated("GetObject", uri):
            resp = await (await self.get_client()).get_object(Bucket=self.bucket, Key=full)
            async with resp["Body"] as body:
                data: bytes = await body.read()
        return data

    async def list(self, prefix: str = "") -> AsyncIterator[StoredObject]:
        target = f"{self.url}/{prefix}" if prefix else self.url
        strip = len(self._key_base)
        with self._translated("ListObjectsV2", target):
            client = await self.get_client()
        pages = client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket,
            Prefix=self._key_base + prefix,
            PaginationConfig={"PageSize": self.list_page_size},
        )
        it = pages.__aiter__()
        while True:
            with self._translated("ListObjectsV2", target):
                try:
                    page = await it.__anext__()
                except StopAsyncIteration:
                    return
            for item in page.get("Contents", ()):
                modified = item.get("LastModified")
                yield StoredObject(
                    key=item["Key"][strip:],
                    size=int(item["Size"]),
                    modified=modified.timestamp() if modified is not None else None,
                )

    # -- housekeeping --------------------------------------------------------------------------

    async def remove_stale_partials(self, older_than_s: float = 24 * 3600.0) -> int:
        """Abort multipart uploads under the prefix started more than ``older_than_s`` ago
        (left by killed workers; their parts are billed until aborted)."""
        cutoff = time.time() - older_than_s
        stale: list[tuple[str, str]] = []
        with self._translated("ListMultipartUploads", self.url):
            pages = (
                (await self.get_client())
                .get_paginator("list_multipart_uploads")
                .paginate(Bucket=self.bucket, Prefix=self._key_base)
            )
            async for page in pages:
                for up in page.get("Uploads", ()):
                    if up["Initiated"].timestamp() < cutoff:
                        stale.append((up["Key"], up["UploadId"]))
        for full, upload_id in stale:
            with self._translated("AbortMultipartUpload", f"s3://{self.bucket}/{full}"):
                await (await self.get_client()).abort_multipart_upload(
                    Bucket=self.bucket, Key=full, UploadId=upload_id
                )
        return len(stale)
