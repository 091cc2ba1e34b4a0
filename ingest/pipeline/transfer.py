"""Transfers: one object's upload with its retry budget, under shared bounds.

Bounds shared by every group a process stores: frame uploads in flight and bytes in flight.
Keys are deterministic, so a re-run finds what an earlier run stored (the catalog's ``objects``
table says so, no HEAD request) and uploads nothing twice. What a rejected group stored is
listed in ``GroupState.new_keys``; the run removes it at its end (``run.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_random_exponential

from ..config import Settings
from ..errors import IngestError, PermanentStorageError, is_transient
from ..sources import guess_content_type
from ..storage.base import Storage
from .localfile import OpenedFile

MiB = 1024 * 1024
#: what fails an object (anything else is a bug and propagates as it is)
_FAILURES = (IngestError, TimeoutError, ConnectionError, OSError)


class ByteBudget:
    """At most ``limit`` bytes in flight; one object larger than the limit still passes alone."""

    def __init__(self, limit: int) -> None:
        self.limit = max(1, limit)
        self.used = 0
        self._cond = asyncio.Condition()

    @contextlib.asynccontextmanager
    async def hold(self, size: int) -> AsyncIterator[None]:
        size = min(size, self.limit)
        async with self._cond:
            await self._cond.wait_for(lambda: self.used + size <= self.limit)
            self.used += size
        try:
            yield
        finally:
            async with self._cond:
                self.used -= size
                self._cond.notify_all()


@dataclass
class GroupState:
    """What storing one group did, and what to undo if it is rejected."""

    uploaded_frames: int = 0
    objects_uploaded: int = 0
    objects_existing: int = 0
    bytes: int = 0
    retries: int = 0
    new_keys: list[str] = field(default_factory=list)  # cleanups, registered before each PUT
    objects: list[tuple[str, int]] = field(default_factory=list)  # (uri, size) stored or found
    known: dict[str, int] = field(default_factory=dict)  # sizes the catalog recorded
    opened: dict[str, OpenedFile] = field(default_factory=dict)  # local sources, by path

    def close(self) -> None:
        for opened in self.opened.values():
            opened.close()

    def outcome(self) -> GroupState:
        """What crosses a process boundary: the counts and keys, no file or lookup state."""
        return GroupState(
            self.uploaded_frames,
            self.objects_uploaded,
            self.objects_existing,
            self.bytes,
            self.retries,
            self.new_keys,
            self.objects,
        )


class ObjectFailed(Exception):
    def __init__(self, uri: str, error: BaseException, attempts: int) -> None:
        super().__init__(str(error))
        self.uri, self.error, self.attempts = uri, error, attempts


class Transfers:
    """Object uploads; ``open_store`` / ``open_fetcher`` give the app's seams. ``share``: the
    fraction of the upload slots and byte budget this process has (1 / storage workers)."""

    def __init__(
        self,
        *,
        settings: Settings,
        open_store: Callable[[], Awaitable[Storage]],
        open_fetcher: Callable[[], Awaitable[Any]],
        on_upload: Callable[[float, bool], None] | None = None,
        share: float = 1.0,
    ) -> None:
        self.settings = settings
        self.open_store = open_store
        self.open_fetcher = open_fetcher
        self.on_upload = on_upload
        self.slots = max(1, round(settings.concurrency * share))
        self.frame_slots = asyncio.Semaphore(self.slots)
        self.bytes = ByteBudget(int(settings.bytes_in_flight_mb * MiB * share))

    @property
    def uploads_in_flight(self) -> int:
        return self.slots - self.frame_slots._value

    def _retrying(self, retries: int) -> AsyncRetrying:
        s = self.settings
        return AsyncRetrying(
            stop=stop_after_attempt(retries + 1),
            wait=wait_random_exponential(
                multiplier=s.retry_backoff_base_s, max=s.retry_backoff_max_s
            ),
            retry=retry_if_exception(is_transient),
            reraise=True,
        )

    async def store(
        self, uri: str, key: str, opened: OpenedFile | None, state: GroupState, retries: int
    ) -> tuple[str, int]:
        """Store the object ``uri`` (a local file already opened, or a remote URI to copy)
        under ``key`` with ``retries`` retries; return its stored URI and the attempts."""
        try:  # the first attempt outside tenacity (its loop: ~0.1 ms per object in cProfile)
            return await self._attempt(uri, key, opened, state), 1
        except Exception as exc:
            if retries > 0 and is_transient(exc):
                first: BaseException = exc
            elif isinstance(exc, _FAILURES):
                raise ObjectFailed(uri, exc, 1) from exc
            else:
                raise
        attempts = 0
        try:
            async for attempt in self._retrying(retries):
                with attempt:
                    attempts += 1
                    if attempts == 1:  # replayed, so tenacity counts it and waits after it
                        raise first
                    state.retries += 1
                    return await self._attempt(uri, key, opened, state), attempts
        except _FAILURES as exc:
            raise ObjectFailed(uri, exc, attempts) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    async def _attempt(
        self, uri: str, key: str, opened: OpenedFile | None, state: GroupState
    ) -> str:
        async with asyncio.timeout(self.settings.upload_timeout_s * 2):
            return await self._put(uri, key, opened, state)

    async def _put(self, uri: str, key: str, opened: OpenedFile | None, state: GroupState) -> str:
        store = await self.open_store()
        uri_in_store = store.uri(key)
        async with self.frame_slots:
            recorded = state.known.get(uri_in_store)
            if recorded is not None and (opened is None or recorded == opened.size):
                state.objects_existing += 1
                state.objects.append((uri_in_store, recorded))
                return uri_in_store
            if opened is not None:
                size = opened.size
                state.new_keys.append(key)  # cleanup registered before there is anything
                async with self.bytes.hold(size):
                    stored = await self._observed(
                        store.put_file(key, opened.fd, size, guess_content_type(uri))
                    )
            else:
                fetcher = await self.open_fetcher()
                async with fetcher.open(uri) as body:
                    async with self.bytes.hold(body.size or self.bytes.limit):
                        data = await body.read()
                        size = len(data)
                        state.new_keys.append(key)
                        stored = await self._observed(
                            store.put_bytes(key, data, guess_content_type(uri))
                        )
        state.objects_uploaded += 1
        state.bytes += size
        state.objects.append((stored, size))
        return stored

    async def _observed(self, upload: Awaitable[str]) -> str:
        started = time.monotonic()
        ok = False
        try:
            stored = await upload
            ok = True
            return stored
        finally:
            if self.on_upload is not None:
                self.on_upload(time.monotonic() - started, ok)

    async def check_stored(self, uri: str) -> None:
        """A URI inside the store (an export imported back) is registered by reference."""
        store = await self.open_store()
        key = store.key_of(uri)
        if key is not None and await store.stat(key) is None:
            raise ObjectFailed(uri, PermanentStorageError(f"{uri} is not in the store"), 1)
