"""Multipart uploads of an ``S3Storage`` (files at or over its multipart threshold), through
its aiobotocore client: parts uploaded ``multipart_concurrency`` at a time, the first error
wins, the upload aborted on failure (shielded from cancellation)."""

from __future__ import annotations

import asyncio
import logging
import math
from typing import TYPE_CHECKING

import aiofiles
import aiofiles.os

from .base import storage_error, translate_os_error

if TYPE_CHECKING:
    from .s3 import S3Storage

log = logging.getLogger("ingest.storage.s3")


async def put_multipart(store: S3Storage, key: str, path: str, content_type: str | None) -> str:
    """Upload the file at ``path`` under ``key`` in parts (CreateMultipartUpload, UploadPart
    x N, CompleteMultipartUpload); aborted on any failure or cancellation."""
    full, uri = store._full_key(key), store.uri(key)
    try:
        size = (await aiofiles.os.stat(path)).st_size
    except OSError as exc:
        raise translate_os_error(exc, f"stat source {path}") from exc
    part_size = store.part_size(size)
    count = max(1, math.ceil(size / part_size))
    extra = {"ContentType": content_type} if content_type else {}
    with store._translated("CreateMultipartUpload", uri):
        created = await (await store.get_client()).create_multipart_upload(
            Bucket=store.bucket, Key=full, **extra
        )
    upload_id: str = created["UploadId"]
    try:
        etags = await _upload_parts(store, full, uri, upload_id, path, size, part_size, count)
        parts = [{"ETag": etags[n], "PartNumber": n} for n in range(1, count + 1)]
        with store._translated("CompleteMultipartUpload", uri):
            await (await store.get_client()).complete_multipart_upload(
                Bucket=store.bucket,
                Key=full,
                UploadId=upload_id,
                MultipartUpload={"Parts": parts},
            )
    except BaseException:
        # registered as soon as there is something to clean; survives cancellation
        await _abort_quietly(store, full, uri, upload_id)
        raise
    return uri


async def _upload_parts(
    store: S3Storage,
    full: str,
    uri: str,
    upload_id: str,
    path: str,
    size: int,
    part_size: int,
    count: int,
) -> dict[int, str]:
    etags: dict[int, str] = {}
    numbers = iter(range(1, count + 1))

    async def worker() -> None:
        async with aiofiles.open(path, "rb") as f:
            for number in numbers:  # shared iterator: each part is taken once
                offset = (number - 1) * part_size
                await f.seek(offset)
                data = await f.read(min(part_size, size - offset))
                with store._translated(f"UploadPart {number}/{count}", uri):
                    resp = await (await store.get_client()).upload_part(
                        Bucket=store.bucket,
                        Key=full,
                        UploadId=upload_id,
                        PartNumber=number,
                        Body=data,
                    )
                etags[number] = resp["ETag"]

    async def guarded() -> None:
        try:
            await worker()
        except OSError as exc:
            raise translate_os_error(exc, f"read source {path}") from exc

    workers = min(store.multipart_concurrency, count)
    tasks = [asyncio.create_task(guarded()) for _ in range(workers)]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    for t in tasks:  # the first error wins
        error = t.exception() if t in done and not t.cancelled() else None
        if error is not None:
            raise error
    if len(etags) != count:
        raise storage_error(True, f"S3 multipart upload of {uri} lost parts")
    return etags


async def _abort_quietly(store: S3Storage, full: str, uri: str, upload_id: str) -> None:
    async def abort() -> None:
        try:
            await (await store.get_client()).abort_multipart_upload(
                Bucket=store.bucket, Key=full, UploadId=upload_id
            )
        except Exception as exc:
            log.warning("could not abort multipart upload %s of %s: %r", upload_id, uri, exc)

    # shielded: a cancellation of the upload does not cancel its cleanup
    await asyncio.shield(abort())
