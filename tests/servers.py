"""A test server in a child process, serving HTTP on 127.0.0.1 (rclone, the GCS emulator,
Azurite): its output drained for its lifetime (the last lines kept for errors), its port read
from a start line or chosen free, ready once it answers HTTP, stopped (and its temp dir
removed) at the end. The child gets ``PR_SET_PDEATHSIG`` (SIGTERM), so it goes away when the
test process dies."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping


def _die_with_parent() -> None:  # runs in the child between fork and exec
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:
        pass


class ServerProcess:
    """A child process serving HTTP on 127.0.0.1; ``endpoint`` once it answers."""

    name = "server"
    port: int | None = None

    def __init__(self, start_timeout_s: float = 60.0) -> None:
        self.start_timeout_s = start_timeout_s
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: list[str] = []
        self._workdir: str | None = None

    @property
    def endpoint(self) -> str:
        if self.port is None:
            raise RuntimeError(f"{self.name} is not running")
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def _spawn(
        self, cmd: list[str], cwd: str | None = None, env: Mapping[str, str] | None = None
    ) -> threading.Event:
        """Start ``cmd``; the event is set by ``_on_line`` (or when the output ends)."""
        self._proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env=None if env is None else dict(env),
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )
        seen = threading.Event()
        threading.Thread(target=self._drain, args=(seen,), daemon=True).start()
        return seen

    def _drain(self, seen: threading.Event) -> None:
        proc = self._proc
        assert proc is not None and proc.stdout is not None
        with proc.stdout:
            for raw in proc.stdout:
                line = raw.decode(errors="replace")
                if len(self._log) < 200:
                    self._log.append(line)
                self._on_line(line, seen)
        seen.set()

    def _on_line(self, line: str, seen: threading.Event) -> None:
        seen.set()

    def _wait_ready(self, path: str) -> None:
        deadline = time.monotonic() + self.start_timeout_s
        while True:
            try:
                with urllib.request.urlopen(f"{self.endpoint}{path}", timeout=2):
                    return
            except urllib.error.HTTPError:
                return  # any HTTP answer: it is serving
            except OSError:
                if time.monotonic() > deadline or (self._proc and self._proc.poll() is not None):
                    log = "".join(self._log)[-2000:]
                    self.stop()
                    raise RuntimeError(f"{self.name} is not answering:\n{log}") from None
                time.sleep(0.05)

    def stop(self) -> None:
        proc, self._proc, self.port = self._proc, None, None
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
