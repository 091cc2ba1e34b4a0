"""PATCH semantics for a frame's JSON document (pure).

Two body forms, chosen by the request's Content-Type:

``application/json`` -- a *partial document*: every field given replaces the stored field
(``metadata``, ``annotations``, ``masks`` are replaced whole; ``null`` clears a field). For a
FrameGroup, ``frames`` is merged by name: ``{"frames": {"front": {"metadata": {...}}}}`` replaces
only the ``metadata`` of ``front``; a name mapped to ``null`` removes that SingleFrame; a new
name adds one (its full document). This is what the web UI sends.

``application/merge-patch+json`` -- an RFC 7396 JSON Merge Patch over the whole document:
objects merge recursively, ``null`` removes a key, anything else replaces.
``{"frames": {"front": {"metadata": {"weather": "rain", "old": null}}}}`` sets one key and
removes another.

Either way the result is validated as a whole (``item_from_doc``); the id and the kind
(group or single) cannot change, and URIs may only be kept or set to remote ones (http, https,
s3, gs, az): local objects are uploaded with ``add_frames``, never referenced by a web edit.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import orjson

from ..errors import ValidationError
from ..frames import FrameGroup, Item, item_from_doc
from ..limits import loads
from ..sources import REMOTE_SCHEMES

PARTIAL = "application/json"
MERGE_PATCH = "application/merge-patch+json"
#: deeper bodies are refused before anything recurses into them (a stored document is
#: serialised by orjson, whose limit is 254 levels; a frame adds a few levels around metadata)
MAX_BODY_DEPTH = 200


def parse_body(raw: bytes) -> Any:
    """The JSON of a request body; ValidationError (400) for invalid or too deeply nested JSON."""
    try:  # integers beyond 64 bits stay exact, so validation refuses them by name
        value = loads(raw)
    except ValueError as exc:
        raise ValidationError("body", f"is not valid JSON: {exc}") from None
    if nesting_depth(value, MAX_BODY_DEPTH) > MAX_BODY_DEPTH:
        raise ValidationError("body", f"is nested more than {MAX_BODY_DEPTH} levels deep")
    return value


def nesting_depth(value: Any, stop: int) -> int:
    """How deeply ``value`` nests objects and arrays (a scalar is 0), without recursion;
    counting stops past ``stop``."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict | list):
            depth += 1
            deepest = max(deepest, depth)
            if deepest > stop:
                return deepest
            children = node.values() if isinstance(node, dict) else node
            stack.extend((child, depth) for child in children)
    return deepest


@contextlib.contextmanager
def guarded() -> Iterator[None]:
    """Errors of applying a patch and serialising the result that come from the body's shape
    (too deep for the recursion limit or for orjson) are a 400, never a 500."""
    try:
        yield
    except RecursionError:
        raise ValidationError("body", "is nested too deeply") from None
    except orjson.JSONEncodeError as exc:
        raise ValidationError("body", f"cannot be stored: {exc}") from None


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396: apply ``patch`` to ``target`` (neither is modified)."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


def partial_patch(current: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """Replace the given fields; merge a group's ``frames`` by name (see the module doc)."""
    out = copy.deepcopy(current)
    for key, value in patch.items():
        if key == "frames" and "frames" in current:
            if not isinstance(value, dict):
                raise ValidationError("frames", "must be an object name -> (partial) frame")
            frames = out["frames"]
            for name, frame_patch in value.items():
                if frame_patch is None:
                    frames.pop(name, None)
                elif name in frames and isinstance(frame_patch, dict):
                    frames[name] = {**frames[name], **copy.deepcopy(frame_patch)}
                else:
                    frames[name] = copy.deepcopy(frame_patch)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _uris(doc: Any) -> Iterator[tuple[str, Any]]:
    if not isinstance(doc, dict):
        return
    frames = doc.get("frames")
    entries = frames.items() if isinstance(frames, dict) else [("", doc)]
    for name, frame in entries:
        if not isinstance(frame, dict):
            continue
        where = f"frames[{name!r}]." if name else ""
        yield f"{where}source", frame.get("source")
        yield f"{where}preview_uri", frame.get("preview_uri")
        masks = frame.get("masks")
        if isinstance(masks, dict):
            for mask_id, uri in masks.items():
                yield f"{where}masks[{mask_id!r}]", uri


def apply_patch(
    current: dict[str, Any], patch: Any, frame_id: str, *, content_type: str = PARTIAL
) -> Item:
    """The validated item that results from applying ``patch`` to the stored ``current``."""
    if not isinstance(patch, dict):
        raise ValidationError("body", "must be a JSON object (a full or partial frame document)")
    if "id" in patch and patch["id"] != frame_id:
        raise ValidationError("id", "cannot be changed (it is the frame's identity)")
    if content_type == MERGE_PATCH:
        new_doc = merge_patch(current, patch)
    else:
        new_doc = partial_patch(current, patch)
    new_doc["id"] = frame_id
    was_group = "frames" in current
    if ("frames" in new_doc) != was_group:
        raise ValidationError(
            "frames",
            "a FrameGroup stays a FrameGroup and a SingleFrame stays a SingleFrame",
        )
    known = {uri for _, uri in _uris(current) if isinstance(uri, str)}
    for where, uri in _uris(new_doc):
        if isinstance(uri, str) and uri not in known:
            if urlsplit(uri).scheme.lower() not in REMOTE_SCHEMES:
                raise ValidationError(
                    where,
                    f"{uri[:200]!r}: a web edit may keep a URI or set a remote one "
                    "(http, https, s3, gs, az); upload local files with add_frames",
                )
    item = item_from_doc(new_doc, "frame")
    item.id = frame_id
    if isinstance(item, FrameGroup) != was_group:  # pragma: no cover - checked above
        raise ValidationError("frames", "the kind of a frame cannot change")
    return item
