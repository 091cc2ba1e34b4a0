"""Cloud stores benchmark: the 2,400-frame upload scenario on S3, GCS and Azure, side by side.

``ingest import`` of the same workload (400 groups x 6 cameras, 64 KiB mean: the
``local_small`` spec of run.py) into ``s3://`` on ``rclone serve s3`` (tests/rclone.py),
``gs://`` on gcp-storage-emulator and ``az://`` on Azurite (tests/cloudservers.py), each with a
fresh server, bucket and SQLite catalog per run, in alternating order, ``--pairs`` rounds. Per
store:
median frames/s and MB/s, the client's CPU per frame, the server's CPU per frame (psutil), and
the ratio to S3 of the same round. The emulators are single-process test servers (the GCS one
is Python), so their figures bound what is measured here: they say what the client keeps up
with on this machine, not what GCS or Azure serve.

    .venv/bin/python benchmarks/cloud_stores.py                 # 3 rounds, writes RESULTS.md
    .venv/bin/python benchmarks/cloud_stores.py --groups 20 --pairs 1 --no-write   # seconds

The section it writes sits in benchmarks/RESULTS.md between ``<!-- cloudstores:begin -->`` and
``<!-- cloudstores:end -->`` (run.py --full keeps it).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.scenarios import ServerWatch, base_env, run_ingest  # noqa: E402
from benchmarks.workload import Spec, ensure  # noqa: E402
from tests.cloudservers import Azurite, GcsEmulator  # noqa: E402
from tests.rclone import RcloneServer  # noqa: E402
from tests.s3server import AWS_TEST_ENV, aws_test_env, create_bucket  # noqa: E402

BEGIN, END = "<!-- cloudstores:begin -->", "<!-- cloudstores:end -->"
STORES = ("s3", "gcs", "azure")


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


SERVERS = {"s3": RcloneServer, "gcs": GcsEmulator, "azure": Azurite}


def fresh_target(server: Any, store: str) -> tuple[str, dict[str, str], str | None]:
    """(storage URL with a fresh bucket, environment, S3 endpoint) on ``server``."""
    if store == "s3":
        bucket = create_bucket(server.endpoint)
        return f"s3://{bucket}/bench", dict(AWS_TEST_ENV), server.endpoint
    if store == "gcs":
        env = {"STORAGE_EMULATOR_HOST": server.endpoint}
        return f"gs://{server.create_bucket()}/bench", env, None
    env = {"AZURE_STORAGE_CONNECTION_STRING": server.connection_string}
    return f"az://{server.create_container()}/bench", env, None


def one_run(store: str, wl: Any, tmp: Path, concurrency: int) -> dict[str, Any]:
    """One import into a server started for it: the emulators keep every object in memory
    and slow down as they fill, so no run inherits another's objects."""
    with aws_test_env(), SERVERS[store]() as server:
        return _measured(server, store, wl, tmp, concurrency)


def _measured(server: Any, store: str, wl: Any, tmp: Path, concurrency: int) -> dict[str, Any]:
    storage_url, extra, endpoint = fresh_target(server, store)
    name = f"{store}-{time.monotonic_ns()}"
    run, _ = run_ingest(
        wl,
        f"sqlite:///{tmp / name}.sqlite3",
        storage_url,
        base_env(extra),
        endpoint=endpoint,
        concurrency=concurrency,
        report=tmp / f"{name}.report.jsonl",
        server=ServerWatch(server.pid),
    )
    out = run.to_dict()
    log(
        f"  {store:6s} {out['frames_per_s']:8.1f} frames/s  {out['mb_per_s']:6.2f} MB/s  "
        f"{out['extra']['retries']} retries  "
        f"client {out['cpu_ms_per_frame']:.2f} ms CPU/frame  "
        f"server {out.get('server_cpu_ms_per_frame', float('nan')):.2f} ms CPU/frame"
    )
    return out


def measure(args: argparse.Namespace) -> dict[str, Any]:
    spec = Spec(args.groups, 6, 64, seed=5)
    work = Path(args.out)
    wl = ensure(spec, work / f"cloud-{spec.groups}x{spec.cameras}-{spec.size_kb}k")
    log(f"workload: {wl.frames} frames, {wl.total_bytes / 1e6:.1f} MB")
    runs: dict[str, list[dict[str, Any]]] = {s: [] for s in STORES}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.pairs):
            order = STORES[r % 3 :] + STORES[: r % 3]  # each store first in turn
            log(f"round {r + 1}: {', '.join(order)}")
            for store in order:
                runs[store].append(one_run(store, wl, Path(tmp), args.concurrency))
    return {
        "frames": wl.frames,
        "bytes": wl.total_bytes,
        "pairs": args.pairs,
        "concurrency": args.concurrency,
        "runs": runs,
    }


def _median(rows: list[dict[str, Any]], key: str) -> float:
    values = [r[key] for r in rows if r.get(key) is not None]
    return statistics.median(values) if values else float("nan")


def section(results: dict[str, Any]) -> str:
    runs = results["runs"]
    s3_rates = [r["frames_per_s"] for r in runs["s3"]]
    lines = [
        "## Cloud stores: the 2,400-frame upload on S3, GCS and Azure (emulators)",
        "",
        f"`benchmarks/cloud_stores.py`: {results['frames']:,} frames "
        f"({results['bytes'] / 1e6:.0f} MB, 6 cameras, 64 KiB mean), `ingest import` into a "
        f"fresh server + bucket + SQLite per run (the emulators keep objects in memory and slow "
        f"down as they fill), `--concurrency {results['concurrency']}` for the three "
        f"(the GCS emulator, a single-threaded Python `http.server` with a listen backlog of "
        f"5, resets connections at the default 64), the stores in alternating order, median of "
        f"{results['pairs']} rounds, on {os.cpu_count()} cores shared with other work.",
        "",
        "| store (server) | frames/s | MB/s | vs S3 (same round) | client CPU ms/frame "
        "| server CPU ms/frame | retries |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    names = {
        "s3": "`s3://` (`rclone serve s3`, Go)",
        "gcs": "`gs://` (gcp-storage-emulator, Python)",
        "azure": "`az://` (Azurite, Node.js)",
    }
    for store in STORES:
        rows = runs[store]
        ratios = [r["frames_per_s"] / s for r, s in zip(rows, s3_rates, strict=True) if s]
        lines.append(
            f"| {names[store]} | {_median(rows, 'frames_per_s'):.0f} "
            f"| {_median(rows, 'mb_per_s'):.1f} "
            f"| {statistics.median(ratios):.2f}x "
            f"| {_median(rows, 'cpu_ms_per_frame'):.2f} "
            f"| {_median(rows, 'server_cpu_ms_per_frame'):.2f} "
            f"| {sum(r['extra']['retries'] for r in rows)} |"
        )
    lines += [
        "",
        "The emulators bound these figures, not the client: each is one server process on the "
        "same two cores as the client, the GCS emulator a Python HTTP server that serves one "
        "request at a time and computes every upload's MD5 and CRC32C, Azurite a Node.js server "
        "that checks every Content-MD5; their CPU per frame is what to compare with the "
        "client's. Real GCS and Azure endpoints are remote and scale out, so there the client's "
        "CPU per frame and the network bound the rate.",
    ]
    return "\n".join(lines)


def write_section(path: Path, text: str) -> None:
    old = path.read_text() if path.exists() else ""
    block = f"{BEGIN}\n{text}\n{END}"
    if BEGIN in old and END in old:
        head, rest = old.split(BEGIN, 1)
        new = head + block + rest.split(END, 1)[1]
    else:
        new = old.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(new)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--groups", type=int, default=400, help="groups of 6 frames (400: 2,400)")
    ap.add_argument("--pairs", type=int, default=3, help="rounds over the three stores")
    ap.add_argument(
        "--concurrency",
        type=int,
        default=16,
        help="uploads in flight, the same for the three (the GCS emulator, a single-threaded "
        "Python http.server with a listen backlog of 5, resets connections at the default 64)",
    )
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "out" / "cloud"))
    ap.add_argument("--results-md", default=str(ROOT / "benchmarks" / "RESULTS.md"))
    ap.add_argument("--no-write", action="store_true", help="print the section only")
    args = ap.parse_args(argv)
    text = section(measure(args))
    print(text)
    if not args.no_write:
        write_section(Path(args.results_md), text)
        log(f"wrote the cloud stores section of {args.results_md}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
