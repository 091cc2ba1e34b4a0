"""A storage worker process (see ``workers.py``): ``python -m ingest.pipeline.worker_main FD``.

Reads requests on stdin, writes replies on file descriptor FD. Ignores SIGINT and SIGTERM: the
parent drains and then closes stdin, which ends the worker.
"""

from __future__ import annotations

import asyncio
import contextvars
import os
import signal
import sys
from typing import Any

from ..catalog import open_catalog
from ..config import Settings
from ..runtime import new_event_loop
from ..storage.factory import open_configured_storage
from .group import GroupFailed, GroupStorer
from .localfile import allowed_roots
from .lookups import ObjectLookups
from .rejects import error_class, error_text
from .transfer import GroupState, Transfers
from .workers import read_frame, write_frame


async def serve(reply_fd: int) -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=2**30)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin.buffer)
    transport, protocol = await loop.connect_write_pipe(
        asyncio.streams.FlowControlMixin, os.fdopen(reply_fd, "wb", buffering=0)
    )
    writer = asyncio.StreamWriter(transport, protocol, None, loop)
    settings, share = await read_frame(reader)
    assert isinstance(settings, Settings)
    catalog = await open_catalog(settings.database_url, migrate=False)  # the parent did
    lookups = ObjectLookups(catalog)  # one for the process: its groups' lookups coalesce
    store = await open_configured_storage(
        settings, concurrency=max(1, round(settings.concurrency * share))
    )
    fetcher: Any = None

    async def open_store() -> Any:
        return store

    async def open_fetcher() -> Any:
        nonlocal fetcher
        if fetcher is None:
            from ..remote import RemoteFetcher

            fetcher = RemoteFetcher(settings)
        return fetcher

    # each request's own upload timings (a context variable: a request's frame tasks inherit it)
    observed: contextvars.ContextVar[list[tuple[float, bool]]] = contextvars.ContextVar("observed")
    tasks: dict[int, asyncio.Task[None]] = {}
    roots = allowed_roots(settings.allowed_roots)
    transfers = Transfers(  # this process's share of the upload slots and byte budget
        settings=settings,
        open_store=open_store,
        open_fetcher=open_fetcher,
        on_upload=lambda seconds, ok: observed.get().append((seconds, ok)),
        share=share,
    )

    async def handle(request_id: int, work: Any, retries: int, copy_remote: bool) -> None:
        storer = GroupStorer(
            transfers,
            lookups,
            retries=retries,
            copy_remote=copy_remote,
            roots=roots,
            upload_root=settings.upload_root,
        )
        timings: list[tuple[float, bool]] = []
        observed.set(timings)
        state = GroupState()
        try:
            await storer.store(work, state)
            reply: Any = ("ok", work, state.outcome(), timings)
        except GroupFailed as failed:
            failures = [
                (f.name, f.source, error_class(f.error), error_text(f.error), f.attempts)
                for f in failed.failures
            ]
            reply = ("failed", failures, failed.retries, failed.new_keys)
        except asyncio.CancelledError:
            return
        except Exception as exc:
            reply = ("error", error_class(exc), error_text(exc), state.new_keys)
        finally:
            tasks.pop(request_id, None)
        write_frame(writer, (request_id, reply))

    write_frame(writer, "ready")
    try:
        while True:
            try:
                message = await read_frame(reader)
            except asyncio.IncompleteReadError:
                break  # stdin closed: the parent is done (or gone)
            if message[0] == "store":
                _, request_id, work, retries, copy_remote = message
                tasks[request_id] = asyncio.create_task(
                    handle(request_id, work, retries, copy_remote)
                )
            elif message[0] == "cancel" and message[1] in tasks:
                tasks[message[1]].cancel()
    finally:
        if tasks:
            await asyncio.gather(*tasks.values(), return_exceptions=True)
        await writer.drain()
        if fetcher is not None:
            await fetcher.close()
        await store.close()
        await catalog.close()


def main() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    sys.stdout = sys.stderr  # nothing but replies on the reply channel
    loop = new_event_loop()
    try:
        loop.run_until_complete(serve(int(sys.argv[1])))
    finally:
        loop.close()


if __name__ == "__main__":
    main()
