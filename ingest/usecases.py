"""Use cases on datasets and versions, part of the application object (``service.Ingest``).

Kept in its own module so each stays small; ``Ingest`` inherits them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .catalog import Catalog, DatasetRecord, VersionRecord
from .errors import DatasetNotFound, ValidationError, VersionNotFound
from .masks import ALL_MASKS, mask_labels_to_json

#: the version a new dataset starts with (reference docs: "an empty version named Current")
CURRENT = "Current"


class DatasetsAndVersions:
    @property
    def catalog(self) -> Catalog:
        raise NotImplementedError  # the application's

    # ------------------------------------------------------------------ datasets

    async def create_dataset(
        self,
        name: str,
        *,
        tags: Sequence[str] = (),
        description: str | None = None,
        raise_if_exists: bool = False,
        project: str | None = None,
        first_version: str | None = CURRENT,
    ) -> DatasetRecord:
        """Create a dataset (or get it, unless ``raise_if_exists``); a dataset without versions
        gets an empty Draft ``first_version`` (None: none)."""
        record = await self.catalog.create_dataset(
            name,
            tags=list(tags),
            description=description,
            raise_if_exists=raise_if_exists,
            project=project,
        )
        if first_version and not await self.catalog.list_versions(record.id):
            await self.catalog.create_version(
                record.id, first_version, parent_ids=[], raise_if_exists=False
            )
        return record

    async def set_dataset_tags(self, dataset_id: str, tags: Sequence[str]) -> DatasetRecord:
        return await self.catalog.set_dataset_tags(dataset_id, list(tags))

    async def get_dataset(self, name: str | None = None, id: str | None = None) -> DatasetRecord:
        return await self.catalog.get_dataset(name=name, id=id)

    async def list_datasets(self) -> list[DatasetRecord]:
        return await self.catalog.list_datasets()

    async def datasets_with_version_counts(self) -> list[tuple[DatasetRecord, int]]:
        counts = await self.catalog.version_counts()
        return [(d, counts.get(d.id, 0)) for d in await self.catalog.list_datasets()]

    async def delete_dataset(
        self,
        name: str | None = None,
        id: str | None = None,
        *,
        delete_all_versions: bool = False,
        force: bool = False,
    ) -> DatasetRecord:
        record = await self.catalog.get_dataset(name=name, id=id)
        await self.catalog.delete_dataset(
            record.id, delete_all_versions=delete_all_versions, force=force
        )
        return record

    # ------------------------------------------------------------------ versions

    async def find_version(
        self,
        dataset_name: str | None = None,
        version_name: str | None = None,
        *,
        dataset_id: str | None = None,
        version_id: str | None = None,
    ) -> tuple[DatasetRecord, VersionRecord]:
        """The one version lookup: by id, by dataset and name, or the dataset's current one
        (the newest Published, else the newest Draft) when no name is given."""
        if version_id is not None:
            record = await self.catalog.get_version(id=version_id)
            return await self.catalog.get_dataset(id=record.dataset_id), record
        dataset = await self.catalog.get_dataset(name=dataset_name, id=dataset_id)
        if version_name is None:
            return dataset, await self.catalog.current_version(dataset.id)
        try:
            return dataset, await self.catalog.get_version(dataset_id=dataset.id, name=version_name)
        except VersionNotFound as exc:
            raise VersionNotFound(
                f"version {version_name!r} does not exist in dataset {dataset.name!r}"
            ) from exc

    async def resolve_version(
        self, dataset: str | None, version: str | None, *, create: bool = False
    ) -> VersionRecord:
        """The target of an import: dataset and version by name, created when ``create``."""
        if not dataset or not version:
            raise ValidationError(
                "target", "name the target with --dataset and --version (or a manifest header)"
            )
        try:
            record = await self.catalog.get_dataset(name=dataset)
        except DatasetNotFound:
            if not create:
                raise DatasetNotFound(
                    f"dataset {dataset!r} does not exist (pass --create to create it)"
                ) from None
            record = await self.catalog.create_dataset(
                dataset, tags=[], description=None, raise_if_exists=False
            )
        try:
            return await self.catalog.get_version(dataset_id=record.id, name=version)
        except VersionNotFound:
            if not create:
                raise VersionNotFound(
                    f"version {version!r} does not exist in dataset {dataset!r} "
                    "(pass --create to create it)"
                ) from None
            return await self.catalog.create_version(
                record.id, version, parent_ids=[], raise_if_exists=False
            )

    async def create_version(
        self,
        dataset: DatasetRecord,
        name: str,
        *,
        parent_names: Sequence[str] = (),
        raise_if_exists: bool = False,
    ) -> VersionRecord:
        """A Draft version inheriting the frames of the versions named ``parent_names``, which
        must be Published (reference docs: child versions come from Published versions only)."""
        if not name:
            raise ValidationError("version_name", "is required")
        parents = []
        for parent_name in parent_names:
            parent = await self.catalog.get_version(dataset_id=dataset.id, name=parent_name)
            if not parent.is_published:
                raise ValidationError(
                    "parent_version_names",
                    f"version {parent_name!r} is a Draft: a child version can only be created "
                    "from a Published version (publish it, or use create_snapshot)",
                )
            parents.append(parent.id)
        return await self.catalog.create_version(
            dataset.id, name, parent_ids=parents, raise_if_exists=raise_if_exists
        )

    async def delete_version(self, version_id: str) -> None:
        """Delete a Draft version (a Published one is refused: PublishedVersionError)."""
        await self.catalog.delete_version(version_id)

    async def get_version(self, version_id: str) -> VersionRecord:
        return await self.catalog.get_version(id=version_id)

    async def list_versions(self, dataset_id: str) -> list[VersionRecord]:
        return await self.catalog.list_versions(dataset_id)

    async def versions_with_frame_counts(self, dataset_id: str) -> list[tuple[VersionRecord, int]]:
        counts = await self.catalog.frame_counts(dataset_id)
        return [(v, counts.get(v.id, 0)) for v in await self.catalog.list_versions(dataset_id)]

    async def publish_version(self, version_id: str) -> VersionRecord:
        return await self.catalog.publish_version(version_id)

    async def snapshot_version(
        self,
        dataset: DatasetRecord,
        version_id: str | None = None,
        publish_name: str | None = None,
        child_name: str | None = None,
        child_metadata: dict[str, Any] | None = None,
        child_comment: str | None = None,
    ) -> tuple[VersionRecord, VersionRecord]:
        """Snapshot ``version_id``, else the dataset's one Draft (the reference's simple
        structure); (the Published snapshot, same id, and the new Draft child)."""
        if version_id is None:
            drafts = [v for v in await self.catalog.list_versions(dataset.id) if not v.is_published]
            if len(drafts) != 1:
                raise ValidationError(
                    "dataset",
                    f"dataset {dataset.name!r} has {len(drafts)} Draft versions; a snapshot "
                    "by dataset needs exactly one (call create_snapshot on the version)",
                )
            version_id = drafts[0].id
        if child_metadata is not None and not isinstance(child_metadata, dict):
            raise ValidationError("child_metadata", f"must be a dict, got {child_metadata!r}")
        return await self.catalog.snapshot_version(
            version_id, publish_name, child_name, child_metadata, child_comment
        )

    async def set_version_metadata(
        self, version_id: str, metadata: dict[str, Any]
    ) -> VersionRecord:
        return await self.catalog.set_version_metadata(version_id, dict(metadata))

    async def set_mask_labels(
        self, version_id: str, mask_labels: dict[Any, Sequence[str]]
    ) -> VersionRecord:
        entries = mask_labels_to_json(mask_labels)
        record = await self.catalog.get_version(id=version_id)
        return await self.catalog.set_version_metadata(
            version_id, {**record.metadata, "mask_labels": {ALL_MASKS: entries}}
        )
