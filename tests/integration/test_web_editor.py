"""The annotation editor, stepping, masks and sensors in a real browser (Playwright driving
Debian's chromium against a live server), read back through the library."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from ingest import DatasetVersion

from ..browsers import need_browser, stage_point
from ..webfixtures import Example, build_example, serving
from ..websensors import MASK_CAR, MASK_LANE, Sensors, build_sensors, cloud_points
from . import test_web_browser

TOKEN = "editor-test-token"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Example, Sensors]]:
    need_browser()
    root = tmp_path_factory.mktemp("editor")
    with serving(root, TOKEN, build_example, build_sensors) as (base, (example, sensors)):
        yield base, example, sensors


# chromium and a page per test, as in test_web_browser (its ``browser`` uses this ``served``)
browser = test_web_browser.browser
page = test_web_browser.page


# ---------------------------------------------------------------- helpers


def open_frame(page: Any, base: str, version_id: str, frame_id: str, query: str = "") -> None:
    page.goto(f"{base}/versions/{version_id}/frames/{frame_id}{query}")
    page.wait_for_function("document.getElementById('stage').classList.contains('loaded')")


def with_token(page: Any) -> None:
    page.fill("#token-input", TOKEN)
    page.dispatch_event("#token-input", "change")


def drag(page: Any, start: tuple[float, float], end: tuple[float, float]) -> None:
    page.mouse.move(*stage_point(page, *start))
    page.mouse.down()
    x, y = stage_point(page, *end)
    page.mouse.move(x, y, steps=8)
    page.mouse.up()


def click_at(page: Any, x: float, y: float) -> None:
    page.mouse.click(*stage_point(page, x, y))


def select_at(page: Any, x: float, y: float, selected_js: str) -> None:
    """Click (x, y) until ``selected_js`` holds: under a loaded CI machine the click can land
    before the page has settled (a layout shift after a save, a pending redraw); the editor is
    then simply clicked again, as a user would."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

    for _ in range(5):
        click_at(page, x, y)
        try:
            page.wait_for_function(selected_js, timeout=2_000)
            return
        except PlaywrightTimeoutError:
            continue
    raise AssertionError(f"clicking at ({x}, {y}) never selected: {selected_js}")


def captions(page: Any) -> list[str]:
    return list(page.evaluate("() => Konva.stages[0].find('.roi-label').map(t => t.text())"))


def save(page: Any) -> None:
    page.click("#save-button")
    page.wait_for_function("document.getElementById('status').textContent === 'Saved.'")


def rear_annotations(version_id: str, frame_id: str) -> list[dict[str, Any]]:
    item = DatasetVersion.get_single_frame(frame_id=frame_id, version_id=version_id)
    return [dict(a) for a in item.to_doc()["frames"]["rear"]["annotations"]]  # type: ignore[union-attr]


def boxes(annotations: list[dict[str, Any]], label: str) -> list[list[float]]:
    return [a["box2d_xywh"] for a in annotations if a.get("box2d_xywh") and label in a["labels"]]


def near(a: list[float], b: list[float], tolerance: float = 1.5) -> bool:
    return len(a) == len(b) and all(abs(x - y) <= tolerance for x, y in zip(a, b, strict=True))


# ---------------------------------------------------------------- editing


def test_draw_save_reload_move_relabel_undo_delete(page: Any, served: Any) -> None:
    base, _, sensors = served
    vid, fid = sensors.version_id, "drive-1"
    open_frame(page, base, vid, fid, "?source=rear")
    with_token(page)
    before = len(rear_annotations(vid, fid))

    # draw a box with the mouse
    page.click("#tool-box")
    page.fill("#draw-label", "truck")
    drag(page, (100, 10), (140, 40))
    assert page.locator("#ann-shape").text_content() == "box"
    assert page.locator("#ann-labels").input_value() == "truck"
    save(page)
    (box,) = boxes(rear_annotations(vid, fid), "truck")
    assert near(box, [100, 10, 40, 30]), box

    # reload: it is drawn
    open_frame(page, base, vid, fid, "?source=rear")
    assert "truck" in captions(page)
    with_token(page)

    # move it: select it (the panel shows its id), then drag it 10 px right and 5 down
    select_at(page, 120, 25, "() => document.getElementById('ann-labels').value === 'truck'")
    (truck,) = [a for a in rear_annotations(vid, fid) if a["labels"] == ["truck"]]
    assert page.locator("#ann-id").text_content() == truck["id"]
    drag(page, (120, 25), (130, 30))
    save(page)
    (box,) = boxes(rear_annotations(vid, fid), "truck")
    assert near(box, [110, 15, 40, 30]), box

    # resize it with the Transformer's bottom-right handle
    drag(page, (150, 45), (155, 50))
    save(page)
    (box,) = boxes(rear_annotations(vid, fid), "truck")
    assert near(box, [110, 15, 45, 35], 2), box

    # relabel and set the confidence; then undo the relabel
    page.fill("#ann-labels", "bus, vehicle")
    page.dispatch_event("#ann-labels", "change")
    page.fill("#ann-confidence", "0.7")
    page.dispatch_event("#ann-confidence", "change")
    save(page)
    (box,) = boxes(rear_annotations(vid, fid), "bus")
    saved = next(a for a in rear_annotations(vid, fid) if a.get("box2d_xywh") == box)
    assert saved["labels"] == ["bus", "vehicle"] and saved["confidence"] == 0.7
    page.evaluate("document.activeElement.blur()")  # in a text box, Ctrl+Z undoes typing
    page.keyboard.press("Control+z")  # the confidence
    page.keyboard.press("Control+z")  # the labels
    assert "truck" in captions(page) and "bus, vehicle 70%" not in captions(page)
    page.keyboard.press("Control+Shift+z")  # redo the labels
    assert "bus, vehicle" in captions(page)
    save(page)
    (saved,) = [a for a in rear_annotations(vid, fid) if a.get("box2d_xywh") == box]
    assert saved["labels"] == ["bus", "vehicle"] and saved["confidence"] is None

    # delete it (select, then the Delete key)
    select_at(page, 130, 30, "() => document.getElementById('ann-labels').value === 'bus, vehicle'")
    page.keyboard.press("Delete")
    save(page)
    assert not boxes(rear_annotations(vid, fid), "bus")
    assert len(rear_annotations(vid, fid)) == before


def test_draw_every_shape_edit_vertices_frame_labels(page: Any, served: Any) -> None:
    base, _, sensors = served
    vid, fid = sensors.version_id, "drive-2"
    open_frame(page, base, vid, fid, "?source=rear")
    with_token(page)
    page.fill("#draw-label", "cone")
    # polygon: click the vertices, Enter closes it
    page.click("#tool-polygon")
    for x, y in ((10, 10), (40, 10), (40, 30), (10, 30)):
        click_at(page, x, y)
    page.keyboard.press("Enter")
    # ellipse: drag its bounding box; keypoints: click, Enter
    page.keyboard.press("e")
    drag(page, (60, 60), (80, 80))
    page.keyboard.press("k")
    click_at(page, 120, 70)
    click_at(page, 130, 75)
    page.keyboard.press("Enter")
    # a frame label
    page.fill("#frame-label-input", "night")
    page.click("#frame-label-add")
    save(page)
    cones = [a for a in rear_annotations(vid, fid) if a["labels"] == ["cone"]]
    shapes = {
        k: a[k] for a in cones for k in ("poly2d_xy", "ellipse2d_xyrrt", "keypoints") if k in a
    }
    assert near(shapes["poly2d_xy"][0], [10, 10, 40, 10, 40, 30, 10, 30])
    assert near(shapes["ellipse2d_xyrrt"], [70, 70, 10, 10, 0])
    assert near(shapes["keypoints"], [120, 70, 130, 75])
    assert any(a["labels"] == ["night"] and len(a) <= 4 for a in rear_annotations(vid, fid))

    # edit a vertex: select the polygon, drag its first vertex
    page.keyboard.press("v")
    select_at(page, 25, 20, "() => Konva.stages[0].find('.vertex').length >= 4")
    drag(page, (10, 10), (5, 5))
    save(page)
    (poly,) = [
        a["poly2d_xy"]
        for a in rear_annotations(vid, fid)
        if "poly2d_xy" in a and a["labels"] == ["cone"]
    ]
    assert near(poly[0], [5, 5, 40, 10, 40, 30, 10, 30])

    # zoom: '+' scales the stage, '0' fits again; '?' lists the shortcuts
    fit = page.evaluate("() => Konva.stages[0].scaleX()")
    page.keyboard.press("+")
    assert page.evaluate("() => Konva.stages[0].scaleX()") > fit * 1.2
    # pan: drag the background (no ROI under the pointer)
    x0 = page.evaluate("() => Konva.stages[0].x()")
    drag(page, (120, 15), (110, 15))
    assert page.evaluate("() => Konva.stages[0].x()") < x0 - 5
    page.keyboard.press("0")
    assert abs(page.evaluate("() => Konva.stages[0].scaleX()") - fit) < 1e-6
    page.keyboard.press("?")
    assert page.locator("#help-dialog").is_visible()
    assert "undo" in page.locator("#shortcuts").inner_text()


def test_two_tabs_second_save_gets_a_conflict(page: Any, served: Any) -> None:
    base, _, sensors = served
    vid, fid = sensors.version_id, "drive-3"
    other = page.context.new_page()
    for tab in (page, other):
        open_frame(tab, base, vid, fid, "?source=rear")
        with_token(tab)
        tab.click("#tool-box")
    page.fill("#draw-label", "first")
    drag(page, (10, 10), (30, 30))
    save(page)
    other.fill("#draw-label", "second")
    drag(other, (50, 50), (70, 70))
    other.click("#save-button")
    other.wait_for_function("document.getElementById('status').textContent.startsWith('Conflict')")
    assert "your edits are still here" in other.locator("#status").inner_text().lower()
    assert "second" in captions(other)  # nothing lost in the tab
    labels = [a["labels"] for a in rear_annotations(vid, fid)]
    assert ["first"] in labels and ["second"] not in labels


# ---------------------------------------------------------------- stepping, masks, sensors


def test_step_through_four_instants_on_rear(page: Any, served: Any) -> None:
    base, _, sensors = served
    vid = sensors.version_id
    open_frame(page, base, vid, "drive-0", "?source=rear")
    for n in range(1, 4):
        # the next instant's rear image was fetched ahead
        page.wait_for_function(
            "(id) => performance.getEntriesByType('resource').some("
            "e => e.name.includes('/' + id + '/rear/source'))",
            arg=f"drive-{n}",
        )
        page.keyboard.press("ArrowRight")
        page.wait_for_url(f"**/frames/drive-{n}?source=rear")
        page.wait_for_function("document.getElementById('stage').classList.contains('loaded')")
        assert page.locator("#source-select").input_value() == "rear"
        src = page.evaluate("() => Konva.stages[0].findOne('.frame-image').image().src")
        assert src.endswith(f"/drive-{n}/rear/source")
    page.click("#prev-frame")
    page.wait_for_url("**/frames/drive-2?source=rear")

    # all sources: every SingleFrame of the instant side by side with its ROIs; kept on a step
    open_frame(page, base, vid, "drive-0", "?source=rear")
    page.check("#all-sources")
    tiles = page.locator("#all-grid .tile")
    assert tiles.locator("figcaption").all_text_contents() == ["front", "left", "right", "rear"]
    page.wait_for_function(
        "Konva.stages.length === 5 && Konva.stages.slice(1).every(s => s.find('.roi').length === 2)"
    )
    assert page.locator("#stage").is_hidden()
    page.click("#next-frame")
    page.wait_for_url("**/frames/drive-1?source=rear&all=1")
    assert page.locator("#all-grid").is_visible()


def test_mask_legend_colours_match_the_pixels(page: Any, served: Any) -> None:
    base, _, sensors = served
    open_frame(page, base, sensors.version_id, "drive-0", "?source=rear")
    page.check("#mask-toggle")
    page.wait_for_selector("#mask-canvas", state="attached")

    def pixel(x: int, y: int) -> list[int]:
        return list(
            page.evaluate(
                "([x, y]) => Array.from(document.getElementById('mask-canvas')"
                ".getContext('2d').getImageData(x, y, 1, 1).data)",
                [x, y],
            )
        )

    swatches = {
        item.get_attribute("data-labels"): item.locator(".swatch").get_attribute("data-rgb")
        for item in page.locator("#legend .mask-label").all()
    }
    car = [int(v) for v in swatches["car"].split(",")]
    lane = [int(v) for v in swatches["lane"].split(",")]
    assert car != lane and max(car) > 60 and max(lane) > 60  # label ids 1, 2: visible colours
    cx, cy = MASK_CAR[0] + MASK_CAR[2] // 2, MASK_CAR[1] + MASK_CAR[3] // 2
    assert pixel(cx, cy) == [*car, 255]
    assert pixel(MASK_LANE[0] + 2, MASK_LANE[1] + 2) == [*lane, 255]
    assert pixel(2, 2)[3] == 0  # background (pixel value 0) starts hidden
    # per-label toggle and opacity
    page.locator('#legend .mask-label[data-labels="car"] input').uncheck()
    page.wait_for_function(
        "([x, y]) => document.getElementById('mask-canvas').getContext('2d')"
        ".getImageData(x, y, 1, 1).data[3] === 0",
        arg=[cx, cy],
    )
    assert pixel(MASK_LANE[0] + 2, MASK_LANE[1] + 2) == [*lane, 255]
    page.locator("#mask-opacity").fill("20")
    assert abs(page.evaluate("() => Konva.stages[0].findOne('.mask-image').opacity()") - 0.2) < 1e-6


@pytest.mark.parametrize("data", ["ascii", "binary"])
def test_point_cloud_renders(page: Any, served: Any, data: str) -> None:
    base, _, sensors = served
    page.goto(f"{base}/versions/{sensors.version_id}/frames/{sensors.pcd_ids[data]}")
    page.wait_for_function(
        "document.getElementById('pointcloud-info').textContent.includes('points')"
    )
    assert page.locator("#pointcloud-info").inner_text().startswith(f"{len(cloud_points())} points")
    # its 3D annotations are listed, with their ids
    rows = page.locator("#annotation-table tbody tr")
    assert rows.locator(".shape-name").all_text_contents() == ["3D box", "3D points"]
    assert all(text != "—" for text in rows.locator(".ann-id").all_text_contents())
    lit = page.evaluate(
        """() => { const src = document.getElementById('pointcloud');
           const c = document.createElement('canvas'); c.width = src.width; c.height = src.height;
           const ctx = c.getContext('2d'); ctx.drawImage(src, 0, 0);
           const d = ctx.getImageData(0, 0, c.width, c.height).data; let n = 0;
           for (let i = 0; i < d.length; i += 4)
             if (Math.abs(d[i] - 15) + Math.abs(d[i + 1] - 19) + Math.abs(d[i + 2] - 27) > 40) n++;
           return n; }"""
    )
    assert lit > 500, f"the point cloud canvas is blank ({lit} lit pixels)"


def test_video_source_is_played(page: Any, served: Any) -> None:
    base, _, sensors = served
    page.goto(f"{base}/versions/{sensors.version_id}/frames/{sensors.video_id}")
    video = page.locator("#frame-video")
    video.wait_for(state="visible")
    assert video.get_attribute("src").endswith(f"/{sensors.video_id}/_/source")
    assert page.locator("#canvas-host").is_hidden()


def test_published_version_offers_no_editing(page: Any, served: Any) -> None:
    base, example, _ = served
    open_frame(page, base, example.published_id, "old-drive-000")
    assert page.locator("#edit-tools").count() == 0
    assert page.locator("#save-button").count() == 0
    assert page.locator("#ann-delete").count() == 0
    assert page.locator("#frame-label-input").count() == 0
    shapes = page.evaluate("() => Konva.stages[0].find('.roi').length")
    page.keyboard.press("b")
    drag(page, (10, 10), (60, 60))
    assert page.evaluate("() => Konva.stages[0].find('.roi').length") == shapes
    # an ROI can be selected to read its fields, not changed
    select_at(page, 190, 170, "() => document.getElementById('ann-labels').value === 'car'")
    assert page.locator("#ann-labels").evaluate("e => e.readOnly")
    assert page.evaluate("() => Konva.stages[0].find('.roi').every(g => !g.draggable())")


# ---------------------------------------------------------------- versions page


def test_versions_page_lineage_and_actions(page: Any, served: Any) -> None:
    from playwright.sync_api import expect  # retries until the reloaded page shows it

    base, _, sensors = served
    page.goto(f"{base}/datasets/{sensors.dataset}")
    assert page.locator("#lineage .node").count() == 1
    # mask label swatches in the viewer's colours: label ids 0, 1, 2 are not three blacks
    fills = page.locator("#versions rect[data-mask-index]").evaluate_all(
        "rects => rects.map(r => r.getAttribute('fill'))"
    )
    assert len(set(fills)) == 3 and "rgb(1,1,1)" not in fills
    page.fill("#token-input", TOKEN)
    page.dispatch_event("#token-input", "change")

    def act(version: str, action: str, *names: str) -> None:
        row = page.locator(f'#versions tr[data-version-name="{version}"]')
        row.locator(f'button[data-action="{action}"]').click()
        for field, name in zip(("#first-name", "#second-name"), names, strict=False):
            page.fill(field, name)
        page.click("#version-ok")
        page.wait_for_load_state("load")
        page.wait_for_selector(
            f'#versions tr[data-version-name="{names[-1] if names else version}"]'
        )

    # snapshot: v1 is published as "v1" (it keeps its id); a new draft "v2" is its child
    act("v1", "snapshot", "v1", "v2")
    badges = page.locator("#versions .badge")
    expect(badges).to_have_text(["Published", "Draft"])
    rows = page.locator("#versions tbody tr")
    assert rows.evaluate_all("rs => rs.map(r => r.dataset.versionName)") == ["v1", "v2"]
    expect(page.locator("#lineage .edge")).to_have_count(1)
    assert page.locator("#lineage .edge").get_attribute("data-parent") == sensors.version_id
    # a child of the Published one, then publish it
    act("v1", "child", "experiment")
    expect(page.locator("#lineage .edge")).to_have_count(2)
    act("experiment", "publish")
    row = page.locator('#versions tr[data-version-name="experiment"]')
    expect(row.locator(".badge")).to_have_text("Published")
    expect(row.locator('button[data-action="child"]')).to_have_count(1)
    assert (
        DatasetVersion.get_version(
            dataset_name=sensors.dataset, version_name="experiment"
        ).get_frame_count()
        == 7
    )


def test_frame_browser_cards_name_sensors_no_img_can_draw(page: Any, served: Any) -> None:
    """A point cloud or a video without a preview gets a labelled tile in the frame browser,
    not a broken <img>; images keep their thumbnails."""
    base, _, sensors = served
    page.goto(f"{base}/versions/{sensors.version_id}?limit=200")
    for frame_id, kind in [*((i, "point cloud") for i in sensors.pcd_ids.values()),
                           (sensors.video_id, "video")]:  # fmt: skip
        card = page.locator(f".thumb[href*='/frames/{frame_id}']")
        assert card.locator(".thumb-sensor").inner_text() == kind
        assert card.locator("img").count() == 0
    assert page.locator(".thumb img").count() > 0  # the cameras' previews
