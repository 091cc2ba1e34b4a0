"""Compare-and-set edits of one frame, shared by the frame and the per-annotation endpoints.

A frame's ETag is its catalog revision (a hash of the stored document). ``edit_frame`` reads
the frame, applies a change to its document and writes the result only if the frame is still
the one read: with ``If-Match`` a frame changed by someone else gives 412; without it the
change is applied again to the new content, so no update is lost either way.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .. import browse
from ..frames import Item
from ..service import Ingest
from .common import ApiError
from .patch import guarded

#: without If-Match a change is re-applied to a frame changed meanwhile, this many times at most
EDIT_ATTEMPTS = 10


def etag_of(rev: str) -> str:
    """The ETag of a frame: its catalog revision (a hash of the stored document), quoted."""
    return f'"{rev}"'


def etag_matches(header: str, rev: str) -> bool:
    """``If-Match``: ``*`` or a list of strong ETags, one of which must be ``rev``'s."""
    tags = [tag.strip() for tag in header.split(",")]
    return "*" in tags or etag_of(rev) in tags


def precondition_failed() -> ApiError:
    return ApiError(
        412,
        "PreconditionFailed",
        "the frame changed since it was read (If-Match does not match its ETag); "
        "reload it and apply the change again",
    )


async def edit_frame(
    app: Ingest,
    version_id: str,
    frame_id: str,
    if_match: str | None,
    change: Callable[[dict[str, Any]], Item],
) -> tuple[dict[str, Any], str]:
    """Apply ``change`` (stored document -> validated item) atomically; the saved document
    and its new revision. Published versions are refused before the change is tried."""
    (await app.get_version(version_id)).require_draft()
    for _ in range(EDIT_ATTEMPTS):
        item, rev = await browse.frame_and_revision(app, version_id, frame_id)
        if if_match is not None and not etag_matches(if_match, rev):
            raise precondition_failed()
        with guarded():  # serialising the changed frame is where a too deep body shows
            updated = change(item.to_doc())
            doc = updated.to_doc()
            new_rev = await browse.replace_frame_if(app, version_id, updated, rev)
        if new_rev is not None:
            return doc, new_rev
        if if_match is not None and if_match.strip() != "*":
            raise precondition_failed()
    raise ApiError(409, "Conflict", "the frame kept changing while the edit was applied; retry")
