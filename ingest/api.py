"""The library API, shaped like the reference SDK: Dataset (``api_dataset.py``) and
DatasetVersion.

A facade only: each method is one call on the application object (``service.Ingest``, one per
event loop, see ``runtime.get_app``). Every method ``name`` has an async twin ``name_async``;
the sync form runs the async one on the library's background loop (``runtime.run_sync``), so
it works in scripts and in notebooks.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from typing import Any

from . import runtime
from .api_dataset import Dataset
from .catalog import DatasetRecord, FrameCursor, StoredFrame, VersionRecord
from .facade import blocking, hybrid
from .formats import open_reader
from .frames import Item
from .masks import ALL_MASKS, mask_label_entries
from .report import Report
from .service import item_from_stored

__all__ = ["Dataset", "DatasetVersion"]


class DatasetVersion:
    """One version of a dataset: Draft (editable) or Published (read-only)."""

    def __init__(self, dataset: DatasetRecord, record: VersionRecord) -> None:
        self._dataset = dataset
        self._record = record
        #: the report of the last ``add_frames`` call
        self.last_report: Report | None = None
        self.last_export_losses: list[str] = []

    dataset_id = property(lambda self: self._dataset.id)
    dataset_name = property(lambda self: self._dataset.name)
    version_id = property(lambda self: self._record.id)
    version_name = property(lambda self: self._record.name)
    state = property(lambda self: self._record.state)
    is_published = property(lambda self: self._record.is_published)
    is_draft = property(lambda self: not self._record.is_published)
    parent_ids = property(lambda self: list(self._record.parents))
    comment = property(lambda self: self._record.comment)  # create_snapshot(child_comment=)

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
        dataset_project: str | None = None,
    ) -> DatasetVersion:
        """Create a dataset and its first (Draft) version; return that version. An existing
        dataset is reused (``raise_if_exists``: ``AlreadyExistsError``, a ``ValueError``)."""
        app = await runtime.get_app()
        dataset = await app.create_dataset(
            dataset_name,
            tags=tags or (),
            description=description,
            raise_if_exists=raise_if_exists,
            project=dataset_project,
            first_version=version_name,
        )
        return cls(dataset, await app.create_version(dataset, version_name))

    @hybrid
    async def create_version_async(
        this: Any,
        dataset_name: str | None = None,
        version_name: str | None = None,
        parent_version_names: Sequence[str] | None = None,
        raise_if_exists: bool = False,
        dataset_id: str | None = None,
    ) -> DatasetVersion:
        """Create a Draft version (an existing one of that name is returned unless
        ``raise_if_exists``); it inherits the frames of ``parent_version_names``, which must
        be Published; none: a root version, empty. On an instance, the dataset is the
        instance's."""
        app = await runtime.get_app()
        if isinstance(this, DatasetVersion) and dataset_name is None and dataset_id is None:
            dataset = this._dataset
        else:
            dataset = await app.get_dataset(name=dataset_name, id=dataset_id)
        record = await app.create_version(
            dataset,
            version_name or "",
            parent_names=parent_version_names or (),
            raise_if_exists=raise_if_exists,
        )
        return DatasetVersion(dataset, record)

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

    @hybrid
    async def create_snapshot_async(
        this: Any,
        dataset_name: str | None = None,
        publish_name: str | None = None,
        child_name: str | None = None,
        child_metadata: dict[str, Any] | None = None,
        child_comment: str | None = None,
        dataset_id: str | None = None,
    ) -> DatasetVersion:
        """The reference's snapshot of a Draft: the Draft becomes the Published snapshot (it
        keeps its version id) named ``publish_name`` (default ``snapshot <ISO 8601 UTC time>``),
        and a new Draft (new id) named ``child_name`` (default ``Current``), with the same
        frames, its metadata updated with ``child_metadata`` and ``child_comment``, goes on as
        the current version; it is returned. On the class: the dataset's one Draft version;
        on an instance: that version (the instance then is the Published snapshot)."""
        app = await runtime.get_app()
        if isinstance(this, DatasetVersion) and dataset_name is None and dataset_id is None:
            dataset, version_id = this._dataset, this.version_id
        else:
            dataset, version_id = await app.get_dataset(name=dataset_name, id=dataset_id), None
        snapshot, child = await app.snapshot_version(
            dataset, version_id, publish_name, child_name, child_metadata, child_comment
        )
        if isinstance(this, DatasetVersion) and this.version_id == snapshot.id:
            this._record = snapshot
        return DatasetVersion(dataset, child)

    async def commit_version_async(self) -> None:
        """Kept for the reference's examples: ``add_frames`` has committed its frames when it
        returns (nothing is pending), so this only refreshes the version's state."""
        await self.refresh_async()

    async def get_metadata_async(self) -> dict[str, Any]:
        """The version's metadata; ``mask_labels`` as the reference shows it:
        ``{'_all_': [{'value': [r, g, b], 'labels': [...]}, ...]}``."""
        await self.refresh_async()
        metadata = dict(self._record.metadata)
        if "mask_labels" in metadata:
            metadata["mask_labels"] = {ALL_MASKS: mask_label_entries(metadata["mask_labels"])}
        return metadata

    async def set_metadata_async(self, metadata: dict[str, Any]) -> None:
        app = await runtime.get_app()
        self._record = await app.set_version_metadata(self.version_id, metadata)

    async def set_masks_labels_async(self, mask_labels: dict[Any, Sequence[str]]) -> None:
        """Map mask pixel values to labels: ``{(r, g, b): ["label", ...]}``."""
        self._record = await (await runtime.get_app()).set_mask_labels(self.version_id, mask_labels)

    async def get_masks_labels_async(self) -> dict[tuple[int, ...], list[str]]:
        metadata = await self.get_metadata_async()
        entries = mask_label_entries(metadata.get("mask_labels"))
        return {tuple(e["value"]): list(e["labels"]) for e in entries}

    async def get_frame_count_async(self) -> int:
        return await (await runtime.get_app()).count_frames(self.version_id)

    # ---------------------------------------------------------------- frames

    async def add_frames_async(
        self,
        frames: Iterable[Item],
        upload_retries: int | None = None,
        *,
        copy_remote: bool = False,
        auto_upload_destination: str | None = None,
        local_dataset_root_path: str | None = None,
    ) -> list[Item]:
        """Register frames; return those NOT registered (the caller's own objects).

        Local sources are uploaded to the configured storage (``auto_upload_destination``:
        to that store URL instead, ``file://``, a folder or ``s3://bucket/prefix``); remote
        ones (https://, s3://, gs://, az://) are registered by reference unless
        ``copy_remote``. With ``local_dataset_root_path``, files under that folder keep their
        folder structure in the store. If one frame of a FrameGroup fails, the whole group is
        not registered. ``self.last_report`` holds the details. Frames are committed when this
        returns.
        """
        app = await runtime.get_app()
        report = await app.import_items(
            self.version_id,
            frames,
            upload_retries=upload_retries,
            copy_remote=copy_remote,
            destination=auto_upload_destination,
            local_root=local_dataset_root_path,
        )
        self.last_report = report
        return report.rejected_items

    async def import_format_async(
        self,
        format: str,
        paths: str | Sequence[str],
        upload_retries: int | None = None,
        *,
        group_by: str | None = None,
        images_root: str | None = None,
        split: str | None = None,
    ) -> Report:
        """Import COCO files, a YOLO data.yaml, a KITTI object folder or a nuScenes dataroot
        (``format``: coco, yolo, kitti, nuscenes) through the same pipeline as ``add_frames``;
        the label set met goes to the version metadata (``label_set``). The report."""
        paths = [paths] if isinstance(paths, str) else list(paths)
        reader = open_reader(format, paths, images_root=images_root, group_by=group_by, split=split)
        app = await runtime.get_app()
        self.last_report = await app.import_format(
            self.version_id, reader, upload_retries=upload_retries
        )
        return self.last_report

    async def export_format_async(
        self, format: str, output_dir: str, per_frame_name: bool = False
    ) -> list[str]:
        """Write this version as COCO or YOLO files into ``output_dir``; the files written.
        What the format cannot hold is listed in ``self.last_export_losses``."""
        app = await runtime.get_app()
        done = await app.export_format(
            self.version_id, format, output_dir, per_frame_name=per_frame_name
        )
        self.last_export_losses = done.losses
        return done.files

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

    create_new_dataset = blocking("create_new_dataset_async")
    create_version = blocking("create_version_async")
    get_version = blocking("get_version_async")
    get_versions = blocking("get_versions_async")
    get_current = blocking("get_current_async")
    get_single_frame = blocking("get_single_frame_async")
    get_frame = blocking("get_frame_async")
    refresh = blocking("refresh_async")
    publish_version = blocking("publish_version_async")
    create_snapshot = blocking("create_snapshot_async")
    commit_version = blocking("commit_version_async")
    get_metadata = blocking("get_metadata_async")
    set_metadata = blocking("set_metadata_async")
    set_masks_labels = blocking("set_masks_labels_async")
    get_masks_labels = blocking("get_masks_labels_async")
    get_frame_count = blocking("get_frame_count_async")
    add_frames = blocking("add_frames_async")
    import_format = blocking("import_format_async")
    export_format = blocking("export_format_async")
    update_frames = blocking("update_frames_async")
    delete_frames = blocking("delete_frames_async")
