"""The command-line commands; ``ingest.cli`` parses arguments and dispatches here."""

from __future__ import annotations

import sys

from ..errors import IngestError

EXIT_OK = 0  # everything registered (or the command did what it was asked)
EXIT_REJECTED = 1  # some frames were rejected (report written) / verify found problems
EXIT_USAGE = 2  # bad usage, bad configuration, unknown dataset or version
EXIT_FATAL = 3  # the catalog or the storage cannot be reached
EXIT_INTERRUPTED = 130


class Fatal(IngestError):
    """The run cannot go on: catalog or storage unreachable (exit code 3)."""


def echo(message: str) -> None:
    """Human output goes to stderr; stdout is kept for data (--json, export, lists)."""
    sys.stderr.write(message + "\n")
    sys.stderr.flush()
