"""The examples of the reference docs' dataset.md page, run verbatim (see
``test_reference_examples.py`` for the rules: the import line, and a setup line for what the
page assumes exists), one test per example; and the registration examples of
``allegroai/clearml`` (``examples/hyperdatasets``), whose ClearML ``Task`` is replaced by a
stand-in naming an upload folder."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from ingest import Dataset, DatasetVersion
from tests.images import png_bytes, write_png
from tests.integration.test_reference_examples import ref, run

__all__ = ["ref"]  # the fixture, imported for its tests

CURRENT_WITH_FRAME = """
DatasetVersion.get_current(dataset_name='MyDataset').add_frames(
    [SingleFrame('https://h/1.jpg')])
"""


def _names(dataset: str, **kw: bool) -> list[str]:
    return [v.version_name for v in DatasetVersion.get_versions(dataset_name=dataset, **kw)]


# ------------------------------------------------------------------ Creating Datasets


def test_dataset_create(ref: Path) -> None:
    """dataset.md, "Creating Datasets": Dataset.create, with an empty version Current."""
    ns = run(
        """
        from allegroai import Dataset

        myDataset = Dataset.create(dataset_name='myDataset')
        """
    )
    assert ns["myDataset"].name == "myDataset"
    (current,) = DatasetVersion.get_versions(dataset_name="myDataset")
    assert current.version_name == "Current" and current.get_frame_count() == 0


def test_dataset_create_new_dataset(ref: Path) -> None:
    """dataset.md, "Creating Datasets": DatasetVersion.create_new_dataset."""
    ns = run(
        """
        from allegroai import DatasetVersion

        myDataset = DatasetVersion.create_new_dataset(dataset_name='myDataset Two')
        """
    )
    assert ns["myDataset"].dataset_name == "myDataset Two" and _names("myDataset Two") == [
        "Current"
    ]


def test_dataset_create_in_a_project(ref: Path) -> None:
    """dataset.md, "Creating Datasets": ``dataset_project``."""
    run(
        """
        myDataset_1 = Dataset.create(dataset_name="myDataset", dataset_project="myDataset Project")

        myDataset_2 = DatasetVersion.create_new_dataset(
          dataset_name="myDataset_2", dataset_project="myDatasetProject_2"
        )
        """
    )
    assert Dataset.get(dataset_name="myDataset").project == "myDataset Project"
    assert Dataset.get(dataset_name="myDataset_2").project == "myDatasetProject_2"


def test_dataset_create_raise_if_exists(ref: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """dataset.md, "Creating Datasets": ``raise_if_exists`` with ``Dataset.create``."""
    block = """
      try:
          myDataset = Dataset.create(dataset_name='myDataset One', raise_if_exists=True)
      except ValueError:
          print('Dataset exists.')
      """
    run(block)
    assert capsys.readouterr().out == ""
    run(block)
    assert capsys.readouterr().out == "Dataset exists.\n"


def test_dataset_create_new_dataset_raise_if_exists(
    ref: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """dataset.md, "Creating Datasets": ``raise_if_exists`` with ``create_new_dataset``."""
    block = """
      try:
          myDataset = DatasetVersion.create_new_dataset(dataset_name='myDataset Two', raise_if_exists=True)
      except ValueError:
          print('Dataset exists.')
      """  # noqa: E501 - verbatim
    run(block)
    assert capsys.readouterr().out == ""
    run(block)
    assert capsys.readouterr().out == "Dataset exists.\n"


def test_dataset_create_with_tags_and_description(ref: Path) -> None:
    """dataset.md, "Creating Datasets": tags and a description."""
    run(
        """
        myDataset = DatasetVersion.create_new_dataset(
          dataset_name='myDataset', 
          tags=['One Tag', 'Another Tag', 'And one more tag'], 
          description='some description text'
        )
        """  # noqa: W291 - verbatim
    )
    dataset = Dataset.get(dataset_name="myDataset")
    assert dataset.tags == ["One Tag", "Another Tag", "And one more tag"]
    assert dataset.description == "some description text"


def test_dataset_accessing_current_dataset(ref: Path) -> None:
    """dataset.md, "Accessing Current Dataset"."""
    ns = run(
        "myDataset = DatasetVersion.get_current(dataset_name='myDataset')\n",
        "Dataset.create(dataset_name='myDataset')\n",
    )
    assert ns["myDataset"].version_name == "Current"


# ------------------------------------------------------------------ Deleting Datasets


def test_dataset_delete_empty(ref: Path) -> None:
    """dataset.md, "Deleting Datasets": an empty dataset (no versions)."""
    run(
        "Dataset.delete(dataset_name='MyDataset', delete_all_versions=False, force=False)\n",
        "Dataset.create(dataset_name='MyDataset').delete_version(version_name='Current')\n",
    )
    assert [d.name for d in Dataset.list()] == []


def test_dataset_delete_with_draft_versions(ref: Path) -> None:
    """dataset.md, "Deleting Datasets": only Draft versions."""
    run(
        "Dataset.delete(dataset_name='MyDataset', delete_all_versions=True, force=False)\n",
        "Dataset.create(dataset_name='MyDataset')\n" + CURRENT_WITH_FRAME,
    )
    assert Dataset.list() == []


def test_dataset_delete_with_published_versions(ref: Path) -> None:
    """dataset.md, "Deleting Datasets": Published versions too (``force``)."""
    run(
        "Dataset.delete(dataset_name='MyDataset', delete_all_versions=True, force=True)\n",
        "Dataset.create(dataset_name='MyDataset')\n"
        "DatasetVersion.get_current(dataset_name='MyDataset').publish_version()\n",
    )
    assert Dataset.list() == []


def test_dataset_delete_with_sources(ref: Path) -> None:
    """dataset.md, "Deleting Datasets": and the sources of its frames (stored ones)."""
    write_png(ref / "a.png")
    run(
        """
        Dataset.delete(
          dataset_name='MyDataset', delete_all_versions=True, force=True, delete_sources=True
        )
        """,
        f"Dataset.create(dataset_name='MyDataset')\n"
        f"DatasetVersion.get_current(dataset_name='MyDataset').add_frames("
        f"[SingleFrame({str(ref / 'a.png')!r})])\n",
    )
    assert Dataset.list() == [] and not any(p.is_file() for p in (ref / "objects").rglob("*"))


def test_dataset_tagging(ref: Path) -> None:
    """dataset.md, "Tagging Datasets": add_tags, then remove_tags."""
    ns = run(
        """
        MyDataset.add_tags(["coco", "dogs"])
        MyDataset.remove_tags(["dogs"])
        """,
        "MyDataset = Dataset.create(dataset_name='MyDataset')\n",
    )
    assert ns["MyDataset"].tags == ["coco"] and Dataset.get(dataset_name="MyDataset").tags == [
        "coco"
    ]


# ------------------------------------------------------------------ Creating Snapshots

SNAPSHOT_SETUP = "Dataset.create(dataset_name='MyDataset')\n" + CURRENT_WITH_FRAME
STAMP = r"snapshot \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}"


def test_dataset_snapshot_timestamp_naming(ref: Path) -> None:
    """dataset.md, "Snapshot Naming": timestamp naming; the old current keeps its id."""
    before = None
    ns = run(
        """
        from allegroai import DatasetVersion

        myDataset = DatasetVersion.create_snapshot(dataset_name='MyDataset')
        """,
        SNAPSHOT_SETUP + "before = DatasetVersion.get_current(dataset_name='MyDataset')\n",
    )
    before = ns["before"]
    snapshot = DatasetVersion.get_version(version_id=before.version_id)
    assert re.fullmatch(STAMP, snapshot.version_name) and snapshot.is_published
    current = ns["myDataset"]
    assert current.version_name == "Current" and current.is_draft
    assert current.version_id != before.version_id and current.get_frame_count() == 1


def test_dataset_snapshot_user_specified_name(ref: Path) -> None:
    """dataset.md, "Snapshot Naming": ``publish_name``."""
    run(
        "myDataset = DatasetVersion.create_snapshot(dataset_name='MyDataset', "
        "publish_name='NewSnapshotName')\n",
        SNAPSHOT_SETUP,
    )
    assert _names("MyDataset", only_published=True) == ["NewSnapshotName"]
    assert _names("MyDataset", only_draft=True) == ["Current"]


def test_dataset_current_version_naming(ref: Path) -> None:
    """dataset.md, "Current Version Naming": ``child_name``."""
    ns = run(
        """
        myDataset = DatasetVersion.create_snapshot(
          dataset_name='MyDataset', 
          child_name='NewCurrentVersionName'
        )
        """,  # noqa: W291 - verbatim
        SNAPSHOT_SETUP,
    )
    assert ns["myDataset"].version_name == "NewCurrentVersionName"
    assert re.fullmatch(STAMP, _names("MyDataset", only_published=True)[0])


def test_dataset_snapshot_metadata_and_comments(ref: Path) -> None:
    """dataset.md, "Adding Metadata and Comments"."""
    ns = run(
        """
        myDataset = DatasetVersion.create_snapshot(
          dataset_name='MyDataset',
          child_metadata={'abc':'1234','def':'5678'}, 
          child_comment='some text comment'
        )
        """,  # noqa: W291 - verbatim
        SNAPSHOT_SETUP,
    )
    assert ns["myDataset"].get_metadata() == {"abc": "1234", "def": "5678"}
    assert ns["myDataset"].comment == "some text comment"


# ------------------------------------------------------------------ Creating Child Versions

PUBLISHED = (
    "DatasetVersion.create_new_dataset(dataset_name='MyDataset', version_name='PublishedVersion')"
    ".publish_version()\n"
)
CHILD = """
myVersion = DatasetVersion.create_version(
  dataset_name='MyDataset',
  parent_version_names=['PublishedVersion'], 
  version_name='NewChildVersion'
)
"""  # noqa: W291 - verbatim


def test_dataset_creating_child_versions(ref: Path) -> None:
    """dataset.md, "Creating Child Versions": an existing child is returned."""
    first = run(CHILD, PUBLISHED)["myVersion"]
    again = run(CHILD)["myVersion"]
    assert first.version_id == again.version_id and first.is_draft
    assert first.parent_ids == [
        DatasetVersion.get_version("MyDataset", "PublishedVersion").version_id
    ]


def test_dataset_creating_child_versions_raise_if_exists(ref: Path) -> None:
    """dataset.md, "Creating Child Versions": ``raise_if_exists``."""
    block = """
    myVersion = DatasetVersion.create_version(
      dataset_name='MyDataset',
      parent_version_names=['PublishedVersion'], 
      version_name='NewChildVersion',
      raise_if_exists=True
    )
    """  # noqa: W291 - verbatim
    run(block, PUBLISHED)
    with pytest.raises(ValueError, match="NewChildVersion"):
        run(block)


def test_dataset_creating_root_level_parent_versions(ref: Path) -> None:
    """dataset.md, "Creating Root-level Parent Versions"."""
    ns = run(
        """
        myDataset = DatasetVersion.create_version(
          dataset_name='MyDataset', 
          version_name='NewRootVersion'
        )
        """,  # noqa: W291 - verbatim
        "Dataset.create(dataset_name='MyDataset')\n" + CURRENT_WITH_FRAME,
    )
    assert ns["myDataset"].parent_ids == [] and ns["myDataset"].get_frame_count() == 0


# ------------------------------------------------------------------ Getting Versions

VERSIONS = (
    PUBLISHED
    + "DatasetVersion.create_version(dataset_name='MyDataset', version_name='VersionName')\n"
)


def test_dataset_getting_all_versions(ref: Path) -> None:
    """dataset.md, "Getting Versions": all."""
    ns = run("myDatasetversion = DatasetVersion.get_versions(dataset_name='MyDataset')\n", VERSIONS)
    assert [v.version_name for v in ns["myDatasetversion"]] == ["PublishedVersion", "VersionName"]


def test_dataset_getting_published_versions(ref: Path) -> None:
    """dataset.md, "Getting Versions": only published."""
    ns = run(
        """
        myDatasetversion = DatasetVersion.get_versions(
          dataset_name='MyDataset', 
          only_published=True
        )
        """,  # noqa: W291 - verbatim
        VERSIONS,
    )
    assert [v.version_name for v in ns["myDatasetversion"]] == ["PublishedVersion"]


def test_dataset_getting_draft_versions(ref: Path) -> None:
    """dataset.md, "Getting Versions": only drafts."""
    ns = run(
        """
        myDatasetversion = DatasetVersion.get_versions(
          dataset_name='MyDataset', 
          only_draft=True
        )
        """,  # noqa: W291 - verbatim
        VERSIONS,
    )
    assert [v.version_name for v in ns["myDatasetversion"]] == ["VersionName"]


def test_dataset_getting_the_current_version(ref: Path) -> None:
    """dataset.md, "Getting Versions": the current version (the newest Published)."""
    ns = run("myDatasetversion = DatasetVersion.get_version(dataset_name='MyDataset')\n", VERSIONS)
    assert ns["myDatasetversion"].version_name == "PublishedVersion"


def test_dataset_getting_a_specific_version(ref: Path) -> None:
    """dataset.md, "Getting Versions": a specific version."""
    ns = run(
        """
        myDatasetversion = DatasetVersion.get_version(
          dataset_name='MyDataset', 
          version_name='VersionName'
        )
        """,  # noqa: W291 - verbatim
        VERSIONS,
    )
    assert ns["myDatasetversion"].version_name == "VersionName"


def test_dataset_deleting_versions(ref: Path) -> None:
    """dataset.md, "Deleting Versions"."""
    run(
        """
        from allegroai import Dataset

        myDataset = Dataset.get(dataset_name='MyDataset')
        myDataset.delete_version(version_name='VersionToDelete')
        """,
        "Dataset.create(dataset_name='MyDataset')\n"
        "DatasetVersion.create_version(dataset_name='MyDataset', version_name='VersionToDelete')\n",
    )
    assert _names("MyDataset") == ["Current"]


def test_dataset_publishing_versions(ref: Path) -> None:
    """dataset.md, "Publishing Versions"."""
    ns = run(
        """
        myVersion = DatasetVersion.get_version(
          dataset_name='MyDataset', 
          version_name='VersionToPublish'
        )

        myVersion.publish_version()
        """,  # noqa: W291 - verbatim
        "DatasetVersion.create_new_dataset('MyDataset', version_name='VersionToPublish')\n",
    )
    assert ns["myVersion"].is_published


# ------------------------------------------------------------------ Mask-labels

MASK_LABELS = """
from allegroai import DatasetVersion

# Getting a version 
myDatasetversion = DatasetVersion.get_version(dataset_name='MyDataset', 
                                              version_name='VersionName')

# Mapping out colors and labels of masks 
myDatasetversion.set_masks_labels(
    {
      (0, 0, 0): ["background"],
      (1, 1, 1): ["person", "sitting"],
      (2, 2, 2): ["cat"],
    }
)
"""  # noqa: W291 - verbatim


def test_dataset_setting_version_mask_label_mapping(ref: Path) -> None:
    """dataset.md, "Setting Version Mask-label Mapping"."""
    ns = run(
        MASK_LABELS, "DatasetVersion.create_new_dataset('MyDataset', version_name='VersionName')\n"
    )
    assert ns["myDatasetversion"].get_masks_labels()[(2, 2, 2)] == ["cat"]


def test_dataset_accessing_version_mask_label_mapping(
    ref: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """dataset.md, "Accessing Version Mask-label Mapping": the printed shape of the docs."""
    ns = run(
        MASK_LABELS, "DatasetVersion.create_new_dataset('MyDataset', version_name='VersionName')\n"
    )
    capsys.readouterr()
    run(
        """
        mapping = myDatasetversion.get_metadata()['mask_labels']

        print(mapping)
        """,
        namespace=ns,
    )
    shown = "{'_all_': [{'value': [0, 0, 0], 'labels': ['background']}, {'value': [1, 1, 1], 'labels': ['person', 'sitting']}, {'value': [2, 2, 2], 'labels': ['cat']}]}"  # noqa: E501 - the docs' output
    assert capsys.readouterr().out == shown + "\n"


# ------------------------------------------------------------------ allegroai/clearml examples


class _Task:
    """Stands in for ClearML's ``Task`` (experiment tracking, not part of frame-ingest): its
    output destination is a folder."""

    destination = ""

    @classmethod
    def current_task(cls) -> _Task:
        return cls()

    def get_output_destination(self) -> str:
        return self.destination


def _example_functions(name: str) -> str:
    """The functions of an example script (``reference/<name>.py.txt``, a verbatim copy of
    allegroai/clearml's, Apache-2.0), up to its ``__main__`` part; ClearML's ``Task`` and
    ``StorageManager`` are left out of its imports (``Task`` is the stand-in above)."""
    text = (Path(__file__).parent / "reference" / f"{name}.py.txt").read_text()
    text = text.split("\nif __name__ == '__main__':")[0]
    text = text.replace("from clearml import StorageManager\n", "")
    return re.sub(r"(from allegroai import .*), Task\n", r"\1\n", text)


def test_example_register_dataset_masks(ref: Path) -> None:
    """allegroai/clearml examples/hyperdatasets/data-registration/register_dataset_masks.py:
    its functions, run on a folder of images and masks; then, as dataview_example_framegroup.py
    does, get_local_source() / get_local_mask_source() of every frame."""
    data = ref / "ds_with_masks"
    data.mkdir()
    for stem in ("0001_000002_img", "0002_000002_img"):
        (data / f"{stem}.png").write_bytes(png_bytes(4, 4))
        (data / f"{stem}_mask.png").write_bytes(png_bytes(4, 4, (1, 1, 1)))
    (data / "_mask_legend.json").write_text(json.dumps({"background": [0, 0, 0], "x": [1, 1, 1]}))
    _Task.destination = str(ref / "uploads")
    ns = run(
        _example_functions("register_dataset_masks"),
        namespace={"Task": _Task, "__name__": "example"},
    )
    frames = ns["get_frames_with_masks"](data_path=str(data), ext="png", mask_ext="_mask.png")
    lookup = ns["read_mask_class_values"](str(data))
    ns["create_version_with_frames"](frames, lookup, "sample-dataset-masks", "initial", str(data))
    version = DatasetVersion.get_version("sample-dataset-masks", "initial")
    assert version.get_masks_labels() == {(0, 0, 0): ["background"], (1, 1, 1): ["x"]}
    list_frame_groups = list(version.iter_frames())
    assert len(list_frame_groups) == 2
    local = [frame_group["000002"].get_local_source() for frame_group in list_frame_groups]
    assert all(p.startswith(str(ref / "uploads")) for p in local)
    for frame_group in list_frame_groups:
        for key in frame_group.keys():
            mask = frame_group[key].get_local_mask_source()
            assert Path(mask).read_bytes() == png_bytes(4, 4, (1, 1, 1))
    assert sorted(p.rsplit("-", 1)[1] for p in os.listdir(ref / "uploads")) == [
        "0001_000002_img.png", "0001_000002_img_mask.png",
        "0002_000002_img.png", "0002_000002_img_mask.png",
    ]  # fmt: skip


def test_example_register_dataset_with_roi(ref: Path) -> None:
    """allegroai/clearml examples/hyperdatasets/data-registration/register_dataset_with_roi.py:
    its functions, run on a folder of images with their JSON sidecars."""
    data = ref / "ds_with_rois"
    data.mkdir()
    (data / "a.jpg").write_bytes(png_bytes(4, 4))
    roi = {"poly": [1, 1, 3, 1, 3, 3], "labels": ["dog"], "meta": {"alive": "yes"}, "confidence": 1}
    sidecar = {"rois": [roi], "size": {"x": 4, "y": 4}, "meta": {"dangerous": "no"}}
    (data / "a.json").write_text(json.dumps(sidecar))
    _Task.destination = str(ref / "uploads")
    ns = run(
        _example_functions("register_dataset_with_roi"),
        namespace={"Task": _Task, "__name__": "example"},
    )
    frames = ns["get_frames_with_roi_meta"](str(data), "jpg")
    ns["create_version_with_frames"](frames, "sample-dataset", "initial", str(data))
    (frame,) = DatasetVersion.get_version("sample-dataset", "initial").iter_frames()
    (annotation,) = frame.annotations
    assert annotation.poly2d_xy == [[1, 1, 3, 1, 3, 3]] and annotation.metadata == {"alive": "yes"}
    assert (frame.width, frame.metadata) == (4, {"dangerous": "no"})
    assert frame.source.startswith(f"file://{ref / 'uploads'}/")
