"""``ingest query D V 'Q' [--count] [--jsonl]``: the frames of a version a query selects."""

from __future__ import annotations

import argparse
import sys

import orjson

from ..query import QueryError, frame_filter
from ..service import Ingest
from . import EXIT_OK, echo


def caret(exc: QueryError) -> str:
    """The query with a caret under the column the error names."""
    return f"  {exc.query}\n  {' ' * (exc.column - 1)}^"


async def cmd_query(args: argparse.Namespace, app: Ingest) -> int:
    """Count, list (id, context, timestamp) or write as JSONL the selected frames, in
    (context_id, timestamp) order."""
    try:
        query = frame_filter(args.query, field="query")
    except QueryError as exc:
        echo(caret(exc))
        raise
    _, version = await app.find_version(args.dataset, args.version)
    if args.count:
        sys.stdout.write(f"{await app.count_matches(version.id, [query])}\n")
        return EXIT_OK
    out = sys.stdout.buffer
    count = 0
    async for page in app.iter_matches(version.id, [query]):
        for cursor, stored in page:
            if args.jsonl:
                out.write(stored.document + b"\n")
            else:
                line = [stored.id, cursor.sort_ctx, orjson.dumps(cursor.sort_ts).decode()]
                out.write(("\t".join(line) + "\n").encode())
        count += len(page)
    out.flush()
    echo(f"{count} frames")
    return EXIT_OK
