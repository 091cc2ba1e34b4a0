"""Blob stores: one protocol (``Storage``), a local and an S3 implementation, one factory."""

from .base import ObjectNotFoundError, Storage, StoredObject, os_error_is_transient
from .factory import open_storage, parse_storage_url
from .local import LocalStorage

__all__ = [
    "LocalStorage",
    "ObjectNotFoundError",
    "S3Storage",
    "Storage",
    "StoredObject",
    "botocore_is_transient",
    "open_storage",
    "os_error_is_transient",
    "parse_storage_url",
    "translate_error",
]


def __getattr__(name: str) -> object:  # S3 names load aioboto3: only on first use
    if name == "S3Storage":
        from . import s3

        return s3.S3Storage
    if name in ("botocore_is_transient", "translate_error"):
        from . import s3errors

        return getattr(s3errors, name)
    raise AttributeError(name)
