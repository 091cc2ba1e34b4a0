"""The ingestion pipeline, in parts with one job each:

- ``run``: orchestration and the boundary where any group error becomes a rejection;
- ``plan``: validate an item, give it its id, list its storage work (no I/O);
- ``group``: store one group's objects, first error wins, cleanups registered up front;
- ``transfer``: one object's upload with its retry budget, under the run's bounds;
- ``localfile``: open a local source once and check what was opened;
- ``commit``: batched transactions, transient errors retried;
- ``rejects``: the rejection records.

Only the application (``ingest.service``) builds a run.
"""

from .plan import frame_row
from .run import Input, PipelineRun

__all__ = ["Input", "PipelineRun", "frame_row"]
