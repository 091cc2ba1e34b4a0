"""Row manifests (CSV, Parquet) -> rows, and the bounded line reader shared with JSONL.

The CSV reader survives any bytes: lines are read with a length bound, decoded with
``surrogateescape`` (invalid UTF-8 becomes a per-row rejection, not an exception), and a
record the ``csv`` module cannot parse (a cell over the limit, a stray line break) is a
rejection naming ``file:line``; reading goes on with the next line. A row with more cells
than the header is rejected; a shorter one leaves its last columns empty.
"""

from __future__ import annotations

import codecs
import csv
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Any

from .errors import ConfigError
from .limits import MAX_LINE_BYTES, printable
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
_ONE_LINE_COLUMNS = ("group_id", "frame", "source", "preview_uri")


class ManifestError(ConfigError):
    """The manifest as a whole cannot be read (missing file, unknown format or columns)."""


class LineTooLong(Exception):
    def __init__(self, number: int) -> None:
        super().__init__(f"line {number} is longer than {MAX_LINE_BYTES >> 20} MiB")
        self.number = number


@dataclass(frozen=True)
class Span:
    """The part of a manifest a chunk reads (``chunking.py``): byte offsets (JSONL, CSV) or
    row-group indexes (Parquet), and the line (row) number of its first line."""

    start: int
    end: int
    first_line: int


class Window:
    """A binary file read from ``span.start`` up to (not past) ``span.end``: what
    ``BoundedLines`` reads for a chunk of a manifest."""

    def __init__(self, fh: IO[bytes], span: Span) -> None:
        self._fh, self._end = fh, span.end
        fh.seek(span.start)

    def readline(self, limit: int = -1) -> bytes:
        left = self._end - self._fh.tell()
        if left <= 0:
            return b""
        return self._fh.readline(left if limit < 0 else min(limit, left))


class BoundedLines:
    """Numbered physical lines (bytes) of a binary stream, at most ``MAX_LINE_BYTES`` each; a
    UTF-8 BOM at the start is dropped. A longer line is skipped and raises ``LineTooLong``;
    iteration goes on after it."""

    def __init__(self, fh: IO[bytes] | Window, first_line: int = 1) -> None:
        self._fh = fh
        self.number = first_line - 1

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
            start = self.line_number + 1
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

    @property
    def line_number(self) -> int:
        """The number of the last line read."""
        return self._lines.number

    def jump(self, fh: IO[bytes], span: Span) -> None:
        """Read only ``span`` of the file from now on (the header was read already)."""
        self._lines._fh = Window(fh, span)
        self._lines.number = span.first_line - 1

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


def parquet_rows(pf: Any, name: str, span: Span | None = None) -> Iterator[Row]:
    """The rows of a Parquet file, or of the row groups ``span`` names."""
    check_columns(pf.schema_arrow.names, name)
    number = span.first_line - 1 if span else 0
    groups = range(span.start, span.end) if span else None
    for batch in pf.iter_batches(batch_size=2048, row_groups=groups):
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
