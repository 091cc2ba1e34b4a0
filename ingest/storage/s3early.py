"""The lean path from the first upload: what botocore would resolve, without building a client.

An ``ingest import`` into S3 used to spend its first ~0.5 s on one core importing aioboto3,
aiobotocore, botocore and aiohttp and building a client, while the server idled, before its
first PUT, although a lean PUT (``s3put.LeanPut``) needs none of it: SigV4 (``sigv4``),
credentials, the bucket's URL and the region. For the one setup where those are plain to
read, this module gives them without botocore, so uploads start at once and the client is
built only if a non-lean operation is ever needed (``S3Storage(defer_client=True)``):

- an ``http://`` endpoint given explicitly (PUTs go on ``httpput``'s wire; ``https://`` needs
  aiohttp's TLS and botocore's certificate settings anyway, and AWS's own hosts its rules);
- credentials in the environment (``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY``, optional
  ``AWS_SESSION_TOKEN`` / ``AWS_SECURITY_TOKEN``), static: botocore's chain takes them first
  (``EnvProvider``) for a session without an explicit profile. Read here with the same rules
  (hand-written: importing ``botocore.credentials`` alone costs ~0.1 s). Expiring ones
  (``AWS_CREDENTIAL_EXPIRATION``), and every other source of the chain (files, SSO, roles,
  instance metadata), are refreshable or need botocore: the client resolves those, as before;
- path style (the store's default for a custom endpoint: ``http://host:port/bucket/key``), or
  virtual-hosted style for a bucket name that is a DNS label on a host name;
- nothing else that would change what botocore sends: no HTTP proxy in the environment, no
  ``AWS_*`` variable outside the few read here or overridden by the store's own config, and a
  shared config file whose profile sets nothing else either (FIPS, dual-stack, endpoint
  overrides, payload signing... are left to botocore).

``tests/unit/test_s3early.py`` checks the URL, region and credentials against what botocore
resolves for a client of the same settings (``LeanPut.resolve``), and what refuses.
"""

from __future__ import annotations

import configparser
import ipaddress
import os
import re
from collections.abc import Mapping
from typing import NamedTuple
from urllib.parse import quote, urlsplit

#: the ``AWS_*`` variables that change nothing here (read here, overridden by the store's own
#: client config: region, retries, checksums, addressing style, endpoint; or about what the
#: early path does not do: TLS, instance metadata)
KNOWN_ENV = frozenset(
    {
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_SECURITY_TOKEN",
        "AWS_ACCOUNT_ID",
        "AWS_DEFAULT_REGION",
        "AWS_REGION",
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_CONFIG_FILE",
        "AWS_SHARED_CREDENTIALS_FILE",
        "AWS_MAX_ATTEMPTS",
        "AWS_RETRY_MODE",
        "AWS_DEFAULT_OUTPUT",
        "AWS_PAGER",
        "AWS_EC2_METADATA_DISABLED",
        "AWS_METADATA_SERVICE_TIMEOUT",
        "AWS_METADATA_SERVICE_NUM_ATTEMPTS",
        "AWS_CA_BUNDLE",  # TLS only: the early path is plain HTTP
        "AWS_SDK_UA_APP_ID",  # the User-Agent, which the lean path does not send
        "AWS_REQUEST_CHECKSUM_CALCULATION",
        "AWS_RESPONSE_CHECKSUM_VALIDATION",
    }
)
#: keys of the shared config file's profile that change nothing here (credentials: the
#: environment's win; region: the store's; addressing style: the store's)
KNOWN_PROFILE_KEYS = frozenset(
    {"region", "output", "aws_access_key_id", "aws_secret_access_key", "aws_session_token"}
)
_PROXY_ENV = ("http_proxy", "all_proxy")
_DNS_LABEL = re.compile(r"[a-z0-9][a-z0-9-]{1,61}[a-z0-9]")


class EnvCredentials(NamedTuple):
    """Static credentials, shaped like botocore's frozen ones (and their own frozen form)."""

    access_key: str
    secret_key: str
    token: str | None

    def get_frozen_credentials(self) -> EnvCredentials:
        return self


def env_credentials(environ: Mapping[str, str]) -> EnvCredentials | None:
    """What botocore's ``EnvProvider`` loads when the keys are static; None when it would
    load nothing, fail (a partial pair) or load refreshable ones."""
    access = environ.get("AWS_ACCESS_KEY_ID", "")
    secret = environ.get("AWS_SECRET_ACCESS_KEY", "")
    if not access or not secret or environ.get("AWS_CREDENTIAL_EXPIRATION", ""):
        return None
    token = environ.get("AWS_SECURITY_TOKEN", "") or environ.get("AWS_SESSION_TOKEN", "")
    return EnvCredentials(access, secret, token or None)


def base_url(endpoint_url: str, bucket: str, addressing_style: str) -> str | None:
    """The URL keys are appended to, as botocore's S3 endpoint rules build it for a custom
    ``http://`` endpoint; None when this does not follow those rules simply."""
    parts = urlsplit(endpoint_url)
    if parts.scheme != "http" or not parts.hostname or parts.query or parts.fragment:
        return None
    if "@" in parts.netloc or parts.netloc != parts.netloc.lower():
        return None
    path = parts.path if parts.path.endswith("/") else parts.path + "/"
    if addressing_style == "path":
        return f"http://{parts.netloc}{path}{quote(bucket, safe='')}/"
    if addressing_style == "virtual" and _DNS_LABEL.fullmatch(bucket) and "--" not in bucket:
        try:
            ipaddress.ip_address(parts.hostname)
            return None  # no virtual host on an IP address
        except ValueError:
            return f"http://{bucket}.{parts.netloc}{path}"
    return None


def _profile_is_plain(environ: Mapping[str, str]) -> bool:
    """Does the shared config file (if any) set nothing for the active profile that would
    change the request?"""
    path = os.path.expanduser(environ.get("AWS_CONFIG_FILE", "") or "~/.aws/config")
    if not os.path.exists(path):
        return True
    parser = configparser.RawConfigParser()
    try:
        parser.read(path)
    except (configparser.Error, OSError, UnicodeDecodeError):
        return False
    profile = environ.get("AWS_PROFILE") or environ.get("AWS_DEFAULT_PROFILE") or "default"
    for section in {f"profile {profile}", profile if profile == "default" else ""} - {""}:
        if parser.has_section(section) and set(parser.options(section)) - KNOWN_PROFILE_KEYS:
            return False
    return True


def why_not(environ: Mapping[str, str]) -> str | None:
    """Why the environment rules the early lean path out (None: it does not)."""
    if any(environ.get(v) or environ.get(v.upper()) for v in _PROXY_ENV):
        return "an HTTP proxy is set in the environment"
    unknown = sorted(k for k in environ if k.startswith("AWS_") and k not in KNOWN_ENV)
    if unknown:
        return f"{unknown[0]} is set"
    if not _profile_is_plain(environ):
        return "the shared config file's profile sets more than region and keys"
    return None
