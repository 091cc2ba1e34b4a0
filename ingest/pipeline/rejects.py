"""Rejection records: the one place that turns a failed group into report lines."""

from __future__ import annotations

from typing import Any

from ..documents import FrameDocument
from ..frames import FrameGroup, SingleFrame
from ..report import RejectedFrame


class FrameFailed(Exception):
    """One frame of a group failed; ``attempts`` counts its tries (0: never tried)."""

    def __init__(self, name: str | None, source: str | None, error: BaseException, attempts: int):
        super().__init__(str(error))
        self.name, self.source, self.error, self.attempts = name, source, error, attempts


def error_class(exc: BaseException) -> str:
    remote = getattr(exc, "error_class", None)  # raised in a storage worker
    if isinstance(remote, str):
        return remote
    cause = getattr(exc, "cause_name", None)
    return f"{type(exc).__name__}({cause})" if cause else type(exc).__name__


def error_text(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 2000 else text[:2000] + "..."


def _frames(item: Any) -> list[tuple[str | None, str | None]]:
    """(frame name, source) of every frame of ``item``; one anonymous entry otherwise."""
    if isinstance(item, FrameGroup) and len(item):
        return [(name, frame.source) for name, frame in item.items()]
    if isinstance(item, SingleFrame):
        return [(None, item.source)]
    if isinstance(item, FrameDocument):
        return [(name, frame.get("source")) for name, frame in item.frames()]
    return [(None, None)]


def group_failed(item: Any, failures: list[FrameFailed], where: str | None) -> list[RejectedFrame]:
    """Records for a group one or more of whose frames failed: the failed frames with their
    error, every sibling as ``GroupRejected``."""
    group_id = getattr(item, "id", None)
    records = [
        RejectedFrame(
            group_id, f.name, f.source, error_class(f.error), error_text(f.error), f.attempts, where
        )
        for f in failures
    ]
    failed = {f.name for f in failures}
    first = failures[0].name
    records += [
        RejectedFrame(
            group_id, name, source, "GroupRejected", f"group rejected: {first} failed", 0, where
        )
        for name, source in _frames(item)
        if name is not None and name not in failed
    ]
    return records


def whole_item(
    item: Any, cls: str, message: str, where: str | None, attempts: int = 0
) -> list[RejectedFrame]:
    """Every frame of ``item`` rejected for one reason (interrupted, invalid, unexpected)."""
    group_id = (
        getattr(item, "id", None)
        if isinstance(item, FrameGroup | SingleFrame | FrameDocument)
        else None
    )
    return [
        RejectedFrame(group_id, name, source, cls, message, attempts, where)
        for name, source in _frames(item)
    ]


def from_exception(item: Any, exc: BaseException, where: str | None) -> list[RejectedFrame]:
    """Any exception raised while planning, storing or preparing a group: its records."""
    if isinstance(exc, FrameFailed):
        return group_failed(item, [exc], where)
    return whole_item(item, error_class(exc), error_text(exc), where)


INTERRUPTED = "interrupted before the group was stored; re-run the import to register it"
