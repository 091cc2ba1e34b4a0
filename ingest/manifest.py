"""Manifests: JSONL, CSV and Parquet input, streamed, with errors that say file:line and why.

- JSONL: one FrameGroup or SingleFrame per line, in the JSON document form (``frames.py``).
  An optional first line ``{"manifest": {"dataset": "D", "version": "V"}}`` names the target.
- CSV / Parquet: one row per frame. Columns: ``group_id`` (rows of one group are consecutive;
  without the column every row is a SingleFrame), ``frame`` (the frame's name in its group),
  ``source``, and optionally ``width``, ``height``, ``preview_uri``, ``content_type``,
  ``context_id``, ``timestamp``, ``metadata``, ``annotations``, ``masks`` (JSON text or, in
  Parquet, nested values) and ``group_context_id``, ``group_timestamp``, ``group_metadata``.

Relative local sources resolve against the manifest's folder. A bad line or row becomes a
``RejectedFrame`` (``where`` = ``file:line``) and reading goes on.
"""

from __future__ import annotations

import itertools
import json
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

from .decodepool import DecoderPool, Result, decode_here, decoder_count
from .errors import ValidationError
from .frames import Item, item_from_doc
from .idindex import IdIndex
from .limits import loads, printable
from .report import RejectedFrame
from .rowitems import Entry, admit, admit_document, group_rows, resolve_sources
from .rows import BoundedLines, CsvRows, LineTooLong, ManifestError, Span, Window, parquet_rows

__all__ = [
    "FORMATS",
    "Entry",
    "Header",
    "Manifest",
    "ManifestError",
    "Span",
    "detect_format",
    "parquet_file",
]

FORMATS = ("jsonl", "csv", "parquet")
_EXTENSIONS = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
}


@dataclass(frozen=True)
class Header:
    dataset: str | None = None
    version: str | None = None


def detect_format(path: str, explicit: str | None = None) -> str:
    if explicit:
        if explicit not in FORMATS:
            raise ManifestError(f"unknown format {explicit!r}; use one of {', '.join(FORMATS)}")
        return explicit
    if path == "-":
        return "jsonl"
    ext = os.path.splitext(path)[1].lower()
    if ext not in _EXTENSIONS:
        raise ManifestError(
            f"{path}: cannot tell the format from {ext or 'no extension'!r}; pass --format"
        )
    return _EXTENSIONS[ext]


def _bad(
    where: str, reason: str, doc: Any = None, error_class: str = "ManifestError"
) -> RejectedFrame:
    group_id = doc.get("id") if isinstance(doc, dict) and isinstance(doc.get("id"), str) else None
    source = (
        doc.get("source") if isinstance(doc, dict) and isinstance(doc.get("source"), str) else None
    )
    return RejectedFrame(
        printable(group_id), None, printable(source), error_class, reason, 0, where
    )


def _duplicate_frame_name(raw: bytes) -> str | None:
    """The first frame name that occurs twice in a group line (orjson keeps the last silently)."""
    found: list[str] = []

    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        names = [k for k, _ in pairs]
        if len(set(names)) != len(names) and not found:
            found.append(next(n for n in names if names.count(n) > 1))
        return dict(pairs)

    json.loads(raw, object_pairs_hook=hook)  # RecursionError when nested too deeply
    return found[0] if found else None


def parse_jsonl_line(raw: bytes, where: str, base_dir: str) -> Item | RejectedFrame | Header | None:
    text = raw.strip()
    if not text:
        return None
    try:
        doc = loads(text)
    except ValueError as exc:  # orjson's JSONDecodeError is one
        return _bad(where, f"invalid JSON: {exc}")
    if not isinstance(doc, dict):
        return _bad(
            where, f"expected a JSON object (a FrameGroup or SingleFrame), got {type(doc).__name__}"
        )
    if "manifest" in doc and len(doc) == 1:
        header = doc["manifest"]
        if not isinstance(header, dict):
            return _bad(where, "the manifest header must be an object {dataset, version}")
        return Header(header.get("dataset"), header.get("version"))
    frames = doc.get("frames")
    # one "source" key per frame: a mismatch means a duplicate key somewhere, look closer
    if isinstance(frames, dict) and text.count(b'"source"') != len(frames):
        try:
            duplicate = _duplicate_frame_name(text)
        except RecursionError:
            return _bad(where, "invalid JSON: nested too deeply to read", doc)
        if duplicate is not None:
            return _bad(
                where,
                f"duplicate key {printable(duplicate)!r} (a frame name or field given twice)",
                doc,
            )
    resolve_sources(doc, base_dir)
    try:
        return item_from_doc(doc)
    except ValidationError as exc:
        return _bad(where, str(exc), doc, "ValidationError")
    except Exception as exc:  # a line no check foresaw: rejected at its file:line all the same
        return _bad(where, f"{type(exc).__name__}: {exc}", doc, type(exc).__name__)


def _open_binary(path: str) -> IO[bytes]:
    if path == "-":
        return sys.stdin.buffer
    try:
        # 1 MiB reads (default 8 KiB: a read every two or three lines): each read lets go of
        # the GIL, and taking it back from the catalog and decoder-feeding threads can take
        # up to the switch interval
        return open(path, "rb", buffering=1 << 20)
    except FileNotFoundError as exc:
        raise ManifestError(f"manifest {path} does not exist") from exc
    except IsADirectoryError as exc:
        raise ManifestError(f"manifest {path} is a directory") from exc
    except OSError as exc:
        raise ManifestError(f"cannot read manifest {path}: {exc.strerror}") from exc


class Manifest:
    """One manifest file, read lazily. Iterating yields ``Located(item, "file:line")``,
    ``FrameDocument`` s (JSONL lines read by the fast path, ``decode.py``; ``where`` set) and
    rejected records. An id used by an earlier line of the same file
    (explicit or derived) is a ``DuplicateId`` rejection naming that line, and a CSV group whose
    rows are not consecutive a ``NonConsecutiveGroup`` one: the ids seen are kept in an
    ``IdIndex`` (about 40 MB per million distinct ids).
    """

    def __init__(
        self,
        path: str,
        fmt: str | None = None,
        span: Span | None = None,
        *,
        decode_processes: int = 0,
        name: str | None = None,
    ) -> None:
        """``span``: read only that chunk of the file (``chunking.py``); the JSONL header and
        the CSV columns are still read from the file's start. ``decode_processes``: the
        ``decode_processes`` setting (``decodepool.py``). ``name``: what ``file:line`` names
        (default the path; a manifest fetched from S3 is named by its URL)."""
        self.path = path
        self.span = span
        self.decode_processes = decode_processes
        self.format = detect_format(path, fmt)
        self.name = name or ("<stdin>" if path == "-" else path)
        self.base_dir = os.getcwd() if path == "-" else os.path.dirname(os.path.abspath(path))
        self.header = Header()
        self._fh: IO[bytes] | None = None
        self._lines: BoundedLines | None = None
        self._csv: CsvRows | None = None
        self._peeked: list[tuple[int, bytes | LineTooLong]] = []
        self._pool: DecoderPool | None = None
        if self.format != "jsonl" and path != "-" and not os.path.isfile(path):
            raise ManifestError(f"manifest {path} does not exist or is not a file")
        if self.format == "jsonl":
            self._fh = _open_binary(path)
            if span is None:
                self._lines = BoundedLines(self._fh)
            else:
                self._lines = BoundedLines(Window(self._fh, span), span.first_line)
            if span is None or span.start == 0:
                self._peek_header()
        elif self.format == "csv":
            self._fh = _open_binary(path)
            try:
                self._csv = CsvRows(self._fh, self.name)
                if span is not None:
                    self._csv.jump(self._fh, span)
            except BaseException:
                self.close()
                raise

    def _numbered(self) -> Iterator[tuple[int, bytes | LineTooLong]]:
        assert self._lines is not None
        while True:
            try:
                raw = next(self._lines)
            except StopIteration:
                return
            except LineTooLong as exc:
                yield exc.number, exc
                continue
            yield self._lines.number, raw

    def _peek_header(self) -> None:
        for number, raw in self._numbered():
            if isinstance(raw, bytes) and not raw.strip():
                continue
            if isinstance(raw, bytes):
                parsed = parse_jsonl_line(raw, f"{self.name}:{number}", self.base_dir)
                if isinstance(parsed, Header):
                    self.header = parsed
                    return
            self._peeked = [(number, raw)]
            return

    def count(self) -> int | None:
        """How many lines or rows (an upper bound on groups), if cheap to know."""
        if self.path == "-":
            return None
        if self.format == "parquet":
            return int(parquet_file(self.path).metadata.num_rows)
        with open(self.path, "rb") as fh:
            return sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 20), b""))

    def __iter__(self) -> Iterator[Entry]:
        seen = IdIndex()
        if self.format == "jsonl":
            return self._jsonl(seen)
        if self.format == "csv":
            assert self._csv is not None
            return self._closing(group_rows(self._csv, self.name, self.base_dir, seen))
        rows = parquet_rows(parquet_file(self.path), self.name, self.span)
        return group_rows(rows, self.name, self.base_dir, seen)

    def _closing(self, entries: Iterator[Entry]) -> Iterator[Entry]:
        try:
            yield from entries
        finally:
            self.close()

    def _decoded(self) -> Iterator[tuple[int, bytes | LineTooLong, Result]]:
        """(number, raw line, fast-path result or None) of every line, streamed."""
        lines = itertools.chain(self._peeked, self._numbered())
        processes = decoder_count(self.decode_processes, self.path)
        if processes:
            self._pool = DecoderPool(processes, wait_for_start=self.decode_processes > 0)
            yield from self._pool.decode(lines, self.name, self.base_dir)
            return
        for number, raw in lines:
            fast = None
            if isinstance(raw, bytes):
                fast = decode_here(raw, f"{self.name}:{number}", self.base_dir)
            yield number, raw, fast

    def _jsonl(self, seen: IdIndex) -> Iterator[Entry]:
        try:
            for number, raw, fast in self._decoded():
                where = f"{self.name}:{number}"
                if isinstance(raw, LineTooLong):
                    yield _bad(where, f"{raw}; the line is skipped")
                    continue
                if fast is not None:  # the common case: straight to a validated document
                    yield from admit_document(*fast, number, self.name, seen)
                    continue
                parsed = parse_jsonl_line(raw, where, self.base_dir)
                if isinstance(parsed, Header):
                    yield _bad(where, "a manifest header must be the first line")
                elif isinstance(parsed, RejectedFrame):
                    yield parsed
                elif parsed is not None:
                    yield from admit(parsed, where, number, self.name, seen)
        finally:
            self.close()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None
        if self._fh is not None and self._fh is not sys.stdin.buffer:
            self._fh.close()


def parquet_file(path: str) -> Any:
    try:
        import pyarrow.parquet as pq
    except ImportError as exc:  # pragma: no cover - pyarrow is a dependency
        raise ManifestError("Parquet manifests need pyarrow: pip install pyarrow") from exc
    try:
        return pq.ParquetFile(path)
    except (OSError, ValueError) as exc:
        raise ManifestError(f"{path}: not a readable Parquet file: {exc}") from exc
