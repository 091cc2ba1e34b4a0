"""One annotation at a time: ``/api/versions/{v}/frames/{id}/annotations[/{ann_id}]``.

An annotation is addressed by its id (unique within its frame document). In answers each
annotation is its JSON document form plus ``"frame"``: the SingleFrame it belongs to, or
``null`` for an annotation of the group itself (a global annotation) or of a lone SingleFrame.
Mutations are compare-and-set edits of the whole frame (``edits.edit_frame``): token, Draft
versions only (409), ``If-Match`` (412), every result validated like any frame.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable, Iterator
from typing import Any

from aiohttp import web

from .. import browse
from ..annotation import SHAPES
from ..errors import FrameNotFound, ValidationError
from ..frames import Item, item_from_doc
from .common import APP, ApiError, json_response
from .edits import edit_frame, etag_of
from .patch import PARTIAL, parse_body
from .rest import _ids

routes = web.RouteTableDef()

BASE = "/api/versions/{version_id}/frames/{frame_id}/annotations"


class AnnotationNotFound(FrameNotFound):
    """No annotation of that id in the frame (404)."""


def owners(doc: dict[str, Any]) -> Iterator[tuple[str | None, dict[str, Any]]]:
    """(frame name or None, the part of ``doc`` whose ``annotations`` list it is)."""
    yield None, doc
    yield from (doc.get("frames") or {}).items()


def listed(doc: dict[str, Any], frame: str | None = None) -> list[dict[str, Any]]:
    out = []
    for name, part in owners(doc):
        if frame is None or frame == name:
            out += [{**ann, "frame": name} for ann in part.get("annotations") or []]
    return out


def find(doc: dict[str, Any], ann_id: str) -> tuple[dict[str, Any], int]:
    """The part of ``doc`` holding annotation ``ann_id`` and its index there."""
    for _, part in owners(doc):
        for index, ann in enumerate(part.get("annotations") or []):
            if ann.get("id") == ann_id:
                return part, index
    raise AnnotationNotFound(f"the frame has no annotation with id {ann_id!r}")


def _body(raw: bytes) -> dict[str, Any]:
    body = parse_body(raw)
    if not isinstance(body, dict):
        raise ValidationError("body", "must be a JSON object (an annotation)")
    return body


def _validated(doc: dict[str, Any], frame_id: str) -> Item:
    item = item_from_doc(doc, "frame")
    item.id = frame_id
    return item


def add(doc: dict[str, Any], body: dict[str, Any], frame_id: str) -> tuple[Item, str]:
    """``doc`` with the annotation ``body`` appended (to ``body["frame"]`` of a group, else to
    the group or the SingleFrame itself); the item and the annotation's id."""
    ann = copy.deepcopy(body)
    frame = ann.pop("frame", None)
    ann_id = ann.setdefault("id", uuid.uuid4().hex)
    if any(a.get("id") == ann_id for a in listed(doc)):
        raise ValidationError("id", f"the frame already has an annotation with id {ann_id!r}")
    parts = dict(owners(doc))
    if frame not in parts:
        known = ", ".join(repr(n) for n in parts if n is not None) or "none: omit it"
        raise ValidationError("frame", f"no SingleFrame named {frame!r} here; known: {known}")
    parts[frame].setdefault("annotations", []).append(ann)
    return _validated(doc, frame_id), ann_id


def change(doc: dict[str, Any], ann_id: str, body: dict[str, Any], frame_id: str) -> Item:
    """``doc`` with the given fields of annotation ``ann_id`` replaced (a shape replaces the
    shape; ``null`` clears a field)."""
    if body.get("id", ann_id) != ann_id:
        raise ValidationError("id", "cannot be changed (it addresses the annotation)")
    if "frame" in body:
        raise ValidationError("frame", "cannot be changed: delete and add the annotation")
    part, index = find(doc, ann_id)
    ann = part["annotations"][index]
    if any(shape in body for shape in SHAPES):
        for shape in SHAPES:
            ann.pop(shape, None)
    for key, value in body.items():
        if value is None:
            ann.pop(key, None)
        else:
            ann[key] = copy.deepcopy(value)
    return _validated(doc, frame_id)


def remove(doc: dict[str, Any], ann_id: str, frame_id: str) -> Item:
    part, index = find(doc, ann_id)
    del part["annotations"][index]
    return _validated(doc, frame_id)


async def _edit(
    request: web.Request, apply: Callable[[dict[str, Any], str], Item]
) -> tuple[dict[str, Any], str]:
    """``edits.edit_frame`` of the request's frame: the saved document and its revision."""
    version_id, frame_id = _ids(request)
    if_match = request.headers.get("If-Match")
    app = request.app[APP]
    return await edit_frame(app, version_id, frame_id, if_match, lambda d: apply(d, frame_id))


def _need_json(request: web.Request) -> None:
    if request.content_type != PARTIAL:
        raise ApiError(
            415,
            "UnsupportedMediaType",
            f"send the annotation as {PARTIAL}, not {request.content_type!r}",
        )


@routes.get(BASE)
async def list_annotations(request: web.Request) -> web.Response:
    """Every annotation of the frame (``?frame=NAME``: of that SingleFrame only)."""
    item, rev = await browse.frame_and_revision(request.app[APP], *_ids(request))
    frame = request.query.get("frame")
    return json_response(
        {"annotations": listed(item.to_doc(), frame)}, headers={"ETag": etag_of(rev)}
    )


@routes.post(BASE)
async def add_annotation(request: web.Request) -> web.Response:
    _need_json(request)
    body = _body(await request.read())
    new_id: list[str] = []

    def apply(doc: dict[str, Any], frame_id: str) -> Item:
        item, ann_id = add(doc, body, frame_id)
        new_id[:] = [ann_id]
        return item

    doc, rev = await _edit(request, apply)
    ann = next(a for a in listed(doc) if a.get("id") == new_id[0])
    return json_response(ann, status=201, headers={"ETag": etag_of(rev)})


@routes.get(BASE + "/{ann_id}")
async def get_annotation(request: web.Request) -> web.Response:
    item, rev = await browse.frame_and_revision(request.app[APP], *_ids(request))
    return json_response(_one(item.to_doc(), request), headers={"ETag": etag_of(rev)})


def _one(doc: dict[str, Any], request: web.Request) -> dict[str, Any]:
    ann_id = request.match_info["ann_id"]
    for ann in listed(doc):
        if ann.get("id") == ann_id:
            return ann
    raise AnnotationNotFound(f"the frame has no annotation with id {ann_id!r}")


@routes.patch(BASE + "/{ann_id}")
async def change_annotation(request: web.Request) -> web.Response:
    _need_json(request)
    body = _body(await request.read())
    ann_id = request.match_info["ann_id"]
    doc, rev = await _edit(request, lambda d, frame_id: change(d, ann_id, body, frame_id))
    return json_response(_one(doc, request), headers={"ETag": etag_of(rev)})


@routes.delete(BASE + "/{ann_id}")
async def delete_annotation(request: web.Request) -> web.Response:
    ann_id = request.match_info["ann_id"]
    _, rev = await _edit(request, lambda d, frame_id: remove(d, ann_id, frame_id))
    return web.Response(status=204, headers={"ETag": etag_of(rev)})
