"""The library API, shaped like the reference SDK: Dataset and DatasetVersion.

A facade only: each method is one call on the application object (``service.Ingest``, one per
event loop, see ``runtime.get_app``). Every method ``name`` has an async twin ``name_async``;
the sync form runs the async one on the library's background loop (``runtime.run_sync``), so
it works in scripts and in notebooks.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from typing import Any

from . import runtime
from .catalog import DatasetRecord, FrameCursor, StoredFrame, VersionRecord
from .frames import Item
from .report import Report
from .service import item_from_stored


class _blocking:
    """The sync twin of the async method ``<name>_async`` (class or instance method)."""

    def __init__(self, async_name: str) -> None:
        self.async_name = async_name

    def __get__(self, obj: Any, owner: type) -> Callable[..., Any]:
        target = getattr(obj if obj is not None else owner, self.async_name)

        @functools.wraps(target)
        def call(*args: Any, **kwargs: Any) -> Any:
            return runtime.run_sync(target(*args, **kwargs))

        call.__doc__ = f"Blocking form of ``{self.async_name}``. {target.__doc__ or ''}"
        return call


class Dataset:
    """A named collection of versions."""

    def __init__(self, record: DatasetRecord) -> None:
        self._record = record

    id = property(lambda self: self._record.id)
    name = property(lambda self: self._record.name)
    tags = property(lambda self: list(self._record.tags))
    description = property(lambda self: self._record.description)
    created_at = property(lambda self: self._record.created_at)

    def __repr__(self) -> str:
        return f"Dataset(name={self.name!r}, id={self.id!r})"

    @classmethod
    async def create_async(
        cls,
        dataset_name: str,
        raise_if_exists: bool = False,
        tags: Sequence[str] | None = None,
        description: str | None = None,
    ) -> Dataset:
        """Create a dataset (or return the existing one unless ``raise_if_exists``)."""
        app = await runtime.get_app()
        return cls(
            await app.create_dataset(
                dataset_name,
                tags=tags or (),
                description=description,
                raise_if_exists=raise_if_exists,
            )
        )

    @classmethod
    async def get_async(
        cls, dataset_name: str | None = None, dataset_id: str | None = None
    ) -> Dataset:
        return cls(await (await runtime.get_app()).get_dataset(name=dataset_name, id=dataset_id))

    @classmethod
    async def list_async(cls) -> list[Dataset]:
        return [cls(r) for r in await (await runtime.get_app()).list_datasets()]

    @classmethod
    async def delete_async(
        cls,
        dataset_name: str | None = None,
        dataset_id: str | None = None,
        delete_all_versions: bool = False,
        force: bool = False,
    ) -> None:
        """Delete a dataset. With versions, needs ``delete_all_versions=True``; with published
        versions, also ``force=True``."""
        app = await runtime.get_app()
        await app.delete_dataset(
            dataset_name, dataset_id, delete_all_versions=delete_all_versions, force=force
        )

    create = _blocking("create_async")
    get = _blocking("get_async")
    list = _blocking("list_async")
    delete = _blocking("delete_async")


class DatasetVersion:
    """One version of a dataset: Draft (editable) or Published (read-only)."""

    def __init__(self, dataset: DatasetRecord, record: VersionRecord) -> None:
        self._dataset = dataset
        self._record = record
        #: the report of the last ``add_frames`` call
        self.last_report: Report | None = None

    dataset_id = property(lambda self: self._dataset.id)
    dataset_name = property(lambda self: self._dataset.name)
    version_id = property(lambda self: self._record.id)
    version_name = property(lambda self: self._record.name)
    state = property(lambda self: self._record.state)
    is_published = property(lambda self: self._record.is_published)
    is_draft = property(lambda self: not self._record.is_published)
    parent_ids = property(lambda self: list(self._record.parents))

    def __repr__(self) -> str:
        return (
            f"DatasetVersion(dataset={self.dataset_name!r}, version={self.version_name!r}, "
            f"state={self.state}, id={self.version_id!r})"
        )

    # ---------------------------------------------------------------- lookups

    @classmethod
    async def create_new_dataset_async(
        cls,
        dataset_name: str,
        description: str | None = None,
        tags: Sequence[str] | None = None,
        version_name: str = "Current",
        raise_if_exists: bool = False,
    ) -> DatasetVersion:
        """Create a dataset and its first (Draft) version; return that version."""
        app = await runtime.get_app()
        dataset = await app.create_dataset(
            dataset_name, tags=tags or (), description=description, raise_if_exists=raise_if_exists
        )
        return cls(dataset, await app.create_version(dataset, version_name))

    @classmethod
    async def create_version_async(
        cls,
        dataset_name: str | None = None,
        version_name: str | None = None,
        parent_version_names: Sequence[str] | None = None,
        raise_if_exists: bool = False,
        dataset_id: str | None = None,
    ) -> DatasetVersion:
        """Create a Draft version; it inherits the frames of ``parent_version_names``."""
        app = await runtime.get_app()
        dataset = await app.get_dataset(name=dataset_name, id=dataset_id)
        record = await app.create_version(
            dataset,
            version_name or "",
            parent_names=parent_version_names or (),
            raise_if_exists=raise_if_exists,
        )
        return cls(dataset, record)

    @classmethod
    async def get_version_async(
        cls,
        dataset_name: str | None = None,
        version_name: str | None = None,
        dataset_id: str | None = None,
        version_id: str | None = None,
    ) -> DatasetVersion:
        """A version by id, or by dataset and name; with no version, the current one."""
        app = await runtime.get_app()
        return cls(
            *await app.find_version(
                dataset_name, version_name, dataset_id=dataset_id, version_id=version_id
            )
        )

    @classmethod
    async def get_versions_async(
        cls,
        dataset_name: str | None = None,
        only_published: bool = False,
        only_draft: bool = False,
        dataset_id: str | None = None,
    ) -> list[DatasetVersion]:
        """The dataset's versions, oldest first."""
        app = await runtime.get_app()
        dataset = await app.get_dataset(name=dataset_name, id=dataset_id)
        return [
            cls(dataset, r)
            for r in await app.list_versions(dataset.id)
            if not (only_published and not r.is_published) and not (only_draft and r.is_published)
        ]

    @classmethod
    async def get_current_async(
        cls, dataset_name: str | None = None, dataset_id: str | None = None
    ) -> DatasetVersion:
        """The newest Published version; if none is published, the newest Draft."""
        app = await runtime.get_app()
        return cls(*await app.find_version(dataset_name, None, dataset_id=dataset_id))

    @classmethod
    async def get_single_frame_async(
        cls,
        frame_id: str,
        dataset_name: str | None = None,
        version_name: str | None = None,
        dataset_id: str | None = None,
        version_id: str | None = None,
    ) -> Item:
        """One registered frame (a FrameGroup or a SingleFrame), with its ``id`` set."""
        app = await runtime.get_app()
        _, version = await app.find_version(
            dataset_name, version_name, dataset_id=dataset_id, version_id=version_id
        )
        return await app.get_frame(version.id, frame_id)

    async def get_frame_async(self, frame_id: str) -> Item:
        return await (await runtime.get_app()).get_frame(self.version_id, frame_id)

    async def refresh_async(self) -> DatasetVersion:
        self._record = await (await runtime.get_app()).get_version(self.version_id)
        return self

    # ---------------------------------------------------------------- version state

    async def publish_version_async(self) -> None:
        """Make this version Published (read-only); fails if it is Published already."""
        self._record = await (await runtime.get_app()).publish_version(self.version_id)

    async def create_snapshot_async(
        self, publish_name: str | None = None, child_name: str | None = None
    ) -> DatasetVersion:
        """Publish the current content of this Draft as ``publish_name`` and go on editing.

        Defaults: ``publish_name`` = ``"<version name> <UTC date and time>"``, ``child_name`` =
        this version's name. This object stays the Draft (same id, new parent: the snapshot);
        the returned object is the published snapshot.
        """
        app = await runtime.get_app()
        snapshot, self._record = await app.snapshot_version(
            self.version_id, publish_name, child_name
        )
        return DatasetVersion(self._dataset, snapshot)

    async def get_metadata_async(self) -> dict[str, Any]:
        await self.refresh_async()
        return dict(self._record.metadata)

    async def set_metadata_async(self, metadata: dict[str, Any]) -> None:
        app = await runtime.get_app()
        self._record = await app.set_version_metadata(self.version_id, metadata)

    async def set_masks_labels_async(self, mask_labels: dict[Any, Sequence[str]]) -> None:
        """Map mask pixel values to labels: ``{(r, g, b): ["label", ...]}``."""
        self._record = await (await runtime.get_app()).set_mask_labels(self.version_id, mask_labels)

    async def get_masks_labels_async(self) -> dict[tuple[int, ...], list[str]]:
        metadata = await self.get_metadata_async()
        return {tuple(e["value"]): list(e["labels"]) for e in metadata.get("mask_labels", [])}

    async def get_frame_count_async(self) -> int:
        return await (await runtime.get_app()).count_frames(self.version_id)

    # ---------------------------------------------------------------- frames

    async def add_frames_async(
        self,
        frames: Iterable[Item],
        upload_retries: int | None = None,
        *,
        copy_remote: bool = False,
    ) -> list[Item]:
        """Register frames; return those NOT registered (the caller's own objects).

        Local sources are uploaded to the configured storage; remote ones (https://, s3://,
        gs://, az://) are registered by reference unless ``copy_remote``. If one frame of a
        FrameGroup fails, the whole group is not registered. ``self.last_report`` holds the details.
        """
        app = await runtime.get_app()
        report = await app.import_items(
            self.version_id, frames, upload_retries=upload_retries, copy_remote=copy_remote
        )
        self.last_report = report
        return report.rejected_items

    async def update_frames_async(self, frames: Iterable[Item]) -> None:
        """Replace registered frames (matched by ``id``) with these; all or none."""
        await (await runtime.get_app()).update_frames(self.version_id, frames)

    async def delete_frames_async(self, frames: Iterable[Item | str]) -> int:
        """Remove frames (objects with an id, or ids) from this version; all or none."""
        return await (await runtime.get_app()).delete_frames(self.version_id, frames)

    async def iter_frames_async(
        self, context_id: str | None = None, page_size: int = 1000
    ) -> AsyncIterator[Item]:
        """Stream the version's frames in (context_id, timestamp) order."""
        app = await runtime.get_app()
        async for _, stored in app.iter_frames(
            self.version_id, context_id=context_id, page_size=page_size
        ):
            yield item_from_stored(stored)

    async def _page_async(
        self, context_id: str | None, after: FrameCursor | None, page_size: int
    ) -> list[tuple[FrameCursor, StoredFrame]]:
        app = await runtime.get_app()
        return await app.page_frames(
            self.version_id, context_id=context_id, after=after, page_size=page_size
        )

    def iter_frames(self, context_id: str | None = None, page_size: int = 1000) -> Iterator[Item]:
        """Stream the version's frames in (context_id, timestamp) order, a page at a time."""
        after: FrameCursor | None = None
        while True:
            page = runtime.run_sync(self._page_async(context_id, after, page_size))
            for cursor, stored in page:
                after = cursor
                yield item_from_stored(stored)
            if len(page) < page_size:
                return

    create_new_dataset = _blocking("create_new_dataset_async")
    create_version = _blocking("create_version_async")
    get_version = _blocking("get_version_async")
    get_versions = _blocking("get_versions_async")
    get_current = _blocking("get_current_async")
    get_single_frame = _blocking("get_single_frame_async")
    get_frame = _blocking("get_frame_async")
    refresh = _blocking("refresh_async")
    publish_version = _blocking("publish_version_async")
    create_snapshot = _blocking("create_snapshot_async")
    get_metadata = _blocking("get_metadata_async")
    set_metadata = _blocking("set_metadata_async")
    set_masks_labels = _blocking("set_masks_labels_async")
    get_masks_labels = _blocking("get_masks_labels_async")
    get_frame_count = _blocking("get_frame_count_async")
    add_frames = _blocking("add_frames_async")
    update_frames = _blocking("update_frames_async")
    delete_frames = _blocking("delete_frames_async")
