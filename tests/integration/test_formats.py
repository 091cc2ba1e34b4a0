"""COCO, YOLO, KITTI and nuScenes in and COCO, YOLO out, through the ``ingest`` command, checked
by the readers the formats' authors maintain (pycocotools, nuscenes-devkit) and by YOLO's
layout rules."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from pycocotools.coco import COCO

from examples.make_formats import make_coco, make_kitti, make_nuscenes, make_yolo

from ..envs import clean_env
from ..pg import create_database
from .test_cli import run


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return clean_env(
        INGEST_DATABASE_URL=f"sqlite:///{tmp_path / 'catalog.sqlite3'}",
        INGEST_STORAGE_URL=f"file://{tmp_path / 'objects'}",
        XDG_DATA_HOME=str(tmp_path / "data"),  # where COCO RLE masks are written
    )


def ok(args: list[str], env: dict[str, str], code: int = 0) -> Any:
    done = run(args, env)
    assert done.returncode == code, done.stderr
    return done


def imported(
    env: dict[str, str], fmt: str, *args: Any, version: str = "v1", code: int = 0
) -> dict[str, Any]:
    """``ingest import --format fmt ARGS`` into D/version; its JSON summary."""
    target = ["--dataset", "D", "--version", version, "--create", "--json"]
    done = ok(["import", "--format", fmt, *map(str, args), *target], env, code)
    return json.loads(done.stdout)


def exported(env: dict[str, str], fmt: str, out: Path, *args: str) -> Any:
    return ok(
        ["export", "--format", fmt, "--dataset", "D", "--version", "v1", "-o", str(out), *args], env
    )


def documents(env: dict[str, str], version: str, dataset: str = "D") -> list[dict[str, Any]]:
    out = ok(["export", "--dataset", dataset, "--version", version], env).stdout
    return [json.loads(line) for line in out.splitlines()]


GROUP_BY = ["--group-by", "{camera}/{timestamp}.png"]


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_coco_files_of_two_cameras_become_groups_and_export_back_as_they_came(
    database: str, env: dict[str, str], tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if database == "postgresql":
        env["INGEST_DATABASE_URL"] = create_database(request.getfixturevalue("pg_admin_url"))
    files = make_coco(tmp_path / "coco")
    out = imported(env, "coco", *files, *GROUP_BY)
    s = out["summary"]
    assert (s["groups_committed"], s["frames_registered"], s["objects_uploaded"]) == (3, 6, 8)
    first = documents(env, "v1")
    assert sorted(first[0]["frames"]) == ["front", "rear"]
    ids = [a["id"] for a in first[0]["frames"]["front"]["annotations"]]
    assert ids == ["101", "101.segmentation", "102", "102.keypoints", "103"]  # COCO's ids
    assert first[0]["timestamp"] == 0 and first[0]["metadata"] == {
        "group_by": {"timestamp": "000000"}
    }

    said = exported(env, "coco", tmp_path / "one")
    assert "exported 6 frames as coco" in said.stdout + said.stderr  # SingleFrames, not groups
    whole = COCO(str(tmp_path / "one" / "annotations.json"))
    assert len(whole.imgs) == 6 and len(whole.anns) == 14  # image ids of both files made unique
    assert {c["name"] for c in whole.cats.values()} == {"car", "person"}
    crowd = next(a for a in whole.anns.values() if a["iscrowd"])
    assert whole.annToMask(crowd).sum() == 200  # the RLE is back, and decodes

    exported(env, "coco", tmp_path / "per", "--per-frame-name")
    for original in files:
        back = COCO(str(tmp_path / "per" / original.name))
        given = json.loads(original.read_text())
        assert sorted(back.anns.values(), key=lambda a: a["id"]) == given["annotations"]
        assert list(back.imgs.values()) == given["images"]
        assert list(back.cats.values()) == given["categories"]
        assert len(back.getAnnIds(catIds=[1])) == 3 and len(back.getAnnIds(catIds=[2])) == 4

    per = tmp_path / "per"
    again = imported(
        env,
        "coco",
        per / "front.json",
        per / "rear.json",
        "--images-root",
        tmp_path / "coco",
        *GROUP_BY,
        version="v2",
    )
    assert again["summary"]["objects_uploaded"] == 0  # same files, masks included
    assert documents(env, "v2") == first


def test_coco_bad_records_are_rejected_by_file_and_record_and_nothing_good_is_lost(
    env: dict[str, str], tmp_path: Path
) -> None:
    files = make_coco(tmp_path / "coco", samples=3)
    data = json.loads(files[0].read_text())
    data["annotations"][0]["bbox"] = [1, 2, -3, 4]  # image 1
    data["annotations"][3]["category_id"] = 99  # image 2
    data["annotations"].append({"id": 4242, "image_id": 77, "category_id": 1, "bbox": [0, 0, 1, 1]})
    bad = tmp_path / "coco" / "instances.json"
    bad.write_text(json.dumps(data))
    report = tmp_path / "report.jsonl"
    out = imported(env, "coco", bad, "--report", report, code=1)
    rejected = [json.loads(line) for line in report.read_text().splitlines()]
    where = sorted(r["where"] for r in rejected)
    assert where == [
        "instances.json: annotations[0] (id 101).box2d_xywh",
        "instances.json: annotations[3] (id 201)",
        "instances.json: annotations[7] (id 4242)",
    ]
    assert out["summary"]["frames_registered"] == 1  # images 3: registered + rejected = input
    assert sum(1 for r in rejected if r["source"]) == 2


def yolo_layout_errors(root: Path) -> list[str]:
    """Ultralytics' rules: data.yaml names the classes and the split folders; a label file is
    the image path with /images/ made /labels/ and .txt; a line is a class below nc and
    normalized coordinates (4 for a box, an even count of 6+ for a polygon)."""
    data = yaml.safe_load((root / "data.yaml").read_text())
    names = data["names"]
    errors = []
    for split in ("train", "val", "test"):
        if split not in data:
            continue
        for image in sorted((Path(data["path"]) / data[split]).rglob("*.png")):
            label = Path(str(image).replace("/images/", "/labels/")).with_suffix(".txt")
            if not label.is_file():
                errors.append(f"{image}: no label file")
                continue
            for line in label.read_text().splitlines():
                cls, *coords = line.split()
                values = [float(v) for v in coords]
                if int(cls) not in names or not all(0 <= v <= 1 for v in values):
                    errors.append(f"{label}: {line}")
                if len(values) != 4 and (len(values) < 6 or len(values) % 2):
                    errors.append(f"{label}: {line}")
    return errors


def test_yolo_import_export_keeps_its_layout_and_round_trips(
    env: dict[str, str], tmp_path: Path
) -> None:
    make_yolo(tmp_path / "yolo")
    out = imported(env, "yolo", tmp_path / "yolo")
    assert out["summary"]["frames_registered"] == 4
    first = documents(env, "v1")
    box = first[0]["annotations"][0]
    assert box["labels"] == ["car"] and box["box2d_xywh"] == [20.0, 50.0, 36.0, 22.0]
    assert first[0]["metadata"] == {"yolo": {"split": "train", "file": "000000.png"}}

    exported(env, "yolo", tmp_path / "out")
    assert yolo_layout_errors(tmp_path / "out") == []
    assert yaml.safe_load((tmp_path / "out" / "data.yaml").read_text())["names"] == {
        0: "car",
        1: "lane",
    }
    assert sorted(p.name for p in (tmp_path / "out" / "images").iterdir()) == ["train", "val"]
    imported(env, "yolo", tmp_path / "out", version="v2")

    def held(docs: list[dict[str, Any]]) -> list[Any]:  # what YOLO holds: not the sources
        return [(d["metadata"], d["annotations"], d["width"], d["height"]) for d in docs]

    assert held(documents(env, "v2")) == held(first)


def test_yolo_bad_line_rejects_its_image_naming_file_and_line(
    env: dict[str, str], tmp_path: Path
) -> None:
    make_yolo(tmp_path / "yolo")
    label = tmp_path / "yolo" / "labels" / "train" / "000001.txt"
    label.write_text(label.read_text() + "7 0.5 0.5 0.1 0.1\n")
    report = tmp_path / "r.jsonl"
    out = imported(env, "yolo", tmp_path / "yolo", "--report", report, code=1)
    (rejected,) = [json.loads(line) for line in report.read_text().splitlines()]
    assert rejected["where"] == "labels/train/000001.txt:3"
    assert "class 7 is not in names" in rejected["message"]
    assert out["summary"]["frames_registered"] == 3


def test_kitti_samples_become_camera_and_velodyne_groups(
    env: dict[str, str], tmp_path: Path
) -> None:
    make_kitti(tmp_path / "kitti")
    (tmp_path / "kitti" / "training" / "label_2" / "000002.txt").write_text("Car 0 0\n")
    report = tmp_path / "r.jsonl"
    out = imported(env, "kitti", tmp_path / "kitti", "--report", report, code=1)
    assert out["summary"]["groups_committed"] == 2 and out["summary"]["frames_registered"] == 4
    rejected = [json.loads(line) for line in report.read_text().splitlines()]
    assert [(r["frame_name"], r["where"]) for r in rejected] == [
        ("image_2", "training/label_2/000002.txt:1"),
        ("velodyne", "training/label_2/000002.txt:1"),
    ]  # registered + rejected = the 6 frames given
    doc = next(d for d in documents(env, "v1") if d["metadata"]["kitti"]["sample"] == "000000")
    assert sorted(doc["frames"]) == ["image_2", "velodyne"]
    assert doc["metadata"]["kitti"]["calib"]["P2"][0] == 700.0
    car, dontcare = doc["frames"]["image_2"]["annotations"]
    assert car["labels"] == ["Car"] and car["box2d_xywh"] == [20.0, 50.0, 36.0, 22.0]
    assert car["metadata"]["kitti"]["location_xyz"] == [0.5, 1.4, 8.4]
    assert dontcare["labels"] == ["DontCare"]

    export = exported(env, "coco", tmp_path / "out")
    lost = export.stderr  # what COCO cannot hold is listed, never dropped silently
    assert "coco cannot hold group metadata: 2 not exported" in lost
    assert "coco cannot hold frames without width and height (not exported): 2" in lost
    assert "coco cannot hold annotation metadata (outside 'coco'): 4 not exported" in lost
    assert len(COCO(str(tmp_path / "out" / "annotations.json")).anns) == 4


def test_nuscenes_devkit_loads_the_fixture_and_each_sample_becomes_a_group(
    env: dict[str, str], tmp_path: Path
) -> None:
    from nuscenes.nuscenes import NuScenes

    root = make_nuscenes(tmp_path / "nuscenes")
    nusc = NuScenes(version="v1.0-mini", dataroot=str(root), verbose=False)  # proves it valid
    out = imported(env, "nuscenes", root)
    assert out["summary"]["groups_committed"] == len(nusc.sample) == 2
    assert out["summary"]["frames_registered"] == 8  # keyframes only, the sweep is not
    docs = {d["metadata"]["nuscenes"]["sample_token"]: d for d in documents(env, "v1")}
    for sample in nusc.sample:
        doc = docs[sample["token"]]
        assert sorted(doc["frames"]) == sorted(sample["data"])
        assert doc["timestamp"] == sample["timestamp"] / 1e6
        assert doc["context_id"] == nusc.get("scene", sample["scene_token"])["name"]
        for channel, token in sample["data"].items():
            record = nusc.get("sample_data", token)
            frame = doc["frames"][channel]
            pose = nusc.get("ego_pose", record["ego_pose_token"])
            assert frame["metadata"]["nuscenes"]["ego_pose"]["translation"] == pose["translation"]
            calibrated = nusc.get("calibrated_sensor", record["calibrated_sensor_token"])
            meta = frame["metadata"]["nuscenes"]["calibrated_sensor"]
            assert meta["camera_intrinsic"] == calibrated["camera_intrinsic"]
            assert os.path.basename(frame["source"]).endswith(os.path.basename(record["filename"]))
        boxes = {a["metadata"]["nuscenes"]["token"]: a for a in doc["annotations"]}
        assert sorted(boxes) == sorted(sample["anns"])
        for token in sample["anns"]:
            box = nusc.get_box(token)
            meta = boxes[token]["metadata"]["nuscenes"]
            assert boxes[token]["labels"] == [box.name]
            assert meta["translation"] == list(box.center) and meta["size"] == list(box.wlh)
            corners = box.corners()  # the devkit's: the first four make the front face
            faces = [*corners[:, :4].mean(axis=1), *corners[:, 4:].mean(axis=1)]
            got = boxes[token]["box3d_xyzwhxyzwh"]
            assert got[3:5] == got[8:10] == [box.wlh[0], box.wlh[2]]
            assert got[:3] + got[5:8] == pytest.approx(faces, abs=1e-3)
            assert boxes[token]["id"] == token


def test_the_library_imports_and_exports_formats_like_the_command(
    lib: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ingest import DatasetVersion

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    files = make_coco(tmp_path / "coco", samples=2)
    version = DatasetVersion.create_new_dataset("F", version_name="v1")
    report = version.import_format("coco", [str(f) for f in files], group_by=GROUP_BY[1])
    assert report.summary.groups_committed == 2 and not report.rejected
    label_set = version.get_metadata()["label_set"]
    assert [(c["id"], c["name"]) for c in label_set] == [(1, "car"), (2, "person")]
    written = version.export_format("coco", str(tmp_path / "out"), per_frame_name=True)
    assert sorted(Path(p).name for p in written) == ["front.json", "rear.json"]
    assert version.last_export_losses == ["coco cannot hold group metadata: 2 not exported"]
    assert len(COCO(written[0]).anns) == 5


EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.mark.parametrize(
    ("fmt", "args", "groups"),
    [
        ("coco", ["coco/front.json", "coco/rear.json", *GROUP_BY], 3),
        ("yolo", ["yolo"], 4),
        ("kitti", ["kitti"], 3),
        ("nuscenes", ["nuscenes"], 2),
    ],
)
def test_the_examples_import_whole(
    fmt: str, args: list[str], groups: int, env: dict[str, str]
) -> None:
    paths = [str(EXAMPLES / a) if not a.startswith("-") and "{" not in a else a for a in args]
    out = imported(env, fmt, *paths, version=fmt)
    assert out["summary"]["groups_committed"] == groups and not out["summary"]["frames_rejected"]
