"""Debian's chromium driven by Playwright, for the web app's browser tests.

``need_browser()`` skips (with the reason) when /usr/bin/chromium or Playwright is missing and
``CI`` is not set; under CI a missing browser fails the run instead.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

import pytest

from .webfixtures import CHROMIUM, CHROMIUM_ARGS


def need_browser() -> None:
    problem = None
    if not os.path.exists(CHROMIUM):
        problem = f"{CHROMIUM} is missing (apt-get install chromium)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            problem = "the playwright package is missing (pip install playwright)"
    if problem is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"browser tests cannot run under CI: {problem}")
    pytest.skip(f"browser tests skipped: {problem}")


@contextlib.contextmanager
def chromium() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        instance = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@contextlib.contextmanager
def browser_page(browser: Any) -> Iterator[Any]:
    """A page in a fresh context; JavaScript errors on it fail the test at the end."""
    # bypass_csp: Playwright's wait_for_function evaluates strings, which the app's CSP forbids;
    # it also makes the <script> payload test prove the escaping on its own, without the CSP
    context = browser.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True)
    page = context.new_page()
    page.set_default_timeout(10_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    context.close()
    assert not errors, f"JavaScript errors: {errors}"


def stage_point(page: Any, x: float, y: float) -> tuple[float, float]:
    """Image coordinates -> viewport coordinates on the frame viewer's main Konva stage
    (scrolled into view first)."""
    return tuple(  # type: ignore[return-value]
        page.evaluate(
            """([x, y]) => { const s = Konva.stages[0];
               s.container().scrollIntoView({block: "nearest"});
               const p = s.getAbsoluteTransform().point({x, y});
               const r = s.container().getBoundingClientRect();
               return [r.left + p.x, r.top + p.y]; }""",
            [x, y],
        )
    )
