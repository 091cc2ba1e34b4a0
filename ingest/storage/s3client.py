"""The aiobotocore S3 client of an ``S3Storage``: its config and its creation.

Apart from ``s3.py`` so that aioboto3, aiobotocore and aiohttp (~0.2 s of imports, then
~0.1 s to build a client: botocore's service model and endpoint rules) are imported only
when a client is created: a store whose uploads all take the lean path from the start
(``s3early``) creates one only for its first non-lean operation, if any.
"""

from __future__ import annotations

import contextlib
from typing import Any

from aiobotocore.config import AioConfig
from aiobotocore.httpsession import AIOHTTPSession


class SingleAttemptHTTPSession(AIOHTTPSession):
    """aiobotocore's HTTP session without aiohttp's hidden retry.

    aiohttp's ClientSession silently re-sends an idempotent request (PUT, GET, HEAD, DELETE)
    once when the connection is reset or closed under it; with botocore's retries off, that
    would still give some attempts two HTTP requests. The pipeline owns retries, so turn it
    off (``_retry_connection`` is what aiohttp's own test client turns off). The lean PUT
    path sends on this same session.
    """

    async def _get_session(self, proxy_url: Any) -> Any:
        session = await super()._get_session(proxy_url)
        if getattr(session, "_retry_connection", False):
            session._retry_connection = False
        return session


def client_config(
    region: str, max_pool_connections: int, timeout_s: float, addressing_style: str | None
) -> AioConfig:
    return AioConfig(
        region_name=region,
        max_pool_connections=max_pool_connections,
        connect_timeout=timeout_s,
        read_timeout=timeout_s,
        # one HTTP request per call: the pipeline owns retries (see DESIGN "Retries")
        retries={"total_max_attempts": 1, "mode": "standard"},
        s3={"addressing_style": addressing_style} if addressing_style else None,
        # the flexible-checksum defaults of botocore >= 1.36 break many S3-compatible
        # stores; only send checksums where the API requires them
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
        http_session_cls=SingleAttemptHTTPSession,
    )


def new_session() -> Any:
    import aioboto3

    return aioboto3.Session()


async def open_client(
    stack: contextlib.AsyncExitStack, session: Any, endpoint_url: str | None, config: AioConfig
) -> Any:
    """An S3 client of ``session`` entered on ``stack`` (closed with it)."""
    return await stack.enter_async_context(
        session.client("s3", endpoint_url=endpoint_url, config=config)
    )
