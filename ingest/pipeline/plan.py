"""Planning: validate an input entry, give it its id, list the frames that need storage work.

Nothing here does I/O; every error is an exception the run's boundary turns into rejections.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson

from ..catalog import FrameRow
from ..documents import FrameDocument
from ..errors import PermanentStorageError, ValidationError
from ..frames import (
    FrameGroup,
    Item,
    SingleFrame,
    ensure_id,
    item_context_id,
    item_kind,
    item_timestamp,
)
from ..sources import LOCAL, classify, is_remote, object_slots
from .rejects import FrameFailed

Work = tuple[str | None, dict[str, Any]]  # (frame name, frame document to fill in)


@dataclass
class Planned:
    """An admitted item: its document, the frames to store, where it came from."""

    item: Any
    where: str | None
    position: int  # in the input: rejected items are returned in input order
    doc: dict[str, Any] | None = None
    work: list[Work] | None = None
    frames: int = 0  # frames of the item


def plan(planned: Planned, copy_remote: bool) -> None:
    """Fill ``planned.doc``, ``.work`` and ``.frames``; raise ValidationError / FrameFailed."""
    item = planned.item
    if isinstance(item, FrameDocument):  # decoded and validated by the reader already
        if item.by_reference and not copy_remote:  # a decoder process checked every source
            planned.doc, planned.work, planned.frames = None, [], item.frame_count
            return
        doc, group = item.document(), item.kind == "group"
        if _work(_frames(doc, group), copy_remote):  # stored URIs go in a copy: the item
            doc = orjson.loads(orjson.dumps(doc))  # keeps its sources for the report
    else:
        if not isinstance(item, FrameGroup | SingleFrame):
            raise ValidationError(
                "frame", f"expected a FrameGroup or SingleFrame, got {type(item).__name__}"
            )
        if isinstance(item, FrameGroup) and not len(item):
            raise ValidationError("frames", "a FrameGroup needs at least one frame")
        ensure_id(item)
        doc, group = item.to_doc(), isinstance(item, FrameGroup)
    frames = _frames(doc, group)
    planned.doc, planned.work, planned.frames = doc, _work(frames, copy_remote), len(frames)


def _frames(doc: dict[str, Any], group: bool) -> list[Work]:
    return list(doc["frames"].items()) if group else [(None, doc)]


def _work(frames: Iterable[Work], copy_remote: bool) -> list[Work]:
    work = []
    for name, frame_doc in frames:
        try:
            if needs_storage(frame_doc, copy_remote):
                work.append((name, frame_doc))
        except PermanentStorageError as exc:  # an unsupported scheme: this frame's fault
            raise FrameFailed(name, frame_doc.get("source"), exc, 0) from exc
    return work


def needs_storage(frame_doc: dict[str, Any], copy_remote: bool) -> bool:
    for _, _, uri in object_slots(frame_doc):
        if is_remote(uri) and not copy_remote:
            continue
        if copy_remote or classify(uri).kind == LOCAL:  # raises on a bad scheme
            return True
    return False


def frame_row(item: Item | FrameDocument, doc: dict[str, Any] | None) -> FrameRow:
    """The catalog row of ``item`` whose final document (stored sources) is ``doc``; None:
    the document a decoder process serialised, as it is."""
    if item.id is None:
        raise ValidationError("frame.id", "is missing")
    if isinstance(item, FrameDocument):
        if doc is not None:
            return FrameRow(item.id, item.kind, item.context_id, item.timestamp, orjson.dumps(doc))
        assert item.encoded is not None
        ctx, ts = item.context_id, item.timestamp
        return FrameRow(item.id, item.kind, ctx, ts, item.encoded, item.rev)
    assert doc is not None
    return FrameRow(
        item.id, item_kind(item), item_context_id(item), item_timestamp(item), orjson.dumps(doc)
    )
