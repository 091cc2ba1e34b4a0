"""DataView queries at 1,000,000 frames, on SQLite and on PostgreSQL.

    .venv/bin/python benchmarks/query_1m.py [--frames 1000000] [--no-postgres] [--no-write]

Registers N lone SingleFrames (one catalog row each: the heaviest case for a count) through
the catalog's write path (``write_frames``, batches of 5,000, the index rows in the same
transactions) into SQLite, then times, warm, the median of 5 calls of ``DataView.get_count()``
and of the first item of ``get_iterator()`` (sequential and random order) for a few queries.
PostgreSQL runs on a throwaway cluster started like the tests do (``tests/pg.py``), with the
same rows copied from the SQLite catalog (``COPY``; writing 1M frames row by row through
asyncpg's ``executemany`` takes too long on the shared benchmark machine). The section between
``<!-- dataview:begin -->`` and ``<!-- dataview:end -->`` of ``benchmarks/RESULTS.md`` is
rewritten with the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ingest import DatasetVersion, DataView, IterationOrder, configure, runtime  # noqa: E402
from ingest.catalog import FrameRow, open_catalog  # noqa: E402

RESULTS = ROOT / "benchmarks" / "RESULTS.md"
BEGIN, END = "<!-- dataview:begin -->", "<!-- dataview:end -->"
CITIES = ["bremen", "berlin", "hamburg", "munich", "cologne", "dresden", "kiel", "bonn"]
QUERIES: list[tuple[str, dict[str, Any]]] = [
    ("roi_query='pedestrian' (10%)", {"roi_query": "pedestrian"}),
    ("roi_query='car' (50%)", {"roi_query": "car"}),
    ("roi_query='rare' (0.1%)", {"roi_query": "rare"}),
    ("frame_query='meta.city:bremen' (12.5%)", {"frame_query": "meta.city:bremen"}),
    ("frame_query='car AND NOT pedestrian'", {"frame_query": "car AND NOT pedestrian"}),
    ("frame_query='meta.n:[100000 TO 199999]' (10%)", {"frame_query": "meta.n:[100000 TO 199999]"}),
    ("frame_query='meta.n:500000' (1 frame)", {"frame_query": "meta.n:500000"}),
]


def rows(n: int, seed: int = 1) -> Iterator[FrameRow]:
    rng = random.Random(seed)
    for i in range(n):
        labels = ["car"] if rng.random() < 0.5 else ["truck"]
        if rng.random() < 0.1:
            labels.append("pedestrian")
        if rng.random() < 0.001:
            labels.append("rare")
        ctx, ts = f"drive-{i // 1000:05d}", float(i % 1000)
        doc = {
            "schema_version": 1, "id": f"f{i:08d}", "context_id": ctx, "timestamp": ts,
            "source": f"https://data.example.com/{i:08d}.jpg", "width": 1920, "height": 1080,
            "metadata": {"city": rng.choice(CITIES), "n": i},
            "annotations": [
                {"labels": [x], "confidence": 0.9, "box2d_xywh": [1, 2, 3, 4], "metadata": {}}
                for x in labels
            ],
        }  # fmt: skip
        yield FrameRow(f"f{i:08d}", "single", ctx, ts, orjson.dumps(doc))


async def fill(url: str, n: int) -> tuple[str, float]:
    """A dataset 'Q' / version 'v1' of ``n`` frames; the version id and the seconds taken."""
    catalog = await open_catalog(url)
    try:
        dataset = await catalog.create_dataset("Q", tags=(), description=None,
                                               raise_if_exists=False)  # fmt: skip
        version = await catalog.create_version(dataset.id, "v1", parent_ids=(),
                                               raise_if_exists=False)  # fmt: skip
        if await catalog.count_frames(version.id) == n:
            return version.id, 0.0
        t0 = time.perf_counter()
        batch: list[FrameRow] = []
        for row in rows(n):
            batch.append(row)
            if len(batch) == 5000:
                await catalog.write_frames(version.id, batch)
                batch = []
        if batch:
            await catalog.write_frames(version.id, batch)
        await catalog.db.execute("ANALYZE")  # planner statistics, as after a real import
        return version.id, time.perf_counter() - t0
    finally:
        await catalog.close()


COPIED = ("datasets", "versions", "frames", "version_frames", "frame_units", "frame_labels",
          "frame_meta", "frame_nums", "version_labels")  # fmt: skip


async def copy_into(sqlite_path: Path, url: str) -> float:
    """The SQLite catalog's rows copied into the (migrated, empty) PostgreSQL one; seconds."""
    import sqlite3

    import asyncpg

    await (await open_catalog(url)).close()  # the schema
    source = sqlite3.connect(sqlite_path)
    conn = await asyncpg.connect(url)
    t0 = time.perf_counter()
    try:
        for table in COPIED:
            cursor = source.execute(f"SELECT * FROM {table}")
            columns = [d[0] for d in cursor.description]
            while rows := cursor.fetchmany(50_000):
                await conn.copy_records_to_table(table, records=rows, columns=columns)
        await conn.execute("ANALYZE")
    finally:
        await conn.close()
        source.close()
    return time.perf_counter() - t0


def median_ms(call: Callable[[], Any], times: int = 5) -> tuple[float, Any]:
    call()  # warm
    samples, result = [], None
    for _ in range(times):
        t0 = time.perf_counter()
        result = call()
        samples.append((time.perf_counter() - t0) * 1000)
    return statistics.median(samples), result


def first_item(view: DataView) -> Any:
    iterator = view.get_iterator()
    item = next(iterator)
    iterator.close()
    return item


def measure(url: str, n: int, copy_from: Path | None = None) -> dict[str, Any]:
    if copy_from is None:
        _, fill_s = asyncio.run(fill(url, n))
    else:
        fill_s = asyncio.run(copy_into(copy_from, url))
    configure(database_url=url, storage_url="file:///tmp/unused-objects")
    out: dict[str, Any] = {"fill_s": round(fill_s, 1), "queries": []}
    # the reference on the same machine and catalog: counting the version, no query
    version = DatasetVersion.get_version("Q", "v1")
    plain_ms, _ = median_ms(version.get_frame_count)
    out["plain_count_ms"] = round(plain_ms, 1)
    out["load"] = round(os.getloadavg()[0], 1)
    for name, query in QUERIES:
        seq = DataView()
        seq.add_query(dataset_name="Q", version_name="v1", **query)
        rnd = DataView(iteration_order=IterationOrder.random, random_seed=7)
        rnd.add_query(dataset_name="Q", version_name="v1", **query)
        count_ms, count = median_ms(seq.get_count)
        first_ms, _ = median_ms(lambda v=seq: first_item(v))
        random_ms, _ = median_ms(lambda v=rnd: first_item(v), times=3)
        out["queries"].append(
            {"query": name, "count": count, "get_count_ms": round(count_ms, 1),
             "first_item_ms": round(first_ms, 1), "first_random_ms": round(random_ms, 1)}
        )  # fmt: skip
        print(name, out["queries"][-1], flush=True)
    runtime.close_all()
    return out


def section(n: int, results: dict[str, dict[str, Any]]) -> str:
    lines = [
        BEGIN,
        f"### DataView queries at {n:,} frames (`benchmarks/query_1m.py`)",
        "",
        f"{n:,} lone SingleFrames in one version, each with 1-3 labels and 2 metadata keys; "
        f"warm medians of 5 calls through the library (`DataView`). Machine: "
        f"{platform.machine()}, {platform.python_version()}, shared by other jobs while "
        f"measured. Written {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.",
        "",
        "| catalog | query | frames selected | get_count() ms | first item ms (sequential) "
        "| first item ms (random) |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for dialect, result in results.items():
        for q in result["queries"]:
            lines.append(
                f"| {dialect} | `{q['query']}` | {q['count']:,} | {q['get_count_ms']} "
                f"| {q['first_item_ms']} | {q['first_random_ms']} |"
            )
    lines += [
        "",
        "Filling the catalog (SQLite: write_frames in batches of 5,000, index rows included; "
        "0 when a kept catalog was reused; PostgreSQL: the same rows by COPY): "
        + ", ".join(f"{d} {r['fill_s']} s" for d, r in results.items())
        + ". Reference on the same catalog: `get_frame_count()` of the whole version (no "
        "query) took "
        + ", ".join(f"{d} {r['plain_count_ms']} ms" for d, r in results.items())
        + "; the machine's 1-minute load average while measuring: "
        + ", ".join(f"{d} {r['load']}" for d, r in results.items())
        + " (2 cores). A plain label query's count reads one row of the per-version label "
        "counts (`catalog/labelcounts.py`); other counts go through the index, one probe of "
        "the version per match. Random order reads the matches of a window of row-id blocks "
        "at a time (`querycases.py`) after counting the filter, so a compound filter's first "
        "random item costs its count. A compound query's sequential page tries windows of the "
        "next frames in order first (`catalog/queries.py`).",
        END,
    ]
    return "\n".join(lines)


def write_section(text: str) -> None:
    current = RESULTS.read_text() if RESULTS.exists() else ""
    if BEGIN in current and END in current:
        head, rest = current.split(BEGIN, 1)
        current = head + text + rest.split(END, 1)[1]
    else:
        current = current.rstrip() + "\n\n" + text + "\n"
    RESULTS.write_text(current)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frames", type=int, default=1_000_000)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--no-write", action="store_true", help="print, leave RESULTS.md alone")
    parser.add_argument("--work", type=Path, help="folder for the SQLite catalog (kept)")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="query1m-"))
    work.mkdir(parents=True, exist_ok=True)
    sqlite_path = work / "catalog.sqlite3"
    results = {"SQLite": measure(f"sqlite:///{sqlite_path}", args.frames)}
    if not args.no_postgres:
        from tests.pg import create_database, postgres_cluster

        with postgres_cluster() as admin:
            url = create_database(admin)
            results["PostgreSQL"] = measure(url, args.frames, copy_from=sqlite_path)
    text = section(args.frames, results)
    print(text)
    if not args.no_write:
        write_section(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
