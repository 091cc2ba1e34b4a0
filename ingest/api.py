"""The library API: Dataset and DatasetVersion, async methods with sync twins.

Every method ``name`` has an async twin ``name_async``; the sync form runs the async one on the
library's background loop (``runtime.run_sync``), so it works in scripts and in notebooks.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from typing import Any

import orjson

from . import runtime
from .catalog import DatasetRecord, FrameCursor, StoredFrame, VersionRecord
from .errors import ValidationError, VersionNotFound
from .frames import (
    FrameGroup,
    Item,
    SingleFrame,
    item_from_doc,
)
from .pipeline import frame_row, run_pipeline
from .report import Report


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


def _item_from_stored(stored: StoredFrame) -> Item:
    item = item_from_doc(orjson.loads(stored.document), f"frame {stored.id}")
    item.id = stored.id
    return item


def _mask_labels_to_json(mask_labels: dict[Any, Sequence[str]]) -> list[dict[str, Any]]:
    out = []
    for value, labels in mask_labels.items():
        pixel = [value] if isinstance(value, int) else list(value)
        if not pixel or not all(isinstance(v, int) and 0 <= v <= 255 for v in pixel):
            raise ValidationError(
                "mask_labels", f"keys are pixel values (r, g, b) in 0..255, got {value!r}"
            )
        if isinstance(labels, str) or not all(isinstance(lb, str) for lb in labels):
            raise ValidationError(
                f"mask_labels[{value!r}]", f"must be a list of labels, got {labels!r}"
            )
        out.append({"value": pixel, "labels": list(labels)})
    return out


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
        catalog = await runtime.get_catalog()
        record = await catalog.create_dataset(
            dataset_name,
            tags=list(tags or ()),
            description=description,
            raise_if_exists=raise_if_exists,
        )
        return cls(record)

    @classmethod
    async def get_async(
        cls, dataset_name: str | None = None, dataset_id: str | None = None
    ) -> Dataset:
        catalog = await runtime.get_catalog()
        return cls(await catalog.get_dataset(name=dataset_name, id=dataset_id))

    @classmethod
    async def list_async(cls) -> list[Dataset]:
        catalog = await runtime.get_catalog()
        return [cls(r) for r in await catalog.list_datasets()]

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
        catalog = await runtime.get_catalog()
        record = await catalog.get_dataset(name=dataset_name, id=dataset_id)
        await catalog.delete_dataset(
            record.id, delete_all_versions=delete_all_versions, force=force
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
        catalog = await runtime.get_catalog()
        dataset = await catalog.create_dataset(
            dataset_name,
            tags=list(tags or ()),
            description=description,
            raise_if_exists=raise_if_exists,
        )
        version = await catalog.create_version(dataset.id, version_name, raise_if_exists=False)
        return cls(dataset, version)

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
        if not version_name:
            raise ValidationError("version_name", "is required")
        catalog = await runtime.get_catalog()
        dataset = await catalog.get_dataset(name=dataset_name, id=dataset_id)
        parents = [
            (await catalog.get_version(dataset_id=dataset.id, name=name)).id
            for name in parent_version_names or ()
        ]
        record = await catalog.create_version(
            dataset.id, version_name, parent_ids=parents, raise_if_exists=raise_if_exists
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
        catalog = await runtime.get_catalog()
        if version_id is not None:
            record = await catalog.get_version(id=version_id)
            return cls(await catalog.get_dataset(id=record.dataset_id), record)
        if version_name is None:
            return await cls.get_current_async(dataset_name=dataset_name, dataset_id=dataset_id)
        dataset = await catalog.get_dataset(name=dataset_name, id=dataset_id)
        try:
            record = await catalog.get_version(dataset_id=dataset.id, name=version_name)
        except VersionNotFound as exc:
            raise VersionNotFound(
                f"version {version_name!r} does not exist in dataset {dataset.name!r}"
            ) from exc
        return cls(dataset, record)

    @classmethod
    async def get_versions_async(
        cls,
        dataset_name: str | None = None,
        only_published: bool = False,
        only_draft: bool = False,
        dataset_id: str | None = None,
    ) -> list[DatasetVersion]:
        """The dataset's versions, oldest first."""
        catalog = await runtime.get_catalog()
        dataset = await catalog.get_dataset(name=dataset_name, id=dataset_id)
        records = await catalog.list_versions(dataset.id)
        return [
            cls(dataset, r)
            for r in records
            if not (only_published and not r.is_published) and not (only_draft and r.is_published)
        ]

    @classmethod
    async def get_current_async(
        cls, dataset_name: str | None = None, dataset_id: str | None = None
    ) -> DatasetVersion:
        """The newest Published version; if none is published, the newest Draft."""
        catalog = await runtime.get_catalog()
        dataset = await catalog.get_dataset(name=dataset_name, id=dataset_id)
        return cls(dataset, await catalog.current_version(dataset.id))

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
        version = await cls.get_version_async(
            dataset_name=dataset_name,
            version_name=version_name,
            dataset_id=dataset_id,
            version_id=version_id,
        )
        return await version.get_frame_async(frame_id)

    async def get_frame_async(self, frame_id: str) -> Item:
        catalog = await runtime.get_catalog()
        return _item_from_stored(await catalog.get_frame(self.version_id, frame_id))

    async def refresh_async(self) -> DatasetVersion:
        catalog = await runtime.get_catalog()
        self._record = await catalog.get_version(id=self.version_id)
        return self

    # ---------------------------------------------------------------- version state

    async def publish_version_async(self) -> None:
        """Make this version Published (read-only); fails if it is Published already."""
        catalog = await runtime.get_catalog()
        self._record = await catalog.publish_version(self.version_id)

    async def create_snapshot_async(
        self, publish_name: str | None = None, child_name: str | None = None
    ) -> DatasetVersion:
        """Publish the current content of this Draft as ``publish_name`` and go on editing.

        Defaults: ``publish_name`` = ``"<version name> <UTC date and time>"``, ``child_name`` =
        this version's name. This object stays the Draft (same id, new parent: the snapshot);
        the returned object is the published snapshot.
        """
        catalog = await runtime.get_catalog()
        snapshot, draft = await catalog.snapshot_version(self.version_id, publish_name, child_name)
        self._record = draft
        return DatasetVersion(self._dataset, snapshot)

    async def get_metadata_async(self) -> dict[str, Any]:
        await self.refresh_async()
        return dict(self._record.metadata)

    async def set_metadata_async(self, metadata: dict[str, Any]) -> None:
        catalog = await runtime.get_catalog()
        self._record = await catalog.set_version_metadata(self.version_id, dict(metadata))

    async def set_masks_labels_async(self, mask_labels: dict[Any, Sequence[str]]) -> None:
        """Map mask pixel values to labels: ``{(r, g, b): ["label", ...]}``."""
        metadata = await self.get_metadata_async()
        metadata["mask_labels"] = _mask_labels_to_json(mask_labels)
        await self.set_metadata_async(metadata)

    async def get_masks_labels_async(self) -> dict[tuple[int, ...], list[str]]:
        metadata = await self.get_metadata_async()
        return {tuple(e["value"]): list(e["labels"]) for e in metadata.get("mask_labels", [])}

    async def get_frame_count_async(self) -> int:
        catalog = await runtime.get_catalog()
        return await catalog.count_frames(self.version_id)

    # ---------------------------------------------------------------- frames

    async def add_frames_async(
        self,
        frames: Iterable[Item],
        upload_retries: int | None = None,
        *,
        copy_remote: bool = False,
    ) -> list[Item]:
        """Register frames; return those NOT registered (the caller's own objects).

        Local sources are uploaded to the configured storage; remote ones (https://, s3://) are
        registered by reference unless ``copy_remote``. If one frame of a FrameGroup fails, the
        whole group is not registered. ``self.last_report`` holds the details.
        """
        report = await run_pipeline(
            frames,
            version_id=self.version_id,
            settings=runtime.get_settings(),
            catalog=await runtime.get_catalog(),
            upload_retries=upload_retries,
            copy_remote=copy_remote,
        )
        self.last_report = report
        return report.rejected_items

    async def update_frames_async(self, frames: Iterable[Item]) -> None:
        """Replace registered frames (matched by ``id``) with these; all or none."""
        rows = []
        for item in frames:
            if not isinstance(item, FrameGroup | SingleFrame):
                raise ValidationError("frames", f"expected FrameGroup or SingleFrame, got {item!r}")
            if item.id is None:
                raise ValidationError(
                    "frame.id", "update_frames needs registered frames (with an id)"
                )
            rows.append(frame_row(item, item.to_doc()))
        catalog = await runtime.get_catalog()
        await catalog.write_frames(self.version_id, rows, must_exist=True)

    async def delete_frames_async(self, frames: Iterable[Item | str]) -> int:
        """Remove frames (objects with an id, or ids) from this version; all or none."""
        ids = []
        for item in frames:
            frame_id = item if isinstance(item, str) else item.id
            if not frame_id:
                raise ValidationError("frame.id", f"cannot delete a frame without id: {item!r}")
            ids.append(frame_id)
        catalog = await runtime.get_catalog()
        return await catalog.delete_frames(self.version_id, ids)

    async def iter_frames_async(
        self, context_id: str | None = None, page_size: int = 1000
    ) -> AsyncIterator[Item]:
        """Stream the version's frames in (context_id, timestamp) order."""
        catalog = await runtime.get_catalog()
        async for _, stored in catalog.iter_frames(
            self.version_id, context_id=context_id, page_size=page_size
        ):
            yield _item_from_stored(stored)

    async def _page_async(
        self, context_id: str | None, after: FrameCursor | None, page_size: int
    ) -> list[tuple[FrameCursor, StoredFrame]]:
        catalog = await runtime.get_catalog()
        page = []
        async for entry in catalog.iter_frames(
            self.version_id, context_id=context_id, after=after, page_size=page_size
        ):
            page.append(entry)
            if len(page) == page_size:
                break
        return page

    def iter_frames(self, context_id: str | None = None, page_size: int = 1000) -> Iterator[Item]:
        """Stream the version's frames in (context_id, timestamp) order, a page at a time."""
        after: FrameCursor | None = None
        while True:
            page = runtime.run_sync(self._page_async(context_id, after, page_size))
            for cursor, stored in page:
                after = cursor
                yield _item_from_stored(stored)
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
