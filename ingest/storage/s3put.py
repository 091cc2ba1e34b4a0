"""The lean PutObject path: one SigV4-signed aiohttp request per object, no botocore pipeline.

A PutObject through aiobotocore costs about 1.3 ms of client CPU (parameter validation,
serialization, endpoint rules, event hooks, response parsing); the HTTP request itself is a
small part of it. ``LeanPut`` keeps what matters and drops the rest:

- **Resolved once, by botocore** (or, for an ``http://`` endpoint with credentials in the
  environment, read the way botocore would, without a client: ``s3early``, ``LeanPut.early``;
  uploads then start before aioboto3 is even imported). At ``open()`` the client's own
  endpoint rules are evaluated for a PutObject of the bucket (what ``put_object`` does on
  every call): they decide the base URL (virtual-hosted or path style, as the client's
  config resolved them; AWS regional hosts, custom endpoints, dotted bucket names) and the
  signing scope (region, service).
  ``object_url`` appends a key to that base.
- **Signed as botocore signs.** Each PUT gets the SigV4 headers ``S3SigV4Auth`` would make
  (``sigv4.PutSigner``: the same bytes, a quarter of the CPU; why and how it is checked there),
  with frozen credentials taken per request from the client's own credentials object
  (``get_frozen_credentials()``: refreshable credentials refresh themselves when they near
  expiry, so rotated keys are picked up exactly as botocore would).
- **Integrity: Content-MD5.** The server recomputes it and refuses a mismatch (BadDigest).
  AWS, MinIO, Ceph and ``rclone serve s3`` verify it; rclone ignores ``x-amz-checksum-*`` and
  moto verifies neither, so MD5 is the one checksum every server we run checks. The body is
  sent as ``UNSIGNED-PAYLOAD``: the MD5 header is itself signed, so a body that does not
  match the signed digest is refused, and no second hash (SHA-256) is computed per object.
  A client config with ``s3={"payload_signing_enabled": True}`` gets a signed payload.
  MD5 is not the cheapest hash (64 KiB: ~0.25 ms, SHA-256 with SHA-NI ~0.04 ms, CRC32
  ~0.02 ms), but ``x-amz-checksum-*`` and the payload SHA-256 are not checked by rclone.
- **Sent on a pool of keep-alive connections**: up to ``httpput.WIRE_MAX`` bytes to an
  ``http://`` endpoint on ``httpput.PutPool`` (hand-written HTTP/1.1: ~0.2 ms less client
  CPU per PUT than aiohttp; why there), else on the client's own aiohttp session
  (aiobotocore's ``ClientSession``, aiohttp's silent re-send turned off by
  ``SingleAttemptHTTPSession``); both sized to ``max_pool_connections``, with the client's
  connect/read timeouts, never following redirects: exactly one HTTP request per call.
- **Errors look like botocore's**: network failures become the same botocore exceptions
  aiobotocore raises, a non-2xx answer a ``ClientError`` (the modeled class when there is one)
  built from the S3 XML error body; ``s3errors.translate_error`` classifies both, once.

``resolve`` returns None when the lean path cannot reproduce what botocore would send (no
credentials, a signature version other than SigV4, a proxy, S3 Express directory buckets):
the store then uses ``put_object``.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import inspect
import logging
import os
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote, urlsplit

import botocore.exceptions as bexc

from . import s3early
from .httpput import WIRE_MAX, PutPool, split_http_url
from .s3errors import client_error_from_response
from .sigv4 import PutSigner

log = logging.getLogger(__name__)

#: the key whose PutObject endpoint is resolved at open (any key resolves the same)
PROBE_KEY = "ingest-lean-put-probe"
#: at most this much of an error body is read (S3 error documents are a few hundred bytes)
ERROR_BODY_MAX = 64 * 1024
_DEFAULT_PORTS = {"http": 80, "https": 443}


def content_md5(data: bytes) -> str:
    """The Content-MD5 header value of ``data`` (base64 of the binary digest)."""
    return base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode("ascii")


def object_url(base_url: str, full_key: str) -> str:
    """``base_url`` (ends with '/') + the key, percent-encoded as botocore encodes keys."""
    return base_url + quote(full_key, safe="/~")


def origin_length(base_url: str) -> int:
    """How long ``scheme://host[:port]`` is in ``base_url`` and every URL built on it: what
    follows is the request target (the path: keys are percent-encoded, no query)."""
    return len(base_url) - len(urlsplit(base_url).path)


def _pool(
    target: Target, limit: int, connect_timeout: float, read_timeout: float
) -> PutPool | None:
    """The plain-HTTP wire to ``target``'s host (None for https)."""
    plain = split_http_url(target.base_url)
    if plain is None:
        return None
    return PutPool(
        plain[0],
        plain[1],
        limit=limit,
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        body_max=ERROR_BODY_MAX,
    )


def host_header(url: str) -> str:
    """The Host header (and SigV4 ``host``) for ``url``: no default port, IPv6 bracketed."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    if parts.port is not None and parts.port != _DEFAULT_PORTS.get(parts.scheme):
        host = f"{host}:{parts.port}"
    return host


@dataclass(frozen=True)
class Target:
    """Where and how a bucket's PUTs go, as botocore resolved them."""

    base_url: str  # scheme://host[:port]/[bucket/]  (path style has the bucket in the path)
    region: str
    service: str

    @classmethod
    def from_endpoint(cls, endpoint_url: str, signing: dict[str, Any]) -> Target:
        """From botocore's endpoint resolution of a PutObject: the URL the key is appended
        to (``https://bucket.s3.eu-west-1.amazonaws.com``, ``http://127.0.0.1:9000/bucket``)
        and the signing context (region, signing name)."""
        return cls(endpoint_url.rstrip("/") + "/", signing["region"], signing["signing_name"])


class LeanPut:
    """Signs and sends PutObject requests for one bucket of one open aiobotocore client."""

    def __init__(
        self,
        target: Target,
        credentials: Any,
        http: Any = None,
        *,
        open_http: Callable[[], Awaitable[Any]] | None = None,
        exceptions: Any = None,
        payload_signing: bool = False,
        pool: PutPool | None = None,
    ) -> None:
        """``http``: the aiohttp session for https and big bodies, or ``open_http``, which
        gives it on the first such PUT (the client's session: built on demand)."""
        self.target = target
        self._pool = pool
        self._origin_len = origin_length(target.base_url)
        self.host = host_header(target.base_url)
        self._credentials = credentials
        self._static: Any = None  # static keys, frozen once
        self._http: Any = http
        self._open_http = open_http
        self._exceptions = exceptions
        self._signer = PutSigner(target.region, target.service, payload_signing=payload_signing)

    @classmethod
    async def resolve(cls, client: Any, bucket: str) -> LeanPut | None:
        """The lean path for ``bucket`` on ``client``, or None when it must not be used."""
        config = client.meta.config
        credentials = client._get_credentials()
        reason = None
        if credentials is None:
            reason = "no credentials (anonymous requests)"
        elif (config.signature_version or "s3v4") not in ("s3v4", "v4"):
            reason = f"signature version {config.signature_version!r}"
        elif bucket.endswith("--x-s3"):
            reason = "S3 Express directory bucket (session auth)"
        else:  # botocore's endpoint rules for a PutObject of this bucket, evaluated once
            context: dict[str, Any] = {}
            try:
                endpoint_url, extra_headers, _ = await client._resolve_endpoint_ruleset(
                    client.meta.service_model.operation_model("PutObject"),
                    {"Bucket": bucket, "Key": PROBE_KEY},
                    context,
                )
            except Exception as exc:  # e.g. a bucket name the rules refuse: put_object says
                endpoint_url, extra_headers = "", {}
                reason = f"endpoint resolution failed: {exc!r}"
            http_session = client._endpoint.http_session
            if reason is not None:
                pass
            elif context.get("auth_type", "v4") != "v4" or extra_headers:
                reason = f"auth {context.get('auth_type')!r}, endpoint headers {extra_headers}"
            elif http_session._proxy_config.proxy_url_for(endpoint_url):
                reason = "an HTTP proxy is configured"
            else:
                signing = {"region": client.meta.region_name, "signing_name": "s3"}
                signing.update(context.get("signing") or {})
                target = Target.from_endpoint(endpoint_url, signing)
        if reason is not None:
            log.info("S3 bucket %s: lean PUT path off (%s); using put_object", bucket, reason)
            return None
        return cls(
            target,
            credentials,
            open_http=lambda: http_session._get_session(None),
            exceptions=client.exceptions,
            payload_signing=bool((config.s3 or {}).get("payload_signing_enabled")),
            pool=_pool(target, config.max_pool_connections, config.connect_timeout,
                       config.read_timeout),
        )  # fmt: skip

    @classmethod
    def early(
        cls,
        endpoint_url: str | None,
        bucket: str,
        region: str,
        addressing_style: str | None,
        *,
        limit: int,
        timeout_s: float,
        open_http: Callable[[], Awaitable[Any]],
        environ: Any = None,
    ) -> LeanPut | None:
        """The lean path without a client (``s3early``: what botocore would resolve, read
        from the settings and the environment), or None when that is not plain to read."""
        env = os.environ if environ is None else environ
        base = s3early.base_url(endpoint_url or "", bucket, addressing_style or "path")
        credentials = s3early.env_credentials(env)
        reason = s3early.why_not(env)
        if base is None or credentials is None or reason is not None:
            log.debug("S3 bucket %s: no early lean path (%s)", bucket, reason or "settings")
            return None
        target = Target(base, region, "s3")
        pool = _pool(target, limit, timeout_s, timeout_s)
        return cls(target, credentials, open_http=open_http, pool=pool)

    @property
    def wired(self) -> bool:
        """Does this path send on the plain-HTTP wire (``http://``)?"""
        return self._pool is not None

    async def head(self, full_key: str) -> dict[str, Any] | None:
        """One HeadObject on the plain-HTTP wire (``wired``), answered in ``head_object``'s
        shape (what ``stat`` and ``content_type`` read), None for a missing object; errors
        raised as botocore's."""
        assert self._pool is not None
        url = self.url(full_key)
        credentials = await self.frozen_credentials()
        path = url[self._origin_len :]
        headers = self._signer.headers(
            credentials, url, self.host, b"", None, None, path=path, method="HEAD"
        )
        status, answer, _ = await self._pool.put(path, headers, b"", url, method="HEAD")
        if status == 404:
            return None
        if not 200 <= status < 300:
            raise client_error_from_response("HeadObject", status, answer, b"", self._exceptions)
        modified = answer.get("last-modified")
        return {
            "ContentLength": int(answer.get("content-length") or 0),
            "LastModified": parsedate_to_datetime(modified) if modified else None,
            "ContentType": answer.get("content-type"),
        }

    def close(self) -> None:
        """Close the plain-HTTP connections (the aiohttp session is the client's to close)."""
        if self._pool is not None:
            self._pool.close()

    def url(self, full_key: str) -> str:
        return object_url(self.target.base_url, full_key)

    async def frozen_credentials(self) -> Any:
        """Credentials for one request: refreshable ones refresh themselves near expiry."""
        if self._static is not None:
            return self._static
        frozen = self._credentials.get_frozen_credentials()
        frozen = await frozen if inspect.isawaitable(frozen) else frozen
        if not hasattr(self._credentials, "refresh_needed"):  # not refreshable: never change
            self._static = frozen
        return frozen

    async def prepare(
        self, full_key: str, data: bytes, content_type: str | None, *, md5: str | None = None
    ) -> tuple[str, dict[str, str]]:
        """The URL and signed headers of a PutObject of ``data`` under ``full_key``."""
        url = self.url(full_key)
        credentials = await self.frozen_credentials()
        md5 = md5 or content_md5(data)
        path = url[self._origin_len :]
        headers = self._signer.headers(
            credentials, url, self.host, data, md5, content_type, path=path
        )
        return url, headers

    async def put(self, full_key: str, data: bytes, content_type: str | None) -> None:
        """One PutObject request. Raises botocore's exceptions, as ``put_object`` would."""
        url, headers = await self.prepare(full_key, data, content_type)
        status, resp_headers, body = await self._send(url, headers, data)
        if not 200 <= status < 300:
            raise client_error_from_response(
                "PutObject", status, resp_headers, body, self._exceptions
            )

    def wrong_region(self, exc: bexc.ClientError) -> bool:
        """Did S3 answer that the bucket lives in another region than the one we signed for?
        (botocore follows such redirects inside the call; the store falls back to it.)"""
        meta = exc.response.get("ResponseMetadata") or {}
        region = (meta.get("HTTPHeaders") or {}).get("x-amz-bucket-region")
        return (
            bool(region)
            and region != self.target.region
            and meta.get("HTTPStatusCode")
            in (
                301,
                307,
                400,
            )
        )

    async def _send(
        self, url: str, headers: dict[str, str], data: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        """Send one request; lower-layer errors mapped as aiobotocore's ``send`` maps them."""
        if self._pool is not None and len(data) <= WIRE_MAX:
            return await self._pool.put(url[self._origin_len :], headers, data, url)
        import aiohttp  # here only: a store on the plain wire may never need it
        from yarl import URL

        if self._http is None:
            assert self._open_http is not None
            self._http = await self._open_http()
        try:
            async with self._http.put(
                URL(url, encoded=True), data=data, headers=headers, allow_redirects=False
            ) as resp:
                status = resp.status
                if 200 <= status < 300:  # nothing of a success is used: no headers copied
                    return status, {}, await resp.read()
                body = await resp.content.read(ERROR_BODY_MAX)
                return status, {k.lower(): v for k, v in resp.headers.items()}, body
        except aiohttp.ClientSSLError as e:
            raise bexc.SSLError(endpoint_url=url, error=e) from e
        except (
            aiohttp.ServerDisconnectedError,
            aiohttp.ClientPayloadError,
            aiohttp.http_exceptions.BadStatusLine,
        ) as e:
            raise bexc.ConnectionClosedError(endpoint_url=url, error=e, request=None) from e
        except aiohttp.ServerTimeoutError as e:
            if str(e).lower().startswith("connect"):
                raise bexc.ConnectTimeoutError(endpoint_url=url, error=e) from e
            raise bexc.ReadTimeoutError(endpoint_url=url, error=e) from e
        except (aiohttp.ClientConnectorError, aiohttp.ClientConnectionError, socket.gaierror) as e:
            raise bexc.EndpointConnectionError(endpoint_url=url, error=e) from e
        except TimeoutError as e:
            raise bexc.ReadTimeoutError(endpoint_url=url, error=e) from e
        except asyncio.CancelledError:
            raise
        except Exception as e:
            raise bexc.HTTPClientError(error=e) from e
