"""Datasets and versions as the reference docs describe them (dataset.md): what each call
does, with the choices the docs leave open (README, "Reference SDK fidelity")."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import ingest
from ingest import (
    AlreadyExistsError,
    Dataset,
    DatasetVersion,
    FrameGroup,
    PublishedVersionError,
    SingleFrame,
    ValidationError,
)
from tests.images import png_bytes


def _group(i: int) -> FrameGroup:
    return FrameGroup({"cam": SingleFrame(f"https://h/{i}.jpg")}, context_id="c", timestamp=i)


def test_already_exists_is_a_value_error(lib: str) -> None:
    Dataset.create(dataset_name="D")
    with pytest.raises(ValueError):
        Dataset.create(dataset_name="D", raise_if_exists=True)
    with pytest.raises(AlreadyExistsError):
        DatasetVersion.create_new_dataset(dataset_name="D", raise_if_exists=True)
    with pytest.raises(ValueError):
        DatasetVersion.create_version(
            dataset_name="D", version_name="Current", raise_if_exists=True
        )


def test_dataset_create_makes_an_empty_current_version_and_keeps_project_and_tags(lib: str) -> None:
    dataset = Dataset.create(dataset_name="D", dataset_project="P", tags=["a"])
    (current,) = DatasetVersion.get_versions(dataset_name="D")
    assert current.version_name == "Current" and current.is_draft
    assert current.get_frame_count() == 0
    assert Dataset.get(dataset_name="D").project == "P"
    Dataset.create(dataset_name="D")  # again: the same dataset, no second version
    assert len(DatasetVersion.get_versions(dataset_name="D")) == 1
    dataset.add_tags(["coco", "dogs", "a"])
    dataset.remove_tags(["dogs"])
    assert dataset.tags == ["a", "coco"] and Dataset.get(dataset_name="D").tags == ["a", "coco"]
    two = DatasetVersion.create_new_dataset(dataset_name="D2", dataset_project="P2")
    assert Dataset.get(dataset_name="D2").project == "P2" and two.version_name == "Current"


def test_child_versions_come_from_published_parents_only(lib: str) -> None:
    draft = DatasetVersion.create_new_dataset("D")
    draft.add_frames([_group(1)])
    with pytest.raises(ValidationError, match="'Current' is a Draft") as err:
        DatasetVersion.create_version("D", "child", parent_version_names=["Current"])
    assert err.value.field == "parent_version_names"
    draft.publish_version()
    child = DatasetVersion.create_version("D", "child", parent_version_names=["Current"])
    assert child.get_frame_count() == 1 and child.parent_ids == [draft.version_id]


def test_create_version_on_instances(lib: str) -> None:
    first = DatasetVersion.create_new_dataset(dataset_name="D")
    first.add_frames([_group(1)])
    root = first.create_version(version_name="initial")  # the examples' form: a root version
    assert (root.dataset_name, root.parent_ids, root.get_frame_count()) == ("D", [], 0)
    first.publish_version()
    dataset = Dataset.get(dataset_name="D")
    child = dataset.create_version("child", parent_version_names=["Current"])
    assert child.dataset_id == dataset.id and child.get_frame_count() == 1


def test_delete_version_deletes_drafts_only(lib: str) -> None:
    DatasetVersion.create_new_dataset("D").add_frames([_group(1)])
    gone = DatasetVersion.create_version(dataset_name="D", version_name="VersionToDelete")
    gone.add_frames([_group(2)])
    myDataset = Dataset.get(dataset_name="D")
    myDataset.delete_version(version_name="VersionToDelete")
    assert [v.version_name for v in DatasetVersion.get_versions("D")] == ["Current"]
    DatasetVersion.get_version("D", "Current").publish_version()
    with pytest.raises(PublishedVersionError):
        myDataset.delete_version(version_name="Current")


def test_create_snapshot_by_dataset_needs_one_draft(lib: str) -> None:
    DatasetVersion.create_new_dataset("D")
    DatasetVersion.create_version(dataset_name="D", version_name="other")
    with pytest.raises(ValidationError, match="2 Draft versions"):
        DatasetVersion.create_snapshot(dataset_name="D")


def test_commit_version_after_add_frames(lib: str) -> None:
    version = DatasetVersion.create_new_dataset("D")
    version.add_frames([_group(1)])
    version.commit_version()
    assert DatasetVersion.get_version("D", "Current").get_frame_count() == 1


def _tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_add_frames_to_a_destination_keeping_the_local_structure(
    lib: str, tmp_path: Path, storage_dir: Path
) -> None:
    data = tmp_path / "data"
    (data / "cam1").mkdir(parents=True)
    (data / "cam1" / "a.png").write_bytes(png_bytes(4, 4))
    (data / "b.png").write_bytes(png_bytes(4, 4))
    dest = tmp_path / "dest"
    version = DatasetVersion.create_new_dataset("D")
    failed = version.add_frames(
        [SingleFrame(str(data / "cam1" / "a.png")), SingleFrame(str(data / "b.png"))],
        auto_upload_destination=str(dest),
        local_dataset_root_path=str(data),
    )
    assert failed == []
    stored = sorted(_tree(dest), key=os.path.dirname)
    assert [os.path.dirname(p) for p in stored] == ["", "cam1"]
    assert stored[0].endswith("-b.png") and stored[1].endswith("-a.png")
    assert _tree(storage_dir) == []  # nothing in the configured store
    sources = sorted(f.source for f in version.iter_frames())
    assert sources == sorted(f"file://{dest}/{p}" for p in stored)


def test_delete_with_delete_sources_removes_only_unshared_stored_objects(
    lib: str, tmp_path: Path, storage_dir: Path
) -> None:
    (tmp_path / "a.png").write_bytes(png_bytes(4, 4))
    (tmp_path / "b.png").write_bytes(png_bytes(5, 5))
    mine = DatasetVersion.create_new_dataset("Mine")
    mine.add_frames([SingleFrame(str(tmp_path / "a.png")), SingleFrame(str(tmp_path / "b.png"))])
    mine.add_frames([SingleFrame("https://h/by-reference.jpg")])
    other = DatasetVersion.create_new_dataset("Other")
    other.add_frames([SingleFrame(str(tmp_path / "b.png"))])
    assert len(_tree(storage_dir)) == 2
    with pytest.raises(ingest.CatalogError, match="delete_all_versions"):
        Dataset.delete(dataset_name="Other", delete_all_versions=False, delete_sources=True)
    assert len(_tree(storage_dir)) == 2
    Dataset.delete(dataset_name="Mine", delete_all_versions=True, force=True, delete_sources=True)
    (left,) = _tree(storage_dir)
    assert left.endswith("-b.png")  # still referenced by "Other"
    assert [f.source for f in other.iter_frames()] == [f"file://{storage_dir}/{left}"]
    assert [d.name for d in ingest.Dataset.list()] == ["Other"]
