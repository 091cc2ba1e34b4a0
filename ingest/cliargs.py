"""The ``ingest`` command's arguments: one argparse parser with a sub-command each (what they
mean is in ``commands/``; ``cli.py`` runs them)."""

from __future__ import annotations

import argparse


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
        default=0.0,
        help="a worker without a heartbeat this long is stalled and its jobs are retried "
        "(heartbeats every third of it; default: chunk_stalled_s, 30)",
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
