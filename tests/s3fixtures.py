"""pytest fixtures for S3 tests: a real moto server, fresh buckets, a fault-injecting proxy.

Load with ``pytest_plugins = ["tests.s3fixtures"]`` in the top-level conftest (or
``-p tests.s3fixtures``). All fixtures are sync, so they serve sync and async tests alike.

    moto_server   (session)  endpoint URL of a moto S3 server on 127.0.0.1, free port;
                             dummy AWS credentials and region in os.environ meanwhile
    s3_bucket     (function) (endpoint, bucket): a fresh, uniquely named bucket, emptied
                             and deleted afterwards
    fault_proxy   (function) a FaultProxy in front of moto_server; use proxy.endpoint as the
                             S3 endpoint URL
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.faultproxy import FaultProxy
from tests.s3server import MotoServer, aws_test_env, create_bucket, delete_bucket


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    with aws_test_env(), MotoServer() as server:
        yield server.endpoint


@pytest.fixture
def s3_bucket(moto_server: str) -> Iterator[tuple[str, str]]:
    bucket = create_bucket(moto_server)
    try:
        yield moto_server, bucket
    finally:
        delete_bucket(moto_server, bucket)


@pytest.fixture
def fault_proxy(moto_server: str) -> Iterator[FaultProxy]:
    with FaultProxy(moto_server) as proxy:
        yield proxy
