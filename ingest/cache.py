"""The local download cache behind ``get_local_source()`` / ``get_local_mask_source()``.

Layout under ``cache_dir`` (setting):

- ``objects/<2 hex>/<sha256 of the content>``: content-addressed files (two URIs with the same
  bytes share one file); a file's mtime is its last use (LRU);
- ``refs/<2 hex>/<blake2b of the URI>``: a URI's content digest;
- ``locks/``, ``tmp/``, ``usage``: per-URI download locks, partial downloads, the running size.

Safe across processes without a server: a download goes to ``tmp/`` and is renamed into
place (a reader never sees a partial file); one process at a time downloads a given URI (an
``fcntl.flock`` on its lock file; the others wait, then find it); eviction takes one lock
(``evict.lock``) and removes least recently used files until the cache is within
``cache_max_mb``, never the file just returned. Hand-written (about 150 lines): the cache
libraries on PyPI (diskcache, cachetools...) store values in SQLite or memory, not as files a
caller can open by path.

Downloads go through ``fetch.open(uri)`` (``remote.RemoteFetcher``: http(s) with the
private-address refusal of copies, s3 with the configured endpoint); a local path or
``file://`` URI is its own local copy. That dispatch, by URI scheme, is ``open_local``.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import os
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote, urlsplit

from .errors import PermanentStorageError

__all__ = ["SourceCache", "local_path"]


def local_path(uri: str) -> str | None:
    """The path of a local source (a path or a ``file://`` URI), else None."""
    parts = urlsplit(uri)
    if parts.scheme == "file":
        return unquote(parts.path)
    if not parts.scheme or len(parts.scheme) == 1:  # "c:" would be a drive letter
        return os.path.abspath(uri)
    return None


@contextlib.contextmanager
def _flock(path: str) -> Iterator[None]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def _replace_text(path: str, text: str) -> None:
    tmp = f"{path}.{uuid.uuid4().hex}.tmp"
    with open(tmp, "w") as fh:
        fh.write(text)
    os.replace(tmp, path)


class SourceCache:
    def __init__(self, directory: str, max_bytes: int) -> None:
        self.dir = os.path.abspath(os.path.expanduser(directory))
        self.max_bytes = max_bytes
        for sub in ("objects", "refs", "locks", "tmp"):
            os.makedirs(os.path.join(self.dir, sub), exist_ok=True)

    def _ref(self, uri: str) -> tuple[str, str]:
        digest = hashlib.blake2b(uri.encode(), digest_size=16).hexdigest()
        return os.path.join(self.dir, "refs", digest[:2], digest), digest

    def _object(self, content: str) -> str:
        return os.path.join(self.dir, "objects", content[:2], content)

    def lookup(self, uri: str) -> str | None:
        """The cached file of ``uri`` (marked as just used), or None."""
        ref, _ = self._ref(uri)
        try:
            with open(ref) as fh:
                path = self._object(fh.read().strip())
            os.utime(path)  # LRU: the mtime is the last use
        except (FileNotFoundError, ValueError):
            return None  # never fetched, or evicted since
        return path

    async def get(self, uri: str, fetch: Any) -> str:
        """The cached file of ``uri``, downloaded through ``fetch.open(uri)`` if needed."""
        path = self.lookup(uri)
        if path is not None:
            return path
        _, digest = self._ref(uri)
        fd = os.open(os.path.join(self.dir, "locks", digest), os.O_RDWR | os.O_CREAT, 0o644)
        try:  # one download of a URI at a time, across processes (the lock dies with the fd)
            await asyncio.to_thread(fcntl.flock, fd, fcntl.LOCK_EX)
            path = self.lookup(uri)  # another process may have fetched it meanwhile
            if path is not None:
                return path
            path, size = await self._download(uri, fetch)
        finally:
            os.close(fd)
        await asyncio.to_thread(self._account, size, path)
        return path

    async def _download(self, uri: str, fetch: Any) -> tuple[str, int]:
        tmp = os.path.join(self.dir, "tmp", uuid.uuid4().hex)
        sha = hashlib.sha256()
        size = 0
        try:
            fh = await asyncio.to_thread(open, tmp, "wb")
            try:
                async with fetch.open(uri) as body:
                    async for chunk in body.chunks():
                        sha.update(chunk)
                        size += len(chunk)
                        await asyncio.to_thread(fh.write, chunk)
            finally:
                fh.close()
            content = sha.hexdigest()
            path = self._object(content)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            os.replace(tmp, path)  # atomic; the same content twice is the same file
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        ref, _ = self._ref(uri)
        os.makedirs(os.path.dirname(ref), exist_ok=True)
        _replace_text(ref, content)
        return path, size

    def _account(self, added: int, keep: str) -> None:
        """Add ``added`` bytes to the running size; past the bound, evict (LRU)."""
        with _flock(os.path.join(self.dir, "evict.lock")):
            usage = os.path.join(self.dir, "usage")
            try:
                with open(usage) as fh:
                    total = int(fh.read() or 0) + added
            except (FileNotFoundError, ValueError):
                total = self.max_bytes + 1  # unknown: measure
            if total > self.max_bytes:
                total = self._evict(keep)
            _replace_text(usage, str(total))

    def _evict(self, keep: str) -> int:
        """Remove the least recently used files until within the bound; the size left."""
        files = []
        for root, _, names in os.walk(os.path.join(self.dir, "objects")):
            for name in names:
                path = os.path.join(root, name)
                with contextlib.suppress(FileNotFoundError):
                    st = os.stat(path)
                    files.append((st.st_mtime, st.st_size, path))
        total = sum(size for _, size, _ in files)
        for _, size, path in sorted(files):
            if total <= self.max_bytes:
                break
            if path == keep:
                continue
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
                total -= size
        return total


async def open_local(uri: str, cache: SourceCache, fetch: Any) -> str:
    """A local file holding ``uri``: a local source itself, else its cached download."""
    path = local_path(uri)
    if path is not None:
        if not await asyncio.to_thread(os.path.isfile, path):
            raise PermanentStorageError(f"{path}: file not found")
        return path
    return await cache.get(uri, fetch)
