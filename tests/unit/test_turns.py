"""Inline copies of the local store bounded per turn of the event loop (``storage/turns.py``):
a turn holds 20 ms of them, the rest wait for the next turns in their order."""

from __future__ import annotations

import asyncio
import math
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from ingest.storage import local
from ingest.storage.local import LocalStorage
from ingest.storage.turns import TURN_BUDGET_S, TurnBudget

COPY_S = 0.003


class Turns:
    """Counts the loop's turns: a callback that schedules itself runs once per turn."""

    def __init__(self) -> None:
        self.count = 0
        self._handle: asyncio.Handle | None = None

    def _tick(self) -> None:
        self.count += 1
        self._handle = asyncio.get_running_loop().call_soon(self._tick)

    def __enter__(self) -> Turns:
        self._tick()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._handle is not None
        self._handle.cancel()


async def test_small_copies_ready_together_take_a_few_turns_of_the_loop_not_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """120 small files stored at once, each copy slowed to 3 ms: before, all 120 ran in one
    turn (the loop stalled 0.36 s, timers and I/O waiting); now a turn holds the copies that
    start within its budget (20 ms), and they keep the order they were asked in."""
    copied: list[tuple[int, str]] = []  # (turn, key) of each copy
    copy_range = local._copy_range

    def slow_copy(src: int, out: int, size: int, source: Any, tmp: str) -> None:
        time.sleep(COPY_S)
        copied.append((turns.count, tmp.rsplit("/", 1)[1].split(".")[1]))
        copy_range(src, out, size, source, tmp)

    monkeypatch.setattr(local, "_copy_range", slow_copy)
    source = tmp_path / "frame.bin"
    source.write_bytes(b"x" * 4096)
    store = LocalStorage(str(tmp_path / "objects"))
    keys = [f"k{i:03d}" for i in range(120)]
    with Turns() as turns:
        uris = await asyncio.gather(*(store.put_file(k, str(source), 4096, None) for k in keys))
    stored = [Path(u[len("file://") :]).read_bytes() for u in uris]  # noqa: ASYNC240 - small
    assert stored == [source.read_bytes()] * 120
    per_turn = Counter(turn for turn, _ in copied)
    assert max(per_turn.values()) <= math.ceil(TURN_BUDGET_S / COPY_S), per_turn
    assert [key for _, key in copied] == keys


def test_a_turn_cut_short_by_a_stopped_loop_does_not_hold_the_next_loop() -> None:
    """A loop stopped in the turn its budget was spent never runs the callback that starts the
    next turn; a store used on another loop afterwards copies at once."""
    budget = TurnBudget(0.001)
    loop = asyncio.new_event_loop()

    async def spend() -> None:
        await budget.run(lambda: time.sleep(0.002))
        loop.stop()

    task = loop.create_task(spend())
    loop.run_forever()
    assert task.done()
    loop.close()
    assert asyncio.run(asyncio.wait_for(budget.run(lambda: 7), 1)) == 7


async def test_a_copy_waiting_for_its_turn_can_be_cancelled_and_errors_reach_the_caller() -> None:
    budget = TurnBudget(0.001)
    ran: list[int] = []

    def fail() -> None:
        raise OSError("disk full")

    # one turn: the first call spends the budget, the others wait for the next turn
    spend = asyncio.ensure_future(budget.run(lambda: time.sleep(0.002)))
    cancelled = asyncio.ensure_future(budget.run(lambda: ran.append(1)))
    failing = asyncio.ensure_future(budget.run(fail))
    last = asyncio.ensure_future(budget.run(lambda: ran.append(3)))
    await asyncio.sleep(0)
    cancelled.cancel()
    with pytest.raises(OSError, match="disk full"):
        await failing
    await asyncio.gather(spend, last)
    assert ran == [3] and cancelled.cancelled()
