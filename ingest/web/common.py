"""What the web app's modules share: typed app keys, JSON and error responses, rendering."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2
import orjson
from aiohttp import web

from ..config import Settings
from ..errors import (
    AlreadyExistsError,
    CatalogError,
    ConfigError,
    IngestError,
    NotFoundError,
    PublishedVersionError,
    StorageError,
    ValidationError,
)
from ..query import QueryError
from ..service import Ingest

HERE = Path(__file__).resolve().parent
TEMPLATES_DIR = HERE / "templates"
STATIC_DIR = HERE / "static"


@dataclass(frozen=True)
class Access:
    """Who may mutate: holders of ``token``; with no token, anyone on a loopback Host."""

    token: str | None


SETTINGS = web.AppKey("settings", Settings)
ACCESS = web.AppKey("access", Access)
TEMPLATES = web.AppKey("templates", jinja2.Environment)
#: the application object every handler calls (opened and closed in ``app._resources``)
APP = web.AppKey("app", Ingest)


class ApiError(Exception):
    """An HTTP error with a JSON body ``{"error": {"type", "message"}}``."""

    def __init__(
        self, status: int, type_: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.type = type_
        self.message = message
        self.headers = headers or {}


def _dumps(obj: Any) -> str:
    return orjson.dumps(obj).decode()


def json_response(
    data: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    response = web.json_response(data, status=status, dumps=_dumps, headers=headers)
    response.headers.setdefault("Cache-Control", "no-cache")
    return response


def status_of(exc: IngestError) -> int:
    if isinstance(exc, ValidationError):
        return 400
    if isinstance(exc, NotFoundError):
        return 404
    if isinstance(exc, PublishedVersionError | AlreadyExistsError):
        return 409
    if isinstance(exc, StorageError):
        return 502
    if isinstance(exc, CatalogError):
        return 503
    if isinstance(exc, ConfigError):
        return 500
    return 500


def error_body(type_: str, message: str, field: str | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"type": type_, "message": message}
    if field:
        error["field"] = field
    return {"error": error}


def ingest_error_body(exc: IngestError) -> dict[str, Any]:
    field = exc.field if isinstance(exc, ValidationError) else None
    body = error_body(type(exc).__name__, str(exc), field)
    if isinstance(exc, QueryError):  # where in the query: 1-based
        body["error"]["column"] = exc.column
    return body


def seg(value: Any) -> str:
    """A URL path segment: everything but unreserved characters percent-encoded."""
    return quote(str(value), safe="")


def is_loopback_host(host: str) -> bool:
    """``localhost``, ``127.x.x.x``, ``::1`` (with or without brackets and port)."""
    host = host.strip().lower()
    if host.startswith("["):
        host = host[1 : host.find("]")] if "]" in host else host[1:]
    elif host.count(":") == 1:
        host = host.split(":", 1)[0]
    if host in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def render(request: web.Request, template: str, status: int = 200, **context: Any) -> web.Response:
    env = request.app[TEMPLATES]
    html = env.get_template(template).render(request=request, **context)
    response = web.Response(text=html, status=status, content_type="text/html")
    response.headers["Cache-Control"] = "no-cache"
    return response
