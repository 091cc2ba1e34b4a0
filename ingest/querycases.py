"""Query use cases, part of the application object (``service.Ingest``): count and stream the
frames that frame filters (``ingest.query``) select, in sequential or weighted random order.

Memory stays flat: frames come a page at a time; a random draw plans ``DRAW_BATCH`` draws,
then walks each filter's matches once in frames-row order (integers, ``WALK_PAGE`` at a time)
to find the drawn positions, and fetches the documents of the batch in draw order.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from .catalog import Catalog, FrameCursor, StoredFrame
from .query import FrameFilter

DRAW_BATCH = 10_000
WALK_PAGE = 50_000  # row ids per read of a random walk (integers: 50,000 are a few MB)
PAGE = 500
FIRST_PAGE = 32


@dataclass(frozen=True)
class Rule:
    """A frame filter over one version, with its weight in random order."""

    version_id: str
    filter: FrameFilter
    weight: float = 1.0


def _key(cursor: FrameCursor) -> tuple[str, float, str]:
    return cursor.sort_ctx, cursor.sort_ts, cursor.frame_id


class Queries:
    @property
    def catalog(self) -> Catalog:
        raise NotImplementedError  # the application's

    async def count_matches(self, version_id: str, filters: Sequence[FrameFilter]) -> int:
        """How many frames of the version any of ``filters`` selects."""
        return await self.catalog.query_count(version_id, filters)

    async def rules_count(self, rules: Sequence[Rule]) -> int:
        """Distinct frames the rules select (filters of one version are OR-ed)."""
        total = 0
        for version_id, filters in _by_version(rules).items():
            total += await self.catalog.query_count(version_id, filters)
        return total

    async def iter_matches(
        self, version_id: str, filters: Sequence[FrameFilter], page_size: int = PAGE
    ) -> AsyncIterator[list[tuple[FrameCursor, StoredFrame]]]:
        """The selected frames of one version in (context_id, timestamp, id) order, by page.

        Pages grow from ``FIRST_PAGE`` to ``page_size``: the first frame comes after a short
        walk even when matches are rare (the walk goes on until a page is full)."""
        after: FrameCursor | None = None
        size = min(FIRST_PAGE, page_size)
        while True:
            page = await self.catalog.query_page(version_id, filters, after=after, limit=size)
            if page:
                yield page
            if len(page) < size:
                return
            after = page[-1][0]
            size = min(size * 4, page_size)

    async def sequential(
        self, rules: Sequence[Rule], *, limit: int | None = None, infinite: bool = False
    ) -> AsyncIterator[list[tuple[str, StoredFrame]]]:
        """Batches of (version id, frame) selected, in (context_id, timestamp, id) order; the
        versions' streams merged; ``infinite``: start again at the end."""
        left = limit
        while left is None or left > 0:
            sent = 0
            async for batch in self._merged(rules):
                if left is not None:
                    batch = batch[:left]
                    left -= len(batch)
                sent += len(batch)
                yield batch
                if left == 0:
                    return
            if not infinite or not sent:
                return

    async def _merged(self, rules: Sequence[Rule]) -> AsyncIterator[list[tuple[str, StoredFrame]]]:
        versions = list(_by_version(rules).items())
        streams = [self.iter_matches(v, f) for v, f in versions]
        if len(streams) == 1:
            async for page in streams[0]:
                yield [(versions[0][0], stored) for _, stored in page]
            return
        heads: list[list[tuple[FrameCursor, StoredFrame]]] = []
        for stream in streams:
            heads.append(await anext(stream, []))
        out: list[tuple[str, StoredFrame]] = []
        while any(heads):
            pick = min((i for i, h in enumerate(heads) if h), key=lambda i: _key(heads[i][0][0]))
            out.append((versions[pick][0], heads[pick].pop(0)[1]))
            if not heads[pick]:
                heads[pick] = await anext(streams[pick], [])
            if len(out) == PAGE:
                yield out
                out = []
        if out:
            yield out

    async def weighted_random(
        self, rules: Sequence[Rule], *, seed: int, limit: int | None, infinite: bool = False
    ) -> AsyncIterator[list[tuple[str, StoredFrame]]]:
        """Batches of (version id, frame) random draws (with replacement): a rule picked in
        proportion to its weight, then one of its frames, uniformly; reproducible with ``seed``.
        ``limit``
        draws (default: as many as frames selected), or forever with ``infinite``."""
        counts = [await self.catalog.query_count(r.version_id, [r.filter]) for r in rules]
        live = [i for i, n in enumerate(counts) if n and rules[i].weight > 0]
        if not live:
            return
        if limit is None and not infinite:
            limit = await self.rules_count(rules)
        rng = random.Random(seed)
        weights = [rules[i].weight for i in live]
        drawn = 0
        while infinite or drawn < (limit or 0):
            size = DRAW_BATCH if infinite else min(DRAW_BATCH, (limit or 0) - drawn)
            picks = [(i, rng.randrange(counts[i])) for i in rng.choices(live, weights, k=size)]
            rows = await self._rows_at(rules, picks)
            found = [(rules[pick[0]].version_id, rows[pick]) for pick in picks if pick in rows]
            for start in range(0, len(found), PAGE):
                chunk = found[start : start + PAGE]
                stored = await self.catalog.frames_by_row([row for _, row in chunk])
                yield [(version, stored[row]) for version, row in chunk if row in stored]
            drawn += size

    async def _rows_at(
        self, rules: Sequence[Rule], picks: list[tuple[int, int]]
    ) -> dict[tuple[int, int], int]:
        """The frames row at each drawn (rule, position) of the rule's matches in row order."""
        wanted: dict[int, set[int]] = defaultdict(set)
        for rule, offset in picks:
            wanted[rule].add(offset)
        found: dict[tuple[int, int], int] = {}
        for rule, offsets in wanted.items():
            targets = sorted(offsets)
            position, after, t = 0, 0, 0
            while t < len(targets):
                ids = await self.catalog.query_rows(
                    rules[rule].version_id, [rules[rule].filter], after=after, limit=WALK_PAGE
                )
                if not ids:  # the version changed under us: fewer frames than counted
                    break
                while t < len(targets) and targets[t] < position + len(ids):
                    found[(rule, targets[t])] = ids[targets[t] - position]
                    t += 1
                position += len(ids)
                after = ids[-1]
        return found


def _by_version(rules: Sequence[Rule]) -> dict[str, list[FrameFilter]]:
    """The rules' filters per version, versions in the order they first appear."""
    out: dict[str, list[FrameFilter]] = {}
    for rule in rules:
        out.setdefault(rule.version_id, []).append(rule.filter)
    return out
