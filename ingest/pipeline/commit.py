"""Committing: whole groups, several per transaction, retried only when the error is transient.

A batch holds up to ``commit_batch_groups`` groups or what completed by its deadline, and is
written at once when every group slot waits on it. The deadline (``Cadence``) keeps commits'
ends (when groups become visible) at most ``commit_interval_s`` apart: a batch closes early
enough that, taking as long from its deadline to its end as the slowest of the last few
commits did (scaled up to the batch's size), it ends 90% of an interval after the previous
one ended. "From its deadline":
the committer wakes late when the event loop is busy with uploads (measured up to 0.1 s), and
that counts as much as the commit's own duration (0.03-0.3 s for the same batch size under
load). Two earlier rules let the gaps grow past the interval: counting it from a batch's first
group (interval + commit time + the wait for that group), then from the previous commit's
start less that commit's duration (0.51-0.65 s measured with a 0.5 s interval). A third
let them grow when groups began to arrive faster (the storage workers started, the input
ended): the estimate was the last commits' durations whatever the size of the batch, so a
batch filled by its deadline with 5x the groups of the commits before it took 5x as long
(local import: 75-group commits of 0.03-0.04 s, then 407 groups by the deadline, 0.19 s, and
a 0.59 s gap). The deadline now moves earlier as the batch grows.

A batch also closes by size, measured in time: when rows are expensive (by reference, ~6,000
frames a commit, 0.7-1.6 s each on SQLite) a batch of ``commit_batch_groups`` groups takes
longer than the interval by itself, and no deadline helps. ``Cadence.frame_limit`` caps the
next batch at the frames the slowest of the last few commits would have written in 90% of
an interval (frames per second measured from each, fixed costs included), so back-to-back
commits each end within that span of the previous one.

A batch the catalog refuses for a permanent reason is split, so one row it cannot store (a value
the database refuses) rejects that group only; PublishedVersionError / NotFoundError (the
version went away) end the run.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential

from ..catalog import Catalog, FrameRow, WriteResult
from ..config import Settings
from ..errors import CatalogError, NotFoundError, PublishedVersionError, is_transient
from .transfer import GroupState

COMMIT_ATTEMPTS = 4
#: the share of the interval kept for what no estimate sees (the catalog's pollers), how many
#: commits the estimate looks back on, and its value before any (a fifth of the interval: the
#: first commit, one group, says nothing of a batch's duration)
CADENCE_MARGIN = 0.1
CADENCE_WINDOW = 4
CADENCE_PRIOR = 0.2


class Cadence:
    """When the next batch must close. ``deadline(frames)``: at once before the first commit
    (a run shows progress early), then ``last end + (1 - margin) * interval - estimate``,
    where the estimate is the longest time from a deadline to that commit's end (the
    committer's lateness in waking, then the commit's duration, scaled up by ``frames`` over
    the frames it wrote; never down: a commit has fixed costs) among the last ``window``
    commits and the prior (until ``window`` commits are known). Whenever a commit takes no
    longer than that estimate, it ends at most ``(1 - margin) * interval`` after the previous
    one; one that took longer than the interval makes the next batch close at once.
    ``frame_limit()``: how many frames the next batch may hold so that it, too, takes no
    longer than that span."""

    def __init__(
        self, interval: float, *, margin: float = CADENCE_MARGIN, window: int = CADENCE_WINDOW
    ) -> None:
        self.span = max(0.0, interval) * (1.0 - margin)
        #: (lateness, duration, frames) of the last ``window`` commits (frames 0: not scaled)
        self.recent: deque[tuple[float, float, int]] = deque(
            [(interval * CADENCE_PRIOR, 0.0, 0)], maxlen=max(1, window)
        )
        self.last_end: float | None = None
        #: frames each of the last ``window`` commits would have written in ``span``
        self.capacities: deque[float] = deque(maxlen=max(1, window))

    def estimate(self, frames: int = 0) -> float:
        """The time from a deadline to the end of a commit of ``frames`` frames."""
        return max(
            late + took * max(1.0, frames / done if done else 1.0)
            for late, took, done in self.recent
        )

    def deadline(self, frames: int = 0) -> float:
        """When a batch of ``frames`` frames must close (earlier as it grows)."""
        if self.last_end is None:
            return float("-inf")
        return self.last_end + self.span - self.estimate(frames)

    def frame_limit(self) -> float:
        """The most frames the next batch may hold: the first group alone until a commit is
        measured (it shows progress at once and measures what a row costs)."""
        return min(self.capacities, default=1.0)

    def record(self, started: float, ended: float, late: float = 0.0, frames: int = 0) -> None:
        """A commit of ``frames`` frames ran from ``started`` to ``ended``; ``late``: how
        long after its deadline the committer woke to close the batch (0 when it closed for
        another reason)."""
        took = max(0.0, ended - started)
        self.recent.append((max(0.0, late), took, frames))
        self.last_end = ended
        if frames and took > 0:
            # at least one frame: a batch always holds its first group
            self.capacities.append(max(1.0, frames * self.span / took))


@dataclass
class Commit:
    item: Any
    row: FrameRow
    frames: int
    state: GroupState
    where: str | None
    position: int


class Committer:
    def __init__(
        self,
        catalog: Catalog,
        version_id: str,
        settings: Settings,
        *,
        on_committed: Callable[[list[Commit], WriteResult], None],
        on_refused: Callable[[Commit, CatalogError], Awaitable[None]],
        starved: Callable[[], bool],
    ) -> None:
        """``on_committed(batch, result)`` follows each written batch, ``on_refused(commit,
        error)`` a group the catalog refused; ``starved()``: every group slot waits on us."""
        self.catalog = catalog
        self.version_id = version_id
        self.settings = settings
        self.on_committed = on_committed
        self.on_refused = on_refused
        self.starved = starved
        self.queue: asyncio.Queue[Commit | None] = asyncio.Queue()

    def put(self, commit: Commit) -> None:
        self.queue.put_nowait(commit)

    def close(self) -> None:
        self.queue.put_nowait(None)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        limit = self.settings.commit_batch_groups
        cadence = Cadence(self.settings.commit_interval_s)
        while True:
            first = await self.queue.get()
            if first is None:
                return
            batch, stop, late = [first], False, 0.0
            frames, frame_limit = first.frames, cadence.frame_limit()
            while len(batch) < limit and frames < frame_limit:
                deadline = cadence.deadline(frames)  # a bigger batch takes longer to commit
                try:
                    entry = self.queue.get_nowait()
                except asyncio.QueueEmpty:
                    remaining = deadline - loop.time()
                    # nothing can join the batch while every group slot is waiting on it
                    if remaining <= 0 or self.starved():
                        break
                    try:
                        entry = await asyncio.wait_for(self.queue.get(), remaining)
                    except TimeoutError:
                        late = loop.time() - deadline
                        break
                if entry is None:
                    stop = True
                    break
                batch.append(entry)
                frames += entry.frames
            started = loop.time()
            await self._commit(batch)
            cadence.record(started, loop.time(), late, frames)
            if stop:
                return

    async def _write(self, batch: list[Commit]) -> WriteResult:
        rows = [c.row for c in batch]
        objects = [o for c in batch for o in c.state.objects]
        retrying = AsyncRetrying(
            stop=stop_after_attempt(COMMIT_ATTEMPTS),
            wait=wait_exponential(
                multiplier=self.settings.retry_backoff_base_s, max=self.settings.retry_backoff_max_s
            ),
            retry=retry_if_exception(is_transient),
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                return await self.catalog.write_frames(self.version_id, rows, objects=objects)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _commit(self, batch: list[Commit]) -> None:
        try:
            result = await self._write(batch)
        except (PublishedVersionError, NotFoundError):
            raise
        except CatalogError as exc:
            if is_transient(exc):
                raise  # the catalog is unreachable: the run cannot go on
            if len(batch) == 1:
                await self.on_refused(batch[0], exc)
                return
            half = len(batch) // 2
            await self._commit(batch[:half])
            await self._commit(batch[half:])
            return
        self.on_committed(batch, result)
