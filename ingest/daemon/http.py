"""The daemon's HTTP side: /healthz, /readyz, /metrics (Prometheus) and POST /jobs.

``POST /jobs?name=batch.jsonl`` (the body is the manifest) is refused unless:
- the ``Host`` is a loopback name, an IP address, the ``--http-host`` or one of
  ``daemon_allowed_hosts`` (403; a DNS-rebinding page has a name of its own);
- it carries no cross-site marks: an ``Origin`` other than the daemon's own, a
  ``Sec-Fetch-Site`` other than ``same-origin``/``none`` (403);
- its Content-Type is not one a browser sends cross-site without a preflight (``text/plain``,
  ``application/x-www-form-urlencoded``, ``multipart/form-data``: 403);
- with ``INGEST_API_TOKEN`` set, ``Authorization: Bearer <token>`` (401);
- no job of that name is queued or running and no manifest of that name waits in the inbox
  (409: the body is not taken; post it again when the job has ended, or under another name);
- the body is at most ``daemon_max_body_mb`` MiB (413; read streaming, never whole).
"""

from __future__ import annotations

import re
from typing import NoReturn

from aiohttp import web
from yarl import URL

from ..addresses import ip_literal
from ..httpauth import bearer_ok
from .inbox import PATTERNS, BodyTooLarge, NameTaken
from .worker import Worker

WORKER = web.AppKey("worker", Worker)
TOKEN = web.AppKey("token", str)
HOSTS = web.AppKey("hosts", frozenset)
MAX_BODY = web.AppKey("max_body", int)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$")
_LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1"})
_FORM_TYPES = frozenset({"text/plain", "application/x-www-form-urlencoded", "multipart/form-data"})


def allowed_hosts(bind_host: str, extra: str = "") -> frozenset[str]:
    """Host names POST /jobs accepts besides IP addresses: loopback, the bind host, ``extra``
    (comma-separated)."""
    names = set(_LOOPBACK)
    if bind_host and bind_host not in ("0.0.0.0", "::"):
        names.add(_normal(bind_host))
    names.update(_normal(h) for h in extra.split(",") if h.strip())
    return frozenset(names)


def _normal(host: str) -> str:
    return host.strip().strip("[]").rstrip(".").lower()


def _refuse(status: type[web.HTTPException], message: str) -> NoReturn:
    import orjson

    raise status(text=orjson.dumps({"error": message}).decode(), content_type="application/json")


def _host_ok(host: str | None, allowed: frozenset[str]) -> bool:
    if not host:
        return False
    name = _normal(host)
    return name in allowed or ip_literal(name) is not None


def check_request(request: web.Request) -> None:
    """Host, Origin, Content-Type and token checks of a mutating route (see the docstring)."""
    try:
        host = URL(f"http://{request.headers.get('Host', '')}")
    except ValueError:
        _refuse(web.HTTPForbidden, "bad Host header")
    if not _host_ok(host.host, request.app[HOSTS]):
        _refuse(web.HTTPForbidden, f"Host {host.host!r} is not served here (daemon_allowed_hosts)")
    origin = request.headers.get("Origin")
    if origin is not None:
        try:
            seen = URL(origin)
            same = seen.host is not None and (_normal(seen.host), seen.port) == (
                _normal(host.host or ""),
                host.port,
            )
        except ValueError:
            same = False
        if not same:
            _refuse(web.HTTPForbidden, "cross-site request refused (Origin)")
    if request.headers.get("Sec-Fetch-Site", "none") not in ("none", "same-origin"):
        _refuse(web.HTTPForbidden, "cross-site request refused (Sec-Fetch-Site)")
    if request.content_type in _FORM_TYPES and "Content-Type" in request.headers:
        _refuse(
            web.HTTPForbidden,
            f"Content-Type {request.content_type} refused (a browser form can send it from "
            "any site); send application/x-ndjson, text/csv or application/octet-stream",
        )
    token = request.app[TOKEN]
    if token:
        if not bearer_ok(request.headers.get("Authorization", ""), token):
            _refuse(web.HTTPUnauthorized, "Authorization: Bearer <INGEST_API_TOKEN> required")


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok", "worker": request.app[WORKER].id})


async def readyz(request: web.Request) -> web.Response:
    """Ready when the catalog answers, the storage can be reached and no job is stuck."""
    worker = request.app[WORKER]
    checks = await worker.app.readiness()  # the app's own store: no client per probe
    stuck = len(worker.abandoned)
    checks["jobs"] = f"{stuck} job(s) did not stop after their timeout" if stuck else "ok"
    ready = all(v == "ok" for v in checks.values()) and not worker.stopping.is_set()
    return web.json_response({"ready": ready, **checks}, status=200 if ready else 503)


async def metrics(request: web.Request) -> web.Response:
    worker = request.app[WORKER]
    await worker.job_counts()
    records = await worker.app.chunk_table().list_imports()
    worker.metrics.set_chunks({r.manifest: r.counts for r in records if r.state == "running"})
    return web.Response(
        body=worker.metrics.render(),
        content_type="text/plain",
        charset="utf-8",
        headers={"X-Prometheus-Format": "0.0.4"},
    )


async def submit_job(request: web.Request) -> web.Response:
    """POST /jobs?name=batch-7.jsonl with the manifest as the body: drops it in the inbox."""
    check_request(request)
    name = request.query.get("name", "")
    if not _NAME.match(name) or not name.endswith(PATTERNS):
        _refuse(
            web.HTTPBadRequest,
            "name must be a plain file name ending in " + ", ".join(PATTERNS),
        )
    limit = request.app[MAX_BODY]
    if request.content_length is not None and request.content_length > limit:
        _too_large(limit)
    worker = request.app[WORKER]
    busy = await worker.jobs.active_for(name)
    if busy is not None:
        _busy(name, busy)
    try:
        await worker.inbox.submit(name, request.content.iter_chunked(1 << 16), limit)
    except NameTaken:
        _busy(name, None)
    except BodyTooLarge:
        _too_large(limit)
    except ValueError as exc:
        _refuse(web.HTTPBadRequest, str(exc))
    await worker.discover()
    job = await worker.jobs.active_for(name)
    return web.json_response({"accepted": name, "job": job}, status=202)


def _busy(name: str, job: str | None) -> NoReturn:
    what = f"job {job} is queued or running" if job else "a manifest of that name is in the inbox"
    _refuse(web.HTTPConflict, f"{name}: {what}; post again when it has ended, or rename")


def _too_large(limit: int) -> NoReturn:
    import orjson

    body = {"error": f"manifest over the limit of {limit} bytes (daemon_max_body_mb)"}
    response = web.HTTPRequestEntityTooLarge(
        max_size=limit, actual_size=0, text=orjson.dumps(body).decode()
    )
    response.content_type = "application/json"
    response.force_close()  # the rest of the body is not read
    raise response


def make_app(
    worker: Worker,
    token: str = "",
    *,
    hosts: frozenset[str] = _LOOPBACK,
    max_body: int = 64 * 1024 * 1024,
) -> web.Application:
    app = web.Application(client_max_size=max_body)
    app[WORKER] = worker
    app[TOKEN] = token
    app[HOSTS] = hosts
    app[MAX_BODY] = max_body
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    app.router.add_post("/jobs", submit_job)
    return app
