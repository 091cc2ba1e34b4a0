"""The storage seam: one small protocol that every blob store implements.

The pipeline never knows which store it has. Errors are translated at this seam into
``TransientStorageError`` (retry) or ``PermanentStorageError`` (do not retry); every translated
error carries ``cause_name`` (the class name of the lower-layer exception, also kept as
``__cause__``) and ``code`` (the S3 error code or errno name, when there is one).
"""

from __future__ import annotations

import errno
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Protocol, cast, runtime_checkable

from ..errors import PermanentStorageError, StorageError, TransientStorageError

MiB = 1024 * 1024

#: HTTP statuses worth a retry, for every HTTP store (S3, GCS, Azure) and remote sources
TRANSIENT_HTTP_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class StoredObject:
    key: str
    size: int
    #: last modification, seconds since epoch (None when the store does not say)
    modified: float | None = field(default=None, compare=False)


class ObjectNotFoundError(PermanentStorageError):
    """``read`` of a key that does not exist (``stat`` returns None instead)."""


@runtime_checkable
class Storage(Protocol):
    """A blob store addressed by keys ('a/b/c.jpg', no leading '/')."""

    #: the store's base URL, e.g. ``file:///data/objects`` or ``s3://bucket/prefix``
    url: str

    def uri(self, key: str) -> str:
        """The URI registered in the catalog for ``key``."""
        ...

    def key_of(self, uri: str) -> str | None:
        """The key of a URI of this store, or None when the URI is not in this store."""
        ...

    async def put_file(
        self, key: str, source: str | int, size: int, content_type: str | None
    ) -> str:
        """Store a local file (``size`` bytes) under ``key``; return its URI. ``source`` is a
        path, or a file descriptor the caller opened (read from offset 0 with positional
        reads; the caller keeps and closes it).

        Never leaves a partial object under ``key`` (temp name + rename, or S3 semantics).
        """
        ...

    async def put_bytes(self, key: str, data: bytes, content_type: str | None) -> str:
        """Store ``data`` under ``key``; return its URI."""
        ...

    async def stat(self, key: str) -> StoredObject | None:
        """The object's size, or None when it does not exist."""
        ...

    async def delete(self, key: str) -> None:
        """Remove the object; no error when it is already gone."""
        ...

    def list(self, prefix: str = "") -> AsyncIterator[StoredObject]:
        """Every object under ``prefix`` (a plain string prefix of the key, as in S3)."""
        ...

    async def read(self, key: str) -> bytes:
        """The whole object (for small objects: previews, tests, verify).

        Raises ``ObjectNotFoundError`` (a ``PermanentStorageError``) when it does not exist.
        """
        ...

    async def remove_stale_partials(self, older_than_s: float) -> int:
        """Remove what killed writers left (temp files, multipart uploads) older than that."""
        ...

    async def close(self) -> None: ...


def storage_error(
    transient: bool,
    message: str,
    *,
    cause: BaseException | None = None,
    code: str | None = None,
    cls: type[StorageError] | None = None,
) -> StorageError:
    """Build a translated error; the caller raises it ``from cause``."""
    if cls is None:
        cls = TransientStorageError if transient else PermanentStorageError
    err = cls(message)
    extra = cast(Any, err)
    extra.cause_name = type(cause).__name__ if cause is not None else None
    extra.code = code
    return err


# errno values worth a retry: the condition is expected to clear by itself
_TRANSIENT_ERRNOS = frozenset(
    {
        errno.EIO,
        errno.EAGAIN,
        errno.EINTR,
        errno.EBUSY,
        errno.ETIMEDOUT,
        errno.EMFILE,  # too many open files: clears as in-flight uploads finish
        errno.ENFILE,
        errno.ENOMEM,
        errno.ESTALE,  # NFS handle went stale
        errno.ECONNRESET,
        errno.ECONNABORTED,
        errno.ECONNREFUSED,
        errno.EHOSTUNREACH,
        errno.ENETUNREACH,
        errno.ENETDOWN,
    }
)


def translate_http_error(
    service: str,
    op: str,
    target: str,
    exc: BaseException,
    status: int | None,
    *,
    network: bool,
    code: str | None = None,
    detail: str = "",
) -> StorageError:
    """An error of ``service`` ("GCS", "Azure") doing ``op`` on ``target`` -> StorageError.

    ``status``: the HTTP status of the answer: 404 gives ``ObjectNotFoundError``; 408, 429 and
    5xx are transient; every other one (400, 401, 403, 409, 412...) is permanent. Without an
    answer, ``network`` (a timeout, a reset, a refused connection, said by the backend's own
    exception classes) is transient; a local file error is classified by its errno; anything
    else (bad input, missing credentials) is permanent. Raise the result ``from exc``.
    """
    if isinstance(exc, StorageError):
        return exc
    if status is None:
        if isinstance(exc, OSError) and not network and exc.errno is not None:
            return translate_os_error(exc, f"{service} {op} {target}")
        text = f"{service} {op} {target} failed: {type(exc).__name__}: {str(exc) or repr(exc)}"
        return storage_error(network, text, cause=exc, code=code or type(exc).__name__)
    text = f"{service} {op} {target} failed: HTTP {status}"
    if code:
        text += f" {code}"
    if detail:
        text += f": {detail[:300]}"
    cls = ObjectNotFoundError if status == 404 else None
    transient = status in TRANSIENT_HTTP_STATUSES
    return storage_error(transient, text, cause=exc, code=code or str(status), cls=cls)


def os_error_is_transient(exc: OSError) -> bool:
    """EIO/EAGAIN/ETIMEDOUT... may clear; missing files, permissions, ENOSPC, EROFS will not.

    ENOSPC/EDQUOT are treated as permanent: a retry a few hundred milliseconds later will
    almost never find space, and failing fast surfaces the problem in the report.
    """
    if isinstance(
        exc,
        (
            FileNotFoundError,
            IsADirectoryError,
            NotADirectoryError,
            PermissionError,
            FileExistsError,
        ),
    ):
        return False
    if isinstance(exc, (TimeoutError, ConnectionError, InterruptedError, BlockingIOError)):
        return True
    return exc.errno in _TRANSIENT_ERRNOS


def translate_os_error(exc: OSError, what: str) -> StorageError:
    """An OSError met while doing ``what`` (e.g. "read source /x/a.jpg") -> StorageError."""
    code = errno.errorcode.get(exc.errno) if exc.errno is not None else None
    reason = exc.strerror or str(exc) or type(exc).__name__
    message = f"{what}: {type(exc).__name__}"
    if code:
        message += f" [{code}]"
    message += f": {reason}"
    return storage_error(os_error_is_transient(exc), message, cause=exc, code=code)


def read_whole(source: str | int, size: int, close: bool = False) -> bytes:
    """The ``size`` bytes of a path or an open file descriptor (from offset 0); ``close``:
    close the descriptor after."""
    if isinstance(source, str):
        with open(source, "rb") as fh:
            return fh.read()
    if close:
        try:
            return read_whole(source, size)
        finally:
            os.close(source)
    chunks, offset = [], 0
    while offset < size:
        chunk = os.pread(source, size - offset, offset)
        if not chunk:
            raise OSError(f"the file shrank while being read ({offset} of {size} bytes)")
        chunks.append(chunk)
        offset += len(chunk)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def source_path(source: str | int) -> str:
    """A path that reads ``source`` (an open descriptor reads through /proc)."""
    return source if isinstance(source, str) else f"/proc/self/fd/{source}"
