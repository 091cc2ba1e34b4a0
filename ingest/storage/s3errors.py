"""S3 errors: botocore's exceptions classified (transient or permanent) and translated once
into StorageError, whose ``transient`` flag ``errors.is_transient`` reads."""

from __future__ import annotations

import asyncio
import sys
from http import HTTPStatus
from typing import Any, TypeGuard
from xml.etree import ElementTree

import botocore.exceptions as bexc

from ..errors import StorageError
from .base import (
    TRANSIENT_HTTP_STATUSES,
    ObjectNotFoundError,
    os_error_is_transient,
    storage_error,
    translate_os_error,
)

#: HTTP statuses worth a retry
TRANSIENT_STATUSES = TRANSIENT_HTTP_STATUSES
#: S3 / AWS error codes worth a retry, whatever the status says (RequestTimeout is a 400)
TRANSIENT_CODES = frozenset(
    {
        "SlowDown",
        "RequestTimeout",
        "RequestTimeoutException",
        "InternalError",
        "ServiceUnavailable",
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottled",
        "RequestThrottledException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "BandwidthLimitExceeded",
        "PriorRequestNotComplete",
    }
)
NOT_FOUND_CODES = frozenset({"404", "NoSuchKey", "NotFound"})

#: network-level failures: connection refused/reset/closed, timeouts, truncated bodies
_TRANSIENT_NETWORK_ERRORS: tuple[type[BaseException], ...] = (
    bexc.EndpointConnectionError,
    bexc.ConnectionClosedError,
    bexc.ReadTimeoutError,
    bexc.ConnectTimeoutError,
    bexc.IncompleteReadError,
    bexc.ResponseStreamingError,
    bexc.HTTPClientError,  # aiobotocore wraps any other HTTP-layer exception in this
    asyncio.TimeoutError,
    ConnectionError,
)


def _network_errors() -> tuple[type[BaseException], ...]:
    """The network failures above, and aiohttp's once it is imported (a store on the lean
    wire may never import it: then no aiohttp error can be raised either)."""
    aiohttp = sys.modules.get("aiohttp")
    if aiohttp is None:
        return _TRANSIENT_NETWORK_ERRORS
    return (*_TRANSIENT_NETWORK_ERRORS, aiohttp.ClientError)


def _client_error_parts(exc: bexc.ClientError) -> tuple[str, int | None, str]:
    response: dict[str, Any] = exc.response or {}
    error = response.get("Error") or {}
    status = (response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
    code = str(error.get("Code") or status or "Unknown")
    return code, status, str(error.get("Message") or "")


def _is_local_os_error(exc: BaseException) -> TypeGuard[OSError]:
    # botocore's timeout classes also derive from OSError (through requests/urllib3)
    return isinstance(exc, OSError) and not isinstance(
        exc, (*_network_errors(), bexc.BotoCoreError)
    )


def botocore_is_transient(exc: BaseException) -> bool:
    """Is this botocore (or already translated) error worth a retry? Feeds translate_error."""
    if isinstance(exc, StorageError):
        return exc.transient
    if isinstance(exc, bexc.ClientError):
        code, status, _ = _client_error_parts(exc)
        return code in TRANSIENT_CODES or (status in TRANSIENT_STATUSES)
    if isinstance(exc, bexc.SSLError):  # certificate problems do not fix themselves
        return False
    if isinstance(exc, _network_errors()):
        return True
    if _is_local_os_error(exc):
        return os_error_is_transient(exc)
    # everything else: ParamValidationError, NoCredentialsError, local file errors...
    return False


def translate_error(exc: BaseException, op: str, target: str) -> StorageError:
    """``exc`` raised by S3 operation ``op`` on ``target`` (a URI) -> a StorageError.

    The message names the operation, the target and the S3 error code (or the class of the
    network error); the result carries ``cause_name`` and ``code``; raise it ``from exc``.
    """
    if isinstance(exc, StorageError):
        return exc
    if isinstance(exc, bexc.ClientError):
        code, status, message = _client_error_parts(exc)
        text = f"S3 {op} {target} failed: {code}"
        if status is not None and str(status) != code:
            text += f" (HTTP {status})"
        if message:
            text += f": {message}"
        cls = ObjectNotFoundError if code in NOT_FOUND_CODES else None
        return storage_error(botocore_is_transient(exc), text, cause=exc, code=code, cls=cls)
    if _is_local_os_error(exc):
        return translate_os_error(exc, f"S3 {op} {target}")
    detail = str(exc) or repr(exc)
    text = f"S3 {op} {target} failed: {type(exc).__name__}: {detail}"
    return storage_error(botocore_is_transient(exc), text, cause=exc, code=type(exc).__name__)


def _is_not_found(exc: BaseException) -> bool:
    if not isinstance(exc, bexc.ClientError):
        return False
    code, status, _ = _client_error_parts(exc)
    return code in NOT_FOUND_CODES or status == 404


def _error_body_parts(body: bytes) -> tuple[str, str]:
    """(Code, Message) of an S3 XML error document; empty strings when it is not one."""
    if not body.strip():
        return "", ""
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError:
        return "", ""
    error = root if root.tag == "Error" else root.find("Error")
    if error is None:
        return "", ""
    return (error.findtext("Code") or "").strip(), (error.findtext("Message") or "").strip()


def _reason(status: int) -> str:
    """The status's reason phrase (``http.client.responses``, without importing it: 15 ms)."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def client_error_from_response(
    op: str, status: int, headers: dict[str, str], body: bytes, exceptions: Any = None
) -> bexc.ClientError:
    """A non-2xx answer to a request sent outside botocore (the lean PUT path) -> the
    ``ClientError`` botocore would have raised: the S3 XML body's Code and Message, else the
    status and its reason (as botocore does for an empty body); the modeled subclass (e.g.
    ``NoSuchBucket``) when ``exceptions`` (a client's ``.exceptions``) knows the code."""
    code, message = _error_body_parts(body)
    if not code:
        code, message = str(status), message or _reason(status)
    response: dict[str, Any] = {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {
            "HTTPStatusCode": status,
            "HTTPHeaders": headers,
            "RequestId": headers.get("x-amz-request-id", ""),
        },
    }
    cls = exceptions.from_code(code) if exceptions is not None else bexc.ClientError
    error: bexc.ClientError = cls(response, op)
    return error
