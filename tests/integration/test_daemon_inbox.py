"""The daemon's inbox protocol on a folder: settle time, ``.part`` then rename, job identity by
content, finished entries that never overwrite each other."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import subprocess
import threading
import time
from pathlib import Path

import procrastinate

from ingest.daemon.inbox import job_id
from ingest.daemon.jobs import inbox_queue

from ..daemonutil import INGEST, Daemon, daemon_env, frame_counts, report_heads, wait_jobs
from ..images import write_png
from ..pg import create_database


def lines(*ids: str) -> str:
    return "".join(json.dumps({"id": i, "source": "files/a.png"}) + "\n" for i in ids)


def start(inbox: Path, database_url: str, tmp_path: Path, settle_s: str) -> Daemon:
    write_png(inbox / "files" / "a.png")
    env = daemon_env(
        INGEST_DATABASE_URL=database_url,
        INGEST_STORAGE_URL=f"file://{tmp_path}/objects",
        INGEST_INBOX_SETTLE_S=settle_s,
    )
    daemon = Daemon(inbox, env, "solo")
    daemon.wait_http()
    return daemon


def test_a_manifest_still_being_written_is_taken_once_settled(
    sqlite_url: str, tmp_path: Path
) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    daemon = start(inbox, sqlite_url, tmp_path, "1.5")
    ids = [f"g{i:02d}" for i in range(12)]

    def writer() -> None:  # a slow writer: one line every 0.3 s, in place
        with open(inbox / "slow.jsonl", "w") as fh:
            for group_id in ids:
                fh.write(lines(group_id))
                fh.flush()
                time.sleep(0.3)

    try:
        thread = threading.Thread(target=writer)
        thread.start()
        thread.join()
        jobs = wait_jobs(inbox, 1, timeout=60)
        time.sleep(1.0)  # nothing else shows up
        jobs, counts = wait_jobs(inbox, 1), frame_counts(sqlite_url)
    finally:
        daemon.stop()
    assert [(j.manifest, j.state) for j in jobs] == [("slow.jsonl", "done")]
    assert sorted(counts) == ids  # every line registered, once
    (head,) = report_heads(inbox, "slow")
    assert head["summary"]["groups_committed"] == 12
    assert len(list((inbox / "done").glob("slow@*.jsonl"))) == 1


def test_part_then_rename_and_new_content_under_an_old_name(
    sqlite_url: str, tmp_path: Path
) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    daemon = start(inbox, sqlite_url, tmp_path, "0.5")
    stamp = time.time() - 3600

    def drop(content: str) -> None:
        part = inbox / "batch.jsonl.part"
        part.write_text(content)
        os.utime(part, (stamp, stamp))  # the same name, size and mtime each time
        time.sleep(1.5)  # settled long since, but a .part file is never taken
        assert (inbox / "batch.jsonl.part").is_file()
        part.rename(inbox / "batch.jsonl")

    try:
        drop(lines("a1", "a2"))
        wait_jobs(inbox, 1, timeout=60)
        drop(lines("b1", "b2"))  # new content, same name, size and mtime: a new job
        wait_jobs(inbox, 2, timeout=60)
        drop(lines("a1", "a2"))  # the first content again: a job again (a next generation)
        jobs = wait_jobs(inbox, 3, timeout=60)
        counts = frame_counts(sqlite_url)
    finally:
        daemon.stop()
    assert [(j.manifest, j.state) for j in jobs] == [("batch.jsonl", "done")] * 3
    assert len({j.id for j in jobs}) == 3 and jobs[2].id.endswith("-2")
    assert sorted(counts) == ["a1", "a2", "b1", "b2"]
    # every job keeps its own manifest in done/ and its own report
    done = sorted(p.read_text() for p in (inbox / "done").glob("batch@*.jsonl"))
    assert done == sorted([lines("a1", "a2"), lines("b1", "b2"), lines("a1", "a2")])
    heads = report_heads(inbox, "batch")
    assert [h["job"] for h in heads] == [j.id for j in jobs]
    assert [h["summary"]["groups_committed"] for h in heads] == [2, 2, 0]
    assert heads[2]["summary"]["groups_unchanged"] == 2
    assert not list(inbox.glob("batch.jsonl*"))


def test_a_manifest_replaced_before_its_job_ran_is_reported_not_lost(
    pg_admin_url: str, tmp_path: Path
) -> None:
    """A job queued for one content whose name holds another when it runs: failed with a
    clear error (nothing half-read), and the new content is a job of its own."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    database_url = create_database(pg_admin_url)
    first = lines("a1")
    url = inbox.resolve().as_uri()
    queued = job_id(url, "batch.jsonl", hashlib.sha256(first.encode()).hexdigest())

    async def enqueue() -> None:
        # a daemon's own task, deferred by name as a daemon that saw the first content does
        connector = procrastinate.PsycopgConnector(conninfo=database_url)
        queue = procrastinate.App(connector=connector)
        async with queue.open_async():
            task = queue.configure_task(
                "ingest.inbox", queue=inbox_queue(url), queueing_lock=queued
            )
            await task.defer_async(job=queued, name="batch.jsonl")

    env = daemon_env(INGEST_DATABASE_URL=database_url)  # migrates: the catalog and its queue
    subprocess.run([INGEST, "datasets", "list"], env=env, check=True, capture_output=True)
    asyncio.run(enqueue())  # queued by a worker that saw the first content, then died
    (inbox / "batch.jsonl").write_text(lines("b1", "b2"))
    (inbox / "batch.jsonl.json").write_text('{"dataset": "Side", "version": "v1"}')
    daemon = start(inbox, database_url, tmp_path, "0.3")
    try:
        jobs = wait_jobs(inbox, 2, timeout=60)
        counts = frame_counts(database_url)
    finally:
        daemon.stop()
    by_id = {j.id: j for j in jobs}
    assert by_id[queued].state == "failed"
    assert "replaced before this job ran" in by_id[queued].error
    (done,) = [j for j in jobs if j.id != queued]
    assert done.state == "done" and sorted(counts) == ["b1", "b2"]
    tag = done.id.rpartition("@")[2]
    assert (inbox / "done" / f"batch@{tag}.jsonl").read_text() == lines("b1", "b2")
    assert (inbox / "done" / f"batch@{tag}.jsonl.json").is_file()  # the sidecar went along
    assert [h["outcome"] for h in report_heads(inbox, "batch")] == ["failed", "done"]
