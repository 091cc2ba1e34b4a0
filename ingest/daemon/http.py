"""The daemon's HTTP side: /healthz, /readyz, /metrics (Prometheus) and POST /jobs."""

from __future__ import annotations

import hmac
import re

from aiohttp import web

from ..errors import IngestError
from .inbox import PATTERNS
from .worker import Worker

WORKER = web.AppKey("worker", Worker)
TOKEN = web.AppKey("token", str)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$")


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok", "worker": request.app[WORKER].id})


async def readyz(request: web.Request) -> web.Response:
    """Ready when the catalog answers and the storage can be reached."""
    from ..commands.imports import check_storage

    worker = request.app[WORKER]
    checks: dict[str, str] = {}
    try:
        await worker.catalog.db.fetchone("SELECT 1")
        checks["catalog"] = "ok"
    except IngestError as exc:
        checks["catalog"] = str(exc)
    try:
        await check_storage(worker.settings)
        checks["storage"] = "ok"
    except IngestError as exc:
        checks["storage"] = str(exc)
    ready = all(v == "ok" for v in checks.values()) and not worker.stopping.is_set()
    return web.json_response({"ready": ready, **checks}, status=200 if ready else 503)


async def metrics(request: web.Request) -> web.Response:
    worker = request.app[WORKER]
    await worker.job_counts()
    return web.Response(
        body=worker.metrics.render(),
        content_type="text/plain",
        charset="utf-8",
        headers={"X-Prometheus-Format": "0.0.4"},
    )


async def submit_job(request: web.Request) -> web.Response:
    """POST /jobs?name=batch-7.jsonl with the manifest as the body: drops it in the inbox."""
    token = request.app[TOKEN]
    if token:
        given = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if not hmac.compare_digest(given.encode(), token.encode()):
            raise web.HTTPUnauthorized(
                text='{"error": "bearer token required"}', content_type="application/json"
            )
    name = request.query.get("name", "")
    if not _NAME.match(name) or not name.endswith(PATTERNS):
        raise web.HTTPBadRequest(
            text='{"error": "name must be a plain file name ending in '
            + ", ".join(PATTERNS)
            + '"}',
            content_type="application/json",
        )
    data = await request.read()
    if not data:
        raise web.HTTPBadRequest(
            text='{"error": "empty manifest"}', content_type="application/json"
        )
    worker = request.app[WORKER]
    await worker.inbox.submit(name, data)
    await worker.discover()
    worker._wake.set()
    return web.json_response({"accepted": name}, status=202)


def make_app(worker: Worker, token: str = "") -> web.Application:
    app = web.Application(client_max_size=1024**3)
    app[WORKER] = worker
    app[TOKEN] = token
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    app.router.add_post("/jobs", submit_job)
    return app
