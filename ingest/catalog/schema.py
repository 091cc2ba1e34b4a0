"""Schema migrations, one list for SQLite and PostgreSQL.

Each migration is a list of statements; ``{real}``, ``{text}`` and ``{json}`` are replaced per
dialect. Applied migrations are recorded in ``schema_migrations``; migrating takes a lock
(PostgreSQL advisory lock, SQLite ``BEGIN IMMEDIATE``), so concurrent workers are safe.

Tables:
- datasets: name unique, tags, description, project.
- versions: per dataset, unique name; state Draft/Published; metadata (mask_labels...);
  parents (JSON list of version ids); comment.
- frames: immutable revisions of a frame's document, keyed by ``row_id`` (a sequence: SQLite
  ``AUTOINCREMENT``, PostgreSQL ``BIGSERIAL``; never reused, so a row id names one revision
  forever). ``rev`` (a hash of the document) is the revision's ETag; it is not indexed: nothing
  looks a document up by hash. A child version shares its parent's rows.
- objects: URI and size of every object the pipeline stored (for verify and gc).
- jobs: the daemon's work queue of old (leases); dropped by migration 10: the daemon's jobs are
  procrastinate's now (``queue/``).
- version_frames: membership (version, frame id) -> frame_row (frames.row_id), plus the sort
  keys; a child version gets a copy of its parents' membership rows, so edits in the child never
  show in the parent. An edit inserts a new frames row and points the membership at it.
- frame_units, frame_labels, frame_meta, frame_nums: what queries search, per frames row
  (``frameindex``; reshaped by migration 11).
- version_labels: frames per (version, ROI label), for counts of label queries
  (``labelcounts``).

Why integer row ids (migration 5): with ``rev`` as the frames key, every registered frame went
into three B-trees keyed by random hashes (``frames.rev``, ``version_frames_rev`` and the
membership key on hashed frame ids), each insert landing on a random page; at 1M frames that was
~80% of the SQL time. Row ids from a sequence append at the right edge of their B-trees; only
the membership key (version, frame id) stays hash-ordered, as it must to find a frame by id.
- imports, chunks: chunked imports and their chunks' outcomes (``chunks.py``); on PostgreSQL
  procrastinate's schema (its jobs, workers, locks) comes with them.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from . import frameindex, labelcounts
from .db import Conn, Database

#: a step is a statement, or a function run in the migration's transaction (a backfill)
Step = str | Callable[[Conn], Awaitable[None]]

MIGRATIONS: list[list[Step]] = [
    [
        """CREATE TABLE datasets (
            id {text} PRIMARY KEY,
            name {text} NOT NULL UNIQUE,
            description {text},
            tags {text} NOT NULL,
            created_at {real} NOT NULL)""",
        """CREATE TABLE versions (
            id {text} PRIMARY KEY,
            dataset_id {text} NOT NULL REFERENCES datasets(id),
            name {text} NOT NULL,
            state {text} NOT NULL,
            metadata {text} NOT NULL,
            parents {text} NOT NULL,
            created_at {real} NOT NULL,
            published_at {real},
            UNIQUE (dataset_id, name))""",
        """CREATE TABLE frames (
            rev {text} PRIMARY KEY,
            id {text} NOT NULL,
            kind {text} NOT NULL,
            context_id {text},
            timestamp {real},
            document {text} NOT NULL,
            saved_at {real} NOT NULL)""",
        """CREATE TABLE version_frames (
            version_id {text} NOT NULL REFERENCES versions(id),
            frame_id {text} NOT NULL,
            rev {text} NOT NULL REFERENCES frames(rev),
            sort_ctx {text} NOT NULL,
            sort_ts {real} NOT NULL,
            PRIMARY KEY (version_id, frame_id))""",
        "CREATE INDEX version_frames_order ON version_frames "
        "(version_id, sort_ctx, sort_ts, frame_id)",
        "CREATE INDEX version_frames_rev ON version_frames (rev)",
        "CREATE INDEX frames_id ON frames (id)",
    ],
    [
        # objects the pipeline stored, with their size: what `ingest verify` checks against
        """CREATE TABLE objects (
            uri {text} PRIMARY KEY,
            size BIGINT NOT NULL,
            stored_at {real} NOT NULL)""",
    ],
    [
        # daemon jobs: one per manifest version, claimed through a lease (owner + expiry)
        """CREATE TABLE jobs (
            id {text} PRIMARY KEY,
            manifest {text} NOT NULL,
            dataset {text},
            version {text},
            state {text} NOT NULL,
            owner {text},
            lease_until {real} NOT NULL,
            attempts INTEGER NOT NULL,
            error {text},
            summary {text},
            created_at {real} NOT NULL,
            updated_at {real} NOT NULL)""",
        "CREATE INDEX jobs_claim ON jobs (state, lease_until, created_at)",
    ],
    [
        # nothing looks frames up by frame id alone (membership does): one random-keyed index
        # less to maintain on every insert
        "DROP INDEX IF EXISTS frames_id",
    ],
    [
        # integer row ids: frames keyed by a sequence, membership referencing it (see above);
        # existing catalogs are rebuilt in place, in the migration's transaction
        """CREATE TABLE frames_new (
            row_id {serial_pk},
            rev {text} NOT NULL,
            id {text} NOT NULL,
            kind {text} NOT NULL,
            context_id {text},
            timestamp {real},
            document {text} NOT NULL,
            saved_at {real} NOT NULL)""",
        "INSERT INTO frames_new (rev, id, kind, context_id, timestamp, document, saved_at) "
        "SELECT rev, id, kind, context_id, timestamp, document, saved_at FROM frames "
        "ORDER BY saved_at, rev",
        """CREATE TABLE version_frames_new (
            version_id {text} NOT NULL REFERENCES versions(id),
            frame_id {text} NOT NULL,
            frame_row BIGINT NOT NULL REFERENCES frames_new(row_id),
            sort_ctx {text} NOT NULL,
            sort_ts {real} NOT NULL,
            PRIMARY KEY (version_id, frame_id))""",
        "INSERT INTO version_frames_new (version_id, frame_id, frame_row, sort_ctx, sort_ts) "
        "SELECT vf.version_id, vf.frame_id, f.row_id, vf.sort_ctx, vf.sort_ts "
        "FROM version_frames vf JOIN frames_new f ON f.rev = vf.rev",
        "DROP TABLE version_frames",
        "DROP TABLE frames",
        "ALTER TABLE frames_new RENAME TO frames",
        "ALTER TABLE version_frames_new RENAME TO version_frames",
        "CREATE INDEX version_frames_order ON version_frames "
        "(version_id, sort_ctx, sort_ts, frame_id)",
        # orphan checks (is a frames row still referenced?): integer keys, appended in order
        "CREATE INDEX version_frames_row ON version_frames (frame_row)",
    ],
    [
        # the reference SDK's dataset_project= and create_snapshot(child_comment=...)
        "ALTER TABLE datasets ADD COLUMN project {text}",
        "ALTER TABLE versions ADD COLUMN comment {text}",
    ],
    # query index tables (catalog/frameindex.py), filled from the frames already stored (in
    # their present shape: migration 11 rebuilds those an older migration 7 made)
    [
        *frameindex.CREATE,
        frameindex.backfill,
        # a query's matches are checked against the version through this index: with the
        # version in it, the check needs no table read (it still serves the orphan checks)
        "DROP INDEX version_frames_row",
        "CREATE INDEX version_frames_row ON version_frames (frame_row, version_id)",
    ],
    [
        # chunked imports (catalog/chunks.py): one row per (manifest content, version), one
        # per chunk with its outcome; progress, resumption and the merged report come from here
        """CREATE TABLE imports (
            id {text} PRIMARY KEY,
            manifest {text} NOT NULL,
            format {text} NOT NULL,
            version_id {text} NOT NULL,
            state {text} NOT NULL,
            chunks INTEGER NOT NULL,
            summary {text},
            error {text},
            created_at {real} NOT NULL,
            updated_at {real} NOT NULL)""",
        """CREATE TABLE chunks (
            import_id {text} NOT NULL REFERENCES imports(id),
            idx INTEGER NOT NULL,
            span_start BIGINT NOT NULL,
            span_end BIGINT NOT NULL,
            first_line BIGINT NOT NULL,
            state {text} NOT NULL,
            worker {text},
            attempts INTEGER NOT NULL,
            summary {text},
            rejected {text},
            error {text},
            updated_at {real} NOT NULL,
            PRIMARY KEY (import_id, idx))""",
    ],
    # frames per (version, ROI label): counts of plain label queries (catalog/labelcounts.py)
    [*labelcounts.SCHEMA, labelcounts.backfill],
    [
        # the daemon's manifests are procrastinate jobs (queue/): an import started by an
        # inbox job says which daemon queue ends it (report, move); the lease table goes
        "ALTER TABLE imports ADD COLUMN origin {text}",
        "DROP TABLE IF EXISTS jobs",
    ],
    # the query index reshaped for by-reference import speed (frameindex.py says how): rebuilt
    # from the stored documents; the label counts (migration 9) stay as they are
    [*frameindex.REBUILD, frameindex.backfill],
]

_DIALECT = {
    # "C" collation: byte order, the same as SQLite's BINARY, so both sort alike
    "postgresql": {
        "real": "DOUBLE PRECISION",
        "text": 'TEXT COLLATE "C"',
        "json": "TEXT",
        "serial_pk": "BIGSERIAL PRIMARY KEY",
        "without_rowid": "",
    },
    "sqlite": {
        "real": "REAL",
        "text": "TEXT",
        "json": "TEXT",
        "serial_pk": "INTEGER PRIMARY KEY AUTOINCREMENT",
        "without_rowid": " WITHOUT ROWID",
    },
}


async def migrate(db: Database) -> int:
    """Bring the schema up to date; returns the schema version."""
    subst = _DIALECT[db.dialect]
    async with db.transaction() as conn:
        if conn.dialect == "postgresql":
            await conn.execute("SELECT pg_advisory_xact_lock(727274)")
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations "
            f"(version INTEGER PRIMARY KEY, applied_at {subst['real']} NOT NULL)"
        )
        row = await conn.fetchone("SELECT MAX(version) FROM schema_migrations")
        current = int(row[0]) if row and row[0] is not None else 0
        for number, statements in enumerate(MIGRATIONS, start=1):
            if number <= current:
                continue
            for statement in statements:
                if callable(statement):
                    await statement(conn)
                else:
                    await conn.execute(statement.format(**subst))
            await conn.execute(
                "INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)",
                (number, time.time()),
            )
        if conn.dialect == "postgresql":
            await _procrastinate_schema(conn)
    return len(MIGRATIONS)


async def _procrastinate_schema(conn: Conn) -> None:
    """procrastinate's tables, functions and triggers (the chunk queue on PostgreSQL), applied
    once with the catalog's migrations, under the same lock. Upgrading procrastinate past a
    version that changes its schema means appending its migration files (shipped in
    ``procrastinate/sql/migrations``) as a catalog migration."""
    row = await conn.fetchone("SELECT to_regclass('procrastinate_jobs') IS NOT NULL")
    if row and row[0]:
        return
    from procrastinate.schema import SchemaManager

    await conn.execute(SchemaManager.get_schema())
