"""Frames per (version, ROI label), kept in the same transactions as membership: what the
count of a plain label query (``roi_query='car'``, ``frame_query='label:car'``) reads.

Counting such a query through the index (``querysql.py``) checks every match against the
version: ~3 s for a label on half of 1M frames. ``version_labels (version_id, label, frames)``
answers it in one row read. A frame counts once per distinct label of any ROI of any of its
SingleFrames (labels and the ``""`` of an unlabelled ROI as ``frame_labels`` holds them), the
same set the label query selects. Every membership change updates it in its transaction:
``write_frames`` / ``replace_frame_if`` (+1 per label of a new revision, -1 per label of the
one it replaces), deletes (-1), a child version (its parent's rows copied; several parents:
counted again from the index), a version or dataset deleted (its rows go). Deltas of a batch
are summed per label and added in label order. A count is the sum of up to ``SHARDS`` rows:
on PostgreSQL each connection adds to the row of its shard (``pg_backend_pid()``), so
concurrent writers of one version (chunk workers) rarely wait on each other's row locks until
their commits, and those that share a shard lock its rows in the same order (no deadlock).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

from ..query import FrameFilter, Match
from .bulk import Insert
from .db import Conn, Database
from .frameindex import IndexRows, documents_of

SHARDS = 16

SCHEMA = [
    """CREATE TABLE version_labels (
        version_id {text} NOT NULL, label {text} NOT NULL, shard INTEGER NOT NULL,
        frames BIGINT NOT NULL, PRIMARY KEY (version_id, label, shard))""",
]

_COUNTED = (
    "SELECT vf.version_id, l.label, 0, COUNT(DISTINCT vf.frame_row) FROM frame_labels l "
    "JOIN version_frames vf ON vf.frame_row = l.frame_row"
)
_INSERT = "INSERT INTO version_labels (version_id, label, shard, frames) "
#: a delta of a (version, label): rows hold the version, the label and the delta (the shard
#: is ``shard()``)
UPSERT = Insert(
    "version_labels",
    "version_id text, label text, shard int, frames bigint",
    " ON CONFLICT (version_id, label, shard) "
    "DO UPDATE SET frames = version_labels.frames + excluded.frames",
)


def shard(dialect: str) -> str:
    """The SQL of the shard a connection adds its deltas to."""
    return f"pg_backend_pid() % {SHARDS}" if dialect == "postgresql" else "0"


def plain_label(filters: Sequence[FrameFilter]) -> str | None:
    """The label of a query that is one exact label term and nothing else (else None)."""
    if len(filters) != 1:
        return None
    rule = filters[0]
    if rule.source is not None or rule.count_range or rule.conf_range:
        return None
    terms = [node for node in (rule.roi, rule.frame) if node is not None]
    if len(terms) != 1:
        return None
    term = terms[0]
    if isinstance(term, Match) and term.field == "label" and not term.wildcard:
        return term.value
    return None


def _deltas(rows: IndexRows, sign: int, into: Counter[str]) -> None:
    """Add ``sign`` (1 or -1) to ``into`` once per distinct (frames row, label) of ``rows``."""
    labels = (label for _, label in {(r[0], r[3]) for r in rows.labels})
    if sign > 0:  # Counter's update and subtract count in C
        into.update(labels)
    else:
        into.subtract(labels)


async def deltas(
    conn: Conn, version_id: str, added: IndexRows | None, removed: Iterable[int] = ()
) -> list[tuple[str, str, int]]:
    """(version, label, delta) counting the frames rows of ``added`` (new in the version) and
    uncounting the frames rows ``removed`` (left it: call before they are deleted), one per
    label, in label order."""
    summed: Counter[str] = Counter()
    if added is not None:
        _deltas(added, 1, summed)
    if removed := list(removed):
        _deltas(await documents_of(conn, removed), -1, summed)
    return [(version_id, label, n) for label, n in sorted(summed.items()) if n]


async def change(
    conn: Conn, version_id: str, added: IndexRows | None, removed: Iterable[int] = ()
) -> None:
    """Apply ``deltas`` in one upsert per label."""
    if rows := await deltas(conn, version_id, added, removed):
        await conn.executemany(UPSERT.values(shard=shard(conn.dialect)), rows)


async def inherit(conn: Conn, child_id: str, parent_ids: Sequence[str]) -> None:
    """The counts of a new version whose membership was just copied from its parents."""
    if len(parent_ids) == 1:
        await conn.execute(
            f"{_INSERT}SELECT ?, label, shard, frames FROM version_labels WHERE version_id = ?",
            (child_id, parent_ids[0]),
        )
    elif parent_ids:  # parents sharing frame ids: the first one's frame wins, count again
        await conn.execute(
            f"{_INSERT}{_COUNTED} WHERE vf.version_id = ? GROUP BY vf.version_id, l.label",
            (child_id,),
        )


async def backfill(conn: Conn) -> None:
    """Count every version of an existing catalog (the migration that adds the table)."""
    await conn.execute(f"{_INSERT}{_COUNTED} GROUP BY vf.version_id, l.label")


async def forget(conn: Conn, version_scope: str, args: Sequence[object]) -> None:
    """Drop the counts of the versions ``version_scope`` (a SELECT of ids) names."""
    await conn.execute(f"DELETE FROM version_labels WHERE version_id IN ({version_scope})", args)


async def count(db: Database, version_id: str, label: str) -> int:
    row = await db.fetchone(
        "SELECT SUM(frames) FROM version_labels WHERE version_id = ? AND label = ?",
        (version_id, label),
    )
    return int(row[0]) if row and row[0] is not None else 0
