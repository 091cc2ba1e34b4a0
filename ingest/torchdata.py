"""A DataView as a PyTorch ``IterableDataset`` (``pip install 'frame-ingest[torch]'``).

    from ingest.torchdata import DataViewDataset
    loader = torch.utils.data.DataLoader(DataViewDataset(view, transform=load), batch_size=None)

Each item is ``transform(frame)`` (default: the FrameGroup / SingleFrame itself). With several
DataLoader workers, worker ``k`` of ``n`` keeps every ``n``-th frame from the ``k``-th, so the
workers together give each frame of the view once (per pass).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from itertools import islice
from typing import Any

try:
    from torch.utils.data import IterableDataset, get_worker_info
except ImportError as exc:  # pragma: no cover - torch is an optional extra
    raise ImportError("ingest.torchdata needs PyTorch: pip install 'frame-ingest[torch]'") from exc

from .dataview import DataView
from .frames import Item


class DataViewDataset(IterableDataset):  # type: ignore[misc]
    def __init__(self, view: DataView, transform: Callable[[Item], Any] | None = None) -> None:
        super().__init__()
        self.view = view
        self.transform = transform

    def __iter__(self) -> Iterator[Any]:
        frames: Iterator[Item] = self.view.get_iterator()
        worker = get_worker_info()
        if worker is not None and worker.num_workers > 1:
            frames = islice(frames, worker.id, None, worker.num_workers)
        for frame in frames:
            yield frame if self.transform is None else self.transform(frame)
