"""The web app's screenshots in docs/: the example data served, each page shot in chromium.

python -m tests.webshots docs/
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

from .browsers import chromium, stage_point
from .webfixtures import build_example, live_server
from .websensors import build_sensors

LOADED = "document.getElementById('stage').classList.contains('loaded')"


def _viewer_shots(base: str, draft: str, sensors: str) -> list[tuple[str, str]]:
    """(URL, file name) of the viewer's states."""
    return [
        (f"{base}/versions/{draft}/frames/drive-01-001", "web-viewer.png"),
        (f"{base}/versions/{sensors}/frames/drive-0?source=rear", "web-mask.png"),
        (f"{base}/versions/{draft}/frames/drive-01-002", "web-editor.png"),
        (f"{base}/versions/{draft}/frames/drive-01-001?all=1", "web-all-sources.png"),
        (f"{base}/versions/{sensors}/frames/lidar-binary", "web-pointcloud.png"),
    ]


def _prepare(page: Any, name: str) -> None:
    if name == "web-versions.png":  # a snapshot, so the lineage has an edge
        page.evaluate(
            """async () => { const id = document.querySelector('#versions tr').dataset.versionId;
               await fetch('/api/versions/' + id + '/snapshot', {method: 'POST',
                 headers: {'Content-Type': 'application/json',
                           Authorization: 'Bearer screenshot-token'},
                 body: JSON.stringify({publish_name: 'v1', child_name: 'v2'})});
               location.reload(); }"""
        )
        page.wait_for_load_state("networkidle")
    if name in ("web-viewer.png", "web-mask.png", "web-editor.png"):
        page.wait_for_function(LOADED)
    if name in ("web-viewer.png", "web-mask.png"):
        page.check("#mask-toggle")
        page.wait_for_selector("#mask-canvas", state="attached")
    if name == "web-editor.png":  # the car box selected (handles, panel), a new box drawn
        page.mouse.click(*stage_point(page, 199, 172))
        page.click("#tool-box")
        page.fill("#draw-label", "truck")
        page.mouse.move(*stage_point(page, 20, 150))
        page.mouse.down()
        page.mouse.move(*stage_point(page, 80, 200), steps=5)
        page.mouse.up()
    if name == "web-all-sources.png":
        page.wait_for_function("Konva.stages.length === 4")
        page.wait_for_timeout(300)
    if name == "web-pointcloud.png":
        page.wait_for_function(
            "document.getElementById('pointcloud-info').textContent.includes('points')"
        )
        canvas = page.locator("#pointcloud").bounding_box()
        page.mouse.move(canvas["x"] + 300, canvas["y"] + 300)
        page.mouse.down()
        page.mouse.move(canvas["x"] + 360, canvas["y"] + 280, steps=5)
        page.mouse.up()


def take_screenshots(out_dir: Path) -> list[Path]:
    """Build the example data in a temp dir, serve it, and screenshot the pages."""
    import ingest
    from ingest import runtime

    out_dir.mkdir(parents=True, exist_ok=True)
    shots: list[Path] = []
    with tempfile.TemporaryDirectory(prefix="ingest-shots-") as tmp:
        base_dir = Path(tmp)
        db = f"sqlite:///{base_dir / 'catalog.sqlite3'}"
        store = f"file://{base_dir / 'objects'}"
        ingest.configure(database_url=db, storage_url=store)
        example = runtime.run_sync(
            build_example(base_dir / "src", groups_per_context=4, payload=False)
        )
        sensors = runtime.run_sync(build_sensors(base_dir / "sensors"))
        runtime.close_all()
        with live_server(db, store, "screenshot-token") as base, chromium() as browser:
            page = browser.new_page(viewport={"width": 1360, "height": 900})
            pages = [
                (f"{base}/", "web-datasets.png"),
                (f"{base}/datasets/city-drive", "web-versions.png"),
                (f"{base}/versions/{example.draft_id}", "web-browser.png"),
                *_viewer_shots(base, example.draft_id, sensors.version_id),
            ]
            for url, name in pages:
                page.goto(url)
                page.wait_for_load_state("networkidle")
                _prepare(page, name)
                path = out_dir / name
                page.screenshot(path=str(path), full_page=name in ("web-datasets.png",))
                shots.append(path)
    return shots


if __name__ == "__main__":  # pragma: no cover - a developer tool
    if len(sys.argv) != 2:
        sys.exit("usage: python -m tests.webshots OUT_DIR")
    for shot in take_screenshots(Path(sys.argv[1])):
        print(shot)
