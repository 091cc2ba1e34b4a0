"""The hostile-input corpus (``cases.py``), run through ``ingest import`` as a subprocess.

For every case: the process ends (per-batch timeout), each line has the outcome the README
promises (registered, or rejected with its class, a message fragment and its ``file:line``),
and registered + rejected = input. Cases run in a few batch manifests (one process each).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from ...envs import clean_env
from ...images import write_png
from .cases import CASES, CSV_HEADER, OK, TMP, Bad, Case

INGEST = str(Path(sys.executable).parent / "ingest")
TIMEOUT_S = 60


@dataclass
class Batch:
    path: Path
    version: str
    first_line: dict[str, int] = field(default_factory=dict)  # case name -> its first line
    returncode: int | None = None  # None: it hung (killed at the timeout)
    stderr: str = ""
    records: list[dict[str, Any]] = field(default_factory=list)
    docs: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0


def prepare_sources(folder: Path) -> None:
    write_png(folder / "ok.png")
    write_png(folder / "ok2.png", 5, 5)
    (folder / "empty.png").write_bytes(b"")
    (folder / "folder").mkdir()
    os.mkfifo(folder / "fifo")


def write_batch(folder: Path, name: str, cases: list[Case]) -> Batch:
    batch = Batch(folder / name, name.replace(".", "-"))
    lines: list[bytes] = []
    if name.endswith(".csv"):
        lines.append((b"\xef\xbb\xbf" if name.startswith("bom") else b"") + CSV_HEADER)
    for case in cases:
        batch.first_line[case.name] = len(lines) + 1
        lines += [line.replace(TMP.encode(), str(folder).encode()) for line in case.lines]
    batch.path.write_bytes(b"\n".join(lines) + b"\n")
    return batch


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [INGEST, *args], env=env, capture_output=True, text=True, timeout=TIMEOUT_S
    )


def run_batch(batch: Batch, env: dict[str, str], report: Path) -> None:
    started = time.monotonic()
    argv = ["import", str(batch.path), "--dataset", "H", "--version", batch.version, "--create",
            "--report", str(report), "--upload-retries", "0", "--quiet"]  # fmt: skip
    try:
        done = run(argv, env)
    except subprocess.TimeoutExpired as exc:
        batch.stderr = (exc.stderr or b"").decode(errors="replace")
        return
    finally:
        batch.seconds = time.monotonic() - started
    batch.returncode, batch.stderr = done.returncode, done.stderr
    if report.exists():
        batch.records = [json.loads(x) for x in report.read_text().splitlines()]
    exported = run(["export", "--dataset", "H", "--version", batch.version], env)
    batch.docs = [json.loads(x) for x in exported.stdout.splitlines() if x.strip()]


@pytest.fixture(scope="module")
def batches(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Batch]:
    folder = tmp_path_factory.mktemp("hostile")
    prepare_sources(folder)
    env = clean_env()
    env |= {
        "INGEST_DATABASE_URL": f"sqlite:///{folder / 'catalog.sqlite3'}",
        "INGEST_STORAGE_URL": f"file://{folder / 'objects'}",
        "INGEST_RETRY_BACKOFF_BASE_S": "0.01",
    }
    by_batch: dict[str, list[Case]] = defaultdict(list)
    for case in CASES:
        by_batch[case.batch].append(case)
    out = {}
    for name, cases in by_batch.items():
        batch = out[name] = write_batch(folder, name, cases)
        run_batch(batch, env, folder / f"{name}.report.jsonl")
    return out


def _frames(doc: dict[str, Any]) -> int:
    return len(doc["frames"]) if "frames" in doc else 1


def _params() -> list[Any]:
    marks = lambda c: [pytest.mark.xfail(reason=c.xfail, strict=False)] if c.xfail else []  # noqa: E731
    return [pytest.param(c, id=c.name, marks=marks(c)) for c in CASES]


@pytest.mark.parametrize("case", _params())
def test_case(case: Case, batches: dict[str, Batch]) -> None:
    batch = batches[case.batch]
    assert batch.returncode is not None, f"{batch.path.name} did not end in {TIMEOUT_S}s"
    assert batch.returncode in (0, 1), batch.stderr[-2000:]
    assert "Traceback" not in batch.stderr, batch.stderr[-2000:]
    line0 = batch.first_line[case.name]
    for offset, outcome in enumerate(case.expect):
        where = f"{batch.path}:{line0 + offset}"
        mine = [r for r in batch.records if r["where"] == where]
        if outcome is None:
            assert not mine, (where, mine)
        elif isinstance(outcome, OK):
            assert not mine, (where, mine)
            docs = [
                d for d in batch.docs
                if (outcome.id is not None and d["id"] == outcome.id)
                or (outcome.id is None and d.get("source") == outcome.source)
            ]  # fmt: skip
            assert len(docs) == 1, f"{where}: {outcome} not registered"
            assert _frames(docs[0]) == outcome.frames
        else:
            assert isinstance(outcome, Bad)
            assert len(mine) == outcome.records, (where, mine)
            if outcome.error_class is not None:
                assert outcome.error_class in {r["error_class"] for r in mine}, (where, mine)
            fragment = outcome.fragment.format(file=batch.path, line0=line0)
            assert any(fragment in r["message"] for r in mine), (where, fragment, mine)


def test_every_batch_adds_up(batches: dict[str, Batch]) -> None:
    """registered + rejected = input, nothing rejected without file:line, nothing extra."""
    for name, batch in batches.items():
        if batch.returncode is None:
            continue  # reported by the cases
        cases = [c for c in CASES if c.batch == name]
        registered = sum(o.frames for c in cases for o in c.expect if isinstance(o, OK))
        rejected = sum(o.records for c in cases for o in c.expect if isinstance(o, Bad))
        assert sum(_frames(d) for d in batch.docs) == registered, name
        assert len(batch.records) == rejected, name
        prefix = f"{batch.path}:"
        assert all((r["where"] or "").startswith(prefix) for r in batch.records), name


def test_corpus_size_and_time(batches: dict[str, Batch]) -> None:
    assert len(CASES) >= 100
    assert sum(b.seconds for b in batches.values()) < 60, {
        n: round(b.seconds, 1) for n, b in batches.items()
    }
