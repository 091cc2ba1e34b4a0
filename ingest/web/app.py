"""``make_app(settings, token)``: the aiohttp application (REST API, media, pages, static).

The application object (``service.Ingest``: the catalog, the store) is opened and closed in
``cleanup_ctx`` and kept under one typed ``web.AppKey`` (``APP``); every handler calls use cases
on it (and on ``browse``), nothing below it.

Security:
- mutations (anything but GET/HEAD/OPTIONS) need ``Authorization: Bearer <token>`` when a
  token is set; with no token (only allowed on loopback, see ``server.py``) every request must
  name a loopback Host, which defeats DNS rebinding from a web page;
- pages are autoescaped Jinja2 templates, data for scripts travels as JSON in
  ``<script type="application/json">`` (``tojson``), and scripts only use ``textContent``;
- a strict Content-Security-Policy: scripts and styles from ``/static`` only, no inline code.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import jinja2
from aiohttp import web

from .. import runtime
from ..config import Settings
from ..errors import IngestError
from ..httpauth import bearer_ok
from ..service import Ingest
from . import annotations_rest, media, pages, rest, versions_rest
from .common import (
    ACCESS,
    APP,
    SETTINGS,
    STATIC_DIR,
    TEMPLATES,
    TEMPLATES_DIR,
    Access,
    ApiError,
    error_body,
    ingest_error_body,
    is_loopback_host,
    json_response,
    render,
    seg,
    status_of,
)

log = logging.getLogger("ingest.web")

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data: blob: http: https:; media-src 'self' http: https:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
    "form-action 'self'"
)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _is_api(request: web.Request) -> bool:
    return request.path.startswith(("/api/", "/media/")) or request.path == "/api"


def _error(
    request: web.Request,
    status: int,
    type_: str,
    message: str,
    *,
    field: str | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    if _is_api(request):
        return json_response(error_body(type_, message, field), status=status, headers=headers)
    response = render(
        request, "error.html", status=status, status_code=status, title=type_, message=message
    )
    response.headers.update(headers or {})
    return response


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Errors as ``{"error": {"type", "message"}}`` under /api and /media, pages elsewhere."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        headers = {k: v for k, v in exc.headers.items() if k.lower() in ("allow",)}
        message = (
            exc.text if exc.text and not exc.text.startswith(str(exc.status)) else (exc.reason)
        )
        return _error(request, exc.status, exc.reason.replace(" ", ""), message, headers=headers)
    except ApiError as exc:
        return _error(request, exc.status, exc.type, exc.message, headers=exc.headers)
    except IngestError as exc:
        if _is_api(request):  # the whole body: a query error adds its column
            return json_response(ingest_error_body(exc), status=status_of(exc))
        body = ingest_error_body(exc)["error"]
        return _error(
            request, status_of(exc), body["type"], body["message"], field=body.get("field")
        )
    except Exception:
        log.exception("unhandled error in %s %s", request.method, request.path)
        return _error(request, 500, "InternalError", "internal server error (see the server log)")


@web.middleware
async def access_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    access = request.app[ACCESS]
    if access.token is None:
        if not is_loopback_host(request.host):
            raise ApiError(
                403,
                "Forbidden",
                "this server has no API token and only answers requests for a loopback host",
            )
    elif request.method not in SAFE_METHODS:
        if not bearer_ok(request.headers.get("Authorization", ""), access.token):
            raise ApiError(
                401,
                "Unauthorized",
                "this request changes data: send 'Authorization: Bearer <INGEST_API_TOKEN>'",
                headers={"WWW-Authenticate": 'Bearer realm="frame-ingest"'},
            )
    return await handler(request)


async def _security_headers(request: web.Request, response: web.StreamResponse) -> None:
    headers = response.headers
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "no-referrer")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Content-Security-Policy", PAGE_CSP)


async def _resources(app: web.Application) -> AsyncIterator[None]:
    async with Ingest(app[SETTINGS]) as ingest_app:
        await ingest_app.store()  # a store that cannot be opened fails the start, not a request
        app[APP] = ingest_app
        yield


def _templates(app: web.Application) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )

    def static(filename: str) -> str:
        return str(app.router["static"].url_for(filename=filename))

    env.globals["static"] = static
    env.filters["seg"] = seg
    env.filters["ts"] = pages.format_timestamp
    env.filters["datetime"] = _datetime
    return env


def _datetime(value: Any) -> str:
    if not isinstance(value, int | float):
        return "—"
    return datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%d %H:%M UTC")


def make_app(settings: Settings | None = None, token: str | None = None) -> web.Application:
    """The web app over the catalog and the store of ``settings`` (the library's when None),
    through its own application object, opened when the app starts.

    ``token``: the bearer token mutations need (``INGEST_API_TOKEN``); None or "" serves
    loopback clients only, without authentication.
    """
    app = web.Application(middlewares=[error_middleware, access_middleware])
    app[SETTINGS] = settings or runtime.get_settings()
    app[ACCESS] = Access(token or None)
    app.router.add_routes(rest.routes)
    app.router.add_routes(annotations_rest.routes)
    app.router.add_routes(versions_rest.routes)
    app.router.add_routes(media.routes)
    app.router.add_routes(pages.routes)
    app.router.add_static("/static/", STATIC_DIR, name="static", append_version=True)
    app[TEMPLATES] = _templates(app)
    app.cleanup_ctx.append(_resources)
    app.on_response_prepare.append(_security_headers)
    return app
