"""``FrameDocument``: a frame as its validated document, without the object model.

Readers that decode input bytes straight into documents (the by-reference fast path of the
manifest readers) hand these to the pipeline instead of FrameGroup / SingleFrame objects; the
pipeline plans, stores and commits them the same way (``pipeline/plan.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(slots=True)
class FrameDocument:
    id: str  # the frame's id, given or derived exactly as ``frames.derive_id`` does
    kind: str  # "group" | "single"
    context_id: str | None
    timestamp: float | None
    doc: dict[str, Any]  # the document in schema form (``FrameGroup.to_doc()``'s shape)
    where: str | None = None  # file:line of the input

    def frames(self) -> list[tuple[str | None, dict[str, Any]]]:
        """(frame name, frame document) of every frame; one unnamed frame for a single."""
        if self.kind == "group":
            return list(self.doc["frames"].items())
        return [(None, self.doc)]
