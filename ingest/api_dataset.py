"""The library's ``Dataset`` (reference SDK): create, get, list, delete, tags, versions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from . import runtime
from .catalog import DatasetRecord
from .errors import VersionNotFound
from .facade import blocking

if TYPE_CHECKING:
    from .api import DatasetVersion


class Dataset:
    """A named collection of versions."""

    def __init__(self, record: DatasetRecord) -> None:
        self._record = record

    id = property(lambda self: self._record.id)
    name = property(lambda self: self._record.name)
    tags = property(lambda self: list(self._record.tags))
    description = property(lambda self: self._record.description)
    created_at = property(lambda self: self._record.created_at)
    project = property(lambda self: self._record.project)

    def __repr__(self) -> str:
        return f"Dataset(name={self.name!r}, id={self.id!r})"

    @classmethod
    async def create_async(
        cls,
        dataset_name: str,
        raise_if_exists: bool = False,
        tags: Sequence[str] | None = None,
        description: str | None = None,
        dataset_project: str | None = None,
    ) -> Dataset:
        """Create a dataset with an empty Draft version ``Current`` (or return the existing
        one; ``raise_if_exists``: raise ``AlreadyExistsError``, a ``ValueError``, instead)."""
        app = await runtime.get_app()
        return cls(
            await app.create_dataset(
                dataset_name,
                tags=tags or (),
                description=description,
                raise_if_exists=raise_if_exists,
                project=dataset_project,
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
        delete_sources: bool = False,
        show_progress: bool = False,
    ) -> None:
        """Delete a dataset. With versions, needs ``delete_all_versions=True``; with published
        versions, also ``force=True``. ``delete_sources`` (with ``delete_all_versions``) also
        removes the objects of the configured store that its frames referenced and no other
        frame does; by-reference URIs are never deleted. ``show_progress`` is accepted and
        ignored (a deletion reports nothing while it runs)."""
        app = await runtime.get_app()
        await app.delete_dataset(
            dataset_name,
            dataset_id,
            delete_all_versions=delete_all_versions,
            force=force,
            delete_sources=delete_sources and delete_all_versions,
        )

    async def add_tags_async(self, tags: Sequence[str]) -> None:
        """Add tags (kept once each, in order)."""
        merged = list(dict.fromkeys([*self._record.tags, *tags]))
        self._record = await (await runtime.get_app()).set_dataset_tags(self.id, merged)

    async def remove_tags_async(self, tags: Sequence[str]) -> None:
        gone = set(tags)
        kept = [t for t in self._record.tags if t not in gone]
        self._record = await (await runtime.get_app()).set_dataset_tags(self.id, kept)

    async def create_version_async(
        self,
        version_name: str,
        parent_version_names: Sequence[str] | None = None,
        raise_if_exists: bool = False,
    ) -> DatasetVersion:
        """``DatasetVersion.create_version`` in this dataset."""
        from .api import DatasetVersion  # the module that imports this one

        return await DatasetVersion.create_version_async(
            version_name=version_name,
            parent_version_names=parent_version_names,
            raise_if_exists=raise_if_exists,
            dataset_id=self.id,
        )

    async def delete_version_async(
        self, version_name: str | None = None, version_id: str | None = None
    ) -> None:
        """Delete a Draft version of this dataset (a Published one: PublishedVersionError)."""
        app = await runtime.get_app()
        _, version = await app.find_version(
            None, version_name, dataset_id=self.id, version_id=version_id
        )
        if version.dataset_id != self.id:
            raise VersionNotFound(f"version id {version_id!r} is not in dataset {self.name!r}")
        await app.delete_version(version.id)

    create = blocking("create_async")
    get = blocking("get_async")
    list = blocking("list_async")
    delete = blocking("delete_async")
    add_tags = blocking("add_tags_async")
    remove_tags = blocking("remove_tags_async")
    create_version = blocking("create_version_async")
    delete_version = blocking("delete_version_async")
