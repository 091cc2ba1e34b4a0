"""The data model: SingleFrame, FrameGroup, Annotation, and their JSON document form.

Pure: no I/O. The document form (``to_doc`` / ``from_doc``) is what the catalog stores, what
manifests contain and what the REST API returns. It is versioned by ``schema_version`` (now 1);
see the README, section "The JSON document form".
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Iterator, Mapping, MutableMapping, Sequence
from typing import Any

import orjson

from .errors import ValidationError
from .limits import INT_MAX, INT_MIN, check_id, check_json_value, check_uri

SCHEMA_VERSION = 1

SHAPES = ("box2d_xywh", "poly2d_xy", "ellipse2d_xyrrt", "keypoints")

_FRAME_KEYS = frozenset(
    {
        "schema_version",
        "id",
        "source",
        "width",
        "height",
        "preview_uri",
        "content_type",
        "metadata",
        "masks",
        "annotations",
        "context_id",
        "timestamp",
    }
)
_GROUP_KEYS = frozenset(
    {"schema_version", "id", "context_id", "timestamp", "metadata", "annotations", "frames"}
)
_ANNOTATION_KEYS = frozenset({"labels", "confidence", "metadata", *SHAPES})
_SHAPE_SET = frozenset(SHAPES)


def _is_number(value: Any) -> bool:
    """A finite number that serialises: a float, or an integer within 64 bits (signed)."""
    kind = type(value)
    if kind is int:
        return INT_MIN <= value <= INT_MAX
    if kind is float:
        return math.isfinite(value)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return INT_MIN <= value <= INT_MAX if isinstance(value, int) else math.isfinite(value)


def _finite_numbers(value: Any) -> bool:
    if type(value) is not list and not isinstance(value, list | tuple):
        return False
    for v in value:
        kind = type(v)
        if (kind is int and INT_MIN <= v <= INT_MAX) or (kind is float and math.isfinite(v)):
            continue
        if not _is_number(v):
            return False
    return True


def _check_shape(shape: str, value: Any, where: str) -> Any:
    """Validate one shape's coordinates; ``where`` names the annotation (paths built on error)."""
    if shape == "box2d_xywh" or shape == "ellipse2d_xyrrt":
        size = 4 if shape == "box2d_xywh" else 5
        if not _finite_numbers(value):
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
        nested = not _is_number(value[0])
        polygons = value if nested else [value]
        out = []
        for i, polygon in enumerate(polygons):
            if _finite_numbers(polygon) and len(polygon) % 2 == 0 and len(polygon) >= 6:
                out.append(list(polygon))
                continue
            spot = f"{where}.{shape}[{i}]" if nested else f"{where}.{shape}"
            if not _finite_numbers(polygon):
                raise ValidationError(spot, f"must be a list of finite numbers, got {polygon!r}")
            if len(polygon) % 2:
                raise ValidationError(
                    spot, f"a polygon needs an even count of coordinates, got {len(polygon)}"
                )
            raise ValidationError(spot, "a polygon needs at least 3 points")
        return out
    if shape == "keypoints":
        if not _finite_numbers(value):
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


def _path(where: str, field: str) -> str:
    """The field path for an error message (built only when there is an error)."""
    return f"{where}.{field}" if field else where


def _check_metadata(value: Any, where: str, field: str = "") -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValidationError(
            _path(where, field), f"must be a JSON object, got {type(value).__name__}"
        )
    if value:
        check_json_value(value, _path(where, field))  # string keys, depth, 64-bit integers
    return value


def _check_labels(value: Any, where: str) -> list[str]:
    """``where`` names the owner; the field path is built on error only."""
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if isinstance(value, list | tuple):
        for v in value:
            if type(v) is not str or not v:
                break
        else:
            return list(value)
    raise ValidationError(f"{where}.labels", f"must be a list of non-empty strings, got {value!r}")


def _check_timestamp(value: Any, where: str, field: str = "") -> float | int | None:
    if value is None or _is_number(value):
        return value  # type: ignore[no-any-return]
    if isinstance(value, int) and not isinstance(value, bool):
        raise ValidationError(_path(where, field), "must be a number within 64 bits (signed)")
    raise ValidationError(
        _path(where, field), f"must be a number (e.g. seconds since epoch), got {value!r}"
    )


def _check_dimension(value: Any, where: str, field: str = "") -> int | None:
    if value is None or (type(value) is int and 0 < value <= INT_MAX):
        return value
    if type(value) is int and value > 0:
        raise ValidationError(_path(where, field), "must be a positive integer within 64 bits")
    raise ValidationError(_path(where, field), f"must be a positive integer, got {value!r}")


def _check_text(value: Any, where: str, field: str = "", *, optional: bool = True) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value:
        raise ValidationError(_path(where, field), f"must be a non-empty string, got {value!r}")
    return value


def _check_id(value: Any, where: str, field: str = "id") -> str | None:
    """An optional id: a non-empty string within ``limits.MAX_ID_LENGTH``, no control chars."""
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise ValidationError(_path(where, field), f"must be a non-empty string, got {value!r}")
    return check_id(value, _path(where, field))


def _check_uri(value: Any, where: str, field: str = "", *, optional: bool = True) -> str | None:
    text = _check_text(value, where, field, optional=optional)
    return text if text is None else check_uri(text, _path(where, field))


def check_frame_name(name: Any, where: str = "frame name") -> str:
    """A frame name is a non-empty string without '/' (names become object key parts), within
    the id limits (``limits.check_id``: URL segments of the web app)."""
    if not isinstance(name, str) or not name:
        raise ValidationError(where, f"must be a non-empty string, got {name!r}")
    if "/" in name:
        raise ValidationError(where, f"must not contain '/', got {name!r}")
    return check_id(name, where)


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
        self.labels = _check_labels(labels, where)
        if shape is None and not self.labels:
            raise ValidationError(where, "needs a shape or at least one label")
        if confidence is not None and (not _is_number(confidence) or not 0 <= confidence <= 1):
            raise ValidationError(
                f"{where}.confidence", f"must be a number in [0, 1], got {confidence!r}"
            )
        self.confidence = confidence
        if metadata is None:
            self.metadata = {}
        elif type(metadata) is dict and all(type(k) is str for k in metadata):
            if metadata:
                check_json_value(metadata, f"{where}.metadata")
            self.metadata = metadata
        else:
            self.metadata = _check_metadata(metadata, where, "metadata")

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


def _annotations(value: Any, where: str) -> list[Annotation]:
    """``where`` names the owner; ``<where>.annotations[i]`` is built on error only."""
    if value is None:
        return []
    if not isinstance(value, list | tuple):
        raise ValidationError(f"{where}.annotations", f"must be a list, got {type(value).__name__}")
    try:
        return [Annotation.from_doc(a, where) for a in value]
    except ValidationError:  # redo with each annotation's own position in the messages
        return [Annotation.from_doc(a, f"{where}.annotations[{i}]") for i, a in enumerate(value)]


def _masks(mask_source: Any, masks_source: Any, owner: str) -> dict[str, str]:
    masks: dict[str, str] = {}
    where = f"{owner}.masks" if masks_source is not None else owner
    if masks_source is not None:
        if isinstance(masks_source, dict):
            items = list(masks_source.items())
        elif isinstance(masks_source, list | tuple):
            items = [(str(i), uri) for i, uri in enumerate(masks_source)]
        else:
            raise ValidationError(
                where, f"must be a list of URIs or an object id -> URI, got {masks_source!r}"
            )
        for mask_id, uri in items:
            _check_text(mask_id, f"{where} id", optional=False)
            masks[mask_id] = _check_uri(uri, f"{where}[{mask_id!r}]", optional=False)  # type: ignore[assignment]
    if mask_source is not None:
        masks["semantic"] = _check_uri(mask_source, "mask_source", optional=False)  # type: ignore[assignment]
    return masks


def _annotation_adder(where: str, doc: str) -> Any:
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


class SingleFrame:
    """One sensor's frame: a source (image or video) plus preview, masks, annotations, metadata.

    ``context_id`` defaults to the source URI. ``frame.meta`` is ``frame.metadata``.
    ``origin`` is where it was read from (``file:line`` of a manifest), else None; it is not
    part of the document.
    """

    __slots__ = (
        "annotations",
        "content_type",
        "context_id",
        "height",
        "id",
        "masks",
        "metadata",
        "origin",
        "preview_uri",
        "source",
        "timestamp",
        "width",
    )

    def __init__(
        self,
        source: str,
        width: int | None = None,
        height: int | None = None,
        preview_uri: str | None = None,
        metadata: dict[str, Any] | None = None,
        annotations: Iterable[Annotation | dict[str, Any]] | None = None,
        mask_source: str | None = None,
        masks_source: Mapping[str, str] | Sequence[str] | None = None,
        context_id: str | None = None,
        timestamp: float | None = None,
        content_type: str | None = None,
        id: str | None = None,
        *,
        where: str = "frame",
    ) -> None:
        if hasattr(source, "__fspath__"):
            source = str(source)
        self.source: str = _check_uri(source, where, "source", optional=False)  # type: ignore[assignment]
        self.width = _check_dimension(width, where, "width")
        self.height = _check_dimension(height, where, "height")
        self.preview_uri = _check_uri(preview_uri, where, "preview_uri")
        self.metadata = _check_metadata(metadata, where, "metadata")
        self.annotations = _annotations(
            list(annotations) if annotations is not None else None, where
        )
        self.masks = _masks(mask_source, masks_source, where)
        self.context_id: str = (
            _check_text(context_id, where, "context_id") or self.source  # type: ignore[assignment]
        )
        self.timestamp = _check_timestamp(timestamp, where, "timestamp")
        self.content_type = _check_text(content_type, where, "content_type")
        self.id = _check_id(id, where)
        self.origin: str | None = None

    @property
    def meta(self) -> dict[str, Any]:
        return self.metadata

    @meta.setter
    def meta(self, value: dict[str, Any]) -> None:
        self.metadata = _check_metadata(value, "frame", "meta")

    add_annotation = _annotation_adder(
        "annotations", "Add an ROI; with ``labels`` only (no shape) it is a frame label."
    )

    @property
    def frame_labels(self) -> list[str]:
        return [label for a in self.annotations if a.shape is None for label in a.labels]

    def to_doc(self, *, with_schema: bool = True) -> dict[str, Any]:
        doc: dict[str, Any] = {"schema_version": SCHEMA_VERSION} if with_schema else {}
        if self.id is not None:
            doc["id"] = self.id
        doc.update(
            source=self.source,
            width=self.width,
            height=self.height,
            preview_uri=self.preview_uri,
            content_type=self.content_type,
            context_id=self.context_id,
            timestamp=self.timestamp,
            metadata=self.metadata,
            masks=self.masks,
            annotations=[a.to_doc() for a in self.annotations],
        )
        return doc

    @classmethod
    def from_doc(cls, doc: Any, where: str = "frame") -> SingleFrame:
        if not isinstance(doc, dict):
            raise ValidationError(where, f"must be an object, got {type(doc).__name__}")
        unknown = doc.keys() - _FRAME_KEYS
        if unknown:
            raise ValidationError(where, f"unknown field(s) {', '.join(sorted(map(str, unknown)))}")
        _check_schema(doc, where)
        if "source" not in doc:
            raise ValidationError(f"{where}.source", "is missing")
        return cls(
            doc["source"],
            width=doc.get("width"),
            height=doc.get("height"),
            preview_uri=doc.get("preview_uri"),
            metadata=doc.get("metadata"),
            annotations=doc.get("annotations"),
            masks_source=doc.get("masks"),
            context_id=doc.get("context_id"),
            timestamp=doc.get("timestamp"),
            content_type=doc.get("content_type"),
            id=doc.get("id"),
            where=where,
        )

    def copy(self) -> SingleFrame:
        return SingleFrame.from_doc(orjson.loads(orjson.dumps(self.to_doc())))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SingleFrame) and self.to_doc() == other.to_doc()

    def __repr__(self) -> str:
        return f"SingleFrame(source={self.source!r}, id={self.id!r})"


def _check_schema(doc: dict[str, Any], where: str) -> None:
    version = doc.get("schema_version", SCHEMA_VERSION)
    if version != SCHEMA_VERSION:
        raise ValidationError(
            f"{where}.schema_version",
            f"unsupported document schema {version!r}; this version reads {SCHEMA_VERSION}",
        )


class FrameGroup(MutableMapping[str, SingleFrame]):
    """The frames of one instant, one per sensor, by name; plus group-level fields.

    ``origin``: ``file:line`` of the manifest it was read from, else None (not in the document).
    """

    __slots__ = ("_frames", "annotations", "context_id", "id", "metadata", "origin", "timestamp")

    def __init__(
        self,
        frames: Mapping[str, SingleFrame] | None = None,
        *,
        id: str | None = None,
        metadata: dict[str, Any] | None = None,
        context_id: str | None = None,
        timestamp: float | None = None,
        annotations: Iterable[Annotation | dict[str, Any]] | None = None,
        where: str = "group",
    ) -> None:
        self._frames: dict[str, SingleFrame] = {}
        self.id = _check_id(id, where)
        self.origin: str | None = None
        self.metadata = _check_metadata(metadata, where, "metadata")
        self.context_id = _check_text(context_id, where, "context_id")
        self.timestamp = _check_timestamp(timestamp, where, "timestamp")
        self.annotations = _annotations(
            list(annotations) if annotations is not None else None, where
        )
        for name, frame in (frames or {}).items():
            self._set(name, frame, where)

    def _set(self, name: str, frame: SingleFrame, where: str) -> None:
        check_frame_name(name, f"{where}.frames name")
        if not isinstance(frame, SingleFrame):
            raise ValidationError(
                f"{where}.frames[{name!r}]", f"must be a SingleFrame, got {type(frame).__name__}"
            )
        self._frames[name] = frame

    def __getitem__(self, name: str) -> SingleFrame:
        return self._frames[name]

    def __setitem__(self, name: str, frame: SingleFrame) -> None:
        self._set(name, frame, "group")

    def __delitem__(self, name: str) -> None:
        del self._frames[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._frames)

    def __len__(self) -> int:
        return len(self._frames)

    add_global_annotation = _annotation_adder(
        "group.annotations", "An annotation of the whole group (usually labels only)."
    )

    @property
    def effective_context_id(self) -> str | None:
        """The group's context_id, else its first frame's."""
        if self.context_id is not None:
            return self.context_id
        return next((f.context_id for f in self._frames.values()), None)

    @property
    def effective_timestamp(self) -> float | None:
        if self.timestamp is not None:
            return self.timestamp
        return next((f.timestamp for f in self._frames.values() if f.timestamp is not None), None)

    def to_doc(self, *, with_schema: bool = True) -> dict[str, Any]:
        doc: dict[str, Any] = {"schema_version": SCHEMA_VERSION} if with_schema else {}
        if self.id is not None:
            doc["id"] = self.id
        doc.update(
            context_id=self.context_id,
            timestamp=self.timestamp,
            metadata=self.metadata,
            annotations=[a.to_doc() for a in self.annotations],
            frames={name: f.to_doc(with_schema=False) for name, f in self._frames.items()},
        )
        return doc

    @classmethod
    def from_doc(cls, doc: Any, where: str = "group") -> FrameGroup:
        if not isinstance(doc, dict):
            raise ValidationError(where, f"must be an object, got {type(doc).__name__}")
        unknown = doc.keys() - _GROUP_KEYS
        if unknown:
            raise ValidationError(where, f"unknown field(s) {', '.join(sorted(map(str, unknown)))}")
        _check_schema(doc, where)
        frames = doc.get("frames")
        if not isinstance(frames, dict) or not frames:
            raise ValidationError(f"{where}.frames", "must be a non-empty object name -> frame")
        group = cls(
            id=doc.get("id"),
            metadata=doc.get("metadata"),
            context_id=doc.get("context_id"),
            timestamp=doc.get("timestamp"),
            annotations=doc.get("annotations"),
            where=where,
        )
        try:
            for name, frame_doc in frames.items():
                check_frame_name(name, where)
                group._frames[name] = SingleFrame.from_doc(frame_doc, where)
        except ValidationError:  # redo with the failing frame's own name in the message
            for name, frame_doc in frames.items():
                check_frame_name(name, f"{where}.frames name")
                group._frames[name] = SingleFrame.from_doc(frame_doc, f"{where}.frames[{name!r}]")
        return group

    def copy(self) -> FrameGroup:
        return FrameGroup.from_doc(orjson.loads(orjson.dumps(self.to_doc())))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FrameGroup) and self.to_doc() == other.to_doc()

    def __repr__(self) -> str:
        return f"FrameGroup(id={self.id!r}, frames={list(self._frames)!r})"


Item = FrameGroup | SingleFrame


def item_from_doc(doc: Any, where: str = "document") -> Item:
    """Parse one document: a FrameGroup if it has ``frames``, else a SingleFrame."""
    if isinstance(doc, dict) and "frames" in doc:
        return FrameGroup.from_doc(doc, where)
    return SingleFrame.from_doc(doc, where)


def check_storable(item: Item) -> None:
    """Re-check what may have changed since the item was built (its objects are mutable: ids,
    metadata, annotation metadata), so that an item that passes serialises and is addressable.
    Raises ValidationError naming the field."""
    where = "group" if isinstance(item, FrameGroup) else "frame"
    _check_id(item.id, where)
    _check_metadata(item.metadata, where, "metadata")
    frames = list(item.items()) if isinstance(item, FrameGroup) else [(None, item)]
    for name, frame in frames:
        spot = where if name is None else f"group.frames[{name!r}]"
        if isinstance(item, FrameGroup):
            _check_id(frame.id, spot)
        _check_metadata(frame.metadata, spot, "metadata")
        for i, annotation in enumerate(frame.annotations):
            _check_metadata(annotation.metadata, f"{spot}.annotations[{i}]", "metadata")
    if isinstance(item, FrameGroup):
        for i, annotation in enumerate(item.annotations):
            _check_metadata(annotation.metadata, f"group.annotations[{i}]", "metadata")


def item_kind(item: Item) -> str:
    return "group" if isinstance(item, FrameGroup) else "single"


def item_context_id(item: Item) -> str | None:
    return item.effective_context_id if isinstance(item, FrameGroup) else item.context_id


def item_timestamp(item: Item) -> float | None:
    return item.effective_timestamp if isinstance(item, FrameGroup) else item.timestamp


def derive_id(item: Item) -> str:
    """A deterministic id from the item's identity (context, timestamp, names and sources).

    Re-running the same input derives the same ids, so a re-run updates instead of duplicating.
    """
    if isinstance(item, FrameGroup):
        identity: Any = [
            "g",
            item.effective_context_id,
            item.effective_timestamp,
            sorted((name, f.source) for name, f in item.items()),
        ]
    else:
        identity = ["s", item.context_id, item.timestamp, item.source]
    return hashlib.blake2b(orjson.dumps(identity), digest_size=16).hexdigest()


def ensure_id(item: Item) -> str:
    if item.id is None:
        item.id = derive_id(item)
    return item.id


def dumps(item: Item) -> bytes:
    return orjson.dumps(item.to_doc())
