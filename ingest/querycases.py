"""Query use cases, part of the application object (``service.Ingest``): count and stream the
frames that frame filters (``ingest.query``) select, in sequential or weighted random order.

Memory stays flat: frames come a page at a time; random order reads each filter's matches a
window of row-id blocks at a time (``_shuffled``) and fetches the documents of a batch of
draws in draw order.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from .catalog import Catalog, FrameCursor, StoredFrame
from .query import FrameFilter

WALK_PAGE = 50_000  # row ids per read of a random walk (integers: 50,000 are a few MB)
BLOCK_MATCHES = 256  # matches a block of row ids holds on average (random order)
WINDOW = 16  # blocks shuffled together (random order)
PAGE = 500
FIRST_PAGE = 8  # a rare term walks ~FIRST_PAGE / its share of frames before the first page


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
            full, after = len(page) == size, page[-1][0] if page else after
            if page:
                yield page  # read before: the consumer may empty it (``_merged`` pops)
            if not full:
                return
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
        """Batches of (version id, frame) in weighted random order, reproducible with ``seed``:
        each draw picks a rule in proportion to its weight and takes the next frame of that
        rule's own shuffled stream (``_shuffled``: every frame it selects once, in random
        order, then again in a new order). ``limit`` draws (default: as many as frames
        selected), or forever with ``infinite``."""
        counts = [await self.catalog.query_count(r.version_id, [r.filter]) for r in rules]
        live = [i for i, n in enumerate(counts) if n and rules[i].weight > 0]
        if not live:
            return
        if limit is None and not infinite:  # the frames selected: one count per version
            one_each = len(_by_version(rules)) == len(rules)
            limit = sum(counts) if one_each else await self.rules_count(rules)
        rng = random.Random(seed)
        span = await self.catalog.row_span()
        streams = {
            i: self._shuffled(rules[i], counts[i], span, random.Random(rng.getrandbits(64)))
            for i in live
        }
        weights = [rules[i].weight for i in live]
        drawn, size = 0, FIRST_PAGE
        while infinite or drawn < (limit or 0):
            size = min(size * 4, PAGE) if drawn else size
            left = size if infinite else min(size, (limit or 0) - drawn)
            picks = rng.choices(live, weights, k=left)
            chunk = []
            for i in picks:
                row = await anext(streams[i], None)
                if row is not None:  # None: the version lost its frames meanwhile
                    chunk.append((rules[i].version_id, row))
            if not chunk:
                return
            stored = await self.catalog.frames_by_row([row for _, row in chunk])
            yield [(version, stored[row]) for version, row in chunk if row in stored]
            drawn += len(picks)

    async def _shuffled(
        self, rule: Rule, count: int, span: tuple[int, int], rng: random.Random
    ) -> AsyncIterator[int]:
        """The frames rows a rule selects, in random order, forever (one pass per epoch).

        The stored row ids ``span`` are cut into blocks of consecutive ids sized to hold about
        ``BLOCK_MATCHES`` of the rule's ``count`` matches; each epoch takes the blocks in a
        shuffled order, ``WINDOW`` at a time, reads their matches (one index range each) and
        shuffles them together. The first frame costs ``WINDOW`` small reads, never a pass over
        all the matches; memory holds one window. Frames stored after ``span`` was read are
        not in the stream (their row ids are past its last block)."""
        low, high = span
        size = max(1, -(-BLOCK_MATCHES * (high - low + 1) // count))
        blocks = list(range(low - 1, high, size))  # block b: rows in (b, b + size]
        while True:
            rng.shuffle(blocks)
            found = 0
            for at in range(0, len(blocks), WINDOW):
                pool: list[int] = []
                for start in blocks[at : at + WINDOW]:
                    pool += await self._rows_between(rule, start, start + size)
                rng.shuffle(pool)
                found += len(pool)
                for row in pool:
                    yield row
            if not found:
                return

    async def _rows_between(self, rule: Rule, after: int, until: int) -> list[int]:
        out: list[int] = []
        while True:
            ids = await self.catalog.query_rows(
                rule.version_id, [rule.filter], after=after, until=until, limit=WALK_PAGE
            )
            out += ids
            if len(ids) < WALK_PAGE:
                return out
            after = ids[-1]


def _by_version(rules: Sequence[Rule]) -> dict[str, list[FrameFilter]]:
    """The rules' filters per version, versions in the order they first appear."""
    out: dict[str, list[FrameFilter]] = {}
    for rule in rules:
        out.setdefault(rule.version_id, []).append(rule.filter)
    return out
