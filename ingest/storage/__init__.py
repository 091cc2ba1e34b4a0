"""Blob stores: one protocol (``Storage``), a local and an S3 implementation, one factory."""

from .base import ObjectNotFoundError, Storage, StoredObject, os_error_is_transient
from .factory import open_storage, parse_storage_url
from .local import LocalStorage
from .s3 import S3Storage, is_transient, translate_error

__all__ = [
    "LocalStorage",
    "ObjectNotFoundError",
    "S3Storage",
    "Storage",
    "StoredObject",
    "is_transient",
    "open_storage",
    "os_error_is_transient",
    "parse_storage_url",
    "translate_error",
]
