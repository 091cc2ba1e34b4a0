"""An ``s3://bucket/prefix/`` inbox, polled with ListObjectsV2 (the protocol: ``inbox.py``).

A manifest has settled when two listings at least ``inbox_settle_s`` apart show it with the
same size and ETag; its content id is its ETag. Reads, copies and submits are conditional on
the ETag (``If-Match`` / ``If-None-Match``) where S3 allows it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from ..storage.base import ObjectNotFoundError
from ..storage.factory import parse_storage_url
from ..storage.s3 import S3Storage
from ..storage.s3errors import translate_error
from .inbox import (
    OUTCOMES,
    Arrival,
    NameTaken,
    Settling,
    finished_name,
    is_manifest_name,
    read_sidecar,
    report_name,
    spool,
)

#: S3 codes of a conditional request (If-Match / If-None-Match) that did not hold
_PRECONDITION_FAILED = frozenset({"412", "PreconditionFailed"})
_NAME_TAKEN = _PRECONDITION_FAILED | {"ConditionalRequestConflict"}


def _etag(value: str) -> str:
    return value.strip('"')


class S3Inbox:
    def __init__(self, url: str, store: S3Storage, settle_s: float = 2.0) -> None:
        self.url = url
        self.store = store
        self.settling = Settling(settle_s)
        self._base = f"{store.prefix}/" if store.prefix else ""
        self._tmp = tempfile.TemporaryDirectory(prefix="ingest-inbox-")
        self._verified: dict[str, str] = {}  # name -> the ETag content() last returned

    @classmethod
    async def open(
        cls, url: str, *, settle_s: float, endpoint_url: str | None, region: str
    ) -> S3Inbox:
        _, bucket, prefix = parse_storage_url(url)
        store = S3Storage(
            bucket, prefix, endpoint_url=endpoint_url, region=region, max_pool_connections=8
        )
        await store.open()
        return cls(url.rstrip("/"), store, settle_s)

    def _call(self, op: str, name: str, **kwargs: Any) -> Any:
        method = getattr(self.store.client, op)
        return method(Bucket=self.store.bucket, Key=self._base + name, **kwargs)

    async def _head(self, name: str) -> str | None:
        try:
            head = await self._call("head_object", name)
        except Exception as exc:
            error = translate_error(exc, "HeadObject", f"{self.url}/{name}")
            if isinstance(error, ObjectNotFoundError):
                return None
            raise error from exc
        return _etag(head["ETag"])

    async def scan(self) -> list[Arrival]:
        listed: dict[str, tuple[int, str]] = {}
        pages = self.store.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.store.bucket, Prefix=self._base, Delimiter="/"
        )
        try:
            async for page in pages:
                for item in page.get("Contents", ()):
                    name = item["Key"][len(self._base) :]
                    if is_manifest_name(name):
                        listed[name] = (int(item["Size"]), _etag(item["ETag"]))
        except Exception as exc:
            raise translate_error(exc, "ListObjectsV2", self.url) from exc
        now = time.monotonic()
        self.settling.begin()
        out = [
            Arrival(name, etag)
            for name, (size, etag) in sorted(listed.items())
            if self.settling.settled(name, (size, etag), now)
        ]
        self.settling.end(set(listed))
        return out

    def settle_due(self) -> float | None:
        return self.settling.due

    async def changes(self, interval_s: float) -> AsyncIterator[None]:
        while True:
            await asyncio.sleep(interval_s)
            yield None

    async def content(self, name: str) -> str | None:
        etag = await self._head(name)
        if etag is not None:
            self._verified[name] = etag
        return etag

    async def fetch(self, name: str) -> str:
        """Download to a private temp folder; the read is conditional on the ETag that
        ``content()`` verified, so a replaced manifest fails instead of being read."""
        folder = Path(self._tmp.name) / uuid.uuid4().hex
        await asyncio.to_thread(folder.mkdir)
        path = folder / name
        condition = {"IfMatch": f'"{self._verified[name]}"'} if name in self._verified else {}
        try:
            resp = await self._call("get_object", name, **condition)
            fh = await asyncio.to_thread(open, path, "wb")
            try:
                async for chunk in resp["Body"].iter_chunks(1 << 20):
                    await asyncio.to_thread(fh.write, chunk)
            finally:
                fh.close()
                resp["Body"].close()
        except Exception as exc:
            raise translate_error(exc, "GetObject", f"{self.url}/{name}") from exc
        return str(path)

    async def sidecar(self, name: str) -> dict[str, str]:
        if await self.store.stat(f"{name}.json") is None:
            return {}
        return read_sidecar(await self.store.read(f"{name}.json"), name)

    async def finished(self, name: str, job: str) -> str | None:
        for outcome in OUTCOMES:
            if await self.store.stat(f"{outcome}/{finished_name(name, job)}") is not None:
                return outcome
        return None

    async def finish(
        self, name: str, job: str, content: str | None, outcome: str, report: bytes
    ) -> None:
        target = f"{outcome}/{finished_name(name, job)}"
        await self.store.put_bytes(
            f"reports/{report_name(name, job)}", report, "application/x-ndjson"
        )
        mine = content is not None and await self._head(name) == content
        if await self.store.stat(f"{name}.json") is not None:
            await self.store.put_bytes(
                f"{target}.json", await self.store.read(f"{name}.json"), None
            )
            if mine:
                await self.store.delete(f"{name}.json")
        if mine:
            try:
                await self.store.client.copy_object(
                    Bucket=self.store.bucket,
                    Key=self._base + target,
                    CopySource={"Bucket": self.store.bucket, "Key": self._base + name},
                    CopySourceIfMatch=f'"{content}"',
                )
            except Exception as exc:
                error = translate_error(exc, "CopyObject", f"{self.url}/{name}")
                if error.code not in _PRECONDITION_FAILED:
                    raise error from exc
            else:
                await self.store.delete(name)
        self._verified.pop(name, None)

        def cleanup() -> None:
            for folder in Path(self._tmp.name).glob(f"*/{name}"):
                shutil.rmtree(folder.parent, ignore_errors=True)

        await asyncio.to_thread(cleanup)

    async def submit(self, name: str, body: AsyncIterator[bytes], limit: int) -> None:
        """Spool the body (at most ``limit`` bytes) to a temp file, then PutObject with
        ``If-None-Match: *``: a name that exists is NameTaken."""
        if await self._head(name) is not None:
            raise NameTaken(name)
        fd, path = tempfile.mkstemp(dir=self._tmp.name, suffix=".upload")
        try:
            with os.fdopen(fd, "wb") as fh:
                size = await spool(body, fh, limit, name)
            spooled = await asyncio.to_thread(Path(path).open, "rb")
            try:
                resp = await self._call("put_object", name, Body=spooled, IfNoneMatch="*")
            except Exception as exc:
                error = translate_error(exc, "PutObject", f"{self.url}/{name}")
                if error.code in _NAME_TAKEN:
                    raise NameTaken(name) from exc
                raise error from exc
            finally:
                spooled.close()
            self.settling.trust(name, (size, _etag(resp["ETag"])))
        finally:
            with contextlib.suppress(OSError):
                os.unlink(path)

    async def close(self) -> None:
        await self.store.close()
        self._tmp.cleanup()
