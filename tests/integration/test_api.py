"""Every API call on SQLite and on PostgreSQL (the ``lib`` fixture is parametrised)."""

from __future__ import annotations

import asyncio
import re

import pytest

from ingest import (
    AlreadyExistsError,
    CatalogError,
    Dataset,
    DatasetNotFound,
    DatasetVersion,
    FrameGroup,
    FrameNotFound,
    PublishedVersionError,
    SingleFrame,
    ValidationError,
    VersionNotFound,
)


def group(i: int, cameras: tuple[str, ...] = ("front", "rear"), ctx: str = "drive") -> FrameGroup:
    fg = FrameGroup(context_id=ctx, timestamp=float(i))
    for cam in cameras:
        fg[cam] = SingleFrame(source=f"https://host/{cam}/{i:06d}.jpg", width=64, height=48)
    return fg


def test_dataset_create_get_list_delete(lib: str) -> None:
    ds = Dataset.create("Cars", tags=["road"], description="dash cams")
    assert (ds.name, ds.tags, ds.description) == ("Cars", ["road"], "dash cams")
    assert Dataset.create("Cars").id == ds.id  # existing returned
    with pytest.raises(AlreadyExistsError, match="'Cars' already exists"):
        Dataset.create("Cars", raise_if_exists=True)
    assert Dataset.get("Cars").id == ds.id
    assert Dataset.get(dataset_id=ds.id).name == "Cars"
    assert [d.name for d in Dataset.list()] == ["Cars"]
    with pytest.raises(DatasetNotFound, match="dataset 'Nope' does not exist"):
        Dataset.get("Nope")

    DatasetVersion.create_version(dataset_name="Cars", version_name="v1")
    with pytest.raises(CatalogError, match="delete_all_versions=True"):
        Dataset.delete("Cars")
    DatasetVersion.get_version("Cars", "v1").publish_version()
    with pytest.raises(PublishedVersionError, match="force=True"):
        Dataset.delete("Cars", delete_all_versions=True)
    Dataset.delete("Cars", delete_all_versions=True, force=True)
    with pytest.raises(DatasetNotFound):
        Dataset.get("Cars")
    with pytest.raises(DatasetNotFound, match="'Cars'"):
        Dataset.delete("Cars")


def test_versions_create_get_current_and_filters(lib: str) -> None:
    first = DatasetVersion.create_new_dataset(dataset_name="D", description="x")
    assert first.version_name == "Current" and first.is_draft
    v1 = DatasetVersion.create_version(dataset_name="D", version_name="v1")
    assert (
        DatasetVersion.create_version(dataset_name="D", version_name="v1").version_id
        == v1.version_id
    )
    with pytest.raises(AlreadyExistsError):
        DatasetVersion.create_version(dataset_name="D", version_name="v1", raise_if_exists=True)
    with pytest.raises(VersionNotFound, match="'missing'"):
        DatasetVersion.create_version(
            dataset_name="D", version_name="v2", parent_version_names=["missing"]
        )
    with pytest.raises(VersionNotFound, match="version 'nope' does not exist in dataset 'D'"):
        DatasetVersion.get_version(dataset_name="D", version_name="nope")
    with pytest.raises(VersionNotFound, match="'0000'"):
        DatasetVersion.get_version(version_id="0000")
    with pytest.raises(DatasetNotFound, match="'Other'"):
        DatasetVersion.create_version(dataset_name="Other", version_name="v1")

    # no published version: the newest draft is current
    assert DatasetVersion.get_current("D").version_id == v1.version_id
    first.publish_version()
    assert first.is_published
    assert DatasetVersion.get_current(dataset_name="D").version_id == first.version_id
    assert DatasetVersion.get_version(dataset_name="D").version_id == first.version_id
    assert [v.version_name for v in DatasetVersion.get_versions("D")] == ["Current", "v1"]
    assert [v.version_name for v in DatasetVersion.get_versions("D", only_published=True)] == [
        "Current"
    ]
    assert [v.version_name for v in DatasetVersion.get_versions("D", only_draft=True)] == ["v1"]
    by_id = DatasetVersion.get_version(version_id=v1.version_id)
    assert (by_id.dataset_name, by_id.version_name) == ("D", "v1")


def test_add_get_update_delete_frames(lib: str) -> None:
    version = DatasetVersion.create_new_dataset("Drive")
    groups = [group(i) for i in range(5)]
    failed = version.add_frames(groups, upload_retries=2)
    assert failed == []
    assert version.get_frame_count() == 5
    assert all(g.id for g in groups)  # ids are set on the caller's objects

    fg = DatasetVersion.get_single_frame(
        frame_id=groups[2].id, dataset_name="Drive", version_name="Current"
    )
    assert isinstance(fg, FrameGroup) and fg.id == groups[2].id
    assert fg["front"].source == "https://host/front/000002.jpg"
    assert fg["front"].width == 64
    assert (
        DatasetVersion.get_single_frame(
            frame_id=groups[2].id, dataset_id=version.dataset_id, version_id=version.version_id
        )
        == fg
    )

    fg["front"].metadata["new_key"] = "new_value"
    version.update_frames([fg])
    again = DatasetVersion.get_single_frame(
        frame_id=fg.id, dataset_name="Drive", version_name="Current"
    )
    assert again["front"].metadata == {"new_key": "new_value"}

    # adding the same frames again updates, never duplicates
    assert version.add_frames([group(i) for i in range(5)]) == []
    assert version.get_frame_count() == 5

    version.delete_frames([fg])
    assert version.get_frame_count() == 4
    with pytest.raises(FrameNotFound, match=repr(fg.id)):
        DatasetVersion.get_single_frame(
            frame_id=fg.id, dataset_name="Drive", version_name="Current"
        )
    with pytest.raises(FrameNotFound, match="'nope'"):
        version.delete_frames(["nope"])
    ghost = group(99)
    ghost.id = "ghost"
    with pytest.raises(FrameNotFound, match="'ghost'"):
        version.update_frames([ghost])
    with pytest.raises(ValidationError, match="needs registered frames"):
        version.update_frames([group(100)])


def test_single_frames_are_registered_and_returned_as_single_frames(lib: str) -> None:
    version = DatasetVersion.create_new_dataset("Singles")
    frame = SingleFrame(
        source="https://host/000012.jpg",
        width=512,
        height=512,
        preview_uri="https://host/000012.jpg",
    )
    assert version.add_frames([frame]) == []
    got = version.get_frame(frame.id)
    assert isinstance(got, SingleFrame)
    assert got.preview_uri == "https://host/000012.jpg"


def test_iter_frames_streams_in_context_and_timestamp_order(lib: str) -> None:
    version = DatasetVersion.create_new_dataset("Order")
    items = []
    for ctx in ("b", "a", "c"):
        for ts in (3.0, 1.0, 2.0):
            fg = group(int(ts), ctx=ctx)
            fg.id = f"{ctx}-{ts}"
            items.append(fg)
    untimed = SingleFrame("https://h/x.jpg", context_id="a")
    items.append(untimed)
    assert version.add_frames(items) == []
    order = [(f.context_id, f.timestamp) for f in version.iter_frames(page_size=4)]
    assert order == [("a", None)] + [(ctx, ts) for ctx in ("a", "b", "c") for ts in (1.0, 2.0, 3.0)]
    only_b = [f.id for f in version.iter_frames(context_id="b")]
    assert only_b == ["b-1.0", "b-2.0", "b-3.0"]


def test_child_inherits_and_child_edits_do_not_leak(lib: str) -> None:
    parent = DatasetVersion.create_new_dataset("Lineage", version_name="v1")
    parent.add_frames([group(i) for i in range(3)])
    parent.set_masks_labels({(0, 0, 0): ["background"], (255, 0, 0): ["car", "vehicle"]})
    parent.publish_version()

    child = DatasetVersion.create_version(
        dataset_name="Lineage", version_name="v2", parent_version_names=["v1"]
    )
    assert child.parent_ids == [parent.version_id]
    assert child.get_frame_count() == 3
    assert child.get_masks_labels() == {(0, 0, 0): ["background"], (255, 0, 0): ["car", "vehicle"]}

    ids = [f.id for f in child.iter_frames()]
    edited = child.get_frame(ids[0])
    edited["front"].metadata["edited"] = True
    child.update_frames([edited])
    child.delete_frames([ids[1]])
    child.add_frames([group(50)])

    assert parent.get_frame(ids[0])["front"].metadata == {}
    assert parent.get_frame_count() == 3
    assert parent.get_frame(ids[1]).id == ids[1]
    assert child.get_frame(ids[0])["front"].metadata == {"edited": True}
    assert child.get_frame_count() == 3


def test_published_version_refuses_every_write(lib: str) -> None:
    version = DatasetVersion.create_new_dataset("Frozen")
    version.add_frames([group(1)])
    fg = next(iter(version.iter_frames()))
    version.publish_version()
    writes = [
        lambda: version.add_frames([group(2)]),
        lambda: version.update_frames([fg]),
        lambda: version.delete_frames([fg]),
        lambda: version.set_masks_labels({(1, 1, 1): ["x"]}),
        lambda: version.publish_version(),
        lambda: version.create_snapshot(),
    ]
    for write in writes:
        with pytest.raises(PublishedVersionError, match="'Current' is Published and read-only"):
            write()
    assert version.get_frame_count() == 1
    assert version.get_frame(fg.id) == fg


def test_create_snapshot_naming(lib: str) -> None:
    """The reference's snapshot: the Draft becomes the Published snapshot and keeps its id;
    a new Draft (new id) with the same frames goes on as the current version."""
    draft = DatasetVersion.create_new_dataset("Snap", version_name="work")
    draft.add_frames([group(1), group(2)])
    draft_id = draft.version_id
    child = draft.create_snapshot(publish_name="release-1", child_name="work-2")
    assert draft.version_id == draft_id and draft.version_name == "release-1"
    assert draft.is_published
    assert child.version_name == "work-2" and child.is_draft and child.version_id != draft_id
    assert child.parent_ids == [draft_id]
    assert child.get_frame_count() == 2
    child.add_frames([group(3)])
    assert (draft.get_frame_count(), child.get_frame_count()) == (2, 3)

    # defaults (class form, the dataset's one Draft): "snapshot <ISO 8601>" and "Current"
    current = DatasetVersion.create_snapshot(
        dataset_name="Snap", child_metadata={"abc": "1234"}, child_comment="some text comment"
    )
    assert current.version_name == "Current" and current.is_draft
    assert current.get_metadata()["abc"] == "1234"
    snapshot = DatasetVersion.get_version(version_id=child.version_id)
    assert re.fullmatch(r"snapshot \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}", snapshot.version_name)
    assert snapshot.is_published and snapshot.get_frame_count() == 3
    names = [v.version_name for v in DatasetVersion.get_versions("Snap", only_published=True)]
    assert names == ["release-1", snapshot.version_name]


def test_set_masks_labels_validates(lib: str) -> None:
    version = DatasetVersion.create_new_dataset("Masks")
    with pytest.raises(ValidationError, match="mask_labels"):
        version.set_masks_labels({(300, 0, 0): ["x"]})
    version.set_masks_labels({(1, 2, 3): ["a"]})
    assert version.get_metadata()["mask_labels"] == {
        "_all_": [{"value": [1, 2, 3], "labels": ["a"]}]
    }
    assert version.get_masks_labels() == {(1, 2, 3): ["a"]}


async def test_async_twins(alib: str) -> None:
    version = await DatasetVersion.create_new_dataset_async("Async")
    assert await version.add_frames_async([group(i) for i in range(3)]) == []
    frames = [f async for f in version.iter_frames_async()]
    assert len(frames) == 3
    frames[0]["rear"].metadata["x"] = 1
    await version.update_frames_async([frames[0]])
    got = await DatasetVersion.get_single_frame_async(
        frame_id=frames[0].id, dataset_name="Async", version_name="Current"
    )
    assert got["rear"].metadata == {"x": 1}
    await version.delete_frames_async([frames[1]])
    assert await version.get_frame_count_async() == 2
    await version.publish_version_async()
    assert (await DatasetVersion.get_current_async("Async")).is_published


async def test_sync_api_works_inside_a_running_loop(alib: str) -> None:
    """As in a notebook: a loop is running in this thread and the sync API is called."""
    asyncio.get_running_loop()
    version = DatasetVersion.create_new_dataset("Notebook")
    assert version.add_frames([group(1)]) == []
    assert version.get_frame_count() == 1
