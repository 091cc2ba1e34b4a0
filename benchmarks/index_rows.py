"""What the query index costs a by-reference import, table by table, on SQLite.

    .venv/bin/python benchmarks/index_rows.py MANIFEST [--repeat 10] [--batch 2000] [--build-only]

Reads a JSONL manifest of FrameGroups (``benchmarks/workload.py DIR --by-reference``), builds
the index rows of its documents once (``catalog/frameindex.py``: ``IndexRows``, the committer's
work), then inserts them into a fresh SQLite file with the catalog's pragmas, in batches of
``--batch`` groups, one transaction each, ``--repeat`` times over (new row ids each time, so
the tables grow as in an import of ``repeat`` x the manifest). Prints, per table, rows and
seconds of process time (the inserting thread only: no other work runs), side by side with
the frames rows alone (``frames``-shaped: append-only, keyed by a sequence) as the baseline.
Nothing else of the pipeline runs: this isolates the B-trees the index writes. ``--build-only``
times the Python work alone (the rows built ``repeat`` times over); ``PYTHONPATH`` picks the
code measured (another checkout's ``ingest``, for a side by side run).
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.append(str(Path(__file__).resolve().parent.parent))  # after PYTHONPATH

from ingest.catalog import frameindex
from ingest.catalog.schema import _DIALECT

BASELINE = "frames_like"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("manifest", type=Path)
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--batch", type=int, default=2000, help="groups per transaction")
    parser.add_argument("--build-only", action="store_true", help="time building the rows")
    args = parser.parse_args()
    lines = args.manifest.read_bytes().splitlines()
    build, batches = 0.0, []
    for _ in range(args.repeat if args.build_only else 1):
        t0 = time.process_time()
        batches = _build(lines, args.batch)
        build += time.process_time() - t0
    if args.build_only:
        frames = sum(len(b.units) for b in batches) * args.repeat
        print(f"{frames:,} frames: building the index rows {build:.2f} s CPU "
              f"({build / frames * 1e6:.2f} us per frame; {frameindex.__file__})")  # fmt: skip
        return 0
    frames = sum(len(b.units) for b in batches)
    with tempfile.TemporaryDirectory() as tmp:
        con = sqlite3.connect(Path(tmp) / "index.sqlite3", isolation_level=None)
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "cache_size=-65536"):
            con.execute(f"PRAGMA {pragma}")
        for statement in frameindex.CREATE:
            con.execute(statement.format(**_DIALECT["sqlite"]))
        con.execute(f"CREATE TABLE {BASELINE} (row_id INTEGER PRIMARY KEY, document TEXT)")
        spent = dict.fromkeys([BASELINE, *frameindex.TABLES], 0.0)
        counted = dict.fromkeys(spent, 0)
        for rep in range(args.repeat):
            offset = rep * len(lines)
            for number, rows in enumerate(batches):
                first = offset + number * args.batch
                tables: list[tuple[str, str, list[Any]]] = [
                    (BASELINE, f"INSERT INTO {BASELINE} VALUES (?, ?)",
                     [(first + i + 1, "x" * 2000) for i in range(len({r[0] for r in rows.units}))]),
                    *[(t, frameindex.INSERTS[t].values(), [(r[0] + offset, *r[1:]) for r in table])
                      for t, table in rows.tables()],
                ]  # fmt: skip
                for table, sql, values in tables:
                    t0 = time.process_time()
                    con.execute("BEGIN")
                    con.executemany(sql, values)
                    con.execute("COMMIT")
                    spent[table] += time.process_time() - t0
                    counted[table] += len(values)
        con.close()
    total = frames * args.repeat
    print(f"{total:,} frames ({len(lines):,} groups x {args.repeat}); building the index rows "
          f"(Python, once per document): {build * args.repeat:.1f} s")  # fmt: skip
    print("| table | rows | rows per frame | CPU s | us per row | CPU s per 1M frames |")
    print("|---|---:|---:|---:|---:|---:|")
    for table, seconds in spent.items():
        rows_n = counted[table]
        print(f"| {table} | {rows_n:,} | {rows_n / total:.2f} | {seconds:.1f} | "
              f"{seconds / rows_n * 1e6:.2f} | {seconds / total * 1e6:.1f} |")  # fmt: skip
    return 0


def _build(lines: list[bytes], batch: int) -> list[frameindex.IndexRows]:
    batches = []
    for start in range(0, len(lines), batch):
        rows = frameindex.IndexRows()
        for i, line in enumerate(lines[start : start + batch]):
            rows.add(start + i + 1, line)
        batches.append(rows)
    return batches


if __name__ == "__main__":
    sys.exit(main())
