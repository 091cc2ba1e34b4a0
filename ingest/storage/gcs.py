"""A blob store on Google Cloud Storage (``gs://bucket/prefix``), with gcloud-aio-storage.

Credentials: Application Default Credentials as gcloud-aio-auth finds them
(``GOOGLE_APPLICATION_CREDENTIALS``, the metadata server); ``STORAGE_EMULATOR_HOST``
(``http://host:port``) points every request at an emulator, without credentials, as Google's
own clients do.

Uploads are written here, on the library's token and our own aiohttp session, because the
library's would break two guarantees: its resumable upload re-sends up to five times on its own
(so a frame would get more than ``upload_retries + 1`` attempts), and its metadata formatting
lower-cases ``md5Hash``, so the service would not verify the bytes. Below
``multipart_threshold`` one multipart request (JSON metadata + bytes), above it a resumable
session and ONE PUT of the whole file; both carry ``md5Hash`` and ``crc32c`` in the metadata,
which GCS checks against what it received (a mismatch is a 400, the object is not written). Every
error is translated once, by ``translate_error``, into the transient flag that
``errors.is_transient`` reads. Downloads, stat, list, delete and signing use the library.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any
from urllib.parse import quote

import aiohttp
import google_crc32c
from gcloud.aio.storage import Storage as GcsClient
from gcloud.aio.storage.storage import encode_multipart_formdata

from .base import MiB, StoredObject, read_whole, source_path, translate_http_error
from .bucketed import BucketKeys
from .session import single_attempt_session

__all__ = ["GCSStorage", "translate_error"]

_CHUNK = 1 * MiB


def translate_error(exc: BaseException, op: str, target: str) -> Exception:
    """An error of a GCS request -> StorageError (status from aiohttp's ClientResponseError)."""
    if isinstance(exc, aiohttp.ClientResponseError):
        return translate_http_error(
            "GCS", op, target, exc, exc.status, network=True, detail=exc.message
        )
    network = isinstance(exc, (aiohttp.ClientError, TimeoutError, ConnectionError))
    return translate_http_error("GCS", op, target, exc, None, network=network)


def checksums(source: str | int, size: int) -> tuple[str, str]:
    """(md5Hash, crc32c) of a file, base64 as GCS writes them; one pass, bounded memory."""
    md5, crc = hashlib.md5(usedforsecurity=False), google_crc32c.Checksum()
    fd = os.open(source, os.O_RDONLY) if isinstance(source, str) else source
    try:
        offset = 0
        while offset < size:
            chunk = os.pread(fd, min(_CHUNK, size - offset), offset)
            if not chunk:
                raise OSError(f"the file shrank while being read ({offset} of {size} bytes)")
            md5.update(chunk)
            crc.update(chunk)
            offset += len(chunk)
    finally:
        if isinstance(source, str):
            os.close(fd)
    return _b64(md5.digest()), _b64(crc.digest())


def _b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode("ascii")


class GCSStorage(BucketKeys):
    """Objects are ``gs://bucket/prefix/key``."""

    scheme = "gs"
    translate = staticmethod(translate_error)

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        max_pool_connections: int = 64,
        multipart_threshold: int = 16 * MiB,
        timeout_s: float = 60.0,
        list_page_size: int = 1000,
    ) -> None:
        super().__init__(bucket, prefix)
        self.max_pool_connections = max_pool_connections
        self.multipart_threshold = multipart_threshold
        self.timeout_s = timeout_s
        self.list_page_size = list_page_size
        self.emulator = os.environ.get("STORAGE_EMULATOR_HOST", "")
        if self.emulator and not self.emulator.startswith("http"):
            self.emulator = f"http://{self.emulator}"
        root = self.emulator.rstrip("/") or "https://storage.googleapis.com"
        self._upload_url = f"{root}/upload/storage/v1/b/{quote(bucket, safe='')}/o"
        self._session: aiohttp.ClientSession | None = None
        self._client: Any = None

    def __repr__(self) -> str:
        return f"GCSStorage({self.url!r}, emulator={self.emulator or None!r})"

    async def open(self) -> GCSStorage:
        if self._client is None:
            self._session = single_attempt_session(self.max_pool_connections, self.timeout_s)
            session: Any = self._session  # the library types it as its own Session alias
            self._client = GcsClient(session=session, api_root=self.emulator or None)
        return self

    async def close(self) -> None:
        session, self._session, self._client = self._session, None, None
        if session is not None:
            await session.close()

    @property
    def client(self) -> Any:
        if self._client is None:
            raise RuntimeError(f"{self!r} is not open: use `await store.open()`")
        return self._client

    async def _auth(self) -> dict[str, str]:
        if self.emulator:
            return {}
        return {"Authorization": f"Bearer {await self.client.token.get()}"}

    # -- writes --------------------------------------------------------------------------------

    async def put_bytes(self, key: str, data: bytes, content_type: str | None) -> str:
        md5 = _b64(hashlib.md5(data, usedforsecurity=False).digest())
        crc = _b64(google_crc32c.Checksum(data).digest())
        full, uri = self.full_key(key), self.uri(key)
        meta = _metadata(full, content_type, md5, crc)
        body, multipart_type = encode_multipart_formdata(
            [
                ({"Content-Type": "application/json; charset=UTF-8"}, json.dumps(meta).encode()),
                ({"Content-Type": content_type or "application/octet-stream"}, data),
            ],
            os.urandom(16).hex(),
        )
        headers = {**await self._auth(), "Content-Type": multipart_type}
        with self._translated("upload", uri):
            async with self._post(self._upload_url + "?uploadType=multipart", body, headers):
                pass
        return uri

    async def put_file(
        self, key: str, source: str | int, size: int, content_type: str | None
    ) -> str:
        uri = self.uri(key)
        try:
            if size < self.multipart_threshold or self.multipart_threshold <= 0:
                data = await asyncio.to_thread(read_whole, source, size)
                return await self.put_bytes(key, data, content_type)
            md5, crc = await asyncio.to_thread(checksums, source, size)
        except OSError as exc:
            raise translate_error(exc, "read source", source_path(source)) from exc
        return await self._put_resumable(key, uri, source, size, content_type, md5, crc)

    async def _put_resumable(
        self,
        key: str,
        uri: str,
        source: str | int,
        size: int,
        content_type: str | None,
        md5: str,
        crc: str,
    ) -> str:
        """A resumable session, then ONE PUT of the whole file (no resend of our own)."""
        meta = json.dumps(_metadata(self.full_key(key), content_type, md5, crc)).encode()
        auth = await self._auth()
        headers = {
            **auth,
            "Content-Type": "application/json; charset=UTF-8",
            "X-Upload-Content-Type": content_type or "application/octet-stream",
            "X-Upload-Content-Length": str(size),
        }
        with self._translated("upload (start resumable)", uri):
            async with self._post(self._upload_url + "?uploadType=resumable", meta, headers) as r:
                session_uri = r.headers["Location"]
        path = source_path(source)
        with self._translated("upload (resumable PUT)", uri):
            with open(path, "rb") as fh:  # noqa: ASYNC230 - aiohttp reads it in a thread
                async with self._session_or_fail().put(
                    session_uri,
                    data=fh,
                    headers={**auth, "Content-Length": str(size)},
                ) as r:
                    await _raise_for_status(r)
        return uri

    def _post(self, url: str, body: bytes, headers: dict[str, str]) -> Any:
        return _Checked(self._session_or_fail().post(url, data=body, headers=headers))

    def _session_or_fail(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError(f"{self!r} is not open: use `await store.open()`")
        return self._session

    # -- reads ---------------------------------------------------------------------------------

    async def _metadata(self, key: str) -> dict[str, Any] | None:
        try:
            meta: dict[str, Any] = await self.client.download_metadata(
                self.bucket, self.full_key(key), timeout=self.timeout_s
            )
        except aiohttp.ClientResponseError as exc:
            if exc.status == 404:
                return None
            raise translate_error(exc, "stat", self.uri(key)) from exc
        except Exception as exc:
            raise translate_error(exc, "stat", self.uri(key)) from exc
        return meta

    async def stat(self, key: str) -> StoredObject | None:
        meta = await self._metadata(key)
        return None if meta is None else _stored(key, meta)

    async def content_type(self, key: str) -> str | None:
        meta = await self._metadata(key)
        return None if meta is None else meta.get("contentType")

    async def delete(self, key: str) -> None:
        try:
            await self.client.delete(self.bucket, self.full_key(key), timeout=self.timeout_s)
        except aiohttp.ClientResponseError as exc:
            if exc.status != 404:  # already gone is fine
                raise translate_error(exc, "delete", self.uri(key)) from exc
        except Exception as exc:
            raise translate_error(exc, "delete", self.uri(key)) from exc

    async def read(self, key: str) -> bytes:
        with self._translated("download", self.uri(key)):
            data: bytes = await self.client.download(
                self.bucket, self.full_key(key), timeout=self.timeout_s
            )
        return data

    async def open_read(self, key: str) -> tuple[int | None, AsyncIterator[bytes]]:
        """(size, chunks) of the object, streamed: for downloads and the web app."""
        uri = self.uri(key)
        with self._translated("download", uri):
            stream = await self.client.download_stream(
                self.bucket, self.full_key(key), timeout=self.timeout_s
            )

        async def chunks() -> AsyncIterator[bytes]:
            try:
                while True:
                    with self._translated("download", uri):
                        chunk: bytes = await stream.read(_CHUNK)
                    if not chunk:
                        return
                    yield chunk
            finally:
                stream._response.release()

        return stream.content_length, chunks()

    async def list(self, prefix: str = "") -> AsyncIterator[StoredObject]:
        strip = len(self._key_base)
        params = {"prefix": self._key_base + prefix, "maxResults": str(self.list_page_size)}
        while True:
            with self._translated("list", f"{self.url}/{prefix}"):
                page = await self.client.list_objects(
                    self.bucket, params=dict(params), timeout=self.timeout_s
                )
            for item in page.get("items", ()):
                yield _stored(item["name"][strip:], item)
            if not page.get("nextPageToken"):
                return
            params["pageToken"] = page["nextPageToken"]

    async def signed_url(self, key: str, expires_s: int) -> str | None:
        """A V4 signed GET URL when the credentials hold a private key, else None."""
        token = self.client.token
        if self.emulator or not (token.service_data or {}).get("private_key"):
            return None
        blob = self.client.get_bucket(self.bucket).new_blob(self.full_key(key))
        with self._translated("sign", self.uri(key)):
            url: str = await blob.get_signed_url(expires_s, token=token)
        return url

    async def remove_stale_partials(self, older_than_s: float = 24 * 3600.0) -> int:
        """Nothing to do: GCS drops unfinished resumable sessions itself (after a week)."""
        return 0


def _metadata(name: str, content_type: str | None, md5: str, crc: str) -> dict[str, str]:
    meta = {"name": name, "md5Hash": md5, "crc32c": crc}
    if content_type:
        meta["contentType"] = content_type
    return meta


def _stored(key: str, meta: dict[str, Any]) -> StoredObject:
    updated = meta.get("updated") or meta.get("timeCreated")
    modified = datetime.fromisoformat(updated.replace("Z", "+00:00")) if updated else None
    return StoredObject(
        key=key,
        size=int(meta.get("size", 0)),
        modified=modified.timestamp() if modified is not None else None,
    )


async def _raise_for_status(response: aiohttp.ClientResponse) -> None:
    if response.status >= 400:
        body = await response.text(errors="replace")
        raise aiohttp.ClientResponseError(
            response.request_info,
            response.history,
            status=response.status,
            message=f"{response.reason}: {body[:500]}",
        )
    await response.read()


class _Checked:
    """``async with`` a request: the response, raised as ClientResponseError on >= 400."""

    def __init__(self, request: Any) -> None:
        self._request = request
        self._response: aiohttp.ClientResponse | None = None

    async def __aenter__(self) -> aiohttp.ClientResponse:
        self._response = await self._request.__aenter__()
        await _raise_for_status(self._response)
        return self._response

    async def __aexit__(self, *exc_info: Any) -> None:
        await self._request.__aexit__(*exc_info)
