"""The web app in a real browser: Playwright driving Debian's chromium against a live server.

Skipped (with the reason) only when /usr/bin/chromium or Playwright is missing and ``CI`` is
not set; under CI a missing browser fails the run instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest

from ingest import DatasetVersion

from ..browsers import browser_page, chromium, need_browser
from ..webfixtures import XSS, Example, build_example, serving

TOKEN = "browser-test-token"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Example]]:
    """The example data on SQLite and a local store, served by ``run_server`` (subprocess)."""
    need_browser()
    with serving(tmp_path_factory.mktemp("web"), TOKEN, build_example) as (base, built):
        yield base, built[0]


@pytest.fixture(scope="module")
def browser(served: tuple[str, Example]) -> Iterator[Any]:
    with chromium() as instance:
        yield instance


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    with browser_page(browser) as page:
        yield page


def frame_metadata(version_id: str, frame_id: str, name: str) -> dict[str, Any]:
    item = DatasetVersion.get_single_frame(frame_id=frame_id, version_id=version_id)
    return dict(item[name].metadata)  # type: ignore[index]


def roi_shapes(page: Any) -> list[str]:
    """The shapes drawn on the frame's Konva stage (Rect, Line, Ellipse, Circle)."""
    return list(page.evaluate("() => Konva.stages[0].find('.shape').map(n => n.getClassName())"))


def roi_labels(page: Any) -> list[str]:
    return list(page.evaluate("() => Konva.stages[0].find('.roi-label').map(t => t.text())"))


def test_browse_view_edit_and_save(page: Any, served: tuple[str, Example]) -> None:
    base, example = served
    vid = example.draft_id

    # the frame browser, grouped by context: the first context, its groups side by side
    page.goto(f"{base}/versions/{vid}?by_context=1")
    cards = page.locator("#frame-grid .card")
    assert cards.count() == 3
    card = page.locator('.card[data-frame-id="drive-01-001"]')
    assert card.locator(".thumb-name").all_text_contents() == ["front", "left", "right"]
    page.wait_for_function(
        "[...document.querySelectorAll('.card img')].every(i => i.complete && i.naturalWidth > 0)"
    )
    assert page.locator("#next-context").is_visible()

    # open the FrameGroup: the front camera with its boxes, polygon and ellipse
    card.locator(".card-body").click()
    page.wait_for_url(f"**/versions/{vid}/frames/drive-01-001")
    assert page.locator("#source-select").input_value() == "front"
    page.wait_for_function("document.getElementById('stage').classList.contains('loaded')")
    assert sorted(roi_shapes(page)) == ["Ellipse", "Line", "Rect"]
    assert sorted(roi_labels(page)) == ["car 92%", "road 80%", "sign 61%"]
    assert page.evaluate("() => Konva.stages[0].findOne('.frame-image').size()") == {
        "width": 320,
        "height": 240,
    }
    # the ROIs are drawn over the image, in image coordinates
    box = page.evaluate("() => Konva.stages[0].findOne('.box').getClientRect()")
    image = page.evaluate("() => Konva.stages[0].findOne('.frame-image').getClientRect()")
    assert (
        box["width"] > 20
        and image["x"] <= box["x"]
        and box["x"] + box["width"] <= (image["x"] + image["width"])
    )

    # mask overlay toggle
    visible = "() => Konva.stages[0].findOne('.mask-image').visible()"
    assert not page.evaluate(visible)
    page.check("#mask-toggle")
    page.wait_for_function(visible)
    assert page.locator("#mask-canvas").count() == 1
    page.uncheck("#roi-toggle")
    assert not page.evaluate("() => Konva.stages[0].getLayers()[1].visible()")
    page.check("#roi-toggle")

    # switch source: the left camera, its own ROI and details; it has no mask
    page.select_option("#source-select", "left")
    page.wait_for_function(
        "Konva.stages[0].findOne('.frame-image').image().src.endsWith('/left/source')"
    )
    assert roi_shapes(page) == ["Rect"]
    assert roi_labels(page) == ["pedestrian 55%"]
    assert page.locator("#mask-toggle").is_disabled()
    assert page.locator("#source-title").text_content() == "Source left"
    page.select_option("#source-select", "front")

    # edit a metadata key of the front camera, add one, remove one
    editor = page.locator('.meta-editor[data-scope="front"]')
    row = editor.locator(".meta-row").filter(has=page.locator('.meta-key[value="exposure"]'))
    row.locator(".meta-value").fill("0.05")
    editor.locator(".add-key").click()
    new_row = editor.locator(".meta-row").last
    new_row.locator(".meta-key").fill("reviewer")
    new_row.locator(".meta-value").fill("Ada <b>L</b>")
    editor.locator(".meta-row").filter(has=page.locator('.meta-key[value="camera"]')).locator(
        ".remove-key"
    ).click()

    # without the token: 401, nothing saved
    page.click("#save-button")
    page.wait_for_function("document.getElementById('status').textContent.includes('401')")
    assert "Unauthorized" in page.locator("#status").inner_text()
    assert frame_metadata(vid, "drive-01-001", "front") == {"exposure": 0.01, "camera": "front"}

    # with the token: saved
    page.fill("#token-input", TOKEN)
    page.dispatch_event("#token-input", "change")
    page.click("#save-button")
    page.wait_for_function("document.getElementById('status').textContent === 'Saved.'")
    expected = {"exposure": 0.05, "reviewer": "Ada <b>L</b>"}
    assert frame_metadata(vid, "drive-01-001", "front") == expected

    # reload: the edit is kept (and the token too, for this tab)
    page.reload()
    editor = page.locator('.meta-editor[data-scope="front"]')
    keys = editor.locator(".meta-key").evaluate_all("els => els.map(e => e.value)")
    values = editor.locator(".meta-value").evaluate_all("els => els.map(e => e.value)")
    assert dict(zip(keys, values, strict=True)) == {"exposure": "0.05", "reviewer": "Ada <b>L</b>"}
    assert page.locator("#token-input").input_value() == TOKEN
    assert page.locator(".meta-editor b").count() == 0

    # step through the context in timestamp order
    page.click("#next-frame")
    page.wait_for_url("**/frames/drive-01-002?source=front")
    page.click("#prev-frame")
    page.wait_for_url("**/frames/drive-01-001?source=front")


def test_script_payload_is_text(page: Any, served: tuple[str, Example]) -> None:
    base, example = served
    page.goto(f"{base}/")
    assert XSS in page.locator("#datasets").inner_text()
    page.goto(f"{base}/versions/{example.draft_id}/frames/drive-01-000")
    editor = page.locator('.meta-editor[data-scope="front"]')
    note = editor.locator(".meta-row").filter(has=page.locator('.meta-key[value="note"]'))
    assert note.locator(".meta-value").input_value() == XSS
    assert page.evaluate("window.__xss") is None
    assert page.locator("#xss-img").count() == 0
    query = 'meta.note:"' + XSS.replace('"', '\\"') + '"'
    page.goto(f"{base}/versions/{example.draft_id}?{urlencode({'q': query})}")
    assert page.locator("#frame-grid .card").count() == 1
    assert page.evaluate("window.__xss") is None
    assert page.locator("#query").input_value() == query


def test_published_version_is_read_only(page: Any, served: tuple[str, Example]) -> None:
    base, example = served
    page.goto(f"{base}/versions/{example.published_id}/frames/old-drive-000")
    assert page.locator("#readonly-banner").is_visible()
    assert page.locator("#save-button").count() == 0
    assert page.locator("#delete-button").count() == 0
    assert page.locator(".add-key").count() == 0
    assert page.locator(".meta-value").first.evaluate("e => e.readOnly")
    # a mutation without the token gets 401 (the page's own origin, no Authorization header)
    status = page.evaluate(
        "async (url) => (await fetch(url, {method: 'DELETE'})).status",
        f"/api/versions/{example.published_id}/frames/old-drive-000",
    )
    assert status == 401


def test_delete_with_confirmation(page: Any, served: tuple[str, Example]) -> None:
    base, example = served
    vid = example.draft_id
    page.goto(f"{base}/versions/{vid}/frames/drive-02-001")
    page.fill("#token-input", TOKEN)
    page.click("#delete-button")
    assert page.locator("#confirm-delete").is_visible()
    assert page.locator("#confirm-frame-id").inner_text() == "drive-02-001"
    page.click("#cancel-delete")
    assert page.locator("#confirm-delete").is_hidden()
    assert DatasetVersion.get_version(version_id=vid).get_frame_count() == 7
    page.click("#delete-button")
    page.click("#confirm-delete-button")
    page.wait_for_url(f"**/versions/{vid}")
    assert page.locator('.card[data-frame-id="drive-02-001"]').count() == 0
    assert DatasetVersion.get_version(version_id=vid).get_frame_count() == 6


def test_query_box_filters_with_boolean_logic_and_points_at_errors(
    page: Any, served: tuple[str, Example]
) -> None:
    base, example = served
    page.goto(f"{base}/versions/{example.draft_id}")
    assert "label:car AND NOT" in page.locator("#query-syntax").inner_text()
    # a group matches when one of its SingleFrames does: "front" has car and day
    page.fill("#query", "label:car AND NOT label:day")
    page.press("#query", "Enter")
    page.wait_for_url("**q=label*")
    cards = page.locator("#frame-grid .card")
    assert [cards.nth(i).get_attribute("data-frame-id") for i in range(cards.count())] == ["solo-0"]
    page.fill("#query", "meta.weather:sunny AND (car OR")
    page.press("#query", "Enter")
    error = page.locator("#query-error")
    assert error.is_visible()
    query_line, caret_line = error.inner_text().splitlines()[:2]
    assert query_line == "meta.weather:sunny AND (car OR"
    assert caret_line.index("^") == len(query_line) and "column 31" in caret_line
    assert page.locator("#frame-grid").count() == 0
