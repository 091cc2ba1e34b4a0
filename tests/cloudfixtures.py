"""pytest fixtures for the GCS and Azure stores: the emulators, fresh buckets, a fault proxy.

gcs_emulator (session)  ``tests.cloudservers.GcsEmulator`` (gcp-storage-emulator)
azurite      (session)  ``tests.cloudservers.Azurite`` (npm, Node.js)
cloud        (function) a ``CloudTarget``: a fresh bucket (container) on one emulator, a
                        FaultProxy in front of it, and this process's environment pointed
                        at the proxy (``STORAGE_EMULATOR_HOST`` or
                        ``AZURE_STORAGE_CONNECTION_STRING``); GCS unless the test is
                        parametrized with ``@BOTH_CLOUDS`` (ids ``[gcs]``, ``[azure]``)
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import pytest

from tests.cloudservers import Azurite, GcsEmulator, azurite_connection_string
from tests.faultproxy import FaultProxy

CLOUDS = ("gcs", "azure")
BOTH_CLOUDS = pytest.mark.parametrize("cloud", CLOUDS, indirect=True)
SCHEMES = {"gcs": "gs", "azure": "az"}


@pytest.fixture(scope="session")
def gcs_emulator() -> Iterator[GcsEmulator]:
    with GcsEmulator() as server:
        yield server


@pytest.fixture(scope="session")
def azurite() -> Iterator[Azurite]:
    with Azurite() as server:
        yield server


@dataclass
class CloudTarget:
    kind: str  # "gcs" | "azure"
    bucket: str
    server: GcsEmulator | Azurite
    proxy: FaultProxy

    @property
    def storage_url(self) -> str:
        return f"{SCHEMES[self.kind]}://{self.bucket}/frames"

    def env(self, endpoint: str | None = None) -> dict[str, str]:
        """The variables that point a store at ``endpoint`` (default: the proxy)."""
        endpoint = endpoint or self.proxy.endpoint
        if self.kind == "gcs":
            return {"STORAGE_EMULATOR_HOST": endpoint}
        return {"AZURE_STORAGE_CONNECTION_STRING": azurite_connection_string(endpoint)}

    def names(self) -> list[str]:
        """Every object name in the bucket, asked of the emulator directly."""
        if isinstance(self.server, GcsEmulator):
            return self.server.object_names(self.bucket)
        return self.server.blob_names(self.bucket)

    def _upload_match(self) -> dict[str, object]:
        # GCS names the object in the upload's JSON metadata (a POST); Azure in the PUT's path
        if self.kind == "gcs":
            return {"method": "POST", "anywhere": True}
        return {"method": "PUT", "contains": True}

    def script_uploads(self, name_part: str, faults: Sequence[str]) -> None:
        """Fault the next uploads (requests that start one) of objects named ``*name_part*``."""
        self.proxy.script(name_part, faults, **self._upload_match())  # type: ignore[arg-type]

    def uploads(self, name_part: str = "") -> int:
        """Upload requests seen for objects named ``*name_part*``."""
        return self.proxy.count(key=name_part, **self._upload_match())  # type: ignore[arg-type]


@pytest.fixture
def cloud(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[CloudTarget]:
    kind = getattr(request, "param", "gcs")
    if kind not in CLOUDS:
        raise ValueError(f"unknown cloud {kind!r}; one of {CLOUDS}")
    server: GcsEmulator | Azurite = request.getfixturevalue(
        "gcs_emulator" if kind == "gcs" else "azurite"
    )
    if isinstance(server, GcsEmulator):
        bucket = server.create_bucket()
    else:
        bucket = server.create_container()
    with FaultProxy(server.endpoint) as proxy:
        target = CloudTarget(kind, bucket, server, proxy)
        for name, value in target.env().items():
            monkeypatch.setenv(name, value)
        yield target
