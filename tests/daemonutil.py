"""Helpers of the daemon tests: a daemon subprocess, its ended jobs (the reports' first lines),
the catalog's frames, HTTP posts."""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ingest.catalog import open_catalog
from ingest.daemon.jobs import inbox_queue

from .envs import clean_env
from .pg import free_port

INGEST = str(Path(sys.executable).parent / "ingest")
CAMERAS = ("front", "left", "rear")
NDJSON = {"Content-Type": "application/x-ndjson"}


daemon_env = clean_env


class Daemon:
    def __init__(self, inbox: Path, env: dict[str, str], worker_id: str, *extra: str) -> None:
        self.port = free_port()
        self.worker_id = worker_id
        self.log = inbox.parent / f"{worker_id}.log"
        self.proc = subprocess.Popen(
            [
                INGEST,
                "daemon",
                "--inbox",
                str(inbox),
                "--dataset",
                "Fleet",
                "--version",
                "v1",
                "--create",
                "--http-port",
                str(self.port),
                "--worker-id",
                worker_id,
                "--lease-s",
                "3",
                "--max-attempts",
                "2",
                "--poll-s",
                "0.3",
                "--log-json",
                *extra,
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=open(self.log, "wb"),
        )

    def get(self, path: str) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=5) as r:
            return r.read().decode()

    def wait_http(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                self.get("/healthz")
                return
            except OSError:
                time.sleep(0.1)
        raise AssertionError(f"{self.worker_id} did not start: {self.log.read_text()}")

    def post(
        self, name: str, body: bytes, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, Any]]:
        """POST /jobs?name=...; (status, JSON body). ``headers`` may replace Host."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request("POST", f"/jobs?name={name}", body=body, headers=headers or {})
            response = conn.getresponse()
            data = response.read()
        finally:
            conn.close()
        return response.status, json.loads(data) if data.startswith(b"{") else {}

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def metric(self, text: str, name: str, **labels: str) -> float:
        want = ",".join(f'{k}="{v}"' for k, v in labels.items())
        key = f"{name}{{{want}}}" if want else name
        for line in text.splitlines():
            if line.startswith(key + " "):
                return float(line.split()[-1])
        raise AssertionError(f"{key} not in metrics")


@dataclass(frozen=True)
class JobView:
    """A daemon job as its report's first line records it."""

    id: str
    manifest: str
    state: str
    error: str | None
    summary: dict[str, Any]
    owner: str | None
    attempts: int | None


def frame_counts(database_url: str) -> dict[str, int]:
    """How many times each registered group id appears (any version); no group is partial."""

    async def read() -> dict[str, int]:
        catalog = await open_catalog(database_url)
        try:
            counts: dict[str, int] = {}
            for dataset in await catalog.list_datasets():
                for version in await catalog.list_versions(dataset.id):
                    async for _, stored in catalog.iter_frames(version.id):
                        doc = json.loads(stored.document)
                        if "frames" in doc:
                            assert sorted(doc["frames"]) == sorted(CAMERAS), "partial group"
                        counts[stored.id] = counts.get(stored.id, 0) + 1
            return counts
        finally:
            await catalog.close()

    return asyncio.run(read())


def ended_jobs(heads: list[dict[str, Any]]) -> list[JobView]:
    return [
        JobView(h["job"], h["manifest"], h["outcome"], h["error"], h["summary"],
                h.get("worker"), h.get("attempt"))
        for h in heads
    ]  # fmt: skip


def wait_jobs(inbox: Path, total: int, timeout: float = 180) -> list[JobView]:
    """Wait until at least ``total`` jobs have ended (their reports written), oldest first."""
    deadline = time.monotonic() + timeout
    jobs: list[JobView] = []
    while time.monotonic() < deadline:
        jobs = ended_jobs(report_heads(inbox, "*"))
        if len(jobs) >= total:
            return jobs
        time.sleep(0.3)
    raise AssertionError(f"jobs not finished: {[(j.manifest, j.state) for j in jobs]}")


def wait_state(inbox: Path, manifest: str, state: str, timeout: float = 60) -> JobView:
    """The ended (done or failed) job of ``manifest`` once it is there."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for job in ended_jobs(report_heads(inbox, "*")):
            if job.manifest == manifest and job.state == state:
                return job
        time.sleep(0.2)
    raise AssertionError(f"no {state} job of {manifest}")


def queue_jobs(database_url: str, inbox: Path) -> list[Any]:
    """procrastinate's jobs of this inbox's queue (PostgreSQL)."""
    import procrastinate

    async def read() -> list[Any]:
        queue = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=database_url))
        async with queue.open_async():
            return list(await queue.job_manager.list_jobs_async(queue=name))

    name = inbox_queue(inbox.resolve().as_uri())
    return asyncio.run(read())


def report_heads(inbox: Path, stem: str) -> list[dict[str, Any]]:
    """The first lines of the reports of manifests named ``stem.*``, oldest first."""
    paths = sorted((inbox / "reports").glob(f"{stem}@*.report.jsonl"), key=os.path.getmtime)
    return [json.loads(p.read_text().splitlines()[0]) for p in paths]
