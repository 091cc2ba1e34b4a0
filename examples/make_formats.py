"""Generate small examples of the public formats frame-ingest reads: COCO (two cameras, one
file each, grouped by image name), YOLO (detection and segmentation), KITTI object (camera,
velodyne, calibration) and nuScenes (v1.0 tables: one scene of two samples, two cameras, a
lidar and a radar, 3D boxes). The tests build the same into temporary folders.

    python examples/make_formats.py      # rewrites examples/{coco,yolo,kitti,nuscenes}/
"""

from __future__ import annotations

import hashlib
import json
import struct
from pathlib import Path
from typing import Any

try:
    from examples.make_drive import H, W, scene
except ImportError:  # run as a script from examples/
    from make_drive import H, W, scene  # type: ignore[no-redef]

HERE = Path(__file__).resolve().parent
CAMERAS = {"front": (70, 110, 160), "rear": (110, 110, 130)}
CATEGORIES = [
    {"id": 1, "name": "car", "supercategory": "vehicle"},
    {
        "id": 2,
        "name": "person",
        "supercategory": "human",
        "keypoints": ["head", "foot"],
        "skeleton": [[1, 2]],
    },
]


def _image(path: Path, sky: tuple[int, int, int], car_x: int) -> list[int]:
    data, box = scene(sky, car_x)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return box


def _json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1) + "\n")


def _record(image: int, k: int, category: int, bbox: list[int], crowd: int, **more: Any) -> Any:
    return {
        "id": 100 * image + k,
        "image_id": image,
        "category_id": category,
        "bbox": bbox,
        "area": bbox[2] * bbox[3],
        "iscrowd": crowd,
        **more,
    }


def make_coco(root: Path, samples: int = 3) -> list[Path]:
    """``front.json`` and ``rear.json``: images ``<camera>/<n>.png``, a box + polygon per car,
    a person with keypoints, an RLE crowd on the first image of each camera."""
    files = []
    for camera, sky in CAMERAS.items():
        images, annotations = [], []
        for n in range(samples):
            x, y, w, h = _image(root / camera / f"{n:06d}.png", sky, 20 + 30 * n)
            image_id = n + 1
            images.append(
                {"id": image_id, "file_name": f"{camera}/{n:06d}.png", "width": W, "height": H}
            )

            annotations.append(
                _record(
                    image_id,
                    1,
                    1,
                    [x, y, w, h],
                    0,
                    segmentation=[[x, y, x + w, y, x + w, y + h, x, y + h]],
                )
            )
            annotations.append(
                _record(
                    image_id,
                    2,
                    2,
                    [120, 40, 10, 30],
                    0,
                    keypoints=[125, 42, 2, 125, 68, 1],
                    num_keypoints=2,
                )
            )
            if n == 0:  # column-major run lengths over H x W: a block of rows 0..9, cols 0..19
                counts = [0] + [v for _ in range(20) for v in (10, H - 10)]
                counts[-1] += H * W - sum(counts)
                annotations.append(
                    _record(
                        image_id,
                        3,
                        2,
                        [0, 0, 20, 10],
                        1,
                        segmentation={"size": [H, W], "counts": counts},
                    )
                )
        path = root / f"{camera}.json"
        _json(path, {"images": images, "annotations": annotations, "categories": CATEGORIES})
        files.append(path)
    return files


def make_yolo(root: Path, samples: int = 3) -> Path:
    """``data.yaml`` with train and val splits: a box per car, a polygon per road marking."""
    for split, count in (("train", samples), ("val", 1)):
        for n in range(count):
            x, y, w, h = _image(
                root / "images" / split / f"{n:06d}.png", (70, 110, 160), 20 + 30 * n
            )
            box = f"0 {(x + w / 2) / W} {(y + h / 2) / H} {w / W} {h / H}"
            poly = f"1 {78 / W} {48 / H} {82 / W} {48 / H} {82 / W} {95 / H} {78 / W} {95 / H}"
            label = root / "labels" / split / f"{n:06d}.txt"
            label.parent.mkdir(parents=True, exist_ok=True)
            label.write_text(f"{box}\n{poly}\n")
    (root / "data.yaml").write_text(
        "path: .\ntrain: images/train\nval: images/val\nnames:\n  0: car\n  1: lane\n"
    )
    return root / "data.yaml"


def make_kitti(root: Path, samples: int = 3) -> Path:
    """``training/``: image_2, label_2 (a Car and a DontCare), velodyne points, calib."""
    split = root / "training"
    for n in range(samples):
        x, y, w, h = _image(split / "image_2" / f"{n:06d}.png", (90, 140, 90), 20 + 30 * n)
        label = split / "label_2" / f"{n:06d}.txt"
        label.parent.mkdir(parents=True, exist_ok=True)
        label.write_text(
            f"Car 0.00 0 -1.58 {x}.00 {y}.00 {x + w}.00 {y + h}.00 1.50 1.60 3.90 "
            f"{n}.50 1.40 8.40 -1.56\n"
            "DontCare -1 -1 -10 100.00 40.00 140.00 60.00 -1 -1 -1 -1000 -1000 -1000 -10\n"
        )
        cloud = split / "velodyne" / f"{n:06d}.bin"
        cloud.parent.mkdir(parents=True, exist_ok=True)
        cloud.write_bytes(struct.pack("<16f", *(float(i) for i in range(16))))  # 4 points
        calib = split / "calib" / f"{n:06d}.txt"
        calib.parent.mkdir(parents=True, exist_ok=True)
        calib.write_text(
            "P2: 700 0 80 0 0 700 48 0 0 0 1 0\nTr_velo_to_cam: 0 -1 0 0 0 0 -1 0 1 0 0 0\n"
        )
    return root


def _token(*parts: Any) -> str:
    return hashlib.md5("/".join(map(str, parts)).encode()).hexdigest()


def make_nuscenes(root: Path, samples: int = 2) -> Path:
    """``v1.0-mini/``: one scene of ``samples`` samples; CAM_FRONT, CAM_BACK (PNGs), LIDAR_TOP
    and RADAR_FRONT keyframes, plus one lidar sweep; a car and a pedestrian box per sample."""
    tables: dict[str, list[dict[str, Any]]] = {}
    sensors = {
        "CAM_FRONT": "camera",
        "CAM_BACK": "camera",
        "LIDAR_TOP": "lidar",
        "RADAR_FRONT": "radar",
    }
    tables["sensor"] = [
        {"token": _token("sensor", c), "channel": c, "modality": m} for c, m in sensors.items()
    ]
    tables["calibrated_sensor"] = [
        {
            "token": _token("cs", c),
            "sensor_token": _token("sensor", c),
            "translation": [1.0, 0.0, 1.5],
            "rotation": [1.0, 0.0, 0.0, 0.0],
            "camera_intrinsic": [[700.0, 0.0, 80.0], [0.0, 700.0, 48.0], [0.0, 0.0, 1.0]]
            if m == "camera"
            else [],
        }
        for c, m in sensors.items()
    ]
    tables["category"] = [
        {"token": _token("cat", n), "name": n, "description": n}
        for n in ("vehicle.car", "human.pedestrian.adult")
    ]
    tables["attribute"] = [
        {"token": _token("attr", "moving"), "name": "vehicle.moving", "description": "moving"}
    ]
    tables["visibility"] = [{"token": "4", "level": "v80-100", "description": "visible"}]
    tables["instance"] = [
        {
            "token": _token("inst", n),
            "category_token": _token("cat", n),
            "nbr_annotations": samples,
            "first_annotation_token": _token("ann", n, 0),
            "last_annotation_token": _token("ann", n, samples - 1),
        }
        for n in ("vehicle.car", "human.pedestrian.adult")
    ]
    log, scene_token, map_token = _token("log"), _token("scene"), _token("map")
    tables["log"] = [
        {
            "token": log,
            "logfile": "n015-2018-07-24-11-22-45+0800",
            "vehicle": "n015",
            "date_captured": "2018-07-24",
            "location": "singapore-onenorth",
        }
    ]
    tables["map"] = [
        {
            "token": map_token,
            "log_tokens": [log],
            "category": "semantic_prior",
            "filename": f"maps/{map_token}.png",
        }
    ]
    _image(root / "maps" / f"{map_token}.png", (0, 0, 0), 0)
    tables["scene"] = [
        {
            "token": scene_token,
            "log_token": log,
            "nbr_samples": samples,
            "first_sample_token": _token("sample", 0),
            "last_sample_token": _token("sample", samples - 1),
            "name": "scene-0001",
            "description": "two cars, a pedestrian",
        }
    ]
    tables["sample"], tables["sample_data"], tables["ego_pose"] = [], [], []
    tables["sample_annotation"] = []
    for n in range(samples):
        stamp = 1532402927647951 + 500000 * n
        tables["sample"].append(
            {
                "token": _token("sample", n),
                "timestamp": stamp,
                "scene_token": scene_token,
                "prev": _token("sample", n - 1) if n else "",
                "next": _token("sample", n + 1) if n + 1 < samples else "",
            }
        )
        sweeps = [(c, True) for c in sensors] + [("LIDAR_TOP", False)]
        for c, key in sweeps:
            suffix = "" if key else "sweep"
            token = _token("sd", c, n, suffix)
            tables["ego_pose"].append(
                {
                    "token": token,
                    "timestamp": stamp,
                    "translation": [400.0 + n, 1100.0, 0.0],
                    "rotation": [1.0, 0.0, 0.0, 0.0],
                }
            )
            folder = "samples" if key else "sweeps"
            camera = sensors[c] == "camera"
            name = f"{folder}/{c}/{c}__{stamp + (0 if key else 50000)}"
            name += ".png" if camera else (".pcd.bin" if c == "LIDAR_TOP" else ".pcd")
            if camera:
                _image(root / name, CAMERAS["front" if c == "CAM_FRONT" else "rear"], 20 + 30 * n)
            else:
                (root / name).parent.mkdir(parents=True, exist_ok=True)
                (root / name).write_bytes(struct.pack("<10f", *(float(i) for i in range(10))))
            tables["sample_data"].append(
                {
                    "token": token,
                    "sample_token": _token("sample", n),
                    "ego_pose_token": token,
                    "calibrated_sensor_token": _token("cs", c),
                    "timestamp": stamp + (0 if key else 50000),
                    "fileformat": "png" if camera else "pcd",
                    "is_key_frame": key,
                    "height": H if camera else 0,
                    "width": W if camera else 0,
                    "filename": name,
                    "prev": "",
                    "next": "",
                }
            )
        for k, cat in enumerate(("vehicle.car", "human.pedestrian.adult")):
            tables["sample_annotation"].append(
                {
                    "token": _token("ann", cat, n),
                    "sample_token": _token("sample", n),
                    "instance_token": _token("inst", cat),
                    "visibility_token": "4",
                    "attribute_tokens": [_token("attr", "moving")] if k == 0 else [],
                    "translation": [410.0 + n, 1100.0 + 3 * k, 1.0],
                    "size": [1.9, 4.5, 1.6] if k == 0 else [0.6, 0.7, 1.8],
                    "rotation": [0.7071, 0.0, 0.0, 0.7071],
                    "num_lidar_pts": 40,
                    "num_radar_pts": 2,
                    "prev": _token("ann", cat, n - 1) if n else "",
                    "next": _token("ann", cat, n + 1) if n + 1 < samples else "",
                }
            )
    for name, rows in tables.items():
        _json(root / "v1.0-mini" / f"{name}.json", rows)
    return root


def main() -> None:
    make_coco(HERE / "coco")
    make_yolo(HERE / "yolo")
    make_kitti(HERE / "kitti")
    make_nuscenes(HERE / "nuscenes")


if __name__ == "__main__":
    main()
