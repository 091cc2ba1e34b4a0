"""Chunked imports, part of the application object (``service.Ingest``): the manifest, chunk
and finalize functions. Whatever runs them (procrastinate's workers on PostgreSQL,
``queue/local.py`` in-process on SQLite) calls these and nothing else: one code path for a chunk.

- ``plan_import``: cut a manifest into chunks of ``chunk_groups`` groups and record them;
- ``run_chunk``: an ordinary pipeline run over one chunk (retries, atomic groups, rejection
  records, steady commits), its outcome recorded in the chunk table; it stops between groups
  when the chunk is cancelled or taken over (the table says so; polled every second);
- ``finalize_import``: one merged summary for the whole manifest, once; ``import_report``
  the merged report (summary and every chunk's rejections).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import shutil
import tempfile
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from .catalog import Catalog
from .catalog.chunks import (
    CANCELLED,
    DONE,
    FAILED,
    PENDING,
    RUNNING,
    ChunkRecord,
    ChunkTable,
    ImportRecord,
)
from .chunking import content_hash, plan_spans
from .config import Settings
from .manifest import Manifest, ManifestError, Span
from .report import RejectedFrame, Report, Summary

#: how often a running chunk checks that it is still its worker's (cancel, takeover)
CHUNK_POLL_S = 1.0


def import_id(manifest_path: str, version_id: str) -> str:
    """An import's identity: the manifest's content (SHA-256) into one version. The same bytes
    queued twice are one import; new content under the same name is a new one."""
    return f"{content_hash(manifest_path)[:40]}-{version_id}"


async def fresh_import_id(table: ChunkTable, manifest_path: str, version_id: str) -> str:
    """The import of this content into this version that is still running, else a new one
    (the same content imported again after its import ended is an import again)."""
    base = await asyncio.to_thread(import_id, manifest_path, version_id)
    ident, generation = base, 1
    while (known := await table.get_import(ident)) is not None and known.state != RUNNING:
        generation += 1
        ident = f"{base}.{generation}"
    return ident


def merge_summaries(summaries: list[dict[str, Any]], elapsed_s: float) -> Summary:
    total = Summary()
    for summary in summaries:
        for field in dataclasses.fields(Summary):
            if field.name != "elapsed_s":
                value = getattr(total, field.name) + summary.get(field.name, 0)
                setattr(total, field.name, value)
    total.elapsed_s = round(elapsed_s, 6)
    return total


class ChunkedImports:
    settings: Settings

    @property
    def catalog(self) -> Catalog:
        raise NotImplementedError  # the application's

    import_items: Callable[..., Awaitable[Report]]  # the application's

    def chunk_table(self) -> ChunkTable:
        return self.catalog.chunk_table()

    async def running_imports(self, version_id: str) -> list[ImportRecord]:
        """The chunked imports into this version that have not ended (the web's progress)."""
        records = await self.chunk_table().list_imports()
        return [r for r in records if r.version_id == version_id and r.state == RUNNING]

    async def import_report(self, ident: str) -> Report:
        """An ended import as one report: the merged summary and every chunk's rejections."""
        table = self.chunk_table()
        record = await table.get_import(ident)
        report = Report()
        for field, value in ((record.summary if record else None) or {}).items():
            setattr(report.summary, field, value)
        report.rejected = [
            RejectedFrame(**orjson.loads(line)) for line in await table.rejected(ident)
        ]
        return report

    async def wait_import(self, ident: str, poll_s: float = 0.5) -> ImportRecord:
        """Wait until the import has ended (its chunks run by any worker)."""
        while (record := await self.chunk_table().get_import(ident)) is not None:
            if record.state != RUNNING:
                return record
            await asyncio.sleep(poll_s)
        raise ValueError(f"no import {ident} in the chunk table")

    async def new_import_id(self, manifest_path: str, version_id: str) -> str:
        return await fresh_import_id(self.chunk_table(), manifest_path, version_id)

    async def register_import(
        self,
        ident: str,
        manifest_path: str,
        version_id: str,
        *,
        fmt: str | None = None,
        origin: dict[str, Any] | None = None,
        location: str | None = None,
    ) -> str:
        """Record an import (no chunks yet: its manifest job cuts them) so that it is listed
        at once; returns the manifest's format. ``origin``: the daemon job that ends it;
        ``location``: where chunks read the manifest (default its path; an ``s3://`` URL for
        an S3 inbox's, read by ranged GETs: ``rangeread.py``)."""
        (await self.catalog.get_version(id=version_id)).require_draft()
        manifest = Manifest(manifest_path, fmt)
        manifest.close()
        table = self.chunk_table()
        where = location or manifest_path
        await table.create_import(ident, where, manifest.format, version_id, origin)
        return manifest.format

    async def plan_import(
        self,
        manifest_path: str,
        version_id: str,
        *,
        fmt: str | None = None,
        known_id: str | None = None,
        origin: dict[str, Any] | None = None,
        location: str | None = None,
    ) -> ImportRecord:
        """The manifest job: record the import and cut it into chunks (a second call, for
        the same content and version, finds them and changes nothing; a cancelled import
        is not cut)."""
        path = os.path.abspath(manifest_path)  # noqa: ASYNC240 - no I/O
        if known_id is None:
            known_id = await asyncio.to_thread(import_id, path, version_id)
        ident = known_id
        fmt = await self.register_import(
            ident, path, version_id, fmt=fmt, origin=origin, location=location
        )
        table = self.chunk_table()
        record = await table.get_import(ident)
        assert record is not None
        if record.chunks == 0 and record.state == RUNNING:
            manifest = Manifest(path, fmt)
            try:
                spans = await asyncio.to_thread(plan_spans, manifest, self.settings.chunk_groups)
            finally:
                manifest.close()
            await table.add_chunks(ident, [(s.start, s.end, s.first_line) for s in spans])
            record = await table.get_import(ident)
            assert record is not None
        return record

    async def run_chunk(
        self,
        ident: str,
        idx: int,
        worker: str,
        *,
        progress: Callable[[Report], None] | None = None,
        on_upload: Callable[[float, bool], None] | None = None,
    ) -> tuple[str | None, bool]:
        """Run one chunk: (its state, whether it was the import's last chunk to end, then to
        be finalized). The state is done or failed, PENDING when it failed with attempts
        left (the caller tries again), None when there was nothing to do (it had ended: a job
        run twice) or it was cancelled or taken over while it ran. CancelledError (SIGTERM)
        hands it back as pending."""
        table = self.chunk_table()
        record = await table.get_import(ident)
        chunk = await table.start_chunk(ident, idx, worker) if record else None
        if record is None or chunk is None:
            return None, False
        task = asyncio.create_task(self._chunk_report(record, chunk, progress, on_upload))
        watch = asyncio.create_task(self._watch_chunk(table, chunk, worker, task))
        try:
            report = await task
        except asyncio.CancelledError:
            task.cancel()
            await asyncio.wait({task})  # its in-flight groups commit within the grace period
            await asyncio.shield(table.end_chunk(ident, idx, worker, PENDING))
            if watch.done() and watch.result():  # cancelled or taken over: stopped, not failed
                return None, False
            raise
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            # a manifest that cannot be read (replaced in S3 since it was cut) stays so
            last_try = (
                isinstance(exc, ManifestError) or chunk.attempts >= self.settings.chunk_attempts
            )
            state = FAILED if last_try else PENDING
            ended = await table.end_chunk(ident, idx, worker, state, error=error)
            return (None, False) if ended is None else (state, ended)
        finally:
            watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watch
        rejected = b"".join(orjson.dumps(r.to_dict()) + b"\n" for r in report.rejected)
        summary = report.summary.to_dict()
        last = await table.end_chunk(ident, idx, worker, DONE, summary=summary, rejected=rejected)
        # cancelled or taken over while its last groups committed: not this worker's to count
        return (None, False) if last is None else (DONE, last)

    async def _chunk_report(
        self,
        record: ImportRecord,
        chunk: ChunkRecord,
        progress: Callable[[Report], None] | None,
        on_upload: Callable[[float, bool], None] | None,
    ) -> Report:
        span = Span(chunk.start, chunk.end, chunk.first_line)
        folder = None
        try:
            if record.manifest.startswith("s3://"):  # its range only, by a ranged GET
                from .rangeread import fetch_range

                folder = await asyncio.to_thread(tempfile.mkdtemp, prefix="ingest-chunk-")
                path = os.path.join(folder, os.path.basename(record.manifest))
                etag = (record.origin or {}).get("etag")
                await fetch_range(self.settings, record.manifest, span, etag, path)
                manifest = Manifest(path, record.format, span, name=record.manifest)
            else:
                manifest = Manifest(record.manifest, record.format, span)
            try:
                return await self.import_items(
                    record.version_id, manifest, progress=progress, on_upload=on_upload
                )
            finally:
                manifest.close()
        finally:
            if folder is not None:
                await asyncio.to_thread(shutil.rmtree, folder, True)

    async def _watch_chunk(
        self, table: ChunkTable, chunk: ChunkRecord, worker: str, task: asyncio.Task[Report]
    ) -> bool:
        """Cancel ``task`` (it stops between groups) once the chunk is no longer this
        worker's to run; True then."""
        while True:
            await asyncio.sleep(CHUNK_POLL_S)
            state, owner = await table.owner_of(chunk.import_id, chunk.idx)
            if state != RUNNING or owner != worker:
                task.cancel()
                return True

    async def finalize_import(self, ident: str) -> ImportRecord:
        """Merge the chunks' outcomes into the import's summary and state (its rejections
        stay with the chunks: ``import_report``); done once, however often it is called."""
        table = self.chunk_table()
        record = await table.get_import(ident)
        if record is None:
            raise ValueError(f"no import {ident} in the chunk table")
        if record.state != RUNNING:
            return record
        chunks = await table.chunks(ident)
        summary = merge_summaries(
            [c.summary for c in chunks if c.summary], time.time() - record.created_at
        )
        failed = [c for c in chunks if c.state == FAILED]
        state = FAILED if failed else CANCELLED if record.counts[CANCELLED] else DONE
        error = "; ".join(f"chunk {c.idx}: {c.error}" for c in failed) or None
        await table.end_import(ident, state, summary.to_dict(), error)
        final = await table.get_import(ident)
        assert final is not None
        return final
