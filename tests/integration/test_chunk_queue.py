"""Chunked imports across processes: `ingest import --queue` and `ingest worker`s on a real
PostgreSQL (procrastinate's queue), a worker SIGKILLed or SIGTERMed while its chunk runs; and
the SQLite path, SIGKILLed mid-manifest and resumed from its chunk table."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from ingest.catalog import open_catalog
from ingest.catalog.chunks import ChunkTable

from ..daemonutil import Daemon, report_heads
from ..envs import clean_env
from ..pg import create_database, free_port

INGEST = str(Path(sys.executable).parent / "ingest")


def _manifest(path: Path, groups: int, bad_every: int = 0) -> Path:
    with open(path, "w") as fh:
        for i in range(groups):
            if bad_every and i % bad_every == bad_every - 1:
                fh.write("{not json\n")
                continue
            frames = {c: {"source": f"https://cdn.example/{c}/{i}.jpg", "width": 8, "height": 8}
                      for c in ("front", "rear")}  # fmt: skip
            fh.write(json.dumps({"id": f"g{i:06d}", "frames": frames}) + "\n")
    return path


def _has_catalog(url: str) -> bool:
    return not url.startswith("sqlite") or Path(url.removeprefix("sqlite:///")).exists()


def _state(url: str) -> tuple[list[Any], list[Any], dict[str, int]]:
    """(imports, chunks of the first import, registered frame ids -> times)."""

    async def read() -> tuple[list[Any], list[Any], dict[str, int]]:
        catalog = await open_catalog(url)
        try:
            table = ChunkTable(catalog.db)  # type: ignore[attr-defined]
            imports = await table.list_imports()
            chunks = await table.chunks(imports[0].id) if imports else []
            counts: dict[str, int] = {}
            for dataset in await catalog.list_datasets():
                for version in await catalog.list_versions(dataset.id):
                    async for _, stored in catalog.iter_frames(version.id):
                        assert sorted(json.loads(stored.document)["frames"]) == ["front", "rear"]
                        counts[stored.id] = counts.get(stored.id, 0) + 1
            return imports, chunks, counts
        finally:
            await catalog.close()

    return asyncio.run(read())


def _wait_running(url: str, worker: str | None, timeout: float = 120) -> str:
    """The worker (``worker``, or any) once it runs a chunk."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _, chunks, _ = _state(url) if _has_catalog(url) else ([], [], {})
        for c in chunks:
            if c.state == "running" and worker in (None, c.worker):
                return str(c.worker)
        time.sleep(0.2)
    raise AssertionError(f"{worker} never ran a chunk: {chunks}")


class Worker:
    def __init__(self, tmp: Path, env: dict[str, str], name: str) -> None:
        self.name, self.port = name, free_port()
        self.log = tmp / f"{name}.log"
        self.proc = subprocess.Popen(
            [INGEST, "worker", "--worker-id", name, "--http-port", str(self.port), "-v"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=open(self.log, "wb"),
        )

    def metrics(self) -> str:
        url = f"http://127.0.0.1:{self.port}/metrics"
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(url, timeout=5) as r:
                    return str(r.read().decode())
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=120)


def _metric(text: str, name: str) -> float:
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(name))


@pytest.fixture
def pg_env(pg_admin_url: str, tmp_path: Path) -> dict[str, str]:
    return clean_env(
        INGEST_DATABASE_URL=create_database(pg_admin_url),
        INGEST_STORAGE_URL=f"file://{tmp_path / 'objects'}",
        INGEST_CHUNK_GROUPS="4000",
        INGEST_CHUNK_STALLED_S="3",
        INGEST_SHUTDOWN_GRACE_S="10",
    )


def _import(env: dict[str, str], manifest: Path, tmp: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [INGEST, "import", str(manifest), "--dataset", "Fleet", "--version", "v1", "--create",
         "--queue", "--json", "--report", str(tmp / "report.jsonl")],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


@pytest.mark.slow
def test_queue_import_two_workers_one_killed_every_group_once(
    pg_env: dict[str, str], tmp_path: Path
) -> None:
    groups = 60_000
    manifest = _manifest(tmp_path / "drive.jsonl", groups, bad_every=10_000)
    url = pg_env["INGEST_DATABASE_URL"]
    workers = [Worker(tmp_path, pg_env, f"w{i}") for i in range(3)]
    try:
        importer = _import(pg_env, manifest, tmp_path)
        _wait_running(url, "w0")
        workers[0].proc.send_signal(signal.SIGKILL)  # mid-chunk: its job stays `doing`
        out, err = importer.communicate(timeout=300)
        metrics = [w.metrics() for w in workers[1:]]
    finally:
        codes = [w.stop() for w in workers]
    assert importer.returncode == 1, err  # six bad lines: rejected, reported
    assert codes[0] == -signal.SIGKILL
    summary = json.loads(out)["summary"]
    assert summary["groups_committed"] + summary["groups_unchanged"] == groups - 6
    assert summary["input_errors"] == 6 and summary["frames_rejected"] == 6
    imports, chunks, counts = _state(url)
    assert len(imports) == 1 and imports[0].state == "done"
    assert len(chunks) == 15 and all(c.state == "done" for c in chunks)
    assert len(counts) == groups - 6 and set(counts.values()) == {1}  # each group exactly once
    assert {c.worker for c in chunks} >= {"w1", "w2"}  # both survivors completed chunks
    assert any(c.attempts > 1 for c in chunks)  # the killed worker's chunk ran again
    for text in metrics:
        assert _metric(text, "ingest_chunks_completed_total") >= 1
    report = (tmp_path / "report.jsonl").read_text().splitlines()
    assert len(report) == 6 and all('"ManifestError"' in line for line in report)


def _taken_over(url: str, victim: str, timeout: float = 60) -> str:
    """The worker that runs the victim's chunk again."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _, chunks, _ = _state(url)
        if chunks and chunks[0].state == "running" and chunks[0].worker != victim:
            return str(chunks[0].worker)
        time.sleep(0.2)
    raise AssertionError(f"the chunk of {victim} was not taken over: {chunks}")


@pytest.mark.slow
def test_killed_workers_chunk_is_taken_over_within_the_stalled_time(
    pg_env: dict[str, str], tmp_path: Path
) -> None:
    """The sweeper beside each worker retries a SIGKILLed worker's chunk once it is stalled
    (``INGEST_CHUNK_STALLED_S=3``), whatever the time of day (procrastinate's periodic task,
    with a wrong cron, ran at start-up and then every fifth minute only)."""
    groups = 6000
    manifest = _manifest(tmp_path / "drive.jsonl", groups)
    env = {**pg_env, "INGEST_CHUNK_GROUPS": str(groups)}  # one chunk
    url = env["INGEST_DATABASE_URL"]
    workers = {name: Worker(tmp_path, env, name) for name in ("w0", "w1")}
    try:
        for w in workers.values():
            w.metrics()  # up, with its sweeper
        importer = _import(env, manifest, tmp_path)
        victim = _wait_running(url, None)
        workers[victim].proc.send_signal(signal.SIGKILL)
        killed = time.monotonic()
        survivor = _taken_over(url, victim)
        took = time.monotonic() - killed
        out, err = importer.communicate(timeout=300)
    finally:
        for w in workers.values():
            w.stop()
    assert survivor != victim and took < 3 + 6, took  # stalled after 3 s, swept every 1 s
    assert importer.returncode == 0, err
    assert json.loads(out)["summary"]["frames_registered"] == 2 * groups
    _, chunks, counts = _state(url)
    assert len(counts) == groups and set(counts.values()) == {1}
    assert chunks[0].state == "done" and chunks[0].worker == survivor
    assert "retrying ingest.chunk" in workers[survivor].log.read_text()


@pytest.mark.slow
def test_three_daemons_share_one_large_manifest_one_killed(
    pg_env: dict[str, str], tmp_path: Path
) -> None:
    groups = 60_000
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    env = {**pg_env, "INGEST_CHUNK_GROUPS": "6000", "INGEST_INBOX_SETTLE_S": "0.2"}
    url = env["INGEST_DATABASE_URL"]
    daemons = [Daemon(inbox, env, f"d{i}") for i in range(3)]
    try:
        for d in daemons:
            d.wait_http()
        _manifest(tmp_path / "drive.tmp", groups).rename(inbox / "drive.jsonl")
        victim = _wait_running(url, None)
        killed = next(d for d in daemons if d.worker_id == victim)
        killed.proc.send_signal(signal.SIGKILL)  # mid-chunk
        killed.proc.wait()
        deadline = time.monotonic() + 400
        while not list((inbox / "done").glob("drive@*.jsonl")) and time.monotonic() < deadline:
            time.sleep(0.5)
        survivors = [d for d in daemons if d is not killed]
        texts = [d.get("/metrics") for d in survivors]
    finally:
        for d in daemons:
            d.stop()
    imports, chunks, counts = _state(url)
    assert len(counts) == groups and set(counts.values()) == {1}  # every group exactly once
    assert imports[0].state == "done" and all(c.state == "done" for c in chunks)
    for text in texts:  # both survivors completed chunks
        assert _metric(text, "ingest_chunks_completed_total") >= 1
    assert {c.worker for c in chunks} >= {d.worker_id for d in survivors}
    assert len(list((inbox / "done").glob("drive@*.jsonl"))) == 1 and not list(
        inbox.glob("*.jsonl")
    )
    (head,) = report_heads(inbox, "drive")  # one merged report for the whole manifest
    assert head["outcome"] == "done"
    assert head["summary"]["groups_committed"] + head["summary"]["groups_unchanged"] == groups


@pytest.mark.slow
def test_sigterm_hands_the_chunk_back_and_a_worker_finishes_it(
    pg_env: dict[str, str], tmp_path: Path
) -> None:
    manifest = _manifest(tmp_path / "drive.jsonl", 12_000)
    url = pg_env["INGEST_DATABASE_URL"]
    first, second = Worker(tmp_path, pg_env, "w0"), None
    try:
        importer = _import(pg_env, manifest, tmp_path)
        _wait_running(url, "w0")
        started = time.monotonic()
        assert first.stop() in (0, 130)  # two-phase: in-flight groups commit, chunk handed back
        assert time.monotonic() - started < 15
        _, chunks, _ = _state(url)
        assert not [c for c in chunks if c.state == "running"]
        second = Worker(tmp_path, pg_env, "w1")
        out, err = importer.communicate(timeout=300)
    finally:
        for worker in (first, second):
            if worker is not None:
                worker.stop()
    assert importer.returncode == 0, err
    assert json.loads(out)["summary"]["frames_registered"] == 24_000
    _, chunks, counts = _state(url)
    assert len(counts) == 12_000 and set(counts.values()) == {1}
    assert any(c.worker == "w1" for c in chunks)


@pytest.mark.slow
def test_queue_jobs_list_cancel_retry(pg_env: dict[str, str], tmp_path: Path) -> None:
    groups = 30_000
    manifest = _manifest(tmp_path / "drive.jsonl", groups)
    env = {**pg_env, "INGEST_CHUNK_GROUPS": "10000"}
    url = env["INGEST_DATABASE_URL"]
    worker = Worker(tmp_path, env, "w0")
    try:
        importer = _import(env, manifest, tmp_path)
        _wait_running(url, "w0")
        jobs = subprocess.run([INGEST, "jobs", "list", "--json"], env=env, capture_output=True,
                              text=True, check=True)  # fmt: skip
        listed = json.loads(jobs.stdout.splitlines()[0])
        ident = listed["id"]
        assert listed["state"] == "running" and listed["counts"]["running"] == 1
        gauge = f'ingest_chunks{{manifest="{manifest}",state='  # each running import's chunks
        assert _metric(worker.metrics(), gauge) == 3  # by state: pending + running + done...
        subprocess.run([INGEST, "jobs", "cancel", ident], env=env, check=True)
        _, err = importer.communicate(timeout=60)
        assert importer.returncode == 3 and "cancelled" in err
        time.sleep(3)  # the running chunk stops between groups (polled every second)
        imports, chunks, counts = _state(url)  # asserts no group is half-written
        states = [c.state for c in chunks]
        assert imports[0].state == "cancelled" and set(states) <= {"cancelled", "done"}
        assert states.count("cancelled") >= 2 and len(counts) < groups
        done = states.count("done")  # a chunk may have ended just before the cancel
        assert _metric(worker.metrics(), "ingest_chunks_completed_total") == done
        subprocess.run([INGEST, "jobs", "retry", ident], env=env, check=True)
        deadline = time.monotonic() + 120
        while _state(url)[0][0].state != "done" and time.monotonic() < deadline:
            time.sleep(0.3)
    finally:
        worker.stop()
    imports, chunks, counts = _state(url)
    assert imports[0].state == "done" and imports[0].summary is not None
    assert len(counts) == groups and set(counts.values()) == {1}


def test_sqlite_queue_import_killed_resumes_from_its_chunk_table(tmp_path: Path) -> None:
    groups = 30_000
    manifest = _manifest(tmp_path / "drive.jsonl", groups)
    url = f"sqlite:///{tmp_path / 'catalog.sqlite3'}"
    env = clean_env(
        INGEST_DATABASE_URL=url,
        INGEST_STORAGE_URL=f"file://{tmp_path / 'objects'}",
        INGEST_CHUNK_GROUPS="3000",
    )
    first = _import(env, manifest, tmp_path)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        chunks = _state(url)[1] if _has_catalog(url) else []
        if sum(c.state == "done" for c in chunks) >= 2:
            break
        time.sleep(0.1)
    first.send_signal(signal.SIGKILL)
    first.wait()
    _, before, _ = _state(url)
    done_before = {c.idx for c in before if c.state == "done"}
    assert 2 <= len(done_before) < 10
    second = _import(env, manifest, tmp_path)
    out, err = second.communicate(timeout=300)
    assert second.returncode == 0, err
    summary = json.loads(out)["summary"]
    assert summary["groups_committed"] + summary["groups_unchanged"] == groups
    imports, chunks, counts = _state(url)
    assert len(imports) == 1 and imports[0].state == "done"  # resumed, not a new import
    assert len(counts) == groups and set(counts.values()) == {1}
    assert all(c.attempts == 1 for c in chunks if c.idx in done_before)  # nothing twice


@pytest.mark.slow
def test_sqlite_daemon_killed_mid_manifest_resumes_from_its_chunk_table(tmp_path: Path) -> None:
    groups = 30_000
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    url = f"sqlite:///{tmp_path / 'catalog.sqlite3'}"
    env = clean_env(
        INGEST_DATABASE_URL=url,
        INGEST_STORAGE_URL=f"file://{tmp_path / 'objects'}",
        INGEST_CHUNK_GROUPS="3000",
        INGEST_INBOX_SETTLE_S="0.2",
    )
    first = Daemon(inbox, env, "d0")
    first.wait_http()
    _manifest(tmp_path / "drive.tmp", groups).rename(inbox / "drive.jsonl")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        chunks = _state(url)[1] if _has_catalog(url) else []
        if sum(c.state == "done" for c in chunks) >= 2:
            break
        time.sleep(0.1)
    first.proc.send_signal(signal.SIGKILL)
    first.proc.wait()
    done_before = {c.idx for c in _state(url)[1] if c.state == "done"}
    assert 2 <= len(done_before) < 10
    second = Daemon(inbox, env, "d1")  # takes the job over once the lease expired
    try:
        deadline = time.monotonic() + 300
        while not list((inbox / "done").glob("drive@*.jsonl")) and time.monotonic() < deadline:
            time.sleep(0.5)
    finally:
        second.stop()
    imports, chunks, counts = _state(url)
    assert len(imports) == 1 and imports[0].state == "done"  # resumed, not started again
    assert len(counts) == groups and set(counts.values()) == {1}
    assert all(c.attempts == 1 for c in chunks if c.idx in done_before)  # nothing twice
    (head,) = report_heads(inbox, "drive")
    assert head["summary"]["groups_committed"] + head["summary"]["groups_unchanged"] == groups


def test_jobs_shell_is_procrastinates_admin_shell_on_the_catalog(
    pg_env: dict[str, str], tmp_path: Path
) -> None:
    manifest = _manifest(tmp_path / "drive.jsonl", 20)
    env = {**pg_env, "INGEST_CHUNK_GROUPS": "10"}
    importer = _import(env, manifest, tmp_path)  # no worker: its manifest job stays queued
    try:
        deadline = time.monotonic() + 60
        while not _state(env["INGEST_DATABASE_URL"])[0] and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(1)  # the import is recorded before its manifest job is deferred
        commands = "list_jobs details\nlist_tasks\nexit\n"
        shell = subprocess.run([INGEST, "jobs", "shell"], env=env, input=commands,
                               capture_output=True, text=True, timeout=60)  # fmt: skip
    finally:
        importer.send_signal(signal.SIGINT)  # Ctrl-C: the queued work stays queued
        importer.communicate(timeout=60)
    assert shell.returncode == 0, shell.stderr
    assert "procrastinate shell" in shell.stdout
    assert "ingest.manifest on ingest - [todo]" in shell.stdout
    assert str(manifest) in shell.stdout  # the job's args
    assert "ingest.manifest: 1" in shell.stdout  # list_tasks: one job of the manifest task


def test_jobs_shell_needs_postgresql(tmp_path: Path) -> None:
    env = clean_env(INGEST_DATABASE_URL=f"sqlite:///{tmp_path / 'c.sqlite3'}",
                    INGEST_STORAGE_URL=f"file://{tmp_path / 'objects'}")  # fmt: skip
    shell = subprocess.run([INGEST, "jobs", "shell"], env=env, input="exit\n",
                           capture_output=True, text=True, timeout=60)  # fmt: skip
    assert shell.returncode != 0
    assert "ingest jobs shell needs a PostgreSQL catalog" in shell.stderr
    assert "c.sqlite3" in shell.stderr
