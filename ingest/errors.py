"""The exception tree of frame-ingest.

Lower-layer errors (sqlite3, asyncpg, botocore, OSError, aiohttp) are translated once, at the
seam that meets them, with ``raise ... from``; callers only ever catch these classes.

    IngestError
    ├── ConfigError                 bad settings or URLs
    ├── ValidationError (ValueError) a frame, group or annotation is invalid; names the field
    ├── NotFoundError (LookupError) dataset / version / frame id that does not exist
    │   ├── DatasetNotFound
    │   ├── VersionNotFound
    │   └── FrameNotFound
    ├── AlreadyExistsError          create(..., raise_if_exists=True) on an existing name
    ├── PublishedVersionError       a write to a Published (read-only) version
    ├── CatalogError                the metadata store failed or is unreachable
    └── StorageError                a blob store or a source failed
        ├── TransientStorageError   worth retrying (timeouts, 5xx, throttling, resets)
        └── PermanentStorageError   not worth retrying (missing file, 4xx, bad URI)
"""

from __future__ import annotations


class IngestError(Exception):
    """Base class of every error frame-ingest raises on purpose."""


class ConfigError(IngestError):
    """Settings are missing or malformed."""


class ValidationError(IngestError, ValueError):
    """A frame, group, annotation or document is invalid. ``field`` names where."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.reason = message
        super().__init__(f"{field}: {message}" if field else message)


class NotFoundError(IngestError, LookupError):
    """Something looked up by name or id does not exist."""

    def __str__(self) -> str:  # LookupError would repr() a single argument
        return str(self.args[0]) if self.args else ""


class DatasetNotFound(NotFoundError):
    pass


class VersionNotFound(NotFoundError):
    pass


class FrameNotFound(NotFoundError):
    pass


class AlreadyExistsError(IngestError, ValueError):
    """A dataset or version with that name exists already."""


class PublishedVersionError(IngestError):
    """A write was attempted on a Published version; published versions are immutable."""


class CatalogError(IngestError):
    """The catalog (SQLite or PostgreSQL) failed or could not be reached.

    ``transient``: worth retrying (a lost connection, a lock or serialization conflict); set
    where the lower-layer error is translated (``catalog/db.py``).
    """

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


class StorageError(IngestError):
    """A blob store or a frame source failed.

    ``cause_name`` is the class of the lower-layer exception, ``code`` the S3 code or errno name.
    """

    transient = False
    cause_name: str | None = None
    code: str | None = None


class TransientStorageError(StorageError):
    """A failure that may succeed when retried."""

    transient = True


class PermanentStorageError(StorageError):
    """A failure that will not go away by retrying."""


def is_transient(exc: BaseException) -> bool:
    """The one predicate that decides retry (transient) versus fail at once (permanent).

    Seams translate their lower-layer errors into ``StorageError`` / ``CatalogError`` with a
    ``transient`` flag; timeouts and connection errors that escape a seam count as transient.
    """
    if isinstance(exc, StorageError | CatalogError):
        return exc.transient
    return isinstance(exc, TimeoutError | ConnectionError)
