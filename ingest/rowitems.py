"""Rows (CSV, Parquet) and JSONL documents -> items, each with where it came from.

- ``admit``: an item whose id (explicit or derived) an earlier line of the same manifest used
  is a ``DuplicateId`` rejection naming that line (identical duplicates too); otherwise it is
  yielded as ``Located(item, "file:line")``.
- ``group_rows``: consecutive rows with one ``group_id`` form a FrameGroup; a bad row rejects
  its whole group; rows of a group_id seen earlier (not consecutive) are a rejected block
  (``NonConsecutiveGroup``), never merged or replaced.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from typing import Any

from .documents import FrameDocument
from .errors import ValidationError
from .frames import FrameGroup, Item, SingleFrame, ensure_id
from .idindex import IdIndex
from .limits import loads, printable
from .report import Located, RejectedFrame
from .rows import FRAME_COLUMNS, Row

_JSON_COLUMNS = ("metadata", "annotations", "masks", "group_metadata")
_INT_COLUMNS = ("width", "height")
_FLOAT_COLUMNS = ("timestamp", "group_timestamp")

Entry = Located | RejectedFrame | FrameDocument


def resolve_uri(uri: Any, base_dir: str) -> Any:
    """A relative local path made absolute against ``base_dir``; anything else as is."""
    if isinstance(uri, str) and uri and "://" not in uri and not os.path.isabs(uri):
        return os.path.normpath(os.path.join(base_dir, uri))
    return uri


def resolve_sources(doc: dict[str, Any], base_dir: str) -> None:
    """Make relative local paths of a document (sources, previews, masks) absolute, in place."""
    frames = doc.get("frames")
    targets = frames.values() if isinstance(frames, dict) else [doc]
    for frame in targets:
        if not isinstance(frame, dict):
            continue
        for field in ("source", "preview_uri"):
            if field in frame:
                frame[field] = resolve_uri(frame[field], base_dir)
        masks = frame.get("masks")
        if isinstance(masks, dict):
            for mask_id, uri in masks.items():
                masks[mask_id] = resolve_uri(uri, base_dir)
        elif isinstance(masks, list):
            frame["masks"] = [resolve_uri(uri, base_dir) for uri in masks]


def _cell(row: dict[str, Any], column: str) -> Any:
    value = row.get(column)
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            if column in _JSON_COLUMNS:
                return loads(value)
            if column in _INT_COLUMNS:
                return int(value)
            if column in _FLOAT_COLUMNS:
                return float(value)
        except ValueError as exc:  # orjson's JSONDecodeError is a ValueError
            kind = "JSON" if column in _JSON_COLUMNS else "a number"
            shown = printable(value[:80]) + ("..." if len(value) > 80 else "")  # type: ignore[operator]
            raise ValidationError(column, f"must be {kind}, got {shown!r} ({exc})") from None
    return value


def _frame_from_row(row: dict[str, Any], base_dir: str) -> SingleFrame:
    doc = {key: _cell(row, key) for key in FRAME_COLUMNS}
    doc = {k: v for k, v in doc.items() if v is not None}
    resolve_sources(doc, base_dir)
    if "source" not in doc:
        raise ValidationError("source", "is missing")
    return SingleFrame.from_doc(doc, "row")


def _text(value: Any) -> str | None:
    return printable(value) if isinstance(value, str) and value else None


def _duplicates(
    item_id: str,
    derived: bool,
    first: str,
    frames: Iterable[tuple[str | None, Any]],
    where: str | None,
) -> Iterator[RejectedFrame]:
    """One ``DuplicateId`` rejection per (frame name, source) of an item whose id the line
    ``first`` used already."""
    shown = printable(item_id)
    why = " (derived from context, timestamp and sources: the same frames)" if derived else ""
    message = f"duplicate id {shown!r}{why}: first at {first}; this one is rejected"
    for frame_name, source in frames:
        yield RejectedFrame(shown, frame_name, printable(source), "DuplicateId", message, 0, where)


def admit(item: Item, where: str, line: int, name: str, seen: IdIndex) -> Iterator[Entry]:
    """Yield ``item`` (its id set, ``origin`` = where) unless an earlier line of the manifest
    used its id: then one ``DuplicateId`` rejection per frame (identical duplicates included)."""
    derived = item.id is None
    item_id = ensure_id(item)
    first = seen.add(item_id, line)
    if first is None:
        yield Located(item, where)
        return
    sources: list[tuple[str | None, str]]
    if isinstance(item, FrameGroup):
        sources = [(frame_name, frame.source) for frame_name, frame in item.items()]
    else:
        sources = [(None, item.source)]
    yield from _duplicates(item_id, derived, f"{name}:{first}", sources, where)


def admit_document(
    document: FrameDocument, derived: bool, line: int, name: str, seen: IdIndex
) -> Iterator[Entry]:
    """``admit`` for a decoded document (``decode.py``): the same rule, the same records."""
    first = seen.add(document.id, line)
    if first is None:
        yield document
        return
    sources = [(frame_name, frame["source"]) for frame_name, frame in document.frames()]
    yield from _duplicates(document.id, derived, f"{name}:{first}", sources, document.where)


class _Block:
    """The consecutive rows of one group_id being read."""

    def __init__(self, key: str, row: Row, name: str, seen: IdIndex) -> None:
        self.key = key
        self.where = row.where
        self.group: FrameGroup | None = None
        self.members: list[tuple[str | None, str | None, str]] = []  # (frame, source, where)
        self.failure: tuple[str | None, str, str] | None = None  # (row's where, class, message)
        first = seen.add(key, row.line)
        if first is not None:
            self.failure = (
                row.where,
                "NonConsecutiveGroup",
                f"rows of group {printable(key)!r} are not consecutive: the group started at "
                f"{name}:{first}; this block of rows is rejected",
            )
            return
        if row.problem is not None:
            self.failure = (row.where, "ManifestError", f"{row.problem} (group rejected)")
            return
        try:
            self.group = FrameGroup(
                id=key,
                context_id=_cell(row.cells, "group_context_id"),
                timestamp=_cell(row.cells, "group_timestamp"),
                metadata=_cell(row.cells, "group_metadata"),
            )
        except ValidationError as exc:
            self.failure = (row.where, "ValidationError", f"{exc} (group rejected)")

    def fail(self, where: str | None, error_class: str, message: str) -> None:
        if self.failure is None:
            self.failure = (where, error_class, message)

    def add(self, row: Row, base_dir: str) -> None:
        frame_name = row.cells.get("frame")
        self.members.append((_text(frame_name), _text(row.cells.get("source")), row.where))
        if self.failure is not None or self.group is None:
            return
        if row.problem is not None:
            self.fail(row.where, "ManifestError", f"{row.problem} (group rejected)")
            return
        try:
            if frame_name in self.group:
                raise ValidationError(
                    "frame",
                    f"duplicate frame name {frame_name!r} in group {printable(self.key)!r} "
                    f"(first at {self.where})",
                )
            self.group[frame_name] = _frame_from_row(row.cells, base_dir)  # type: ignore[index]
        except ValidationError as exc:
            self.fail(row.where, "ValidationError", f"{exc} (group rejected)")

    def finish(self) -> Iterator[Entry]:
        if self.failure is None and self.group is not None:
            yield Located(self.group, self.where)
            return
        assert self.failure is not None
        cause, error_class, message = self.failure
        failed = next((m[0] for m in self.members if m[2] == cause), None)
        sibling = f"group rejected: {failed or 'a row'} failed" if cause is not None else message
        key = printable(self.key)
        for frame_name, source, where in self.members:
            if where == cause:
                yield RejectedFrame(key, frame_name, source, error_class, message, 0, where)
            else:
                yield RejectedFrame(key, frame_name, source, "GroupRejected", sibling, 0, where)


def _single(row: Row, name: str, base_dir: str, seen: IdIndex) -> Iterator[Entry]:
    source = _text(row.cells.get("source"))
    if row.problem is not None:
        yield RejectedFrame(None, None, source, "ManifestError", row.problem, 0, row.where)
        return
    try:
        frame = _frame_from_row(row.cells, base_dir)
    except ValidationError as exc:
        yield RejectedFrame(None, None, source, "ValidationError", str(exc), 0, row.where)
        return
    yield from admit(frame, row.where, row.line, name, seen)


def group_rows(
    rows: Iterable[Row | RejectedFrame], name: str, base_dir: str, seen: IdIndex
) -> Iterator[Entry]:
    """Rows -> items: consecutive rows with the same group_id form one FrameGroup.

    A bad row rejects its whole group (and a malformed record between two rows of a group
    does too); a group_id whose rows came earlier in the file is a rejected block
    (``NonConsecutiveGroup``); rows without a group_id are SingleFrames.
    """
    block: _Block | None = None
    gap: RejectedFrame | None = None  # a malformed record after the block's last row
    for entry in rows:
        if isinstance(entry, RejectedFrame):
            yield entry
            if block is not None and gap is None:
                gap = entry
            continue
        key = entry.cells.get("group_id")
        key = None if key in (None, "") else str(key)
        if block is not None and key == block.key:
            if gap is not None:
                block.fail(
                    None,
                    "GroupRejected",
                    f"group rejected: the malformed row at {gap.where} lies between its rows",
                )
            gap = None
            block.add(entry, base_dir)
            continue
        gap = None
        if block is not None:
            yield from block.finish()
            block = None
        if key is None:
            yield from _single(entry, name, base_dir, seen)
            continue
        block = _Block(key, entry, name, seen)
        block.add(entry, base_dir)
    if block is not None:
        yield from block.finish()
