"""The catalog seam: records and the protocol the API and the pipeline use."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import PublishedVersionError

if TYPE_CHECKING:
    from ..query import FrameFilter
    from .chunks import ChunkTable

DRAFT = "Draft"
PUBLISHED = "Published"

#: sort key used for a missing timestamp, so ordering is identical on SQLite and PostgreSQL
NO_TIMESTAMP = -1.0e300


@dataclass(frozen=True)
class DatasetRecord:
    id: str
    name: str
    description: str | None
    tags: list[str]
    created_at: float
    project: str | None = None  # the reference's dataset_project


@dataclass(frozen=True)
class VersionRecord:
    id: str
    dataset_id: str
    name: str
    state: str
    metadata: dict[str, Any]
    parents: list[str]
    created_at: float
    published_at: float | None
    comment: str | None = None  # create_snapshot(child_comment=...)

    @property
    def is_published(self) -> bool:
        return self.state == PUBLISHED

    def require_draft(self) -> VersionRecord:
        """The one "Published is read-only" rule: raise PublishedVersionError unless a Draft."""
        if self.is_published:
            raise PublishedVersionError(
                f"version {self.name!r} is Published and read-only; "
                "create a child version (create_version(parent_version_names=[...])) to edit"
            )
        return self


@dataclass(frozen=True)
class FrameRow:
    """One frame (a group or a single frame) ready to be written: the document is final."""

    id: str
    kind: str  # "group" | "single"
    context_id: str | None
    timestamp: float | None
    document: bytes
    rev: str | None = None  # the document's revision, if the caller computed it already


@dataclass(frozen=True)
class StoredFrame:
    id: str
    kind: str
    document: bytes
    saved_at: float = 0.0


@dataclass
class WriteResult:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0


@dataclass(frozen=True)
class FrameCursor:
    """Keyset position in a version's (context_id, timestamp, id) order."""

    sort_ctx: str
    sort_ts: float
    frame_id: str


class Catalog(Protocol):
    """Exactly what the application (``service``, ``browse``, ``pipeline``) calls; a unit test
    keeps the two equal."""

    async def close(self) -> None: ...
    def chunk_table(self) -> ChunkTable: ...

    # datasets
    async def create_dataset(
        self,
        name: str,
        *,
        tags: Sequence[str],
        description: str | None,
        raise_if_exists: bool,
        project: str | None = None,
    ) -> DatasetRecord: ...
    async def get_dataset(
        self, *, name: str | None = None, id: str | None = None
    ) -> DatasetRecord: ...
    async def list_datasets(self) -> list[DatasetRecord]: ...
    async def delete_dataset(
        self, dataset_id: str, *, delete_all_versions: bool, force: bool
    ) -> None: ...
    async def set_dataset_tags(self, dataset_id: str, tags: Sequence[str]) -> DatasetRecord: ...

    # versions
    async def create_version(
        self, dataset_id: str, name: str, *, parent_ids: Sequence[str], raise_if_exists: bool
    ) -> VersionRecord: ...
    async def get_version(
        self, *, dataset_id: str | None = None, name: str | None = None, id: str | None = None
    ) -> VersionRecord: ...
    async def list_versions(self, dataset_id: str) -> list[VersionRecord]: ...
    async def publish_version(self, version_id: str) -> VersionRecord: ...
    async def current_version(self, dataset_id: str) -> VersionRecord: ...
    async def snapshot_version(
        self,
        version_id: str,
        publish_name: str | None = None,
        child_name: str | None = None,
        child_metadata: dict[str, Any] | None = None,
        child_comment: str | None = None,
    ) -> tuple[VersionRecord, VersionRecord]: ...
    async def delete_version(self, version_id: str) -> None: ...
    async def set_version_metadata(
        self, version_id: str, metadata: dict[str, Any]
    ) -> VersionRecord: ...
    async def count_frames(self, version_id: str) -> int: ...
    async def version_counts(self) -> dict[str, int]: ...
    async def frame_counts(self, dataset_id: str) -> dict[str, int]: ...

    # frames
    async def write_frames(
        self,
        version_id: str,
        rows: Sequence[FrameRow],
        *,
        must_exist: bool = False,
        objects: Sequence[tuple[str, int]] = (),
    ) -> WriteResult: ...
    async def object_sizes(self, uris: Sequence[str]) -> dict[str, int]: ...
    def iter_all_documents(self, page_size: int = 1000) -> AsyncIterator[bytes]: ...
    async def forget_objects(self, uris: Sequence[str]) -> None: ...
    async def get_frame(self, version_id: str, frame_id: str) -> StoredFrame: ...
    async def delete_frames(self, version_id: str, frame_ids: Sequence[str]) -> int: ...
    async def replace_frame_if(
        self, version_id: str, row: FrameRow, expected_rev: str
    ) -> str | None: ...
    async def delete_frame_if(self, version_id: str, frame_id: str, expected_rev: str) -> bool: ...
    def iter_frames(
        self,
        version_id: str,
        *,
        context_id: str | None = None,
        after: FrameCursor | None = None,
        page_size: int = 1000,
    ) -> AsyncIterator[tuple[FrameCursor, StoredFrame]]: ...

    # queries (``catalog/queries.py``)
    async def query_count(self, version_id: str, filters: Sequence[FrameFilter]) -> int: ...
    async def query_page(
        self,
        version_id: str,
        filters: Sequence[FrameFilter],
        *,
        after: FrameCursor | None = None,
        limit: int = 1000,
    ) -> list[tuple[FrameCursor, StoredFrame]]: ...
    async def query_rows(
        self,
        version_id: str,
        filters: Sequence[FrameFilter],
        *,
        after: int = 0,
        until: int | None = None,
        limit: int = 10_000,
    ) -> list[int]: ...
    async def row_span(self) -> tuple[int, int]: ...
    async def frames_by_row(self, row_ids: Sequence[int]) -> dict[int, StoredFrame]: ...

    # browsing (``catalog/search.py``)
    async def filtered_page(
        self,
        version_id: str,
        *,
        limit: int = 50,
        cursor: str | None = None,
        context_id: str | None = None,
        label: str | None = None,
        meta: Mapping[str, str] | None = None,
        query: FrameFilter | None = None,
    ) -> tuple[list[StoredFrame], str | None]: ...
    async def list_contexts(
        self, version_id: str, *, after: str | None = None, limit: int = 100
    ) -> list[tuple[str, int]]: ...
    async def context_neighbours(
        self, version_id: str, context_id: str
    ) -> tuple[str | None, str | None]: ...
    async def frame_neighbours(
        self, version_id: str, frame_id: str
    ) -> tuple[str | None, str | None]: ...
