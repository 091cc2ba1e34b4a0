"""``python -m ingest.web [--host H] [--port P]``: the same as ``ingest serve``."""

from __future__ import annotations

import argparse
import os
import sys

from ..errors import ConfigError
from .server import run_server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ingest.web",
        description="Serve the frame-ingest web app (token: INGEST_API_TOKEN).",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args(argv)
    try:
        run_server(args.host, args.port, os.environ.get("INGEST_API_TOKEN") or None)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
