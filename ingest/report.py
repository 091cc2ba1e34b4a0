"""The run report: one record per rejected frame, a summary, JSONL and CSV writers."""

from __future__ import annotations

import csv
import dataclasses
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson

REJECTED_FIELDS = (
    "group_id",
    "frame_name",
    "source",
    "error_class",
    "message",
    "attempts",
    "where",
)


@dataclasses.dataclass(frozen=True)
class RejectedFrame:
    """Why one frame was not registered.

    ``frame_name`` is None for a SingleFrame given alone or for input that never became a frame
    (a malformed manifest line; then ``where`` says file:line). Siblings of a failed frame carry
    ``error_class="GroupRejected"`` and the message ``group rejected: <name> failed``.
    """

    group_id: str | None
    frame_name: str | None
    source: str | None
    error_class: str
    message: str
    attempts: int
    where: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True, slots=True)
class Located:
    """An input item and where it came from (``file:line``), so its rejections can say so."""

    item: Any
    where: str


@dataclasses.dataclass
class Summary:
    groups_committed: int = 0
    groups_rejected: int = 0
    groups_unchanged: int = 0
    frames_registered: int = 0
    frames_uploaded: int = 0
    frames_by_reference: int = 0
    frames_rejected: int = 0
    objects_uploaded: int = 0
    objects_already_stored: int = 0
    bytes_uploaded: int = 0
    retries: int = 0
    input_errors: int = 0
    elapsed_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class Report:
    """What a pipeline run did. ``rejected_items`` are the caller's own objects."""

    def __init__(self) -> None:
        self.summary = Summary()
        self.rejected: list[RejectedFrame] = []
        self.rejected_items: list[Any] = []
        self.cancelled = False
        self._order: list[int] = []  # input position of each rejected item
        self._started = time.monotonic()

    def reject(self, records: Iterable[RejectedFrame], item: Any = None, order: int = 0) -> None:
        """Record rejected frames; ``item`` (the caller's object, at input position ``order``)
        goes to ``rejected_items``, which ``finish`` puts back in input order."""
        records = list(records)
        self.rejected.extend(records)
        self.summary.frames_rejected += len(records)
        if item is not None:
            self.rejected_items.append(item)
            self._order.append(order)
            self.summary.groups_rejected += 1
        else:  # input that never became a frame: a malformed manifest line or row
            self.summary.input_errors += len(records)

    def finish(self) -> Report:
        self.summary.elapsed_s = round(time.monotonic() - self._started, 6)
        if self._order != sorted(self._order):
            pairs = sorted(
                zip(self._order, range(len(self._order)), self.rejected_items, strict=True)
            )
            self.rejected_items = [item for _, _, item in pairs]
            self._order = [order for order, _, _ in pairs]
        return self

    @property
    def ok(self) -> bool:
        return not self.rejected and not self.cancelled

    def to_dict(self) -> dict[str, Any]:
        return {
            "summary": self.summary.to_dict(),
            "cancelled": self.cancelled,
            "rejected": [r.to_dict() for r in self.rejected],
        }

    def write_jsonl(self, path: str | Path) -> None:
        """One JSON object per rejected frame."""
        with open(path, "wb") as fh:
            for record in self.rejected:
                fh.write(orjson.dumps(record.to_dict()) + b"\n")

    def write_csv(self, path: str | Path) -> None:
        with open(path, "w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=REJECTED_FIELDS)
            writer.writeheader()
            for record in self.rejected:
                writer.writerow(record.to_dict())

    def write(self, path: str | Path) -> None:
        """CSV when the path ends in .csv, JSONL otherwise."""
        if str(path).endswith(".csv"):
            self.write_csv(path)
        else:
            self.write_jsonl(path)
