"""A JSONL manifest in an S3 inbox larger than ``chunk_groups``: its manifest job cuts it at
line boundaries and each chunk job reads only its byte range with a ranged GET (moto behind the
fault proxy, which records the Range headers); rejections name ``file:line`` of the manifest as
a whole-file run does (its ``s3://`` URL), and one merged report ends the job."""

from __future__ import annotations

import itertools
import json
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from ..daemonutil import INGEST
from ..envs import clean_env
from ..faultproxy import FaultProxy
from ..pg import free_port


def _lines(stem: str, count: int, bad: int) -> bytes:
    rows = [json.dumps({"id": f"{stem}{i:03d}", "source": f"https://cdn.example/{i}.jpg"})
            for i in range(count)]  # fmt: skip
    rows[bad - 1] = "{not json"
    return ("\n".join(rows) + "\n").encode()


def _reports(client: Any, bucket: str, total: int) -> dict[str, list[dict[str, Any]]]:
    deadline = time.monotonic() + 90
    while True:
        listed = client.list_objects_v2(Bucket=bucket, Prefix="inbox/reports/")
        keys = [o["Key"] for o in listed.get("Contents", [])]
        if len(keys) >= total or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert len(keys) >= total, keys
    bodies = {k: client.get_object(Bucket=bucket, Key=k)["Body"].read() for k in keys}
    return {k.rpartition("/")[2].partition("@")[0]: [json.loads(x) for x in b.splitlines()]
            for k, b in bodies.items()}  # fmt: skip


def _daemon(sqlite_url: str, proxy: FaultProxy, bucket: str, tmp_path: Path) -> Any:
    """A daemon on the S3 inbox through the fault proxy, cutting manifests into 10-group chunks."""
    env = clean_env(
        INGEST_DATABASE_URL=sqlite_url,
        INGEST_STORAGE_URL=f"file://{tmp_path / 'objects'}",
        INGEST_S3_ENDPOINT_URL=proxy.endpoint,
        INGEST_INBOX_SETTLE_S="0.2",
        INGEST_CHUNK_GROUPS="10",
    )
    return subprocess.Popen(
        [INGEST, "daemon", "--inbox", f"s3://{bucket}/inbox/", "--dataset", "D", "--version",
         "v", "--create", "--poll-s", "0.3", "--http-port", str(free_port()),
         "--allowed-root", str(tmp_path)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip


def test_s3_inbox_chunks_read_their_byte_range_only(
    sqlite_url: str, s3_bucket: tuple[str, str], fault_proxy: FaultProxy, tmp_path: Path
) -> None:
    from ..s3server import s3_client

    endpoint, bucket = s3_bucket
    client = s3_client(endpoint)
    big = _lines("d", 25, bad=14)
    client.put_object(Bucket=bucket, Key="inbox/drive.jsonl", Body=big)
    client.put_object(Bucket=bucket, Key="inbox/small.jsonl", Body=_lines("s", 5, bad=3))
    proc = _daemon(sqlite_url, fault_proxy, bucket, tmp_path)
    try:
        reports = _reports(client, bucket, 2)
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    head, *rejected = reports["drive"]
    assert head["outcome"] == "done", err
    assert head["summary"]["groups_committed"] == 24 and head["summary"]["input_errors"] == 1
    # the chunked run names the manifest's line as a whole-file run does (small.jsonl)
    assert [r["where"] for r in rejected] == [f"s3://{bucket}/inbox/drive.jsonl:14"]
    whole, *small_rejected = reports["small"]
    assert whole["summary"]["groups_committed"] == 4
    assert [r["where"] for r in small_rejected] == [f"s3://{bucket}/inbox/small.jsonl:3"]
    gets = [r for r in fault_proxy.requests if r.method == "GET" and r.path.endswith(
        "/inbox/drive.jsonl")]  # fmt: skip
    # one whole read by the manifest job (to cut it at line ends), then one range per chunk
    ends = [i + 1 for i, byte in enumerate(big) if byte == ord("\n")]
    cuts = [0, ends[9], ends[19], len(big)]
    ranges = [f"bytes={a}-{b - 1}" for a, b in itertools.pairwise(cuts)]
    assert sorted(r.range for r in gets) == sorted(["", *ranges])
    keys = {o["Key"] for o in client.list_objects_v2(Bucket=bucket, Prefix="inbox/")["Contents"]}
    assert any(k.startswith("inbox/done/drive@") for k in keys)
    assert "inbox/drive.jsonl" not in keys


def test_a_manifest_replaced_while_its_chunks_run_fails_them_naming_it(
    sqlite_url: str, s3_bucket: tuple[str, str], fault_proxy: FaultProxy, tmp_path: Path
) -> None:
    """The manifest is cut into chunks, then replaced in S3 before the first chunk's ranged
    GET reaches the store: the GET's If-Match fails, every chunk fails at once with an error
    naming the manifest, nothing of the earlier content is registered, and the new content is
    a job of its own."""
    from ..s3server import s3_client

    endpoint, bucket = s3_bucket
    client = s3_client(endpoint)  # straight to moto, not through the proxy
    client.put_object(Bucket=bucket, Key="inbox/drive.jsonl", Body=_lines("d", 25, bad=14))
    key = f"/{bucket}/inbox/drive.jsonl"
    fault_proxy.script(key, ["delay:1.5"] * 20, method="GET")  # time to replace it
    proc = _daemon(sqlite_url, fault_proxy, bucket, tmp_path)
    try:
        deadline = time.monotonic() + 60
        while not any(r.method == "GET" and r.path == key and r.range
                      for r in fault_proxy.requests):  # fmt: skip
            assert time.monotonic() < deadline, "no chunk read its range"
            time.sleep(0.05)
        client.put_object(Bucket=bucket, Key="inbox/drive.jsonl", Body=_lines("n", 5, bad=2))
        reports = _reports(client, bucket, 2)
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    assert set(reports) == {"drive"}  # two reports of one name: the earlier and the new content
    listed = client.list_objects_v2(Bucket=bucket, Prefix="inbox/")["Contents"]
    keys = {o["Key"] for o in listed}
    heads = [json.loads(client.get_object(Bucket=bucket, Key=k)["Body"].read().splitlines()[0])
             for k in keys if k.startswith("inbox/reports/")]  # fmt: skip
    new, old = sorted(heads, key=lambda h: str(h["outcome"]))
    assert old["outcome"] == "failed", err
    assert f"manifest s3://{bucket}/inbox/drive.jsonl was replaced or removed" in old["error"]
    assert old["error"].count("was replaced") == 3  # each chunk, at once (no retries)
    assert old["summary"]["groups_committed"] == 0  # nothing of the earlier content
    assert new["outcome"] == "done" and new["summary"]["groups_committed"] == 4
    assert len([k for k in keys if k.startswith("inbox/done/drive@")]) == 1  # the new one
    assert "inbox/drive.jsonl" not in keys
