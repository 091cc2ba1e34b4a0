"""``ingest daemon``: the long-running form of the pipeline."""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import logging
import os
from typing import Any

from ..daemon.chunks import ChunkedJobs
from ..daemon.http import allowed_hosts, make_app
from ..daemon.inbox import LocalInbox, open_inbox
from ..daemon.metrics import Metrics
from ..daemon.worker import Worker, WorkerOptions, default_worker_id, run_until_signalled
from ..errors import ConfigError
from ..logs import setup_logging
from ..queue import build_queue
from ..queue.pg import worker_options
from ..service import Ingest
from . import EXIT_OK
from .httpsite import start_site

log = logging.getLogger("ingest.daemon")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def _with_chunk_worker(worker: Worker, queue: Any, app: Ingest) -> None:
    """Run the daemon and, beside it, a procrastinate worker taking chunk jobs of the fleet;
    the daemon's first signal stops both (running chunks are handed back)."""
    chunks = asyncio.create_task(queue.run_worker_async(**worker_options(app, 1)))

    async def stop_chunks() -> None:
        await worker.stopping.wait()
        chunks.cancel()

    stopper = asyncio.create_task(stop_chunks())
    try:
        await run_until_signalled(worker)
    finally:
        stopper.cancel()
        chunks.cancel()
        await asyncio.gather(stopper, chunks, return_exceptions=True)


async def cmd_daemon(args: argparse.Namespace, app: Ingest) -> int:
    settings = app.settings
    setup_logging(json=args.log_json, level=logging.DEBUG if args.verbose else logging.INFO)
    token = os.environ.get("INGEST_API_TOKEN", "")
    if args.http_port and not token and not _is_loopback(args.http_host):
        raise ConfigError(
            f"refusing to serve POST /jobs on {args.http_host} without INGEST_API_TOKEN"
        )
    inbox = await open_inbox(
        args.inbox,
        settle_s=settings.inbox_settle_s,
        endpoint_url=settings.s3_endpoint_url or None,
        region=settings.s3_region,
    )
    roots = os.pathsep.join(args.allowed_root or []) or settings.allowed_roots
    if not roots and isinstance(inbox, LocalInbox):
        roots = str(inbox.root)  # by default only files next to the manifests
    elif not roots:
        await inbox.close()
        raise ConfigError(
            f"an S3 inbox ({args.inbox}) has no folder to confine local sources to: name the "
            "folders they may come from with --allowed-root (or allowed_roots)"
        )
    private = 1 if args.allow_private_addresses else settings.allow_private_addresses
    app = app.derive(allowed_roots=roots, allow_private_addresses=private)
    metrics, worker_id = Metrics(), args.worker_id or default_worker_id()
    queue = None
    if settings.database_url.startswith("postgres") and isinstance(inbox, LocalInbox):
        queue = build_queue(
            app,
            worker_id,
            on_chunk=metrics.chunk_ended,
            follower=metrics.follower,
            on_upload=metrics.observe_upload,
        )
    worker = Worker(
        app=app,
        inbox=inbox,
        metrics=metrics,
        chunked=ChunkedJobs(app, queue, worker_id) if isinstance(inbox, LocalInbox) else None,
        options=WorkerOptions(
            dataset=args.dataset,
            version=args.version,
            create=args.create,
            worker_id=worker_id,
            lease_s=args.lease_s,
            max_attempts=args.max_attempts,
            poll_s=args.poll_s,
            jobs=args.jobs,
            upload_retries=args.upload_retries,
        ),
    )
    runner = None
    if args.http_port:
        http_app = make_app(
            worker,
            token,
            hosts=allowed_hosts(args.http_host, settings.daemon_allowed_hosts),
            max_body=settings.daemon_max_body_mb * 1024 * 1024,
        )
        runner = await start_site(http_app, args.http_host, args.http_port)
        log.info("http on %s:%s", args.http_host, args.http_port)
    log.info("watching %s; allowed roots: %s", inbox.url, roots or "anywhere")
    try:
        if queue is None:
            await run_until_signalled(worker)
        else:
            async with queue.open_async():
                await _with_chunk_worker(worker, queue, app)
    finally:
        if runner is not None:
            await runner.cleanup()
        await inbox.close()
        await app.aclose()  # the derived app's store and fetcher; the catalog is the CLI's
    return EXIT_OK
