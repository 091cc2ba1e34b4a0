"""Chunked imports on SQLite (one machine, no server): the importing process runs the import's
chunks itself, one after the other, then finalizes. After a crash the same call resumes: chunks
done are skipped, a chunk left running (its process died) is run again, and idempotent commits
skip its groups already registered."""

from __future__ import annotations

from collections.abc import Callable

from ..catalog.chunks import ENDED, PENDING, ImportRecord
from ..report import Report
from ..service import Ingest


async def run_in_process(
    app: Ingest,
    ident: str,
    worker: str,
    *,
    progress: Callable[[Report], None] | None = None,
) -> ImportRecord:
    """Run every chunk of the import that has not ended, then finalize it."""
    table = app.chunk_table()
    for chunk in await table.chunks(ident):
        if chunk.state in ENDED:
            continue
        state: str | None = PENDING
        while state == PENDING:  # failed with attempts left: again
            state, _ = await app.run_chunk(ident, chunk.idx, worker, progress=progress)
    return await app.finalize_import(ident)
