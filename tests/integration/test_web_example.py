"""The example drive, imported with `ingest import` and browsed through `ingest serve`."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ..browsers import browser_page, chromium, need_browser
from ..envs import clean_env
from ..webfixtures import free_port
from .test_web_browser import roi_labels, roi_shapes

ROOT = Path(__file__).resolve().parents[2]
INGEST = str(Path(sys.executable).parent / "ingest")


@pytest.fixture
def example_server(tmp_path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    need_browser()
    env = clean_env(
        INGEST_DATABASE_URL=f"sqlite:///{tmp_path}/c.sqlite3",
        INGEST_STORAGE_URL=f"file://{tmp_path}/objects",
    )
    manifest = ROOT / "examples" / "drive" / "manifest.jsonl"
    done = subprocess.run(
        [
            INGEST,
            "import",
            str(manifest),
            "--dataset",
            "example-drive",
            "--version",
            "v1",
            "--create",
            "--json",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    version_id = json.loads(done.stdout)["version_id"]
    exported = subprocess.run(
        [INGEST, "export", "--dataset", "example-drive"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout.split("\n")
    first = json.loads(exported[0])
    port = free_port()
    proc = subprocess.Popen(
        [INGEST, "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{base}/api/datasets", timeout=2).close()
                break
            except OSError:
                assert time.monotonic() < deadline and proc.poll() is None, "serve did not start"
                time.sleep(0.1)
        yield base, {"version_id": version_id, "group": first}
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def test_open_a_group_of_the_example_drive(example_server: tuple[str, dict[str, Any]]) -> None:
    base, info = example_server
    group = info["group"]
    loaded = "document.getElementById('stage').classList.contains('loaded')"
    with chromium() as browser, browser_page(browser) as page:
        page.goto(f"{base}/versions/{info['version_id']}/frames/{group['id']}")
        page.wait_for_function(loaded)
        assert page.locator("#source-select").input_value() == "front"
        assert sorted(roi_shapes(page)) == ["Line", "Rect"]
        assert "car 90%" in roi_labels(page)
        page.select_option("#source-select", "rear")
        page.wait_for_function(
            "Konva.stages[0].findOne('.frame-image').image().src.endsWith('/rear/source')"
        )
        box = group["frames"]["rear"]["annotations"][0]["box2d_xywh"]
        assert page.evaluate("() => Konva.stages[0].findOne('.box').x()") == box[0]
