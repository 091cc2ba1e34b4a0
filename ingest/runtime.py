"""Process-wide state of the library: the settings, open catalogs, and the sync facade.

Async code gets one catalog per event loop (connections belong to a loop). Sync calls run on a
private background event loop (a "portal" thread), so they also work where a loop is already
running, as in a notebook.
"""

from __future__ import annotations

import asyncio
import atexit
import threading
import weakref
from collections.abc import Coroutine
from typing import Any, TypeVar

from .catalog import SqlCatalog, open_catalog
from .config import Settings, load_settings

T = TypeVar("T")

_settings: Settings | None = None
_catalogs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, SqlCatalog]] = (
    weakref.WeakKeyDictionary()
)
_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
    weakref.WeakKeyDictionary()
)
_portal_loop: asyncio.AbstractEventLoop | None = None
_portal_lock = threading.Lock()


def new_event_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop

        return uvloop.new_event_loop()
    except ImportError:  # pragma: no cover - uvloop is a dependency on POSIX
        return asyncio.new_event_loop()


def get_settings() -> Settings:
    global _settings
    if _settings is None:
        _settings = load_settings()
    return _settings


def configure(config_file: str | None = None, **overrides: Any) -> Settings:
    """Set the library's settings (see ``Settings``); closes catalogs opened before.

    Example: ``ingest.configure(database_url="postgresql://ingest@db/ingest")``.
    """
    global _settings
    settings = load_settings(config_file, **overrides)
    close_all()
    _settings = settings
    return settings


async def get_catalog() -> SqlCatalog:
    """The catalog of the current settings, opened once per event loop."""
    loop = asyncio.get_running_loop()
    url = get_settings().database_url
    lock = _locks.setdefault(loop, asyncio.Lock())
    async with lock:
        per_loop = _catalogs.setdefault(loop, {})
        catalog = per_loop.get(url)
        if catalog is None:
            catalog = per_loop[url] = await open_catalog(url)
        return catalog


async def aclose() -> None:
    """Close the catalogs opened on the running event loop."""
    loop = asyncio.get_running_loop()
    for catalog in _catalogs.pop(loop, {}).values():
        await catalog.close()


def _portal() -> asyncio.AbstractEventLoop:
    global _portal_loop
    with _portal_lock:
        if _portal_loop is None:
            loop = new_event_loop()
            thread = threading.Thread(target=loop.run_forever, name="ingest-portal", daemon=True)
            thread.start()
            _portal_loop = loop
        return _portal_loop


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion from synchronous code (even inside a running loop)."""
    loop = _portal()
    if threading.current_thread().name == "ingest-portal":
        coro.close()
        raise RuntimeError("a sync ingest call was made from inside an async ingest call")
    return asyncio.run_coroutine_threadsafe(coro, loop).result()


def close_all() -> None:
    """Close the portal's catalogs (catalogs of other loops close with ``aclose``)."""
    if _portal_loop is not None and _portal_loop.is_running():
        asyncio.run_coroutine_threadsafe(aclose(), _portal_loop).result(timeout=30)


atexit.register(close_all)
