"""The pipeline's boundary: whatever a group raises becomes rejections; every run ends."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import ingest
from ingest import DatasetVersion, FrameGroup, SingleFrame
from ingest.service import Ingest
from ingest.storage.local import LocalStorage

from ..envs import clean_env
from ..images import write_png

INGEST = str(Path(sys.executable).parent / "ingest")


class Exploding(SingleFrame):
    """A frame whose document cannot be built: an error no validation foresees."""

    def to_doc(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("boom while building the document")


def nested(depth: int) -> Any:
    value: Any = "deep"
    for _ in range(depth):
        value = {"k": value}
    return value


def hostile_items(root: Path) -> list[Any]:
    """Values set after construction, past the constructors' checks (users mutate frames)."""
    group = FrameGroup()
    group["ok"] = SingleFrame(str(write_png(root / "g" / "ok.png")))
    group["bad"] = Exploding(str(write_png(root / "g" / "bad.png")))
    nul, deep, big = (SingleFrame(f"https://host/{n}.jpg") for n in "abc")
    nul.source = str(root / "img\x00.png")  # a NUL byte in a local path
    deep.metadata["deep"] = nested(300)  # orjson's nesting limit
    big.metadata["big"] = 2**70  # beyond 64 bits
    return [nul, deep, big, Exploding(str(write_png(root / "x.png"))), group, "not a frame"]


def test_hostile_values_are_rejected_and_the_rest_registered(lib: str, tmp_path: Path) -> None:
    version = DatasetVersion.create_new_dataset("Hostile")
    good = [SingleFrame(str(write_png(tmp_path / f"good{i}.png"))) for i in range(3)]
    good.append(SingleFrame("https://host/ref.jpg"))
    bad = hostile_items(tmp_path)
    items = [x for pair in zip(bad, good + [None] * 2, strict=True) for x in pair if x is not None]
    rejected = version.add_frames(items)
    assert rejected == bad  # the caller's own objects, in input order
    report = version.last_report
    assert report is not None
    assert version.get_frame_count() == len(good)
    frames_in = len(items) + 1  # the group has two frames
    assert report.summary.frames_registered + report.summary.frames_rejected == frames_in
    assert "RuntimeError" in {r.error_class for r in report.rejected}
    group = bad[4]
    assert {r.frame_name for r in report.rejected if r.group_id == group.id} == {"ok", "bad"}


async def test_unexpected_store_errors_never_leak_a_slot(alib: str, tmp_path: Path) -> None:
    """A store raising something the transfer layer does not expect: every group is rejected
    and the run ends although there are far more groups than slots."""

    class Broken(LocalStorage):
        async def put_file(self, key: str, path: str | int, size: int, ct: str | None) -> str:
            raise RuntimeError("the store's own bug")

    version = await DatasetVersion.create_new_dataset_async("Slots")
    settings = ingest.get_settings().replace(groups_in_flight=2, concurrency=2)
    items = [SingleFrame(str(write_png(tmp_path / f"{i}.png"))) for i in range(40)]
    store = await Broken(str(tmp_path / "objects")).open()
    async with Ingest(settings, store=store) as app:
        report = await asyncio.wait_for(app.import_items(version.version_id, items), 60)
    assert report.summary.groups_rejected == 40
    assert {r.error_class for r in report.rejected} == {"RuntimeError"}


def _line(i: int, root: Path, kind: str) -> str:
    source = f"https://host/{i}.jpg" if kind == "remote" else str(root / f"{i}.png")
    if i % 3 == 0:
        return json.dumps({"id": f"ok{i}", "source": source})
    if i % 3 == 1:
        return json.dumps({"id": f"nul{i}", "source": source.replace(".", "\x00.", 1)})
    return json.dumps({"id": f"deep{i}", "source": source, "metadata": nested(300)})


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["local", "remote"])
def test_watchdog_thousands_of_hostile_lines_end(
    kind: str, sqlite_url: str, tmp_path: Path
) -> None:
    """The probe's hang: 3,000 lines, two thirds hostile, 16 group slots. The import must end,
    register every good line and report every other one."""
    root = tmp_path / "in"
    root.mkdir()
    lines = []
    for i in range(3000):
        if kind == "local" and i % 3 == 0:
            write_png(root / f"{i}.png")
        lines.append(_line(i, root, kind))
    manifest = tmp_path / "m.jsonl"
    manifest.write_text("\n".join(lines) + "\n")
    env = clean_env(
        INGEST_DATABASE_URL=sqlite_url,
        INGEST_STORAGE_URL=f"file://{tmp_path / 'objects'}",
        INGEST_GROUPS_IN_FLIGHT="16",
    )
    report = tmp_path / "r.jsonl"
    done = subprocess.run(
        [INGEST, "import", str(manifest), "--dataset", "D", "--version", "v", "--create",
         "--json", "--report", str(report)],
        env=env, capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    summary = json.loads(done.stdout)["summary"]
    assert summary["frames_registered"] == 1000
    assert summary["frames_registered"] + summary["frames_rejected"] == 3000
    records = [json.loads(x) for x in report.read_text().splitlines()]
    assert len(records) == 2000
    assert all(r["where"] and r["where"].rsplit(":", 1)[0].endswith("m.jsonl") for r in records)
