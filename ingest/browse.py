"""The web app's use cases beyond ``service.py``, over the application object (``Ingest``).

Reads: filtered keyset pages of a version's frames, its contexts, the neighbours of a context
or a frame (``catalog/search.py``), a frame with its revision (the web's ETag), the mask labels
of a version. Edits: compare-and-set replace and delete of one frame (If-Match). Media: which
object a frame's media URL serves, a local file of the store or a URL to redirect to::

    async with Ingest(settings) as app:
        frames, next_cursor = await browse.page_frames(app, version_id, label="car")
        item, rev = await browse.frame_and_revision(app, version_id, frame_id)
        new_rev = await browse.replace_frame_if(app, version_id, item, rev)

A presigned URL carries the server's credentials, so it is only made for an object inside the
configured S3 store (its bucket and prefix), with the store's own client. A frame may reference
any ``s3://`` URI (registered by reference, or set by a web edit), but an object of another
bucket, or outside the store's prefix, is never presigned: ``ObjectNotServed`` (404). The same
holds for ``gs://`` (a V4 signed URL when the credentials hold a private key) and ``az://`` (a
read-only SAS when they are an account key) stores, whose objects are otherwise streamed.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from .catalog import StoredFrame, VersionRecord, search
from .catalog.sqlframes import revision
from .errors import NotFoundError, StorageError, ValidationError
from .frames import Item
from .masks import mask_label_entries, mask_labels_to_json
from .pipeline import frame_row
from .query import frame_filter
from .service import Ingest, item_from_stored
from .storage import LocalStorage, ObjectNotFoundError, Storage
from .storage.reading import open_read

MAX_LIMIT = search.MAX_LIMIT
PRESIGN_EXPIRES_S = 300

# ---------------------------------------------------------------- reads


async def page_frames(
    app: Ingest,
    version_id: str,
    *,
    context_id: str | None = None,
    label: str | None = None,
    meta: Mapping[str, str] | None = None,
    cursor: str | None = None,
    limit: int = 50,
    q: str | None = None,
) -> tuple[list[StoredFrame], str | None]:
    """One page of the version's frames that match the filters (``catalog/search.py`` says
    what each means) and the query ``q`` (``ingest.query``), and the next page's cursor (None
    on the last page). A bad query raises ``QueryError`` naming its column."""
    return await app.catalog.filtered_page(
        version_id,
        context_id=context_id,
        label=label,
        meta=meta,
        cursor=cursor,
        limit=limit,
        query=frame_filter(q) if q is not None else None,
    )


async def list_contexts(
    app: Ingest, version_id: str, *, after: str | None = None, limit: int = 100
) -> list[tuple[str, int]]:
    """The version's contexts in order, after ``after``, with their frame counts."""
    return await app.catalog.list_contexts(version_id, after=after, limit=limit)


async def context_neighbours(
    app: Ingest, version_id: str, context_id: str
) -> tuple[str | None, str | None]:
    """The contexts just before and just after ``context_id`` in the version."""
    return await app.catalog.context_neighbours(version_id, context_id)


async def frame_neighbours(
    app: Ingest, version_id: str, frame_id: str
) -> tuple[str | None, str | None]:
    """The frames just before and just after ``frame_id`` in its context (timestamp order)."""
    return await app.catalog.frame_neighbours(version_id, frame_id)


async def frame_and_revision(app: Ingest, version_id: str, frame_id: str) -> tuple[Item, str]:
    """The frame as stored and its revision (a hash of the stored document)."""
    stored = await app.catalog.get_frame(version_id, frame_id)
    return item_from_stored(stored), revision(stored.document)


def mask_labels(record: VersionRecord) -> list[dict[str, Any]]:
    """``[{"value": [r, g, b], "labels": [...]}]``: the version metadata's valid entries (by
    ``masks.mask_labels_to_json``), labels as text; malformed entries are left out."""
    out = []
    for entry in mask_label_entries(record.metadata.get("mask_labels")):
        if not isinstance(entry, dict):
            continue
        value, labels = entry.get("value"), entry.get("labels")
        if not isinstance(value, list) or not isinstance(labels, list):
            continue
        try:
            out += mask_labels_to_json({tuple(value): [str(lb) for lb in labels]})
        except (ValidationError, TypeError):  # TypeError: an unhashable pixel value
            continue
    return out


# ---------------------------------------------------------------- edits


async def replace_frame_if(
    app: Ingest, version_id: str, item: Item, expected_rev: str
) -> str | None:
    """Write ``item`` (with its ``id``) over its frame only if the frame is still at
    ``expected_rev``: the new revision, or None when it changed meanwhile (nothing written).
    FrameNotFound / PublishedVersionError as ``Ingest.update_frames``."""
    row = frame_row(item, item.to_doc())
    return await app.catalog.replace_frame_if(version_id, row, expected_rev)


async def delete_frame_if(app: Ingest, version_id: str, frame_id: str, expected_rev: str) -> bool:
    """Remove the frame only if it is still at ``expected_rev``; False if it changed."""
    return await app.catalog.delete_frame_if(version_id, frame_id, expected_rev)


# ---------------------------------------------------------------- media


class ObjectNotServed(NotFoundError):
    """The frame does not reference such an object, or it is not in the configured store."""


@dataclass(frozen=True)
class ObjectLocation:
    """Where the bytes of an object are: a ``url`` to redirect to, a local file ``path``, or
    ``chunks`` to stream (``size`` bytes when known)."""

    url: str | None = None
    path: str | None = None
    chunks: AsyncIterator[bytes] | None = None
    size: int | None = None


async def locate_object(app: Ingest, uri: str) -> ObjectLocation:
    """``http(s)://``: itself; ``s3://`` in the configured S3 store: a presigned GET URL;
    ``gs://`` / ``az://`` in the configured store: a signed URL, else the object streamed;
    ``file://`` in the configured local store: the file. Anything else: ObjectNotServed."""
    scheme = urlsplit(uri).scheme.lower()
    if scheme in ("http", "https"):
        return ObjectLocation(url=uri)
    storage = await app.store()
    if scheme == "s3":
        return ObjectLocation(url=await presigned_url(storage, uri))
    if scheme in ("gs", "az"):
        return await _cloud_object(storage, uri)
    if not isinstance(storage, LocalStorage) or (key := storage.key_of(uri)) is None:
        raise _not_in_store(storage, uri)
    path = os.path.join(str(storage.root), *key.split("/"))
    if not await asyncio.to_thread(os.path.isfile, path):
        raise ObjectNotServed(f"{uri[:200]} does not exist in the store")
    return ObjectLocation(path=path)


async def _cloud_object(storage: Storage, uri: str) -> ObjectLocation:
    """An object of the configured GCS or Azure store: signed when its credentials can sign,
    else streamed; never signed for another bucket (``key_of`` is None outside the store)."""
    sign = getattr(storage, "signed_url", None)
    if sign is None or (key := storage.key_of(uri)) is None:
        raise _not_in_store(storage, uri)
    _check_plain(uri, key)
    url = await sign(key, PRESIGN_EXPIRES_S)
    if url is not None:
        return ObjectLocation(url=url)
    try:
        size, chunks = await open_read(storage, key)
    except ObjectNotFoundError as exc:
        raise ObjectNotServed(f"{uri[:200]} does not exist in the store") from exc
    return ObjectLocation(chunks=chunks, size=size)


def _check_plain(uri: str, key: str) -> None:
    """Keys with empty, ``.`` or ``..`` segments are refused (a browser would normalise them
    away from the signed path)."""
    if any(segment in ("", ".", "..") for segment in key.split("/")):
        raise ObjectNotServed(f"{uri[:200]}: not a plain object key; not served")


def _not_in_store(storage: Storage, uri: str) -> ObjectNotServed:
    return ObjectNotServed(
        f"{uri[:200]} is not in the configured store ({storage.url}); not served"
    )


async def presigned_url(storage: Storage, uri: str, expires_s: int = PRESIGN_EXPIRES_S) -> str:
    """A presigned URL for GET of ``uri`` (valid ``expires_s`` seconds), made with the store's
    own client; ObjectNotServed unless ``uri`` is in the S3 store ``storage`` and its key is
    plain (``_check_plain``)."""
    from .storage.s3 import S3Storage  # loads aioboto3: only for s3:// URIs

    if not isinstance(storage, S3Storage) or (key := storage.key_of(uri)) is None:
        raise _not_in_store(storage, uri)
    _check_plain(uri, key)
    full_key = uri[len(f"s3://{storage.bucket}/") :]
    try:
        url: str = await (await storage.get_client()).generate_presigned_url(
            "get_object",
            Params={"Bucket": storage.bucket, "Key": full_key},
            ExpiresIn=expires_s,
        )
    except Exception as exc:
        raise StorageError(f"cannot presign {uri[:200]}: {exc}") from exc
    return url
