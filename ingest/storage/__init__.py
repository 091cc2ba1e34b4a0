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
    if name in ("S3Storage", "botocore_is_transient", "translate_error"):
        from . import s3

        return getattr(s3, name)
    raise AttributeError(name)
