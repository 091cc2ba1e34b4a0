"""Process-wide state of the library facade: its settings, one application per event loop,
and the sync portal.

Async code gets one ``service.Ingest`` per event loop (connections belong to a loop). Sync
calls run on a private background event loop (a "portal" thread), so they also work where a
loop is already running, as in a notebook. Entry points (CLI, daemon, web) open their own
``Ingest`` and do not use this module's state.
"""

from __future__ import annotations

import asyncio
import atexit
import threading
import weakref
from collections.abc import Coroutine
from typing import Any, TypeVar

from .config import Settings, load_settings
from .service import Ingest

T = TypeVar("T")

_settings: Settings | None = None
_apps: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Ingest] = weakref.WeakKeyDictionary()
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
    """Set the library's settings (see ``Settings``) at start-up; closes what was opened before.

    Example: ``ingest.configure(database_url="postgresql://ingest@db/ingest")``.
    """
    global _settings
    settings = load_settings(config_file, **overrides)
    close_all()
    _settings = settings
    return settings


async def get_app() -> Ingest:
    """The library's application for the running event loop, opened on first use."""
    loop = asyncio.get_running_loop()
    lock = _locks.setdefault(loop, asyncio.Lock())
    async with lock:
        app = _apps.get(loop)
        if app is not None and app.settings is not get_settings():  # configure() since
            await app.aclose()
            app = None
        if app is None:
            app = await Ingest(get_settings()).open()
            _apps[loop] = app
        return app


async def aclose() -> None:
    """Close the application opened on the running event loop."""
    app = _apps.pop(asyncio.get_running_loop(), None)
    if app is not None:
        await app.aclose()


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
    """Close the portal's application (those of other loops close with ``aclose``)."""
    if _portal_loop is not None and _portal_loop.is_running():
        asyncio.run_coroutine_threadsafe(aclose(), _portal_loop).result(timeout=30)


atexit.register(close_all)
