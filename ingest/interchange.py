"""Format import and export use cases, part of the application object (``service.Ingest``).

``import_format`` runs a format reader's entries through the same pipeline as ``import_items``
and then merges the label set it met into the version metadata (``label_set``: COCO's
categories, ids kept). ``export_format`` feeds a version's documents to a format writer and
copies the images a writer needs beside its files (YOLO).
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from .catalog import StoredFrame, VersionRecord
from .formats import FormatReader, open_writer
from .report import Report
from .sources import LOCAL, classify

if TYPE_CHECKING:
    from .storage.base import Storage


@dataclass
class Exported:
    files: list[str]  # what was written
    frames: int  # SingleFrames written (those of every FrameGroup)
    losses: list[str]  # what the format could not hold, one line per kind


class Interchange:
    if TYPE_CHECKING:  # the application's (service.Ingest, usecases.DatasetsAndVersions)
        import_items: Callable[..., Awaitable[Report]]
        get_version: Callable[[str], Awaitable[VersionRecord]]
        set_version_metadata: Callable[[str, dict[str, Any]], Awaitable[VersionRecord]]
        iter_frames: Callable[[str], AsyncIterator[tuple[Any, StoredFrame]]]
        store: Callable[[], Awaitable[Storage]]

    async def import_format(self, version_id: str, reader: FormatReader, **run: Any) -> Report:
        """Import ``reader``'s entries (``run``: ``import_items``' options), then add the label
        set it met to the version's ``label_set`` metadata."""
        report = await self.import_items(version_id, reader.entries(), **run)
        if reader.labels.categories:
            record = await self.get_version(version_id)
            merged = reader.labels.merged_into(record.metadata.get("label_set", []))
            if merged != record.metadata.get("label_set"):
                await self.set_version_metadata(
                    version_id, {**record.metadata, "label_set": merged}
                )
        return report

    async def export_format(
        self, version_id: str, fmt: str, out_dir: str, *, per_frame_name: bool = False
    ) -> Exported:
        """Write the version in ``fmt`` into ``out_dir``."""
        record = await self.get_version(version_id)
        writer = open_writer(fmt, record.metadata.get("label_set", []), per_frame_name)
        count = 0
        async for _, stored in self.iter_frames(version_id):
            doc = orjson.loads(stored.document)
            writer.add(doc)
            frames = doc.get("frames")  # a FrameGroup's SingleFrames, else a lone SingleFrame
            count += len(frames) if isinstance(frames, dict) else 1
        files = writer.write(out_dir)
        for uri, dest in getattr(writer, "copies", []):
            if not await self._copy_object(uri, dest):
                writer.losses.add("images outside the store and the local disk")
        return Exported(files, count, writer.losses.lines())

    async def _copy_object(self, uri: str, dest: str) -> bool:
        """``uri``'s bytes to the local path ``dest``: from the store, or a local file."""
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        store = await self.store()
        key = store.key_of(uri)
        if key is not None:
            data = await store.read(key)
            with open(dest, "wb") as fh:  # noqa: ASYNC230 - a local export file
                fh.write(data)
            return True
        source = classify(uri)
        if source.kind != LOCAL or not source.path:
            return False
        try:
            await asyncio.to_thread(shutil.copyfile, source.path, dest)
        except OSError:  # gone, or not a file
            return False
        return True
