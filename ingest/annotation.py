"""Annotations: an ROI (box, polygon(s), ellipse, keypoints) or, with labels only, a frame
label; and the ``add_annotation`` method frames and groups share (pure)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from .errors import ValidationError
from .fields import check_labels, check_metadata, finite_numbers, is_number

SHAPES = ("box2d_xywh", "poly2d_xy", "ellipse2d_xyrrt", "keypoints")
_ANNOTATION_KEYS = frozenset({"labels", "confidence", "metadata", *SHAPES})
_SHAPE_SET = frozenset(SHAPES)


def _check_shape(shape: str, value: Any, where: str) -> Any:
    """Validate one shape's coordinates; ``where`` names the annotation (paths built on error)."""
    if shape == "box2d_xywh" or shape == "ellipse2d_xyrrt":
        size = 4 if shape == "box2d_xywh" else 5
        if not finite_numbers(value):
            raise ValidationError(
                f"{where}.{shape}", f"must be a list of finite numbers, got {value!r}"
            )
        if len(value) != size:
            form = "[x, y, width, height]" if size == 4 else "[x, y, rx, ry, theta]"
            kind = "a box" if size == 4 else "an ellipse"
            raise ValidationError(f"{where}.{shape}", f"{kind} is {form}, got {len(value)} numbers")
        if value[2] < 0 or value[3] < 0:
            what = "box width and height" if size == 4 else "ellipse radii"
            raise ValidationError(f"{where}.{shape}", f"{what} must be >= 0, got {list(value)}")
        return list(value)
    if shape == "poly2d_xy":
        if not isinstance(value, list | tuple) or not value:
            raise ValidationError(
                f"{where}.{shape}", "must be a polygon [x1, y1, ...] or a list of polygons"
            )
        nested = not is_number(value[0])
        polygons = value if nested else [value]
        out = []
        for i, polygon in enumerate(polygons):
            if finite_numbers(polygon) and len(polygon) % 2 == 0 and len(polygon) >= 6:
                out.append(list(polygon))
                continue
            spot = f"{where}.{shape}[{i}]" if nested else f"{where}.{shape}"
            if not finite_numbers(polygon):
                raise ValidationError(spot, f"must be a list of finite numbers, got {polygon!r}")
            if len(polygon) % 2:
                raise ValidationError(
                    spot, f"a polygon needs an even count of coordinates, got {len(polygon)}"
                )
            raise ValidationError(spot, "a polygon needs at least 3 points")
        return out
    if shape == "keypoints":
        if not finite_numbers(value):
            raise ValidationError(
                f"{where}.{shape}", f"must be a list of finite numbers, got {value!r}"
            )
        if len(value) % 2:
            raise ValidationError(
                f"{where}.{shape}",
                f"keypoints are [x1, y1, x2, y2, ...], got an odd count ({len(value)})",
            )
        return list(value)
    raise ValidationError(where, f"unknown annotation shape {shape!r}; known: {', '.join(SHAPES)}")


class Annotation:
    """An ROI (one shape) or, with labels only, a frame label."""

    __slots__ = ("confidence", "coords", "labels", "metadata", "shape")

    def __init__(
        self,
        *,
        box2d_xywh: Sequence[float] | None = None,
        poly2d_xy: Sequence[Any] | None = None,
        ellipse2d_xyrrt: Sequence[float] | None = None,
        keypoints: Sequence[float] | None = None,
        labels: Sequence[str] | str | None = None,
        confidence: float | None = None,
        metadata: dict[str, Any] | None = None,
        where: str = "annotation",
    ) -> None:
        shape = None
        for name, value in (
            ("box2d_xywh", box2d_xywh),
            ("poly2d_xy", poly2d_xy),
            ("ellipse2d_xyrrt", ellipse2d_xyrrt),
            ("keypoints", keypoints),
        ):
            if value is not None:
                if shape is not None:
                    raise ValidationError(where, f"one shape per annotation, got {shape}, {name}")
                shape, coords = name, value
        self._fill(where, shape, coords if shape else None, labels, confidence, metadata)

    def _fill(
        self,
        where: str,
        shape: str | None,
        coords: Any,
        labels: Any,
        confidence: Any,
        metadata: Any,
    ) -> None:
        self.shape = shape
        self.coords = _check_shape(shape, coords, where) if shape is not None else None
        self.labels = check_labels(labels, where)
        if shape is None and not self.labels:
            raise ValidationError(where, "needs a shape or at least one label")
        if confidence is not None and (not is_number(confidence) or not 0 <= confidence <= 1):
            raise ValidationError(
                f"{where}.confidence", f"must be a number in [0, 1], got {confidence!r}"
            )
        self.confidence = confidence
        self.metadata = check_metadata(metadata, where, "metadata")

    @property
    def is_frame_label(self) -> bool:
        return self.shape is None

    def to_doc(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"labels": self.labels, "confidence": self.confidence}
        if self.shape is not None:
            doc[self.shape] = self.coords
        doc["metadata"] = self.metadata
        return doc

    @classmethod
    def from_doc(cls, doc: Any, where: str = "annotation") -> Annotation:
        if isinstance(doc, Annotation):
            return doc
        if not isinstance(doc, dict):
            raise ValidationError(where, f"must be an object, got {type(doc).__name__}")
        shape = None
        for key in doc:  # the hot path of manifest parsing: no keyword-argument detour
            if key in _SHAPE_SET:
                if doc[key] is None:
                    continue
                if shape is not None:
                    raise ValidationError(where, f"one shape per annotation, got {shape}, {key}")
                shape = key
            elif key not in _ANNOTATION_KEYS:
                unknown = sorted(map(str, doc.keys() - _ANNOTATION_KEYS))
                raise ValidationError(
                    where, f"unknown field(s) {', '.join(unknown)}; shapes are {', '.join(SHAPES)}"
                )
        self = cls.__new__(cls)
        self._fill(
            where,
            shape,
            doc[shape] if shape else None,
            doc.get("labels"),
            doc.get("confidence"),
            doc.get("metadata"),
        )
        return self

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Annotation) and self.to_doc() == other.to_doc()

    def __repr__(self) -> str:
        return f"Annotation({self.to_doc()!r})"


def annotations_from(value: Any, where: str) -> list[Annotation]:
    """``where`` names the owner; ``<where>.annotations[i]`` is built on error only."""
    if value is None:
        return []
    if isinstance(value, str | bytes | dict) or not isinstance(value, Iterable):
        raise ValidationError(f"{where}.annotations", f"must be a list, got {type(value).__name__}")
    value = list(value)  # any iterable of annotations (a generator too) is taken once
    try:
        return [Annotation.from_doc(a, where) for a in value]
    except ValidationError:  # redo with each annotation's own position in the messages
        return [Annotation.from_doc(a, f"{where}.annotations[{i}]") for i, a in enumerate(value)]


def annotation_adder(where: str, doc: str) -> Any:
    """The ``add_annotation`` method of frames and groups (same signature, own list)."""

    def add(
        self: Any,
        box2d_xywh: Sequence[float] | None = None,
        poly2d_xy: Sequence[Any] | None = None,
        ellipse2d_xyrrt: Sequence[float] | None = None,
        keypoints: Sequence[float] | None = None,
        labels: Sequence[str] | str | None = None,
        confidence: float | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> Annotation:
        annotation = Annotation(
            box2d_xywh=box2d_xywh,
            poly2d_xy=poly2d_xy,
            ellipse2d_xyrrt=ellipse2d_xyrrt,
            keypoints=keypoints,
            labels=labels,
            confidence=confidence,
            metadata=metadata,
            where=f"{where}[{len(self.annotations)}]",
        )
        self.annotations.append(annotation)
        return annotation

    add.__doc__ = doc
    return add
