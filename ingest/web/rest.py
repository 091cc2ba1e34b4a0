"""The JSON REST API under ``/api`` (see ``openapi.py`` for the contract)."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web
from multidict import MultiMapping

from .. import browse
from ..browse import MAX_LIMIT
from ..catalog import DatasetRecord, VersionRecord
from ..errors import ValidationError
from ..service import Ingest
from . import checks
from .common import APP, ApiError, json_response
from .edits import edit_frame, etag_matches, etag_of, precondition_failed
from .openapi import openapi_document
from .patch import MERGE_PATCH, PARTIAL, apply_patch, parse_body

FRAME_QUERY = ("limit", "cursor", "context_id", "label", "q")
DEFAULT_LIMIT = 50

routes = web.RouteTableDef()


# ---------------------------------------------------------------- shapes


def dataset_json(record: DatasetRecord, version_count: int | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": record.id,
        "name": record.name,
        "description": record.description,
        "tags": list(record.tags),
        "created_at": record.created_at,
    }
    if version_count is not None:
        out["version_count"] = version_count
    return out


def version_json(record: VersionRecord, dataset: DatasetRecord, frame_count: int) -> dict[str, Any]:
    return {
        "id": record.id,
        "dataset_id": dataset.id,
        "dataset_name": dataset.name,
        "name": record.name,
        "state": record.state,
        "read_only": record.is_published,
        "parents": list(record.parents),
        "created_at": record.created_at,
        "published_at": record.published_at,
        "frame_count": frame_count,
        "mask_labels": browse.mask_labels(record),
        "metadata": record.metadata,
    }


# ---------------------------------------------------------------- queries shared with pages


async def versions_of(app: Ingest, dataset: DatasetRecord) -> list[dict[str, Any]]:
    return [
        version_json(r, dataset, count)
        for r, count in await app.versions_with_frame_counts(dataset.id)
    ]


async def version_and_dataset(app: Ingest, version_id: str) -> tuple[VersionRecord, DatasetRecord]:
    dataset, record = await app.find_version(version_id=checks.version_id(version_id))
    return record, dataset


def single(query: MultiMapping[str], name: str) -> str | None:
    values = query.getall(name, [])
    if len(values) > 1:
        raise ValidationError(name, "is given more than once")
    return values[0] if values else None


def parse_limit(text: str | None, default: int = DEFAULT_LIMIT) -> int:
    if text is None or text == "":
        return default
    try:
        limit = int(text)
    except ValueError:
        raise ValidationError("limit", f"must be an integer, got {text[:40]!r}") from None
    if not 1 <= limit <= MAX_LIMIT:
        raise ValidationError("limit", f"must be in 1..{MAX_LIMIT}, got {limit}")
    return limit


def frame_filters(query: MultiMapping[str]) -> dict[str, Any]:
    """``limit``, ``cursor``, ``context_id``, ``label``, ``meta`` and ``q`` (a Lucene query)
    from an API query string."""
    meta: dict[str, str] = {}
    for key in set(query):
        if key.startswith("meta."):
            value = single(query, key)
            meta[key[len("meta.") :]] = value or ""
        elif key not in FRAME_QUERY:
            raise ValidationError(
                key,
                "unknown query parameter; known: limit, cursor, context_id, label, meta.KEY, q",
            )
    label = single(query, "label")
    return {
        "limit": parse_limit(single(query, "limit")),
        "cursor": single(query, "cursor") or None,
        "context_id": single(query, "context_id"),
        "label": label or None,
        "meta": meta,
        "q": single(query, "q"),
    }


def frame_docs(stored: list[Any]) -> list[dict[str, Any]]:
    docs = []
    for frame in stored:
        doc = orjson.loads(frame.document)
        doc["id"] = frame.id
        docs.append(doc)
    return docs


# ---------------------------------------------------------------- routes


@routes.get("/api/openapi.json")
async def openapi(request: web.Request) -> web.Response:
    return json_response(openapi_document())


@routes.get("/api/datasets")
async def list_datasets(request: web.Request) -> web.Response:
    counted = await request.app[APP].datasets_with_version_counts()
    return json_response({"datasets": [dataset_json(r, n) for r, n in counted]})


@routes.get("/api/datasets/{name}/versions")
async def list_versions(request: web.Request) -> web.Response:
    app = request.app[APP]
    dataset = await app.get_dataset(name=checks.dataset_name(request.match_info["name"]))
    return json_response(
        {"dataset": dataset_json(dataset), "versions": await versions_of(app, dataset)}
    )


@routes.get("/api/versions/{version_id}")
async def get_version(request: web.Request) -> web.Response:
    app = request.app[APP]
    record, dataset = await version_and_dataset(app, request.match_info["version_id"])
    return json_response(version_json(record, dataset, await app.count_frames(record.id)))


@routes.get("/api/versions/{version_id}/contexts")
async def get_contexts(request: web.Request) -> web.Response:
    app = request.app[APP]
    record, _ = await version_and_dataset(app, request.match_info["version_id"])
    for key in request.query:
        if key not in ("after", "limit"):
            raise ValidationError(key, "unknown query parameter; known: after, limit")
    limit = parse_limit(single(request.query, "limit"), default=100)
    after = single(request.query, "after")
    contexts = await browse.list_contexts(app, record.id, after=after, limit=limit + 1)
    more = len(contexts) > limit
    contexts = contexts[:limit]
    return json_response(
        {
            "contexts": [{"context_id": c, "frame_count": n} for c, n in contexts],
            "next_after": contexts[-1][0] if more and contexts else None,
        }
    )


@routes.get("/api/versions/{version_id}/frames")
async def list_frames(request: web.Request) -> web.Response:
    app = request.app[APP]
    record, _ = await version_and_dataset(app, request.match_info["version_id"])
    filters = frame_filters(request.query)
    stored, next_cursor = await browse.page_frames(app, record.id, **filters)
    return json_response({"frames": frame_docs(stored), "next_cursor": next_cursor})


def _ids(request: web.Request) -> tuple[str, str]:
    return (
        checks.version_id(request.match_info["version_id"]),
        checks.frame_id(request.match_info["frame_id"]),
    )


@routes.get("/api/versions/{version_id}/frames/{frame_id}")
async def get_frame(request: web.Request) -> web.Response:
    version_id, frame_id = _ids(request)
    item, rev = await browse.frame_and_revision(request.app[APP], version_id, frame_id)
    return json_response(item.to_doc(), headers={"ETag": etag_of(rev)})


@routes.patch("/api/versions/{version_id}/frames/{frame_id}")
async def patch_frame(request: web.Request) -> web.Response:
    """Apply a patch atomically (``edits.edit_frame``: 412 on a stale ``If-Match``)."""
    content_type = request.content_type
    if content_type not in (PARTIAL, MERGE_PATCH):
        raise ApiError(
            415,
            "UnsupportedMediaType",
            f"send the patch as {PARTIAL} (partial document) or {MERGE_PATCH} "
            f"(RFC 7396), not {content_type!r}",
        )
    patch = parse_body(await request.read())
    version_id, frame_id = _ids(request)
    doc, rev = await edit_frame(
        request.app[APP],
        version_id,
        frame_id,
        request.headers.get("If-Match"),
        lambda current: apply_patch(current, patch, frame_id, content_type=content_type),
    )
    return json_response(doc, headers={"ETag": etag_of(rev)})


@routes.delete("/api/versions/{version_id}/frames/{frame_id}")
async def delete_frame(request: web.Request) -> web.Response:
    """Remove a frame; with ``If-Match`` only if it is still the one read (else 412)."""
    app = request.app[APP]
    version_id, frame_id = _ids(request)
    (await app.get_version(version_id)).require_draft()
    if_match = request.headers.get("If-Match")
    if if_match is None:
        await app.delete_frames(version_id, [frame_id])
        return web.Response(status=204)
    _, rev = await browse.frame_and_revision(app, version_id, frame_id)
    if not etag_matches(if_match, rev) or not await browse.delete_frame_if(
        app, version_id, frame_id, rev
    ):
        raise precondition_failed()
    return web.Response(status=204)
