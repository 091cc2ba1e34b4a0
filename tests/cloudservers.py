"""The GCS and Azure emulators for tests and benchmarks, each in a subprocess on a free port.

- ``GcsEmulator``: ``gcp-storage-emulator`` (PyPI, the test extra) in memory. It speaks the GCS
  JSON API without credentials; clients reach it through ``STORAGE_EMULATOR_HOST``. It verifies
  ``md5Hash`` / ``crc32c`` when they come in an upload's JSON metadata.
- ``Azurite``: Microsoft's emulator (npm, installed into ``tools/node_modules`` by
  ``scripts/setup.sh``) run by the machine's Node.js, blob service only, in memory, with
  ``--disableTelemetry`` (otherwise it tries to reach a telemetry host). Clients use its
  documented development account through a connection string (``connection_string``).
  It verifies ``Content-MD5``.

    with GcsEmulator() as gcs, Azurite() as az:
        bucket = gcs.create_bucket(); container = az.create_container()

Both children get ``PR_SET_PDEATHSIG``, so they go away when the test process dies.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import sys
import tempfile
import threading
import urllib.error
import urllib.request
import uuid
from pathlib import Path

from tests.servers import ServerProcess

ROOT = Path(__file__).resolve().parent.parent
AZURITE_BIN = ROOT / "tools" / "node_modules" / ".bin" / "azurite-blob"
#: Azurite's documented development account (public, for the emulator only)
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
_AZURITE_STARTED = re.compile(r"listens on (http://127\.0\.0\.1:(\d+))")


def azurite_connection_string(endpoint: str) -> str:
    """The development connection string for an Azurite blob endpoint (or a proxy before it)."""
    return (
        f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};"
        f"AccountKey={AZURITE_KEY};BlobEndpoint={endpoint.rstrip('/')}/{AZURITE_ACCOUNT};"
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class GcsEmulator(ServerProcess):
    name = "gcp-storage-emulator"

    def start(self) -> GcsEmulator:
        binary = shutil.which("gcp-storage-emulator", path=str(Path(sys.executable).parent))
        if binary is None:
            raise RuntimeError("gcp-storage-emulator not found: pip install the test extra")
        # it does not say which port it got, so it gets a free one (a lost race: one retry)
        for _ in range(2):
            self.port = _free_port()
            cmd = [binary, "start", "--host", "127.0.0.1", "--port", str(self.port)]
            self._spawn([*cmd, "--in-memory"])
            try:
                self._wait_ready("/storage/v1/b")
                return self
            except RuntimeError:
                continue
        raise RuntimeError(f"{self.name} did not start:\n{''.join(self._log)[-2000:]}")

    def __enter__(self) -> GcsEmulator:
        return self.start()

    def create_bucket(self, name: str | None = None) -> str:
        name = name or f"b-{uuid.uuid4().hex[:12]}"
        request = urllib.request.Request(
            f"{self.endpoint}/storage/v1/b?project=test",
            data=json.dumps({"name": name}).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10):
            return name

    def object_names(self, bucket: str) -> list[str]:
        with urllib.request.urlopen(f"{self.endpoint}/storage/v1/b/{bucket}/o", timeout=10) as r:
            return [item["name"] for item in json.load(r).get("items", [])]


class Azurite(ServerProcess):
    name = "azurite"

    def _on_line(self, line: str, seen: threading.Event) -> None:
        match = _AZURITE_STARTED.search(line)
        if match:
            self.port = int(match.group(2))
            seen.set()

    def start(self) -> Azurite:
        if not AZURITE_BIN.exists():
            raise RuntimeError(f"{AZURITE_BIN} not found: run scripts/setup.sh (npm)")
        # in memory; run in a temp dir so nothing it writes lands in the repo
        self._workdir = workdir = tempfile.mkdtemp(prefix="azurite-")
        cmd = [str(AZURITE_BIN), "--blobHost", "127.0.0.1", "--blobPort", "0"]
        cmd += ["--inMemoryPersistence", "--disableTelemetry", "--skipApiVersionCheck"]
        seen = self._spawn(cmd, cwd=workdir)
        if not seen.wait(self.start_timeout_s) or self.port is None:
            log = "".join(self._log)[-2000:]
            self.stop()
            raise RuntimeError(f"azurite did not start:\n{log}")
        self._wait_ready(f"/{AZURITE_ACCOUNT}?comp=list")
        return self

    def __enter__(self) -> Azurite:
        return self.start()

    @property
    def connection_string(self) -> str:
        return azurite_connection_string(self.endpoint)

    def create_container(self, name: str | None = None) -> str:
        from azure.storage.blob import ContainerClient

        name = name or f"c-{uuid.uuid4().hex[:12]}"
        with ContainerClient.from_connection_string(self.connection_string, name) as client:
            client.create_container()
        return name

    def blob_names(self, container: str) -> list[str]:
        from azure.storage.blob import ContainerClient

        with ContainerClient.from_connection_string(self.connection_string, container) as c:
            return [b.name for b in c.list_blobs()]


def emulator_env(gcs: GcsEmulator | None, azurite: Azurite | None) -> dict[str, str]:
    """The environment that points the stores at the emulators."""
    env = {}
    if gcs is not None:
        env["STORAGE_EMULATOR_HOST"] = gcs.endpoint
    if azurite is not None:
        env["AZURE_STORAGE_CONNECTION_STRING"] = azurite.connection_string
    return env


__all__ = ["Azurite", "GcsEmulator", "azurite_connection_string", "emulator_env"]
