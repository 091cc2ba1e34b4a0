"""The lineage of a dataset's versions laid out for an SVG drawing (pure).

Generations go left to right (a version sits one column right of its deepest parent), the
versions of a column top to bottom in creation order; an edge joins each parent to each
child. Hand-written: a layered layout of a few dozen nodes is a dozen lines, where a graph
layout library (dagre, elk) would be a JavaScript dependency for the page.
"""

from __future__ import annotations

from typing import Any

NODE_W, NODE_H, GAP_X, GAP_Y, PAD = 170, 44, 60, 16, 8


def layout(versions: list[dict[str, Any]]) -> dict[str, Any]:
    """``versions``: the API's version objects (``id``, ``name``, ``state``, ``parents``), oldest
    first. Returns ``{"width", "height", "nodes": [...], "edges": [...]}`` in pixels."""
    by_id = {v["id"]: v for v in versions}
    column: dict[str, int] = {}

    def depth(version_id: str, seen: frozenset[str]) -> int:
        # a snapshot's draft keeps its (older) id and gets the snapshot as parent, so
        # creation order is no topological order; ``seen`` guards against a cycle
        if version_id not in column:
            parents = [p for p in by_id[version_id]["parents"] if p in by_id and p not in seen]
            column[version_id] = 1 + max(
                (depth(p, seen | {version_id}) for p in parents), default=-1
            )
        return column[version_id]

    for version in versions:
        depth(version["id"], frozenset())
    rows: dict[int, int] = {}
    nodes = []
    for version in versions:
        col = column[version["id"]]
        row = rows.get(col, 0)
        rows[col] = row + 1
        nodes.append(
            {
                "id": version["id"],
                "name": version["name"],
                "state": version["state"],
                "x": PAD + col * (NODE_W + GAP_X),
                "y": PAD + row * (NODE_H + GAP_Y),
            }
        )
    at = {n["id"]: n for n in nodes}
    edges = [
        {
            "x1": at[p]["x"] + NODE_W,
            "y1": at[p]["y"] + NODE_H / 2,
            "x2": node["x"],
            "y2": node["y"] + NODE_H / 2,
            "parent": p,
            "child": node["id"],
        }
        for node in nodes
        for p in by_id[node["id"]]["parents"]
        if p in at
    ]
    cols = max(column.values(), default=0) + 1
    height = max(rows.values(), default=1)
    return {
        "width": 2 * PAD + cols * NODE_W + (cols - 1) * GAP_X,
        "height": 2 * PAD + height * NODE_H + (height - 1) * GAP_Y,
        "node_w": NODE_W,
        "node_h": NODE_H,
        "nodes": nodes,
        "edges": edges,
    }
