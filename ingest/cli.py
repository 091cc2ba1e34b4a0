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


def _common(top: bool) -> argparse.ArgumentParser:
    """Settings flags, accepted before and after the command (``ingest --x import`` and
    ``ingest import --x``); the command's copy must not reset what the top level parsed."""
    common = argparse.ArgumentParser(add_help=False)
    default = None if top else argparse.SUPPRESS
    g = common.add_argument_group("settings (override INGEST_* and the config file)")
    g.add_argument("--config", default=default, help="TOML settings file (default: $INGEST_CONFIG)")
    g.add_argument(
        "--database-url", default=default, help="sqlite:///PATH or postgresql://USER@HOST/DB"
    )
    g.add_argument(
        "--storage-url",
        default=default,
        help="file:///PATH, s3://BUCKET/PREFIX, gs://BUCKET/PREFIX or az://CONTAINER/PREFIX",
    )
    g.add_argument("--s3-endpoint-url", default=default, help="endpoint of an S3-compatible store")
    g.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=False if top else argparse.SUPPRESS,
        help="debug logs on stderr",
    )
    return common


def _run_options(p: argparse.ArgumentParser) -> None:
    """How a run stores: retries, uploads in flight, worker processes (import and daemon)."""
    p.add_argument(
        "--upload-retries",
        type=int,
        metavar="N",
        help="retries of a failed upload before its frame is rejected (default 3)",
    )
    p.add_argument("--concurrency", type=int, metavar="N", help="frame uploads in flight")
    p.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="storage worker processes for a big run (0 = auto, 1 = none)",
    )


def _import_options(p: argparse.ArgumentParser, *, dataset_required: bool) -> None:
    p.add_argument("--dataset", required=dataset_required, help="target dataset")
    p.add_argument("--version", required=dataset_required, help="target version (a Draft)")
    p.add_argument("--create", action="store_true", help="create the dataset/version if missing")
    _run_options(p)
    p.add_argument(
        "--report",
        metavar="PATH",
        help="rejected-frame report, .jsonl or .csv (default when something is "
        "rejected: ./ingest-report-<time>.jsonl)",
    )
    p.add_argument(
        "--copy-remote",
        action="store_true",
        help="copy https://, s3://, gs:// and az:// sources into the storage instead of "
        "registering them by reference",
    )
    p.add_argument(
        "--allow-private-addresses",
        action="store_true",
        help="with --copy-remote: also copy from loopback, private and other special-purpose "
        "addresses (refused by default)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar, no summary")
    p.add_argument("--json", action="store_true", help="print a JSON summary on stdout")


def build_parser() -> argparse.ArgumentParser:
    common = _common(top=False)
    parser = argparse.ArgumentParser(
        prog="ingest",
        parents=[_common(top=True)],
        description="Register multi-sensor FrameGroups into versioned datasets.",
        epilog="Exit codes: 0 ok, 1 frames rejected (report written), 2 bad usage or "
        "configuration, 3 catalog or storage unreachable, 130 interrupted.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser(
        "import", parents=[common], help="import manifests (JSONL, CSV, Parquet) or COCO, YOLO, "
        "KITTI, nuScenes data"
    )  # fmt: skip
    p.add_argument("manifests", nargs="+", metavar="MANIFEST", help="files, or - for stdin")
    p.add_argument(
        "--format",
        choices=("jsonl", "csv", "parquet", "coco", "yolo", "kitti", "nuscenes"),
        help="input format (default: from the extension); coco: COCO JSON files, yolo: a "
        "data.yaml or its folder, kitti: an object folder, nuscenes: a dataroot",
    )
    p.add_argument(
        "--group-by",
        metavar="RULE",
        help="coco: FrameGroups from image names, e.g. '{timestamp}.jpg' (frames named by "
        "their COCO file) or '{camera}/{timestamp}.jpg'",
    )
    p.add_argument("--images-root", metavar="DIR", help="coco: folder of the file_names")
    p.add_argument(
        "--split",
        help="yolo: train|val|test (default: all); kitti: training|testing (default: "
        "training); nuscenes: the table version (default: the one folder v1.0-*)",
    )
    _import_options(p, dataset_required=False)
    p.add_argument(
        "--queue",
        action="store_true",
        help="run as chunk jobs: on PostgreSQL by `ingest worker`s (this waits), on SQLite here",
    )

    p = sub.add_parser("import-dir", parents=[common], help="import a folder tree by layout")
    p.add_argument("root", metavar="ROOT")
    p.add_argument("--layout", required=True, help="path pattern, e.g. '{camera}/{timestamp}.jpg'")
    p.add_argument(
        "--frame-field",
        default="camera",
        help="layout field that names the frame (default: camera)",
    )
    p.add_argument(
        "--require-frames", metavar="A,B,...", help="reject groups that lack any of these frames"
    )
    _import_options(p, dataset_required=True)

    p = sub.add_parser("datasets", parents=[common], help="list, create or delete datasets")
    p.add_argument("action", choices=("list", "create", "delete"))
    p.add_argument("name", nargs="?")
    p.add_argument("--tag", action="append", help="with create; repeatable")
    p.add_argument("--description", help="with create")
    p.add_argument("--raise-if-exists", action="store_true", help="with create")
    p.add_argument("--all-versions", action="store_true", help="with delete: versions too")
    p.add_argument("--force", action="store_true", help="with delete: published versions too")
    p.add_argument("--json", action="store_true", help="with list: JSON on stdout")

    p = sub.add_parser(
        "versions", parents=[common], help="list, create, publish or snapshot versions"
    )
    p.add_argument("action", choices=("list", "create", "publish", "snapshot"))
    p.add_argument("dataset")
    p.add_argument("name", nargs="?")
    p.add_argument("--parent", action="append", help="with create: parent version; repeatable")
    p.add_argument("--raise-if-exists", action="store_true", help="with create")
    p.add_argument("--publish-name", help="with snapshot")
    p.add_argument("--child-name", help="with snapshot")
    p.add_argument("--json", action="store_true", help="with list: JSON on stdout")

    p = sub.add_parser("frames", parents=[common], help="show one registered frame")
    p.add_argument("action", choices=("show",))
    p.add_argument("frame_id", metavar="ID")
    p.add_argument("--dataset", required=True)
    p.add_argument("--version", help="default: the current version")

    p = sub.add_parser(
        "export", parents=[common], help="write a version as JSONL that `ingest import` takes "
        "back, or as COCO or YOLO"
    )  # fmt: skip
    p.add_argument("--dataset", required=True)
    p.add_argument("--version", help="default: the current version")
    p.add_argument("-o", "--output", help="file (default: stdout); a folder for coco and yolo")
    p.add_argument("--format", choices=("jsonl", "coco", "yolo"), default="jsonl")
    p.add_argument(
        "--per-frame-name",
        action="store_true",
        help="coco, yolo: one file (coco) or split (yolo) per frame name instead of one",
    )

    p = sub.add_parser(
        "query", parents=[common], help="the frames of a version a Lucene query selects"
    )
    p.add_argument("dataset", metavar="D")
    p.add_argument("version", metavar="V")
    p.add_argument("query", metavar="Q", help="e.g. 'label:car AND NOT meta.city:bremen'")
    p.add_argument("--count", action="store_true", help="print the number of frames only")
    p.add_argument("--jsonl", action="store_true", help="write the frames' JSON documents")

    p = sub.add_parser(
        "verify", parents=[common], help="check that every registered object exists with its size"
    )
    p.add_argument("--dataset")
    p.add_argument("--version")

    p = sub.add_parser(
        "gc", parents=[common], help="remove stored objects that no frame references"
    )
    p.add_argument("--dry-run", action="store_true", help="only list them")
    p.add_argument(
        "--min-age",
        type=float,
        default=3600.0,
        metavar="SECONDS",
        help="spare objects younger than this (imports in flight); default 3600",
    )

    p = sub.add_parser(
        "daemon",
        parents=[common],
        help="watch an inbox of manifests and ingest them (many workers)",
    )
    p.add_argument("--inbox", required=True, help="a folder, or s3://bucket/prefix/")
    p.add_argument(
        "--dataset",
        help="default target dataset (a manifest header or a "
        "<manifest>.json sidecar may name another)",
    )
    p.add_argument("--version", help="default target version")
    p.add_argument("--create", action="store_true", help="create datasets/versions if missing")
    _run_options(p)
    p.add_argument("--http-host", default="127.0.0.1")
    p.add_argument(
        "--http-port",
        type=int,
        default=8081,
        help="/healthz, /readyz, /metrics, POST /jobs; 0 turns HTTP off",
    )
    p.add_argument("--worker-id", help="default: HOST:PID")
    p.add_argument(
        "--lease-s",
        type=float,
        default=30.0,
        help="job lease; renewed every third of it (default 30)",
    )
    p.add_argument(
        "--max-attempts",
        type=int,
        default=3,
        help="a job failing fatally this often goes to failed/ (default 3)",
    )
    p.add_argument("--poll-s", type=float, default=2.0, help="inbox poll interval (floor)")
    p.add_argument("--jobs", type=int, default=1, help="jobs this worker runs at once")
    p.add_argument(
        "--allowed-root",
        action="append",
        metavar="DIR",
        help="local sources must lie under these (default: the inbox folder)",
    )
    p.add_argument(
        "--allow-private-addresses",
        action="store_true",
        help="allow copying http(s) sources from loopback/private addresses",
    )
    p.add_argument("--log-json", action="store_true", help="JSON log lines")

    from .commands.queue_args import add_parsers

    add_parsers(sub, common)

    p = sub.add_parser("serve", parents=[common], help="the web app and REST API")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080)
    return parser


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
