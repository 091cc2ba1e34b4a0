"""``FrameDocument``: a frame as its validated document, without the object model.

Readers that decode input bytes straight into documents (the by-reference fast path of the
manifest readers) hand these to the pipeline instead of FrameGroup / SingleFrame objects; the
pipeline plans, stores and commits them the same way (``pipeline/plan.py``). A document decoded
in a decoder process (``decodepool.py``) arrives serialised (``encoded``) with what planning
needs to know (``by_reference``, ``frame_count``); its dict is only built if something asks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson


@dataclass(slots=True)
class FrameDocument:
    id: str  # the frame's id, given or derived exactly as ``frames.derive_id`` does
    kind: str  # "group" | "single"
    context_id: str | None
    timestamp: float | None
    doc: dict[str, Any] | None  # the document in schema form (``FrameGroup.to_doc()``'s shape)
    where: str | None = None  # file:line of the input
    encoded: bytes | None = None  # ``orjson.dumps(doc)``, when ``doc`` was not kept
    by_reference: bool = False  # every source is a URL: nothing to store (unless copied)
    frame_count: int = 0  # frames of the document, with ``encoded``
    rev: str | None = None  # the revision (catalog ``revision``) of ``encoded``

    def document(self) -> dict[str, Any]:
        if self.doc is None:
            assert self.encoded is not None
            self.doc = orjson.loads(self.encoded)
        return self.doc

    def frames(self) -> list[tuple[str | None, dict[str, Any]]]:
        """(frame name, frame document) of every frame; one unnamed frame for a single."""
        doc = self.document()
        if self.kind == "group":
            return list(doc["frames"].items())
        return [(None, doc)]
