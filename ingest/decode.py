"""Manifest lines straight from bytes to validated ``FrameDocument`` s (msgspec): the fast path.

The object model (``frames.py``, ``annotation.py``, ``fields.py``, ``limits.py``) stays the
one definition of what a document may hold and of every error message. This module is a
faster *acceptor of a subset* of it:

- msgspec Structs mirror the schema and carry the rules a type can say, built from the same
  constants (``limits``): types, required fields, unknown fields, non-empty strings, 64-bit
  integers, finite numbers, positive dimensions, confidence in [0, 1], box and ellipse sizes,
  id and frame-name length and characters;
- a few lines of Python check what a type cannot (one shape per annotation, labels or a shape,
  non-negative sizes, even coordinate counts), then build the document exactly as
  ``to_doc()`` does, and derive the id with ``frames.identity_id``.

Whatever this path does not accept (any error, and the rarer forms it leaves out: nested
metadata values, nested polygons, escaped NUL bytes, a ``"source"`` count that hints at a
duplicate key, ``schema_version`` written as ``1.0``) returns ``None``, and the caller reads
the line through the object model, which accepts it or names the field and the reason. So a
line gets the same outcome and message on both paths; ``tests/unit/test_decode.py`` checks
that whatever this path accepts, the object model accepts too, with the same stored bytes.
"""

from __future__ import annotations

import operator
import sys
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta, Struct

from .annotation import content_id
from .documents import FrameDocument
from .frames import SCHEMA_VERSION, identity_id
from .limits import CONTROL_CLASS, INT_MAX, INT_MIN, MAX_ID_LENGTH
from .masks import mask_list_id
from .rowitems import resolve_uri

__all__ = ["decode_line"]

_FMAX = sys.float_info.max
Int = Annotated[int, Meta(ge=INT_MIN, le=INT_MAX)]
Float = Annotated[float, Meta(ge=-_FMAX, le=_FMAX)]  # finite: JSON has no NaN; 1e999 is out
Num = Int | Float  # an integer stays an integer (msgspec tries int first)
Text = Annotated[str, Meta(min_length=1)]
Id = Annotated[
    str, Meta(min_length=1, max_length=MAX_ID_LENGTH, pattern=f"^[^{CONTROL_CLASS}]*\\Z")
]
Name = Annotated[
    str, Meta(min_length=1, max_length=MAX_ID_LENGTH, pattern=f"^[^/{CONTROL_CLASS}]*\\Z")
]
Dimension = Annotated[int, Meta(gt=0, le=INT_MAX)]
Confidence = Annotated[int, Meta(ge=0, le=1)] | Annotated[float, Meta(ge=0, le=1)]
# flat metadata only (no nesting to walk): nested values go through the object model
Metadata = dict[str, str | Int | Float | bool | None]


class _Annotation(Struct, forbid_unknown_fields=True, gc=False):
    id: Id | None = None
    labels: list[Text] | Text | None = None
    confidence: Confidence | None = None
    metadata: Metadata | None = None
    box2d_xywh: Annotated[list[Num], Meta(min_length=4, max_length=4)] | None = None
    poly2d_xy: Annotated[list[Num], Meta(min_length=6)] | None = None  # one flat polygon
    ellipse2d_xyrrt: Annotated[list[Num], Meta(min_length=5, max_length=5)] | None = None
    keypoints: list[Num] | None = None
    # the other shapes of ``shapes.py``, in their flat forms (pairs, lists of polygons: the
    # object model reads those)
    points2d_xy: Annotated[list[Num], Meta(min_length=2)] | None = None
    box3d_xyzwhxyzwh: Annotated[list[Num], Meta(min_length=10, max_length=10)] | None = None
    poly3d_xyz: Annotated[list[Num], Meta(min_length=9)] | None = None  # one flat polygon
    points3d_xyz: Annotated[list[Num], Meta(min_length=3)] | None = None
    mask_rgb: (
        Annotated[list[Annotated[int, Meta(ge=0, le=255)]], Meta(min_length=3, max_length=3)] | None
    ) = None
    frame_class: Annotated[list[Text], Meta(min_length=1)] | Text | None = None


class _Frame(Struct, forbid_unknown_fields=True, gc=False):
    source: Text
    schema_version: Literal[1, 2] = 2
    id: Id | None = None
    width: Dimension | None = None
    height: Dimension | None = None
    preview_uri: Text | None = None
    content_type: Text | None = None
    context_id: Text | None = None
    timestamp: Num | None = None
    metadata: Metadata | None = None
    masks: dict[Text, Text] | list[Text] | None = None
    annotations: list[_Annotation] | None = None


class _Group(Struct, forbid_unknown_fields=True, gc=False):
    frames: Annotated[dict[Name, _Frame], Meta(min_length=1)]
    schema_version: Literal[1, 2] = 2
    id: Id | None = None
    context_id: Text | None = None
    timestamp: Num | None = None
    metadata: Metadata | None = None
    annotations: list[_Annotation] | None = None


_GROUP = msgspec.json.Decoder(_Group)
_SINGLE = msgspec.json.Decoder(_Frame)


class _NotHere(Exception):
    """The line is left to the object model (which accepts it or says why not)."""


def _sizes(at: tuple[int, ...]) -> Any:
    """A fixed-size shape: bad if a size (at these positions) is negative."""
    if len(at) == 2:
        i, j = at
        return lambda c: (c[i] < 0 or c[j] < 0, c)
    return lambda c: (min(c[i] for i in at) < 0, c)


def _divides(dim: int, wrap: bool) -> Any:
    """A flat polygon (stored wrapped in a list of polygons) or flat points."""
    return lambda c: (len(c) % dim != 0, [c] if wrap else c)


# shape -> coordinates -> (bad, stored form), in ``_Annotation``'s order of shapes; the object
# model (``shapes.py``) reads the rest
_SHAPES: dict[str, Any] = {
    "box2d_xywh": _sizes((2, 3)),
    "poly2d_xy": _divides(2, True),
    "ellipse2d_xyrrt": _sizes((2, 3)),
    "keypoints": _divides(2, False),
    "points2d_xy": _divides(2, False),
    "box3d_xyzwhxyzwh": _sizes((3, 4, 8, 9)),
    "poly3d_xyz": _divides(3, True),
    "points3d_xyz": _divides(3, False),
    "mask_rgb": lambda c: (False, c),
    "frame_class": lambda c: (False, [c] if type(c) is str else c),
}
_SHAPE_NAMES = tuple(_SHAPES)
_SHAPE_VALUES = operator.attrgetter(*_SHAPES)  # one C call for the ten shape fields
_NO_SHAPE = len(_SHAPES)


def _annotation(a: _Annotation) -> dict[str, Any]:
    """``Annotation.to_doc()``: id (None when not given), labels, confidence, the shape if
    any, metadata."""
    labels = a.labels
    labels = [] if labels is None else [labels] if type(labels) is str else labels
    values = _SHAPE_VALUES(a)
    unset = values.count(None)
    metadata = {} if a.metadata is None else a.metadata
    if unset == _NO_SHAPE:
        if not labels:
            raise _NotHere  # neither a shape nor a label
        return {"id": a.id, "labels": labels, "confidence": a.confidence, "metadata": metadata}
    if unset != _NO_SHAPE - 1:
        raise _NotHere  # one shape per annotation
    i = 0
    while values[i] is None:
        i += 1
    key = _SHAPE_NAMES[i]
    bad, coords = _SHAPES[key](values[i])
    if bad:
        raise _NotHere  # negative sizes, a coordinate count that does not divide
    return {
        "id": a.id, "labels": labels, "confidence": a.confidence, key: coords, "metadata": metadata
    }  # fmt: skip


def _annotations(items: list[_Annotation] | None) -> list[dict[str, Any]]:
    """The annotation documents with their ids (given, else ``annotation.content_id``); any
    id twice is left to the object model (``annotation.settle_ids``)."""
    if items is None:
        return []
    out, ids = [], set()
    for a in items:
        doc = _annotation(a)
        if doc["id"] is None:
            doc["id"] = content_id(doc)  # over the document with "id": null, as the model does
        if doc["id"] in ids:
            raise _NotHere
        ids.add(doc["id"])
        out.append(doc)
    return out


def _frame(f: _Frame, source: str, base_dir: str) -> dict[str, Any]:
    """``SingleFrame.to_doc()`` without schema_version and id: its fields, in order."""
    masks = f.masks
    if masks is None:
        masks = {}
    elif type(masks) is list:
        masks = {mask_list_id(i): resolve_uri(uri, base_dir) for i, uri in enumerate(masks)}
    else:
        masks = {k: resolve_uri(uri, base_dir) for k, uri in masks.items()}  # type: ignore[union-attr]
    return {
        "source": source,
        "width": f.width,
        "height": f.height,
        "preview_uri": None if f.preview_uri is None else resolve_uri(f.preview_uri, base_dir),
        "content_type": f.content_type,
        "context_id": source if f.context_id is None else f.context_id,
        "timestamp": f.timestamp,
        "metadata": {} if f.metadata is None else f.metadata,
        "masks": masks,
        "annotations": _annotations(f.annotations),
    }


def _member(f: _Frame, base_dir: str) -> dict[str, Any]:
    """A frame of a group (its id, if given, first)."""
    doc = _frame(f, resolve_uri(f.source, base_dir), base_dir)
    return doc if f.id is None else {"id": f.id, **doc}


def _group(g: _Group, base_dir: str, where: str) -> tuple[FrameDocument, bool]:
    frames = {name: _member(f, base_dir) for name, f in g.frames.items()}
    context_id, timestamp = g.context_id, g.timestamp
    if context_id is None:
        context_id = next(iter(frames.values()))["context_id"]
    if timestamp is None:
        timestamp = next(
            (f["timestamp"] for f in frames.values() if f["timestamp"] is not None), None
        )
    fid = g.id
    if fid is None:
        fid = identity_id(context_id, timestamp, [(n, f["source"]) for n, f in frames.items()])
    doc = {
        "schema_version": SCHEMA_VERSION,
        "id": fid,
        "context_id": g.context_id,
        "timestamp": g.timestamp,
        "metadata": {} if g.metadata is None else g.metadata,
        "annotations": _annotations(g.annotations),
        "frames": frames,
    }
    return FrameDocument(fid, "group", context_id, timestamp, doc, where), g.id is None


def _single(f: _Frame, base_dir: str, where: str) -> tuple[FrameDocument, bool]:
    source = resolve_uri(f.source, base_dir)
    context_id = source if f.context_id is None else f.context_id
    fid = identity_id(context_id, f.timestamp, source) if f.id is None else f.id
    doc = {"schema_version": SCHEMA_VERSION, "id": fid, **_frame(f, source, base_dir)}
    return FrameDocument(fid, "single", context_id, f.timestamp, doc, where), f.id is None


def decode_line(raw: bytes, where: str, base_dir: str) -> tuple[FrameDocument, bool] | None:
    """A stripped, non-empty manifest line -> (its document, whether its id was derived),
    or None: the line is for the object model to read (``manifest.parse_jsonl_line``)."""
    if b"\\u0000" in raw:  # a NUL somewhere (allowed in metadata, not in a URI): look closer
        return None
    try:
        if b'"frames"' in raw:
            group = _GROUP.decode(raw)
            if raw.count(b'"source"') != len(group.frames):  # maybe a duplicate key
                return None
            return _group(group, base_dir, where)
        return _single(_SINGLE.decode(raw), base_dir, where)
    except (msgspec.MsgspecError, ValueError, RecursionError, _NotHere):
        return None  # invalid UTF-8 is a UnicodeDecodeError; the object model says why
