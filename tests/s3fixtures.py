"""pytest fixtures for S3 tests: two real S3 servers, fresh buckets, a fault-injecting proxy.

Load with ``pytest_plugins = ["tests.s3fixtures"]`` in the top-level conftest (or
``-p tests.s3fixtures``). All fixtures are sync, so they serve sync and async tests alike.

    moto_server   (session)  endpoint URL of a moto S3 server on 127.0.0.1, free port;
                             dummy AWS credentials and region in os.environ meanwhile
    rclone_server (session)  endpoint URL of ``rclone serve s3`` (Go, tests/rclone.py) on
                             127.0.0.1, free port, checking SigV4 against the same
                             credentials; a real, fast server
    s3_server     (function) the endpoint of one of them: moto unless the test is
                             parametrized with ``@BOTH_S3_SERVERS`` (or
                             ``parametrize("s3_server", [...], indirect=True)``)
    s3_bucket     (function) (endpoint, bucket) on ``s3_server``: a fresh, uniquely named
                             bucket, emptied and deleted afterwards
    fault_proxy   (function) a FaultProxy in front of moto_server; use proxy.endpoint as the
                             S3 endpoint URL (fault tests stay on moto: the proxy and its
                             bucket must be on the same server)
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.faultproxy import FaultProxy
from tests.rclone import RcloneServer
from tests.s3server import MotoServer, aws_test_env, create_bucket, delete_bucket

S3_SERVERS = ("moto", "rclone")
#: run a test once per S3 server (ids ``[moto]`` and ``[rclone]``)
BOTH_S3_SERVERS = pytest.mark.parametrize("s3_server", S3_SERVERS, indirect=True)


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    with aws_test_env(), MotoServer() as server:
        yield server.endpoint


@pytest.fixture(scope="session")
def rclone_server() -> Iterator[str]:
    with aws_test_env(), RcloneServer() as server:
        yield server.endpoint


@pytest.fixture
def s3_server(request: pytest.FixtureRequest) -> str:
    name = getattr(request, "param", "moto")
    if name not in S3_SERVERS:
        raise ValueError(f"unknown S3 server {name!r}; one of {S3_SERVERS}")
    endpoint: str = request.getfixturevalue(f"{name}_server")
    return endpoint


@pytest.fixture
def s3_bucket(s3_server: str) -> Iterator[tuple[str, str]]:
    bucket = create_bucket(s3_server)
    try:
        yield s3_server, bucket
    finally:
        delete_bucket(s3_server, bucket)


@pytest.fixture
def fault_proxy(moto_server: str) -> Iterator[FaultProxy]:
    with FaultProxy(moto_server) as proxy:
        yield proxy
