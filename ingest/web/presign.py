"""Presigned GET URLs for ``s3://`` objects of the configured store, and only those.

A presigned URL carries the server's credentials, so it is only made for an object inside the
configured S3 store (its bucket and prefix), with the store's own client. A frame may reference
any ``s3://`` URI (registered by reference, or set by a web edit), but an object of another
bucket, or outside the store's prefix, is never presigned: ``ObjectNotServed`` (404).
"""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

from ..config import Settings
from ..errors import NotFoundError, StorageError, ValidationError
from ..storage import Storage
from ..storage.s3 import S3Storage

PRESIGN_EXPIRES_S = 300


class ObjectNotServed(NotFoundError):
    """The frame does not reference such an object, or it is not in the configured store."""


def split_s3_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/a/b.jpg`` -> ("bucket", "a/b.jpg")."""
    parts = urlsplit(uri)
    key = unquote(parts.path.lstrip("/"))
    if parts.scheme != "s3" or not parts.netloc or not key:
        raise ValidationError("uri", f"not an s3://bucket/key URI: {uri[:200]!r}")
    return parts.netloc, key


def store_object_key(storage: Storage, uri: str) -> str:
    """The full S3 key of ``uri`` if it is an object of the S3 store ``storage``; else
    ``ObjectNotServed``. Keys with empty, ``.`` or ``..`` segments are refused too (a browser
    would normalise them away from the signed path)."""
    key = storage.key_of(uri) if isinstance(storage, S3Storage) else None
    if key is None or not isinstance(storage, S3Storage):
        raise ObjectNotServed(
            f"{uri[:200]} is not in the configured store ({storage.url}); not served"
        )
    if any(segment in ("", ".", "..") for segment in key.split("/")):
        raise ObjectNotServed(f"{uri[:200]}: not a plain object key; not served")
    return uri[len(f"s3://{storage.bucket}/") :]


class S3Presigner:
    """Presigns GETs of the configured store's objects with the store's own client."""

    def __init__(self, settings: Settings, storage: Storage) -> None:
        self._settings = settings
        self._storage = storage

    async def url(self, uri: str, expires_s: int = PRESIGN_EXPIRES_S) -> str:
        """A presigned URL for GET of ``uri`` (valid ``expires_s`` seconds); ObjectNotServed
        unless ``uri`` is in the configured S3 store."""
        storage = self._storage
        full_key = store_object_key(storage, uri)
        assert isinstance(storage, S3Storage)  # checked by store_object_key
        try:
            url: str = await storage.client.generate_presigned_url(
                "get_object",
                Params={"Bucket": storage.bucket, "Key": full_key},
                ExpiresIn=expires_s,
            )
        except Exception as exc:
            raise StorageError(f"cannot presign {uri[:200]}: {exc}") from exc
        return url

    async def close(self) -> None:
        """Nothing of its own to close: the store's client belongs to the store."""
