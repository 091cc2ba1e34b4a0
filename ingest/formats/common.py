"""What every format reader shares: rejections that name the file and the record, the label
set a reader collects, and grouping SingleFrames into FrameGroups by a ``--group-by`` rule."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, cast

from ..errors import ValidationError
from ..frames import FrameGroup, Item, SingleFrame
from ..idindex import IdIndex
from ..layout import Layout, number, sort_key
from ..limits import loads, printable
from ..report import RejectedFrame
from ..rowitems import Entry, admit

__all__ = ["Entry", "FormatError", "LabelSet", "Pending", "group_frames", "read_json", "reject"]


class FormatError(ValidationError):
    """Input a format reader cannot read at all (a missing file, a file that is not the format)."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(where, message)


def reject(
    where: str,
    message: str,
    *,
    source: str | None = None,
    frame: str | None = None,
    group: str | None = None,
    error_class: str = "ValidationError",
) -> RejectedFrame:
    """A record that did not become a frame, or a frame refused, at ``where`` (file: record)."""
    return RejectedFrame(
        printable(group), printable(frame), printable(source), error_class, message, 0, where
    )


def read_json(path: str) -> Any:
    """A whole JSON file (integers past 64 bits refused by name, like the manifest readers)."""
    try:
        with open(path, "rb") as fh:
            return loads(fh.read())
    except FileNotFoundError as exc:
        raise FormatError(path, "does not exist") from exc
    except IsADirectoryError as exc:
        raise FormatError(path, "is a folder, expected a JSON file") from exc
    except ValueError as exc:
        raise FormatError(path, f"is not valid JSON: {exc}") from exc


@dataclass
class LabelSet:
    """The categories an import met, in order: ``{"id", "name", ...}`` (COCO's fields); kept in
    the version metadata as ``label_set`` so an export writes the same ids and class order."""

    categories: list[dict[str, Any]] = field(default_factory=list)

    def add(self, name: str, **fields: Any) -> None:
        if any(c["name"] == name for c in self.categories):
            return
        if "id" not in fields:
            fields["id"] = max((c["id"] for c in self.categories), default=-1) + 1
        self.categories.append({"id": fields.pop("id"), "name": name, **fields})

    def merged_into(self, existing: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """``existing`` (a version's label set) plus the categories it lacks, by name; an id
        taken by another name gets the next free one."""
        out = [dict(c) for c in existing]
        names, ids = {c["name"] for c in out}, {c["id"] for c in out}
        for category in self.categories:
            if category["name"] in names:
                continue
            new = dict(category)
            if new["id"] in ids:
                new["id"] = max(ids) + 1
            out.append(new)
            names.add(new["name"])
            ids.add(new["id"])
        return out


@dataclass
class Pending:
    """A frame (or a whole group: KITTI, nuScenes) read from a record, waiting to be yielded
    alone or grouped (SingleFrames only)."""

    frame: Item
    where: str  # file: record
    name: str  # the frame's name in a group (a file stem, a camera)
    path: str  # what a --group-by rule is matched against (the image's relative path)


def group_frames(
    records: Iterable[Pending | Entry], rule: str | None, frame_field: str = "camera"
) -> Iterator[Entry]:
    """Each frame alone (``rule`` None) or FrameGroups: ``rule`` is a layout pattern matched
    against each frame's path (``{camera}/{timestamp}.jpg``); frames that share the values of
    every field but the name field form one group. Without a name field in the rule, the frame's
    own name (its file's) names it. Grouping holds the frames of a run in memory; alone, they
    stream. Records that are not ``Pending`` (rejections) pass through."""
    seen = IdIndex()
    pending: list[Pending] = []
    for index, p in enumerate(records):
        if not isinstance(p, Pending):
            yield p
        elif rule is not None:
            pending.append(p)
        else:
            yield from admit(p.frame, p.where, index + 1, "record", seen)
    if rule is None:
        return
    layout = Layout.parse(rule, frame_field, require_name=False)
    keys = tuple(f for f in layout.fields if f != frame_field)
    groups: dict[tuple[str, ...], dict[str, Pending]] = {}
    for p in pending:
        assert isinstance(p.frame, SingleFrame)  # only COCO groups, and it reads frames
        values = layout.match(p.path)
        if values is None:
            yield reject(
                p.where,
                f"{p.path} does not match --group-by {rule!r}",
                source=p.frame.source,
                error_class="LayoutMismatch",
            )
            continue
        name = values.get(frame_field, p.name)
        frames = groups.setdefault(tuple(values[k] for k in keys), {})
        if name in frames:
            yield reject(
                p.where,
                f"frame {name!r} given twice in one group; first at {frames[name].where}",
                source=p.frame.source,
                frame=name,
            )
            continue
        frames[name] = p
    for index, key in enumerate(sorted(groups, key=sort_key)):
        fields = dict(zip(keys, key, strict=True))
        members = groups[key]
        stamp = number(fields["timestamp"]) if "timestamp" in fields else None
        context = "/".join(v for f, v in fields.items() if f != "timestamp") or None
        try:
            group = FrameGroup(
                {n: cast(SingleFrame, members[n].frame) for n in sorted(members)},
                context_id=context,
                timestamp=stamp,
                metadata={"group_by": fields},
            )
        except ValidationError as exc:
            for n, p in members.items():
                yield reject(p.where, str(exc), source=members[n].path, frame=n)
            continue
        where = "; ".join(members[n].where for n in sorted(members))
        yield from admit(group, where, index + 1, "group", seen)
