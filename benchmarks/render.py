"""results.json -> Markdown tables and a PNG plot of throughput against concurrency.

    .venv/bin/python benchmarks/render.py benchmarks/results.json [RESULTS.md]

Every marked block of an existing RESULTS.md, ``<!-- NAME:begin -->`` ... ``<!-- NAME:end -->``,
is kept when it is rewritten: ``analysis`` (what bounds each figure, written by a person) in its
section, any other (sections other benchmark scripts and their authors add) after it, in the
order they had.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

_BLOCK = re.compile(r"<!-- ([\w.-]+):begin -->(.*?)<!-- \1:end -->", re.S)
TITLES = {
    "local": "(a) local storage + SQLite",
    "local_small": "(a) local storage + SQLite, small import",
    "s3_sqlite": "(b) S3 + SQLite",
    "s3_postgres": "(b) S3 + PostgreSQL",
    "s3_sqlite_moto": "(b) S3 on moto + SQLite",
    "byref": "(c) by reference (no upload) + SQLite",
    "faults": "(d) S3 (moto) + SQLite, 2% transient / 0.5% permanent faults",
}
BASELINE_TITLES = {
    "cp_r": "`cp -r`",
    "s5cmd": "`s5cmd cp`",
    "boto3_seq": "boto3 sequential loop",
    "boto3_pool8": "boto3 ThreadPool(8)",
    "sql_executemany": "raw SQL `executemany`",
}


def _n(value: Any, digits: int = 0) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        return f"{value:,.{digits}f}"
    return str(value)


def summary_table(results: dict[str, Any]) -> str:
    lines = [
        "| scenario | frames | MB | ingest frames/s | MB/s | CPU ms/frame | peak RSS MB "
        "| baselines: frames/s (ingest/baseline, median of pairs) |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for name, s in results["scenarios"].items():
        base = "; ".join(
            f"{BASELINE_TITLES.get(b, b)} {_n(fps)} ({_n(s['ratios'].get(b), 2)}x)"
            for b, fps in s["baselines"].items()
        )
        lines.append(
            f"| {TITLES.get(name, name)} | {_n(s['frames'])} | {_n(s['bytes'] / 1e6, 1)} "
            f"| {_n(s['frames_per_s'])} | {_n(s['mb_per_s'], 1)} "
            f"| {_n(s['cpu_ms_per_frame'], 3)} | {_n(s['peak_rss_mb'], 1)} | {base or '-'} |"
        )
    return "\n".join(lines)


def steady_table(results: dict[str, Any]) -> str:
    """Start-up apart from the steady state, and the commit timeline, per scenario."""
    lines = [
        "| scenario | frames | start-up s (1 group) | start-up CPU s | steady frames/s "
        "| CPU ms/frame, start-up excluded | first commit s | max gap between commits s "
        "| commits seen |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, s in results["scenarios"].items():
        su = s.get("startup") or {}
        lines.append(
            f"| {TITLES.get(name, name)} | {_n(s['frames'])} | {_n(su.get('wall_s'), 3)} "
            f"| {_n(su.get('cpu_s'), 3)} | {_n(s.get('steady_frames_per_s'))} "
            f"| {_n(s.get('cpu_ms_per_frame_steady'), 3)} | {_n(s.get('first_commit_s'), 2)} "
            f"| {_n(s.get('max_commit_gap_s'), 2)} | {_n(s.get('commits_seen'))} |"
        )
    return "\n".join(lines)


def baseline_table(results: dict[str, Any]) -> str:
    lines = [
        "| scenario | command | frames/s | MB/s | CPU ms/frame | peak RSS MB "
        "| server CPU ms/frame | ingest/baseline per pair |",
        "|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for name, s in results["scenarios"].items():
        lines.append(
            f"| {TITLES.get(name, name)} | **ingest import** | {_n(s['frames_per_s'])} "
            f"| {_n(s['mb_per_s'], 1)} | {_n(s['cpu_ms_per_frame'], 3)} "
            f"| {_n(s['peak_rss_mb'], 1)} | {_n(s.get('server_cpu_ms_per_frame'), 2)} | |"
        )
        for b, fig in s["baseline_figures"].items():
            pairs = ", ".join(f"{x:.2f}" for x in s.get("pair_ratios", {}).get(b, []))
            lines.append(
                f"| | {BASELINE_TITLES.get(b, b)} | {_n(fig['frames_per_s'])} "
                f"| {_n(fig['mb_per_s'], 1)} | {_n(fig['cpu_ms_per_frame'], 3)} "
                f"| {_n(fig['peak_rss_mb'], 1)} | {_n(fig.get('server_cpu_ms_per_frame'), 2)} "
                f"| {pairs} |"
            )
    return "\n".join(lines)


def targets_table(results: dict[str, Any]) -> str:
    lines = ["| target | scenario | measured | met | measured / goal |", "|---|---|---:|---|---:|"]
    for t in results.get("targets", []):
        measured = t["measured"]
        digits = 0 if isinstance(measured, float) and measured > 100 else 3
        lines.append(
            f"| {t['target']} | {t['scenario']} | {_n(measured, digits)} | "
            f"{'**yes**' if t['met'] else '**no**'} | {_n(t['factor_of_goal'], 3)} |"
        )
    return "\n".join(lines)


def sweep_table(results: dict[str, Any]) -> str:
    sweeps = results.get("concurrency_sweep") or {}
    if not sweeps:
        return "_no sweep in this run_"
    lines = [
        "| scenario | concurrency | frames/s | MB/s | CPU ms/frame | peak RSS MB |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, points in sweeps.items():
        for p in points:
            lines.append(
                f"| {TITLES.get(name, name)} | {p['concurrency']} | {_n(p['frames_per_s'])} "
                f"| {_n(p['mb_per_s'], 1)} | {_n(p['cpu_ms_per_frame'], 3)} "
                f"| {_n(p['peak_rss_mb'], 1)} |"
            )
    return "\n".join(lines)


def markdown(results: dict[str, Any], plot_name: str | None, keep_from: str = "") -> str:
    m = results["machine"]
    versions = ", ".join(f"{k} {v}" for k, v in m.get("versions", {}).items())
    s3 = results.get("s3", {})
    s3_servers = f"{s3.get('server', '-')} at {s3.get('endpoint', '-')}"
    if results.get("s3_moto"):
        s3_servers += f"; `s3_sqlite_moto`: moto at {results['s3_moto']['endpoint']}"
    kept = kept_blocks(keep_from)
    analysis = kept.pop("analysis", "")
    faults = results["scenarios"].get("faults")
    parts = [
        "# Benchmark results",
        "",
        f"Generated by `{results['command']}` ({results['mode']} mode, "
        f"{results['pairs']} alternating pair(s) per baseline, {results['duration_s']:.0f} s).",
        "",
        f"- Machine: {m.get('cpu_model')}, {m.get('cores')} cores, {m.get('ram_gb')} GB RAM; "
        f"{m.get('platform')}",
        f"- Python {m.get('python')}, SQLite {m.get('sqlite')}; {versions}",
        f"- Date: {m.get('date')}; code: {m.get('commit', '-')}",
        f"- S3: {s3_servers}, on the same machine",
        f"- Fixed cost of one `ingest import` (interpreter, imports, catalog open; 1 group): "
        f"{results.get('ingest_startup_s', '-')} s, included in every ingest figure",
        "",
        "Each figure is the median over the ingest runs of a scenario; every run is a fresh "
        "process on fresh storage and a fresh catalog, timed from outside (wall time of the "
        "whole command, final commit included). CPU is user + sys of that process and of the "
        "child processes it reaped (decoder processes, storage workers), as `wait4` reports "
        "it; peak RSS is `wait4`'s `ru_maxrss`. Ratios are medians of per-pair ratios from "
        "alternating runs "
        "(ingest, baseline, ingest, baseline, ...).",
        "",
        "## Summary",
        "",
        summary_table(results),
        "",
        "## Start-up, steady state and commits",
        "",
        "Start-up: `ingest import` of the workload's first group alone (same command, fresh "
        "catalog and store). Steady state: the full run minus the start-up run, in wall time, "
        "CPU and frames. Commits: the catalog polled every 50 ms from the harness "
        "(`SELECT COUNT(*) FROM version_frames`); first commit = from process start to the "
        "first non-zero count; max gap = longest time between two count changes.",
        "",
        steady_table(results),
        "",
        "## Targets",
        "",
        targets_table(results),
        "",
        "## Ingest and baselines, side by side",
        "",
        baseline_table(results),
        "",
    ]
    if faults:
        c = faults["check"]
        parts += [
            "## Faults",
            "",
            f"{faults['transient_frames']} frames got {faults['transient_faults']} transient "
            f"faults (503, 500, SlowDown, connection reset; each within the retry budget) and "
            f"{faults['permanent_frames']} frames a permanent one (403 AccessDenied, "
            f"400 InvalidArgument), on their PUTs through the fault proxy. Report exact: "
            f"**{'yes' if faults['exact'] else 'no'}**: {c['rejected_frames']} rejected frames "
            f"(the permanent failures and their group siblings), {c['retries']} retries "
            f"(expected {c['expected_retries']}), {c['registered_groups']} groups in the "
            "catalog."
            + (" Problems: " + "; ".join(c["problems"]) if c["problems"] else "")
            + (" Notes: " + "; ".join(c.get("notes", [])) if c.get("notes") else ""),
            "",
        ]
    parts += ["## Throughput against concurrency", ""]
    if plot_name:
        parts += [f"![throughput against concurrency]({plot_name})", ""]
    parts += [sweep_table(results), ""]
    if results.get("notes"):
        parts += ["## Notes", "", *[f"- {n}" for n in results["notes"]], ""]
    parts += [
        "## What bounds each figure",
        "",
        marked("analysis", analysis or "_Not written yet: profile the ingest side._"),
        "",
    ]
    for name, text in kept.items():
        parts += [marked(name, text), ""]
    return "\n".join(parts)


def kept_blocks(text: str) -> dict[str, str]:
    """{NAME: text} of every ``<!-- NAME:begin -->`` ... ``<!-- NAME:end -->`` block, in order."""
    return {m.group(1): m.group(2).strip("\n") for m in _BLOCK.finditer(text)}


def marked(name: str, text: str) -> str:
    return f"<!-- {name}:begin -->\n{text}\n<!-- {name}:end -->"


def plot(results: dict[str, Any], path: Path) -> Path | None:
    sweeps = results.get("concurrency_sweep") or {}
    if not sweeps:
        return None
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        results.setdefault("notes", []).append("matplotlib not installed: no plot")
        return None
    fig, axes = plt.subplots(1, len(sweeps), figsize=(6 * len(sweeps), 4.2), squeeze=False)
    baseline_of = {"local": "local", "s3_sqlite": "s3_sqlite"}
    for ax, (name, points) in zip(axes[0], sweeps.items(), strict=True):
        xs = [p["concurrency"] for p in points]
        ys = [p["frames_per_s"] for p in points]
        ax.plot(xs, ys, marker="o", label="ingest import")
        scenario = results["scenarios"].get(baseline_of.get(name, name), {})
        for i, (b, fps) in enumerate(scenario.get("baselines", {}).items()):
            ax.axhline(
                fps,
                linestyle="--",
                color=f"C{i + 1}",
                label=f"{BASELINE_TITLES.get(b, b).strip('`')} ({fps:,.0f})",
            )
        ax.set_xscale("log", base=2)
        ax.set_xticks(xs, [str(x) for x in xs])
        ax.minorticks_off()
        ax.set_xlabel("--concurrency (frame uploads in flight)")
        ax.set_ylabel("frames/s (commit included)")
        ax.set_title(TITLES.get(name, name))
        ax.set_ylim(bottom=0)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    m = results["machine"]
    fig.suptitle(
        f"frame-ingest, {results['mode']} mode: {m.get('cpu_model')}, {m.get('cores')} cores",
        fontsize=9,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


if __name__ == "__main__":
    data = json.loads(Path(sys.argv[1]).read_text())
    target = Path(sys.argv[2]) if len(sys.argv) > 2 else None
    if target is None:
        print(summary_table(data))
    else:
        previous = target.read_text() if target.exists() else ""
        png = plot(data, target.with_name("throughput_vs_concurrency.png"))
        target.write_text(markdown(data, png.name if png else None, keep_from=previous))
