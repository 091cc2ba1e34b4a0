"""nuScenes in (the v1.0 table layout: ``<dataroot>/v1.0-*/<table>.json``).

Each sample becomes one FrameGroup of its keyframe ``sample_data`` (cameras, lidar, radars),
frames named by channel (``CAM_FRONT``, ``LIDAR_TOP``...), in scene then time order:

- group: ``context_id`` the scene's name, ``timestamp`` the sample's (seconds),
  ``metadata["nuscenes"]`` the sample and scene tokens, the scene's description and its log;
- frame: ``source`` the file under the dataroot, its size, ``timestamp`` (seconds), and in
  ``metadata["nuscenes"]`` its token, modality, ego pose and calibrated sensor (translation,
  rotation as a w, x, y, z quaternion, camera intrinsic);
- each ``sample_annotation`` a group annotation (id its token) labelled with its category, its
  3D box as ``box3d_xyzwhxyzwh`` (``box3d`` below) and the record itself (global center, size
  w, l, h, rotation, instance, attributes, visibility, point counts) in ``metadata["nuscenes"]``.

Sweeps (non-keyframes) are not imported. The tables are read whole, as the devkit does. A
record that names a token no table has rejects its sample, named ``sample_data.json[i] (token
t)``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

from ..errors import ValidationError
from ..frames import FrameGroup, SingleFrame
from .common import Entry, FormatError, LabelSet, Pending, group_frames, read_json, reject

_CONTENT_TYPES = {"jpg": "image/jpeg", "png": "image/png"}


def _tables(folder: str, *names: str) -> list[dict[Any, dict[str, Any]]]:
    out = []
    for name in names:
        rows = read_json(os.path.join(folder, f"{name}.json"))
        if not isinstance(rows, list) or not all(
            isinstance(r, dict) and "token" in r for r in rows
        ):
            raise FormatError(f"{name}.json", "must be a list of records with a token")
        out.append({r["token"]: r for r in rows})
    return out


class NuScenesReader:
    def __init__(self, dataroot: str, *, version: str | None = None) -> None:
        self.dataroot = os.path.abspath(dataroot)
        if version is None:
            found = (
                sorted(d for d in os.listdir(self.dataroot) if d.startswith("v1.0-"))
                if os.path.isdir(self.dataroot)
                else []
            )
            if len(found) != 1:
                raise FormatError(
                    dataroot,
                    f"expected one v1.0-* table folder, found {found}; name it with --split",
                )
            version = found[0]
        self.folder = os.path.join(self.dataroot, version)
        if not os.path.isdir(self.folder):
            raise FormatError(dataroot, f"has no {version} table folder")
        self.labels = LabelSet()

    def entries(self) -> Iterator[Entry]:
        return group_frames(self._records(), None)

    def _records(self) -> Iterator[Pending | Entry]:
        (
            scenes,
            samples,
            sample_data,
            anns,
            self.sensors,
            self.calibrated,
            self.poses,
            logs,
            instances,
            categories,
            self.attributes,
            self.visibility,
        ) = _tables(
            self.folder,
            "scene",
            "sample",
            "sample_data",
            "sample_annotation",
            "sensor",
            "calibrated_sensor",
            "ego_pose",
            "log",
            "instance",
            "category",
            "attribute",
            "visibility",
        )
        for category in categories.values():
            self.labels.add(category["name"], description=category.get("description", ""))
        self.category_of = {
            t: categories.get(i.get("category_token")) for t, i in instances.items()
        }
        data_by_sample: dict[Any, list[tuple[int, dict[str, Any]]]] = {}
        for i, record in enumerate(sample_data.values()):
            if record.get("is_key_frame"):
                data_by_sample.setdefault(record.get("sample_token"), []).append((i, record))
        anns_by_sample: dict[Any, list[tuple[int, dict[str, Any]]]] = {}
        for i, record in enumerate(anns.values()):
            anns_by_sample.setdefault(record.get("sample_token"), []).append((i, record))
        order = sorted(
            enumerate(samples.values()),
            key=lambda s: (
                str((scenes.get(s[1].get("scene_token")) or {}).get("name")),
                s[1].get("timestamp", 0),
            ),
        )
        for i, sample in order:
            where = f"sample.json[{i}] (token {sample['token']})"
            try:
                scene = scenes.get(sample.get("scene_token"))
                if scene is None:
                    raise ValidationError(
                        where, f"scene_token {sample.get('scene_token')!r} names no scene"
                    )
                group = self._group(
                    sample,
                    scene,
                    logs.get(scene.get("log_token")) or {},
                    data_by_sample.get(sample["token"], []),
                    anns_by_sample.get(sample["token"], []),
                    where,
                )
            except ValidationError as exc:  # one rejection per keyframe of the sample
                for _, record in data_by_sample.get(sample["token"], []) or [(0, {})]:
                    source = os.path.join(self.dataroot, record["filename"]) if record else None
                    yield reject(exc.field, exc.reason, group=sample["token"], source=source)
                continue
            yield Pending(group, where, sample["token"], sample["token"])

    def _group(
        self,
        sample: dict[str, Any],
        scene: dict[str, Any],
        log: dict[str, Any],
        data: list[tuple[int, dict[str, Any]]],
        anns: list[tuple[int, dict[str, Any]]],
        where: str,
    ) -> FrameGroup:
        if not data:
            raise ValidationError(where, "has no keyframe sample_data")
        frames = {}
        for i, record in data:
            spot = f"sample_data.json[{i}] (token {record['token']})"
            channel, frame = self._frame(record, scene["name"], spot)
            if channel in frames:
                raise ValidationError(spot, f"a second keyframe of {channel} in one sample")
            frames[channel] = frame
        meta = {
            "sample_token": sample["token"],
            "scene_token": scene["token"],
            "scene": scene.get("name"),
            "scene_description": scene.get("description"),
            "log": {k: log.get(k) for k in ("logfile", "vehicle", "date_captured", "location")},
        }
        return FrameGroup(
            frames,
            context_id=scene["name"],
            timestamp=sample["timestamp"] / 1e6,
            metadata={"nuscenes": meta},
            annotations=[
                self._box(r, f"sample_annotation.json[{i}] (token {r['token']})") for i, r in anns
            ],
        )

    def _frame(self, record: dict[str, Any], scene: str, where: str) -> tuple[str, SingleFrame]:
        calibrated = self.calibrated.get(record.get("calibrated_sensor_token"))
        pose = self.poses.get(record.get("ego_pose_token"))
        if calibrated is None or pose is None:
            what = "calibrated_sensor_token" if calibrated is None else "ego_pose_token"
            raise ValidationError(where, f"{what} {record.get(what)!r} names no record")
        sensor = self.sensors.get(calibrated.get("sensor_token"))
        if sensor is None:
            raise ValidationError(where, "its calibrated sensor names no sensor")
        meta = {
            "token": record["token"],
            "modality": sensor.get("modality"),
            "ego_pose": {k: pose.get(k) for k in ("translation", "rotation")},
            "calibrated_sensor": {
                k: calibrated.get(k) for k in ("translation", "rotation", "camera_intrinsic")
            },
        }
        frame = SingleFrame(
            os.path.join(self.dataroot, str(record.get("filename"))),
            width=record.get("width") or None,
            height=record.get("height") or None,
            context_id=scene,
            timestamp=record["timestamp"] / 1e6,
            content_type=_CONTENT_TYPES.get(
                record.get("fileformat", ""), "application/octet-stream"
            ),
            metadata={"nuscenes": meta},
            where=where,
        )
        return str(sensor.get("channel")), frame

    def _box(self, record: dict[str, Any], where: str) -> dict[str, Any]:
        category = self.category_of.get(record.get("instance_token"))
        if category is None:
            raise ValidationError(
                where,
                f"instance_token {record.get('instance_token')!r} "
                "names no instance with a category",
            )
        meta = {
            k: record.get(k)
            for k in (
                "token",
                "instance_token",
                "translation",
                "size",
                "rotation",
                "num_lidar_pts",
                "num_radar_pts",
            )
        }
        meta["attributes"] = [
            self.attributes[t]["name"]
            for t in record.get("attribute_tokens", [])
            if t in self.attributes
        ]
        meta["visibility"] = (self.visibility.get(record.get("visibility_token")) or {}).get(
            "level"
        )
        try:
            box = box3d(record["translation"], record["size"], record["rotation"])
        except (KeyError, TypeError, ValueError, ZeroDivisionError):
            raise ValidationError(
                where,
                "a box needs translation [x, y, z], size [w, l, h] and "
                "rotation [w, x, y, z] (a non-zero quaternion)",
            ) from None
        return {
            "id": record["token"],
            "labels": [category["name"]],
            "box3d_xyzwhxyzwh": box,
            "metadata": {"nuscenes": meta},
        }


def _rotate(q: list[float], v: list[float]) -> list[float]:
    """``v`` rotated by the quaternion ``q`` (w, x, y, z; normalized here). Written out rather
    than importing pyquaternion and numpy at run time for one product: v' = v + 2w(u x v) +
    2u x (u x v), u the vector part."""
    norm = sum(c * c for c in q) ** 0.5
    w, x, y, z = (c / norm for c in q)

    def cross(a: list[float], b: list[float]) -> list[float]:
        return [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]]

    u = [x, y, z]
    t = cross(u, v)
    tt = cross(u, t)
    return [v[i] + 2 * w * t[i] + 2 * tt[i] for i in range(3)]


def box3d(center: list[float], wlh: list[float], rotation: list[float]) -> list[float]:
    """A nuScenes box (center, size w, l, h, rotation) as the reference's ``box3d_xyzwhxyzwh``:
    its front face (center, width, height) then its back face. The box's x axis (its length)
    runs from the back face to the front one, so the heading and the length are kept; a roll
    about that axis is not (nuScenes boxes have none). The exact record stays in metadata."""
    w, length, h = (float(v) for v in wlh)
    half = _rotate([float(c) for c in rotation], [length / 2, 0.0, 0.0])
    front = [float(c) + d for c, d in zip(center, half, strict=True)]
    back = [float(c) - d for c, d in zip(center, half, strict=True)]
    return [*front, w, h, *back, w, h]
