"""Uploads start before aioboto3 is imported (``storage/s3early.py``), on both S3 servers.

An ``ingest import`` into an ``http://`` endpoint with credentials in the environment runs in a
subprocess that records, at its first PUT, which modules are loaded and whether a client
exists; rclone checks the signatures and Content-MD5 it receives. Then a non-lean operation
(a listing, a multipart upload) builds the client on demand and works.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.envs import clean_env
from tests.s3fixtures import BOTH_S3_SERVERS
from tests.s3server import AWS_TEST_ENV, list_keys

ROOT = Path(__file__).resolve().parents[2]

#: the subprocess: an import through the CLI's own code path, the first PUT observed, then
#: a listing and a multipart upload on the application's store
SCRIPT = r"""
import asyncio, json, sys
from ingest import cli
from ingest.storage import httpput

seen = {}
real_put = httpput.PutPool.put

async def observed(self, target, headers, body, url, method="PUT"):
    status = await real_put(self, target, headers, body, url, method)
    if method == "PUT" and "first_put" not in seen:
        seen["first_put"] = {
            "status": status[0],
            "loaded": sorted(m for m in ("aioboto3", "aiobotocore", "aiohttp", "boto3")
                             if m in sys.modules),
        }
    return status

httpput.PutPool.put = observed
manifest, db, url, endpoint, big = sys.argv[1:]
code = cli.main(["import", manifest, "--dataset", "d", "--version", "v", "--create", "--json",
                 "--database-url", db, "--storage-url", url, "--s3-endpoint-url", endpoint])
seen["exit"] = code
seen["after_import"] = sorted(m for m in ("aioboto3", "aiobotocore", "aiohttp")
                              if m in sys.modules)

async def non_lean():
    from ingest.storage import open_storage
    store = await open_storage(url, endpoint_url=endpoint, multipart_threshold_mb=5)
    try:
        # HEAD on the lean wire, twice on a kept connection, then a PUT on it again
        one = (await store.stat("small.bin"), await store.stat("small.bin"))
        await store.put_bytes("small.bin", b"v" * 10, "text/plain")
        two = await store.stat("small.bin")
        kind = await store.content_type("small.bin")
        seen["stats"] = [one[0] is None, one[1] is None, two.size, kind]
        seen["client_before"] = store._client is not None
        seen["listed"] = sorted([o.key async for o in store.list()])
        with open(big, "rb") as f:
            size = f.seek(0, 2)
            seen["multipart"] = await store.put_file("big.bin", big, size, None)
        seen["client_after"] = store._client is not None
    finally:
        await store.close()

asyncio.run(non_lean())
print(json.dumps(seen))
"""


def _workload(tmp_path: Path) -> Path:
    lines = []
    for g in range(3):
        frames = {}
        for cam in ("front", "rear"):
            src = tmp_path / f"{cam}-{g}.bin"
            src.write_bytes(bytes([g]) * 1000 + cam.encode())
            frames[cam] = {"source": str(src)}
        lines.append(json.dumps({"context_id": "c", "timestamp": g, "frames": frames}))
    manifest = tmp_path / "m.jsonl"
    manifest.write_text("\n".join(lines) + "\n")
    return manifest


@BOTH_S3_SERVERS
def test_first_puts_go_out_before_aioboto3_is_imported(
    s3_bucket: tuple[str, str], tmp_path: Path
) -> None:
    endpoint, bucket = s3_bucket
    manifest = _workload(tmp_path)
    big = tmp_path / "big.bin"
    big.write_bytes(b"m" * (6 * 1024 * 1024))  # two parts at a 5 MiB threshold
    env = clean_env(PYTHONPATH=str(ROOT), **AWS_TEST_ENV)
    for name in [k for k in env if k.lower() in ("http_proxy", "all_proxy")]:
        del env[name]
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(manifest), f"sqlite:///{tmp_path}/c.db",
         f"s3://{bucket}/p", endpoint, str(big)],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    seen = json.loads(proc.stdout.strip().splitlines()[-1])
    assert seen["exit"] == 0
    assert seen["first_put"] == {"status": 200, "loaded": []}
    # the whole import (probe HEAD, six PUTs, commit) never needed the client
    assert seen["after_import"] == []
    assert not seen["client_before"]
    assert seen["stats"] == [True, True, 10, "text/plain"]  # HeadObject on the lean wire
    assert len(seen["listed"]) == 7  # ListObjectsV2: the client, built on demand
    assert seen["multipart"] == f"s3://{bucket}/p/big.bin"
    assert seen["client_after"]
    assert len(list_keys(endpoint, bucket, "p/")) == 8
