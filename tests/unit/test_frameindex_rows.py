"""The query index rows decoded with msgspec (``catalog/frameindex.py``) are exactly the rows
a walker over the whole parsed document builds (``tests/oldindex.py``, the oracle), for
generated documents of every shape and for the edge cases one by one."""

from __future__ import annotations

import random
from typing import Any

import orjson
import pytest

from ingest.catalog.frameindex import MAX_INDEXED, IndexRows

from ..oldindex import rows as oracle_rows

# --- generated documents -----------------------------------------------------------------------

LONG = "k" * (MAX_INDEXED - 3)  # a key that crosses MAX_INDEXED once prefixed


def _scalar(rng: random.Random) -> Any:
    return rng.choice([
        lambda: rng.randint(-(2**62), 2**62), lambda: rng.randint(-5, 5),
        lambda: rng.uniform(-1e6, 1e6), lambda: rng.choice([1e16, 1e-5, 0.1, -0.0, 2.5e-300]),
        lambda: rng.random() < 0.5, lambda: None, lambda: "",
        lambda: "é✓" * rng.randint(0, 4),
        lambda: "s" * rng.choice([1, MAX_INDEXED, MAX_INDEXED + 1]),
    ])()  # fmt: skip


def _value(rng: random.Random, depth: int) -> Any:
    pick = rng.random()
    if pick < 0.15 and depth < 3:
        return _metadata(rng, depth + 1)
    if pick < 0.3:  # lists of scalars, with nested lists / objects (not indexed) among them
        return [
            _scalar(rng) if rng.random() < 0.8 else rng.choice([[1, "a"], {"x": 1}])
            for _ in range(rng.randint(0, 4))
        ]
    return _scalar(rng)


def _metadata(rng: random.Random, depth: int = 0) -> dict[str, Any]:
    keys = ["camera", "a", "speed", "é", "x.y", LONG, "K" * (MAX_INDEXED + 1), ""]
    return {rng.choice(keys) + str(i): _value(rng, depth) for i in range(rng.randint(0, 5))}


def _annotation(rng: random.Random) -> dict[str, Any]:
    a: dict[str, Any] = {"box2d_xywh": [rng.randint(0, 99) for _ in range(4)]}
    if rng.random() < 0.8:
        labels = ["car", "car", "", "ped", "l" * (MAX_INDEXED + 1), "l" * MAX_INDEXED]
        a["labels"] = rng.sample(labels, rng.randint(0, 3)) if rng.random() < 0.9 else None
    if rng.random() < 0.7:
        a["confidence"] = rng.choice([rng.random(), 0, 1, None])
    if rng.random() < 0.3:
        a["metadata"] = _metadata(rng)
    return a


def _frame(rng: random.Random) -> dict[str, Any]:
    optional = {
        "source": lambda: rng.choice(["s3://b/k.jpg", "https://h/x.png", None]),
        "width": lambda: rng.choice([1920, 640.5, None]),
        "height": lambda: rng.choice([1080, 0, None]),
        "content_type": lambda: rng.choice(["image/jpeg", None]),
        "context_id": lambda: rng.choice(["drive-1", "", None]),
        "timestamp": lambda: rng.choice([0, 0.0, 12.25, 7, None]),
        "metadata": lambda: rng.choice([_metadata(rng), {}, None]),
        "annotations": lambda: rng.choice(
            [[_annotation(rng) for _ in range(rng.randint(0, 4))], None]
        ),
        "preview": lambda: {"uri": "s3://b/p.jpg", "width": 10},
        "masks": lambda: {"seg": {"uri": "s3://b/m.png"}},
        "id": lambda: "f" * 32,
    }  # fmt: skip
    return {k: make() for k, make in optional.items() if rng.random() < 0.7}


def document(rng: random.Random) -> dict[str, Any]:
    doc = _frame(rng)
    if rng.random() < 0.6:
        names = ["front", "rear", "left", "", "n" * 300]
        doc["frames"] = {rng.choice(names) + str(i): _frame(rng) for i in range(rng.randint(0, 4))}
    elif rng.random() < 0.2:
        doc["frames"] = None
    return doc


def _rows(docs: list[bytes]) -> tuple[list[Any], ...]:
    rows = IndexRows()
    for row, doc in enumerate(docs, 1):
        rows.add(row, doc)
    return tuple([tuple(r) for r in rows] for _, rows in rows.tables())


@pytest.mark.parametrize("seed", range(8))
def test_generated_documents_give_the_oracles_rows(seed: int) -> None:
    rng = random.Random(seed)
    docs = [orjson.dumps(document(rng)) for _ in range(400)]
    new, old = _rows(docs), oracle_rows(docs)
    assert sum(map(len, old)) > 1000  # the documents do give rows of every table
    assert all(old)
    assert new == old
    # same types too (a float is not an int in the index): compared tuple by tuple
    assert [tuple(map(type, r)) for t in new for r in t] == [
        tuple(map(type, r)) for t in old for r in t
    ]


EDGE_CASES: list[dict[str, Any]] = [
    {},  # a lone SingleFrame with nothing in it
    {"source": "s3://b/a.jpg", "width": 2, "height": 3, "timestamp": 1, "context_id": "c"},
    {"frames": {}},  # a group without frames: no units
    {"frames": {"a": {}}, "metadata": {"g": 1}, "annotations": [{"labels": ["x"]}]},
    {"metadata": {"n": {"e": {"s": {"t": ["a", 1, 2.5, True, False, None, [1], {"k": 1}]}}}}},
    {"metadata": {"b": True, "f": False, "z": None, "i": 3, "x": 1.5, "big": 2**63 - 1}},
    {"metadata": {"k" * (MAX_INDEXED + 1): "v", "k" * MAX_INDEXED: "s" * (MAX_INDEXED + 1)}},
    {"metadata": {"p" * 200: {"q" * 100: 1, "r": {"s": 2}}}},  # dotted key over the limit
    {"annotations": [{}, {"labels": []}, {"labels": None, "confidence": 0.5}]},
    {"annotations": [{"labels": ["a", "a", "b"], "confidence": 1}, {"labels": ["l" * 300]}]},
    {"annotations": None, "metadata": None, "frames": None},
    {"timestamp": None, "frames": {"a": {"timestamp": 4}, "b": {"timestamp": None}}},
    {"context_id": "", "frames": {"a": {"context_id": "ctx"}, "b": {}}},
    {"width": True, "height": "12", "timestamp": False},  # not numbers: no number indexed
    {"metadata": {"e": 1e16, "f": 1e-05, "g": -0.0, "h": 123456789.125}},
]


@pytest.mark.parametrize("doc", EDGE_CASES, ids=range(len(EDGE_CASES)))
def test_edge_cases_give_the_oracles_rows(doc: dict[str, Any]) -> None:
    for encoded in (orjson.dumps(doc), orjson.dumps(doc).decode()):  # bytes and text columns
        assert _rows([encoded]) == oracle_rows([encoded])  # type: ignore[list-item]


def test_skipped_fields_are_never_built() -> None:
    # an annotation's coordinates and metadata are not part of what is indexed: a document
    # with huge ones gives the same rows as without them
    heavy = {"frames": {"a": {"annotations": [{"labels": ["x"], "poly2d_xy": list(range(10**5)),
                                                "metadata": {"m": 1}}]}}}  # fmt: skip
    light = {"frames": {"a": {"annotations": [{"labels": ["x"]}]}}}
    assert _rows([orjson.dumps(heavy)]) == _rows([orjson.dumps(light)])
