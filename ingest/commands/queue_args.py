"""The arguments of ``ingest worker`` and ``ingest jobs`` (argparse only: the CLI builds its
parser without importing the queue)."""

from __future__ import annotations

import argparse
from typing import Any


def add_parsers(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "worker", parents=[common], help="run chunk jobs of queued imports (PostgreSQL)"
    )
    p.add_argument("--concurrency-jobs", type=int, default=1, dest="jobs",
                   help="chunk jobs this worker runs at once (default 1)")  # fmt: skip
    p.add_argument("--http-host", default="127.0.0.1")
    p.add_argument("--http-port", type=int, default=0, help="/healthz and /metrics; 0 = off")
    p.add_argument("--worker-id", help="default: HOST:PID")
    p = sub.add_parser(
        "jobs",
        parents=[common],
        help="list, cancel or retry chunked imports; `shell`: procrastinate's admin shell",
    )
    p.add_argument("action", choices=("list", "cancel", "retry", "shell"))
    p.add_argument("job", nargs="?", metavar="ID", help="an import id (from `jobs list`)")
    p.add_argument("--json", action="store_true", help="with list: JSON lines on stdout")
