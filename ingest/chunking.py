"""Cut a manifest into chunks of about ``chunk_groups`` groups each, at places where a group
never straddles two chunks:

- JSONL: byte ranges cut at line boundaries (one line is one group);
- CSV: byte ranges cut where ``group_id`` changes (rows of a group are consecutive), found by
  reading the file once with the manifest's own CSV reader;
- Parquet: whole row groups; two row groups stay in one chunk when one group's rows run from
  the first into the second.

A ``Span`` is what a chunk reads: ``start``/``end`` are byte offsets (JSONL, CSV) or row-group
indexes (Parquet); ``first_line`` is the line (row) number of its first line, so rejections
name the same ``file:line`` as a whole-file run.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

from .manifest import Manifest, parquet_file
from .rows import CsvRows, Row, Span

_BLOCK = 1 << 20


def content_hash(path: str) -> str:
    """SHA-256 of the manifest's bytes: a manifest job's identity (its queueing lock)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def plan_spans(manifest: Manifest, chunk_groups: int) -> list[Span]:
    """The chunks of ``manifest`` (at least one, even for an empty file)."""
    if chunk_groups < 1:
        raise ValueError("chunk_groups must be at least 1")
    if manifest.format == "jsonl":
        return _jsonl_spans(manifest.path, chunk_groups)
    if manifest.format == "csv":
        return _csv_spans(manifest.path, manifest.name, chunk_groups)
    return _parquet_spans(manifest.path, chunk_groups)


def _jsonl_spans(path: str, chunk_groups: int) -> list[Span]:
    # a block scan counting newlines: ~1 GB/s, no line is ever held whole (lines may be 32 MiB)
    spans: list[Span] = []
    start, first_line, lines, offset = 0, 1, 0, 0
    with open(path, "rb") as fh:
        while block := fh.read(_BLOCK):
            pos = 0
            while True:
                need = chunk_groups - (lines - first_line + 1)
                if block.count(b"\n", pos) < need:
                    lines += block.count(b"\n", pos)
                    break
                for _ in range(need):
                    pos = block.index(b"\n", pos) + 1
                lines += need
                spans.append(Span(start, offset + pos, first_line))
                start, first_line = offset + pos, lines + 1
            offset += len(block)
    if offset > start or not spans:
        spans.append(Span(start, offset, first_line))
    return spans


def _csv_records(path: str, name: str) -> Iterator[tuple[object, int, int]]:
    """The header's end, then each record of a CSV manifest, with the byte offset and line
    number just after it."""
    with open(path, "rb") as fh:
        rows = CsvRows(fh, name)
        yield None, fh.tell(), rows.line_number
        for record in rows:
            yield record, fh.tell(), rows.line_number


def _csv_spans(path: str, name: str, chunk_groups: int) -> list[Span]:
    spans: list[Span] = []
    records = _csv_records(path, name)
    _, after, after_line = next(records)  # where the record before this one ended
    start, first_line, groups = after, after_line + 1, 0
    previous: object = None
    for record, end, end_line in records:
        key = record.cells.get("group_id") if isinstance(record, Row) else None
        if key is None or key == "" or key != previous:
            if groups == chunk_groups:
                spans.append(Span(start, after, first_line))
                start, first_line, groups = after, after_line + 1, 0
            groups += 1
        previous = key if key else object()
        after, after_line = end, end_line
    spans.append(Span(start, after, first_line))
    return spans


def _parquet_spans(path: str, chunk_groups: int) -> list[Span]:
    pf = parquet_file(path)
    meta = pf.metadata
    has_groups = "group_id" in pf.schema_arrow.names
    spans: list[Span] = []
    start, first_row, rows, groups = 0, 1, 0, 0
    last_key: object = None
    for index in range(meta.num_row_groups):
        count = meta.row_group(index).num_rows
        if has_groups:
            keys = pf.read_row_group(index, columns=["group_id"]).column(0).to_pylist()
            straddles = bool(keys) and keys[0] is not None and keys[0] == last_key
            distinct = sum(1 for a, b in zip([last_key, *keys], keys, strict=False) if a != b)
            last_key = keys[-1] if keys else last_key
        else:
            straddles, distinct = False, count
        if groups >= chunk_groups and not straddles:
            spans.append(Span(start, index, first_row))
            start, first_row, groups = index, rows + 1, 0
        groups += distinct
        rows += count
    spans.append(Span(start, meta.num_row_groups, first_row))
    return spans
