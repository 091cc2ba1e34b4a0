"""``get_local_source()`` / ``get_local_mask_source()`` of a SingleFrame (reference SDK).

The data model stays pure: the library facade (``api.py``) registers the downloader (the
application's ``local_copy``: ``cache.py``) with ``set_local_copier`` when it is imported.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

_copier: dict[str, Any] = {}


def set_local_copier(sync: Callable[[str], str], async_: Callable[[str], Awaitable[str]]) -> None:
    _copier.update(sync=sync, async_=async_)


def _get(kind: str) -> Any:
    if kind not in _copier:
        raise RuntimeError("import ingest (the library) to download sources")
    return _copier[kind]


class LocalSources:
    __slots__ = ()
    source: str
    masks: dict[str, str]
    mask_source: str | None

    def _mask_uri(self, mask_id: str | None) -> str | None:
        if mask_id is None:
            return self.mask_source
        if mask_id not in self.masks:
            raise KeyError(f"no mask {mask_id!r} (masks: {', '.join(self.masks) or 'none'})")
        return self.masks[mask_id]

    def get_local_source(self) -> str:
        """A local file with the source: a local source's own path, else a download into the
        cache (setting ``cache_dir``), from the configured store or by reference (http(s):
        private addresses refused unless ``allow_private_addresses``)."""
        return _get("sync")(self.source)  # type: ignore[no-any-return]

    async def get_local_source_async(self) -> str:
        return await _get("async_")(self.source)  # type: ignore[no-any-return]

    def get_local_mask_source(self, mask_id: str | None = None) -> str | None:
        """``get_local_source`` of a mask: ``mask_id``, else the frame's mask (``mask_source``,
        else its first mask); None when the frame has no mask."""
        uri = self._mask_uri(mask_id)
        return None if uri is None else _get("sync")(uri)

    async def get_local_mask_source_async(self, mask_id: str | None = None) -> str | None:
        uri = self._mask_uri(mask_id)
        return None if uri is None else await _get("async_")(uri)
