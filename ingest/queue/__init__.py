"""Chunked imports run by a queue: procrastinate's on PostgreSQL (``pg.py``), in-process on
SQLite (``local.py``). Both call the same application functions (``chunked.py``)."""

from .local import run_in_process
from .pg import QUEUE, build_queue, queue_url

__all__ = ["QUEUE", "build_queue", "queue_url", "run_in_process"]
