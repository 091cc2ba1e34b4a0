"""Transfers: one object's upload with its retry budget, under the run's shared bounds.

Bounds shared by every group of a run: frame uploads in flight (``concurrency``) and bytes in
flight (``bytes_in_flight_mb``). Keys are deterministic, so a re-run finds what an earlier run
stored (the catalog's ``objects`` table says so, no HEAD request) and uploads nothing twice.
A rejected group removes the objects it stored unless another group of the run uses them.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
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
    keys_used: set[str] = field(default_factory=set)
    known: dict[str, int] = field(default_factory=dict)  # sizes the catalog recorded
    opened: dict[str, OpenedFile] = field(default_factory=dict)  # local sources, by path

    def close(self) -> None:
        for opened in self.opened.values():
            opened.close()


class ObjectFailed(Exception):
    def __init__(self, uri: str, error: BaseException, attempts: int) -> None:
        super().__init__(str(error))
        self.uri, self.error, self.attempts = uri, error, attempts


class Transfers:
    """Object uploads for one run; ``open_store`` / ``open_fetcher`` give the app's seams."""

    def __init__(
        self,
        *,
        settings: Settings,
        retries: int,
        open_store: Callable[[], Awaitable[Storage]],
        open_fetcher: Callable[[], Awaitable[Any]],
        on_upload: Callable[[float, bool], None] | None = None,
    ) -> None:
        self.settings = settings
        self.retries = retries
        self.open_store = open_store
        self.open_fetcher = open_fetcher
        self.on_upload = on_upload
        self.frame_slots = asyncio.Semaphore(settings.concurrency)
        self.bytes = ByteBudget(settings.bytes_in_flight_mb * MiB)
        # how often each key was used in this run: a rejected group removes an object only
        # when no other group of the run may reference it
        self._key_refs: Counter[str] = Counter()
        self._deleting: dict[str, asyncio.Event] = {}  # keys a rejected group is removing

    @property
    def uploads_in_flight(self) -> int:
        return self.settings.concurrency - self.frame_slots._value

    def _retrying(self) -> AsyncRetrying:
        s = self.settings
        return AsyncRetrying(
            stop=stop_after_attempt(self.retries + 1),
            wait=wait_random_exponential(
                multiplier=s.retry_backoff_base_s, max=s.retry_backoff_max_s
            ),
            retry=retry_if_exception(is_transient),
            reraise=True,
        )

    async def store(
        self, uri: str, key: str, opened: OpenedFile | None, state: GroupState
    ) -> tuple[str, int]:
        """Store the object ``uri`` (a local file already opened, or a remote URI to copy)
        under ``key``; return its stored URI and the attempts it took."""
        attempts = 0
        try:
            async for attempt in self._retrying():
                with attempt:
                    attempts += 1
                    if attempts > 1:
                        state.retries += 1
                    async with asyncio.timeout(self.settings.upload_timeout_s * 2):
                        return await self._put(uri, key, opened, state), attempts
        except (IngestError, TimeoutError, ConnectionError, OSError) as exc:
            raise ObjectFailed(uri, exc, attempts) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    async def _put(self, uri: str, key: str, opened: OpenedFile | None, state: GroupState) -> str:
        store = await self.open_store()
        await self._use_key(key, state)
        async with self.frame_slots:
            recorded = state.known.get(store.uri(key))
            if recorded is not None and (opened is None or recorded == opened.size):
                state.objects_existing += 1
                state.objects.append((store.uri(key), recorded))
                return store.uri(key)
            if opened is not None:
                size = opened.size
                state.new_keys.append(key)  # cleanup registered before there is anything
                async with self.bytes.hold(size):
                    stored = await self._observed(
                        store.put_file(key, opened.read_path, size, guess_content_type(uri))
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

    async def _use_key(self, key: str, state: GroupState) -> None:
        if key not in state.keys_used:  # once per group, whatever its retries
            state.keys_used.add(key)
            self._key_refs[key] += 1
        deleting = self._deleting.get(key)
        if deleting is not None:  # a rejected group is removing it: store it afresh after
            await deleting.wait()

    async def cleanup(self, keys: list[str]) -> None:
        """Remove objects this run stored for a group that was then rejected (best effort).

        Only objects no other group of the run used; a group that wants a key while it is
        being deleted waits for the delete to finish, then stores the object again.
        """
        if not keys:
            return
        store = await self.open_store()
        for key in dict.fromkeys(keys):
            if self._key_refs[key] != 1 or key in self._deleting:
                continue
            done = self._deleting[key] = asyncio.Event()
            try:
                with contextlib.suppress(Exception):
                    await store.delete(key)
            finally:
                self._key_refs[key] -= 1
                del self._deleting[key]
                done.set()
