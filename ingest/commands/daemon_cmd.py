"""``ingest daemon``: the long-running form of the pipeline."""

from __future__ import annotations

import argparse
import ipaddress
import logging
import os

from ..daemon.http import allowed_hosts, make_app
from ..daemon.inbox import LocalInbox, open_inbox
from ..daemon.metrics import Metrics
from ..daemon.worker import Worker, WorkerOptions, default_worker_id, run_until_signalled
from ..errors import ConfigError
from ..logs import setup_logging
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
    worker = Worker(
        app=app,
        inbox=inbox,
        metrics=Metrics(),
        options=WorkerOptions(
            dataset=args.dataset,
            version=args.version,
            create=args.create,
            worker_id=args.worker_id or default_worker_id(),
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
        await run_until_signalled(worker)
    finally:
        if runner is not None:
            await runner.cleanup()
        await inbox.close()
        await app.aclose()  # the derived app's store and fetcher; the catalog is the CLI's
    return EXIT_OK
