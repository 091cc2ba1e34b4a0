"""Version actions under ``/api``: publish, snapshot, create a (child) version (token).

Bodies are JSON (``application/json``, else 415): a page of another site cannot send that
without a CORS preflight, which this server never grants, so the loopback-only no-token mode
stays safe from cross-site form posts.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ..errors import ValidationError
from . import checks
from .common import APP, ApiError, json_response
from .patch import PARTIAL, parse_body
from .rest import version_and_dataset, version_json

routes = web.RouteTableDef()


async def _json_body(request: web.Request) -> dict[str, Any]:
    if request.content_type != PARTIAL:
        raise ApiError(
            415, "UnsupportedMediaType", f"send a {PARTIAL} body, not {request.content_type!r}"
        )
    raw = await request.read()
    body = parse_body(raw) if raw.strip() else {}
    if not isinstance(body, dict):
        raise ValidationError("body", "must be a JSON object")
    return body


def _text(body: dict[str, Any], key: str, *, required: bool = False) -> str | None:
    value = body.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(key, "must be a non-empty string")
    return value.strip()


@routes.post("/api/versions/{version_id}/publish")
async def publish(request: web.Request) -> web.Response:
    await _json_body(request)
    app = request.app[APP]
    record, dataset = await version_and_dataset(app, request.match_info["version_id"])
    published = await app.publish_version(record.id)
    return json_response(version_json(published, dataset, await app.count_frames(record.id)))


@routes.post("/api/versions/{version_id}/snapshot")
async def snapshot(request: web.Request) -> web.Response:
    """Publish the draft as ``publish_name`` (it keeps its id); a new Draft child of it,
    ``child_name``, goes on with the same frames (the library's ``create_snapshot``)."""
    body = await _json_body(request)
    app = request.app[APP]
    record, dataset = await version_and_dataset(app, request.match_info["version_id"])
    published, child = await app.snapshot_version(
        dataset, record.id, _text(body, "publish_name"), _text(body, "child_name")
    )
    count = await app.count_frames(published.id)
    return json_response(
        {
            "published": version_json(published, dataset, count),
            "child": version_json(child, dataset, await app.count_frames(child.id)),
        },
        status=201,
    )


@routes.post("/api/datasets/{name}/versions")
async def create_version(request: web.Request) -> web.Response:
    """A new Draft version ``name`` of the dataset, child of the versions named ``parents``."""
    body = await _json_body(request)
    parents = body.get("parents") or []
    if not isinstance(parents, list) or not all(isinstance(p, str) for p in parents):
        raise ValidationError("parents", "must be a list of version names")
    app = request.app[APP]
    dataset = await app.get_dataset(name=checks.dataset_name(request.match_info["name"]))
    name = _text(body, "name", required=True)
    assert name is not None
    record = await app.create_version(dataset, name, parent_names=parents, raise_if_exists=True)
    return json_response(
        version_json(record, dataset, await app.count_frames(record.id)), status=201
    )
