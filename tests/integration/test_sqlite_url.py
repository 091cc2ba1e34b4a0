"""A SQLite catalog URL's options: ``?cache_mb=N`` sizes the page cache; anything else is a
clear error naming the URL."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.catalog.db import connect
from ingest.errors import ConfigError


async def cache_kib(url: str) -> int:
    db = await connect(url)
    try:
        row = await db.fetchone("PRAGMA cache_size")
        assert row is not None
        return -int(row[0])  # negative = KiB
    finally:
        await db.close()


async def test_the_page_cache_is_64_mib_unless_the_url_says(tmp_path: Path) -> None:
    assert await cache_kib(f"sqlite:///{tmp_path}/a.sqlite3") == 64 * 1024
    assert await cache_kib(f"sqlite:///{tmp_path}/b.sqlite3?cache_mb=2") == 2 * 1024


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("cache=2", "unknown option 'cache'"),
        ("cache_mb=0", "whole number"),
        ("cache_mb=x", "whole number"),
    ],
)
async def test_a_bad_option_names_the_url(tmp_path: Path, query: str, message: str) -> None:
    url = f"sqlite:///{tmp_path}/c.sqlite3?{query}"
    with pytest.raises(ConfigError, match=message) as caught:
        await connect(url)
    assert url in str(caught.value)
