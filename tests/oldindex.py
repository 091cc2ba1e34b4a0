"""The query index as the whole parsed document gives it (orjson, dicts): the oracle of
``catalog/frameindex.py``, in the shape migration 11 made (``rows``) and in the shape migration
7 wrote before it (``old_rows``, with that migration's tables: ``OLD_SCHEMA``), so a test can
build a catalog at migration 10 as the former code left it."""

from __future__ import annotations

from typing import Any

import orjson

from ingest.catalog.frameindex import GROUP, MAX_INDEXED

Tables = tuple[list[tuple[Any, ...]], ...]

#: the index tables of migration 7 as it was before migration 11 (units named in every row,
#: every scalar keyed by its text, a group's metadata in each of its units' rows)
OLD_SCHEMA = [
    """CREATE TABLE frame_units (
        frame_row BIGINT NOT NULL, unit {text} NOT NULL, uri {text}, width {real}, height {real},
        content_type {text}, context_id {text}, timestamp {real},
        PRIMARY KEY (frame_row, unit)){without_rowid}""",
    """CREATE TABLE frame_labels (
        frame_row BIGINT NOT NULL, unit {text} NOT NULL, roi INTEGER NOT NULL,
        label {text} NOT NULL, confidence {real},
        PRIMARY KEY (label, frame_row, unit, roi)){without_rowid}""",
    """CREATE TABLE frame_meta (
        frame_row BIGINT NOT NULL, unit {text} NOT NULL, key {text} NOT NULL, seq INTEGER NOT NULL,
        text {text} NOT NULL, num {real},
        PRIMARY KEY (key, text, frame_row, unit, seq)){without_rowid}""",
]
OLD_TABLES = ("frame_units", "frame_labels", "frame_meta")


def _number(value: Any) -> float | None:
    kind = type(value)
    return float(value) if kind is int or kind is float else None


def _scalars(prefix: str, value: dict[str, Any], out: list[tuple[str, str, Any]]) -> None:
    for key, inner in value.items():
        name = f"{prefix}.{key}" if prefix else key
        if type(inner) is dict:
            _scalars(name, inner, out)
            continue
        if len(name) > MAX_INDEXED:
            continue
        for scalar in inner if type(inner) is list else (inner,):
            if type(scalar) is str:
                if len(scalar) <= MAX_INDEXED:
                    out.append((name, scalar, None))
            elif scalar is not None and type(scalar) not in (dict, list):
                out.append((name, orjson.dumps(scalar).decode(), _number(scalar)))


def _rois(part: dict[str, Any]) -> list[tuple[list[str], float | None]]:
    out = []
    for annotation in part.get("annotations") or ():
        labels = [x for x in annotation.get("labels") or () if len(x) <= MAX_INDEXED]
        out.append((list(dict.fromkeys(labels)) or [""], _number(annotation.get("confidence"))))
    return out


def _meta(part: dict[str, Any]) -> list[tuple[str, str, Any]]:
    out: list[tuple[str, str, Any]] = []
    _scalars("", part.get("metadata") or {}, out)
    return out


def _units(doc: dict[str, Any]) -> list[tuple[str, dict[str, Any], list[Any], list[Any]]]:
    """(name, frame, rois, own metadata scalars) of each SingleFrame (the group's ROIs first)."""
    frames = doc.get("frames")
    if type(frames) is not dict:
        return [("", doc, _rois(doc), _meta(doc))]
    return [
        (name, frame, _rois(doc) + _rois(frame), _meta(frame)) for name, frame in frames.items()
    ]


def _unit_fields(doc: dict[str, Any], frame: dict[str, Any]) -> tuple[Any, ...]:
    stamp = doc.get("timestamp")
    stamp = frame.get("timestamp") if stamp is None else stamp
    return (frame.get("source"), _number(frame.get("width")), _number(frame.get("height")),
            frame.get("content_type"), doc.get("context_id") or frame.get("context_id"),
            _number(stamp))  # fmt: skip


def rows(documents: list[bytes], first: int = 1) -> Tables:
    """(units, labels, meta, nums) rows of frames rows ``first``, ... holding ``documents``."""
    units: list[Any] = []
    labels: list[Any] = []
    meta: list[Any] = []
    nums: list[Any] = []

    def scalars(row: int, unit: int, found: list[tuple[str, str, Any]]) -> None:
        for seq, (key, text, num) in enumerate(found):
            if num is None:
                meta.append((row, unit, key, seq, text))
            else:
                nums.append((row, unit, key, seq, num, text))

    for row, document in enumerate(documents, first):
        doc = orjson.loads(document)
        parts = _units(doc)
        if type(doc.get("frames")) is dict and parts:
            scalars(row, GROUP, _meta(doc))
        for unit, (name, frame, rois, own) in enumerate(parts):
            units.append((row, unit, name, *_unit_fields(doc, frame)))
            labels += [(row, unit, roi, label, conf)
                       for roi, (names, conf) in enumerate(rois) for label in names]  # fmt: skip
            scalars(row, unit, own)
    return units, labels, meta, nums


def old_rows(documents: list[bytes], first: int = 1) -> Tables:
    """(units, labels, meta) rows in migration 7's shape of frames rows ``first``, ..."""
    units: list[Any] = []
    labels: list[Any] = []
    meta: list[Any] = []
    for row, document in enumerate(documents, first):
        doc = orjson.loads(document)
        group = _meta(doc) if type(doc.get("frames")) is dict else []
        for name, frame, rois, own in _units(doc):
            units.append((row, name, *_unit_fields(doc, frame)))
            labels += [(row, name, roi, label, conf)
                       for roi, (names, conf) in enumerate(rois) for label in names]  # fmt: skip
            meta += [(row, name, key, seq, text, num)
                     for seq, (key, text, num) in enumerate(group + own)]  # fmt: skip
    return units, labels, meta
