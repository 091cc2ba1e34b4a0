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

from ..envs import clean_env
from ..webfixtures import CHROMIUM, CHROMIUM_ARGS, free_port
from .test_web_browser import _need_browser

ROOT = Path(__file__).resolve().parents[2]
INGEST = str(Path(sys.executable).parent / "ingest")


@pytest.fixture
def example_server(tmp_path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    _need_browser()
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
    from playwright.sync_api import sync_playwright

    base, info = example_server
    group = info["group"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            # bypass_csp: wait_for_function evaluates a string, which the app's CSP forbids
            page = browser.new_page(viewport={"width": 1280, "height": 900}, bypass_csp=True)
            page.goto(f"{base}/versions/{info['version_id']}/frames/{group['id']}")
            page.wait_for_function("document.getElementById('frame-image').naturalWidth > 0")
            assert page.locator("#source-select").input_value() == "front"
            shapes = page.eval_on_selector_all("#roi-layer .shape", "e => e.map(x => x.tagName)")
            assert sorted(shapes) == ["polygon", "rect"]
            assert "car 90%" in page.locator("#roi-layer .roi-label").all_text_contents()
            page.select_option("#source-select", "rear")
            assert page.locator("#frame-image").get_attribute("src").endswith("/rear/source")
            page.wait_for_function("document.getElementById('frame-image').naturalWidth > 0")
            box = group["frames"]["rear"]["annotations"][0]["box2d_xywh"]
            rect = page.locator("#roi-layer rect")
            assert float(rect.get_attribute("x")) == box[0]
        finally:
            browser.close()
