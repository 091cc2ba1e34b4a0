"""The reference API examples of ../shared/DESIGN.md, run as written."""

from __future__ import annotations

import re
from pathlib import Path

DESIGN = Path(__file__).resolve().parents[3] / "shared" / "DESIGN.md"


def reference_block() -> str:
    text = DESIGN.read_text()
    section = text.split("## The reference API", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)  # type: ignore[union-attr]


def test_design_reference_example_runs_as_written(lib: str) -> None:
    code = reference_block()
    assert "my_version.add_frames([frame_group], upload_retries=3)" in code
    # the only placeholder in the example is the frame id
    code = code.replace("frame_id=...", "frame_id=frame_group.id")
    namespace: dict[str, object] = {}
    setup = (
        "from ingest import DatasetVersion, FrameGroup, SingleFrame\n"
        "DatasetVersion.create_new_dataset(dataset_name='MyDataset', version_name='v0')\n"
        "my_version = DatasetVersion.create_version(dataset_name='MyDataset', version_name='v1')\n"
    )
    *body, last = code.strip().splitlines()
    assert last.startswith("my_version.delete_frames")
    exec(compile(setup + "\n".join(body), str(DESIGN), "exec"), namespace)

    from ingest import DatasetVersion

    assert namespace["failed"] == []
    frame_id = namespace["frame_group"].id  # type: ignore[attr-defined]
    stored = DatasetVersion.get_single_frame(
        frame_id=frame_id, dataset_name="MyDataset", version_name="v1"
    )
    assert stored["FrameOne"].metadata == {"new_key": "new_value"}
    assert stored["FrameOne"].source == "https://host/000012.jpg"
    exec(compile(last, str(DESIGN), "exec"), namespace)
    version = DatasetVersion.get_version(dataset_name="MyDataset", version_name="v1")
    assert version.get_frame_count() == 0  # deleted at the end of the example
