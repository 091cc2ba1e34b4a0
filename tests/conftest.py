from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

import ingest
from ingest import runtime

from .pg import create_database, postgres_cluster

pytest_plugins = ["tests.s3fixtures", "tests.cloudfixtures"]


@pytest.fixture(scope="session")
def pg_admin_url() -> Iterator[str]:
    with postgres_cluster() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty catalog on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'catalog.sqlite3'}"
    return create_database(request.getfixturevalue("pg_admin_url"))


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'catalog.sqlite3'}"


@pytest.fixture
def storage_dir(tmp_path: Path) -> Path:
    path = tmp_path / "objects"
    path.mkdir()
    return path


@pytest.fixture
def lib(database_url: str, storage_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The library configured on a fresh catalog (both backends) and a local store."""
    for key in list(os.environ):
        if key.startswith("INGEST_"):
            monkeypatch.delenv(key)
    ingest.configure(
        database_url=database_url, storage_url=f"file://{storage_dir}", retry_backoff_base_s=0.01
    )
    yield database_url
    runtime.close_all()


@pytest.fixture
async def alib(lib: str) -> AsyncIterator[str]:
    """``lib`` for async tests: closes the catalog opened on the test's own loop."""
    yield lib
    await ingest.aclose()
