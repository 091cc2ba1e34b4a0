"""A blob store on the local filesystem (or any mounted one), written with aiofiles.

Objects are written to a temporary name in the destination directory
(``.{name}.{uuid}.tmp``) and renamed over the final path with ``os.replace``, so a crash or a
cancellation never leaves a partial object under a final key: either the old object (or
nothing) or the complete new one is visible. Temporary files left behind by a SIGKILL are
skipped by ``list`` and removed by ``remove_stale_partials``.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import stat
import threading
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import unquote, urlsplit

import aiofiles
import aiofiles.os

from .base import MiB, ObjectNotFoundError, StoredObject, storage_error, translate_os_error
from .turns import TurnBudget

CHUNK_SIZE = 1 * MiB
# Files up to this size are copied in the event loop's thread: a copy of a few hundred KiB
# takes less than handing it to a worker thread and back (measured: 3x the throughput on
# 64 KiB frames), a few milliseconds of them per turn of the loop (``turns.py``: copying all
# the frames that became ready in one turn stalled the loop up to 0.65 s under load); bigger
# files go to a worker thread.
INLINE_MAX = 256 * 1024
_TEMP_SUFFIX = ".tmp"


class _Cancelled(Exception):
    """The awaiting task was cancelled before the rename: drop the temp file."""


class _Gate:
    """Lets a cancelled coroutine stop its worker thread's rename (never half of it)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.cancelled = False

    def cancel(self) -> None:
        with self.lock:
            self.cancelled = True


_READ_FLAGS = os.O_RDONLY | os.O_CLOEXEC
_CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC


def _open_regular(path: str) -> int:
    fd = os.open(path, _READ_FLAGS)
    if stat.S_ISDIR(os.fstat(fd).st_mode):
        os.close(fd)
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), path)
    return fd


def _copy_range(src: int, out: int, size: int, source: str | int, tmp: str) -> None:
    """Copy bytes 0..size of ``src`` to ``out`` (``sendfile`` with offsets: ``src``'s own
    position is untouched, so one descriptor serves every reader)."""
    offset = 0
    while offset < size:
        try:
            sent = os.sendfile(out, src, offset, size - offset)
        except OSError as exc:
            raise translate_os_error(exc, f"copy {source} to {tmp}") from exc
        if sent == 0:
            raise storage_error(
                False, f"{source} shrank while being copied ({offset} of {size} bytes)"
            )
        offset += sent


def _is_temp(name: str) -> bool:
    return name.startswith(".") and name.endswith(_TEMP_SUFFIX)


class LocalStorage:
    """Objects are files under ``root``; key ``a/b.jpg`` is ``root/a/b.jpg``.

    ``fsync=True`` flushes each object (and its directory) before the rename, which makes the
    object durable across a power loss, at a large cost in throughput; without it objects are
    still atomic with respect to process crashes (SIGKILL), which is what the pipeline needs.
    """

    def __init__(
        self,
        root: str,
        *,
        fsync: bool = False,
        chunk_size: int = CHUNK_SIZE,
        inline_max: int = INLINE_MAX,
    ) -> None:
        path = Path(root).expanduser()
        if not path.is_absolute():
            raise ValueError(f"LocalStorage root must be an absolute path, got {root!r}")
        self.root = Path(os.path.normpath(path))
        self.url = self.root.as_uri()
        self.fsync = fsync
        self.chunk_size = chunk_size
        self.inline_max = inline_max
        self.turns = TurnBudget()
        self._dirs: set[str] = set()  # folders known to exist (skips a mkdir per object)

    def __repr__(self) -> str:
        return f"LocalStorage({str(self.root)!r})"

    # -- lifecycle (nothing to open; kept symmetrical with S3Storage) --------------------------

    async def open(self) -> LocalStorage:
        return self

    async def close(self) -> None:
        return None

    async def __aenter__(self) -> LocalStorage:
        return await self.open()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # -- addressing ----------------------------------------------------------------------------

    def _path(self, key: str) -> Path:
        parts = key.split("/")
        if (
            not key
            or key.startswith("/")
            or "\\" in key
            or "\x00" in key
            or any(p in ("", ".", "..") for p in parts)
            or _is_temp(parts[-1])
        ):
            raise storage_error(False, f"invalid storage key {key!r} for {self.url}")
        return self.root.joinpath(*parts)

    def uri(self, key: str) -> str:
        return self._path(key).as_uri()

    def key_of(self, uri: str) -> str | None:
        parts = urlsplit(uri)
        if parts.scheme != "file" or parts.netloc not in ("", "localhost"):
            return None
        path = os.path.normpath(unquote(parts.path))
        root = str(self.root)
        if root == "/":
            rel = path.lstrip("/")
        elif path.startswith(root + "/"):
            rel = path[len(root) + 1 :]
        else:
            return None
        return rel or None

    # -- writes --------------------------------------------------------------------------------

    def _temp_for(self, final: Path) -> Path:
        return final.with_name(f".{final.name}.{uuid.uuid4().hex}{_TEMP_SUFFIX}")

    async def _prepare_dir(self, final: Path) -> None:
        try:
            await aiofiles.os.makedirs(final.parent, exist_ok=True)
        except OSError as exc:
            raise translate_os_error(exc, f"create directory {final.parent}") from exc

    async def _commit(self, tmp: Path, final: Path) -> None:
        try:
            await aiofiles.os.replace(tmp, final)
            if self.fsync:
                await asyncio.to_thread(_fsync_dir, final.parent)
        except OSError as exc:
            raise translate_os_error(exc, f"rename {tmp} to {final}") from exc

    async def _discard(self, tmp: Path) -> None:
        try:
            await asyncio.shield(aiofiles.os.remove(tmp))
        except OSError:
            pass

    async def put_file(
        self, key: str, source: str | int, size: int, content_type: str | None
    ) -> str:
        """Copy the source (a path or an open descriptor) to a temp name next to the object,
        then rename it over the key.

        The copy is ``sendfile`` from the source descriptor with explicit offsets: no reopen,
        no Python-level buffers; small files are copied inline (cheaper than a thread hop; a
        few ms of them per turn of the loop), larger ones in one worker-thread call.
        Cancelling stops the rename: no object appears after a cancel.
        """
        final = self._path(key)
        gate = _Gate()
        if size <= self.inline_max:
            await self.turns.run(lambda: self._put_file_sync(source, size, final, gate))
            return final.as_uri()
        # the thread reads its own duplicate of a caller's descriptor: after a cancel it may run
        # on while the caller closes its own
        owned = os.dup(source) if isinstance(source, int) else source
        try:
            await asyncio.to_thread(self._put_file_sync, owned, size, final, gate, True)
        except asyncio.CancelledError:
            gate.cancel()
            raise
        return final.as_uri()

    def _put_file_sync(
        self, source: str | int, size: int, final: Path, gate: _Gate, owns_fd: bool = False
    ) -> None:
        """Copy ``source`` to ``final`` (``owns_fd``: close the descriptor ``source`` after)."""
        try:
            self._copy_and_rename(source, size, final, gate)
        finally:
            if owns_fd and isinstance(source, int):
                os.close(source)

    def _copy_and_rename(self, source: str | int, size: int, final: Path, gate: _Gate) -> None:
        parent = os.path.dirname(final)
        if parent not in self._dirs:
            try:
                os.makedirs(parent, exist_ok=True)
            except OSError as exc:
                raise translate_os_error(exc, f"create directory {parent}") from exc
            if len(self._dirs) < 100_000:
                self._dirs.add(parent)
        tmp = f"{parent}/.{final.name}.{os.urandom(12).hex()}{_TEMP_SUFFIX}"
        try:
            src = source if isinstance(source, int) else _open_regular(source)
        except OSError as exc:
            raise translate_os_error(exc, f"read source {source}") from exc
        try:
            try:
                out = os.open(tmp, _CREATE_FLAGS, 0o644)
            except OSError as exc:
                raise translate_os_error(exc, f"write {tmp}") from exc
            try:
                _copy_range(src, out, size, source, tmp)
                if self.fsync:
                    os.fsync(out)
            finally:
                os.close(out)
            try:
                with gate.lock:
                    if gate.cancelled:
                        raise _Cancelled
                    os.replace(tmp, final)
                if self.fsync:
                    _fsync_dir(final.parent)
            except OSError as exc:
                raise translate_os_error(exc, f"rename {tmp} to {final}") from exc
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        finally:
            if not isinstance(source, int):
                os.close(src)

    async def put_bytes(self, key: str, data: bytes, content_type: str | None) -> str:
        final = self._path(key)
        await self._prepare_dir(final)
        tmp = self._temp_for(final)
        try:
            try:
                async with aiofiles.open(tmp, "wb") as dst:
                    await dst.write(data)
                    if self.fsync:
                        await dst.flush()
                        await asyncio.to_thread(os.fsync, dst.fileno())
            except OSError as exc:
                raise translate_os_error(exc, f"write {tmp}") from exc
            await self._commit(tmp, final)
        except BaseException:
            await self._discard(tmp)
            raise
        return final.as_uri()

    # -- reads ---------------------------------------------------------------------------------

    async def stat(self, key: str) -> StoredObject | None:
        path = self._path(key)
        try:
            st = await aiofiles.os.stat(path)
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            raise translate_os_error(exc, f"stat {path}") from exc
        return StoredObject(key=key, size=st.st_size, modified=st.st_mtime)

    async def delete(self, key: str) -> None:
        path = self._path(key)
        try:
            await aiofiles.os.remove(path)
        except (FileNotFoundError, NotADirectoryError):
            return
        except OSError as exc:
            raise translate_os_error(exc, f"delete {path}") from exc

    async def read(self, key: str) -> bytes:
        path = self._path(key)
        try:
            async with aiofiles.open(path, "rb") as f:
                return await f.read()
        except (FileNotFoundError, NotADirectoryError) as exc:
            raise storage_error(
                False, f"no object {key!r} in {self.url}", cause=exc, cls=ObjectNotFoundError
            ) from exc
        except OSError as exc:
            raise translate_os_error(exc, f"read {path}") from exc

    async def list(self, prefix: str = "") -> AsyncIterator[StoredObject]:
        # Start at the deepest directory the prefix names, then filter on the full prefix.
        # Entries are sorted per directory, so the order is deterministic.
        head, _, _ = prefix.rpartition("/")
        start = self.root.joinpath(*head.split("/")) if head else self.root
        base = f"{head}/" if head else ""
        async for key, size, modified in self._walk(start, base):
            if key.startswith(prefix):
                yield StoredObject(key=key, size=size, modified=modified)

    async def _walk(self, directory: Path, base: str) -> AsyncIterator[tuple[str, int, float]]:
        try:
            entries = await asyncio.to_thread(_scan, directory)
        except (FileNotFoundError, NotADirectoryError):
            return
        except OSError as exc:
            raise translate_os_error(exc, f"list {directory}") from exc
        for name, is_dir, size, modified in entries:
            if is_dir:
                async for item in self._walk(directory / name, f"{base}{name}/"):
                    yield item
            elif not _is_temp(name):
                yield f"{base}{name}", size, modified

    # -- housekeeping --------------------------------------------------------------------------

    async def remove_stale_partials(self, older_than_s: float = 3600.0) -> int:
        """Remove temporary files older than ``older_than_s`` (left by killed writers)."""
        cutoff = time.time() - older_than_s

        def sweep() -> int:
            removed = 0
            for dirpath, _dirs, files in os.walk(self.root):
                for name in files:
                    if not _is_temp(name):
                        continue
                    p = os.path.join(dirpath, name)
                    try:
                        if os.stat(p).st_mtime < cutoff:
                            os.remove(p)
                            removed += 1
                    except FileNotFoundError:
                        pass
            return removed

        try:
            return await asyncio.to_thread(sweep)
        except OSError as exc:
            raise translate_os_error(exc, f"sweep temporary files under {self.root}") from exc


def _scan(directory: Path) -> list[tuple[str, bool, int, float]]:
    out: list[tuple[str, bool, int, float]] = []
    with os.scandir(directory) as it:
        for entry in it:
            try:
                if entry.is_dir(follow_symlinks=False):
                    out.append((entry.name, True, 0, 0.0))
                elif entry.is_file():
                    st = entry.stat()
                    out.append((entry.name, False, st.st_size, st.st_mtime))
            except FileNotFoundError:  # removed while listing
                continue
    out.sort()
    return out


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
