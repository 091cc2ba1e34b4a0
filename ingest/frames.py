"""The data model: SingleFrame, FrameGroup, Annotation, and their JSON document form.

Pure: no I/O. The document form (``to_doc`` / ``from_doc``) is what the catalog stores, what
manifests contain and what the REST API returns. It is versioned by ``schema_version`` (now 2:
annotation ids and every shape of the reference SDK; 1 is still read, see ``annotation.py``);
see the README, section "The JSON document form".
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping, MutableMapping, Sequence
from typing import Any

import orjson

from .annotation import SHAPES, Annotation, Annotations, ImageAnnotation, annotations_from
from .errors import ValidationError
from .fields import (
    check_dimension,
    check_frame_name,
    check_id_field,
    check_metadata,
    check_text,
    check_timestamp,
    check_uri_field,
)
from .localsource import LocalSources
from .masks import masks_from

__all__ = [
    "SCHEMA_VERSION",
    "SHAPES",
    "Annotation",
    "FrameGroup",
    "ImageAnnotation",
    "Item",
    "SingleFrame",
    "check_frame_name",
    "derive_id",
    "dumps",
    "ensure_id",
    "identity_id",
    "item_context_id",
    "item_from_doc",
    "item_kind",
    "item_timestamp",
]

SCHEMA_VERSION = 2
SCHEMA_VERSIONS = (1, 2)  # what the readers take

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


class SingleFrame(Annotations, LocalSources):
    """One sensor's frame: a source (image or video) plus preview, masks, annotations, metadata.

    ``context_id`` defaults to the source URI. ``frame.meta`` is ``frame.metadata``.
    """

    __slots__ = (
        "annotations",
        "content_type",
        "context_id",
        "height",
        "id",
        "masks",
        "metadata",
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
        self.source: str = check_uri_field(source, where, "source", optional=False)  # type: ignore[assignment]
        self.width = check_dimension(width, where, "width")
        self.height = check_dimension(height, where, "height")
        self.preview_uri = check_uri_field(preview_uri, where, "preview_uri")
        self.metadata = check_metadata(metadata, where, "metadata")
        self.annotations = annotations_from(annotations, where)
        self.masks = masks_from(mask_source, masks_source, where)
        self.context_id: str = (
            check_text(context_id, where, "context_id") or self.source  # type: ignore[assignment]
        )
        self.timestamp = check_timestamp(timestamp, where, "timestamp")
        self.content_type = check_text(content_type, where, "content_type")
        self.id = check_id_field(id, where)

    @property
    def meta(self) -> dict[str, Any]:
        return self.metadata

    @meta.setter
    def meta(self, value: dict[str, Any]) -> None:
        self.metadata = check_metadata(value, "frame", "meta")

    @property
    def masks_source(self) -> dict[str, str]:
        """The masks, id -> URI. Settable with a dict, or a list (ids "00", "01", ...)."""
        return self.masks

    @masks_source.setter
    def masks_source(self, value: Mapping[str, str] | Sequence[str] | None) -> None:
        self.masks = masks_from(None, value, "frame")

    @property
    def mask_source(self) -> str | None:
        """The frame's mask (``mask_source=``, id "semantic"), else its first mask."""
        return self.masks.get("semantic", next(iter(self.masks.values()), None))

    @mask_source.setter
    def mask_source(self, value: str | None) -> None:
        self.masks.pop("semantic", None)
        if value is not None:
            self.masks.update(masks_from(value, None, "frame"))

    @property
    def frame_labels(self) -> list[str]:
        return [label for a in self.annotations for label in a.frame_labels]

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
        _check_document(doc, where, _FRAME_KEYS)
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


def _check_document(doc: Any, where: str, keys: frozenset[str] | set[str]) -> None:
    """An object with only known keys and a schema version this code reads."""
    if not isinstance(doc, dict):
        raise ValidationError(where, f"must be an object, got {type(doc).__name__}")
    unknown = doc.keys() - keys
    if unknown:
        raise ValidationError(where, f"unknown field(s) {', '.join(sorted(map(str, unknown)))}")
    _check_schema(doc, where)


def _check_schema(doc: dict[str, Any], where: str) -> None:
    version = doc.get("schema_version", SCHEMA_VERSION)
    if version not in SCHEMA_VERSIONS:
        raise ValidationError(
            f"{where}.schema_version",
            f"unsupported document schema {version!r}; this version reads 1 and 2",
        )


class FrameGroup(MutableMapping[str, SingleFrame]):
    """The frames of one instant, one per sensor, by name; plus group-level fields."""

    __slots__ = ("_frames", "annotations", "context_id", "id", "metadata", "timestamp")

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
        self.id = check_id_field(id, where)
        self.metadata = check_metadata(metadata, where, "metadata")
        self.context_id = check_text(context_id, where, "context_id")
        self.timestamp = check_timestamp(timestamp, where, "timestamp")
        self.annotations = annotations_from(annotations, where)
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

    # the group's own annotations (they apply to all its frames), with the frames' methods
    add_global_annotation = Annotations.add_annotation
    get_global_annotations = Annotations.get_annotations
    remove_global_annotation = Annotations.remove_annotation
    remove_global_annotations = Annotations.remove_annotations

    def _annotations_where(self) -> str:
        return "group.annotations"

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
        _check_document(doc, where, _GROUP_KEYS)
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
        names_sources = [(name, f.source) for name, f in item.items()]
        return identity_id(item.effective_context_id, item.effective_timestamp, names_sources)
    return identity_id(item.context_id, item.timestamp, item.source)


def identity_id(
    context_id: str | None, timestamp: float | None, sources: str | list[tuple[str, str]]
) -> str:
    """``derive_id`` from plain values: a single frame's source, or a group's (name, source)
    pairs (the document decoder ``decode.py`` derives ids with it too)."""
    if isinstance(sources, str):
        identity: Any = ["s", context_id, timestamp, sources]
    else:
        identity = ["g", context_id, timestamp, sorted(sources)]
    return hashlib.blake2b(orjson.dumps(identity), digest_size=16).hexdigest()


def ensure_id(item: Item) -> str:
    if item.id is None:
        item.id = derive_id(item)
    return item.id


def dumps(item: Item) -> bytes:
    return orjson.dumps(item.to_doc())
