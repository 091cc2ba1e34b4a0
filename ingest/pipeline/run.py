"""One pipeline run: read the input, plan, store and commit each group, report.

    input (lazy) -> admit: group slot, plan -> group task: GroupStorer -> Committer -> catalog

The boundary: whatever a group raises while it is planned, stored or prepared for commit
(a bad value, a bug, a refused row) becomes rejection records for every frame of it, with its
``file:line``; the slot is released in the same place. So "registered + rejected = input"
holds for any input and no slot can leak. Fatal errors (catalog unreachable, version gone) end
the run. Cancelling the run stops reading input, gives in-flight groups ``shutdown_grace_s``
to finish, commits them, lists the rest as ``Interrupted``, and re-raises ``CancelledError``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterable, Awaitable, Callable, Iterable
from typing import Any

from ..catalog import Catalog, WriteResult
from ..config import Settings
from ..documents import FrameDocument
from ..errors import CatalogError, IngestError
from ..report import Located, RejectedFrame, Report
from ..storage.base import Storage
from .commit import Commit, Committer
from .group import GroupFailed, GroupStorer
from .localfile import allowed_roots
from .lookups import ObjectLookups
from .plan import Planned, frame_row, plan
from .rejects import INTERRUPTED, error_class, error_text, from_exception, group_failed, whole_item
from .transfer import GroupState, Transfers
from .workers import WORKERS_AFTER_GROUPS, WorkerPool

log = logging.getLogger("ingest.pipeline")
Entry = Any  # Item | RejectedFrame | Located (or anything: non-frames are rejected)
Input = Iterable[Entry] | AsyncIterable[Entry]


class PipelineRun:
    """Built by the application (``service.Ingest.import_items``), run once."""

    def __init__(
        self,
        *,
        catalog: Catalog,
        version_id: str,
        settings: Settings,
        open_store: Callable[[], Awaitable[Storage]],
        open_fetcher: Callable[[], Awaitable[Any]],
        upload_retries: int | None = None,
        copy_remote: bool = False,
        progress: Callable[[Report], None] | None = None,
        on_upload: Callable[[float, bool], None] | None = None,
        pool: WorkerPool | None = None,
    ) -> None:
        """``pool``: storage worker processes to deal groups to once the run is big enough."""
        retries = settings.upload_retries if upload_retries is None else upload_retries
        if retries < 0:
            raise ValueError(f"upload_retries must be >= 0, got {retries}")
        self.catalog = catalog
        self.version_id = version_id
        self.settings = settings
        self.retries = retries
        self.copy_remote = copy_remote
        self.progress = progress
        self.on_upload = on_upload
        self.pool = pool
        self.open_store = open_store
        self.report = Report()
        self.transfers = Transfers(
            settings=settings,
            open_store=open_store,
            open_fetcher=open_fetcher,
            on_upload=on_upload,
        )
        self.storer = GroupStorer(
            self.transfers,
            ObjectLookups(catalog),
            retries=retries,
            copy_remote=copy_remote,
            roots=allowed_roots(settings.allowed_roots),
            upload_root=settings.upload_root,
        )
        self._storage_groups = 0
        self._to_clean: list[str] = []  # keys stored for groups that were then rejected
        self._slots = asyncio.Semaphore(settings.groups_in_flight)
        # groups storing at once: enough to keep every upload slot busy, few enough that groups
        # finish (and commit) in about input order instead of all together at the end
        self._active = asyncio.Semaphore(max(2, settings.concurrency // 2))
        # the first group to store goes alone: sharing the loop and a cold connection pool
        # with the next 30 groups' uploads took the first commit past 1 s (S3 + PostgreSQL)
        self._lead: asyncio.Event | None = None
        self.committer = Committer(
            catalog,
            version_id,
            settings,
            on_committed=self._committed,
            on_refused=self._refused,
            starved=self._slots.locked,
        )
        self._tasks: set[asyncio.Task[None]] = set()
        self._admitted = 0

    @property
    def groups_in_flight(self) -> int:
        return self.settings.groups_in_flight - self._slots._value

    @property
    def uploads_in_flight(self) -> int:
        pooled = self.pool.uploads_in_flight if self.pool is not None else 0
        return self.transfers.uploads_in_flight + pooled

    # ------------------------------------------------------------------ orchestration

    async def run(self, items: Input) -> Report:
        """Run over ``items`` (the application checked that the version is a Draft; the
        catalog refuses a commit into a Published one)."""
        committer = asyncio.create_task(self.committer.run(), name="ingest-committer")
        producer = asyncio.create_task(self._produce(items), name="ingest-producer")
        try:
            done, _ = await asyncio.wait({committer, producer}, return_when=asyncio.FIRST_COMPLETED)
            if committer in done:  # it only ends early on a fatal catalog error
                committer.result()
            producer.result()
            await self._wait_groups(None)
            self.committer.close()
            await committer
        except asyncio.CancelledError:
            self.report.cancelled = True
            producer.cancel()
            await self._wait_groups(self.settings.shutdown_grace_s)
            self.committer.close()
            await committer
            raise
        finally:
            for task in (producer, committer, *self._tasks):
                task.cancel()
            await asyncio.gather(producer, committer, *self._tasks, return_exceptions=True)
            await asyncio.shield(self._clean_rejected())
            self.report.finish()
        return self.report

    async def _clean_rejected(self) -> None:
        """Remove what rejected groups stored, unless a committed group (of this run or any
        other: the catalog's ``objects`` table) references it. Done at the end, when no group
        of the run can be storing the same object any more (best effort)."""
        if not self._to_clean:
            return
        try:
            store = await self.open_store()
            uris = {store.uri(key): key for key in self._to_clean}
            referenced = await self.catalog.object_sizes(list(uris))
            for uri, key in uris.items():
                if uri not in referenced:
                    with contextlib.suppress(Exception):
                        await store.delete(key)
        except Exception as exc:  # ingest gc removes what is left
            log.warning("could not remove the objects of rejected groups: %s", exc)

    async def _wait_groups(self, grace: float | None) -> None:
        """Wait for the group tasks; after ``grace`` seconds cancel those still running."""
        while self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=grace)
            if pending and grace is not None:
                for task in pending:
                    task.cancel()
                await asyncio.gather(*pending, return_exceptions=True)
                return

    async def _produce(self, items: Input) -> None:
        """Admit each entry. A reader that fails with something other than an IngestError
        (which stops the run with its message) is reported and reading stops."""
        try:
            if isinstance(items, AsyncIterable):
                async for entry in items:
                    await self._admit(entry)
            else:
                for entry in items:
                    await self._admit(entry)
        except IngestError:
            raise
        except Exception as exc:
            message = f"reading the input failed; what followed was not read: {error_text(exc)}"
            self.report.reject([RejectedFrame(None, None, None, error_class(exc), message, 0)])
            self._notify()

    # ------------------------------------------------------------------ the boundary

    async def _admit(self, entry: Entry) -> None:
        if isinstance(entry, RejectedFrame):  # a line the reader could not turn into a frame
            self.report.reject([entry])
            self._notify()
            return
        item, where = (entry.item, entry.where) if isinstance(entry, Located) else (entry, None)
        if isinstance(item, FrameDocument):
            where = item.where
        await self._slots.acquire()
        planned = Planned(item, where, self._admitted)
        self._admitted += 1
        try:
            plan(planned, self.copy_remote)
            if not planned.work:  # everything by reference: straight to the committer
                self._to_committer(planned, GroupState())
                return
        except Exception as exc:
            self._reject(planned, from_exception(item, exc, where))
            return
        task = asyncio.create_task(self._group(planned))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        # let the group start (and the uploads run): reading and planning never waits on
        # anything while group slots are free, so the first group's store waited for the
        # whole window (`groups_in_flight`) to be read and planned: 0.3-1.8 s at 600 groups
        await asyncio.sleep(0)

    async def _store(self, planned: Planned) -> GroupState:
        """Store the group here, or in a storage worker once the run is big enough and the
        workers are ready (here meanwhile: groups go on completing while they start)."""
        work = planned.work or []
        self._storage_groups += 1
        big = self._storage_groups >= WORKERS_AFTER_GROUPS
        if self.pool is None or not big or not self.pool.start():
            state = GroupState()
            try:
                return await self.storer.store(work, state)
            except asyncio.CancelledError:  # what it stored is removed at the end of the run
                self._to_clean += state.new_keys
                raise
        filled, state, observed = await self.pool.store(
            work, retries=self.retries, copy_remote=self.copy_remote
        )
        for name, frame_doc in filled:  # the worker's copies, with the stored URIs
            if name is None:
                planned.doc = frame_doc
            else:
                assert planned.doc is not None
                planned.doc["frames"][name] = frame_doc
        if self.on_upload is not None:
            for seconds, ok in observed:
                self.on_upload(seconds, ok)
        return state

    async def _group(self, planned: Planned) -> None:
        state: GroupState | None = None
        try:
            async with self._active:  # groups store in input order, a few at a time
                state = await self._lead_or_follow(planned)
            self._to_committer(planned, state)
        except asyncio.CancelledError:
            self._reject(
                planned, whole_item(planned.item, "Interrupted", INTERRUPTED, planned.where)
            )
            raise
        except GroupFailed as failed:
            self.report.summary.retries += failed.retries
            self._to_clean += failed.new_keys
            self._reject(planned, group_failed(planned.item, failed.failures, planned.where))
        except Exception as exc:
            self._to_clean += state.new_keys if state is not None else []
            self._to_clean += getattr(exc, "new_keys", [])  # from a storage worker
            self._reject(planned, from_exception(planned.item, exc, planned.where))

    async def _lead_or_follow(self, planned: Planned) -> GroupState:
        """Store the group; the first one alone, the others once it is stored (or failed), or
        at the latest after a commit interval (a first group retrying a slow or failing upload
        must not hold the run back)."""
        if self._lead is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._lead.wait(), self.settings.commit_interval_s)
            return await self._store(planned)
        self._lead = asyncio.Event()
        try:
            return await self._store(planned)
        finally:
            self._lead.set()

    def _to_committer(self, planned: Planned, state: GroupState) -> None:
        row = frame_row(planned.item, planned.doc)
        self.committer.put(
            Commit(planned.item, row, planned.frames, state, planned.where, planned.position)
        )

    def _reject(self, planned: Planned, records: list[RejectedFrame]) -> None:
        self.report.reject(records, planned.item, planned.position)
        self._slots.release()
        log.info(
            "group rejected",
            extra={
                "group": records[0].group_id,
                "frame": records[0].frame_name,
                "error": records[0].message,
            },
        )
        self._notify()

    # ------------------------------------------------------------------ commit outcomes

    def _committed(self, batch: list[Commit], result: WriteResult) -> None:
        summary = self.report.summary
        summary.groups_committed += len(batch) - result.unchanged
        summary.groups_unchanged += result.unchanged
        for c in batch:
            summary.frames_registered += c.frames
            summary.frames_uploaded += c.state.uploaded_frames
            summary.frames_by_reference += c.frames - c.state.uploaded_frames
            summary.objects_uploaded += c.state.objects_uploaded
            summary.objects_already_stored += c.state.objects_existing
            summary.bytes_uploaded += c.state.bytes
            summary.retries += c.state.retries
            self._slots.release()
        self._notify()

    async def _refused(self, commit: Commit, error: CatalogError) -> None:
        self._to_clean += commit.state.new_keys
        planned = Planned(commit.item, commit.where, commit.position)
        self._reject(planned, from_exception(commit.item, error, commit.where))

    def _notify(self) -> None:
        if self.progress is not None:
            self.progress(self.report)
