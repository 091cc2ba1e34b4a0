"""Inboxes the daemon watches for manifests: a local folder (here) or an S3 prefix (s3inbox).

Layout inside the inbox: new manifests at the top level (``*.jsonl``, ``*.ndjson``, ``*.csv``,
``*.parquet``), finished ones under ``done/`` or ``failed/``, reports under ``reports/``. A
sidecar ``<manifest name>.json`` (``{"dataset": ..., "version": ...}``) may name the target.

The protocol (README, "The ingestion daemon"):

- A manifest is taken only once it has **settled**: its size and mtime (a folder) or its size
  and ETag (S3) seen unchanged for ``inbox_settle_s``. Names ending ``.part`` (and hidden
  names) are never taken: a writer writes ``batch.jsonl.part`` and renames it to
  ``batch.jsonl`` when done.
- A job is **one content under one name**: its id hashes the inbox, the name and the content
  (SHA-256 of the bytes; the ETag on S3). New content under an old name is a new job; the same
  content dropped again after its job ended is a new job too (a next generation).
- A finished job's manifest goes to ``done/`` or ``failed/`` and its report to ``reports/``
  under ``<stem>@<job tag><suffix>`` (``batch@1f0c...jsonl``, ``reports/batch@1f0c...jsonl
  .report.jsonl``): two manifests of one name never overwrite each other's entries. It moves
  only when the name still holds the job's content.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import threading
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import orjson

from ..errors import ConfigError

PATTERNS = (".jsonl", ".ndjson", ".csv", ".parquet")
PARTIAL = ".part"  # a manifest still being written: never taken
OUTCOMES = ("done", "failed")
_CHUNK = 1 << 20


@dataclass(frozen=True)
class Arrival:
    """A settled manifest in the inbox: its name and a hash of its content."""

    name: str
    content: str


class NameTaken(Exception):
    """A submitted name already holds a manifest in the inbox."""


class BodyTooLarge(Exception):
    """A submitted body is over the limit."""


def is_manifest_name(name: str) -> bool:
    return name.endswith(PATTERNS) and not name.startswith(".") and "/" not in name


def job_id(inbox_url: str, name: str, content: str, generation: int = 1) -> str:
    """``name@<24 hex>`` (generation 1), ``name@<24 hex>-<n>`` when that content under that name
    is dropped again after its earlier jobs ended."""
    digest = hashlib.blake2b(f"{inbox_url}\0{name}\0{content}".encode(), digest_size=12)
    return f"{name}@{digest.hexdigest()}" + (f"-{generation}" if generation > 1 else "")


def generation(job: str) -> int:
    tag = job.rpartition("@")[2]
    _, dash, gen = tag.partition("-")
    return int(gen) if dash and gen.isdigit() else 1


def finished_name(name: str, job: str) -> str:
    """The name of a finished job's manifest in ``done/``/``failed/``: unique per job."""
    tag = job.rpartition("@")[2]
    suffix = next((p for p in PATTERNS if name.endswith(p)), "")
    return f"{name[: len(name) - len(suffix)]}@{tag}{suffix}"


def report_name(name: str, job: str) -> str:
    return f"{finished_name(name, job)}.report.jsonl"


async def spool(body: AsyncIterator[bytes], fh: Any, limit: int, name: str) -> int:
    """Write a submitted manifest ``body`` to ``fh`` (chunk by chunk, in a thread): its size.
    BodyTooLarge past ``limit`` bytes, ValueError when it is empty."""
    size = 0
    async for chunk in body:
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(name)
        await asyncio.to_thread(fh.write, chunk)
    if size == 0:
        raise ValueError("empty manifest")
    return size


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

    async def scan(self) -> list[Arrival]: ...  # settled manifests only
    def settle_due(self) -> float | None: ...  # seconds until a seen manifest may settle
    def changes(self, interval_s: float) -> AsyncIterator[None]: ...
    async def content(self, name: str) -> str | None: ...  # None: no manifest of that name
    async def fetch(self, name: str) -> str: ...  # a local path to read the manifest from
    async def sidecar(self, name: str) -> dict[str, str]: ...
    async def finished(self, name: str, job: str) -> str | None: ...  # done/failed if moved
    async def finish(
        self, name: str, job: str, content: str | None, outcome: str, report: bytes
    ) -> None: ...
    async def submit(self, name: str, body: AsyncIterator[bytes], limit: int) -> None: ...
    async def close(self) -> None: ...


class Settling:
    """Which names have been seen unchanged for ``settle_s`` (monotonic clock)."""

    def __init__(self, settle_s: float) -> None:
        self.settle_s = max(0.0, settle_s)
        self._seen: dict[str, tuple[Any, float]] = {}
        self._trusted: dict[str, Any] = {}  # written whole by submit(): settled at once
        self._due: float | None = None

    def settled(self, name: str, state: Any, now: float) -> bool:
        seen = self._seen.get(name)
        if seen is None or seen[0] != state:
            seen = self._seen[name] = (state, now)
        wait = seen[1] + self.settle_s - now
        if wait <= 0 or self._trusted.get(name) == state:
            return True
        self._due = wait if self._due is None else min(self._due, wait)
        return False

    def trust(self, name: str, state: Any) -> None:
        self._trusted[name] = state

    def begin(self) -> None:
        self._due = None

    def end(self, present: set[str]) -> None:
        for table in (self._seen, self._trusted):
            for name in [n for n in table if n not in present]:
                del table[name]

    @property
    def due(self) -> float | None:
        return self._due


def _state(st: os.stat_result) -> tuple[int, ...]:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


class LocalInbox:
    def __init__(self, root: str, settle_s: float = 2.0) -> None:
        self.root = Path(root).resolve()
        self.url = self.root.as_uri()
        self.settling = Settling(settle_s)
        self._hashes: dict[str, tuple[tuple[int, ...], str]] = {}
        self._lock = threading.Lock()
        for sub in (*OUTCOMES, "reports"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)

    def _hash(self, name: str, state: tuple[int, ...]) -> str | None:
        """SHA-256 of the file, cached per (inode, size, mtime, ctime); None when it changed."""
        with self._lock:
            cached = self._hashes.get(name)
        if cached is not None and cached[0] == state:
            return cached[1]
        digest = hashlib.sha256()
        try:
            with open(self.root / name, "rb") as fh:
                if _state(os.fstat(fh.fileno())) != state:
                    return None
                while chunk := fh.read(_CHUNK):
                    digest.update(chunk)
                if _state(os.fstat(fh.fileno())) != state:
                    return None
        except OSError:
            return None
        with self._lock:
            self._hashes[name] = (state, digest.hexdigest())
        return digest.hexdigest()

    def _stat(self, name: str) -> tuple[int, ...] | None:
        try:
            st = os.stat(self.root / name)
        except OSError:
            return None
        return _state(st) if os.path.isfile(self.root / name) else None

    async def scan(self) -> list[Arrival]:
        def listing() -> list[Arrival]:
            now = time.monotonic()
            out, present = [], set()
            self.settling.begin()
            with os.scandir(self.root) as entries:
                names = sorted(e.name for e in entries if is_manifest_name(e.name))
            for name in names:
                state = self._stat(name)
                if state is None:
                    continue
                present.add(name)
                if self.settling.settled(name, state, now):
                    content = self._hash(name, state)
                    if content is not None:
                        out.append(Arrival(name, content))
            self.settling.end(present)
            with self._lock:
                for name in [n for n in self._hashes if n not in present]:
                    del self._hashes[name]
            return out

        return await asyncio.to_thread(listing)

    def settle_due(self) -> float | None:
        return self.settling.due

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

    async def content(self, name: str) -> str | None:
        def current() -> str | None:
            state = self._stat(name)
            return None if state is None else self._hash(name, state)

        return await asyncio.to_thread(current)

    async def fetch(self, name: str) -> str:
        return str(self.root / name)

    async def sidecar(self, name: str) -> dict[str, str]:
        path = self.root / f"{name}.json"
        data = await asyncio.to_thread(lambda: path.read_bytes() if path.is_file() else None)
        return read_sidecar(data, name)

    async def finished(self, name: str, job: str) -> str | None:
        target = finished_name(name, job)
        for outcome in OUTCOMES:
            if await asyncio.to_thread((self.root / outcome / target).is_file):
                return outcome
        return None

    async def finish(
        self, name: str, job: str, content: str | None, outcome: str, report: bytes
    ) -> None:
        def move() -> None:
            target = finished_name(name, job)
            report_path = self.root / "reports" / report_name(name, job)
            tmp = report_path.with_name(f".{report_path.name}.tmp")
            tmp.write_bytes(report)
            os.replace(tmp, report_path)
            sidecar = self.root / f"{name}.json"
            state = self._stat(name)
            mine = content is not None and state is not None and self._hash(name, state) == content
            if sidecar.is_file():
                data = sidecar.read_bytes()  # copied: a next manifest of this name may need it
                (self.root / outcome / f"{target}.json").write_bytes(data)
                if mine:
                    sidecar.unlink(missing_ok=True)
            if mine:
                os.replace(self.root / name, self.root / outcome / target)

        await asyncio.to_thread(move)

    async def submit(self, name: str, body: AsyncIterator[bytes], limit: int) -> None:
        """Write the body to a hidden temp file (at most ``limit`` bytes), then link it to
        ``name`` unless that name exists (NameTaken): atomic, across processes too."""
        if await asyncio.to_thread((self.root / name).exists):
            raise NameTaken(name)
        tmp = self.root / f".{name}.{uuid.uuid4().hex}.upload"
        fh = await asyncio.to_thread(open, tmp, "wb")
        try:
            await spool(body, fh, limit, name)
            await asyncio.to_thread(fh.close)
            try:
                await asyncio.to_thread(os.link, tmp, self.root / name)
            except FileExistsError as exc:
                raise NameTaken(name) from exc
        finally:
            fh.close()
            tmp.unlink(missing_ok=True)
        state = self._stat(name)  # after the unlink: it changes the inode's ctime
        if state is not None:
            self.settling.trust(name, state)

    def hold(self) -> int:
        """Hold the inbox for this process (``flock`` on the folder itself, released when it
        exits; ``os.close`` the answer to let go): a daemon whose queue is in its own memory
        (SQLite) must be the inbox's only one."""
        import fcntl

        fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise ConfigError(
                f"another daemon with a SQLite catalog watches {self.url}: with SQLite run one "
                "daemon per inbox (its queue is in its memory); several need PostgreSQL"
            ) from None
        return fd

    async def close(self) -> None:
        return None


async def open_inbox(
    url: str,
    *,
    settle_s: float = 2.0,
    endpoint_url: str | None = None,
    region: str = "us-east-1",
) -> Inbox:
    if url.startswith("s3://"):
        from .s3inbox import S3Inbox

        return await S3Inbox.open(url, settle_s=settle_s, endpoint_url=endpoint_url, region=region)
    path = Path(url.removeprefix("file://"))
    if not await asyncio.to_thread(path.is_dir):
        raise ConfigError(f"inbox {url} is not a folder")
    return LocalInbox(str(path), settle_s)
