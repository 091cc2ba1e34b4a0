"""Inline work bounded per turn of the event loop.

The local store copies small files in the event loop's own thread: a thread hop costs more
than a copy of a few hundred KiB (3x the throughput on 64 KiB frames). But one turn of the
loop may hold many copies: after their coalesced catalog lookup, ~30 groups x 6 frames became
ready together and were all copied in one turn, which stalled the loop 0.1 s idle and
0.3-0.65 s at load 5. Timers and I/O are only served between turns, so the committer woke
that late and the gap between two commits passed ``commit_interval_s``.

``TurnBudget.turn()`` returns at once while less than ``seconds`` has passed since the first
inline work of the current turn began (so the other work of that turn, each frame's own
bookkeeping, counts too); after that it moves its caller to a later turn. Waiting callers keep
their order: each waits with ``asyncio.sleep(0)``, which puts it back at the end of the loop's
ready queue (FIFO). Hand-written because asyncio has no per-turn hook or budget of its own: a
callback scheduled with ``call_soon`` runs in the next turn, which is what marks a new one.
"""

from __future__ import annotations

import asyncio
import time

#: the inline work one turn of the loop may hold before the rest waits for the next turn: a
#: committer's timer is served within about two of these (the turn it fell due in, and the
#: turn its wake-up runs in)
TURN_BUDGET_S = 0.005


class TurnBudget:
    def __init__(self, seconds: float = TURN_BUDGET_S) -> None:
        self.seconds = seconds
        self._began: float | None = None  # when the current turn's first inline work began
        self._loop: asyncio.AbstractEventLoop | None = None  # the loop of that turn

    async def turn(self) -> None:
        """Wait (if need be) for a turn of the loop with budget left for inline work."""
        loop = asyncio.get_running_loop()
        while True:
            now = time.perf_counter()
            if self._began is None or self._loop is not loop:  # (a store used on another loop)
                self._began, self._loop = now, loop
                loop.call_soon(self._next_turn)
                return
            if now - self._began < self.seconds:
                return
            await asyncio.sleep(0)

    def _next_turn(self) -> None:
        self._began = None
