"""``s3early``: what it reads without botocore equals what botocore resolves, and it stands
aside for every setting it does not read."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import aioboto3
import pytest
from botocore.credentials import EnvProvider

from ingest.storage import s3early
from ingest.storage.s3 import S3Storage
from ingest.storage.s3put import LeanPut
from tests.s3server import AWS_TEST_ENV

ENDPOINTS = [
    "http://127.0.0.1:9000",
    "http://localhost:9000/",
    "http://minio.internal:9000",
    "http://s3.example.com",
    "http://s3.example.com:8080/base/path",
    "http://[::1]:9000",
]
BUCKETS = ["bucket", "my-bucket-01", "dotted.bucket.name", "abc"]
STYLES = ["path", "virtual"]


async def _botocore_targets(endpoint: str, style: str, region: str) -> dict[str, Any]:
    """The lean path's target per bucket, as botocore's endpoint rules resolve it for a
    client of these settings (``LeanPut.resolve``)."""
    session = aioboto3.Session(
        aws_access_key_id="AKIAEXAMPLE", aws_secret_access_key="secret", region_name=region
    )
    store = S3Storage(
        "any", "", endpoint_url=endpoint, region=region, session=session, addressing_style=style
    )
    await store.open()
    targets = {}
    try:
        for bucket in BUCKETS:
            lean = await LeanPut.resolve(store.client, bucket)
            assert lean is not None
            targets[bucket] = lean.target
            lean.close()
    finally:
        await store.close()
    return targets


async def test_base_url_and_scope_equal_botocores() -> None:
    checked = 0
    for endpoint, style in itertools.product(ENDPOINTS, STYLES):
        regions = ("us-east-1", "eu-west-3") if endpoint == ENDPOINTS[0] else ("us-east-1",)
        for region in regions:
            targets = await _botocore_targets(endpoint, style, region)
            for bucket in BUCKETS:
                early = s3early.base_url(endpoint, bucket, style)
                if early is None:
                    continue  # left to botocore: nothing to compare
                target = targets[bucket]
                got = (target.base_url, target.region, target.service)
                assert (early, region, "s3") == got, (endpoint, bucket, style)
                checked += 1
    # path style is always read here; virtual style for DNS-label buckets on host names
    assert checked >= len(ENDPOINTS) * len(BUCKETS) + 3 * 3


@pytest.mark.parametrize(
    "endpoint",
    [
        "https://s3.example.com",  # TLS: aiohttp's, with botocore's certificate settings
        "http://user:pw@host:9000",
        "http://host:9000/?x=1",
        "http://HOST:9000",
        "",
    ],
)
def test_other_endpoints_are_left_to_botocore(endpoint: str) -> None:
    assert s3early.base_url(endpoint, "bucket", "path") is None


@pytest.mark.parametrize(
    "env",
    [
        {"AWS_ACCESS_KEY_ID": "AKIA1", "AWS_SECRET_ACCESS_KEY": "s1"},
        {"AWS_ACCESS_KEY_ID": "AKIA1", "AWS_SECRET_ACCESS_KEY": "s1", "AWS_SESSION_TOKEN": "t"},
        {"AWS_ACCESS_KEY_ID": "AKIA1", "AWS_SECRET_ACCESS_KEY": "s1", "AWS_SECURITY_TOKEN": "t2"},
        {
            "AWS_ACCESS_KEY_ID": "AKIA1",
            "AWS_SECRET_ACCESS_KEY": "s1",
            "AWS_SECURITY_TOKEN": "old",
            "AWS_SESSION_TOKEN": "new",
        },
        {"AWS_ACCESS_KEY_ID": "AKIA1", "AWS_SECRET_ACCESS_KEY": "s1", "AWS_SESSION_TOKEN": ""},
    ],
)
def test_env_credentials_equal_botocores_env_provider(env: dict[str, str]) -> None:
    frozen = EnvProvider(environ=env).load().get_frozen_credentials()
    mine = s3early.env_credentials(env)
    assert mine is not None
    assert tuple(mine.get_frozen_credentials()) == (
        frozen.access_key,
        frozen.secret_key,
        frozen.token,
    )


@pytest.mark.parametrize(
    "env",
    [
        {},
        {"AWS_ACCESS_KEY_ID": "AKIA1"},  # partial: botocore raises, the client says so
        {"AWS_SECRET_ACCESS_KEY": "s1"},
        # expiring: refreshable credentials, resolved and refreshed by the client
        {
            "AWS_ACCESS_KEY_ID": "AKIA1",
            "AWS_SECRET_ACCESS_KEY": "s1",
            "AWS_CREDENTIAL_EXPIRATION": "2030-01-01T00:00:00Z",
        },
    ],
)
def test_no_static_env_credentials(env: dict[str, str]) -> None:
    assert s3early.env_credentials(env) is None


def test_settings_that_would_change_the_request_rule_it_out(tmp_path: Path) -> None:
    plain = dict(AWS_TEST_ENV)
    assert s3early.why_not(plain) is None
    assert "proxy" in (s3early.why_not({**plain, "HTTP_PROXY": "http://p:3128"}) or "")
    assert "proxy" in (s3early.why_not({**plain, "all_proxy": "socks5://p"}) or "")
    for name in ("AWS_USE_FIPS_ENDPOINT", "AWS_ENDPOINT_URL_S3", "AWS_CREDENTIAL_EXPIRATION"):
        assert s3early.why_not({**plain, name: "x"}) == f"{name} is set"

    config = tmp_path / "config"
    config.write_text("[default]\nregion = eu-west-1\noutput = json\n[profile other]\ns3 =\n")
    env = {**plain, "AWS_CONFIG_FILE": str(config)}
    assert s3early.why_not(env) is None  # region and output change nothing here
    assert s3early.why_not({**env, "AWS_PROFILE": "other"}) is not None
    config.write_text("[default]\nuse_fips_endpoint = true\n")
    assert s3early.why_not(env) is not None
    config.write_text("not an ini file [")
    assert s3early.why_not(env) is not None


def test_early_lean_put_needs_all_of_it() -> None:
    env = dict(AWS_TEST_ENV)

    async def no_http() -> None:
        raise AssertionError

    def early(endpoint: str, environ: dict[str, str]) -> LeanPut | None:
        return LeanPut.early(
            endpoint, "b", "us-east-1", None, limit=4, timeout_s=5, open_http=no_http,
            environ=environ,
        )  # fmt: skip

    lean = early("http://127.0.0.1:9", env)
    assert lean is not None and lean.wired and lean.target.base_url == "http://127.0.0.1:9/b/"
    lean.close()
    assert early("https://127.0.0.1:9", env) is None
    assert early("http://127.0.0.1:9", {**env, "AWS_ACCESS_KEY_ID": ""}) is None
    assert early("http://127.0.0.1:9", {**env, "HTTP_PROXY": "http://p"}) is None
