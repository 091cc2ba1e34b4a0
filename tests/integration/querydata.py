"""Frames for the query tests, and a brute-force evaluator of the query language over them.

The evaluator reads the frames' documents in Python, the way the README states the semantics
(a frame matches when one of its SingleFrames does; a group's metadata and annotations belong
to each of its SingleFrames); the catalog answers the same queries in SQL.
"""

from __future__ import annotations

import fnmatch
import random
import re
from typing import Any

import orjson

from ingest import FrameGroup, SingleFrame
from ingest.query import And, FrameFilter, Match, Node, Not, Or, Range

LABELS = ["Car", "Person", "partly_occluded", "lane", "Car Door"]
T0 = 1_700_000_000.0


def make_frames(seed: int = 7, groups: int = 48, singles: int = 12) -> list[Any]:
    rng = random.Random(seed)
    items: list[Any] = []

    def annotate(target: Any) -> None:
        for _ in range(rng.randrange(4)):
            labels = rng.sample(LABELS, rng.randrange(0, 3))
            confidence = rng.choice([None, 0.3, 0.5, 0.75, 0.9, 1.0])
            target.add_annotation(box2d_xywh=(1, 2, 3, 4), labels=labels, confidence=confidence)

    for i in range(groups):
        group = FrameGroup(
            context_id=rng.choice(["drive-a", "drive-b", "city-1"]),
            timestamp=T0 + i * 37.5,
            metadata={
                "city": rng.choice(["bremen", "berlin", "hamburg"]),
                "n": i,
                "flag": i % 3 == 0,
                "nested": {"k": f"v{i % 3}"},
                "date": f"2023-11-{10 + i % 8:02d}",
                **({"tags": ["x", "y"]} if i % 4 == 0 else {}),
            },
        )
        if i % 5 == 0:
            group.add_global_annotation(labels=[rng.choice(["day", "night"])])
        for cam in rng.sample(["front", "rear", "left"], rng.randrange(1, 4)):
            group[cam] = SingleFrame(
                source=f"https://host/{cam}/{i:04d}.jpg",
                width=rng.choice([640, 1280]),
                height=480,
                content_type=rng.choice(["image/jpeg", "image/png"]),
                metadata={"exposure": rng.randrange(100, 1000)},
            )
            annotate(group[cam])
        items.append(group)
    for j in range(singles):
        frame = SingleFrame(
            id=f"single-{j}",
            source=f"https://host/solo/{j}.png",
            width=320,
            height=240,
            context_id=rng.choice(["drive-a", "solo"]),
            timestamp=T0 + 5000 + j,
            metadata={"city": rng.choice(["bremen", "munich"]), "n": 100 + j},
        )
        annotate(frame)
        items.append(frame)
    return items


# ---------------------------------------------------------------- brute force


def _units(doc: dict[str, Any]) -> list[dict[str, Any]]:
    frames = doc.get("frames")
    pairs = list(frames.items()) if isinstance(frames, dict) else [("", doc)]
    group = doc if isinstance(frames, dict) else {}
    units = []
    for name, frame in pairs:
        rois = [
            (a.get("labels") or [""], a.get("confidence"))
            for a in [*(group.get("annotations") or []), *(frame.get("annotations") or [])]
        ]
        meta: list[tuple[str, Any]] = []
        for part in (group.get("metadata") or {}, frame.get("metadata") or {}):
            meta += _flatten("", part)
        ts = group.get("timestamp")
        units.append(
            {
                "rois": rois,
                "meta": meta,
                "source.id": name,
                "source.uri": frame.get("source"),
                "source.width": frame.get("width"),
                "source.height": frame.get("height"),
                "source.content_type": frame.get("content_type"),
                "context_id": group.get("context_id") or frame.get("context_id"),
                "timestamp": frame.get("timestamp") if ts is None else ts,
                "id": doc["id"],
            }
        )
    return units


def _flatten(prefix: str, value: Any) -> list[tuple[str, Any]]:
    if isinstance(value, dict):
        return [
            kv for k, v in value.items() for kv in _flatten(f"{prefix}.{k}" if prefix else k, v)
        ]
    if isinstance(value, list):
        return [(prefix, v) for v in value if not isinstance(v, dict | list)]
    return [] if value is None else [(prefix, value)]


def _glob(pattern: str, text: Any) -> bool:
    if not isinstance(text, str):
        return False
    return fnmatch.fnmatchcase(text, re.sub(r"([\[\]])", r"[\1]", pattern))


def _text(value: Any) -> str:
    return value if isinstance(value, str) else orjson.dumps(value).decode()


def _is_num(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _in(node: Range, value: Any) -> bool:
    if value is None:
        return False
    if node.low is not None and not (value >= node.low if node.include_low else value > node.low):
        return False
    return node.high is None or (value <= node.high if node.include_high else value < node.high)


def _term(node: Match | Range, labels: list[str], confs: list[Any], unit: dict[str, Any]) -> bool:
    field = node.field
    if field == "label":
        assert isinstance(node, Match)
        return any(_glob(node.value, x) if node.wildcard else x == node.value for x in labels)
    if field == "confidence":
        if isinstance(node, Range):
            return any(_in(node, c) for c in confs)
        return any(c is not None and c == node.number for c in confs)
    if field.startswith("meta."):
        values = [v for k, v in unit["meta"] if k == field[5:]]
        if isinstance(node, Range):
            numeric = isinstance(node.low, float) or isinstance(node.high, float)
            if numeric:
                return any(_in(node, v) for v in values if _is_num(v))
            return any(_in(node, _text(v)) for v in values if not _is_num(v))
        if node.wildcard:
            return any(_glob(node.value, _text(v)) for v in values)
        return any(_text(v) == node.value or (_is_num(v) and v == node.number) for v in values)
    value = unit[field]
    if isinstance(node, Range):
        return _in(node, value)
    if node.number is not None:
        return value == node.number
    return _glob(node.value, value) if node.wildcard else value == node.value


def holds(node: Node, unit: dict[str, Any], roi: tuple[list[str], Any] | None = None) -> bool:
    """``node`` on a unit (frame scope) or on one of its ROIs (``roi`` given)."""
    if isinstance(node, And):
        return all(holds(n, unit, roi) for n in node.items)
    if isinstance(node, Or):
        return any(holds(n, unit, roi) for n in node.items)
    if isinstance(node, Not):
        return not holds(node.item, unit, roi)
    if roi is not None:
        return _term(node, roi[0], [roi[1]], unit)
    labels = [x for r in unit["rois"] for x in r[0]]
    return _term(node, labels, [r[1] for r in unit["rois"]], unit)


def selects(rule: FrameFilter, doc: dict[str, Any]) -> bool:
    for unit in _units(doc):
        if rule.roi is not None or rule.count_range or rule.conf_range:
            lo_c, hi_c = rule.conf_range or (None, None)
            matching = [
                r for r in unit["rois"]
                if (rule.roi is None or holds(rule.roi, unit, r))
                and (rule.conf_range is None or _in(Range("confidence", lo_c, hi_c), r[1]))
            ]  # fmt: skip
            low, high = rule.count_range or (1, None)
            if len(matching) < (low or 0) or (high is not None and len(matching) > high):
                continue
        if rule.frame is not None and not holds(rule.frame, unit):
            continue
        if rule.source is not None and not holds(rule.source, unit):
            continue
        return True
    return False


def sort_key(doc: dict[str, Any]) -> tuple[str, float, str]:
    frames = doc.get("frames")
    ctx = doc.get("context_id")
    if ctx is None and isinstance(frames, dict):
        ctx = next(iter(frames.values())).get("context_id")
    ts = doc.get("timestamp")
    return ctx or "", -1.0e300 if ts is None else float(ts), doc["id"]
