"""Folder-layout import: turn a tree of files into FrameGroups by a path pattern.

``--layout '{camera}/{timestamp}.jpg'``: every ``{field}`` matches one path segment part;
the frame name comes from the name field (``camera`` by default); files that share the values
of every other field form one FrameGroup. A numeric ``{timestamp}`` becomes the group's
timestamp. A sidecar ``<file stem>.json`` next to a file may hold ``metadata`` and
``annotations`` for that frame.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ConfigError, ValidationError
from .frames import FrameGroup, SingleFrame
from .limits import loads
from .report import RejectedFrame

_FIELD = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(frozen=True)
class Layout:
    pattern: str
    regex: re.Pattern[str]
    fields: tuple[str, ...]
    name_field: str

    @classmethod
    def parse(cls, pattern: str, name_field: str = "camera", require_name: bool = True) -> Layout:
        fields = tuple(_FIELD.findall(pattern))
        if require_name and name_field not in fields:
            raise ConfigError(
                f"layout {pattern!r} has no {{{name_field}}} field for the frame name"
            )
        if len(set(fields)) != len(fields):
            raise ConfigError(f"layout {pattern!r} repeats a field")
        regex, pos = "", 0
        for match in _FIELD.finditer(pattern):
            regex += re.escape(pattern[pos : match.start()])
            regex += f"(?P<{match.group(1)}>[^/]+?)"
            pos = match.end()
        regex += re.escape(pattern[pos:])
        return cls(pattern, re.compile(f"^{regex}$"), fields, name_field)

    def match(self, relpath: str) -> dict[str, str] | None:
        found = self.regex.match(relpath)
        return found.groupdict() if found else None


def number(text: str) -> float | int | None:
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return None


def sort_key(values: tuple[str, ...]) -> tuple[Any, ...]:
    return tuple((0, n, "") if (n := number(v)) is not None else (1, 0, v) for v in values)


def _sidecar(path: Path) -> dict[str, Any]:
    side = path.with_suffix(".json")
    if not side.is_file():
        return {}
    try:
        data = loads(side.read_bytes())  # integers beyond 64 bits stay exact (and are refused)
    except ValueError as exc:
        raise ValidationError(str(side), f"sidecar is not valid JSON: {exc}") from exc
    if not isinstance(data, dict) or set(data) - {"metadata", "annotations"}:
        raise ValidationError(str(side), "a sidecar is an object with metadata and annotations")
    return data


def scan(
    root: str, layout: Layout, require_frames: tuple[str, ...] = ()
) -> Iterator[FrameGroup | RejectedFrame]:
    """Walk ``root`` and yield one FrameGroup per distinct value of the non-name fields.

    The index of matching paths is held in memory (a tree cannot be grouped otherwise);
    files matching no layout are yielded as rejected records.
    """
    base = Path(root).resolve()
    if not base.is_dir():
        raise ConfigError(f"{root} is not a folder")
    key_fields = tuple(f for f in layout.fields if f != layout.name_field)
    groups: dict[tuple[str, ...], dict[str, Path]] = {}
    for dirpath, dirnames, filenames in os.walk(base):
        dirnames.sort()
        names = set(filenames)
        for filename in sorted(filenames):
            path = Path(dirpath) / filename
            rel = path.relative_to(base).as_posix()
            values = layout.match(rel)
            if values is None:
                stem_siblings = {
                    n
                    for n in names
                    if n != filename and os.path.splitext(n)[0] == os.path.splitext(filename)[0]
                }
                if filename.endswith(".json") and stem_siblings:
                    continue  # a sidecar
                yield RejectedFrame(
                    None,
                    None,
                    str(path),
                    "LayoutMismatch",
                    f"{rel} matches no layout ({layout.pattern})",
                    0,
                    rel,
                )
                continue
            key = tuple(values[f] for f in key_fields)
            frames = groups.setdefault(key, {})
            name = values[layout.name_field]
            if name in frames:
                yield RejectedFrame(
                    None,
                    name,
                    str(path),
                    "ValidationError",
                    f"duplicate frame name {name!r}: {frames[name]} and {path}",
                    0,
                    rel,
                )
                continue
            frames[name] = path
    for key in sorted(groups, key=sort_key):
        yield from _group(base, key_fields, key, groups[key], require_frames)


def _group(
    base: Path,
    key_fields: tuple[str, ...],
    key: tuple[str, ...],
    frames: dict[str, Path],
    require_frames: tuple[str, ...],
) -> Iterator[FrameGroup | RejectedFrame]:
    fields = dict(zip(key_fields, key, strict=True))
    group_id = "/".join(f"{f}={v}" for f, v in fields.items()) or base.name
    missing = [name for name in require_frames if name not in frames]
    if missing:
        for name, path in frames.items():
            yield RejectedFrame(
                group_id,
                name,
                str(path),
                "IncompleteGroup",
                f"incomplete group: missing {', '.join(missing)}",
                0,
            )
        return
    timestamp = number(fields["timestamp"]) if "timestamp" in fields else None
    context = "/".join(v for f, v in fields.items() if f != "timestamp") or base.name
    group = FrameGroup(
        context_id=context,
        timestamp=timestamp,
        metadata={"layout_fields": fields} if fields else None,
    )
    try:
        for name, path in sorted(frames.items()):
            extra = _sidecar(path)
            group[name] = SingleFrame(
                str(path),
                timestamp=timestamp,
                context_id=context,
                metadata=extra.get("metadata"),
                annotations=extra.get("annotations"),
            )
    except ValidationError as exc:
        for name, path in frames.items():
            yield RejectedFrame(group_id, name, str(path), "ValidationError", str(exc), 0)
        return
    yield group
