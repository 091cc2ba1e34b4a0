"""A blob store on Azure Blob Storage (``az://container/prefix``), with azure-storage-blob's
asyncio client.

Credentials: ``AZURE_STORAGE_CONNECTION_STRING`` (an account key or a SAS; Azurite's documented
development string works), else the setting ``azure_account_url`` with azure-identity's
``DefaultAzureCredential`` (environment, workload or managed identity, Azure CLI...).

One attempt is one request: azure-core's retry policy is off (``retry_total=0``) and the
aiohttp session never re-sends on its own (``session.single_attempt_session``), so a frame gets
exactly ``upload_retries + 1`` attempts. Below ``multipart_threshold`` one Put Blob, above it
Put Block per block and one Put Block List; every request body carries a Content-MD5 that the
service checks (``validate_content``), and a block blob is visible only once its list is
committed (whole objects only). Every error is translated once, by ``translate_error``.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.core.pipeline.transport import AioHttpTransport
from azure.storage.blob import BlobSasPermissions, ContentSettings, generate_blob_sas
from azure.storage.blob.aio import ContainerClient

from ..errors import ConfigError
from .base import MiB, StoredObject, read_whole, source_path, translate_http_error
from .bucketed import BucketKeys
from .session import single_attempt_session

__all__ = ["AzureStorage", "translate_error"]

CONNECTION_STRING_ENV = "AZURE_STORAGE_CONNECTION_STRING"
BLOCK_SIZE = 8 * MiB
_NETWORK_ERRORS = (
    ServiceRequestError,
    ServiceResponseError,
    aiohttp.ClientError,
    TimeoutError,
    ConnectionError,
)


def translate_error(exc: BaseException, op: str, target: str) -> Exception:
    """An error of an Azure request -> StorageError (status and x-ms-error-code kept)."""
    if isinstance(exc, HttpResponseError) and exc.status_code is not None:
        code = _error_code(exc)
        # the service's own message (e.g. "Provided contentMD5 doesn't match."), else the reason
        detail = (str(exc.message or "").strip().splitlines() or [str(exc.reason or "")])[0]
        return translate_http_error(
            "Azure", op, target, exc, exc.status_code, network=True, code=code, detail=detail
        )
    if isinstance(exc, ClientAuthenticationError):  # no answer: the credential failed
        return translate_http_error("Azure", op, target, exc, None, network=False)
    network = isinstance(exc, _NETWORK_ERRORS)
    return translate_http_error("Azure", op, target, exc, None, network=network)


class AzureStorage(BucketKeys):
    """Objects are ``az://container/prefix/key`` (``bucket`` is the container)."""

    scheme = "az"
    translate = staticmethod(translate_error)

    def __init__(
        self,
        container: str,
        prefix: str = "",
        *,
        account_url: str = "",
        connection_string: str | None = None,
        max_pool_connections: int = 64,
        multipart_threshold: int = 16 * MiB,
        timeout_s: float = 60.0,
        block_concurrency: int = 1,
    ) -> None:
        super().__init__(container, prefix, "Azure container")
        self.container = container
        self.account_url = account_url
        if connection_string is None:
            connection_string = os.environ.get(CONNECTION_STRING_ENV, "")
        self.connection_string = connection_string
        if not connection_string and not account_url:
            raise ConfigError(
                f"storage URL {self.url!r}: set {CONNECTION_STRING_ENV} or the setting "
                "azure_account_url (INGEST_AZURE_ACCOUNT_URL, with DefaultAzureCredential)"
            )
        self.max_pool_connections = max_pool_connections
        self.multipart_threshold = multipart_threshold
        self.timeout_s = timeout_s
        # 1: the SDK stages blocks one after the other. With more, its parallel uploader leaves
        # the other blocks' tasks running (never awaited) after one fails, so a failed attempt
        # would go on sending while the next one starts; files are uploaded in parallel anyway.
        self.block_concurrency = max(1, block_concurrency)
        self._session: aiohttp.ClientSession | None = None
        self._credential: Any = None
        self._client: ContainerClient | None = None

    def __repr__(self) -> str:
        return f"AzureStorage({self.url!r})"

    async def open(self) -> AzureStorage:
        if self._client is not None:
            return self
        self._session = single_attempt_session(self.max_pool_connections, self.timeout_s)
        threshold = self.multipart_threshold if self.multipart_threshold > 0 else 1 << 62
        options: dict[str, Any] = {
            "transport": AioHttpTransport(session=self._session, session_owner=False),
            "retry_total": 0,  # the pipeline owns retries
            "connection_timeout": self.timeout_s,
            "read_timeout": self.timeout_s,
            "max_single_put_size": max(1, threshold - 1),  # below the threshold: one Put Blob
            "max_block_size": BLOCK_SIZE,
            "min_large_block_upload_threshold": 1,
        }
        try:
            if self.connection_string:
                self._client = ContainerClient.from_connection_string(
                    self.connection_string, self.container, **options
                )
            else:
                from azure.identity.aio import DefaultAzureCredential  # optional dependency

                self._credential = DefaultAzureCredential()
                self._client = ContainerClient(
                    self.account_url, self.container, credential=self._credential, **options
                )
        except ValueError as exc:  # a malformed connection string or URL
            await self.close()
            raise ConfigError(f"storage URL {self.url!r}: {exc}") from exc
        return self

    async def close(self) -> None:
        client, self._client = self._client, None
        session, self._session = self._session, None
        credential, self._credential = self._credential, None
        if client is not None:
            await client.close()
        if credential is not None:
            await credential.close()
        if session is not None:
            await session.close()

    @property
    def client(self) -> ContainerClient:
        if self._client is None:
            raise RuntimeError(f"{self!r} is not open: use `await store.open()`")
        return self._client

    # -- writes --------------------------------------------------------------------------------

    async def put_bytes(self, key: str, data: bytes, content_type: str | None) -> str:
        uri = self.uri(key)
        with self._translated("Put Blob", uri):
            await self._upload(key, data, len(data), content_type)
        return uri

    async def put_file(
        self, key: str, source: str | int, size: int, content_type: str | None
    ) -> str:
        if size < self.multipart_threshold or self.multipart_threshold <= 0:
            try:
                data = await asyncio.to_thread(read_whole, source, size)
            except OSError as exc:
                raise translate_error(exc, "read source", source_path(source)) from exc
            return await self.put_bytes(key, data, content_type)
        uri = self.uri(key)
        with self._translated("Put Block List", uri):
            # the SDK reads the blocks from the file; each Put Block carries its Content-MD5
            with open(source_path(source), "rb") as fh:  # noqa: ASYNC230 - read per block
                await self._upload(key, fh, size, content_type)
        return uri

    async def _upload(self, key: str, data: Any, size: int, content_type: str | None) -> None:
        await self.client.upload_blob(
            self.full_key(key),
            data,
            length=size,
            overwrite=True,  # a re-run after a lost answer writes the same bytes again
            validate_content=True,  # Content-MD5 on every request body, checked by the service
            content_settings=ContentSettings(content_type=content_type or None),
            max_concurrency=self.block_concurrency,
            timeout=int(self.timeout_s),
        )

    # -- reads ---------------------------------------------------------------------------------

    async def stat(self, key: str) -> StoredObject | None:
        props = await self._properties(key)
        if props is None:
            return None
        return StoredObject(key=key, size=int(props.size), modified=_ts(props.last_modified))

    async def content_type(self, key: str) -> str | None:
        props = await self._properties(key)
        return None if props is None else props.content_settings.content_type

    async def _properties(self, key: str) -> Any:
        try:
            return await self.client.get_blob_client(self.full_key(key)).get_blob_properties()
        except ResourceNotFoundError as exc:
            if _error_code(exc) == "ContainerNotFound":
                raise translate_error(exc, "Get Blob Properties", self.uri(key)) from exc
            return None
        except Exception as exc:
            raise translate_error(exc, "Get Blob Properties", self.uri(key)) from exc

    async def delete(self, key: str) -> None:
        try:
            await self.client.delete_blob(self.full_key(key))
        except ResourceNotFoundError as exc:
            if _error_code(exc) == "ContainerNotFound":
                raise translate_error(exc, "Delete Blob", self.uri(key)) from exc
        except Exception as exc:
            raise translate_error(exc, "Delete Blob", self.uri(key)) from exc

    async def read(self, key: str) -> bytes:
        with self._translated("Get Blob", self.uri(key)):
            downloader = await self.client.download_blob(self.full_key(key))
            data: bytes = await downloader.readall()
        return data

    async def open_read(self, key: str) -> tuple[int | None, AsyncIterator[bytes]]:
        """(size, chunks) of the object, streamed: for downloads and the web app."""
        uri = self.uri(key)
        with self._translated("Get Blob", uri):
            downloader = await self.client.download_blob(self.full_key(key))

        async def chunks() -> AsyncIterator[bytes]:
            it = downloader.chunks().__aiter__()
            while True:
                with self._translated("Get Blob", uri):
                    try:
                        chunk: bytes = await it.__anext__()
                    except StopAsyncIteration:
                        return
                yield chunk

        return int(downloader.size), chunks()

    async def list(self, prefix: str = "") -> AsyncIterator[StoredObject]:
        strip = len(self._key_base)
        pages = self.client.list_blobs(name_starts_with=self._key_base + prefix).by_page()
        while True:
            with self._translated("List Blobs", f"{self.url}/{prefix}"):
                try:
                    page = await pages.__anext__()
                    items = [item async for item in page]
                except StopAsyncIteration:
                    return
            for item in items:
                yield StoredObject(
                    key=item.name[strip:], size=int(item.size), modified=_ts(item.last_modified)
                )

    async def signed_url(self, key: str, expires_s: int) -> str | None:
        """A read-only SAS URL when the credential is an account key, else None."""
        account_key = getattr(self.client.credential, "account_key", None)
        if not account_key:
            return None
        blob = self.client.get_blob_client(self.full_key(key))
        sas = generate_blob_sas(
            self.client.account_name or "",
            self.container,
            blob.blob_name,
            account_key=account_key,
            permission=BlobSasPermissions(read=True),
            expiry=datetime.now(UTC) + timedelta(seconds=expires_s),
        )
        return f"{blob.url}?{sas}"

    async def remove_stale_partials(self, older_than_s: float = 24 * 3600.0) -> int:
        """Nothing to do: Azure discards uncommitted blocks itself (after a week)."""
        return 0


def _ts(when: datetime | None) -> float | None:
    return when.timestamp() if when is not None else None


def _error_code(exc: BaseException) -> str | None:
    """The x-ms-error-code of an answer (the SDK gives a str or a StorageErrorCode enum)."""
    code = getattr(exc, "error_code", None)
    return None if code is None else str(getattr(code, "value", code))
