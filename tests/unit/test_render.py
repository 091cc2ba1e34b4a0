"""benchmarks/render.py keeps every marked block of the RESULTS.md it rewrites."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"
_spec = importlib.util.spec_from_file_location("bench_render", BENCH / "render.py")
assert _spec and _spec.loader
render = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(render)


def test_rewrite_keeps_every_marked_block() -> None:
    results = json.loads((BENCH / "results.json").read_text())
    previous = (
        "# old figures\n<!-- analysis:begin -->\nwhat bounds it\n<!-- analysis:end -->\n"
        "## DataView\n<!-- dataview:begin -->\n## DataView queries\n| q | 1 |\n"
        "<!-- dataview:end -->\nstale text\n<!-- web-load:begin -->\nweb figures\n"
        "<!-- web-load:end -->\n"
    )
    text = render.markdown(results, None, keep_from=previous)
    assert "<!-- analysis:begin -->\nwhat bounds it\n<!-- analysis:end -->" in text
    dataview = "<!-- dataview:begin -->\n## DataView queries\n| q | 1 |\n<!-- dataview:end -->"
    web = "<!-- web-load:begin -->\nweb figures\n<!-- web-load:end -->"
    assert dataview in text and web in text
    assert text.index("<!-- analysis:end -->") < text.index(dataview) < text.index(web)
    assert "old figures" not in text and "stale text" not in text
    # rewriting the rewritten file changes nothing (blocks are not duplicated)
    assert render.markdown(results, None, keep_from=text) == text
