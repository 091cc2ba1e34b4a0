"""The GCS and Azure stores' errors feed the one retry predicate (errors.is_transient): 408,
429, 5xx, timeouts and resets are transient; 401/403/404 and the rest permanent; and the GCS
store signs V4 URLs only when its credentials hold a private key."""

from __future__ import annotations

import io
import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ServiceRequestError,
    ServiceResponseError,
)

from ingest.errors import PermanentStorageError, is_transient
from ingest.storage import ObjectNotFoundError, gcs
from ingest.storage import azure as az

TRANSIENT = (408, 429, 500, 502, 503, 504)
PERMANENT = (400, 401, 403, 404, 409, 412)


def _gcs_status(status: int) -> aiohttp.ClientResponseError:
    return aiohttp.ClientResponseError(None, (), status=status, message="x")  # type: ignore[arg-type]


def _azure_status(status: int, code: str = "X") -> HttpResponseError:
    exc = HttpResponseError(message="x")
    exc.status_code = status
    exc.error_code = code
    return exc


@pytest.mark.parametrize("status", TRANSIENT + PERMANENT)
def test_http_statuses(status: int) -> None:
    for translated in (
        gcs.translate_error(_gcs_status(status), "upload", "gs://b/k"),
        az.translate_error(_azure_status(status), "Put Blob", "az://c/k"),
    ):
        assert is_transient(translated) == (status in TRANSIENT), translated
        assert str(status) in str(translated)
        assert isinstance(translated, ObjectNotFoundError) == (status == 404)


@pytest.mark.parametrize(
    "exc",
    [
        aiohttp.ServerDisconnectedError(),
        aiohttp.ClientOSError(104, "Connection reset by peer"),
        TimeoutError(),
        ConnectionResetError(104, "reset"),
    ],
)
def test_gcs_network_errors_are_transient(exc: Exception) -> None:
    assert is_transient(gcs.translate_error(exc, "upload", "gs://b/k"))


@pytest.mark.parametrize(
    "exc", [ServiceRequestError("refused"), ServiceResponseError("reset"), TimeoutError()]
)
def test_azure_network_errors_are_transient(exc: Exception) -> None:
    assert is_transient(az.translate_error(exc, "Put Blob", "az://c/k"))


@pytest.mark.parametrize(
    "exc",
    [
        ClientAuthenticationError("no credential found"),  # no answer at all, still permanent
        KeyError("Location"),
        ValueError("bad"),
        FileNotFoundError(2, "No such file or directory"),
    ],
)
def test_everything_else_is_permanent(exc: Exception) -> None:
    for translated in (
        gcs.translate_error(exc, "upload", "gs://b/k"),
        az.translate_error(exc, "Put Blob", "az://c/k"),
    ):
        assert isinstance(translated, PermanentStorageError) and not is_transient(translated)


def test_azure_error_code_is_named() -> None:
    translated = az.translate_error(
        _azure_status(403, "AuthorizationFailure"), "Put Blob", "az://c/k"
    )
    assert "HTTP 403 AuthorizationFailure" in str(translated)
    assert getattr(translated, "code", None) == "AuthorizationFailure"


async def test_gcs_signs_v4_urls_only_with_a_private_key(monkeypatch: pytest.MonkeyPatch) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from gcloud.aio.auth import Token

    monkeypatch.delenv("STORAGE_EMULATOR_HOST", raising=False)
    pem = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )
    account: dict[str, Any] = {
        "type": "service_account",
        "client_email": "ingest@project.iam.gserviceaccount.com",
        "private_key": pem,
        "token_uri": "https://oauth2.googleapis.com/token",
    }
    store = await gcs.GCSStorage("bucket", "frames").open()
    try:
        store.client.token = Token(service_file=io.StringIO(json.dumps(account)))
        url = await store.signed_url("cam/a.png", 300)
        assert url is not None
        parts = urlsplit(url)
        assert parts.path == "/bucket/frames/cam/a.png"
        query = parse_qs(parts.query)
        assert query["X-Goog-Algorithm"] == ["GOOG4-RSA-SHA256"]
        assert query["X-Goog-Expires"] == ["300"] and query["X-Goog-Signature"]
        store.client.token = Token(
            service_file=io.StringIO(json.dumps({"type": "authorized_user"}))
        )
        assert await store.signed_url("cam/a.png", 300) is None  # cannot sign: streamed
    finally:
        await store.close()
