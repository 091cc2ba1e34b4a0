"""Storing one group: every frame's objects, first error wins, cleanups already registered.

Like s3transfer's futures: the group's frames run as sibling tasks; the first failure cancels
the others, and ``GroupFailed`` carries every frame's failure and the keys the group stored
(registered before each PUT) to the run's boundary, which has them removed.
"""

from __future__ import annotations

import asyncio
from typing import Any

import imagesize

from ..catalog import Catalog
from ..errors import IngestError
from ..sources import LOCAL, classify, guess_content_type, object_key, remote_key
from .localfile import open_source
from .plan import Work, uris_of
from .rejects import FrameFailed
from .transfer import GroupState, ObjectFailed, Transfers


class GroupFailed(Exception):
    def __init__(
        self, failures: list[FrameFailed], retries: int, new_keys: list[str] | None = None
    ) -> None:
        super().__init__(str(failures[0]))
        self.failures, self.retries, self.new_keys = failures, retries, new_keys or []


class GroupStorer:
    def __init__(
        self,
        transfers: Transfers,
        catalog: Catalog,
        *,
        retries: int,
        copy_remote: bool,
        roots: tuple[str, ...],
    ) -> None:
        self.transfers = transfers
        self.catalog = catalog
        self.retries = retries
        self.copy_remote = copy_remote
        self.roots = roots

    async def store(self, work: list[Work], state: GroupState | None = None) -> GroupState:
        """Store the objects of ``work`` (frame documents are filled in with stored URIs).
        ``state``: the caller's, so it knows what was stored even if this is cancelled."""
        state = GroupState() if state is None else state
        try:
            await self._open_and_look_up(work, state)
            try:
                async with asyncio.TaskGroup() as frames:
                    for name, frame_doc in work:
                        frames.create_task(self._frame(name, frame_doc, state))
            except BaseExceptionGroup as group:
                failures = [
                    e if isinstance(e, FrameFailed) else FrameFailed(None, None, e, 1)
                    for e in group.exceptions
                ]
                raise GroupFailed(failures, state.retries, state.new_keys) from None
        finally:
            state.close()
        return state

    async def _open_and_look_up(self, work: list[Work], state: GroupState) -> None:
        """Open the group's local files (checked once, see ``localfile``) and ask the catalog,
        in one query, which of the group's objects an earlier run stored already."""
        store = await self.transfers.open_store()
        uris = []
        for name, frame_doc in work:
            for uri in uris_of(frame_doc):
                try:
                    source = classify(uri)
                    if source.kind != LOCAL and not self.copy_remote:
                        continue
                    if store.key_of(uri) is not None:
                        continue  # in the store already: checked when the frame is stored
                    if source.kind == LOCAL:
                        path = source.path or ""
                        opened = state.opened.get(path)
                        if opened is None:
                            opened = state.opened[path] = open_source(path, self.roots)
                        key = object_key(path, opened.size, opened.mtime_ns)
                    else:
                        key = remote_key(uri)
                except IngestError as exc:
                    raise GroupFailed([FrameFailed(name, uri, exc, 1)], 0) from exc
                uris.append(store.uri(key))
        if uris:
            state.known = await self.catalog.object_sizes(uris)

    async def _frame(self, name: str | None, frame_doc: dict[str, Any], state: GroupState) -> None:
        attempts_max = 0
        source = classify(frame_doc["source"])
        try:
            for field_name, mask_id, uri in _slots(frame_doc):
                stored, attempts = await self._object(uri, state)
                attempts_max = max(attempts_max, attempts)
                if mask_id is None:
                    frame_doc[field_name] = stored
                else:
                    frame_doc["masks"][mask_id] = stored
        except ObjectFailed as exc:
            raise FrameFailed(name, exc.uri, exc.error, exc.attempts) from exc.error
        except IngestError as exc:
            raise FrameFailed(name, frame_doc["source"], exc, max(attempts_max, 1)) from exc
        opened = state.opened.get(source.path or "") if source.kind == LOCAL else None
        if opened is not None:  # checked and opened: its header can be read safely
            fill_from_header(frame_doc, opened.fd, opened.path)
        state.uploaded_frames += 1

    async def _object(self, uri: str, state: GroupState) -> tuple[str, int]:
        source = classify(uri)
        if source.kind != LOCAL and not self.copy_remote:
            return uri, 0
        store = await self.transfers.open_store()
        if store.key_of(uri) is not None:
            await self.transfers.check_stored(uri)
            return uri, 0
        if source.kind == LOCAL:
            opened = state.opened[source.path or ""]
            key = object_key(opened.path, opened.size, opened.mtime_ns)
            return await self.transfers.store(uri, key, opened, state, self.retries)
        return await self.transfers.store(uri, remote_key(uri), None, state, self.retries)


def _slots(frame_doc: dict[str, Any]) -> list[tuple[str, str | None, str]]:
    """(field, mask id, uri) of every object a frame document names."""
    slots: list[tuple[str, str | None, str]] = [("source", None, frame_doc["source"])]
    if frame_doc.get("preview_uri") is not None:
        slots.append(("preview_uri", None, frame_doc["preview_uri"]))
    slots += [("masks", mask_id, uri) for mask_id, uri in frame_doc.get("masks", {}).items()]
    return slots


def fill_from_header(frame_doc: dict[str, Any], fd: int, path: str) -> None:
    """Width, height (image header) and content type of a local source, where not given."""
    if frame_doc["width"] is None or frame_doc["height"] is None:
        try:
            with open(fd, "rb", closefd=False) as fh:  # the checked file, not the path
                fh.seek(0)
                width, height = imagesize.get(fh)
        except (OSError, ValueError):
            width = height = -1
        if int(width) > 0 and int(height) > 0:
            frame_doc["width"] = frame_doc["width"] or int(width)
            frame_doc["height"] = frame_doc["height"] or int(height)
    if frame_doc["content_type"] is None:
        frame_doc["content_type"] = guess_content_type(path)
