"""Server-rendered pages: datasets -> versions -> frame browser -> frame viewer."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import orjson
from aiohttp import web
from multidict import MultiMapping

from .. import browse
from ..annotation import SHAPES
from ..catalog import StoredFrame, VersionRecord
from ..errors import ValidationError
from ..frames import FrameGroup, Item, SingleFrame, item_context_id, item_timestamp
from ..query import SYNTAX, QueryError
from . import checks
from .common import APP, render, seg
from .edits import etag_of
from .lineage import layout
from .media import media_url
from .rest import parse_limit, single, version_and_dataset, versions_of

PAGE_SIZE = 48

routes = web.RouteTableDef()


@routes.get("/")
async def datasets_page(request: web.Request) -> web.Response:
    datasets = await request.app[APP].datasets_with_version_counts()
    return render(request, "datasets.html", datasets=datasets)


@routes.get("/datasets/{name}")
async def versions_page(request: web.Request) -> web.Response:
    app = request.app[APP]
    dataset = await app.get_dataset(name=checks.dataset_name(request.match_info["name"]))
    versions = await versions_of(app, dataset)
    return render(
        request,
        "versions.html",
        dataset=dataset,
        versions=versions,
        names={v["id"]: v["name"] for v in versions},
        lineage=layout(versions),
    )


# ---------------------------------------------------------------- frame browser


def browser_filters(query: MultiMapping[str]) -> dict[str, Any]:
    """The browser's query: the API's filters, plus ``meta=KEY=VALUE`` (from the form) and
    ``by_context``."""
    meta: dict[str, str] = {}
    for entry in query.getall("meta", []):
        if not entry.strip():
            continue
        key, sep, value = entry.partition("=")
        if not sep or not key.strip():
            raise ValidationError("meta", f"write metadata filters as KEY=VALUE, got {entry!r}")
        meta[key.strip()] = value.strip()
    for key in query:
        if key.startswith("meta."):
            meta[key[len("meta.") :]] = single(query, key) or ""
    return {
        "context_id": single(query, "context_id") or None,
        "q": (single(query, "q") or "").strip() or None,
        "label": (single(query, "label") or "").strip() or None,
        "meta": meta,
        "cursor": single(query, "cursor") or None,
        "limit": parse_limit(single(query, "limit"), default=PAGE_SIZE),
        "by_context": single(query, "by_context") in ("1", "on", "true"),
    }


def browser_query(filters: dict[str, Any], **changes: Any) -> str:
    """The browser's query string for ``filters`` with ``changes`` (None drops a key)."""
    merged = {**filters, **changes}
    pairs: list[tuple[str, str]] = []
    if merged.get("by_context"):
        pairs.append(("by_context", "1"))
    for key in ("context_id", "q", "label", "cursor"):
        if merged.get(key) is not None:
            pairs.append((key, str(merged[key])))
    for key, value in (merged.get("meta") or {}).items():
        pairs.append(("meta", f"{key}={value}"))
    if merged.get("limit") not in (None, PAGE_SIZE):
        pairs.append(("limit", str(merged["limit"])))
    return urlencode(pairs)


def _annotation_labels(annotations: list[dict[str, Any]]) -> tuple[list[str], int]:
    frame_labels: list[str] = []
    rois = 0
    for annotation in annotations:
        if any(shape in annotation for shape in SHAPES):
            rois += 1
        else:
            frame_labels += [str(label) for label in annotation.get("labels") or []]
    return frame_labels, rois


_VIDEO_EXT = (".mp4", ".m4v", ".webm", ".ogv", ".mov", ".mkv")


def sensor_kind(frame: dict[str, Any]) -> str:
    """What a card's thumbnail of ``frame`` can show: "image" (its preview, or an image
    source), else "point cloud" or "video" (a source no <img> can draw). The same rule as the
    viewer's ``sensors.js``."""
    if frame.get("preview_uri"):
        return "image"
    kind = str(frame.get("content_type") or "").lower()
    path = str(frame.get("source") or "").split("?")[0].split("#")[0].lower()
    if "pcd" in kind or path.endswith(".pcd"):
        return "point cloud"
    if kind.startswith("video/") or (not kind.startswith("image/") and path.endswith(_VIDEO_EXT)):
        return "video"
    return "image"


def _thumb(version_id: str, frame_id: str, name: str | None, frame: dict[str, Any]) -> Any:
    url = media_url(version_id, frame_id, name, "preview")
    return {"name": name, "url": url, "kind": sensor_kind(frame)}


def frame_card(version_id: str, stored: StoredFrame) -> dict[str, Any]:
    doc = orjson.loads(stored.document)
    frames: dict[str, dict[str, Any]] = doc.get("frames") or {}
    annotations = list(doc.get("annotations") or [])
    if frames:
        first = next(iter(frames.values()))
        context_id = doc.get("context_id") or first.get("context_id")
        timestamp = doc.get("timestamp")
        if timestamp is None:
            timestamp = next(
                (f.get("timestamp") for f in frames.values() if f.get("timestamp") is not None),
                None,
            )
        thumbs = [_thumb(version_id, stored.id, name, frame) for name, frame in frames.items()]
        for frame in frames.values():
            annotations += frame.get("annotations") or []
        metadata_keys = len(doc.get("metadata") or {}) + sum(
            len(f.get("metadata") or {}) for f in frames.values()
        )
    else:
        context_id = doc.get("context_id")
        timestamp = doc.get("timestamp")
        thumbs = [_thumb(version_id, stored.id, None, doc)]
        metadata_keys = len(doc.get("metadata") or {})
    frame_labels, rois = _annotation_labels(annotations)
    return {
        "id": stored.id,
        "kind": stored.kind,
        "context_id": context_id,
        "timestamp": timestamp,
        "thumbs": thumbs,
        "labels": sorted(set(frame_labels)),
        "rois": rois,
        "metadata_keys": metadata_keys,
        "url": f"/versions/{seg(version_id)}/frames/{seg(stored.id)}",
    }


@routes.get("/versions/{version_id}")
async def browser_page(request: web.Request) -> web.Response:
    app = request.app[APP]
    record, dataset = await version_and_dataset(app, request.match_info["version_id"])
    filters = browser_filters(request.query)
    context_nav: dict[str, Any] | None = None
    if filters["by_context"]:
        if filters["context_id"] is None:
            first = await browse.list_contexts(app, record.id, limit=1)
            filters["context_id"] = first[0][0] if first else None
        if filters["context_id"] is not None:
            prev_ctx, next_ctx = await browse.context_neighbours(
                app, record.id, filters["context_id"]
            )
            context_nav = {
                "prev": prev_ctx and browser_query(filters, context_id=prev_ctx, cursor=None),
                "next": next_ctx and browser_query(filters, context_id=next_ctx, cursor=None),
            }
    try:
        stored, next_cursor = await browse.page_frames(
            app,
            record.id,
            limit=filters["limit"],
            cursor=filters["cursor"],
            context_id=filters["context_id"],
            label=filters["label"],
            meta=filters["meta"],
            q=filters["q"],
        )
        query_error = None
    except QueryError as exc:  # the page again, the error under the box
        stored, next_cursor, query_error = [], None, exc
    return render(
        request,
        "browser.html",
        status=400 if query_error else 200,
        query_error=query_error,
        query_syntax=SYNTAX,
        version=record,
        dataset=dataset,
        total=await app.count_frames(record.id),
        imports=await app.running_imports(record.id),
        mask_labels=browse.mask_labels(record),
        filters=filters,
        cards=[frame_card(record.id, s) for s in stored],
        context_nav=context_nav,
        next_query=next_cursor and browser_query(filters, cursor=next_cursor),
        first_query=filters["cursor"] and browser_query(filters, cursor=None),
    )


# ---------------------------------------------------------------- frame viewer


def _frames_of(item: Item) -> dict[str, SingleFrame]:
    return dict(item.items()) if isinstance(item, FrameGroup) else {checks.SINGLE: item}


def _media(version_id: str, frame_id: str, frames: dict[str, SingleFrame]) -> dict[str, Any]:
    """The media URLs of every SingleFrame of a frame, by name."""
    return {
        name: {
            "source": media_url(version_id, frame_id, name, "source"),
            "preview": media_url(version_id, frame_id, name, "preview"),
            "masks": {
                mask_id: media_url(version_id, frame_id, name, f"masks/{mask_id}")
                for mask_id in frame.masks
            },
        }
        for name, frame in frames.items()
    }


def label_set(record: VersionRecord, doc: dict[str, Any]) -> list[str]:
    """The labels the editor offers: the version's mask labels, a ``labels`` list in its
    metadata, and the labels already used in this frame."""
    labels = {label for entry in browse.mask_labels(record) for label in entry["labels"]}
    listed = record.metadata.get("labels")
    if isinstance(listed, list):
        labels.update(str(label) for label in listed if isinstance(label, str | int))
    parts = [doc, *(doc.get("frames") or {}).values()]
    for part in parts:
        for ann in part.get("annotations") or []:
            labels.update(str(label) for label in ann.get("labels") or [])
    return sorted(labels)


@routes.get("/versions/{version_id}/frames/{frame_id}")
async def viewer_page(request: web.Request) -> web.Response:
    app = request.app[APP]
    record, dataset = await version_and_dataset(app, request.match_info["version_id"])
    frame_id = checks.frame_id(request.match_info["frame_id"])
    item, rev = await browse.frame_and_revision(app, record.id, frame_id)
    prev_id, next_id = await browse.frame_neighbours(app, record.id, frame_id)
    doc = item.to_doc()
    frames = _frames_of(item)
    names = list(frames)
    media = _media(record.id, frame_id, frames)
    next_media = None  # the next instant's images, fetched ahead by the page
    if next_id is not None:
        next_media = _media(record.id, next_id, _frames_of(await app.get_frame(record.id, next_id)))
    wanted = request.query.get("source")
    base = f"/versions/{seg(record.id)}"
    data = {
        "version": {
            "id": record.id,
            "name": record.name,
            "state": record.state,
            "read_only": record.is_published,
            "dataset_name": dataset.name,
        },
        "frame_id": frame_id,
        "kind": "group" if isinstance(item, FrameGroup) else "single",
        "doc": doc,
        "etag": etag_of(rev),
        "names": names,
        "selected": wanted if wanted in frames else names[0],
        "media": media,
        "mask_labels": browse.mask_labels(record),
        "label_set": label_set(record, doc),
        "prefetch": next_media,
        "pointcloud_module": str(request.app.router["static"].url_for(filename="pointcloud.js")),
        "api_url": f"/api/versions/{seg(record.id)}/frames/{seg(frame_id)}",
        "browse_url": base,
    }
    context_id = item_context_id(item)
    timestamp = item_timestamp(item)
    return render(
        request,
        "viewer.html",
        version=record,
        dataset=dataset,
        frame_id=frame_id,
        context_id=context_id,
        timestamp=timestamp,
        data=data,
        prev_url=prev_id and f"{base}/frames/{seg(prev_id)}",
        next_url=next_id and f"{base}/frames/{seg(next_id)}",
        context_url=context_id is not None
        and f"{base}?{urlencode({'by_context': '1', 'context_id': context_id})}",
    )


def format_timestamp(value: Any) -> str:
    """Seconds as written, plus the UTC time for epoch-like values."""
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        return "—"
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    if 1e8 < value < 1e10:
        text += " (" + datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
        text += " UTC)"
    return text
