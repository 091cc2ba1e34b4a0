"""The fast path (``decode.py``) against the object model: whatever it accepts, the object
model accepts with the same id and the same stored bytes; whatever it leaves, the object
model reads (and rejects with its own message, or accepts: the fast path is a subset)."""

from __future__ import annotations

import json
import os

import orjson
import pytest

from ingest.catalog.sqlframes import revision
from ingest.decode import decode_line
from ingest.documents import FrameDocument
from ingest.frames import FrameGroup
from ingest.manifest import Header, Manifest, parse_jsonl_line
from ingest.pipeline.plan import Planned, frame_row, plan
from ingest.report import Located, RejectedFrame
from tests.integration.hostile.cases import CASES

BASE = "/data/manifests"
H = "https://h.example"


def _box(x: float = 1) -> dict:
    return {"box2d_xywh": [x, 2, 3, 4], "labels": ["car"], "confidence": 0.5}


FRAME = {
    "source": f"{H}/a.jpg",
    "width": 1920,
    "height": 1080,
    "preview_uri": f"{H}/a_small.jpg",
    "content_type": "image/jpeg",
    "context_id": "drive",
    "timestamp": 1.25,
    "metadata": {"camera": "front", "n": 3, "f": 0.1, "b": True, "none": None, "big": 2**63 - 1},
    "masks": {"semantic": f"{H}/m.png", "instance": "rel/m.png"},
    "annotations": [
        _box(),
        {"poly2d_xy": [1, 1, 5, 1, 5, 5], "labels": "road", "metadata": {"k": "v"}},
        {"ellipse2d_xyrrt": [5, 5, 2, 1, 0.5], "labels": ["sign"], "confidence": 1},
        {"keypoints": [1, 2, 3, 4], "labels": ["person"], "confidence": 0},
        {"keypoints": [], "labels": []},
        {"labels": ["day"], "box2d_xywh": None},
    ],
}

GOOD = [
    {"source": f"{H}/x.jpg"},
    {"source": "local/x.png", "timestamp": 3},
    {"source": "/abs/x.png", "masks": ["m0.png", f"{H}/m1.png"], "schema_version": 1},
    {"id": "given-1", **FRAME},
    FRAME,
    {"frames": {"front": FRAME, "rear": {"source": f"{H}/r.jpg"}}},
    {"frames": {"b": {"source": "z.jpg", "timestamp": 2}, "a": {"source": "y.jpg", "id": "f"}}},
    {
        "id": "g-1",
        "context_id": "c",
        "timestamp": 1e3,
        "metadata": {"w": "rain"},
        "annotations": [{"labels": ["highway"]}],
        "frames": {"cam": FRAME},
    },
    {"frames": {"a": {"source": f"{H}/a.jpg", "timestamp": -0.0}}, "timestamp": None},
    {"frames": {"a": {"source": f"{H}/a.jpg"}}, "metadata": {"s": "Zürich ☃ \u0085"}},
    {"id": "Zürich-☃", "source": f"{H}/a.jpg", "annotations": [_box(1.5e-7)]},
]


def _object_path(text: bytes) -> FrameDocument | FrameGroup | object:
    parsed = parse_jsonl_line(text, "m.jsonl:1", BASE)
    return parsed


def _row(item: object) -> tuple:
    planned = Planned(item, None, 0)
    try:
        plan(planned, False)
    except Exception as exc:  # planning refuses both alike (an unsupported scheme...)
        return (type(exc).__name__, str(exc))
    row = frame_row(item, planned.doc)  # type: ignore[arg-type]
    return (row.id, row.kind, row.context_id, row.timestamp, row.document)


def _check(text: bytes) -> bool:
    """Compare both paths on one line; True if the fast path took it."""
    fast = decode_line(text, "m.jsonl:1", BASE)
    slow = _object_path(text)
    if fast is None:
        return False
    document, derived = fast
    assert not isinstance(slow, RejectedFrame | Header), (text[:300], slow)
    assert slow is not None
    assert derived == (slow.id is None)  # type: ignore[attr-defined]
    assert _row(document) == _row(slow), text[:300]
    return True


@pytest.mark.parametrize("doc", GOOD, ids=range(len(GOOD)))
def test_fast_path_equals_object_path(doc: dict) -> None:
    for text in (orjson.dumps(doc), json.dumps(doc, indent=1).encode().replace(b"\n", b" ")):
        assert _check(text)


def test_fast_path_takes_the_benchmark_shape() -> None:
    line = orjson.dumps(
        {"context_id": "d", "timestamp": 0.1, "metadata": {"v": "car"},
         "frames": {f"cam{i}": {**FRAME, "source": f"{H}/{i}.jpg"} for i in range(6)}}
    )  # fmt: skip
    assert _check(line)


def test_hostile_corpus_lines_agree() -> None:
    """Every JSONL line of the hostile corpus, and variants of it: never accepted by the fast
    path unless the object model accepts it the same."""
    taken = 0
    for case in CASES:
        if not case.batch.endswith(".jsonl"):
            continue
        for line in case.lines:
            text = line.strip()
            if text:
                taken += _check(text)
    assert taken > 5


BAD = [
    b'{"source": ""}',
    b'{"source": "a\\u0000b"}',
    b'{"source": "a", "width": 0}',
    b'{"source": "a", "width": 1.0}',
    b'{"source": "a", "width": 9223372036854775808}',
    b'{"source": "a", "timestamp": 18446744073709551616}',
    b'{"source": "a", "timestamp": 1e999}',
    b'{"source": "a", "timestamp": true}',
    b'{"source": "a", "id": "x\\ny"}',
    b'{"source": "a", "id": "x\\u0085y"}',
    b'{"source": "a", "id": ""}',
    b'{"source": "a", "extra": 1}',
    b'{"source": "a", "schema_version": 3}',
    b'{"source": "a", "metadata": {"k": 9223372036854775808}}',
    b'{"source": "a", "metadata": []}',
    b'{"source": "a", "annotations": [{"labels": []}]}',
    b'{"source": "a", "annotations": [{"labels": [""]}]}',
    b'{"source": "a", "annotations": [{"box2d_xywh": [1, 2, -3, 4]}]}',
    b'{"source": "a", "annotations": [{"box2d_xywh": [1, 2, 3]}]}',
    b'{"source": "a", "annotations": [{"poly2d_xy": [1, 2, 3, 4, 5, 6, 7]}]}',
    b'{"source": "a", "annotations": [{"keypoints": [1, 2, 3]}]}',
    b'{"source": "a", "annotations": [{"keypoints": [1, 2], "box2d_xywh": [1, 2, 3, 4]}]}',
    b'{"source": "a", "annotations": [{"labels": ["x"], "confidence": 1.5}]}',
    b'{"source": "a", "annotations": [{"labels": ["x"], "confidence": true}]}',
    b'{"source": "a", "annotations": [{"labels": ["x"], "shape": 1}]}',
    b'{"source": "a", "masks": {"": "m"}}',
    b'{"source": "a", "masks": 3}',
    b'{"frames": {}}',
    b'{"frames": {"a/b": {"source": "a"}}}',
    b'{"frames": {"": {"source": "a"}}}',
    b'{"frames": {"a": {"source": "a"}, "a": {"source": "b"}}}',
    b'{"frames": {"a": {"source": "a", "frames": {}}}}',
    b'{"frames": {"a": {"source": "a"}}, "source": "b"}',
    b'{"frames": {"a\\u001b": {"source": "a"}}}',
    b'{"frames": {"' + b"n" * 513 + b'": {"source": "a"}}}',
    b'{"source": "\\ud800"}',
    b'{"source": "a"} x',
    b"[1]",
    b'{"manifest": {"dataset": "d"}}',
]


@pytest.mark.parametrize("text", BAD, ids=range(len(BAD)))
def test_fast_path_leaves_what_the_object_model_refuses(text: bytes) -> None:
    assert decode_line(text, "m.jsonl:1", BASE) is None
    assert isinstance(_object_path(text), RejectedFrame | Header)


def test_manifest_yields_documents_and_duplicates(tmp_path: os.PathLike) -> None:
    path = os.path.join(tmp_path, "m.jsonl")
    lines = [{"source": f"{H}/a.jpg"}, {"source": f"{H}/a.jpg"}, {"frames": {"x": FRAME}}]
    with open(path, "wb") as fh:
        fh.write(b"\n".join(orjson.dumps(d) for d in lines) + b"\n" + b'{"source": 1}\n')
    entries = list(Manifest(path))
    assert isinstance(entries[0], FrameDocument) and entries[0].where == f"{path}:1"
    assert isinstance(entries[1], RejectedFrame) and entries[1].error_class == "DuplicateId"
    assert "derived from context" in entries[1].message and f"{path}:1" in entries[1].message
    assert isinstance(entries[2], FrameDocument) and entries[2].kind == "group"
    assert isinstance(entries[3], RejectedFrame) and entries[3].where == f"{path}:4"
    assert not any(isinstance(e, Located) for e in entries)


def _entry(entry: object) -> tuple:
    """What the pipeline gets from a manifest entry: where, and the row or the rejection."""
    if isinstance(entry, RejectedFrame):
        return ("rejected", entry.where, entry.error_class, entry.message, entry.frame_name)
    item = entry.item if isinstance(entry, Located) else entry
    return (getattr(entry, "where", None), _row(item))


def test_decoder_processes_give_the_same_entries(tmp_path: os.PathLike, monkeypatch) -> None:
    """A manifest read through decoder processes (decodepool.py) yields what the in-process
    reader yields, in the same order: documents (their rows byte for byte), lines left to the
    object model, rejections with their file:line, duplicates naming the first line."""
    from ingest import decodepool

    monkeypatch.setattr(decodepool, "CHUNK_LINES", 7)  # small chunks: many cross the boundary
    monkeypatch.setattr(decodepool, "AHEAD_PER_PROCESS", 1)
    lines = [orjson.dumps(d) for d in GOOD] + BAD + [b"", b"   ", b"not json"]
    lines += [orjson.dumps({"frames": {"c": {"source": f"{H}/{i}.jpg"}}}) for i in range(40)]
    lines += [orjson.dumps(GOOD[0]), orjson.dumps({"frames": {"c": {"source": "l/1.jpg"}}})]
    path = os.path.join(tmp_path, "m.jsonl")
    with open(path, "wb") as fh:
        fh.write(b"\n".join(lines) + b"\n")
    here = [_entry(e) for e in Manifest(path)]
    manifest = Manifest(path, decode_processes=1)
    pooled = list(manifest)
    assert manifest._pool is None  # closed with the file
    assert [_entry(e) for e in pooled] == here
    crossed = [e for e in pooled if isinstance(e, FrameDocument) and e.encoded is not None]
    by_reference = [e for e in crossed if e.by_reference]
    assert len(by_reference) >= 40 and all(e.doc is None for e in by_reference)  # never built
    assert all(e.rev == revision(e.encoded) for e in crossed)  # the catalog's, computed there
    assert not crossed[-1].by_reference  # a local source: planned (and stored) in the parent
    assert any(r[0] == "rejected" and r[2] == "DuplicateId" for r in here)
