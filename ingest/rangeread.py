"""One chunk of a manifest that lives in S3 (an S3 inbox), read with a ranged GET.

A chunk's span is a byte range cut at line boundaries by its manifest job (``chunking.py``,
which reads the file once: the line numbers that name rejections need it), so the range
``[start, end)`` holds whole lines and ends at a newline: nothing past it is needed. The bytes
land at their own offsets in a sparse temp file, so the chunk is read by the same ``Manifest``
code as a local file's chunk (same span, same ``file:line``). The GET is conditional on the
ETag the manifest had when its job cut it (``If-Match``): a manifest replaced since fails the
chunk instead of mixing two contents: a ``ManifestError`` naming the manifest, which fails
the chunk at once (no retry can read a content that is gone).
"""

from __future__ import annotations

import asyncio
import os
from typing import IO

from .config import Settings
from .manifest import ManifestError, Span
from .storage.base import ObjectNotFoundError
from .storage.factory import parse_storage_url
from .storage.s3 import S3Storage
from .storage.s3errors import translate_error

_BLOCK = 1 << 20


async def fetch_range(
    settings: Settings, url: str, span: Span, etag: str | None, path: str
) -> None:
    """Write bytes ``span.start`` to ``span.end`` of the S3 object ``url`` into ``path`` at the
    same offsets (the file is sparse before them)."""
    _, bucket, key = parse_storage_url(url)
    store = S3Storage(bucket, "", endpoint_url=settings.s3_endpoint_url or None,
                      region=settings.s3_region, max_pool_connections=1)  # fmt: skip
    await store.open()
    try:
        condition = {"IfMatch": f'"{etag}"'} if etag else {}
        wanted = f"bytes={span.start}-{span.end - 1}"
        try:
            resp = await (await store.get_client()).get_object(
                Bucket=bucket, Key=key, Range=wanted, **condition
            )
            fh: IO[bytes] = await asyncio.to_thread(open, path, "wb")
            try:
                await asyncio.to_thread(fh.seek, span.start)
                async for block in resp["Body"].iter_chunks(_BLOCK):
                    await asyncio.to_thread(fh.write, block)
                size = await asyncio.to_thread(fh.tell)
            finally:
                fh.close()
                resp["Body"].close()
        except Exception as exc:
            error = translate_error(exc, "GetObject", f"{url} ({wanted})")
            if etag and (
                error.code == "PreconditionFailed" or isinstance(error, ObjectNotFoundError)
            ):
                raise ManifestError(
                    f"manifest {url} was replaced or removed after its import was cut into chunks "
                    f"(its ETag is no longer {etag}): this import of its earlier content "
                    "stops (groups of chunks read before stay registered); a new content "
                    "under that name is an import of its own"
                ) from exc
            raise error from exc
    finally:
        await store.close()
    if size != span.end:  # a range the object does not have (shorter than when it was cut)
        os.unlink(path)
        raise OSError(f"{url}: bytes {span.start}-{span.end - 1} came back short ({size})")
