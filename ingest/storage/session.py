"""The aiohttp session of the GCS and Azure stores: one pool, one HTTP request per call."""

from __future__ import annotations

import aiohttp


def single_attempt_session(limit: int, timeout_s: float) -> aiohttp.ClientSession:
    """A pooled session (``limit`` connections) that never re-sends a request on its own.

    aiohttp silently re-sends an idempotent request (PUT, GET, HEAD, DELETE) once when a kept
    connection is reset under it; the pipeline owns retries (exactly ``upload_retries + 1``
    attempts), so that is turned off (``_retry_connection``, as aiohttp's own test client and
    ``s3put.SingleAttemptHTTPSession`` do).
    """
    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=max(1, limit)),
        timeout=aiohttp.ClientTimeout(total=None, sock_connect=timeout_s, sock_read=timeout_s),
        auto_decompress=False,
    )
    session._retry_connection = False
    return session
