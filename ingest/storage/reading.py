"""Reading an object of any store as a stream, and downloading it into a local file.

``open_read(store, key)`` gives ``(size, chunks)``: the size when the store says it up front,
and an async iterator of byte chunks, errors translated by the store's own seam. It serves
``--copy-remote`` of ``s3://``, ``gs://`` and ``az://`` sources (``remote.py``), the web app's
streamed media, and ``download(store, key, path)``, which a local cache of remote sources can
call (the file appears whole, by rename, or not at all).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
from collections.abc import AsyncIterator
from typing import Any

from .base import MiB, ObjectNotFoundError, Storage, storage_error, translate_os_error

CHUNK = 1 * MiB

Chunks = AsyncIterator[bytes]


async def open_read(store: Storage, key: str) -> tuple[int | None, Chunks]:
    """``(size, chunks)`` of the object ``key`` of ``store`` (``ObjectNotFoundError``, a
    ``PermanentStorageError``, when it does not exist)."""
    own = getattr(store, "open_read", None)
    if own is not None:  # GCS, Azure
        result: tuple[int | None, Chunks] = await own(key)
        return result
    from .local import LocalStorage

    if isinstance(store, LocalStorage):
        return await _open_local(store, key)
    return await _open_s3(store, key)


async def _open_local(store: Any, key: str) -> tuple[int | None, Chunks]:
    path = str(store._path(key))
    try:
        fh = await asyncio.to_thread(open, path, "rb")
    except OSError as exc:
        if isinstance(exc, FileNotFoundError):
            raise storage_error(
                False, f"read {store.uri(key)}: no such object", cause=exc, cls=ObjectNotFoundError
            ) from exc
        raise translate_os_error(exc, f"read {store.uri(key)}") from exc
    size = os.fstat(fh.fileno()).st_size

    async def chunks() -> Chunks:
        try:
            while chunk := await asyncio.to_thread(fh.read, CHUNK):
                yield chunk
        except OSError as exc:
            raise translate_os_error(exc, f"read {store.uri(key)}") from exc
        finally:
            fh.close()

    return size, chunks()


async def _open_s3(store: Any, key: str) -> tuple[int | None, Chunks]:
    from .s3errors import translate_error

    uri = store.uri(key)
    full_key = uri[len(f"s3://{store.bucket}/") :]
    try:
        response = await (await store.get_client()).get_object(Bucket=store.bucket, Key=full_key)
    except Exception as exc:
        raise translate_error(exc, "GetObject", uri) from exc
    stream = response["Body"]

    async def chunks() -> Chunks:
        try:
            while True:
                try:
                    chunk: bytes = await stream.read(CHUNK)
                except Exception as exc:
                    raise translate_error(exc, "GetObject", uri) from exc
                if not chunk:
                    return
                yield chunk
        finally:
            stream.close()

    return response.get("ContentLength"), chunks()


async def download(store: Storage, key: str, path: str) -> int:
    """Write the object ``key`` into the local file ``path`` (through a temp file in the same
    folder, renamed when complete); return its size. A short body is a transient error."""
    size, chunks = await open_read(store, key)
    folder = os.path.dirname(path) or "."
    fd, tmp = await asyncio.to_thread(tempfile.mkstemp, prefix=".download-", dir=folder)
    written = 0
    try:
        with os.fdopen(fd, "wb") as out:
            async for chunk in chunks:
                await asyncio.to_thread(out.write, chunk)
                written += len(chunk)
        if size is not None and written != size:
            raise storage_error(
                True, f"download {store.uri(key)}: got {written} bytes, {size} announced"
            )
        await asyncio.to_thread(os.replace, tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return written
