"""Storing one group: every frame's objects, first error wins, cleanups already registered.

Like s3transfer's futures: the group's frames run as sibling tasks; the first failure cancels
the others, and ``GroupFailed`` carries every frame's failure and the keys the group stored
(registered before each PUT) to the run's boundary, which has them removed.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from ..errors import IngestError
from ..sources import LOCAL, classify, guess_content_type, object_key, object_slots, remote_key
from .localfile import OpenedFile, open_source
from .lookups import KnownObjects
from .plan import Work
from .rejects import FrameFailed
from .transfer import GroupState, ObjectFailed, Transfers


@dataclass(frozen=True)
class _Target:
    """Where one object of the group goes, worked out once per group."""

    key: str | None  # None: already in the store (an export imported back)
    opened: OpenedFile | None = None  # a local source, opened and checked


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
        catalog: KnownObjects,
        *,
        retries: int,
        copy_remote: bool,
        roots: tuple[str, ...],
        upload_root: str = "",
    ) -> None:
        self.transfers = transfers
        self.upload_root = upload_root
        self.catalog = catalog
        self.retries = retries
        self.copy_remote = copy_remote
        self.roots = roots

    async def store(self, work: list[Work], state: GroupState | None = None) -> GroupState:
        """Store the objects of ``work`` (frame documents are filled in with stored URIs).
        ``state``: the caller's, so it knows what was stored even if this is cancelled."""
        state = GroupState() if state is None else state
        try:
            targets = await self._targets(work, state)
            try:
                async with asyncio.TaskGroup() as frames:
                    for name, frame_doc in work:
                        frames.create_task(self._frame(name, frame_doc, targets, state))
            except BaseExceptionGroup as group:
                failures = [
                    e if isinstance(e, FrameFailed) else FrameFailed(None, None, e, 1)
                    for e in group.exceptions
                ]
                raise GroupFailed(failures, state.retries, state.new_keys) from None
        finally:
            state.close()
        return state

    async def _targets(self, work: list[Work], state: GroupState) -> dict[str, _Target]:
        """Each object URI of the group that needs storage work -> its target: the local
        files opened (and checked, see ``localfile``) once, the keys derived once, and, in one
        query, the sizes of those an earlier run stored already (``state.known``)."""
        store = await self.transfers.open_store()
        targets: dict[str, _Target] = {}
        for name, frame_doc in work:
            for _, _, uri in object_slots(frame_doc):
                if uri in targets:
                    continue
                try:
                    source = classify(uri)
                    if source.kind != LOCAL and not self.copy_remote:
                        continue  # registered by reference
                    if store.key_of(uri) is not None:
                        targets[uri] = _Target(None)
                    elif source.kind == LOCAL:
                        path = source.path or ""
                        opened = state.opened.get(path)
                        if opened is None:
                            opened = state.opened[path] = open_source(path, self.roots)
                        key = object_key(path, opened.size, opened.mtime_ns, self.upload_root)
                        targets[uri] = _Target(key, opened)
                    else:
                        targets[uri] = _Target(remote_key(uri))
                except IngestError as exc:
                    raise GroupFailed([FrameFailed(name, uri, exc, 1)], 0) from exc
        keys = [t.key for t in targets.values() if t.key is not None]
        if keys:
            state.known = await self.catalog.object_sizes([store.uri(k) for k in keys])
        return targets

    async def _frame(
        self,
        name: str | None,
        frame_doc: dict[str, Any],
        targets: dict[str, _Target],
        state: GroupState,
    ) -> None:
        attempts_max = 0
        source = targets.get(frame_doc["source"])
        try:
            for field_name, mask_id, uri in object_slots(frame_doc):
                target = targets.get(uri)
                if target is None:
                    continue  # by reference
                stored, attempts = await self._object(uri, target, state)
                attempts_max = max(attempts_max, attempts)
                if mask_id is None:
                    frame_doc[field_name] = stored
                else:
                    frame_doc["masks"][mask_id] = stored
        except ObjectFailed as exc:
            raise FrameFailed(name, exc.uri, exc.error, exc.attempts) from exc.error
        except IngestError as exc:
            raise FrameFailed(name, frame_doc["source"], exc, max(attempts_max, 1)) from exc
        if source is not None and source.opened is not None:  # checked and opened: its
            fill_from_header(frame_doc, source.opened.fd, source.opened.path)  # header is safe
        state.uploaded_frames += 1

    async def _object(self, uri: str, target: _Target, state: GroupState) -> tuple[str, int]:
        if target.key is None:
            await self.transfers.check_stored(uri)
            return uri, 0
        return await self.transfers.store(uri, target.key, target.opened, state, self.retries)


def fill_from_header(frame_doc: dict[str, Any], fd: int, path: str) -> None:
    """Width, height (image header) and content type of a local source, where not given."""
    if frame_doc["width"] is None or frame_doc["height"] is None:
        import imagesize  # on first use: 11 ms of imports (urllib, http) a run may not need

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
