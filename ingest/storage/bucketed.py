"""Addressing shared by the GCS and Azure stores: objects are ``SCHEME://bucket/prefix/key``."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from .base import storage_error


class BucketKeys:
    """Keys of a store at ``SCHEME://bucket/prefix``; ``translate`` is the backend's error
    translation (``exc, op, target -> StorageError``), applied by ``_translated``."""

    scheme = ""
    translate: Callable[[BaseException, str, str], Exception]

    def __init__(self, bucket: str, prefix: str, what: str = "bucket") -> None:
        if not bucket or "/" in bucket:
            raise ValueError(f"invalid {what} name {bucket!r}")
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        base = f"{self.scheme}://{bucket}"
        self.url = f"{base}/{self.prefix}" if self.prefix else base
        self._key_base = f"{self.prefix}/" if self.prefix else ""

    def full_key(self, key: str) -> str:
        """The object name of ``key`` in the bucket (the prefix and the key)."""
        if not key or key.startswith("/"):
            raise storage_error(False, f"invalid storage key {key!r} for {self.url}")
        return self._key_base + key

    def uri(self, key: str) -> str:
        return f"{self.scheme}://{self.bucket}/{self.full_key(key)}"

    def key_of(self, uri: str) -> str | None:
        base = f"{self.scheme}://{self.bucket}/{self._key_base}"
        return uri[len(base) :] if uri.startswith(base) and len(uri) > len(base) else None

    @contextmanager
    def _translated(self, op: str, target: str) -> Iterator[None]:
        try:
            yield
        except Exception as exc:
            raise type(self).translate(exc, op, target) from exc
