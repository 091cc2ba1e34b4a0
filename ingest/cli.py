"""The ``ingest`` command: parse arguments, wire the parts, report. No business logic here.

Exit codes: 0 all registered / done; 1 some frames rejected (report written) or verify found
problems; 2 bad usage or configuration (unknown dataset, bad manifest, ...); 3 fatal: the
catalog or the storage cannot be reached; 130 interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

from . import runtime
from .cliargs import build_parser
from .commands import EXIT_FATAL, EXIT_INTERRUPTED, EXIT_USAGE, Fatal
from .config import Settings, load_settings
from .errors import (
    AlreadyExistsError,
    CatalogError,
    ConfigError,
    IngestError,
    NotFoundError,
    PublishedVersionError,
    ValidationError,
)

if TYPE_CHECKING:
    from .service import Ingest

Command = Callable[[argparse.Namespace, "Ingest"], Awaitable[int]]


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(
        args.config,
        database_url=args.database_url,
        storage_url=args.storage_url,
        s3_endpoint_url=args.s3_endpoint_url,
        concurrency=getattr(args, "concurrency", None),
        workers=getattr(args, "workers", None),
        allow_private_addresses=1 if getattr(args, "allow_private_addresses", False) else None,
    )


_COMMANDS = {  # name -> (module under ingest.commands, function); imported on use only
    "import": ("imports", "cmd_import"),
    "import-dir": ("imports", "cmd_import_dir"),
    "datasets": ("catalog_cmds", "cmd_datasets"),
    "versions": ("catalog_cmds", "cmd_versions"),
    "frames": ("catalog_cmds", "cmd_frames"),
    "export": ("catalog_cmds", "cmd_export"),
    "query": ("query_cmd", "cmd_query"),
    "verify": ("maintenance", "cmd_verify"),
    "gc": ("maintenance", "cmd_gc"),
    "daemon": ("daemon_cmd", "cmd_daemon"),
    "worker": ("queue_cmds", "cmd_worker"),
    "jobs": ("queue_cmds", "cmd_jobs"),
}


def _command(name: str) -> Command:
    import importlib

    module, function = _COMMANDS[name]
    command: Command = getattr(importlib.import_module(f"ingest.commands.{module}"), function)
    return command


async def _run(args: argparse.Namespace, settings: Settings) -> int:
    """Run the command as a task; the first SIGINT/SIGTERM cancels it (graceful), the second
    exits at once."""
    loop = asyncio.get_running_loop()

    async def body() -> int:
        from .service import Ingest

        app = Ingest(settings)
        try:
            await app.open()
        except CatalogError as exc:
            raise Fatal(f"catalog {settings.database_url} is unreachable: {exc}") from exc
        try:
            return await _command(args.command)(args, app)
        finally:
            await app.aclose()

    task = asyncio.ensure_future(body())
    signals = 0

    def on_signal() -> None:
        nonlocal signals
        signals += 1
        if signals == 1:
            sys.stderr.write("\ninterrupted: finishing in-flight groups (again to abort)\n")
            task.cancel()
        else:
            os._exit(EXIT_INTERRUPTED)

    if args.command != "daemon":  # the daemon's worker handles its signals itself
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, on_signal)
    try:
        return await task
    except asyncio.CancelledError:
        return EXIT_INTERRUPTED


def main(argv: Sequence[str] | None = None) -> int:
    # this process is ours: what start-up built is permanent (freeze it out of the collector),
    # and a run keeps many short-lived containers alive at once, so collect less often
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        settings = _settings(args)
        if args.command == "serve":
            return _serve(args, settings)
        if args.command in ("datasets",) and args.action in ("create", "delete") and not args.name:
            raise ConfigError(f"datasets {args.action} needs a NAME")
        if args.command == "versions" and args.action != "list" and not args.name:
            raise ConfigError(f"versions {args.action} needs a version NAME")
        loop = runtime.new_event_loop()
        try:
            return loop.run_until_complete(_run(args, settings))
        finally:
            loop.close()
    except (
        ConfigError,
        ValidationError,
        NotFoundError,
        AlreadyExistsError,
        PublishedVersionError,
    ) as exc:
        return _fail(exc, EXIT_USAGE)
    except (Fatal, CatalogError) as exc:
        return _fail(exc, EXIT_FATAL)
    except IngestError as exc:
        return _fail(exc, EXIT_FATAL)


def _fail(exc: BaseException, code: int) -> int:
    sys.stderr.write(f"ingest: error: {exc}\n")
    return code


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    from .web.server import run_server

    try:
        run_server(args.host, args.port, os.environ.get("INGEST_API_TOKEN") or None, settings)
    except OSError as exc:  # a busy port, a name that does not resolve
        raise ConfigError(f"cannot serve on {args.host}:{args.port}: {exc}") from exc
    return 0


def entry() -> Any:  # pragma: no cover - console script shim
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
