"""Document limits through the library API, and the manifest's id index."""

from __future__ import annotations

from typing import Any

import pytest

from ingest import FrameGroup, SingleFrame, ValidationError
from ingest.idindex import IdIndex
from ingest.limits import MAX_DEPTH, MAX_ID_LENGTH, loads


def deep(levels: int) -> dict[str, Any]:
    value: Any = 1
    for _ in range(levels - 1):
        value = [value]
    return {"k": value}


@pytest.mark.parametrize(
    "build, field, message",
    [
        (lambda: SingleFrame("a.jpg", width=2**64), "frame.width", "64 bits"),
        (lambda: SingleFrame("a.jpg", height=2**63), "frame.height", "64 bits"),
        (lambda: SingleFrame("a.jpg", timestamp=2**64), "frame.timestamp", "64 bits"),
        (lambda: SingleFrame("a.jpg", metadata={"n": 2**64}), "frame.metadata['n']", "64 bits"),
        (
            lambda: SingleFrame("a.jpg", metadata={"l": [-(2**63) - 1]}),
            "frame.metadata['l'][0]",
            "64 bits",
        ),
        (lambda: SingleFrame("a.jpg", metadata={"d": {1: 2}}), "frame.metadata['d']", "keys"),
        (lambda: FrameGroup(metadata=deep(MAX_DEPTH + 1)), "group.metadata", "nested deeper"),
        (lambda: FrameGroup(metadata=deep(100_000)), "group.metadata", "nested deeper"),
        (lambda: SingleFrame("a\x00.jpg"), "frame.source", "NUL byte"),
        (lambda: SingleFrame("a.jpg", id="x" * (MAX_ID_LENGTH + 1)), "frame.id", "limit"),
        (lambda: SingleFrame("a.jpg", id="x\x1b[2J"), "frame.id", "control character"),
        (lambda: FrameGroup(id="g\x00"), "group.id", "control character"),
        (
            lambda: SingleFrame("a.jpg").add_annotation(labels=["a"], metadata=deep(300)),
            "annotations[0].metadata",
            "nested deeper",
        ),
    ],
)
def test_limits_are_validation_errors_naming_the_field(build, field: str, message: str) -> None:
    with pytest.raises(ValidationError) as err:
        build()
    assert err.value.field == field
    assert message in str(err.value)
    assert "\x1b" not in str(err.value)  # control characters are escaped in messages


def test_values_at_the_limits_pass() -> None:
    SingleFrame("a.jpg", width=2**63 - 1, metadata={"n": -(2**63)})
    SingleFrame("a.jpg", metadata=deep(MAX_DEPTH))
    SingleFrame("a.jpg", id="é" * MAX_ID_LENGTH)
    group = FrameGroup(id="g")
    with pytest.raises(ValidationError, match="control character"):
        group["cam\x1b"] = SingleFrame("a.jpg")


def test_loads_keeps_big_integers_exact() -> None:
    assert loads(b'{"n": 18446744073709551616}') == {"n": 2**64}
    assert loads('{"n": -9223372036854775809}') == {"n": -(2**63) - 1}
    assert loads(b'{"n": 1.5}') == {"n": 1.5}


def test_id_index_remembers_first_lines() -> None:
    index = IdIndex(capacity=4)
    for i in range(5000):
        assert index.add(f"id-{i}", i + 1) is None
    assert len(index) == 5000
    assert index.add("id-42", 9999) == 43
    assert index.first_line("id-4999") == 5000
    assert index.first_line("nope") is None
