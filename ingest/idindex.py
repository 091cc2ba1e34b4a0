"""The ids a manifest has already used, with the line of their first use, in little memory.

A manifest of a million lines cannot keep its ids as Python strings cheaply (about 150 bytes
each in a dict), so ``IdIndex`` keeps a 128-bit BLAKE2b digest of each id and its first line in
flat arrays (open addressing, 20 bytes a slot, load between 1/3 and 2/3): 30 to 60 bytes per
distinct id, 42 MB for a million ids. Two different ids share a digest with odds of about
n^2 / 2^129 (10^-27 for a million ids): exact for any practical purpose.
"""

from __future__ import annotations

import hashlib
from array import array

_EMPTY = 0  # line numbers start at 1


class IdIndex:
    """``first_line(id)`` -> the line that used ``id`` first, or None; ``add(id, line)``."""

    __slots__ = ("_count", "_hi", "_lines", "_lo", "_mask")

    def __init__(self, capacity: int = 1024) -> None:
        size = 1 << max(4, (capacity - 1).bit_length())
        self._mask = size - 1
        self._hi = array("Q", [0]) * size
        self._lo = array("Q", [0]) * size
        self._lines = array("I", [0]) * size
        self._count = 0

    def __len__(self) -> int:
        return self._count

    @staticmethod
    def _digest(value: str) -> tuple[int, int]:
        raw = hashlib.blake2b(value.encode("utf-8", "surrogatepass"), digest_size=16).digest()
        return int.from_bytes(raw[:8], "little"), int.from_bytes(raw[8:], "little")

    def _slot(self, hi: int, lo: int) -> int:
        """The slot holding (hi, lo), or the empty slot where it would go."""
        mask, his, los, lines = self._mask, self._hi, self._lo, self._lines
        slot = hi & mask
        while lines[slot] != _EMPTY and (his[slot] != hi or los[slot] != lo):
            slot = (slot + 1) & mask
        return slot

    def first_line(self, value: str) -> int | None:
        line = self._lines[self._slot(*self._digest(value))]
        return None if line == _EMPTY else line

    def add(self, value: str, line: int) -> int | None:
        """Record ``value`` at ``line`` unless known; return the line it was first seen at."""
        hi, lo = self._digest(value)
        slot = self._slot(hi, lo)
        if self._lines[slot] != _EMPTY:
            return self._lines[slot]
        self._hi[slot], self._lo[slot], self._lines[slot] = hi, lo, min(max(line, 1), 0xFFFFFFFF)
        self._count += 1
        if self._count * 3 > self._mask * 2:  # keep the load under 2/3: short probes
            self._grow()
        return None

    def _grow(self) -> None:
        old = zip(self._hi, self._lo, self._lines, strict=True)
        size = (self._mask + 1) * 2
        self._mask = size - 1
        self._hi = array("Q", [0]) * size
        self._lo = array("Q", [0]) * size
        self._lines = array("I", [0]) * size
        for hi, lo, line in old:
            if line != _EMPTY:
                slot = self._slot(hi, lo)
                self._hi[slot], self._lo[slot], self._lines[slot] = hi, lo, line
