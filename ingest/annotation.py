"""Annotations: an ROI (one shape of ``shapes.SHAPES``) or, with labels only, a frame label;
each with a stable string id, unique within its frame (pure).

Ids: given (``id=``) or generated from the annotation's content (``content_id``: the same
annotation gets the same id on every run, so re-importing an input rewrites nothing); a second
annotation with the same content in one frame gets ``<id>-2``, ``<id>-3``... in list order.
Documents of schema_version 1 have no annotation ids: reading one generates them the same way.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import Any

import orjson

from .errors import NotFoundError, ValidationError
from .fields import check_id_field, check_labels, check_metadata, is_number
from .shapes import SHAPES, check_shape

__all__ = [
    "SHAPES",
    "Annotation",
    "AnnotationNotFound",
    "Annotations",
    "ImageAnnotation",
    "annotations_from",
    "content_id",
    "settle_ids",
]

_ANNOTATION_KEYS = frozenset({"id", "labels", "confidence", "metadata", *SHAPES})
_SHAPE_SET = frozenset(SHAPES)


class AnnotationNotFound(NotFoundError):
    """No annotation of the frame matches what was asked for."""


def content_id(doc: dict[str, Any]) -> str:
    """The generated id of an annotation: a digest of its document with ``"id": null``."""
    return hashlib.blake2b(orjson.dumps(doc), digest_size=8).hexdigest()


class Annotation:
    """An ROI (one shape) or, with labels only (or ``frame_class``), a frame label."""

    __slots__ = ("_generated", "confidence", "coords", "id", "labels", "metadata", "shape")

    def __init__(
        self,
        *,
        poly2d_xy: Sequence[Any] | None = None,
        poly3d_xyz: Sequence[Any] | None = None,
        points2d_xy: Sequence[Any] | None = None,
        points3d_xyz: Sequence[Any] | None = None,
        box2d_xywh: Sequence[float] | None = None,
        box3d_xyzwhxyzwh: Sequence[float] | None = None,
        ellipse2d_xyrrt: Sequence[float] | None = None,
        mask_rgb: Sequence[int] | None = None,
        frame_class: Sequence[str] | str | None = None,
        keypoints: Sequence[Any] | None = None,
        id: str | None = None,
        labels: Sequence[str] | str | None = None,
        confidence: float | None = None,
        metadata: dict[str, Any] | None = None,
        where: str = "annotation",
    ) -> None:
        given = {
            "poly2d_xy": poly2d_xy,
            "poly3d_xyz": poly3d_xyz,
            "points2d_xy": points2d_xy,
            "points3d_xyz": points3d_xyz,
            "box2d_xywh": box2d_xywh,
            "box3d_xyzwhxyzwh": box3d_xyzwhxyzwh,
            "ellipse2d_xyrrt": ellipse2d_xyrrt,
            "mask_rgb": mask_rgb,
            "frame_class": frame_class,
            "keypoints": keypoints,
        }
        shapes = [name for name, value in given.items() if value is not None]
        if len(shapes) > 1:
            raise ValidationError(where, f"one shape per annotation, got {', '.join(shapes)}")
        shape = shapes[0] if shapes else None
        self._fill(where, id, shape, given[shape] if shape else None, labels, confidence, metadata)

    def _fill(
        self,
        where: str,
        id: Any,
        shape: str | None,
        coords: Any,
        labels: Any,
        confidence: Any,
        metadata: Any,
    ) -> None:
        self.shape = shape
        self.coords = check_shape(shape, coords, where) if shape is not None else None
        self.labels = check_labels(labels, where)
        if shape is None and not self.labels:
            raise ValidationError(where, "needs a shape or at least one label")
        if confidence is not None and (not is_number(confidence) or not 0 <= confidence <= 1):
            raise ValidationError(
                f"{where}.confidence", f"must be a number in [0, 1], got {confidence!r}"
            )
        self.confidence = confidence
        self.metadata = check_metadata(metadata, where, "metadata")
        self.id = check_id_field(id, where)
        self._generated = self.id is None
        if self.id is None:
            self.id = content_id({"id": None, **self._body()})

    def __getattr__(self, name: str) -> Any:
        """``annotation.box2d_xywh`` etc.: the coordinates if that is its shape, else None."""
        if name in _SHAPE_SET:
            return self.coords if self.shape == name else None
        raise AttributeError(name)

    @property
    def is_frame_label(self) -> bool:
        return self.shape is None or self.shape == "frame_class"

    @property
    def frame_labels(self) -> list[str]:
        """The frame-level labels this annotation gives (none for an ROI)."""
        if self.shape == "frame_class":
            return list(self.coords or ())
        return list(self.labels) if self.shape is None else []

    def _body(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"labels": self.labels, "confidence": self.confidence}
        if self.shape is not None:
            doc[self.shape] = self.coords
        doc["metadata"] = self.metadata
        return doc

    def to_doc(self) -> dict[str, Any]:
        return {"id": self.id, **self._body()}

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
            doc.get("id"),
            shape,
            doc[shape] if shape else None,
            doc.get("labels"),
            doc.get("confidence"),
            doc.get("metadata"),
        )
        return self

    def matches(
        self, id: str | None, labels: Sequence[str] | str | None, metadata: dict[str, Any] | None
    ) -> bool:
        if id is not None and self.id != id:
            return False
        if labels is not None:
            wanted = [labels] if isinstance(labels, str) else labels
            if not any(label in self.labels or label in self.frame_labels for label in wanted):
                return False
        if metadata is not None:
            return all(k in self.metadata and self.metadata[k] == v for k, v in metadata.items())
        return True

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Annotation) and self.to_doc() == other.to_doc()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.to_doc()!r})"


class ImageAnnotation(Annotation):
    """The reference SDK's annotation class (``frame_group.add_global_annotation(annotation=
    ImageAnnotation(labels=[...]))``): an ``Annotation``."""

    __slots__ = ()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if args:
            raise TypeError("ImageAnnotation takes keyword arguments only")
        super().__init__(**kwargs)


def settle_ids(annotations: list[Annotation], where: str) -> list[Annotation]:
    """Make ids unique within one list (``where`` names it): a given id twice is an error
    naming both places; a generated id already taken gets ``-2``, ``-3``... (list order, so it
    is deterministic)."""
    given: dict[str, int] = {}
    for i, a in enumerate(annotations):
        if not a._generated:
            if a.id in given:
                raise ValidationError(
                    f"{where}[{i}].id",
                    f"duplicate annotation id {a.id!r} (also annotations[{given[a.id]}])",
                )
            given[a.id] = i  # type: ignore[index]
    taken = set(given)
    for a in annotations:
        if a._generated:
            base, n = a.id, 1
            while a.id in taken:
                n += 1
                a.id = f"{base}-{n}"
            taken.add(a.id)  # type: ignore[arg-type]
    return annotations


def annotations_from(value: Any, where: str) -> list[Annotation]:
    """``where`` names the owner; ``<where>.annotations[i]`` is built on error only."""
    if value is None:
        return []
    if isinstance(value, str | bytes | dict) or not isinstance(value, Iterable):
        raise ValidationError(f"{where}.annotations", f"must be a list, got {type(value).__name__}")
    value = list(value)  # any iterable of annotations (a generator too) is taken once
    try:
        out = [Annotation.from_doc(a, where) for a in value]
    except ValidationError:  # redo with each annotation's own position in the messages
        out = [Annotation.from_doc(a, f"{where}.annotations[{i}]") for i, a in enumerate(value)]
    return settle_ids(out, f"{where}.annotations")


class Annotations:
    """The annotation methods frames share (``add_annotation``, ``get_annotations``,
    ``remove_annotation(s)``) over their ``annotations`` list; FrameGroup uses them, under
    ``*_global_*`` names, for the group's own annotations."""

    __slots__ = ()
    annotations: list[Annotation]

    def add_annotation(
        self,
        poly2d_xy: Sequence[Any] | None = None,
        poly3d_xyz: Sequence[Any] | None = None,
        points2d_xy: Sequence[Any] | None = None,
        points3d_xyz: Sequence[Any] | None = None,
        box2d_xywh: Sequence[float] | None = None,
        box3d_xyzwhxyzwh: Sequence[float] | None = None,
        ellipse2d_xyrrt: Sequence[float] | None = None,
        mask_rgb: Sequence[int] | None = None,
        frame_class: Sequence[str] | str | None = None,
        id: str | None = None,
        labels: Sequence[str] | str | None = None,
        confidence: float | None = None,
        metadata: dict[str, Any] | None = None,
        keypoints: Sequence[Any] | None = None,
        annotation: Annotation | None = None,
    ) -> Annotation:
        """Add an ROI (one shape); with ``labels`` only (or ``frame_class``) a frame label.
        ``annotation=`` adds an ``Annotation`` / ``ImageAnnotation`` object instead. Returns
        the annotation, its ``id`` set (given, or generated and unique within this frame)."""
        where = f"{self._annotations_where()}[{len(self.annotations)}]"
        if annotation is not None:
            if not isinstance(annotation, Annotation):
                raise ValidationError(
                    where, f"must be an Annotation, got {type(annotation).__name__}"
                )
        else:
            annotation = Annotation(
                poly2d_xy=poly2d_xy,
                poly3d_xyz=poly3d_xyz,
                points2d_xy=points2d_xy,
                points3d_xyz=points3d_xyz,
                box2d_xywh=box2d_xywh,
                box3d_xyzwhxyzwh=box3d_xyzwhxyzwh,
                ellipse2d_xyrrt=ellipse2d_xyrrt,
                mask_rgb=mask_rgb,
                frame_class=frame_class,
                keypoints=keypoints,
                id=id,
                labels=labels,
                confidence=confidence,
                metadata=metadata,
                where=where,
            )
        settle_ids([*self.annotations, annotation], self._annotations_where())
        self.annotations.append(annotation)
        return annotation

    def _annotations_where(self) -> str:
        return "annotations"

    def get_annotations(
        self,
        id: str | None = None,
        index: int | None = None,
        labels: Sequence[str] | str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> list[Annotation]:
        """The annotations matching every filter given: ``id``, ``index`` (position in the
        list), ``labels`` (having any of these labels; a frame class counts), ``metadata``
        (holding these key/values). No filter: all of them. The objects themselves: edit
        them, then ``update_frames``."""
        candidates = self.annotations
        if index is not None:
            try:
                candidates = [candidates[index]]
            except IndexError:
                candidates = []
        return [a for a in candidates if a.matches(id, labels, metadata)]

    def remove_annotation(
        self,
        annotation: Annotation | None = None,
        id: str | None = None,
        index: int | None = None,
    ) -> Annotation:
        """Remove one annotation (the object, or by ``id`` or ``index``) and return it;
        ``AnnotationNotFound`` if there is none such."""
        if annotation is not None:
            found = [a for a in self.annotations if a is annotation or a == annotation][:1]
        elif id is None and index is None:
            raise TypeError("remove_annotation needs annotation=, id= or index=")
        else:
            found = Annotations.get_annotations(self, id=id, index=index)
        if not found:
            what = annotation if annotation is not None else id if id is not None else index
            raise AnnotationNotFound(f"no annotation {what!r} in this frame")
        self.annotations.remove(found[0])
        return found[0]

    def remove_annotations(
        self,
        id: str | None = None,
        index: int | None = None,
        labels: Sequence[str] | str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> list[Annotation]:
        """Remove every annotation ``get_annotations`` would return for these filters (all of
        them when none is given); return the removed ones."""
        removed = Annotations.get_annotations(self, id, index, labels, metadata)
        self.annotations[:] = [a for a in self.annotations if all(a is not r for r in removed)]
        return removed
