"""The catalog: datasets, versions and frames on SQLite or PostgreSQL."""

from .base import (
    DRAFT,
    PUBLISHED,
    Catalog,
    DatasetRecord,
    FrameCursor,
    FrameRow,
    StoredFrame,
    VersionRecord,
    WriteResult,
)
from .sql import SqlCatalog


async def open_catalog(database_url: str, *, migrate: bool = True) -> SqlCatalog:
    """Open (and migrate) the catalog at ``sqlite:///PATH`` or ``postgresql://...``.
    ``migrate=False``: the caller knows it is migrated (a storage worker of an open app)."""
    return await SqlCatalog.open(database_url, migrate=migrate)


__all__ = [
    "DRAFT",
    "PUBLISHED",
    "Catalog",
    "DatasetRecord",
    "FrameCursor",
    "FrameRow",
    "SqlCatalog",
    "StoredFrame",
    "VersionRecord",
    "WriteResult",
    "open_catalog",
]
