"""Chunked imports on procrastinate: groups/s of one manifest with 1, 2 and 4 `ingest worker`
processes on a throwaway PostgreSQL (tests/pg.py), by reference and with uploads to the
`rclone serve s3` server (tests/rclone.py); CPU of the workers and of PostgreSQL, and a py-spy
profile of one worker; the section between `<!-- chunks:begin -->` and `<!-- chunks:end -->`
of benchmarks/RESULTS.md.

    .venv/bin/python benchmarks/chunks.py [--groups 1000000] [--s3-groups 20000]
                                          [--workers 1,2,4] [--write-results]
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.pg import create_database, postgres_cluster  # noqa: E402
from tests.rclone import RcloneServer  # noqa: E402
from tests.s3server import AWS_TEST_ENV, create_bucket  # noqa: E402

INGEST = str(Path(sys.executable).parent / "ingest")
CAMERAS = ("front", "rear")


def by_reference(path: Path, groups: int) -> Path:
    with open(path, "w") as fh:
        for i in range(groups):
            frames = {c: {"source": f"https://cdn.example/{c}/{i:08d}.jpg", "width": 1920,
                          "height": 1080} for c in CAMERAS}  # fmt: skip
            fh.write(json.dumps({"id": f"g{i:08d}", "frames": frames}) + "\n")
    return path


def with_files(folder: Path, groups: int) -> Path:
    """Groups of two small local files (2 KiB each), uploaded by the workers."""
    folder.mkdir(parents=True, exist_ok=True)
    payload = os.urandom(2048)
    with open(folder / "m.jsonl", "w") as fh:
        for i in range(groups):
            frames = {}
            for cam in CAMERAS:
                src = folder / cam / f"{i:07d}.jpg"
                if not src.exists():
                    src.parent.mkdir(exist_ok=True)
                    src.write_bytes(payload + i.to_bytes(8, "big"))
                frames[cam] = {"source": str(src), "width": 8, "height": 8}
            fh.write(json.dumps({"id": f"f{i:07d}", "frames": frames}) + "\n")
    return folder / "m.jsonl"


def _cpu(procs: list[psutil.Process]) -> float:
    total = 0.0
    for p in procs:
        try:
            t = p.cpu_times()
            total += t.user + t.system
            for child in p.children(recursive=True):
                ct = child.cpu_times()
                total += ct.user + ct.system
        except psutil.Error:
            pass
    return total


def _postmaster(admin_url: str) -> psutil.Process:
    port = admin_url.rsplit(":", 1)[1].split("/")[0]
    for p in psutil.process_iter(["username", "cmdline"]):
        if p.info["username"] == "postgres" and f"-p {port}" in " ".join(p.info["cmdline"] or []):
            return p
    raise RuntimeError("the benchmark's PostgreSQL server is not running")


def _pg_cpu(postmaster: psutil.Process) -> float:
    """CPU of the server: the postmaster, its ended backends (reaped) and the live ones."""
    t = postmaster.cpu_times()
    return t.user + t.system + t.children_user + t.children_system + _cpu(postmaster.children())


def run(admin: str, manifest: Path, workers: int, env: dict[str, str], profile: Path | None
        ) -> dict[str, Any]:  # fmt: skip
    chunk_groups = int(env["INGEST_CHUNK_GROUPS"])
    env = {**env, "INGEST_DATABASE_URL": create_database(admin)}
    subprocess.run([INGEST, "datasets", "create", "Bench"], env=env, check=True,
                   capture_output=True)  # fmt: skip
    procs = [subprocess.Popen([INGEST, "worker", "--worker-id", f"w{i}"], env=env,
                              stderr=subprocess.DEVNULL) for i in range(workers)]  # fmt: skip
    spy = None
    try:
        time.sleep(5)  # workers connected (their start-up is not what this measures)
        handles = [psutil.Process(p.pid) for p in procs]
        pg = _postmaster(admin)
        cpu0, pg0 = _cpu(handles), _pg_cpu(pg)
        if profile is not None:
            spy = subprocess.Popen([str(Path(sys.executable).parent / "py-spy"), "record",
                                    "--format", "raw", "-o", str(profile), "-r", "50",
                                    "-p", str(procs[0].pid)], stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)  # fmt: skip
        start = time.monotonic()
        out = subprocess.run([INGEST, "import", str(manifest), "--dataset", "Bench", "--version",
                              "v1", "--create", "--queue", "--json", "--quiet"], env=env,
                             capture_output=True, text=True, check=True)  # fmt: skip
        wall = time.monotonic() - start
        cpu, pg_cpu = _cpu(handles) - cpu0, _pg_cpu(pg) - pg0
    finally:
        if spy is not None:
            spy.send_signal(2)
            spy.wait(timeout=60)
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=120)
    summary = json.loads(out.stdout)["summary"]
    groups = summary["groups_committed"] + summary["groups_unchanged"]
    return {"workers": workers, "groups": groups, "wall_s": round(wall, 2),
            "chunks": -(-groups // chunk_groups),
            "groups_per_s": round(groups / wall), "worker_cpu_s": round(cpu, 3),
            "postgres_cpu_s": round(pg_cpu, 3),
            "objects_uploaded": summary["objects_uploaded"]}  # fmt: skip


def top_of_profile(path: Path, n: int = 8) -> list[tuple[str, float]]:
    """Self time per function (the innermost frame) of a py-spy raw profile, in %."""
    counts: collections.Counter[str] = collections.Counter()
    for line in path.read_text().splitlines():
        stack, _, samples = line.rpartition(" ")
        if not stack or not samples.isdigit():
            continue
        leaf = stack.split(";")[-1]
        counts[re.sub(r" \(.*?/(site-packages|lib/python3\.\d+|ingest)/", r" (\1/", leaf)] += int(
            samples
        )
    total = sum(counts.values()) or 1
    return [(name, 100 * c / total) for name, c in counts.most_common(n)]


def section(results: dict[str, Any]) -> str:
    rows = [
        "| run | workers | groups | chunks | wall s | groups/s | speed-up | worker CPU µs/group"
        " | PostgreSQL CPU µs/group |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name in ("by_reference", "s3_uploads"):
        base = None
        for r in results.get(name, []):
            base = base or r["groups_per_s"]
            per = 1e6 / max(r["groups"], 1)
            rows.append(f"| {name.replace('_', ' ')} | {r['workers']} | {r['groups']:,} | "
                        f"{r['chunks']} | {r['wall_s']} | {r['groups_per_s']:,} | "
                        f"{r['groups_per_s'] / base:.2f}x | {r['worker_cpu_s'] * per:.0f} | "
                        f"{r['postgres_cpu_s'] * per:.0f} |")  # fmt: skip
    prof = "\n".join(f"| `{name}` | {pct:.1f}% |" for name, pct in results.get("profile", []))
    return (
        "<!-- chunks:begin -->\n"
        f"Measured by `benchmarks/chunks.py` ({results['when']}, {results['cpus']} cores, "
        f"load average {results['load']} at the start: the machine is shared by other runs), "
        "wall time from `ingest import --queue` to its end (the workers already started), CPU "
        "of the workers and of the PostgreSQL server (postmaster and backends) per group.\n\n"
        + "\n".join(rows)
        + "\n\n"
        "Self time of one worker (py-spy, 2-worker by-reference run), top functions:\n\n"
        "| function | samples |\n|---|---:|\n" + prof + "\n\n" + results["analysis"] + "\n"
        "<!-- chunks:end -->"
    )


ANALYSIS = """\
What bounds the scaling here: the machine's 2 cores, and three quarters of the CPU per group is
PostgreSQL's. By reference, a worker spends ~34 µs of CPU per group (reading lines, decoding,
building rows, asyncpg round trips) and the PostgreSQL server 100-130 µs (the upserts of
`frames`, `version_frames` and the query index rows, their B-trees, the WAL), more as more
workers commit at once. One worker is not CPU-bound: it and the server together used ~0.6 of a
core (133 s of CPU in 239 s); it waits on its commit round trips and on its decoder and
catalog threads (the profile: a third of its samples are the event loop's `select` and
`Condition.wait`, a tenth asyncpg's `execute`). A second worker fills those waits (1.6x); a
fourth only competes for the same 2 cores, shared with the other engineers' runs (load average
above): 4 workers used ~1.3 cores of CPU per second of wall time, about this run's share of the
machine. With uploads (8,000 groups of two 2 KiB files, chunks of 1,000) nothing scales: the
worker's CPU per group (signing, HTTP, hashing: 1-1.7 ms) and the `rclone serve s3` server on
the same 2 cores are the bound, and more processes only add contention.

On paper, 100 workers on 100 machines and one PostgreSQL server, by reference, with the CPU
per group measured above (W ~ 34 µs for a worker, P ~ 100-130 µs for the server):
- the fleet's demand: one worker alone does ~4,000-5,000 groups/s (latency-bound, not 1e6 / W
  = 29,000; 4,943 in a run at load 2.6), so 100 workers ask for 400,000-500,000 groups/s; a
  server supplies about
  cores x 1e6 / P: ~120,000-160,000 groups/s on 16 cores. 100 workers are bound by
  PostgreSQL's row writes (a 1,000,000-group manifest in ~7 s), reached with ~20-40 workers;
  past that, more workers add nothing. Beyond it: larger commit batches
  (`commit_batch_groups`), fewer index rows per frame, partitioned frame tables, faster WAL
  disks.
- commits/s: each worker commits every `commit_interval_s` (0.5 s) or 2,000 groups, so 100
  workers make ~200-400 commit transactions/s, far below what a server takes (thousands/s
  with a WAL on SSD): the bound is rows, not transactions.
- the queue's polling: each idle worker polls `procrastinate_jobs` once a second
  (`fetch_job_polling_interval`; LISTEN/NOTIFY wakes it sooner) and every worker sends a
  heartbeat every `chunk_stalled_s / 3` (10 s): 100 workers make ~110 small queries/s, under
  1% of the server. What does matter: a manifest has `groups / chunk_groups` chunks (20 for
  1,000,000 at the default), so one manifest keeps at most 20 workers busy; for 100 workers
  on one manifest lower `chunk_groups` to ~10,000 (a chunk then lasts ~2 s per worker, its
  start-up, a pipeline run and a few catalog round trips, a few percent of that).
- with uploads the bound is the clients' CPU (~1 ms per group of two objects, so ~1,000
  groups/s per worker core) and then the store: workers add throughput until the S3 service's
  request rate (AWS: 3,500 PUT/s per prefix, so spread objects over prefixes) or the network.
"""


def main() -> None:
    # SIGTERM unwinds like Ctrl-C, so the PostgreSQL cluster and the S3 server are stopped
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--groups", type=int, default=1_000_000)
    parser.add_argument("--s3-groups", type=int, default=20_000)
    parser.add_argument("--chunk-groups", type=int, default=50_000)
    parser.add_argument("--s3-chunk-groups", type=int, default=1_000)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out" / "chunks")
    parser.add_argument("--write-results", action="store_true", help="update RESULTS.md")
    args = parser.parse_args()
    counts = [int(n) for n in args.workers.split(",")]
    args.out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="chunks-", dir=args.out))
    results: dict[str, Any] = {
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "cpus": os.cpu_count(),
        "load": f"{os.getloadavg()[0]:.1f}", "chunk_groups": args.chunk_groups,
        "analysis": ANALYSIS,
    }  # fmt: skip
    base = {k: v for k, v in os.environ.items() if not k.startswith("INGEST_")}
    base.update(INGEST_CHUNK_GROUPS=str(args.chunk_groups), INGEST_WORKERS="1")
    with postgres_cluster() as admin:
        manifest = by_reference(work / "byref.jsonl", args.groups)
        env = {**base, "INGEST_STORAGE_URL": f"file://{work / 'objects'}"}
        results["by_reference"] = []
        for n in counts:
            profile = work / "profile.txt" if n == 2 else None
            results["by_reference"].append(run(admin, manifest, n, env, profile))
            print(results["by_reference"][-1], flush=True)
            if profile is not None and profile.exists():
                results["profile"] = top_of_profile(profile)
        files = with_files(work / "files", args.s3_groups)
        with RcloneServer() as server:
            results["s3_uploads"] = []
            for n in counts:
                bucket = create_bucket(server.endpoint)
                env = {**base, **AWS_TEST_ENV, "INGEST_STORAGE_URL": f"s3://{bucket}/objects",
                       "INGEST_S3_ENDPOINT_URL": server.endpoint,
                       "INGEST_CHUNK_GROUPS": str(args.s3_chunk_groups)}  # fmt: skip
                results["s3_uploads"].append(run(admin, files, n, env, None))
                print(results["s3_uploads"][-1], flush=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=2))
    text = section(results)
    print(text)
    if args.write_results:
        path = ROOT / "benchmarks" / "RESULTS.md"
        current = path.read_text()
        if "<!-- chunks:begin -->" in current:
            head, rest = current.split("<!-- chunks:begin -->", 1)
            current = head + text + rest.split("<!-- chunks:end -->", 1)[1]
        else:
            current = current.rstrip("\n") + "\n\n## Chunked imports on many workers\n\n" + text
        path.write_text(current + ("" if current.endswith("\n") else "\n"))


if __name__ == "__main__":
    main()
