"""The daemon's POST /jobs: Host, Origin and form-type checks with or without a token, the
Bearer scheme, the body limit, 409 on a busy name; and the per-job timeout."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

from ..daemonutil import NDJSON, Daemon, daemon_env, report_heads, wait_jobs, wait_state
from ..faultproxy import FaultProxy
from ..images import write_png

MiB = 1024 * 1024


def lines(folder: str, *ids: str) -> bytes:
    return b"".join(
        json.dumps({"id": i, "source": f"files/{folder}/{i}.png"}).encode() + b"\n" for i in ids
    )


def raw_post(port: int, headers: str, chunks: list[bytes]) -> bytes:
    """Send a request head and body chunks on a raw socket (the server may answer and close
    before the body is all sent); the start of the response."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        head = f"POST /jobs?name=big.jsonl HTTP/1.1\r\nHost: 127.0.0.1\r\n{headers}\r\n"
        sock.sendall(head.encode())
        try:
            for chunk in chunks:
                sock.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass
        return sock.recv(65536)


def test_post_refuses_wrong_host_cross_site_form_types_and_big_bodies(
    sqlite_url: str, tmp_path: Path
) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    write_png(inbox / "files" / "ok" / "g1.png")
    env = daemon_env(
        INGEST_DATABASE_URL=sqlite_url,
        INGEST_STORAGE_URL=f"file://{tmp_path}/objects",
        INGEST_DAEMON_MAX_BODY_MB="1",
    )
    body = lines("ok", "g1")
    daemon = Daemon(inbox, env, "open")  # no token
    try:
        daemon.wait_http()
        refused = [
            ({"Host": "evil.example:8081", **NDJSON}, "Host"),  # DNS rebinding
            ({"Host": "localhost.evil.example", **NDJSON}, "Host"),
            ({"Origin": "http://evil.example", **NDJSON}, "cross-site"),
            ({"Origin": "null", **NDJSON}, "cross-site"),
            ({"Sec-Fetch-Site": "cross-site", **NDJSON}, "cross-site"),
            ({"Content-Type": "text/plain"}, "Content-Type"),  # a form from any page
            ({"Content-Type": "application/x-www-form-urlencoded"}, "Content-Type"),
        ]
        for headers, word in refused:
            status, error = daemon.post("posted.jsonl", body, headers)
            assert status == 403 and word in error["error"], headers

        # over the limit: refused from the declared length, before the body is read...
        answer = raw_post(
            daemon.port,
            f"Content-Type: application/x-ndjson\r\nContent-Length: {10 * 1024**3}\r\n",
            [b"{}\n" * 100],
        )
        assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
        # ...or, chunked, as soon as the bytes read pass it
        chunk = b"x" * 65536
        chunks = [b"%x\r\n%s\r\n" % (len(chunk), chunk)] * (2 * MiB // len(chunk)) + [b"0\r\n\r\n"]
        answer = raw_post(
            daemon.port,
            "Content-Type: application/x-ndjson\r\nTransfer-Encoding: chunked\r\n",
            chunks,
        )
        assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
        assert sorted(p.name for p in inbox.iterdir()) == ["done", "failed", "files", "reports"]

        status, accepted = daemon.post(
            "posted.jsonl", body, {"Host": f"localhost:{daemon.port}", **NDJSON}
        )
        assert status == 202 and accepted["job"].startswith("posted.jsonl@")
        (job,) = wait_jobs(inbox, 1, timeout=60)
        assert job.state == "done" and job.id == accepted["job"]
    finally:
        daemon.stop()

    env["INGEST_API_TOKEN"] = "s3cret"
    daemon = Daemon(inbox, env, "guarded")
    try:
        daemon.wait_http()
        status, error = daemon.post("second.jsonl", body, {"Authorization": "s3cret", **NDJSON})
        assert status == 401 and "Bearer" in error["error"]
        status, _ = daemon.post("second.jsonl", body, {"Authorization": "Bearer wrong", **NDJSON})
        assert status == 401
        bearer = {"Authorization": "Bearer s3cret", **NDJSON}
        status, _ = daemon.post("second.jsonl", body, {**bearer, "Host": "evil.example"})
        assert status == 403
        status, _ = daemon.post("second.jsonl", body, {**bearer, "Origin": "https://evil.example"})
        assert status == 403
        status, _ = daemon.post("second.jsonl", body, bearer)
        assert status == 202
        wait_jobs(inbox, 2, timeout=60)
    finally:
        daemon.stop()


def test_a_busy_name_is_409_and_a_hung_job_times_out(
    sqlite_url: str, s3_bucket: tuple[str, str], fault_proxy: FaultProxy, tmp_path: Path
) -> None:
    """A job whose upload hangs holds its name (409 for another body), is cancelled at
    job_timeout_s and failed with a clear error; the worker goes on, the name is free again."""
    _, bucket = s3_bucket
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    write_png(inbox / "files" / "hang" / "h1.png")
    write_png(inbox / "files" / "ok" / "g1.png")
    fault_proxy.script("-hang-h1.png", ["stall:30"] * 10, method="PUT", contains=True)
    env = daemon_env(
        INGEST_DATABASE_URL=sqlite_url,
        INGEST_STORAGE_URL=f"s3://{bucket}/objects",
        INGEST_S3_ENDPOINT_URL=fault_proxy.endpoint,
        INGEST_JOB_TIMEOUT_S="3",
        INGEST_SHUTDOWN_GRACE_S="1",
        INGEST_UPLOAD_TIMEOUT_S="120",
        INGEST_UPLOAD_RETRIES="0",
    )
    daemon = Daemon(inbox, env, "solo")
    try:
        daemon.wait_http()
        hung = lines("hang", "h1")
        status, accepted = daemon.post("batch.jsonl", hung, NDJSON)
        assert status == 202
        deadline = time.monotonic() + 30  # its job runs (the queue's gauge)
        while daemon.metric(daemon.get("/metrics"), "ingest_jobs", state="running") < 1:
            assert time.monotonic() < deadline, "the job never ran"
            time.sleep(0.1)
        status, error = daemon.post("batch.jsonl", lines("ok", "g1"), NDJSON)
        assert status == 409 and "queued or running" in error["error"]
        assert (inbox / "batch.jsonl").read_bytes() == hung  # the refused body went nowhere

        job = wait_state(inbox, "batch.jsonl", "failed", timeout=60)
        assert job.id == accepted["job"]
        assert "timed out after 3 s" in job.error
        tag = job.id.rpartition("@")[2]
        assert (inbox / "failed" / f"batch@{tag}.jsonl").read_bytes() == hung

        status, again = daemon.post("batch.jsonl", lines("ok", "g1"), NDJSON)  # the name is free
        assert status == 202
        done = wait_state(inbox, "batch.jsonl", "done", timeout=60)
        assert done.id == again["job"]
        assert json.loads(daemon.get("/readyz"))["ready"] is True
    finally:
        daemon.stop()
    heads = report_heads(inbox, "batch")
    assert [h["outcome"] for h in heads] == ["failed", "done"]
    assert "timed out" in heads[0]["error"]
