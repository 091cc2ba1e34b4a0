"""The reference docs' examples, run as written.

Each test runs one code block of a page of ``allegroai/clearml-docs`` (``docs/hyperdatasets``:
annotations, frame_groups, single_frames, masks, custom_metadata; dataset.md in
``test_reference_dataset_page.py``), copied VERBATIM below; only ``from allegroai import`` is
read as ``from ingest import``, and a setup line creates what the page assumes exists (the
dataset, a version, a frame with the id the page uses, the ``frame`` it works on). Also the
example of ../shared/DESIGN.md.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import ingest
from ingest import runtime


def _design() -> Path:
    for parent in Path(__file__).resolve().parents:
        if (parent / "shared" / "DESIGN.md").is_file():
            return parent / "shared" / "DESIGN.md"
    raise FileNotFoundError("shared/DESIGN.md above the repository")


@pytest.fixture
def ref(sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The library on a fresh SQLite catalog and local store (one backend: the examples test
    the API's shape; test_api.py runs every call on both)."""
    for key in ("INGEST_CONFIG", "INGEST_DATABASE_URL", "INGEST_STORAGE_URL"):
        monkeypatch.delenv(key, raising=False)
    ingest.configure(
        database_url=sqlite_url,
        storage_url=f"file://{tmp_path}/objects",
        cache_dir=str(tmp_path / "cache"),
    )
    yield tmp_path
    runtime.close_all()


def run(block: str, setup: str = "", namespace: dict[str, Any] | None = None) -> dict[str, Any]:
    """Run a docs block as written (import line aside) after ``setup``; its namespace."""
    code = textwrap.dedent(block).replace("from allegroai import", "from ingest import")
    ns: dict[str, Any] = {} if namespace is None else namespace
    exec(compile("from ingest import *\n" + textwrap.dedent(setup), "<setup>", "exec"), ns)
    exec(compile(code, "<docs example>", "exec"), ns)
    return ns


# ------------------------------------------------------------------ ../shared/DESIGN.md


def test_design_reference_example_runs_as_written(ref: Path) -> None:
    """DESIGN.md, "The reference API (what users already write)"."""
    text = _design().read_text()
    section = text.split("## The reference API", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)  # type: ignore[union-attr]
    assert "my_version.add_frames([frame_group], upload_retries=3)" in code
    code = code.replace("frame_id=...", "frame_id=frame_group.id")  # the one placeholder
    *body, last = code.strip().splitlines()
    assert last.startswith("my_version.delete_frames")
    ns = run(
        "\n".join(body),
        "DatasetVersion.create_new_dataset(dataset_name='MyDataset', version_name='v0')\n"
        "my_version = DatasetVersion.create_version(dataset_name='MyDataset', version_name='v1')\n",
    )
    assert ns["failed"] == []
    stored = ingest.DatasetVersion.get_single_frame(
        frame_id=ns["frame_group"].id, dataset_name="MyDataset", version_name="v1"
    )
    assert stored["FrameOne"].metadata == {"new_key": "new_value"}
    assert stored["FrameOne"].source == "https://host/000012.jpg"
    run(last, namespace=ns)
    version = ingest.DatasetVersion.get_version(dataset_name="MyDataset", version_name="v1")
    assert version.get_frame_count() == 0


# ------------------------------------------------------------------ annotations.md

FRAME = (
    "frame = SingleFrame(source='https://allegro-datasets.s3.amazonaws.com/tutorials/000012.jpg')\n"
)


def test_annotations_adding_a_frame_object(ref: Path) -> None:
    """annotations.md, "Adding a Frame Object"."""
    ns = run(
        """
        # a bounding box labeled "test" at x=10,y=10 with width of 30px and height of 20px
        frame.add_annotation(box2d_xywh=(10, 10, 30, 20), labels=['test'])
        """,
        FRAME,
    )
    (annotation,) = ns["frame"].get_annotations(labels="test")
    assert annotation.box2d_xywh == [10, 10, 30, 20] and annotation.id


def test_annotations_boundaries_poly2d_xy_and_ellipse(ref: Path) -> None:
    """annotations.md, "Adding a Frame Object": poly2d_xy as (x, y) points makes ONE polygon,
    a list of lists a complex polygon; ellipse2d_xyrrt is cx, cy, rx, ry, theta (prose)."""
    ns = run(
        """
        frame.add_annotation(poly2d_xy=[(1, 1), (5, 1), (5, 5)], labels=['one'])
        frame.add_annotation(poly2d_xy=[[1, 1, 5, 1, 5, 5], [6, 6, 7, 6, 7, 7]], labels=['two'])
        frame.add_annotation(ellipse2d_xyrrt=[5, 5, 2, 1, 0.5], labels=['e'])
        """,
        FRAME,
    )
    one, two, ellipse = ns["frame"].annotations
    assert one.poly2d_xy == [[1, 1, 5, 1, 5, 5]] and len(two.poly2d_xy) == 2
    assert ellipse.ellipse2d_xyrrt == [5, 5, 2, 1, 0.5]


def test_annotations_adding_a_frame_label(ref: Path) -> None:
    """annotations.md, "Adding a Frame Label"."""
    ns = run(
        """
        # labels for the whole frame        
        frame.add_annotation(labels=['frame level label one','frame level label two'])
        """,  # noqa: W291 - verbatim
        FRAME,
    )
    assert ns["frame"].frame_labels == ["frame level label one", "frame level label two"]


def test_annotations_adding_a_global_annotation(ref: Path) -> None:
    """annotations.md, "Adding a Global Annotation"."""
    ns = run(
        """
        annotation = ImageAnnotation(labels=["cityscape"], confidence=1.0000,)
        frame_group.add_global_annotation(annotation=annotation)
        """,
        "frame_group = FrameGroup()\nframe_group['FrameOne'] = SingleFrame(source='https://h/a.jpg')\n",
    )
    frame_group = ns["frame_group"]
    assert frame_group.annotations == [ns["annotation"]]
    version = ingest.DatasetVersion.create_new_dataset("Global")
    assert version.add_frames([frame_group]) == []
    stored = version.get_frame(frame_group.id)
    assert stored.get_global_annotations(labels="cityscape")[0].confidence == 1.0


# ------------------------------------------------------------------ frame_groups.md


def test_frame_groups_creating_a_framegroup(ref: Path) -> None:
    """frame_groups.md, "Creating a FrameGroup"."""
    ns = run(
        """
        from allegroai import FrameGroup, SingleFrame

        # Create a FrameGroup object
        frame_group = FrameGroup()

        # Create a SingleFrame
        frame = SingleFrame(
            source='https://allegro-datasets.s3.amazonaws.com/tutorials/000012.jpg', 
            width=512, height=512, 
            preview_uri='https://allegro-datasets.s3.amazonaws.com/tutorials/000012.jpg'
        )
            
        # Add the first SingleFrame to the FrameGroup.
        frame_group['FrameOne'] = frame
        """  # noqa: W291, W293 - verbatim
    )
    assert list(ns["frame_group"]) == ["FrameOne"] and ns["frame_group"]["FrameOne"].width == 512


def test_frame_groups_adding_framegroups_to_a_dataset_version(ref: Path) -> None:
    """frame_groups.md, "Adding FrameGroups to a Dataset Version"."""
    ns = run(
        """
        # Create a FrameGroup object
        frame_group = FrameGroup()

        # Create SingleFrame
        single_frame = SingleFrame(
            source='https://allegro-datasets.s3.amazonaws.com/tutorials/000012.jpg'
        )

        # Add the first SingleFrame to the FrameGroup.
        frame_group['FrameOne'] = single_frame

        # The DatasetVersion.add_frames requires a list of frames.
        frames = []

        frames.append(frame_group)
        # Add the FrameGroup to the version
        myVersion.add_frames(frames)
        """,
        "myVersion = DatasetVersion.create_new_dataset(dataset_name='MyDataset')\n",
    )
    assert ns["myVersion"].get_frame_count() == 1 and ns["frame_group"].id


STORED_GROUP = """
myVersion = DatasetVersion.create_new_dataset(dataset_name='MyDataset', version_name='FrameGroup')
myVersion.add_frames([FrameGroup({'FrameOne': SingleFrame('https://h/1.jpg')},
                                 id='f3ed0e09bf23fc947f426a0d254c652c')])
"""


def test_frame_groups_accessing_a_framegroup(ref: Path) -> None:
    """frame_groups.md, "Accessing a FrameGroup"."""
    ns = run(
        """
        # Get the FrameGroup
        frame_group = DatasetVersion.get_single_frame(
            frame_id='f3ed0e09bf23fc947f426a0d254c652c', 
            dataset_name='MyDataset', 
            version_name='FrameGroup'
        )
        """,  # noqa: W291 - verbatim
        STORED_GROUP,
    )
    assert ns["frame_group"]["FrameOne"].source == "https://h/1.jpg"


def test_frame_groups_updating_framegroups(ref: Path) -> None:
    """frame_groups.md, "Updating FrameGroups"."""
    run(
        """
        frames = []                

        # Get the FrameGroup
        frame_group = DatasetVersion.get_single_frame(
            frame_id='f3ed0e09bf23fc947f426a0d254c652c', 
            dataset_name='MyDataset', 
            version_name='FrameGroup'
        )
                
        # Add metadata by referencing the name of the SingleFrame in the FrameGroup
        frame_group['FrameOne'].metadata['new_key'] = 'new_value'
            
        # Update change to the FrameGroup 
        frames.append(frame_group)
        myVersion.update_frames(frames)                
        """,  # noqa: W291, W293 - verbatim
        STORED_GROUP,
    )
    stored = ingest.DatasetVersion.get_single_frame(
        "f3ed0e09bf23fc947f426a0d254c652c", "MyDataset", "FrameGroup"
    )
    assert stored["FrameOne"].metadata == {"new_key": "new_value"}


def test_frame_groups_deleting_frames(ref: Path) -> None:
    """frame_groups.md, "Deleting Frames"."""
    ns = run(
        """
        frames = []                

        # Get the FrameGroup
        frame_group = DatasetVersion.get_single_frame(
            frame_id='f3ed0e09bf23fc947f426a0d254c652c', 
            dataset_name='MyDataset', 
            version_name='FrameGroup'
        )

        # Delete the FrameGroup
        frames.append(frame_group)
        myVersion.delete_frames(frames)
        """,  # noqa: W291 - verbatim
        STORED_GROUP,
    )
    assert ns["myVersion"].get_frame_count() == 0


# ------------------------------------------------------------------ single_frames.md


def test_single_frames_creating_a_singleframe(ref: Path) -> None:
    """single_frames.md, "Creating a SingleFrame"."""
    ns = run(
        """
        from allegroai import SingleFrame

        frame = SingleFrame(
            source='s3://my/bucket/path_to_file.jpg',
            width=None, 
            height=None, 
            preview_uri='s3://my/bucket/path_to_file.jpg',
            metadata=None, 
            annotations=None,  
            mask_source=None,
        )
        """  # noqa: W291 - verbatim
    )
    assert ns["frame"].context_id == "s3://my/bucket/path_to_file.jpg"  # defaults to the source


def test_single_frames_adding_singleframes_to_a_dataset_version(ref: Path) -> None:
    """single_frames.md, "Adding SingleFrames to a Dataset Version"."""
    ns = run(
        """
        from allegroai import DatasetVersion, SingleFrame

        # a frames list is required for adding frames
        frames = []

        # create a frame
        frame = SingleFrame(
            source='s3://my/bucket/path_to_file.jpg',
            width=512, 
            height=512, 
            preview_uri='s3://my/bucket/path_to_file.jpg',
            metadata={'alive':'yes'}, 
        )

        frames.append(frame)

        # add frame to the Dataset version
        myDatasetversion.add_frames(frames)
        """,  # noqa: W291 - verbatim
        "myDatasetversion = DatasetVersion.create_new_dataset(dataset_name='MyDataset')\n",
    )
    (stored,) = ns["myDatasetversion"].iter_frames()
    assert (
        stored.metadata == {"alive": "yes"} and stored.source == "s3://my/bucket/path_to_file.jpg"
    )


STORED_SINGLE = """
myDatasetVersion = DatasetVersion.create_new_dataset(
    dataset_name='MyDataset', version_name='SingleFrame'
)
myDatasetVersion.add_frames([SingleFrame('https://h/1.jpg', id='dcd81d094ab44e37875c13f2014530ae')])
"""


def test_single_frames_accessing_singleframes(ref: Path) -> None:
    """single_frames.md, "Accessing SingleFrames"."""
    ns = run(
        """
        from allegroai import DatasetVersion
        frame = DatasetVersion.get_single_frame(
            frame_id='dcd81d094ab44e37875c13f2014530ae', 
            dataset_name='MyDataset', # OR dataset_id='80ccb3ae11a74b91b1c6f25f98539039' 
            version_name='SingleFrame' # OR version_id='b07b626e3b6f4be7be170a2f39e14bfb'
        ) 
        """,  # noqa: W291 - verbatim
        STORED_SINGLE,
    )
    assert ns["frame"].source == "https://h/1.jpg"


def test_single_frames_updating_singleframes(ref: Path) -> None:
    """single_frames.md, "Updating SingleFrames"."""
    run(
        """
        frames = []                

        # get the SingleFrame
        frame = DatasetVersion.get_single_frame(
            frame_id='dcd81d094ab44e37875c13f2014530ae', 
            dataset_name='MyDataset', 
            version_name='SingleFrame'
        )
            
        # make changes to the frame
        ## add a new annotation
        frame.add_annotation(
            poly2d_xy=[154, 343, 209, 343, 209, 423, 154, 423],
            labels=['tire'], 
            metadata={'alive': 'no'}, 
            confidence=0.5
        )
                
        ## add metadata
        frame.meta['road_hazard'] = 'yes'
            
        # update the SingeFrame
        frames.append(frame)
        myDatasetVersion.update_frames(frames)                
        """,  # noqa: W291, W293 - verbatim
        STORED_SINGLE,
    )
    stored = ingest.DatasetVersion.get_single_frame(
        "dcd81d094ab44e37875c13f2014530ae", "MyDataset", "SingleFrame"
    )
    (tire,) = stored.get_annotations(labels=["tire"])
    assert tire.poly2d_xy == [[154, 343, 209, 343, 209, 423, 154, 423]] and tire.confidence == 0.5
    assert stored.meta == {"road_hazard": "yes"}


def test_single_frames_deleting_frames(ref: Path) -> None:
    """single_frames.md, "Deleting Frames"."""
    ns = run(
        """
        frames = []                

        # get the SingleFrame
        frame = DatasetVersion.get_single_frame(
            frame_id='f3ed0e09bf23fc947f426a0d254c652c', 
            dataset_name='MyDataset', 
            version_name='FrameGroup'
        )

        # delete the SingleFrame
        frames.append(frame)
        myDatasetVersion.delete_frames(frames)
        """,  # noqa: W291 - verbatim
        STORED_GROUP + "myDatasetVersion = myVersion\n",
    )
    assert ns["myDatasetVersion"].get_frame_count() == 0


# ------------------------------------------------------------------ custom_metadata.md


def test_custom_metadata_adding_frame_metadata(ref: Path) -> None:
    """custom_metadata.md, "Adding Frame Metadata"."""
    ns = run(
        """
        from allegroai import SingleFrame

        # create a frame with metadata
        frame = SingleFrame(
            source='https://allegro-datasets.s3.amazonaws.com/tutorials/000012.jpg',
            preview_uri='https://allegro-datasets.s3.amazonaws.com/tutorials/000012.jpg',
            # insert metadata dictionary
            metadata={'alive':'yes'}, 
        )

        # add metadata to the frame
        frame.metadata['dangerous'] = 'no'
        """  # noqa: W291 - verbatim
    )
    assert ns["frame"].to_doc()["metadata"] == {"alive": "yes", "dangerous": "no"}


def test_custom_metadata_adding_roi_metadata(ref: Path) -> None:
    """custom_metadata.md, "Adding ROI Metadata"."""
    ns = run(
        """
        frame.add_annotation(
            box2d_xywh=(10, 10, 30, 20), 
            labels=['tiger'],
            # insert metadata dictionary
            metadata={'dangerous':'yes'}
        )
        """,  # noqa: W291 - verbatim
        FRAME,
    )
    assert ns["frame"].get_annotations(metadata={"dangerous": "yes"})[0].labels == ["tiger"]


# ------------------------------------------------------------------ masks.md

CITYSCAPES = "https://s3.amazonaws.com/allegro-datasets/cityscapes/"


def test_masks_register_frames_with_a_mask(ref: Path) -> None:
    """masks.md, "Register Frames with a Masks" (the frame and the version)."""
    ns = run(
        """
        # create dataset version
        version = DatasetVersion.create_version(
         dataset_name="Example",
         version_name="Registering frame with mask"
        )

        # create frame with mask
        frame = SingleFrame(
         source='https://s3.amazonaws.com/allegro-datasets/cityscapes/leftImg8bit_trainvaltest/leftImg8bit/val/frankfurt/frankfurt_000000_000294_leftImg8bit.png',
         mask_source='https://s3.amazonaws.com/allegro-datasets/cityscapes/gtFine_trainvaltest/gtFine/val/frankfurt/frankfurt_000000_000294_gtFine_labelIds.png'
        )

        # add frame to version
        version.add_frames([frame])
        """,
        "Dataset.create(dataset_name='Example')\n",
    )
    (stored,) = ns["version"].iter_frames()
    assert stored.mask_source.startswith(CITYSCAPES + "gtFine_trainvaltest/")


def test_masks_set_masks_labels(ref: Path) -> None:
    """masks.md, "Register Frames with a Masks" (the pixel-label mapping)."""
    ns = run(
        """
        version.set_masks_labels(
         {(0,0,0): ["background"], (1,1,1): ["person", "sitting"], (2,2,2): ["cat"]}
        )
        """,
        "version = DatasetVersion.create_new_dataset(dataset_name='Example')\n",
    )
    assert ns["version"].get_masks_labels()[(1, 1, 1)] == ["person", "sitting"]


MULTIPLE_MASKS = """
frame = SingleFrame(source='https://s3.amazonaws.com/allegro-datasets/cityscapes/leftImg8bit_trainvaltest/leftImg8bit/val/frankfurt/frankfurt_000000_000294_leftImg8bit.png',)

# add multiple masks
# with dictionary 
frame.masks_source={"ID 1 ": "<mask_URI_1>", "ID 2": "<mask_URI_2>"}
# with list
frame.masks_source=[ "<mask_URI_1>", "<mask_URI_2>"]
"""  # noqa: W291 - verbatim


def test_masks_registering_frames_with_multiple_masks(ref: Path) -> None:
    """masks.md, "Registering Frames with Multiple Masks"."""
    with_dict = run(MULTIPLE_MASKS.split("# with list")[0])  # the block up to the list form
    assert with_dict["frame"].masks == {"ID 1 ": "<mask_URI_1>", "ID 2": "<mask_URI_2>"}
    ns = run(MULTIPLE_MASKS)
    assert ns["frame"].masks == {"00": "<mask_URI_1>", "01": "<mask_URI_2>"}
