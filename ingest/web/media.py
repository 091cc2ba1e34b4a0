"""``/media/...``: serve only the objects a registered frame references.

The URL names a frame and one of its parts (source, preview, a mask), never a URI, so nothing
else can be fetched through it. Local ``file://`` objects are streamed if they are inside the
configured local store; ``s3://`` objects get a presigned redirect if they are inside the
configured S3 store (never for another bucket: the URL would carry the server's credentials);
``gs://`` and ``az://`` objects of the configured store a signed URL (GCS V4, Azure SAS) when its
credentials can sign, else they are streamed through the app;
``http(s)://`` sources a redirect to themselves (the browser fetches them, not the server).
Only image and video types are served inline; anything else is sent as an
``application/octet-stream`` attachment, with a sandboxing CSP either way.
"""

from __future__ import annotations

import mimetypes
from collections.abc import AsyncIterator

from aiohttp import web

from .. import browse
from ..browse import ObjectNotServed
from ..errors import FrameNotFound
from ..frames import FrameGroup, SingleFrame
from . import checks
from .common import APP, seg

routes = web.RouteTableDef()

MEDIA_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; sandbox",
    "Cache-Control": "private, max-age=3600",
}


def media_url(version_id: str, frame_id: str, name: str | None, part: str) -> str:
    """The media URL of a part ("source", "preview", "masks/<id>") of a frame."""
    head = f"/media/{seg(version_id)}/{seg(frame_id)}/{seg(name or checks.SINGLE)}"
    if part.startswith("masks/"):
        return f"{head}/masks/{seg(part[len('masks/') :])}"
    return f"{head}/{part}"


async def _frame(request: web.Request) -> SingleFrame:
    version_id = checks.version_id(request.match_info["version_id"])
    frame_id = checks.frame_id(request.match_info["frame_id"])
    name = request.match_info["name"]
    item = await request.app[APP].get_frame(version_id, frame_id)
    if isinstance(item, FrameGroup):
        frame = item.get(checks.frame_name(name))
        if frame is None:
            raise FrameNotFound(f"frame {frame_id!r} has no SingleFrame named {name!r}")
        return frame
    if name != checks.SINGLE:
        raise FrameNotFound(
            f"frame {frame_id!r} is a SingleFrame: use {checks.SINGLE!r} as its name"
        )
    return item


def _content_type(path: str) -> tuple[str, bool]:
    guessed = mimetypes.guess_type(path)[0] or ""
    inline = guessed.startswith(("image/", "video/")) and guessed != "image/svg+xml"
    return (guessed, True) if inline else ("application/octet-stream", False)


async def serve_uri(request: web.Request, uri: str) -> web.StreamResponse:
    where = await browse.locate_object(request.app[APP], uri)
    if where.url is not None:
        raise web.HTTPFound(where.url, headers=MEDIA_HEADERS)
    content_type, inline = _content_type(where.path or uri)
    headers = {**MEDIA_HEADERS, "Content-Type": content_type}
    if not inline:
        headers["Content-Disposition"] = "attachment"
    if where.chunks is not None:
        return await _stream(request, where.chunks, where.size, headers)
    assert where.path is not None
    return web.FileResponse(where.path, headers=headers)


async def _stream(
    request: web.Request, chunks: AsyncIterator[bytes], size: int | None, headers: dict[str, str]
) -> web.StreamResponse:
    """An object of the store, streamed through the app (its credentials cannot sign)."""
    response = web.StreamResponse(headers=headers)
    if size is not None:
        response.content_length = size
    try:
        first = await anext(chunks, b"")  # errors before the headers are sent map to a status
        await response.prepare(request)
        await response.write(first)
        async for chunk in chunks:
            await response.write(chunk)
    finally:
        await chunks.aclose()  # type: ignore[attr-defined]
    await response.write_eof()
    return response


@routes.get(r"/media/{version_id}/{frame_id}/{name}/{part:source|preview}")
async def media_part(request: web.Request) -> web.StreamResponse:
    frame = await _frame(request)
    part = request.match_info["part"]
    uri = (frame.preview_uri or frame.source) if part == "preview" else frame.source
    return await serve_uri(request, uri)


@routes.get(r"/media/{version_id}/{frame_id}/{name}/masks/{mask_id}")
async def media_mask(request: web.Request) -> web.StreamResponse:
    frame = await _frame(request)
    mask_id = request.match_info["mask_id"]
    uri = frame.masks.get(mask_id)
    if uri is None:
        raise ObjectNotServed(f"the frame has no mask {mask_id[:80]!r}")
    return await serve_uri(request, uri)
