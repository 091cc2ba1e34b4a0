"""The ingestion pipeline: bounded fan-out uploads, per-frame retries, atomic group commit.

    input (lazy) --> producer --(groups in flight)--> group task --> committer --> catalog
                                                      |  per frame: stat, upload with a
                                                      |  retry budget (frame uploads and
                                                      |  bytes in flight bounded)
                                                      `-> any frame failed: reject the group

A group is committed whole in one transaction (several groups per transaction) or not at all.
Cancelling the run stops reading input, lets in-flight groups finish within the grace period,
commits them and re-raises ``CancelledError``; nothing partial is ever written.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import stat as stat_mod
import time
from collections import Counter
from collections.abc import AsyncIterable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import imagesize
import orjson
from tenacity import (
    AsyncRetrying,
    retry_if_exception,
    stop_after_attempt,
    wait_random_exponential,
)

from .catalog import Catalog, FrameRow
from .config import Settings
from .errors import (
    CatalogError,
    IngestError,
    NotFoundError,
    PermanentStorageError,
    PublishedVersionError,
    TransientStorageError,
    ValidationError,
)
from .frames import (
    FrameGroup,
    Item,
    SingleFrame,
    ensure_id,
    item_context_id,
    item_kind,
    item_timestamp,
)
from .remote import RemoteFetcher
from .report import RejectedFrame, Report
from .sources import LOCAL, classify, guess_content_type, is_remote, object_key, remote_key
from .storage.base import Storage

MiB = 1024 * 1024
log = logging.getLogger("ingest.pipeline")
_Work = tuple[str | None, dict[str, Any]]  # (frame name, frame document)
Input = Iterable[Item | RejectedFrame] | AsyncIterable[Item | RejectedFrame]


def is_transient(exc: BaseException) -> bool:
    """The one predicate that decides retry (transient) versus fail at once (permanent)."""
    if isinstance(exc, TransientStorageError | TimeoutError | ConnectionError):
        return True
    return False


class ByteBudget:
    """At most ``limit`` bytes in flight; one object larger than the limit still passes alone."""

    def __init__(self, limit: int) -> None:
        self.limit = max(1, limit)
        self.used = 0
        self._cond = asyncio.Condition()

    @contextlib.asynccontextmanager
    async def hold(self, size: int) -> Any:
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


class FrameFailed(Exception):
    def __init__(self, name: str | None, source: str | None, error: BaseException, attempts: int):
        super().__init__(str(error))
        self.name, self.source, self.error, self.attempts = name, source, error, attempts


@dataclass
class _Counts:
    uploaded_frames: int = 0
    objects_uploaded: int = 0
    objects_existing: int = 0
    bytes: int = 0
    retries: int = 0
    new_keys: list[str] = field(default_factory=list)
    objects: list[tuple[str, int]] = field(default_factory=list)  # (uri, size) stored or found
    keys_used: set[str] = field(default_factory=set)
    known: dict[str, int | None] | None = None  # recorded sizes of the group's objects
    stats: dict[str, os.stat_result] = field(default_factory=dict)  # taken once per file


@dataclass
class _Commit:
    row: FrameRow
    frames: int
    counts: _Counts


def _error_text(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


class Pipeline:
    def __init__(
        self,
        *,
        catalog: Catalog,
        version_id: str,
        settings: Settings,
        storage: Storage | None = None,
        upload_retries: int | None = None,
        copy_remote: bool = False,
        progress: Callable[[Report], None] | None = None,
        on_upload: Callable[[float, bool], None] | None = None,
    ) -> None:
        """``on_upload(seconds, ok)`` observes every upload attempt (metrics)."""
        self.catalog = catalog
        self.version_id = version_id
        self.settings = settings
        self.retries = settings.upload_retries if upload_retries is None else upload_retries
        if self.retries < 0:
            raise ValueError(f"upload_retries must be >= 0, got {self.retries}")
        self.copy_remote = copy_remote
        self.progress = progress
        self.on_upload = on_upload
        self.allowed_roots = tuple(
            os.path.realpath(r) for r in settings.allowed_roots.split(os.pathsep) if r
        )
        self.report = Report()
        self._storage = storage
        self._owns_storage = storage is None
        self._storage_lock = asyncio.Lock()
        self._fetcher: RemoteFetcher | None = None
        self._frame_slots = asyncio.Semaphore(settings.concurrency)
        self._group_slots = asyncio.Semaphore(settings.groups_in_flight)
        self._bytes = ByteBudget(settings.bytes_in_flight_mb * MiB)
        self._queue: asyncio.Queue[_Commit | None] = asyncio.Queue()
        self._groups: set[asyncio.Task[None]] = set()
        # how often each object key was used in this run: a rejected group removes the objects
        # it uploaded only when no other group of the run may reference them
        self._key_refs: Counter[str] = Counter()
        self._deleting: dict[str, asyncio.Event] = {}  # keys a rejected group is removing
        self._admitted = 0
        self._positions: dict[int, int] = {}  # id(item in flight) -> its input position

    @property
    def groups_in_flight(self) -> int:
        return self.settings.groups_in_flight - self._group_slots._value

    @property
    def uploads_in_flight(self) -> int:
        return self.settings.concurrency - self._frame_slots._value

    # ------------------------------------------------------------------ seams, opened lazily

    async def storage(self) -> Storage:
        async with self._storage_lock:
            if self._storage is None:
                from .storage.factory import open_storage

                s = self.settings
                self._storage = await open_storage(
                    s.storage_url,
                    endpoint_url=s.s3_endpoint_url or None,
                    region=s.s3_region,
                    concurrency=s.concurrency,
                    multipart_threshold_mb=s.multipart_threshold_mb,
                    timeout_s=s.upload_timeout_s,
                )
            return self._storage

    async def fetcher(self) -> RemoteFetcher:
        async with self._storage_lock:
            if self._fetcher is None:
                self._fetcher = RemoteFetcher(self.settings)
            return self._fetcher

    async def aclose(self) -> None:
        if self._fetcher is not None:
            await self._fetcher.close()
        if self._owns_storage and self._storage is not None:
            await self._storage.close()

    # ------------------------------------------------------------------ run

    async def run(self, items: Input) -> Report:
        version = await self.catalog.get_version(id=self.version_id)
        if version.is_published:
            raise PublishedVersionError(
                f"version {version.name!r} is Published and read-only; frames cannot be added"
            )
        committer = asyncio.create_task(self._committer(), name="ingest-committer")
        producer = asyncio.create_task(self._produce(items), name="ingest-producer")
        try:
            done, _ = await asyncio.wait({committer, producer}, return_when=asyncio.FIRST_COMPLETED)
            if committer in done:  # it only ends early on a fatal catalog error
                producer.cancel()
                committer.result()
            producer.result()
            await self._wait_groups(None)
            self._queue.put_nowait(None)
            await committer
        except asyncio.CancelledError:
            self.report.cancelled = True
            producer.cancel()
            await self._wait_groups(self.settings.shutdown_grace_s)
            self._queue.put_nowait(None)
            await committer
            raise
        finally:
            for task in (producer, *self._groups):
                task.cancel()
            if not committer.done():
                committer.cancel()
            await asyncio.gather(producer, committer, *self._groups, return_exceptions=True)
            await self.aclose()
            self.report.finish()
        return self.report

    async def _wait_groups(self, grace: float | None) -> None:
        while self._groups:
            _, pending = await asyncio.wait(set(self._groups), timeout=grace)
            if pending and grace is not None:
                for task in pending:
                    task.cancel()
                await asyncio.gather(*pending, return_exceptions=True)
                return

    async def _produce(self, items: Input) -> None:
        if isinstance(items, AsyncIterable):
            async for entry in items:
                await self._admit(entry)
        else:
            for entry in items:
                await self._admit(entry)

    async def _admit(self, entry: Item | RejectedFrame) -> None:
        if isinstance(entry, RejectedFrame):
            self.report.reject([entry])
            self._notify()
            return
        await self._group_slots.acquire()
        self._positions[id(entry)] = self._admitted  # rejected items come back in input order
        self._admitted += 1
        try:
            plan = self._plan(entry)
        except BaseException:
            self._group_slots.release()
            raise
        if plan is None:  # rejected while planning (already reported)
            self._group_slots.release()
            return
        doc, work = plan
        if not work:  # everything by reference: straight to the committer, no task
            self._enqueue(entry, doc, _Counts())
            return
        task = asyncio.create_task(self._store_group(entry, doc, work))
        self._groups.add(task)
        task.add_done_callback(self._groups.discard)

    # ------------------------------------------------------------------ planning

    def _plan(self, item: Any) -> tuple[dict[str, Any], list[_Work]] | None:
        """Validate, give the item its id, and list the frames that need storage work."""
        if not isinstance(item, FrameGroup | SingleFrame):
            self.report.reject(
                [
                    RejectedFrame(
                        None,
                        None,
                        None,
                        "ValidationError",
                        f"expected a FrameGroup or SingleFrame, got {type(item).__name__}",
                        0,
                    )
                ],
                item,
                self._positions.pop(id(item), 0),
            )
            return None
        if isinstance(item, FrameGroup) and not len(item):
            self._reject_all(item, "ValidationError", "a FrameGroup needs at least one frame", 0)
            return None
        ensure_id(item)
        doc = item.to_doc()
        frames = doc["frames"].items() if isinstance(item, FrameGroup) else [(None, doc)]
        work = []
        for name, frame_doc in frames:
            try:
                if self._needs_storage(frame_doc):
                    work.append((name, frame_doc))
            except PermanentStorageError as exc:
                self._reject_group(item, [FrameFailed(name, frame_doc["source"], exc, 0)])
                return None
        return doc, work

    def _needs_storage(self, frame_doc: dict[str, Any]) -> bool:
        for uri in (frame_doc["source"], frame_doc["preview_uri"], *frame_doc["masks"].values()):
            if uri is None or (is_remote(uri) and not self.copy_remote):
                continue
            if self.copy_remote or classify(uri).kind == LOCAL:  # raises on a bad scheme
                return True
        return False

    # ------------------------------------------------------------------ storing

    async def _store_group(self, item: Item, doc: dict[str, Any], work: list[_Work]) -> None:
        counts = _Counts()
        counts.known = await self._known_objects(work, counts)
        tasks = {
            asyncio.create_task(self._store_frame(name, frame_doc, counts)): name
            for name, frame_doc in work
        }
        try:
            done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        except asyncio.CancelledError:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self._reject_interrupted(item)
            self._group_slots.release()
            raise
        failures = [t.exception() for t in done if t.exception() is not None]
        if failures:  # first error wins: stop the siblings, clean what they stored
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            errors = [
                f if isinstance(f, FrameFailed) else FrameFailed(tasks[t], None, f, 1)
                for t in done
                if (f := t.exception()) is not None
            ]
            await self._cleanup(counts.new_keys)
            self.report.summary.retries += counts.retries
            self._reject_group(item, errors)
            self._group_slots.release()
            self._notify()
            return
        self._enqueue(item, doc, counts)

    async def _store_frame(
        self, name: str | None, frame_doc: dict[str, Any], counts: _Counts
    ) -> None:
        attempts_max = 0
        try:
            source = classify(frame_doc["source"])
            frame_doc["source"], attempts = await self._store_uri(frame_doc["source"], counts)
            attempts_max = attempts
            if source.kind == LOCAL and source.path is not None:
                # after the store: the file is known to be allowed and a regular file
                if frame_doc["width"] is None or frame_doc["height"] is None:
                    width, height = _image_size(source.path)
                    if width > 0 and height > 0:
                        frame_doc["width"] = frame_doc["width"] or width
                        frame_doc["height"] = frame_doc["height"] or height
                if frame_doc["content_type"] is None:
                    frame_doc["content_type"] = guess_content_type(source.path)
            if frame_doc["preview_uri"] is not None:
                frame_doc["preview_uri"], attempts = await self._store_uri(
                    frame_doc["preview_uri"], counts
                )
                attempts_max = max(attempts_max, attempts)
            for mask_id, uri in list(frame_doc["masks"].items()):
                frame_doc["masks"][mask_id], attempts = await self._store_uri(uri, counts)
                attempts_max = max(attempts_max, attempts)
            counts.uploaded_frames += 1
        except _ObjectFailed as exc:
            raise FrameFailed(name, exc.uri, exc.error, exc.attempts) from exc.error
        except IngestError as exc:
            raise FrameFailed(name, frame_doc["source"], exc, max(attempts_max, 1)) from exc

    async def _store_uri(self, uri: str, counts: _Counts) -> tuple[str, int]:
        source = classify(uri)
        if source.kind != LOCAL and not self.copy_remote:
            return uri, 0
        storage = await self.storage()
        key = storage.key_of(uri)
        if key is not None:  # already in the store (an export imported back): by reference
            if await storage.stat(key) is None:
                raise _ObjectFailed(uri, PermanentStorageError(f"{uri} is not in the store"), 1)
            return uri, 0
        attempts = 0
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.retries + 1),
            wait=wait_random_exponential(
                multiplier=self.settings.retry_backoff_base_s, max=self.settings.retry_backoff_max_s
            ),
            retry=retry_if_exception(is_transient),
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    attempts += 1
                    if attempts > 1:
                        counts.retries += 1
                    async with asyncio.timeout(self.settings.upload_timeout_s * 2):
                        if source.kind == LOCAL:
                            stored = await self._put_local(source.path or "", counts)
                        else:
                            stored = await self._put_remote(uri, counts)
        except (IngestError, TimeoutError, ConnectionError, OSError) as exc:
            raise _ObjectFailed(uri, exc, attempts) from exc
        return stored, attempts

    def _check_allowed(self, path: str) -> None:
        if not self.allowed_roots:
            return
        real = os.path.realpath(path)  # a symlink must not lead outside
        if not any(real == root or real.startswith(root + os.sep) for root in self.allowed_roots):
            raise PermanentStorageError(
                f"{path} is outside the allowed roots ({os.pathsep.join(self.allowed_roots)})"
            )

    async def _put_local(self, path: str, counts: _Counts) -> str:
        self._check_allowed(path)
        try:
            st = counts.stats.pop(path, None) or os.stat(path)
        except FileNotFoundError as exc:
            raise PermanentStorageError(f"file not found: {path}") from exc
        except OSError as exc:
            raise PermanentStorageError(f"cannot read {path}: {exc.strerror or exc}") from exc
        if stat_mod.S_ISDIR(st.st_mode):
            raise PermanentStorageError(f"{path} is a directory, not a file")
        if not stat_mod.S_ISREG(st.st_mode):
            raise PermanentStorageError(f"{path} is not a regular file")
        if st.st_size == 0:
            raise PermanentStorageError(f"{path} is empty (0 bytes)")
        storage = await self.storage()
        key = object_key(path, st.st_size, st.st_mtime_ns)
        await self._use_key(key, counts)
        async with self._frame_slots:
            if await self._recorded_size(storage.uri(key), counts) == st.st_size:
                counts.objects_existing += 1
                counts.objects.append((storage.uri(key), st.st_size))
                return storage.uri(key)
            counts.new_keys.append(key)  # cleanup registered before there is anything to clean
            async with self._bytes.hold(st.st_size):
                started = time.monotonic()
                try:
                    uri = await storage.put_file(key, path, st.st_size, guess_content_type(path))
                except BaseException:
                    self._observe(started, False)
                    raise
                self._observe(started, True)
        counts.objects_uploaded += 1
        counts.bytes += st.st_size
        counts.objects.append((uri, st.st_size))
        return uri

    async def _use_key(self, key: str, counts: _Counts) -> None:
        if key not in counts.keys_used:  # once per group, whatever its retries
            counts.keys_used.add(key)
            self._key_refs[key] += 1
        deleting = self._deleting.get(key)
        if deleting is not None:  # a rejected group is removing it: store it afresh after
            await deleting.wait()

    async def _known_objects(
        self, work: list[_Work], counts: _Counts
    ) -> dict[str, int | None] | None:
        """What the catalog recorded of the group's local files: one query per group.

        The catalog, not a HEAD request per object, says what is stored already (``ingest
        verify`` checks the store itself). None when there is nothing local to look up.
        """
        uris = []
        storage: Storage | None = None
        for _, frame_doc in work:
            for uri in (
                frame_doc["source"],
                frame_doc["preview_uri"],
                *frame_doc["masks"].values(),
            ):
                if uri is None or is_remote(uri):
                    continue
                try:
                    source = classify(uri)
                    st = os.stat(source.path or "")
                except (OSError, IngestError):
                    continue  # reported with its reason when the frame is stored
                counts.stats[source.path or ""] = st
                storage = storage or await self.storage()
                uris.append(storage.uri(object_key(source.path or "", st.st_size, st.st_mtime_ns)))
        if not uris:
            return None
        found = await self.catalog.object_sizes(uris)
        return {uri: found.get(uri) for uri in uris}  # None: looked up, not recorded

    async def _recorded_size(self, uri: str, counts: _Counts) -> int | None:
        """The size the catalog recorded when this run or an earlier one stored ``uri``."""
        if counts.known is not None and uri in counts.known:
            return counts.known[uri]
        return (await self.catalog.object_sizes([uri])).get(uri)

    def _observe(self, started: float, ok: bool) -> None:
        if self.on_upload is not None:
            self.on_upload(time.monotonic() - started, ok)

    async def _put_remote(self, uri: str, counts: _Counts) -> str:
        storage = await self.storage()
        key = remote_key(uri)
        await self._use_key(key, counts)
        async with self._frame_slots:
            size = await self._recorded_size(storage.uri(key), counts)
            if size is not None:
                counts.objects_existing += 1
                counts.objects.append((storage.uri(key), size))
                return storage.uri(key)
            fetcher = await self.fetcher()
            data = await fetcher.fetch(uri)
            counts.new_keys.append(key)
            async with self._bytes.hold(len(data)):
                stored = await storage.put_bytes(key, data, guess_content_type(uri))
        counts.objects_uploaded += 1
        counts.bytes += len(data)
        counts.objects.append((stored, len(data)))
        return stored

    async def _cleanup(self, keys: list[str]) -> None:
        """Remove objects this run stored for a group that was then rejected (best effort).

        Only objects no other group of the run used; a group that wants a key while it is
        being deleted waits for the delete to finish, then stores the object again.
        """
        if not keys:
            return
        storage = await self.storage()
        for key in dict.fromkeys(keys):
            if self._key_refs[key] != 1 or key in self._deleting:
                continue
            done = self._deleting[key] = asyncio.Event()
            try:
                with contextlib.suppress(Exception):
                    await storage.delete(key)
            finally:
                self._key_refs[key] -= 1
                del self._deleting[key]
                done.set()

    # ------------------------------------------------------------------ rejecting

    def _reject_group(self, item: Item, failures: list[FrameFailed]) -> None:
        group_id = item.id
        failed = {f.name for f in failures}
        records = [
            RejectedFrame(
                group_id, f.name, f.source, _error_class(f.error), _error_text(f.error), f.attempts
            )
            for f in failures
        ]
        if isinstance(item, FrameGroup):
            first = failures[0].name
            for name, frame in item.items():
                if name not in failed:
                    records.append(
                        RejectedFrame(
                            group_id,
                            name,
                            frame.source,
                            "GroupRejected",
                            f"group rejected: {first} failed",
                            0,
                        )
                    )
        self.report.reject(records, item, self._positions.pop(id(item), 0))
        log.info(
            "group rejected",
            extra={"group": group_id, "frame": failures[0].name, "error": records[0].message},
        )

    def _reject_interrupted(self, item: Item) -> None:
        """A group cut off by cancellation after the grace period: listed, so nothing is lost
        silently (a re-run registers it)."""
        names = list(item) if isinstance(item, FrameGroup) else [None]
        records = [
            RejectedFrame(
                item.id,
                name,
                (item[name] if name is not None else item).source,  # type: ignore[index,union-attr]
                "Interrupted",
                "interrupted before the group was stored; re-run the import to register it",
                0,
            )
            for name in names
        ]
        self.report.reject(records, item, self._positions.pop(id(item), 0))

    def _reject_all(self, item: Item, error_class: str, message: str, attempts: int) -> None:
        self.report.reject(
            [RejectedFrame(item.id, None, None, error_class, message, attempts)],
            item,
            self._positions.pop(id(item), 0),
        )

    # ------------------------------------------------------------------ committing

    def _enqueue(self, item: Item, doc: dict[str, Any], counts: _Counts) -> None:
        self._positions.pop(id(item), None)
        row = frame_row(item, doc)
        frames = len(item) if isinstance(item, FrameGroup) else 1
        self._queue.put_nowait(_Commit(row, frames, counts))

    async def _committer(self) -> None:
        loop = asyncio.get_running_loop()
        limit = self.settings.commit_batch_groups
        stop = False
        while not stop:
            first = await self._queue.get()
            if first is None:
                return
            batch = [first]
            deadline = loop.time() + self.settings.commit_interval_s
            while len(batch) < limit:
                try:
                    entry = self._queue.get_nowait()
                except asyncio.QueueEmpty:
                    remaining = deadline - loop.time()
                    # nothing can join the batch while every group slot is waiting on it
                    if remaining <= 0 or self._group_slots.locked():
                        break
                    try:
                        entry = await asyncio.wait_for(self._queue.get(), remaining)
                    except TimeoutError:
                        break
                if entry is None:
                    stop = True
                    break
                batch.append(entry)
            await self._commit(batch)

    async def _commit(self, batch: list[_Commit]) -> None:
        rows = [c.row for c in batch]
        objects = [o for c in batch for o in c.counts.objects]
        for attempt in range(4):
            try:
                result = await self.catalog.write_frames(self.version_id, rows, objects=objects)
                break
            except (PublishedVersionError, NotFoundError):
                raise
            except CatalogError:
                if attempt == 3:
                    raise
                await asyncio.sleep(0.5 * 2**attempt)
        summary = self.report.summary
        summary.groups_committed += len(batch) - result.unchanged
        summary.groups_unchanged += result.unchanged
        for c in batch:
            summary.frames_registered += c.frames
            summary.frames_uploaded += c.counts.uploaded_frames
            summary.frames_by_reference += c.frames - c.counts.uploaded_frames
            summary.objects_uploaded += c.counts.objects_uploaded
            summary.objects_already_stored += c.counts.objects_existing
            summary.bytes_uploaded += c.counts.bytes
            summary.retries += c.counts.retries
            self._group_slots.release()
        self._notify()

    def _notify(self) -> None:
        if self.progress is not None:
            self.progress(self.report)


class _ObjectFailed(Exception):
    def __init__(self, uri: str, error: BaseException, attempts: int) -> None:
        super().__init__(str(error))
        self.uri, self.error, self.attempts = uri, error, attempts


def frame_row(item: Item, doc: dict[str, Any]) -> FrameRow:
    """The catalog row of ``item`` whose final document (stored sources) is ``doc``."""
    if item.id is None:
        raise ValidationError("frame.id", "is missing")
    return FrameRow(
        item.id, item_kind(item), item_context_id(item), item_timestamp(item), orjson.dumps(doc)
    )


def _error_class(exc: BaseException) -> str:
    cause = getattr(exc, "cause_name", None)
    return f"{type(exc).__name__}({cause})" if cause else type(exc).__name__


def _image_size(path: str) -> tuple[int, int]:
    try:
        width, height = imagesize.get(path)
        return int(width), int(height)
    except (OSError, ValueError):
        return -1, -1


async def run_pipeline(
    items: Input,
    *,
    version_id: str,
    settings: Settings,
    catalog: Catalog,
    storage: Storage | None = None,
    upload_retries: int | None = None,
    copy_remote: bool = False,
    progress: Callable[[Report], None] | None = None,
) -> Report:
    """Run the pipeline over ``items`` into ``version_id``; return the report."""
    pipeline = Pipeline(
        catalog=catalog,
        version_id=version_id,
        settings=settings,
        storage=storage,
        upload_retries=upload_retries,
        copy_remote=copy_remote,
        progress=progress,
    )
    return await pipeline.run(items)
