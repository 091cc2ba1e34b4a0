"""The ingestion daemon: real processes on PostgreSQL + moto's S3, procrastinate's queue,
signals, HTTP."""

from __future__ import annotations

import json
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from ..daemonutil import (
    CAMERAS,
    INGEST,
    NDJSON,
    Daemon,
    JobView,
    ended_jobs,
    frame_counts,
    queue_jobs,
    report_heads,
    wait_jobs,
)
from ..envs import clean_env
from ..faultproxy import FaultProxy
from ..images import write_png
from ..pg import create_database, free_port


def make_manifests(inbox: Path, count: int, groups: int, *, start: int = 0) -> int:
    """``count`` manifests of ``groups`` FrameGroups x 3 cameras; sources under inbox/files."""
    for m in range(start, start + count):
        lines = []
        for g in range(groups):
            frames = {}
            for cam in CAMERAS:
                rel = f"files/m{m:03d}/{cam}/{g:04d}.png"
                write_png(inbox / rel, 4 + g % 5, 4)
                frames[cam] = {"source": rel}
            lines.append(json.dumps({"id": f"m{m:03d}-g{g:04d}", "timestamp": g, "frames": frames}))
        tmp = inbox / f".m{m:03d}.tmp"
        tmp.write_text("\n".join(lines) + "\n")
        tmp.rename(inbox / f"m{m:03d}.jsonl")
    return count * groups


@pytest.fixture
def fleet_env(
    pg_admin_url: str, s3_bucket: tuple[str, str], fault_proxy: FaultProxy, tmp_path: Path
) -> Iterator[tuple[dict[str, str], Path, str]]:
    _, bucket = s3_bucket
    database_url = create_database(pg_admin_url)
    env = clean_env(
        INGEST_DATABASE_URL=database_url,
        INGEST_STORAGE_URL=f"s3://{bucket}/fleet",
        INGEST_S3_ENDPOINT_URL=fault_proxy.endpoint,
        INGEST_CONCURRENCY="2",
        INGEST_GROUPS_IN_FLIGHT="4",
        INGEST_SHUTDOWN_GRACE_S="20",
        INGEST_COMMIT_INTERVAL_S="0.05",
        INGEST_INBOX_SETTLE_S="0.2",  # written whole (temp + rename): jobs start early
    )
    # every upload takes a while, so that signals and kills land in the middle of jobs
    fault_proxy.script(".png", ["delay:0.05"] * 100_000, method="PUT", contains=True)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    yield env, inbox, database_url


@pytest.mark.slow
def test_three_workers_one_killed_every_group_once(fleet_env) -> None:
    env, inbox, database_url = fleet_env
    groups = make_manifests(inbox, 32, 4)
    (inbox / "broken.parquet").write_bytes(b"not parquet at all")
    daemons = [Daemon(inbox, env, f"w{i}") for i in range(3)]
    try:
        for d in daemons:
            d.wait_http()
        time.sleep(2.0)
        victim = daemons[0]
        victim.proc.send_signal(signal.SIGKILL)
        victim.proc.wait()
        jobs = wait_jobs(inbox, 33)
        texts = {d.worker_id: d.get("/metrics") for d in daemons[1:]}
    finally:
        for d in daemons:
            if d.proc.poll() is None:
                d.proc.send_signal(signal.SIGTERM)
        for d in daemons:
            d.proc.wait(timeout=60)

    counts = frame_counts(database_url)
    assert len(counts) == groups and set(counts.values()) == {1}  # every group exactly once
    by_state = {j.manifest: j.state for j in jobs}
    assert by_state.pop("broken.parquet") == "failed"
    assert set(by_state.values()) == {"done"}
    assert len(jobs) == 33  # each manifest ended once
    # the killed worker's job: found stalled by the sweeper, retried, ended by another
    assert any(j.attempts and j.attempts >= 2 for j in jobs if j.state == "done"), "no takeover"
    for m in range(32):
        assert len(list((inbox / "done").glob(f"m{m:03d}@*.jsonl"))) == 1
        assert [h["outcome"] for h in report_heads(inbox, f"m{m:03d}")] == ["done"]
    assert len(list((inbox / "failed").glob("broken@*.parquet"))) == 1
    (failed_head,) = report_heads(inbox, "broken")
    assert "not a readable Parquet file" in failed_head["error"]
    assert not list(inbox.glob("*.jsonl"))

    # /metrics agree with the catalog: per live worker, counters = the jobs it finished
    for worker_id, text in texts.items():
        mine = [j for j in jobs if j.owner == worker_id and j.state == "done"]
        expected = sum(j.summary["groups_committed"] + j.summary["groups_unchanged"] for j in mine)
        seen = daemons[1].metric(text, "ingest_groups_total", outcome="committed") + daemons[
            1
        ].metric(text, "ingest_groups_total", outcome="unchanged")
        assert seen == expected, worker_id
        assert daemons[1].metric(text, "ingest_jobs_processed_total", outcome="done") == len(mine)
        # the queue's: one job per manifest, even when two daemons discovered it at once
        assert daemons[1].metric(text, "ingest_jobs", state="done") == 33
        assert daemons[1].metric(text, "ingest_jobs", state="pending") == 0
        assert "ingest_upload_seconds_bucket" in text
    assert (
        sum(
            j.summary["groups_committed"] + j.summary["groups_unchanged"]
            for j in jobs
            if j.state == "done"
        )
        == groups
    )
    logged = [json.loads(line) for line in (inbox.parent / "w1.log").read_text().splitlines()]
    assert any(entry.get("job", "").startswith("m0") for entry in logged), "no job ids in logs"


@pytest.mark.slow
def test_sigterm_drains_then_the_job_finishes_on_restart(fleet_env) -> None:
    env, inbox, database_url = fleet_env
    groups = make_manifests(inbox, 1, 40)
    first = Daemon(inbox, env, "first")
    first.wait_http()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # wait until it is mid-job: some groups committed
        if frame_counts(database_url):
            break
        time.sleep(0.2)
    first.proc.send_signal(signal.SIGTERM)
    assert first.proc.wait(timeout=60) == 0
    counts = frame_counts(database_url)
    assert 0 < len(counts) < groups  # drained: in-flight groups committed, nothing partial
    # handed back at once: the cancelled run ended as aborted, the same job is queued again
    statuses = sorted(j.status for j in queue_jobs(database_url, inbox))
    assert statuses == ["aborted", "todo"], statuses
    assert not (inbox / "reports").exists() or not list((inbox / "reports").iterdir())
    assert (inbox / "m000.jsonl").is_file()
    log = first.log.read_text()
    assert "job released at shutdown" in log

    second = Daemon(inbox, env, "second")
    try:
        jobs = wait_jobs(inbox, 1, timeout=120)
    finally:
        second.proc.send_signal(signal.SIGTERM)
        second.proc.wait(timeout=60)
    counts = frame_counts(database_url)
    assert len(counts) == groups and jobs[0].state == "done" and jobs[0].owner == "second"
    summary = jobs[0].summary
    assert summary["groups_unchanged"] > 0  # what the first worker committed was skipped


def test_http_submit_safety_and_readiness(sqlite_url: str, tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    env = clean_env(
        INGEST_DATABASE_URL=sqlite_url,
        INGEST_STORAGE_URL=f"file://{tmp_path}/objects",
        INGEST_API_TOKEN="s3cret",
    )
    write_png(inbox / "files" / "ok.png")
    daemon = Daemon(inbox, env, "solo")
    try:
        daemon.wait_http()
        assert json.loads(daemon.get("/readyz"))["ready"] is True
        body = (
            b'{"source": "files/ok.png"}\n{"source": "/etc/passwd"}\n'
            b'{"source": "http://127.0.0.1:9/x.png"}\n'
        )
        url = f"http://127.0.0.1:{daemon.port}/jobs?name=posted.jsonl"
        with pytest.raises(urllib.error.HTTPError) as denied:
            urllib.request.urlopen(
                urllib.request.Request(url, data=body, method="POST", headers=NDJSON)
            )
        assert denied.value.code == 401
        request = urllib.request.Request(
            url, data=body, method="POST", headers={"Authorization": "Bearer s3cret", **NDJSON}
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.status == 202
        jobs = wait_jobs(inbox, 1, timeout=60)
        assert jobs[0].state == "done"
        (report,) = (inbox / "reports").glob("posted@*.jsonl.report.jsonl")
        lines = report.read_text().splitlines()
        records = [json.loads(x) for x in lines[1:]]
        assert [r["source"] for r in records] == ["/etc/passwd"]
        assert "outside the allowed roots" in records[0]["message"]
        assert json.loads(lines[0])["summary"]["frames_by_reference"] == 1  # no copy: no fetch
        logged = [json.loads(line) for line in daemon.log.read_text().splitlines()]
        rejected = [e for e in logged if e["msg"] == "group rejected"]
        assert rejected and rejected[0]["group"] == records[0]["group_id"]
        assert rejected[0]["job"].startswith("posted.jsonl@")
    finally:
        daemon.proc.send_signal(signal.SIGTERM)
        daemon.proc.wait(timeout=30)

    refused = subprocess.run(
        [INGEST, "daemon", "--inbox", str(inbox), "--http-host", "0.0.0.0"],
        env={**env, "INGEST_API_TOKEN": ""},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode == 2 and "without INGEST_API_TOKEN" in refused.stderr


def test_s3_inbox_is_polled_and_finished_jobs_move_to_done(
    sqlite_url: str, s3_bucket: tuple[str, str], tmp_path: Path
) -> None:
    """Settled = same size and ETag in listings a settle time apart; a job is one ETag under one
    name, so new content under an old name is a job of its own, and neither overwrites the
    other's entries in done/ and reports/."""
    from ..s3server import list_keys, s3_client

    endpoint, bucket = s3_bucket
    files = tmp_path / "files"
    frames = {cam: {"source": str(write_png(files / cam / "a.png"))} for cam in CAMERAS}
    client = s3_client(endpoint)

    def drop(group_id: str) -> None:
        manifest = json.dumps({"id": group_id, "frames": frames}) + "\n"
        client.put_object(Bucket=bucket, Key="inbox/batch.jsonl", Body=manifest.encode())
        client.put_object(
            Bucket=bucket,
            Key="inbox/batch.jsonl.json",
            Body=b'{"dataset": "FromS3", "version": "v9"}',
        )

    def wait_reports(total: int) -> list[JobView]:
        """The jobs ended (their reports' first lines in inbox/reports/), oldest first."""
        deadline = time.monotonic() + 60
        while True:
            listed = client.list_objects_v2(Bucket=bucket, Prefix="inbox/reports/")
            found = sorted(listed.get("Contents", []), key=lambda o: o["LastModified"])
            if len(found) >= total or time.monotonic() > deadline:
                break
            time.sleep(0.3)
        heads = [json.loads(client.get_object(Bucket=bucket, Key=o["Key"])["Body"].read()
                            .splitlines()[0]) for o in found]  # fmt: skip
        assert len(heads) >= total, heads
        return ended_jobs(heads)

    drop("g1")
    env = clean_env(
        INGEST_DATABASE_URL=sqlite_url,
        INGEST_STORAGE_URL=f"s3://{bucket}/objects",
        INGEST_S3_ENDPOINT_URL=endpoint,
        INGEST_INBOX_SETTLE_S="0.5",
    )
    port = free_port()
    proc = subprocess.Popen(
        [
            INGEST,
            "daemon",
            "--inbox",
            f"s3://{bucket}/inbox/",
            "--create",
            "--poll-s",
            "0.3",
            "--http-port",
            str(port),
            "--allowed-root",
            str(files),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_reports(1)
        time.sleep(1.1)  # S3 LastModified has whole seconds: the next report sorts after
        drop("g2")  # the same name and size, new content
        wait_reports(2)
        time.sleep(1.1)
        posted = json.dumps({"id": "g3", "frames": frames}).encode() + b"\n"
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/jobs?name=posted.jsonl",
            data=b'{"manifest": {"dataset": "FromS3", "version": "v9"}}\n' + posted,
            method="POST",
            headers=NDJSON,
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 202
        jobs = wait_reports(3)
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert [j.state for j in jobs] == ["done", "done", "done"], err
    keys = set(list_keys(endpoint, bucket, "inbox/"))
    assert any(k.startswith("inbox/done/posted@") for k in keys)  # POST /jobs to an S3 inbox
    for job in jobs[:2]:
        tag = job.id.rpartition("@")[2]
        assert {
            f"inbox/done/batch@{tag}.jsonl",
            f"inbox/done/batch@{tag}.jsonl.json",
            f"inbox/reports/batch@{tag}.jsonl.report.jsonl",
        } <= keys
    assert "inbox/batch.jsonl" not in keys
    assert frame_counts(sqlite_url) == {"g1": 1, "g2": 1, "g3": 1}
    listed = subprocess.run(
        [INGEST, "versions", "list", "FromS3", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert [(v["name"], v["frames"]) for v in json.loads(listed.stdout)] == [("v9", 3)]  # sidecar
    tag = jobs[0].id.rpartition("@")[2]
    report = client.get_object(Bucket=bucket, Key=f"inbox/reports/batch@{tag}.jsonl.report.jsonl")
    head = json.loads(report["Body"].read().splitlines()[0])
    assert head["outcome"] == "done" and head["summary"]["groups_committed"] == 1
