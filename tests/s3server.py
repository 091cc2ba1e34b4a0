"""A real moto S3 server in a subprocess, plus small sync helpers for tests (any S3 server).

``MotoServer`` runs this file as a script: the child starts moto's ``ThreadedMotoServer`` on
127.0.0.1 with port 0 (the kernel picks a free port, so there is no race), prints
``PORT <n>`` and serves until its stdin is closed, so it also goes away when the test
process dies.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

#: dummy credentials and region for the session; nothing ever reaches AWS. The keys have the
#: shape of real ones (AWS's documented example pair, 20 and 40 characters): moto takes any,
#: ``rclone serve s3`` (tests/rclone.py) is started with this pair and checks signatures.
AWS_TEST_ENV: Mapping[str, str] = {
    "AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE",
    "AWS_SECRET_ACCESS_KEY": "wJalrXUtnPxEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    # never read the developer's ~/.aws files or reach the instance metadata service
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "AWS_EC2_METADATA_DISABLED": "true",
}
_UNSET_ENV = ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3")


@contextmanager
def aws_test_env() -> Iterator[None]:
    """Set the dummy AWS environment, restore the previous one afterwards."""
    saved = {k: os.environ.get(k) for k in (*AWS_TEST_ENV, *_UNSET_ENV)}
    os.environ.update(AWS_TEST_ENV)
    for k in _UNSET_ENV:
        os.environ.pop(k, None)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


class MotoServer:
    """``with MotoServer() as server: server.endpoint`` -> ``http://127.0.0.1:PORT``."""

    def __init__(self, *, start_timeout_s: float = 30.0, env: Mapping[str, str] | None = None):
        self.start_timeout_s = start_timeout_s
        self.env = dict(env or {})
        self.port: int | None = None
        self._proc: subprocess.Popen[str] | None = None

    @property
    def endpoint(self) -> str:
        if self.port is None:
            raise RuntimeError("moto server is not running")
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> MotoServer:
        env = {**os.environ, **AWS_TEST_ENV, **self.env, "PYTHONUNBUFFERED": "1"}
        self._proc = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=env,
        )
        line: list[str] = []
        assert self._proc.stdout is not None
        reader = threading.Thread(
            target=lambda: line.append(self._proc.stdout.readline()),  # type: ignore[union-attr]
            daemon=True,
        )
        reader.start()
        reader.join(self.start_timeout_s)
        if not line or not line[0].startswith("PORT "):
            self.stop()
            raise RuntimeError(f"moto server did not start (got {line!r})")
        self.port = int(line[0].split()[1])
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.start_timeout_s
        while True:
            try:
                with urllib.request.urlopen(f"{self.endpoint}/moto-api/", timeout=2):
                    return
            except OSError:
                if time.monotonic() > deadline or (self._proc and self._proc.poll() is not None):
                    self.stop()
                    raise RuntimeError("moto server is not answering") from None
                time.sleep(0.05)

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        self.port = None
        if proc is None:
            return
        try:
            if proc.stdin:
                proc.stdin.close()  # the child stops on EOF
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        finally:
            if proc.stdout:
                proc.stdout.close()

    def __enter__(self) -> MotoServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


# -- sync helpers (boto3) ----------------------------------------------------------------------


def s3_client(endpoint: str, region: str = "us-east-1") -> Any:
    """A plain boto3 S3 client for setup and assertions (path-style, dummy credentials)."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id=AWS_TEST_ENV["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=AWS_TEST_ENV["AWS_SECRET_ACCESS_KEY"],
        config=Config(s3={"addressing_style": "path"}, retries={"total_max_attempts": 1}),
    )


def unique_bucket_name(stem: str = "test") -> str:
    return f"{stem}-{uuid.uuid4().hex[:12]}"


def create_bucket(endpoint: str, name: str | None = None) -> str:
    bucket = name or unique_bucket_name()
    s3_client(endpoint).create_bucket(Bucket=bucket)
    return bucket


def list_keys(endpoint: str, bucket: str, prefix: str = "") -> list[str]:
    client = s3_client(endpoint)
    keys: list[str] = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys.extend(item["Key"] for item in page.get("Contents", ()))
    return keys


def list_multipart_uploads(endpoint: str, bucket: str) -> list[dict[str, Any]]:
    from botocore.exceptions import ClientError

    try:
        uploads: list[dict[str, Any]] = (
            s3_client(endpoint).list_multipart_uploads(Bucket=bucket).get("Uploads", [])
        )
    except ClientError as exc:  # rclone serve s3 answers NoSuchUpload when there are none
        if exc.response.get("Error", {}).get("Code") != "NoSuchUpload":
            raise
        return []
    return uploads


def delete_bucket(endpoint: str, bucket: str) -> None:
    """Abort pending multipart uploads, delete every object, then the bucket."""
    client = s3_client(endpoint)
    for up in list_multipart_uploads(endpoint, bucket):
        client.abort_multipart_upload(Bucket=bucket, Key=up["Key"], UploadId=up["UploadId"])
    keys = list_keys(endpoint, bucket)
    for i in range(0, len(keys), 1000):
        client.delete_objects(
            Bucket=bucket,
            Delete={"Objects": [{"Key": k} for k in keys[i : i + 1000]], "Quiet": True},
        )
    client.delete_bucket(Bucket=bucket)


def _serve() -> None:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    _host, port = server.get_host_and_port()
    print(f"PORT {port}", flush=True)
    try:
        sys.stdin.read()  # until the parent closes our stdin (or dies)
    finally:
        server.stop()


if __name__ == "__main__":
    _serve()
