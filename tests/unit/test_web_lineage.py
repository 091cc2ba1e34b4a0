"""The versions page's lineage layout (pure)."""

from __future__ import annotations

from ingest.web.lineage import GAP_X, NODE_W, layout


def _v(id_: str, *parents: str) -> dict[str, object]:
    return {"id": id_, "name": id_.upper(), "state": "Draft", "parents": list(parents)}


def test_generations_go_left_to_right_whatever_the_creation_order() -> None:
    # a snapshot's draft ("a") is older than its parent ("snap"), which it keeps going from
    out = layout([_v("a", "snap"), _v("snap"), _v("b", "snap"), _v("c", "a", "b")])
    x = {n["id"]: n["x"] for n in out["nodes"]}
    step = NODE_W + GAP_X
    assert x["a"] - x["snap"] == step and x["b"] == x["a"] and x["c"] - x["a"] == step
    assert {(e["parent"], e["child"]) for e in out["edges"]} == {
        ("snap", "a"),
        ("snap", "b"),
        ("a", "c"),
        ("b", "c"),
    }
    assert out["width"] > 2 * step


def test_unknown_parents_and_cycles_do_not_break_the_layout() -> None:
    out = layout([_v("a", "gone"), _v("x", "y"), _v("y", "x")])
    assert len(out["nodes"]) == 3
    assert all(e["parent"] in {"x", "y"} for e in out["edges"])
