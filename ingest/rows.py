"""Row manifests (CSV, Parquet) -> items, and the bounded line reader shared with JSONL.

The CSV reader survives any bytes: lines are read with a length bound, decoded with
``surrogateescape`` (invalid UTF-8 becomes a per-row rejection, not an exception), and a
record the ``csv`` module cannot parse (a cell over the limit, a stray line break) is a
rejection naming ``file:line``; reading goes on with the next line. A row with more cells
than the header is rejected; a shorter one leaves its last columns empty.
"""

from __future__ import annotations

import codecs
import csv
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Any

from .errors import ConfigError, ValidationError
from .frames import FrameGroup, Item, SingleFrame, ensure_id
from .idindex import IdIndex
from .limits import MAX_LINE_BYTES, loads, printable
from .report import RejectedFrame

FRAME_COLUMNS = (
    "source",
    "width",
    "height",
    "preview_uri",
    "content_type",
    "context_id",
    "timestamp",
    "metadata",
    "annotations",
    "masks",
)
ROW_COLUMNS = (
    "group_id",
    "frame",
    *FRAME_COLUMNS,
    "group_context_id",
    "group_timestamp",
    "group_metadata",
)
_JSON_COLUMNS = ("metadata", "annotations", "masks", "group_metadata")
_INT_COLUMNS = ("width", "height")
_FLOAT_COLUMNS = ("timestamp", "group_timestamp")
_ONE_LINE_COLUMNS = ("group_id", "frame", "source", "preview_uri")

Entry = Item | RejectedFrame


class ManifestError(ConfigError):
    """The manifest as a whole cannot be read (missing file, unknown format or columns)."""


class LineTooLong(Exception):
    def __init__(self, number: int) -> None:
        super().__init__(f"line {number} is longer than {MAX_LINE_BYTES >> 20} MiB")
        self.number = number


class BoundedLines:
    """Numbered physical lines (bytes) of a binary stream, at most ``MAX_LINE_BYTES`` each; a
    UTF-8 BOM at the start is dropped. A longer line is skipped and raises ``LineTooLong``;
    iteration goes on after it."""

    def __init__(self, fh: IO[bytes]) -> None:
        self._fh = fh
        self.number = 0

    def __iter__(self) -> BoundedLines:
        return self

    def __next__(self) -> bytes:
        raw = self._fh.readline(MAX_LINE_BYTES + 1)
        if not raw:
            raise StopIteration
        self.number += 1
        if self.number == 1 and raw.startswith(codecs.BOM_UTF8):
            raw = raw[len(codecs.BOM_UTF8) :]
        if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
            while (more := self._fh.readline(1 << 20)) and not more.endswith(b"\n"):
                pass
            raise LineTooLong(self.number)
        return raw


class _TextLines:
    """``BoundedLines`` decoded for ``csv.reader``; undecodable bytes become surrogates.
    ``quotes`` counts the quote characters of the current record (odd: inside a quoted cell)."""

    def __init__(self, lines: BoundedLines) -> None:
        self.lines = lines
        self.quotes = 0

    def __iter__(self) -> _TextLines:
        return self

    def __next__(self) -> str:
        raw = next(self.lines)
        self.quotes += raw.count(b'"')
        return raw.decode("utf-8", "surrogateescape")

    def skip_quoted(self) -> None:
        """After an unreadable record that ended inside a quoted cell: skip the lines up to the
        one that closes the quote, so the rest of the cell is not read as rows."""
        while self.quotes % 2:
            try:
                self.quotes += next(self.lines).count(b'"')
            except LineTooLong:
                continue
            except StopIteration:
                return


@dataclass(frozen=True)
class Row:
    where: str  # file:line of its first line
    line: int
    cells: dict[str, Any]
    problem: str | None = None  # why the row is unusable (then its group is rejected)


def _bad_record(where: str, message: str) -> RejectedFrame:
    return RejectedFrame(None, None, None, "ManifestError", message, 0, where)


def _has_surrogates(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


class CsvRows:
    """The rows of a CSV manifest; the header is read (and checked) at construction."""

    def __init__(self, fh: IO[bytes], name: str) -> None:
        if csv.field_size_limit() < MAX_LINE_BYTES:  # process-wide; only ever raised
            csv.field_size_limit(MAX_LINE_BYTES)
        self.name = name
        self._lines = BoundedLines(fh)
        self._text = _TextLines(self._lines)
        self._reader = csv.reader(self._text)
        header = self._record()
        if isinstance(header, RejectedFrame):
            raise ManifestError(f"{name}: cannot read the header: {header.message}")
        self.columns = header[2] if header is not None else []
        if any(_has_surrogates(c) for c in self.columns):
            raise ManifestError(f"{name}: the header is not valid UTF-8")
        check_columns(self.columns, name)

    def _record(self) -> tuple[int, int, list[str]] | RejectedFrame | None:
        """The next non-blank record (first line, last line, cells), a rejection, or None."""
        while True:
            start = self._lines.number + 1
            self._text.quotes = 0
            try:
                cells = next(self._reader)
            except StopIteration:
                return None
            except (LineTooLong, csv.Error) as exc:
                self._text.skip_quoted()
                end = self._lines.number
                lines = f"line {start}" if end <= start else f"lines {start}-{end}"
                why = str(exc) if isinstance(exc, LineTooLong) else f"malformed CSV: {exc}"
                return _bad_record(f"{self.name}:{start}", f"{why}; {lines} skipped")
            if cells:
                return start, self._lines.number, cells

    def __iter__(self) -> Iterator[Row | RejectedFrame]:
        width = len(self.columns)
        while (record := self._record()) is not None:
            if isinstance(record, RejectedFrame):
                yield record
                continue
            start, end, cells = record
            row = dict(zip(self.columns, cells, strict=False))
            yield Row(f"{self.name}:{start}", start, row, _problem(row, cells, width, start, end))


def _problem(row: dict[str, str], cells: list[str], width: int, start: int, end: int) -> str | None:
    if len(cells) > width:
        extra = ", ".join(repr(printable(c[:40])) for c in cells[width : width + 3])
        return (
            f"the row has {len(cells)} cells but the header {width} columns "
            f"(extra: {extra}{', ...' if len(cells) > width + 3 else ''})"
        )
    for column, value in row.items():
        if _has_surrogates(value):
            shown = printable(value[:60])
            return f"column {column!r} is not valid UTF-8: {shown!r}"
    if end > start:
        for column in _ONE_LINE_COLUMNS:
            if "\n" in row.get(column, "") or "\r" in row.get(column, ""):
                return (
                    f"column {column!r} holds a line break: the row spans lines {start}-{end} "
                    "(an unclosed quote?)"
                )
    return None


def parquet_rows(pf: Any, name: str) -> Iterator[Row]:
    check_columns(pf.schema_arrow.names, name)
    number = 0
    for batch in pf.iter_batches(batch_size=2048):
        for row in batch.to_pylist():
            number += 1
            yield Row(f"{name}:row {number}", number, row)


def check_columns(columns: Iterable[str], name: str) -> None:
    columns = list(columns)
    unknown = [c for c in columns if c not in ROW_COLUMNS]
    if unknown:
        shown = ", ".join(printable(c) or "''" for c in unknown)
        raise ManifestError(f"{name}: unknown column(s) {shown}; known: {', '.join(ROW_COLUMNS)}")
    repeated = sorted({c for c in columns if columns.count(c) > 1})
    if repeated:
        raise ManifestError(f"{name}: column(s) {', '.join(repeated)} given twice")
    if "source" not in columns:
        raise ManifestError(f"{name}: a 'source' column is required")
    if "group_id" in columns and "frame" not in columns:
        raise ManifestError(f"{name}: with a 'group_id' column, a 'frame' column is required")


def _resolve(uri: Any, base_dir: str) -> Any:
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
                frame[field] = _resolve(frame[field], base_dir)
        masks = frame.get("masks")
        if isinstance(masks, dict):
            for mask_id, uri in masks.items():
                masks[mask_id] = _resolve(uri, base_dir)
        elif isinstance(masks, list):
            frame["masks"] = [_resolve(uri, base_dir) for uri in masks]


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


def duplicate_message(item_id: str, first: str, derived: bool) -> str:
    why = " (derived from context, timestamp and sources: the same frames)" if derived else ""
    return f"duplicate id {printable(item_id)!r}{why}: first at {first}; this one is rejected"


def admit(item: Item, where: str, line: int, name: str, seen: IdIndex) -> Iterator[Entry]:
    """Yield ``item`` (its id set, ``origin`` = where) unless an earlier line of the manifest
    used its id: then one ``DuplicateId`` rejection per frame (identical duplicates included)."""
    derived = item.id is None
    item_id = ensure_id(item)
    first = seen.add(item_id, line)
    if first is None:
        item.origin = where
        yield item
        return
    message = duplicate_message(item_id, f"{name}:{first}", derived)
    frames = list(item.items()) if isinstance(item, FrameGroup) else [(None, item)]
    for frame_name, frame in frames:
        yield RejectedFrame(
            printable(item_id),
            frame_name,
            printable(frame.source),
            "DuplicateId",
            message,
            0,
            where,
        )


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
            self.group.origin = self.where
            yield self.group
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
