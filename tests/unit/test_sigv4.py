"""The lean SigV4 signer (``storage/sigv4.py``) makes exactly the headers botocore's
``S3SigV4Auth`` makes for the same PutObject, over many requests."""

from __future__ import annotations

import datetime
import itertools
from dataclasses import dataclass, field
from typing import Any

import pytest
from botocore import auth as botocore_auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from ingest.storage.s3put import content_md5, host_header, object_url, origin_length
from ingest.storage.sigv4 import PutSigner

BASES = [
    "http://127.0.0.1:9000/bucket/",  # path style, custom endpoint
    "https://bucket.s3.eu-west-1.amazonaws.com/",  # virtual-hosted style
    "https://s3.us-east-1.amazonaws.com/my.dotted.bucket/",  # path style for a dotted name
    "http://[::1]:9000/b/prefix/",  # IPv6, a bucket with a prefix in the base
    "https://minio.internal:443/b/",  # the default port (not in Host)
]
KEYS = [
    "a.jpg",
    "runs/1/cam 1/a b+c.jpg",
    "Zürich/☃/ü.png",
    "x?y#z&w=1",
    "~tilde/%41/percent",
    "a//double//slash",
    " lead and trail ",
    "dots/../x/./y",
    "*'()!$,;=@:[]",
    "tab\there",
]
CONTENT_TYPES = [None, "", "image/jpeg", "  text/plain;   charset=utf-8 "]
CREDENTIALS = [
    Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
    Credentials("ASIATEMP", "secret/with+chars==", token="FwoGZXIvYXdzEBYaD+token/=="),
]


@dataclass(frozen=True)
class _SigningConfig:
    """What ``S3SigV4Auth`` reads from ``request.context['client_config']``."""

    s3: dict[str, Any] = field(default_factory=dict)


STAMPS = [datetime.datetime(2026, 11, 27, 15, 4, 5), datetime.datetime(2030, 1, 1, 0, 0, 0)]


def _botocore(
    monkeypatch: pytest.MonkeyPatch,
    now: datetime.datetime,
    creds: Credentials,
    region: str,
    url: str,
    data: bytes,
    content_type: str | None,
    payload_signing: bool,
) -> dict[str, str]:
    monkeypatch.setattr(botocore_auth, "get_current_datetime", lambda: now)
    headers = {"Host": host_header(url), "Content-MD5": content_md5(data)}
    if content_type:
        headers["Content-Type"] = content_type
    request = AWSRequest(method="PUT", url=url, headers=headers, data=data)
    request.context["client_config"] = _SigningConfig(
        s3={"payload_signing_enabled": payload_signing}
    )
    frozen = creds.get_frozen_credentials()
    botocore_auth.S3SigV4Auth(frozen, "s3", region).add_auth(request)
    return dict(request.headers.items())


@pytest.mark.parametrize("payload_signing", [False, True])
def test_headers_equal_botocores(monkeypatch: pytest.MonkeyPatch, payload_signing: bool) -> None:
    compared = 0
    for region in ("us-east-1", "eu-west-1"):
        signer = PutSigner(region, "s3", payload_signing=payload_signing)  # its key cache too
        combos = itertools.product(BASES, KEYS, CONTENT_TYPES, CREDENTIALS, STAMPS)
        for base, key, content_type, creds, now in combos:
            url = object_url(base, key)
            data = f"{key}{content_type}".encode()
            expected = _botocore(
                monkeypatch, now, creds, region, url, data, content_type, payload_signing
            )
            for path in (None, url[origin_length(base) :]):  # LeanPut passes the path
                got = signer.headers(
                    creds.get_frozen_credentials(),
                    url,
                    host_header(url),
                    data,
                    content_md5(data),
                    content_type,
                    stamp=now.strftime("%Y%m%dT%H%M%SZ"),
                    path=path,
                )
                assert got == expected, (url, content_type, creds.token, path)
            compared += 1
    assert compared == 2 * len(BASES) * len(KEYS) * len(CONTENT_TYPES) * 2 * 2


def test_stamp_defaults_to_now() -> None:
    creds = CREDENTIALS[0].get_frozen_credentials()
    url = object_url(BASES[0], "k")
    headers = PutSigner("us-east-1", "s3").headers(creds, url, "h", b"", "md5", None)
    stamp = headers["X-Amz-Date"]
    now = datetime.datetime.now(datetime.UTC)
    assert (
        abs(
            (
                now.replace(tzinfo=None) - datetime.datetime.strptime(stamp, "%Y%m%dT%H%M%SZ")
            ).total_seconds()
        )
        < 5
    )
