"""Inboxes the daemon watches for manifests: a local folder or an S3 prefix.

Layout inside the inbox: new manifests at the top level (``*.jsonl``, ``*.csv``,
``*.parquet``), finished ones under ``done/`` or ``failed/``, reports under ``reports/``. A
sidecar ``<manifest name>.json`` (``{"dataset": ..., "version": ...}``) may name the target.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import orjson

from ..errors import ConfigError
from ..storage.factory import parse_storage_url

PATTERNS = (".jsonl", ".ndjson", ".csv", ".parquet")


@dataclass(frozen=True)
class Arrival:
    """A manifest seen in the inbox; ``job_id`` changes when its content does."""

    name: str
    job_id: str


def _job_id(inbox_url: str, name: str, version_tag: str) -> str:
    digest = hashlib.blake2b(f"{inbox_url}\0{name}\0{version_tag}".encode(), digest_size=12)
    return f"{name}@{digest.hexdigest()}"


def read_sidecar(data: bytes | None, name: str) -> dict[str, str]:
    if data is None:
        return {}
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ConfigError(f"sidecar {name}.json is not valid JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise ConfigError(f"sidecar {name}.json must be an object {{dataset, version}}")
    return {k: str(v) for k, v in doc.items() if k in ("dataset", "version") and v}


class Inbox(Protocol):
    url: str

    async def scan(self) -> list[Arrival]: ...
    def changes(self, interval_s: float) -> AsyncIterator[None]: ...
    async def fetch(self, name: str) -> str: ...  # a local path to read the manifest from
    async def sidecar(self, name: str) -> dict[str, str]: ...
    async def finish(self, name: str, outcome: str, report: bytes) -> None: ...
    async def submit(self, name: str, data: bytes) -> None: ...
    async def close(self) -> None: ...


class LocalInbox:
    def __init__(self, root: str) -> None:
        self.root = Path(root).resolve()
        self.url = self.root.as_uri()
        for sub in ("done", "failed", "reports"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)

    async def scan(self) -> list[Arrival]:
        def listing() -> list[Arrival]:
            out = []
            for entry in sorted(os.scandir(self.root), key=lambda e: e.name):
                if (
                    entry.is_file()
                    and entry.name.endswith(PATTERNS)
                    and not entry.name.startswith(".")
                ):
                    st = entry.stat()
                    tag = f"{st.st_size}:{st.st_mtime_ns}"
                    out.append(Arrival(entry.name, _job_id(self.url, entry.name, tag)))
            return out

        return await asyncio.to_thread(listing)

    async def changes(self, interval_s: float) -> AsyncIterator[None]:
        """Wake on inotify events (watchfiles; polling when ``INGEST_INBOX_POLLING=1`` or where
        inotify is missing), and at least every ``interval_s``."""
        import watchfiles

        async for _ in watchfiles.awatch(
            self.root,
            recursive=False,
            rust_timeout=int(interval_s * 1000),
            yield_on_timeout=True,
            debounce=200,
            force_polling=os.environ.get("INGEST_INBOX_POLLING") == "1" or None,
        ):
            yield None

    async def fetch(self, name: str) -> str:
        return str(self.root / name)

    async def sidecar(self, name: str) -> dict[str, str]:
        path = self.root / f"{name}.json"
        data = await asyncio.to_thread(lambda: path.read_bytes() if path.is_file() else None)
        return read_sidecar(data, name)

    async def finish(self, name: str, outcome: str, report: bytes) -> None:
        def move() -> None:
            report_path = self.root / "reports" / f"{name}.report.jsonl"
            tmp = report_path.with_name(f".{report_path.name}.tmp")
            tmp.write_bytes(report)
            os.replace(tmp, report_path)
            for path in (self.root / name, self.root / f"{name}.json"):
                if path.exists():
                    os.replace(path, self.root / outcome / path.name)

        await asyncio.to_thread(move)

    async def submit(self, name: str, data: bytes) -> None:
        def write() -> None:
            tmp = self.root / f".{name}.upload"
            tmp.write_bytes(data)
            os.replace(tmp, self.root / name)

        await asyncio.to_thread(write)

    async def close(self) -> None:
        return None


class S3Inbox:
    """An ``s3://bucket/prefix/`` inbox, polled with ListObjectsV2."""

    def __init__(self, url: str, store: Any) -> None:
        self.url = url
        self.store = store
        self._tmp = tempfile.TemporaryDirectory(prefix="ingest-inbox-")

    @classmethod
    async def open(cls, url: str, *, endpoint_url: str | None, region: str) -> S3Inbox:
        from ..storage.s3 import S3Storage

        _, bucket, prefix = parse_storage_url(url)
        store = S3Storage(
            bucket, prefix, endpoint_url=endpoint_url, region=region, max_pool_connections=8
        )
        await store.open()
        return cls(url.rstrip("/"), store)

    async def scan(self) -> list[Arrival]:
        out = []
        async for obj in self.store.list():
            if "/" in obj.key or not obj.key.endswith(PATTERNS) or obj.key.startswith("."):
                continue
            tag = f"{obj.size}:{obj.modified}"
            out.append(Arrival(obj.key, _job_id(self.url, obj.key, tag)))
        return sorted(out, key=lambda a: a.name)

    async def changes(self, interval_s: float) -> AsyncIterator[None]:
        while True:
            await asyncio.sleep(interval_s)
            yield None

    async def fetch(self, name: str) -> str:
        data = await self.store.read(name)
        path = os.path.join(self._tmp.name, name)
        await asyncio.to_thread(Path(path).write_bytes, data)
        return path

    async def sidecar(self, name: str) -> dict[str, str]:
        if await self.store.stat(f"{name}.json") is None:
            return {}
        return read_sidecar(await self.store.read(f"{name}.json"), name)

    async def finish(self, name: str, outcome: str, report: bytes) -> None:
        await self.store.put_bytes(f"reports/{name}.report.jsonl", report, "application/x-ndjson")
        for key in (name, f"{name}.json"):
            if await self.store.stat(key) is not None:
                await self.store.put_bytes(f"{outcome}/{key}", await self.store.read(key), None)
                await self.store.delete(key)
        with contextlib.suppress(OSError):
            os.unlink(os.path.join(self._tmp.name, name))

    async def submit(self, name: str, data: bytes) -> None:
        await self.store.put_bytes(name, data, None)

    async def close(self) -> None:
        await self.store.close()
        self._tmp.cleanup()


async def open_inbox(
    url: str, *, endpoint_url: str | None = None, region: str = "us-east-1"
) -> LocalInbox | S3Inbox:
    if url.startswith("s3://"):
        return await S3Inbox.open(url, endpoint_url=endpoint_url, region=region)
    path = Path(url.removeprefix("file://"))
    if not await asyncio.to_thread(path.is_dir):
        raise ConfigError(f"inbox {url} is not a folder")
    return LocalInbox(str(path))
