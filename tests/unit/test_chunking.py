"""Chunks of a manifest: every group in exactly one chunk, cut where no group straddles, and
a chunk names the same file:line as a whole-file run."""

from __future__ import annotations

import itertools
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from ingest.chunking import content_hash, plan_spans
from ingest.manifest import Manifest
from ingest.report import RejectedFrame


def _read(path: Path, span=None) -> list[tuple[str, str]]:
    """(id or rejection, where) of every entry a (chunk of a) manifest yields."""
    out = []
    manifest = Manifest(str(path), span=span)
    for entry in manifest:
        if isinstance(entry, RejectedFrame):
            out.append(("rejected", entry.where or ""))
        else:
            item = getattr(entry, "item", None)
            doc_id = getattr(item, "id", None) or getattr(entry, "id", None)
            out.append((str(doc_id), getattr(entry, "where", "")))
    return out


def _jsonl(tmp_path: Path, n: int, header: bool = True) -> Path:
    path = tmp_path / "m.jsonl"
    lines = [orjson.dumps({"manifest": {"dataset": "D", "version": "v"}})] if header else []
    for i in range(n):
        if i == 7:
            lines.append(b"{not json")
        lines.append(orjson.dumps({"id": f"g{i}", "frames": {"a": {"source": f"https://h/{i}"}}}))
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def test_jsonl_chunks_cover_every_line_once_with_the_same_where(tmp_path: Path) -> None:
    path = _jsonl(tmp_path, 95)
    whole = _read(path)
    for size in (1, 10, 33, 200):
        spans = plan_spans(Manifest(str(path)), size)
        assert spans[0].start == 0 and spans[-1].end == path.stat().st_size
        assert all(a.end == b.start for a, b in itertools.pairwise(spans))
        parts = [entry for span in spans for entry in _read(path, span)]
        assert parts == whole, size
        assert len(spans) == -(-97 // size)  # 95 groups + a bad line + the header line


def test_jsonl_header_only_in_the_first_chunk(tmp_path: Path) -> None:
    path = _jsonl(tmp_path, 20)
    first, second = plan_spans(Manifest(str(path)), 11)
    assert Manifest(str(path), span=first).header.dataset == "D"
    assert ("g0", f"{path}:2") in _read(path, first)
    assert Manifest(str(path), span=second).header.dataset is None


def test_empty_jsonl_is_one_empty_chunk(tmp_path: Path) -> None:
    path = tmp_path / "e.jsonl"
    path.write_bytes(b"")
    assert [(s.start, s.end) for s in plan_spans(Manifest(str(path)), 5)] == [(0, 0)]


def _csv(tmp_path: Path) -> Path:
    rows = ["group_id,frame,source"]
    for g in range(30):
        for f in range(1 + g % 3):
            rows.append(f'g{g},f{f},"https://h/{g}/{f}"')
    rows.insert(11, 'g5,f9,"https://h/a\nb"')  # a record over two lines, inside group g5
    path = tmp_path / "m.csv"
    path.write_text("\n".join(rows) + "\n")
    return path


def test_csv_chunks_cut_at_group_boundaries(tmp_path: Path) -> None:
    path = _csv(tmp_path)
    whole = _read(path)
    for size in (1, 4, 7, 100):
        spans = plan_spans(Manifest(str(path)), size)
        parts = [entry for span in spans for entry in _read(path, span)]
        assert parts == whole, size
        assert len(spans) == -(-30 // size)


def test_parquet_chunks_are_row_groups_never_splitting_a_group(tmp_path: Path) -> None:
    groups = [f"g{i // 3}" for i in range(60)]  # 20 groups of 3 rows
    table = pa.table(
        {"group_id": groups, "frame": [f"f{i % 3}" for i in range(60)],
         "source": [f"https://h/{i}" for i in range(60)]}
    )  # fmt: skip
    path = tmp_path / "m.parquet"
    pq.write_table(table, path, row_group_size=4)  # rows 0-3, 4-7...: groups straddle
    whole = _read(path)
    for size in (1, 2, 5, 50):
        spans = plan_spans(Manifest(str(path)), size)
        parts = [entry for span in spans for entry in _read(path, span)]
        assert parts == whole, size
        for span in spans[1:]:  # a chunk starts with a group's first row
            assert (span.first_line - 1) % 3 == 0
        assert len(spans) > 1 or size == 50


def test_content_hash_changes_with_the_bytes(tmp_path: Path) -> None:
    path = _jsonl(tmp_path, 3)
    before = content_hash(str(path))
    path.write_bytes(path.read_bytes() + b"\n")
    assert content_hash(str(path)) != before
