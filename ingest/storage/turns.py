"""Inline work bounded per turn of the event loop.

The local store copies small files in the event loop's own thread: a thread hop costs more
than a copy of a few hundred KiB (3x the throughput on 64 KiB frames). But one turn of the
loop may hold many copies: after their coalesced catalog lookup, ~30 groups x 6 frames became
ready together and were all copied in one turn, which stalled the loop 0.1 s idle and
0.3-0.65 s at load 5. Timers and I/O are only served between turns, so the committer woke
that late and the gap between two commits passed ``commit_interval_s``.

``TurnBudget.run(fn)`` calls ``fn()`` at once while the inline work of the current turn has
taken less than ``seconds``; after that (or while earlier work waits) it queues ``fn``, and a
callback runs the queue in the next turns, ``seconds`` of it per turn, in order. Each caller
waits on one future, woken once: nothing polls. Hand-written because asyncio has no per-turn
hook or budget of its own: a callback scheduled with ``call_soon`` runs in the next turn,
which is what marks a new one.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

#: the inline work one turn of the loop may hold before the rest waits for the next turns: a
#: committer's timer is served within about two of these (the turn it fell due in, and the
#: turn its wake-up runs in). At 5 ms most copies of a storage worker waited (a 64 KiB copy
#: took 1-2 ms at load 5: temp file, sendfile, rename), and their extra turns cost ~6% more
#: CPU in an A/B of imports; at 20 ms the CPU was the same as without a bound.
TURN_BUDGET_S = 0.02


class TurnBudget:
    def __init__(self, seconds: float = TURN_BUDGET_S) -> None:
        self.seconds = seconds
        self._spent = 0.0  # inline work done in the current turn
        self._armed = False  # the callback that starts the next turn is scheduled
        self._queue: deque[tuple[asyncio.Future[Any], Callable[[], Any]]] = deque()
        self._loop: asyncio.AbstractEventLoop | None = None

    async def run(self, fn: Callable[[], T]) -> T:
        """``fn()``, now or in a later turn of the loop (in the order of the calls)."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # a store used on another loop: that loop's turns are over
            self._loop, self._spent, self._armed = loop, 0.0, False
            self._queue.clear()
        if not self._queue and self._spent < self.seconds:
            return self._timed(fn)
        waiter: asyncio.Future[T] = loop.create_future()
        self._queue.append((waiter, fn))
        self._arm()
        return await waiter  # cancelled before its turn: ``fn`` never runs

    def _timed(self, fn: Callable[[], T]) -> T:
        started = time.perf_counter()
        try:
            return fn()
        finally:
            self._spent += time.perf_counter() - started
            self._arm()

    def _arm(self) -> None:
        if not self._armed and self._loop is not None:
            self._armed = True
            self._loop.call_soon(self._next_turn)

    def _next_turn(self) -> None:
        self._spent, self._armed = 0.0, False
        while self._queue and self._spent < self.seconds:
            waiter, fn = self._queue.popleft()
            if waiter.cancelled():
                continue
            try:
                waiter.set_result(self._timed(fn))
            except Exception as exc:
                waiter.set_exception(exc)
        if self._queue:
            self._arm()
