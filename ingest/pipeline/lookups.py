"""Coalesced catalog lookups of stored objects: one query for the groups that ask together.

Every group asks the catalog which of its objects an earlier run stored (``object_sizes``, so
a re-run uploads nothing twice). One query per group meant one round trip through the catalog's
thread (SQLite) or connection (PostgreSQL) per group, each queued behind a commit's whole
transaction while it runs: the groups starting meanwhile waited, then went through one by one.
Here the groups that ask while a query is running share the next one: after a commit, one
query answers every group that waited on it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Protocol


class KnownObjects(Protocol):
    async def object_sizes(self, uris: Sequence[str]) -> dict[str, int]: ...


class ObjectLookups:
    """``object_sizes`` as the catalog answers it, the requests made meanwhile coalesced."""

    def __init__(self, catalog: KnownObjects) -> None:
        self.catalog = catalog
        self.queries = 0
        self._waiting: list[tuple[list[str], asyncio.Future[dict[str, int]]]] = []
        self._drain: asyncio.Task[None] | None = None

    async def object_sizes(self, uris: Sequence[str]) -> dict[str, int]:
        future: asyncio.Future[dict[str, int]] = asyncio.get_running_loop().create_future()
        self._waiting.append((list(uris), future))
        if self._drain is None:
            self._drain = asyncio.ensure_future(self._answer())
        return await future

    async def _answer(self) -> None:
        try:
            while self._waiting:
                batch, self._waiting = self._waiting, []
                batch = [(uris, future) for uris, future in batch if not future.done()]
                wanted = list(dict.fromkeys(uri for uris, _ in batch for uri in uris))
                self.queries += 1
                try:
                    found = await self.catalog.object_sizes(wanted) if wanted else {}
                except asyncio.CancelledError:
                    for _, future in batch:
                        future.cancel()
                    raise
                except Exception as exc:  # each group that asked gets the catalog's error
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                for uris, future in batch:
                    if not future.done():
                        future.set_result({uri: found[uri] for uri in uris if uri in found})
        finally:
            self._drain = None
            for _, future in self._waiting:  # only when cancelled: nobody will answer these
                future.cancel()
            self._waiting = []
