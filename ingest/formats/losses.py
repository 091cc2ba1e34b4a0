"""What an export could not write, counted by kind, for stderr: never dropped silently."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

from ..frames import SHAPES


class Losses:
    def __init__(self, fmt: str) -> None:
        self.fmt = fmt
        self.counts: Counter[str] = Counter()

    def add(self, what: str, count: int = 1) -> None:
        if count:
            self.counts[what] += count

    def lines(self) -> list[str]:
        return [
            f"{self.fmt} cannot hold {what}: {n} not exported"
            for what, n in sorted(self.counts.items())
        ]

    def group_parts(self, doc: dict[str, Any]) -> None:
        """Group-level fields no per-image format holds."""
        if doc.get("metadata"):
            self.add("group metadata")
        self.add("group annotations", len(doc.get("annotations") or []))


def frames_of(doc: dict[str, Any]) -> Iterator[tuple[str | None, dict[str, Any]]]:
    """(frame name, frame document) of a stored group or single frame document."""
    if "frames" in doc:
        yield from doc["frames"].items()
    else:
        yield None, doc


def shape_of(annotation: dict[str, Any]) -> str | None:
    return next((s for s in SHAPES if annotation.get(s) is not None), None)
