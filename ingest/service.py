"""The application: one object that owns the catalog, the store and the remote fetcher.

Every use case lives here once; the library facade (``api``), the CLI (``commands``), the
daemon and the web app each call it and nothing below it::

    async with Ingest(settings) as app:
        version = await app.resolve_version("Drive", "v1", create=True)
        report = await app.import_items(version.id, frames)

The store and the fetcher are opened on first use and shared by every run of the app.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from typing import Any

import orjson

from .cache import SourceCache, open_local
from .catalog import Catalog, DatasetRecord, FrameCursor, StoredFrame, open_catalog
from .chunked import ChunkedImports
from .config import Settings, load_settings
from .errors import (
    StorageError,
    ValidationError,
)
from .frames import FrameGroup, Item, SingleFrame, item_from_doc
from .interchange import Interchange
from .pipeline import Input, PipelineRun, frame_row
from .pipeline.workers import WorkerPool
from .querycases import Queries
from .remote import RemoteFetcher
from .report import Report
from .sources import document_uris
from .storage.base import Storage
from .storage.factory import open_configured_storage
from .usecases import DatasetsAndVersions


def item_from_stored(stored: StoredFrame) -> Item:
    item = item_from_doc(orjson.loads(stored.document), f"frame {stored.id}")
    item.id = stored.id
    return item


def _run_changes(settings: Settings, destination: str | None, root: str | None) -> dict[str, Any]:
    """The settings one ``import_items`` call changes (``auto_upload_destination``, a store
    URL or a folder; ``local_dataset_root_path``)."""
    changes: dict[str, Any] = {}
    if destination:
        url = destination if "://" in destination else f"file://{os.path.abspath(destination)}"
        if url.rstrip("/") != settings.storage_url.rstrip("/"):
            changes["storage_url"] = url
    if root and os.path.abspath(root) != settings.upload_root:
        changes["upload_root"] = os.path.abspath(root)
    return changes


class Ingest(DatasetsAndVersions, Queries, Interchange, ChunkedImports):
    """The application object; open it with ``async with Ingest(settings) as app``."""

    def __init__(self, settings: Settings | None = None, *, store: Storage | None = None) -> None:
        """``store``: an opened store to use instead of the configured one (the caller's)."""
        self.settings = settings or load_settings()
        self._catalog: Catalog | None = None
        self._store: Storage | None = store
        self._owns_store = store is None
        self._owns_catalog = True
        self._pool: WorkerPool | None = None
        self._fetcher: RemoteFetcher | None = None
        self._lock = asyncio.Lock()
        self._runs: set[PipelineRun] = set()
        self._cache: SourceCache | None = None

    # ------------------------------------------------------------------ lifecycle

    async def open(self) -> Ingest:
        if self._catalog is None:
            self._catalog = await open_catalog(self.settings.database_url)
        return self

    async def __aenter__(self) -> Ingest:
        return await self.open()

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        fetcher, store, catalog, pool = self._fetcher, self._store, self._catalog, self._pool
        self._fetcher = self._catalog = self._pool = None
        if pool is not None:
            await pool.close()
        if self._owns_store:
            self._store = None
        if fetcher is not None:
            await fetcher.close()
        if store is not None and self._owns_store:
            await store.close()
        if catalog is not None and self._owns_catalog:
            await catalog.close()

    def derive(self, **changes: Any) -> Ingest:
        """This application with other run settings (allowed roots, private addresses...),
        sharing its catalog; closing the derived one leaves the catalog open."""
        if "database_url" in changes:
            raise ValueError("a derived application shares its parent's catalog")
        other = Ingest(self.settings.replace(**changes))
        other._catalog, other._owns_catalog = self.catalog, False
        return other

    @property
    def catalog(self) -> Catalog:
        if self._catalog is None:
            raise RuntimeError("the application is not open: use `async with Ingest(...)`")
        return self._catalog

    async def store(self) -> Storage:
        """The configured store, opened once (its pool sized to ``concurrency``)."""
        async with self._lock:
            if self._store is None:
                self._store = await open_configured_storage(self.settings)
            return self._store

    def workers(self) -> WorkerPool | None:
        """The storage worker processes (started by a big run, kept for the next ones); None
        with one worker (``workers = 1``, or auto on an S3 store or one core) or a store
        handed in by the caller."""
        count = self.settings.workers
        if count == 0:  # auto: measured, copies to a local store gain from more cores; an S3
            # client mostly waits, and a second process only adds its start-up and pool
            local = self.settings.storage_url.startswith("file:")
            count = (os.cpu_count() or 1) if local else 1
        if count <= 1 or not self._owns_store:
            return None
        if self._pool is None:
            self._pool = WorkerPool(self.settings, count)
        return self._pool

    async def fetcher(self) -> RemoteFetcher:
        async with self._lock:
            if self._fetcher is None:
                self._fetcher = RemoteFetcher(self.settings)
            return self._fetcher

    async def check_storage(self) -> None:
        """Raise StorageError when the store cannot be reached (a probe read)."""
        store = await self.store()
        async with asyncio.timeout(min(self.settings.upload_timeout_s, 20)):
            await store.stat(".ingest-probe")

    async def readiness(self) -> dict[str, str]:
        """``{"catalog": "ok" | error, "storage": "ok" | error}`` for health checks."""
        out = {}
        try:
            await self.catalog.list_datasets()
            out["catalog"] = "ok"
        except Exception as exc:
            out["catalog"] = f"{type(exc).__name__}: {exc}"
        try:
            await self.check_storage()
            out["storage"] = "ok"
        except (StorageError, TimeoutError) as exc:
            out["storage"] = f"{type(exc).__name__}: {exc}"
        return out

    def in_flight(self) -> tuple[int, int]:
        """(groups, frame uploads) in flight over the app's running imports."""
        return (
            sum(r.groups_in_flight for r in self._runs),
            sum(r.uploads_in_flight for r in self._runs),
        )

    # ------------------------------------------------------------------ frames

    async def import_items(
        self,
        version_id: str,
        items: Input,
        *,
        upload_retries: int | None = None,
        copy_remote: bool = False,
        progress: Callable[[Report], None] | None = None,
        on_upload: Callable[[float, bool], None] | None = None,
        on_start: Callable[[Report], None] | None = None,
        destination: str | None = None,
        local_root: str | None = None,
    ) -> Report:
        """Run the pipeline over ``items`` into the Draft ``version_id``; the report.
        ``on_start(report)`` gets the live report first (an interrupted caller can print it).
        ``destination``: upload local files to this store URL (or folder) instead of the
        configured one; ``local_root``: files under it keep their folders in object keys."""
        changes = _run_changes(self.settings, destination, local_root)
        if changes:  # one run with other store settings, on this app's catalog
            other = self.derive(**changes)
            try:
                return await other.import_items(
                    version_id, items, upload_retries=upload_retries, copy_remote=copy_remote,
                    progress=progress, on_upload=on_upload, on_start=on_start,
                )  # fmt: skip
            finally:
                await other.aclose()
        (await self.catalog.get_version(id=version_id)).require_draft()
        run = PipelineRun(
            catalog=self.catalog,
            version_id=version_id,
            settings=self.settings,
            open_store=self.store,
            open_fetcher=self.fetcher,
            upload_retries=upload_retries,
            copy_remote=copy_remote,
            progress=progress,
            on_upload=on_upload,
            pool=self.workers(),
        )
        if on_start is not None:
            on_start(run.report)
        self._runs.add(run)
        try:
            return await run.run(items)
        finally:
            self._runs.discard(run)

    async def update_frames(self, version_id: str, items: Iterable[Item]) -> None:
        """Replace registered frames (matched by ``id``) with these; all or none."""
        rows = []
        for item in items:
            if not isinstance(item, FrameGroup | SingleFrame):
                raise ValidationError("frames", f"expected FrameGroup or SingleFrame, got {item!r}")
            if item.id is None:
                raise ValidationError(
                    "frame.id", "update_frames needs registered frames (with an id)"
                )
            rows.append(frame_row(item, item.to_doc()))
        await self.catalog.write_frames(version_id, rows, must_exist=True)

    async def delete_frames(self, version_id: str, items: Iterable[Item | str]) -> int:
        """Remove frames (objects with an id, or ids) from a version; all or none."""
        ids = []
        for item in items:
            frame_id = item if isinstance(item, str) else getattr(item, "id", None)
            if not frame_id:
                raise ValidationError("frame.id", f"cannot delete a frame without id: {item!r}")
            ids.append(frame_id)
        return await self.catalog.delete_frames(version_id, ids)

    async def get_frame(self, version_id: str, frame_id: str) -> Item:
        return item_from_stored(await self.catalog.get_frame(version_id, frame_id))

    async def get_frame_document(self, version_id: str, frame_id: str) -> bytes:
        return (await self.catalog.get_frame(version_id, frame_id)).document

    async def count_frames(self, version_id: str) -> int:
        return await self.catalog.count_frames(version_id)

    async def page_frames(
        self,
        version_id: str,
        *,
        context_id: str | None = None,
        after: FrameCursor | None = None,
        page_size: int = 1000,
    ) -> list[tuple[FrameCursor, StoredFrame]]:
        """One keyset page of a version's frames in (context_id, timestamp, id) order."""
        page = []
        async for entry in self.catalog.iter_frames(
            version_id, context_id=context_id, after=after, page_size=page_size
        ):
            page.append(entry)
            if len(page) == page_size:
                break
        return page

    def iter_frames(
        self, version_id: str, *, context_id: str | None = None, page_size: int = 1000
    ) -> AsyncIterator[tuple[FrameCursor, StoredFrame]]:
        """A version's frames in (context_id, timestamp, id) order, fetched page by page."""
        return self.catalog.iter_frames(version_id, context_id=context_id, page_size=page_size)

    def iter_all_documents(self) -> AsyncIterator[bytes]:
        """Every frame document of every version (for ``gc``)."""
        return self.catalog.iter_all_documents()

    async def local_copy(self, uri: str) -> str:
        """A local file with the content of ``uri``: a local source itself, else a download
        into the cache (``cache.py``) from the configured store or by reference."""
        if self._cache is None:
            s = self.settings
            self._cache = SourceCache(s.cache_dir, s.cache_max_mb * 1024 * 1024)
        return await open_local(uri, self._cache, await self.fetcher())

    async def delete_dataset(
        self,
        name: str | None = None,
        id: str | None = None,
        *,
        delete_all_versions: bool = False,
        force: bool = False,
        delete_sources: bool = False,
    ) -> DatasetRecord:
        """Delete a dataset; ``delete_sources``: also the objects of the configured store its
        frames referenced that no other frame references (by-reference URIs are kept)."""
        if not delete_sources:
            return await super().delete_dataset(
                name, id, delete_all_versions=delete_all_versions, force=force
            )
        record = await self.catalog.get_dataset(name=name, id=id)
        store = await self.store()
        mine: dict[str, str] = {}  # URI -> key of the objects of the store its frames name
        for version in await self.catalog.list_versions(record.id):
            async for _, stored in self.catalog.iter_frames(version.id):
                for uri in document_uris(orjson.loads(stored.document)):
                    if (key := store.key_of(uri)) is not None:
                        mine[uri] = key
        await super().delete_dataset(
            None, record.id, delete_all_versions=delete_all_versions, force=force
        )
        async for document in self.catalog.iter_all_documents():  # what others still name
            if not mine:
                break
            for uri in document_uris(orjson.loads(document)):
                mine.pop(uri, None)
        for key in mine.values():
            await store.delete(key)
        await self.catalog.forget_objects(sorted(mine))
        return record

    async def object_sizes(self, uris: Sequence[str]) -> dict[str, int]:
        return await self.catalog.object_sizes(uris)

    async def forget_objects(self, uris: Sequence[str]) -> None:
        await self.catalog.forget_objects(uris)
