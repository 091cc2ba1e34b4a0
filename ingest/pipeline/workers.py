"""Storage workers: the groups' uploads spread over processes, so every core is busy.

The parent reads the input, plans, commits and reports; each worker process has its own event
loop, store client, catalog connection (for the stored-object lookup) and a share of the upload
slots and byte budget, and stores the whole groups it is dealt (``worker_main.py``). Whole
groups cross the boundary as their frame documents; back come the filled documents, the
group's counts and keys, or its failures. Workers start after a run has
``WORKERS_AFTER_GROUPS`` groups with storage work (small runs never pay for them) and serve
every later run of the application. Until they are ready (0.3 s idle, 0.5-0.8 s at load 4),
groups go on being stored in the parent: waiting for the start stopped every group from
completing, and so every commit, for that long (the longest gaps between commits of a local
import). Protocol: length-prefixed pickles over the worker's stdin
and a private reply pipe; a worker exits when its stdin closes (the parent went away).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import pickle
import struct
import sys
from dataclasses import dataclass, field
from typing import Any

from ..config import Settings
from .group import GroupFailed
from .plan import Work
from .rejects import FrameFailed
from .transfer import GroupState

log = logging.getLogger("ingest.pipeline")
WORKERS_AFTER_GROUPS = 64
HEADER = struct.Struct("!I")


class RemoteError(Exception):
    """An error raised in a worker, carried back as its class name and message (and the keys
    the group had stored, for the run's cleanup)."""

    def __init__(self, error_class: str, message: str, new_keys: list[str] | None = None) -> None:
        super().__init__(message)
        self.error_class = error_class
        self.new_keys = new_keys or []


def write_frame(writer: asyncio.StreamWriter, message: Any) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    writer.write(HEADER.pack(len(data)) + data)


async def read_frame(reader: asyncio.StreamReader) -> Any:
    (size,) = HEADER.unpack(await reader.readexactly(HEADER.size))
    return pickle.loads(await reader.readexactly(size))


@dataclass
class _Worker:
    process: asyncio.subprocess.Process
    writer: asyncio.StreamWriter
    pending: dict[int, asyncio.Future[Any]] = field(default_factory=dict)
    frames: int = 0  # frames in flight
    reader_task: asyncio.Task[None] | None = None
    transport: asyncio.BaseTransport | None = None


class WorkerPool:
    def __init__(self, settings: Settings, count: int) -> None:
        self.settings = settings
        self.count = count
        self._workers: list[_Worker] = []
        self._ids = itertools.count()
        self._starting: asyncio.Task[None] | None = None
        self.failed: str | None = None
        self.groups_dealt = 0

    @property
    def ready(self) -> bool:
        return len(self._workers) == self.count and self.failed is None

    @property
    def uploads_in_flight(self) -> int:
        return sum(w.frames for w in self._workers)

    def start(self) -> bool:
        """Start the workers in the background (once); whether they are ready to take groups
        now (False: starting, failed to start, or one has died)."""
        if self._starting is None and self.failed is None:
            self._starting = asyncio.create_task(self._start(), name="ingest-workers-start")
        return self.ready

    async def started(self) -> bool:
        """Start the workers and wait for them (concurrent callers wait for the same start);
        whether they are ready to take groups."""
        self.start()
        if self._starting is not None:
            await asyncio.shield(self._starting)
        return self.ready

    async def _start(self) -> None:
        spawned = await asyncio.gather(
            *(self._spawn(n) for n in range(self.count)), return_exceptions=True
        )
        started = [w for w in spawned if isinstance(w, _Worker)]
        errors = [e for e in spawned if not isinstance(e, _Worker)]
        if errors:  # the run goes on in-process; none of the workers is kept
            self.failed = f"{type(errors[0]).__name__}: {errors[0]}"
            log.warning("storage workers could not start (%s); storing in-process", self.failed)
            await self._stop(started)
            return
        self._workers = started

    async def _spawn(self, number: int) -> _Worker:
        read_fd, write_fd = os.pipe()  # the worker's private reply channel (its stdout: logs)
        reply_pipe = os.fdopen(read_fd, "rb", buffering=0)
        try:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "ingest.pipeline.worker_main",
                str(write_fd),
                stdin=asyncio.subprocess.PIPE,
                pass_fds=(write_fd,),
            )
        except BaseException:
            reply_pipe.close()
            raise
        finally:
            os.close(write_fd)
        assert process.stdin is not None
        worker = _Worker(process, process.stdin)
        try:
            loop = asyncio.get_running_loop()
            reader = asyncio.StreamReader(limit=2**30)
            transport, _ = await loop.connect_read_pipe(
                lambda: asyncio.StreamReaderProtocol(reader), reply_pipe
            )
            worker.transport = transport
            write_frame(worker.writer, (self.settings, 1.0 / self.count))
            hello = await asyncio.wait_for(read_frame(reader), 60)
            if hello != "ready":
                raise RuntimeError(f"storage worker {number} did not start: {hello}")
        except BaseException:
            reply_pipe.close()
            await self._stop([worker])
            raise
        worker.reader_task = asyncio.create_task(self._replies(worker, reader))
        return worker

    async def _replies(self, worker: _Worker, reader: asyncio.StreamReader) -> None:
        try:
            while True:
                request_id, reply = await read_frame(reader)
                future = worker.pending.pop(request_id, None)
                if future is not None and not future.done():
                    future.set_result(reply)
        except (asyncio.IncompleteReadError, ConnectionError, OSError) as exc:
            message = f"a storage worker exited ({type(exc).__name__})"
            self.failed = self.failed or message  # later groups are stored in-process
            for future in worker.pending.values():
                if not future.done():
                    future.set_exception(RuntimeError(message))
            worker.pending.clear()

    async def store(
        self, work: list[Work], *, retries: int, copy_remote: bool
    ) -> tuple[list[Work], GroupState, list[tuple[float, bool]]]:
        """Store one group in the least busy worker: (filled work, state, upload timings)."""
        worker = min(self._workers, key=lambda w: w.frames)
        self.groups_dealt += 1
        request_id = next(self._ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        worker.pending[request_id] = future
        worker.frames += len(work)
        try:
            write_frame(worker.writer, ("store", request_id, work, retries, copy_remote))
            await worker.writer.drain()
            kind, *rest = await future
        except asyncio.CancelledError:
            worker.pending.pop(request_id, None)
            with contextlib.suppress(Exception):
                write_frame(worker.writer, ("cancel", request_id))
            raise
        finally:
            worker.frames -= len(work)
        if kind == "ok":
            filled, state, observed = rest
            return filled, state, observed
        if kind == "failed":
            failures, retries_done, new_keys = rest
            frames = [FrameFailed(n, s, RemoteError(c, m), a) for n, s, c, m, a in failures]
            raise GroupFailed(frames, retries_done, new_keys)
        error_class, message, new_keys = rest
        raise RemoteError(error_class, message, new_keys)

    async def close(self) -> None:
        if self._starting is not None:
            self._starting.cancel()
            with contextlib.suppress(BaseException):
                await self._starting
        workers, self._workers = self._workers, []
        await self._stop(workers)

    @staticmethod
    async def _stop(workers: list[_Worker]) -> None:
        """Close the workers' stdin (they finish and exit), kill those that do not."""
        for worker in workers:
            if worker.reader_task is not None:
                worker.reader_task.cancel()  # an exit on purpose is not a failure
            with contextlib.suppress(Exception):
                worker.writer.close()
        for worker in workers:
            try:
                await asyncio.wait_for(worker.process.wait(), 10)
            except TimeoutError:
                worker.process.kill()
                await worker.process.wait()
            if worker.transport is not None:
                worker.transport.close()
