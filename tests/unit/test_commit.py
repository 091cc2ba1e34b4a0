"""The committer with an in-process catalog: transient errors retried, one refused row
rejects only its group, fatal errors end the run."""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import Callable
from typing import Any

import pytest

from ingest.catalog import FrameRow, WriteResult
from ingest.config import Settings
from ingest.errors import CatalogError, PublishedVersionError
from ingest.pipeline.commit import Cadence, Commit, Committer
from ingest.pipeline.transfer import GroupState


class FakeCatalog:
    def __init__(self, script: list[BaseException], refuse: set[str] = frozenset()) -> None:  # type: ignore[assignment]
        self.script = list(script)
        self.refuse = set(refuse)
        self.written: list[str] = []
        self.calls = 0
        self.batches = 0  # successful writes

    async def write_frames(self, version_id: str, rows: Any, **_: Any) -> WriteResult:
        self.calls += 1
        if self.script:
            raise self.script.pop(0)
        if self.refuse & {r.id for r in rows}:
            raise CatalogError("value out of range", transient=False)
        self.written += [r.id for r in rows]
        self.batches += 1
        return WriteResult(inserted=len(rows))


def _commit(i: int) -> Commit:
    row = FrameRow(f"id{i}", "single", None, None, b"{}")
    return Commit(f"item{i}", row, 1, GroupState(), f"m.jsonl:{i}", i)


async def _run(catalog: FakeCatalog, n: int) -> tuple[list[str], list[str]]:
    committed: list[str] = []
    refused: list[str] = []

    async def on_refused(commit: Commit, error: CatalogError) -> None:
        refused.append(commit.row.id)

    committer = Committer(
        catalog,  # type: ignore[arg-type]
        "v",
        Settings(
            database_url="sqlite:///x",
            storage_url="file:///x",
            commit_interval_s=0.01,
            retry_backoff_base_s=0.001,
        ),
        on_committed=lambda batch, result: committed.extend(c.row.id for c in batch),
        on_refused=on_refused,
        starved=lambda: False,
    )
    for i in range(n):
        committer.put(_commit(i))
    committer.close()
    await asyncio.wait_for(committer.run(), 60)
    return committed, refused


async def test_transient_errors_are_retried() -> None:
    catalog = FakeCatalog([CatalogError("locked", transient=True)] * 2)
    committed, refused = await _run(catalog, 5)
    assert committed == [f"id{i}" for i in range(5)] and refused == []
    assert catalog.calls == catalog.batches + 2  # the first batch, tried three times


async def test_a_refused_row_rejects_only_its_group() -> None:
    catalog = FakeCatalog([], refuse={"id3"})
    committed, refused = await _run(catalog, 8)
    assert refused == ["id3"]
    assert sorted(committed) == sorted(f"id{i}" for i in range(8) if i != 3)


async def test_a_permanent_catalog_failure_is_not_retried() -> None:
    catalog = FakeCatalog([PublishedVersionError("published meanwhile")])
    with pytest.raises(PublishedVersionError):
        await _run(catalog, 2)
    assert catalog.calls == 1


async def test_an_unreachable_catalog_ends_the_run_after_the_retries() -> None:
    catalog = FakeCatalog([CatalogError("gone", transient=True)] * 10)
    with pytest.raises(CatalogError):
        await _run(catalog, 2)
    assert catalog.calls == 4


class TimedCatalog(FakeCatalog):
    """Each write takes ``cost(rows)`` seconds of the loop's clock; records when it ended."""

    def __init__(self, cost: Callable[[int], float]) -> None:
        super().__init__([])
        self.cost = cost
        self.ends: list[float] = []
        self.sizes: list[int] = []

    async def write_frames(self, version_id: str, rows: Any, **kw: Any) -> WriteResult:
        await asyncio.sleep(self.cost(len(rows)))
        self.ends.append(asyncio.get_running_loop().time())
        self.sizes.append(len(rows))
        return await super().write_frames(version_id, rows, **kw)


def _timed(interval: float, cost: Callable[[int], float]) -> tuple[TimedCatalog, Committer]:
    catalog = TimedCatalog(cost)
    committer = Committer(
        catalog,  # type: ignore[arg-type]
        "v",
        Settings(database_url="sqlite:///x", storage_url="file:///x", commit_interval_s=interval),
        on_committed=lambda batch, result: None,
        on_refused=lambda commit, error: asyncio.sleep(0),
        starved=lambda: False,
    )
    return catalog, committer


async def test_commits_end_at_most_an_interval_apart() -> None:
    """Groups complete steadily and each commit takes a third of the interval: the commits'
    ends (when groups become visible) are never more than commit_interval_s apart, and the
    first group is committed at once."""
    interval, duration = 0.6, 0.2  # margins of 0.2 s: the machine may be loaded
    loop = asyncio.get_running_loop()
    catalog, committer = _timed(interval, lambda rows: duration)
    ends = catalog.ends
    task = asyncio.ensure_future(committer.run())
    start = loop.time()
    for i in range(250):  # a group every 10 ms for 2.5 s
        committer.put(_commit(i))
        await asyncio.sleep(0.01)
    committer.close()
    await asyncio.wait_for(task, 30)
    assert sorted(catalog.written) == sorted(f"id{i}" for i in range(250))
    assert ends[0] - start < duration + 0.2
    gaps = [b - a for a, b in itertools.pairwise(ends)]
    assert len(gaps) >= 4 and max(gaps) <= interval, gaps


def test_cadence_commits_the_first_group_at_once() -> None:
    assert Cadence(0.5).deadline() == float("-inf")


def test_cadence_closes_a_batch_so_the_commit_ends_within_the_interval() -> None:
    """The deadline counts from the previous commit's end, less the expected time from a
    deadline to a commit's end (the longest of the last four, and a prior of a fifth of the
    interval until four are known) and a tenth of the interval."""
    cadence = Cadence(0.5)
    cadence.record(10.0, 10.002)  # the first group, alone: says nothing of a batch
    assert cadence.deadline() == pytest.approx(10.002 + 0.45 - 0.1)
    cadence.record(10.35, 10.65, late=0.05)  # woke 50 ms late, then took 0.3 s
    assert cadence.deadline() == pytest.approx(10.65 + 0.45 - 0.35)
    for start in (10.8, 11.0, 11.2):  # fast again: the slow one is remembered for a while
        cadence.record(start, start + 0.05)
    assert cadence.deadline() == pytest.approx(11.25 + 0.45 - 0.35)
    cadence.record(11.4, 11.45)  # four fast commits since: the slow one is forgotten
    assert cadence.deadline() == pytest.approx(11.45 + 0.45 - 0.05)


def test_cadence_caps_a_batch_at_the_frames_the_slowest_recent_commit_writes_in_the_span() -> None:
    cadence = Cadence(0.5)
    assert cadence.frame_limit() == 1  # the first group alone
    cadence.record(0.0, 0.01, frames=5)
    assert cadence.frame_limit() == pytest.approx(5 * 0.45 / 0.01)
    cadence = Cadence(0.5)
    cadence.record(0.1, 1.0, frames=6000)  # 6,000 frames in 0.9 s: half of them fit
    assert cadence.frame_limit() == pytest.approx(3000)
    cadence.record(1.0, 1.01, frames=100)  # a faster one: the slowest of the last four counts
    assert cadence.frame_limit() == pytest.approx(3000)
    for start in (1.5, 2.0, 2.5, 3.0):  # four commits at 10,000 frames/s since
        cadence.record(start, start + 0.3, frames=3000)
    assert cadence.frame_limit() == pytest.approx(4500)


def test_cadence_after_a_commit_slower_than_the_interval_closes_at_once() -> None:
    cadence = Cadence(0.5)
    cadence.record(0.0, 0.8)
    assert cadence.deadline() <= 0.8


@pytest.mark.parametrize("seed", range(5))
def test_cadence_keeps_the_gaps_between_commit_ends_under_the_interval(seed: int) -> None:
    """Simulated on the committer's clock: groups always ready, commit durations varying 10x
    and the committer waking up to 0.1 s late (as measured under load). The rule the previous
    code used (deadline = previous start + interval - its duration) let a 0.3 s commit after
    a 0.05 s one end 0.7 s after it."""
    rng = random.Random(seed)
    interval, clock = 0.5, 0.0
    cadence, ends, spans = Cadence(interval), [], []
    for i in range(200):
        took, late = rng.choice((0.03, 0.05, 0.1, 0.3)), rng.choice((0.0, 0.02, 0.1))
        deadline = cadence.deadline()
        started = max(clock, deadline + late) if i else 0.0
        woke_late = started - deadline if i and deadline > clock else 0.0
        ended = started + took
        cadence.record(started, ended, woke_late)
        span = took + woke_late
        # the bound holds when a commit is no slower than the slowest of the last four
        if i >= 4 and span <= max(spans[-4:]):
            assert ended - ends[-1] <= interval * 0.9 + 1e-9
        ends.append(ended)
        spans.append(span)
        clock = ended


@pytest.mark.looptime
async def test_expensive_rows_shrink_the_batches_so_commits_stay_an_interval_apart() -> None:
    """On the loop's own (fast-forwarded) clock: 3,000 groups of 3 frames are ready at once
    and a commit costs 20 ms plus 0.5 ms per frame (by reference into SQLite: ~6,000 frames a
    commit took 0.7-1.6 s), so ``commit_batch_groups`` (2,000) groups would take 3 s. Batches
    shrink to what fits in the interval, measured from the commits before them."""
    interval = 0.5
    loop = asyncio.get_running_loop()
    catalog, committer = _timed(interval, lambda rows: 0.02 + 0.0005 * 3 * rows)
    ends, sizes = catalog.ends, catalog.sizes
    start = loop.time()
    for i in range(3000):
        commit = _commit(i)
        commit.frames = 3
        committer.put(commit)
    committer.close()
    await committer.run()
    assert sorted(catalog.written) == sorted(f"id{i}" for i in range(3000))
    assert sizes[0] == 1 and ends[0] - start < 0.1  # the first group, at once
    gaps = [b - a for a, b in itertools.pairwise(ends)]
    assert max(gaps) <= interval, gaps
    # yet batches are as big as the interval allows (the work is not cut into slivers)
    assert max(sizes) >= 250 and len(sizes) <= 20, sizes


@pytest.mark.looptime
async def test_groups_arriving_faster_do_not_stretch_the_gap_past_the_interval() -> None:
    """On the loop's own clock: groups come every 10 ms for 2 s (batches of ~40, commits of
    ~45 ms), then every 1 ms (the storage workers started, or the input ended and every slot
    is free), and a commit costs 5 ms plus 1 ms a group. Estimating the next commit by the
    last ones' durations alone (~45 ms) let the batch that filled by its deadline hold ~400
    groups, commit for ~0.4 s and end ~0.8 s after the previous one; the estimate now scales
    with the batch, so the deadline comes earlier as the batch grows."""
    interval = 0.5
    catalog, committer = _timed(interval, lambda rows: 0.005 + 0.001 * rows)
    task = asyncio.ensure_future(committer.run())
    for i in range(1200):
        committer.put(_commit(i))
        await asyncio.sleep(0.01 if i < 200 else 0.001)
    committer.close()
    await task
    assert sorted(catalog.written) == sorted(f"id{i}" for i in range(1200))
    gaps = [b - a for a, b in itertools.pairwise(catalog.ends)]
    assert max(gaps) <= interval * 0.9 + 1e-6, gaps


def test_cadence_scales_the_estimate_with_the_batch_but_never_down() -> None:
    cadence = Cadence(0.5)
    cadence.record(0.0, 0.002, frames=6)  # the first group alone
    for start in (0.4, 0.8, 1.2, 1.6):  # 100 frames in 40 ms, woken 10 ms late
        cadence.record(start, start + 0.04, late=0.01, frames=100)
    assert cadence.estimate(50) == pytest.approx(0.05)  # a smaller batch: no faster
    assert cadence.estimate(400) == pytest.approx(0.01 + 0.16)
    assert cadence.deadline(400) == pytest.approx(1.64 + 0.45 - 0.17)
    assert cadence.deadline(400) < cadence.deadline(100) == cadence.deadline()
