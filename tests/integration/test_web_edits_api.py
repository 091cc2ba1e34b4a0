"""Per-annotation REST endpoints (list, add, change, delete by id) and version actions
(publish, snapshot, create a child), on SQLite and PostgreSQL (``alib``), through aiohttp's
test client (the fixtures of ``test_web_api``), read back through the library."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from ingest import DatasetVersion

from ..webfixtures import Example
from . import test_web_api

# the same app and data as test_web_api (fixtures bound here so pytest finds them)
example = test_web_api.example
client = test_web_api.client
AUTH = test_web_api.AUTH


def url(example: Example, frame_id: str = "drive-01-000", ann_id: str | None = None) -> str:
    base = f"/api/versions/{example.draft_id}/frames/{frame_id}/annotations"
    return base if ann_id is None else f"{base}/{ann_id}"


async def front_annotations(example: Example) -> list[dict[str, Any]]:
    item = await DatasetVersion.get_single_frame_async(
        frame_id="drive-01-000", version_id=example.draft_id
    )
    return list(item.to_doc()["frames"]["front"]["annotations"])  # type: ignore[union-attr]


async def test_list_add_change_delete_by_id(client: TestClient, example: Example) -> None:
    resp = await client.get(url(example))
    assert resp.status == 200
    listed = (await resp.json())["annotations"]
    assert {(a["frame"], tuple(a["labels"])) for a in listed} >= {
        (None, ("urban",)),
        ("front", ("car",)),
        ("left", ("pedestrian",)),
    }
    assert all(isinstance(a["id"], str) and a["id"] for a in listed)
    only_left = await (await client.get(url(example), params={"frame": "left"})).json()
    assert [a["labels"] for a in only_left["annotations"]] == [["pedestrian"]]

    # add: a token is needed; the id comes back and the library reads the annotation
    body = {"frame": "front", "box2d_xywh": [1, 2, 3, 4], "labels": ["cone"]}
    assert (await client.post(url(example), json=body)).status == 401
    resp = await client.post(url(example), json=body, headers=AUTH)
    assert resp.status == 201, await resp.text()
    added = await resp.json()
    ann_id, etag = added["id"], resp.headers["ETag"]
    assert added["frame"] == "front" and added["box2d_xywh"] == [1, 2, 3, 4]
    assert {a["id"]: a["labels"] for a in await front_annotations(example)}[ann_id] == ["cone"]
    # a 3D shape is listed like any other
    box3d = {"frame": "front", "box3d_xyzwhxyzwh": [0, 0, 0, 1, 1, 1, 1, 1, 1, 1]}
    resp = await client.post(url(example), json={**box3d, "labels": ["crate"]}, headers=AUTH)
    assert resp.status == 201, await resp.text()
    got = await (await client.get(url(example, ann_id=(await resp.json())["id"]))).json()
    assert got["box3d_xyzwhxyzwh"] == box3d["box3d_xyzwhxyzwh"]

    # bad input names what is wrong
    again = await client.post(url(example), json={**body, "id": ann_id}, headers=AUTH)
    assert again.status == 400 and (await again.json())["error"]["field"] == "id"
    nowhere = await client.post(url(example), json={**body, "frame": "roof"}, headers=AUTH)
    assert nowhere.status == 400 and "roof" in (await nowhere.json())["error"]["message"]
    bad = await client.post(
        url(example), json={"frame": "front", "box2d_xywh": [1, 2]}, headers=AUTH
    )
    assert bad.status == 400 and "box2d_xywh" in (await bad.json())["error"]["field"]

    # change: given fields replace; a stale If-Match is refused; the id cannot change
    stale = await client.patch(
        url(example, ann_id=ann_id), json={"labels": ["x"]}, headers={**AUTH, "If-Match": etag}
    )
    assert stale.status == 412  # the 3D box was added after that ETag
    resp = await client.patch(
        url(example, ann_id=ann_id),
        json={"labels": ["bus"], "confidence": 0.5, "poly2d_xy": [0, 0, 4, 0, 4, 4]},
        headers=AUTH,
    )
    assert resp.status == 200, await resp.text()
    changed = await resp.json()
    assert (changed["labels"], changed["confidence"], changed["id"]) == (["bus"], 0.5, ann_id)
    assert "box2d_xywh" not in changed and changed["poly2d_xy"] == [[0, 0, 4, 0, 4, 4]]
    renamed = await client.patch(url(example, ann_id=ann_id), json={"id": "z"}, headers=AUTH)
    assert renamed.status == 400
    stored = {a["id"]: a for a in await front_annotations(example)}[ann_id]
    assert stored["labels"] == ["bus"] and stored["confidence"] == 0.5

    # delete
    resp = await client.delete(url(example, ann_id=ann_id), headers=AUTH)
    assert resp.status == 204
    assert ann_id not in {a["id"] for a in await front_annotations(example)}
    assert (await client.get(url(example, ann_id=ann_id))).status == 404
    assert (await client.delete(url(example, ann_id=ann_id), headers=AUTH)).status == 404


async def test_published_versions_and_openapi(client: TestClient, example: Example) -> None:
    published = f"/api/versions/{example.published_id}/frames/old-drive-000/annotations"
    listed = (await (await client.get(published)).json())["annotations"]
    assert listed
    resp = await client.post(published, json={"labels": ["x"]}, headers=AUTH)
    assert resp.status == 409 and (await resp.json())["error"]["type"] == "PublishedVersionError"
    resp = await client.delete(f"{published}/{listed[0]['id']}", headers=AUTH)
    assert resp.status == 409
    spec = await (await client.get("/api/openapi.json")).json()
    one = spec["paths"]["/api/versions/{version_id}/frames/{frame_id}/annotations/{ann_id}"]
    assert set(one) == {"get", "patch", "delete"}
    assert all("bearer" in str(one[m]["security"]) for m in ("patch", "delete"))
    assert "post" in spec["paths"]["/api/versions/{version_id}/frames/{frame_id}/annotations"]


# ---------------------------------------------------------------- version actions


async def test_snapshot_child_and_publish(client: TestClient, example: Example) -> None:
    url = f"/api/versions/{example.draft_id}/snapshot"
    body = {"publish_name": "v1-snap", "child_name": "v1-next"}
    assert (await client.post(url, json=body)).status == 401
    # a cross-site form cannot post JSON without a preflight: other bodies are refused
    resp = await client.post(url, data="x", headers={**AUTH, "Content-Type": "text/plain"})
    assert resp.status == 415
    resp = await client.post(url, json=body, headers=AUTH)
    assert resp.status == 201, await resp.text()
    out = await resp.json()
    assert (out["published"]["name"], out["published"]["state"]) == ("v1-snap", "Published")
    assert out["child"]["name"] == "v1-next"
    assert out["published"]["id"] == example.draft_id  # the snapshot keeps the id
    assert out["child"]["parents"] == [example.draft_id]
    assert out["published"]["frame_count"] == out["child"]["frame_count"] == 7

    resp = await client.post(
        "/api/datasets/city-drive/versions",
        json={"name": "v2", "parents": ["v1-snap"]},
        headers=AUTH,
    )
    assert resp.status == 201, await resp.text()
    v2 = await resp.json()
    assert (v2["state"], v2["parents"], v2["frame_count"]) == (
        "Draft",
        [out["published"]["id"]],
        7,
    )
    again = await client.post(
        "/api/datasets/city-drive/versions", json={"name": "v2"}, headers=AUTH
    )
    assert again.status == 409
    missing = await client.post("/api/datasets/city-drive/versions", json={}, headers=AUTH)
    assert missing.status == 400 and (await missing.json())["error"]["field"] == "name"

    resp = await client.post(f"/api/versions/{v2['id']}/publish", json={}, headers=AUTH)
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["state"] == "Published"
    version = await DatasetVersion.get_version_async(version_id=v2["id"])
    assert not version.is_draft
