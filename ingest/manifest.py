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

import csv
import io
import itertools
import json
import os
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Any

import orjson

from .errors import ConfigError, ValidationError
from .frames import FrameGroup, Item, SingleFrame, item_from_doc
from .report import RejectedFrame

FORMATS = ("jsonl", "csv", "parquet")
_EXTENSIONS = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
}
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

Entry = Item | RejectedFrame


class ManifestError(ConfigError):
    """The manifest as a whole cannot be read (missing file, unknown format or columns)."""


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
    return RejectedFrame(group_id, None, source, error_class, reason, 0, where)


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


def _duplicate_frame_name(raw: bytes) -> str | None:
    """The first frame name that occurs twice in a group line (orjson keeps the last silently)."""
    found: list[str] = []

    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        names = [k for k, _ in pairs]
        if len(set(names)) != len(names) and not found:
            found.append(next(n for n in names if names.count(n) > 1))
        return dict(pairs)

    json.loads(raw, object_pairs_hook=hook)
    return found[0] if found else None


def parse_jsonl_line(raw: bytes, where: str, base_dir: str) -> Entry | Header | None:
    text = raw.strip()
    if not text:
        return None
    try:
        doc = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
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
        duplicate = _duplicate_frame_name(text)
        if duplicate is not None:
            return _bad(
                where, f"duplicate key {duplicate!r} (a frame name or field given twice)", doc
            )
    resolve_sources(doc, base_dir)
    try:
        return item_from_doc(doc)
    except ValidationError as exc:
        return _bad(where, str(exc), doc, "ValidationError")


def _open_binary(path: str) -> IO[bytes]:
    if path == "-":
        return sys.stdin.buffer
    try:
        return open(path, "rb")
    except FileNotFoundError as exc:
        raise ManifestError(f"manifest {path} does not exist") from exc
    except IsADirectoryError as exc:
        raise ManifestError(f"manifest {path} is a directory") from exc
    except OSError as exc:
        raise ManifestError(f"cannot read manifest {path}: {exc.strerror}") from exc


class Manifest:
    """One manifest file, read lazily. Iterating yields items and rejected records."""

    def __init__(self, path: str, fmt: str | None = None) -> None:
        self.path = path
        self.format = detect_format(path, fmt)
        self.name = "<stdin>" if path == "-" else path
        self.base_dir = os.getcwd() if path == "-" else os.path.dirname(os.path.abspath(path))
        self.header = Header()
        self._lines: Iterator[tuple[int, bytes]] | None = None
        self._fh: IO[bytes] | None = None
        if self.format == "jsonl":
            self._fh = _open_binary(path)
            self._lines = enumerate(self._fh, start=1)
            self._peeked = self._peek_header()
        elif path != "-" and not os.path.isfile(path):
            raise ManifestError(f"manifest {path} does not exist or is not a file")

    def _peek_header(self) -> list[tuple[int, bytes]]:
        assert self._lines is not None
        for number, raw in self._lines:
            if not raw.strip():
                continue
            parsed = parse_jsonl_line(raw, f"{self.name}:{number}", self.base_dir)
            if isinstance(parsed, Header):
                self.header = parsed
                return []
            return [(number, raw)]
        return []

    def count(self) -> int | None:
        """How many lines or rows (an upper bound on groups), if cheap to know."""
        if self.path == "-":
            return None
        if self.format == "parquet":
            return int(_parquet_file(self.path).metadata.num_rows)
        with open(self.path, "rb") as fh:
            return sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 20), b""))

    def __iter__(self) -> Iterator[Entry]:
        if self.format == "jsonl":
            return self._jsonl()
        if self.format == "csv":
            return _group_rows(self._csv_rows(), self.name, self.base_dir)
        return _group_rows(self._parquet_rows(), self.name, self.base_dir)

    def _jsonl(self) -> Iterator[Entry]:
        assert self._lines is not None
        try:
            for number, raw in itertools.chain(self._peeked, self._lines):  # streamed
                parsed = parse_jsonl_line(raw, f"{self.name}:{number}", self.base_dir)
                if isinstance(parsed, Header):
                    yield _bad(f"{self.name}:{number}", "a manifest header must be the first line")
                elif parsed is not None:
                    yield parsed
        finally:
            self.close()

    def _csv_rows(self) -> Iterator[tuple[str, dict[str, Any]]]:
        fh = io.TextIOWrapper(_open_binary(self.path), encoding="utf-8", newline="")
        try:
            reader = csv.DictReader(fh)
            _check_columns(reader.fieldnames or [], self.name)
            for row in reader:
                yield f"{self.name}:{reader.line_num}", row
        finally:
            fh.close()

    def _parquet_rows(self) -> Iterator[tuple[str, dict[str, Any]]]:
        pf = _parquet_file(self.path)
        _check_columns(pf.schema_arrow.names, self.name)
        number = 0
        for batch in pf.iter_batches(batch_size=2048):
            for row in batch.to_pylist():
                number += 1
                yield f"{self.name}:row {number}", row

    def close(self) -> None:
        if self._fh is not None and self._fh is not sys.stdin.buffer:
            self._fh.close()


def _parquet_file(path: str) -> Any:
    try:
        import pyarrow.parquet as pq
    except ImportError as exc:  # pragma: no cover - pyarrow is a dependency
        raise ManifestError("Parquet manifests need pyarrow: pip install pyarrow") from exc
    try:
        return pq.ParquetFile(path)
    except (OSError, ValueError) as exc:
        raise ManifestError(f"{path}: not a readable Parquet file: {exc}") from exc


def _check_columns(columns: Iterable[str], name: str) -> None:
    columns = list(columns)
    unknown = [c for c in columns if c not in ROW_COLUMNS]
    if unknown:
        raise ManifestError(
            f"{name}: unknown column(s) {', '.join(unknown)}; known: {', '.join(ROW_COLUMNS)}"
        )
    if "source" not in columns:
        raise ManifestError(f"{name}: a 'source' column is required")
    if "group_id" in columns and "frame" not in columns:
        raise ManifestError(f"{name}: with a 'group_id' column, a 'frame' column is required")


def _cell(row: dict[str, Any], column: str, where: str) -> Any:
    value = row.get(column)
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            if column in _JSON_COLUMNS:
                return orjson.loads(value)
            if column in _INT_COLUMNS:
                return int(value)
            if column in _FLOAT_COLUMNS:
                return float(value)
        except (orjson.JSONDecodeError, ValueError) as exc:
            kind = "JSON" if column in _JSON_COLUMNS else "a number"
            raise ValidationError(column, f"must be {kind}, got {value!r} ({exc})") from None
    return value


def _frame_from_row(row: dict[str, Any], where: str, base_dir: str) -> SingleFrame:
    doc = {key: _cell(row, key, where) for key in FRAME_COLUMNS}
    doc = {k: v for k, v in doc.items() if v is not None}
    resolve_sources(doc, base_dir)
    if "source" not in doc:
        raise ValidationError("source", "is missing")
    return SingleFrame.from_doc(doc, "row")


def _group_rows(
    rows: Iterator[tuple[str, dict[str, Any]]], name: str, base_dir: str
) -> Iterator[Entry]:
    """Rows -> items: consecutive rows with the same group_id form one FrameGroup."""
    current: FrameGroup | None = None
    current_key: str | None = None
    current_where = ""
    broken: RejectedFrame | None = None  # a bad row rejects its whole group
    members: list[tuple[str | None, str | None, str]] = []  # (frame, source, where) of the group

    def finish() -> Iterator[Entry]:
        if current is None or current_key is None:
            return
        if broken is None:
            yield current
            return
        yield broken
        for frame_name, source, where in members:
            if where != broken.where:
                yield RejectedFrame(
                    current_key,
                    frame_name,
                    source,
                    "GroupRejected",
                    f"group rejected: {broken.frame_name or 'a row'} failed",
                    0,
                    where,
                )

    for where, row in rows:
        key = row.get("group_id")
        key = None if key in (None, "") else str(key)
        if key is None:
            yield from finish()
            current, current_key, broken = None, None, None
            try:
                yield _frame_from_row(row, where, base_dir)
            except ValidationError as exc:
                yield RejectedFrame(
                    None, None, row.get("source") or None, "ValidationError", str(exc), 0, where
                )
            continue
        if key != current_key:
            yield from finish()
            current_where = where
            broken = None
            members = []
            try:
                current = FrameGroup(
                    id=key,
                    context_id=_cell(row, "group_context_id", where),
                    timestamp=_cell(row, "group_timestamp", where),
                    metadata=_cell(row, "group_metadata", where),
                )
            except ValidationError as exc:
                current = FrameGroup(id=key)
                broken = RejectedFrame(key, None, None, "ValidationError", str(exc), 0, where)
            current_key = key
        frame_name = row.get("frame")
        members.append(
            (frame_name if isinstance(frame_name, str) else None, row.get("source") or None, where)
        )
        if broken is not None or current is None:
            continue
        try:
            if frame_name in current:
                raise ValidationError(
                    "frame",
                    f"duplicate frame name {frame_name!r} in group {key!r} "
                    f"(first at {current_where})",
                )
            current[frame_name] = _frame_from_row(row, where, base_dir)  # type: ignore[index]
        except ValidationError as exc:
            broken = RejectedFrame(
                key,
                frame_name if isinstance(frame_name, str) else None,
                row.get("source") or None,
                "ValidationError",
                f"{exc} (group {key!r} rejected)",
                0,
                where,
            )
    yield from finish()
