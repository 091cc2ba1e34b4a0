"""The annotation shapes of the reference SDK and their coordinate checks (pure).

Each checker takes what a user may pass (the reference docs' forms: tuples, lists, a list of
(x, y) pairs) and returns the one stored form, or raises ``ValidationError`` naming the field:

| shape              | given as                                          | stored as               |
| ------------------ | ------------------------------------------------- | ----------------------- |
| box2d_xywh         | [x, y, w, h]                                      | same                    |
| ellipse2d_xyrrt    | [cx, cy, rx, ry, theta]                           | same                    |
| box3d_xyzwhxyzwh   | [x, y, z, w, h, x, y, z, w, h] (two faces)        | same                    |
| poly2d_xy          | [x1, y1, ...] or [(x1, y1), ...]: ONE polygon;    | list of flat polygons   |
|                    | a list of those: several polygons                 |                         |
| poly3d_xyz         | the same with (x, y, z)                           | list of flat polygons   |
| points2d_xy        | [x1, y1, ...] or [(x1, y1), ...]                  | flat [x1, y1, ...]      |
| points3d_xyz       | [x1, y1, z1, ...] or [(x1, y1, z1), ...]          | flat                    |
| keypoints          | [x1, y1, ...] or [(x1, y1), ...]                  | flat                    |
| mask_rgb           | (r, g, b), integers in 0..255                     | [r, g, b]               |
| frame_class        | a label or a list of labels (a frame's class)     | list of labels          |
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .errors import ValidationError
from .fields import check_labels, finite_numbers

_NUMBERS = "must be a list of finite numbers"


def _fixed(size: int, form: str, kind: str, sizes: tuple[int, ...], what: str) -> Any:
    def check(value: Any, spot: str) -> list[Any]:
        if not finite_numbers(value):
            raise ValidationError(spot, f"{_NUMBERS}, got {value!r}")
        if len(value) != size:
            raise ValidationError(spot, f"{kind} is {form}, got {len(value)} numbers")
        if any(value[i] < 0 for i in sizes):
            raise ValidationError(spot, f"{what} must be >= 0, got {list(value)}")
        return list(value)

    return check


def _flat(value: Any, dim: int) -> list[Any] | None:
    """``value`` as a flat coordinate list: already flat, or a list of ``dim``-tuples; else None."""
    if finite_numbers(value):
        return list(value)
    if not isinstance(value, list | tuple) or not value:
        return None
    out: list[Any] = []
    for point in value:
        if not finite_numbers(point) or len(point) != dim:
            return None
        out.extend(point)
    return out


def _polygons(dim: int, axes: str) -> Any:
    form = f"[{axes[0]}1, {axes[1]}1, ...]"

    def one(value: Any, spot: str) -> list[Any]:
        flat = _flat(value, dim)
        if flat is None:
            raise ValidationError(
                spot, f"{_NUMBERS} or of ({', '.join(axes)}) points, got {value!r}"
            )
        if len(flat) % dim:
            count = "an even count" if dim == 2 else f"a count divisible by {dim}"
            raise ValidationError(spot, f"a polygon needs {count} of coordinates, got {len(flat)}")
        if len(flat) < 3 * dim:
            raise ValidationError(spot, "a polygon needs at least 3 points")
        return flat

    def check(value: Any, spot: str) -> list[list[Any]]:
        if not isinstance(value, list | tuple) or not value:
            raise ValidationError(spot, f"must be a polygon {form} or a list of polygons")
        if _flat(value, dim) is not None:  # one polygon: flat, or a list of points
            return [one(value, spot)]
        return [one(polygon, f"{spot}[{i}]") for i, polygon in enumerate(value)]

    return check


def _points(dim: int, axes: str, min_points: int) -> Any:
    form = "[" + ", ".join(f"{a}1" for a in axes) + ", ...]"

    def check(value: Any, spot: str) -> list[Any]:
        flat = _flat(value, dim) if value != [] else []
        if flat is None:
            raise ValidationError(
                spot, f"{_NUMBERS} or of ({', '.join(axes)}) points, got {value!r}"
            )
        if len(flat) % dim:
            count = "an odd count" if dim == 2 else "a count not divisible by 3"
            raise ValidationError(spot, f"points are {form}, got {count} ({len(flat)})")
        if len(flat) < min_points * dim:
            raise ValidationError(spot, f"needs at least {min_points} point(s)")
        return flat

    return check


def _mask_rgb(value: Any, spot: str) -> list[int]:
    if (
        not isinstance(value, list | tuple)
        or len(value) != 3
        or not all(type(v) is int and 0 <= v <= 255 for v in value)
    ):
        raise ValidationError(spot, f"must be (r, g, b), integers in 0..255, got {value!r}")
    return list(value)


def _frame_class(value: Any, spot: str) -> list[str]:
    labels = check_labels(value, spot.rsplit(".", 1)[0])
    if not labels:
        raise ValidationError(spot, "must name at least one class")
    return labels


CHECKS: dict[str, Callable[[Any, str], Any]] = {
    "box2d_xywh": _fixed(4, "[x, y, width, height]", "a box", (2, 3), "box width and height"),
    "poly2d_xy": _polygons(2, "xy"),
    "points2d_xy": _points(2, "xy", 1),
    "ellipse2d_xyrrt": _fixed(5, "[x, y, rx, ry, theta]", "an ellipse", (2, 3), "ellipse radii"),
    "keypoints": _points(2, "xy", 0),
    "box3d_xyzwhxyzwh": _fixed(
        10, "[x, y, z, w, h, x, y, z, w, h]", "a 3D box", (3, 4, 8, 9), "3D box widths and heights"
    ),
    "poly3d_xyz": _polygons(3, "xyz"),
    "points3d_xyz": _points(3, "xyz", 1),
    "mask_rgb": _mask_rgb,
    "frame_class": _frame_class,
}
SHAPES = tuple(CHECKS)


def check_shape(shape: str, value: Any, where: str) -> Any:
    """Validate one shape's coordinates; ``where`` names the annotation."""
    check = CHECKS.get(shape)
    if check is None:
        raise ValidationError(
            where, f"unknown annotation shape {shape!r}; known: {', '.join(SHAPES)}"
        )
    return check(value, f"{where}.{shape}")
