"""``ingest import --queue``, ``ingest worker`` and ``ingest jobs list|cancel|retry|shell``:
chunked imports run by procrastinate's workers (PostgreSQL) or in-process (SQLite)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

import orjson
from aiohttp import web

from ..catalog.chunks import DONE, PENDING, RUNNING, ImportRecord
from ..chunked import merge_summaries
from ..daemon.metrics import Metrics
from ..daemon.worker import default_worker_id
from ..errors import ConfigError
from ..manifest import Manifest
from ..queue import build_queue, run_in_process
from ..queue.pg import defer_chunks, enqueue_import, worker_options
from ..queue.sweeper import run_worker
from ..service import Ingest
from . import EXIT_FATAL, EXIT_OK, echo
from .httpsite import start_site
from .imports import finish, storage_reachable

POLL_S = 0.5


def _postgres(app: Ingest) -> bool:
    return app.settings.database_url.startswith("postgres")


def _require_postgres(app: Ingest, what: str, instead: str) -> None:
    if not _postgres(app):
        raise ConfigError(
            f"{what} needs a PostgreSQL catalog (INGEST_DATABASE_URL=postgresql://...); "
            f"the catalog is {app.settings.database_url}: {instead}"
        )


@contextlib.asynccontextmanager
async def _queue(app: Ingest, worker: str, **hooks: Any) -> AsyncIterator[Any]:
    queue = build_queue(app, worker, **hooks)
    async with queue.open_async():
        yield queue


def _progress_line(record: ImportRecord, groups: int, started: float) -> str:
    c = record.counts
    rate = groups / max(time.monotonic() - started, 1e-6)
    return (
        f"chunks {c[DONE]}/{record.chunks} done, {c[RUNNING]} running, {c[PENDING]} pending"
        f" | groups {groups} | {rate:,.0f} groups/s"
    )


async def _wait(
    app: Ingest, ident: str, show: bool, runner: asyncio.Task[ImportRecord] | None = None
) -> ImportRecord:
    """Poll the chunk table until the import has ended (run by the workers, or by ``runner``
    in this process), drawing a progress line."""
    table, started = app.chunk_table(), time.monotonic()
    while True:
        record = await table.get_import(ident)
        if runner is not None and runner.done():
            record = runner.result()
        if record is not None and record.state != RUNNING:
            if show:
                sys.stderr.write("\n")
            return record
        if record is not None and show:
            done = [c.summary for c in await table.chunks(ident) if c.summary]
            s = merge_summaries(done, 0)
            groups = s.groups_committed + s.groups_unchanged + s.groups_rejected
            sys.stderr.write("\r\x1b[2K" + _progress_line(record, groups, started))
            sys.stderr.flush()
        if runner is None:
            await asyncio.sleep(POLL_S)
        else:
            await asyncio.wait({runner}, timeout=POLL_S)


async def cmd_import_queued(args: argparse.Namespace, app: Ingest) -> int:
    if len(args.manifests) != 1 or args.manifests[0] == "-":
        raise ConfigError("--queue takes one manifest file (not stdin): its chunks are read "
                          "by byte range, possibly on other machines")  # fmt: skip
    path = os.path.abspath(args.manifests[0])  # noqa: ASYNC240 - no I/O
    manifest = Manifest(path, args.format)
    manifest.close()
    dataset = args.dataset or manifest.header.dataset
    version_name = args.version or manifest.header.version
    version = await app.resolve_version(dataset, version_name, create=args.create)
    await storage_reachable(app)
    ident = await app.new_import_id(path, version.id)
    show = not args.quiet and not args.json and sys.stderr.isatty()
    worker, runner = default_worker_id(), None
    try:
        if _postgres(app):
            await app.register_import(ident, path, version.id, fmt=manifest.format)
            async with _queue(app, worker) as queue:
                await enqueue_import(queue, ident, path, manifest.format, version.id)
            if not args.quiet:
                echo(f"queued import {ident}; waiting for the workers (`ingest worker`)")
            record = await _wait(app, ident, show)
        else:
            await app.plan_import(path, version.id, fmt=manifest.format, known_id=ident)
            runner = asyncio.create_task(run_in_process(app, ident, worker))
            record = await _wait(app, ident, show, runner)
    except asyncio.CancelledError:
        if runner is not None:  # its in-flight groups commit, its chunk stays pending
            runner.cancel()
            await asyncio.wait({runner})
        echo(
            f"interrupted: import {ident} stays queued; the workers go on with it "
            "(`ingest jobs list`, `ingest jobs cancel ID`)"
            if _postgres(app)
            else f"interrupted: re-run the same command to resume import {ident} "
            "from its chunk table"
        )
        raise
    report = await app.import_report(ident)
    if record.state != DONE:
        finish(args, report, version)
        echo(f"import {ident} {record.state}: {record.error or 'cancelled by an operator'}")
        return EXIT_FATAL
    return finish(args, report, version)


def _metrics_app(app: Ingest, metrics: Metrics) -> web.Application:
    async def healthz(_request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    async def render(_request: web.Request) -> web.Response:
        records = await app.chunk_table().list_imports()
        metrics.set_chunks({r.manifest: r.counts for r in records if r.state == RUNNING})
        return web.Response(body=metrics.render(), content_type="text/plain")

    http = web.Application()
    http.router.add_get("/healthz", healthz)
    http.router.add_get("/metrics", render)
    return http


async def cmd_worker(args: argparse.Namespace, app: Ingest) -> int:
    _require_postgres(
        app, "ingest worker", "on SQLite `ingest import --queue` runs the chunks in-process"
    )
    metrics = Metrics()
    metrics.groups_in_flight.set_function(lambda: app.in_flight()[0])
    metrics.uploads_in_flight.set_function(lambda: app.in_flight()[1])
    runner = None
    if args.http_port:
        runner = await start_site(_metrics_app(app, metrics), args.http_host, args.http_port)
    hooks = {"on_chunk": metrics.chunk_ended, "follower": metrics.follower,
             "on_upload": metrics.observe_upload}  # fmt: skip
    try:
        async with _queue(app, args.worker_id or default_worker_id(), **hooks) as queue:
            await run_worker(queue, worker_options(app, args.jobs))
    finally:
        if runner is not None:
            await runner.cleanup()
    return EXIT_OK


async def _shell(app: Ingest) -> int:
    """procrastinate's admin shell (``procrastinate shell``: list_jobs, list_queues,
    list_tasks, cancel, retry, ...) on the catalog's queue; it reads commands from stdin."""
    from procrastinate import shell, utils

    _require_postgres(
        app, "ingest jobs shell", "on SQLite there is no queue (`ingest jobs list` shows imports)"
    )
    async with _queue(app, default_worker_id()) as queue:
        prompt = shell.ProcrastinateShell(job_manager=queue.job_manager)
        await utils.sync_to_async(prompt.cmdloop)
    return EXIT_OK


async def cmd_jobs(args: argparse.Namespace, app: Ingest) -> int:
    if args.action == "shell":
        return await _shell(app)
    table = app.chunk_table()
    if args.action == "list":
        for r in await table.list_imports():
            if args.json:
                row = {"id": r.id, "manifest": r.manifest, "state": r.state, "chunks": r.chunks,
                       "counts": r.counts, "summary": r.summary, "error": r.error}  # fmt: skip
                sys.stdout.write(orjson.dumps(row).decode() + "\n")
            else:
                counts = ", ".join(f"{n} {s}" for s, n in r.counts.items() if n)
                sys.stdout.write(f"{r.id}\t{r.state}\t{r.manifest}\t{counts or 'no chunks'}\n")
        return EXIT_OK
    if not args.job or await table.get_import(args.job) is None:
        raise ConfigError(f"jobs {args.action} needs the ID of a known import (`ingest jobs list`)")
    if args.action == "cancel":
        chunks = await table.cancel(args.job)
        echo(f"cancelled {len(chunks)} chunks of {args.job}; running ones stop between groups")
        return EXIT_OK
    chunks = await table.retry(args.job)
    if _postgres(app):
        async with _queue(app, default_worker_id()) as queue:
            await defer_chunks(queue, args.job, chunks)
        echo(f"queued {len(chunks)} chunks of {args.job} again")
    elif chunks:
        record = await run_in_process(app, args.job, default_worker_id())
        echo(f"ran {len(chunks)} chunks of {args.job} again: {record.state}")
    if not chunks:
        echo(f"{args.job}: no failed or cancelled chunk to retry")
    return EXIT_OK
