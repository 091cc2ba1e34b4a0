"""JSONL manifest lines decoded in other processes, so a by-reference import uses every core.

Decoding a line (``decode.decode_line``: msgspec, then the document built in Python) and
serialising its document (``orjson``) were over half of the importing process's main thread
on a by-reference import (py-spy, 200k frames), and the GIL keeps that work on one core
whatever the threads. So for a big manifest, ``DecoderPool`` sends chunks of lines to
``processes`` decoder processes (``concurrent.futures.ProcessPoolExecutor``, spawned: the parent
runs threads) and hands the results back in input order. What crosses the boundary is bytes:
the lines, and per line the document serialised with the few fields the pipeline needs
(``documents.FrameDocument.encoded``); a line the fast path leaves to the object model comes
back as None and is read in the parent as before, so every line gets the same outcome and
message on both paths.

In auto mode, until the processes have started (a second or so of imports), chunks are decoded
in the parent, so the first groups commit as soon as without them and the run never waits on a
cold process (reading the manifest blocks the event loop, and with it the commits). A number
of processes set explicitly is honoured from the first chunk on: the run waits for them.
"""

from __future__ import annotations

import contextlib
import itertools
import multiprocessing
import os
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor

import orjson

from .catalog.sqlframes import revision
from .decode import decode_line
from .documents import FrameDocument
from .rows import LineTooLong
from .sources import is_remote, object_slots

#: a manifest this big (bytes) gets decoder processes when the setting is 0 (auto)
AUTO_MIN_BYTES = 16 << 20
CHUNK_LINES = 512
#: chunks read ahead (decoding or decoded) beyond the one being handed out, per process: one
#: being decoded and one queued keep a process busy; each chunk held costs memory
AHEAD_PER_PROCESS = 2

Numbered = tuple[int, bytes | LineTooLong]
#: (id, kind, context_id, timestamp, encoded document, id derived, by reference, frames, rev)
Decoded = tuple[str, str, str | None, float | None, bytes, bool, bool, int, str]
Result = tuple[FrameDocument, bool] | None


def decoder_count(setting: int, path: str) -> int:
    """Decoder processes for the manifest at ``path``: ``setting`` if > 0; else (auto) one less
    than the cores for a regular file of ``AUTO_MIN_BYTES`` or more, none below (a small
    import would pay more to start them than they save)."""
    if setting > 0:
        return setting
    cores = os.cpu_count() or 1
    try:
        big = os.path.isfile(path) and os.path.getsize(path) >= AUTO_MIN_BYTES
    except OSError:
        big = False
    return cores - 1 if big else 0


def decode_chunk(lines: list[tuple[int, bytes]], name: str, base_dir: str) -> list[Decoded | None]:
    """In a decoder process: each stripped line -> its ``Decoded`` fields, or None (the parent
    reads it through the object model, which names the problem)."""
    return [_decoded(raw, f"{name}:{number}", base_dir) for number, raw in lines]


def _decoded(raw: bytes, where: str, base_dir: str) -> Decoded | None:
    try:
        fast = decode_line(raw, where, base_dir)
        if fast is None:
            return None
        doc, derived = fast
        frames = doc.frames()
        remote = all(is_remote(uri) for _, f in frames for _, _, uri in object_slots(f))
        encoded = orjson.dumps(doc.doc)
    except Exception:  # unforeseen: the object model's reading rejects it with its reason
        return None
    rev = revision(encoded)  # here, not in the parent's catalog code
    fields = doc.id, doc.kind, doc.context_id, doc.timestamp, encoded, derived, remote
    return (*fields, len(frames), rev)


def decode_here(raw: bytes, where: str, base_dir: str) -> Result:
    """The in-process fast path of one raw line (blank lines: None)."""
    text = raw.strip()
    return decode_line(text, where, base_dir) if text else None


class DecoderPool:
    def __init__(self, processes: int, *, wait_for_start: bool = False) -> None:
        self.wait_for_start = wait_for_start
        self.ahead = AHEAD_PER_PROCESS * processes + 1
        self._executor = ProcessPoolExecutor(
            processes, mp_context=multiprocessing.get_context("spawn")
        )

    def decode(
        self, lines: Iterator[Numbered], name: str, base_dir: str
    ) -> Iterator[tuple[int, bytes | LineTooLong, Result]]:
        """(number, raw line or LineTooLong, fast-path result) of every line, in order."""
        pending: deque[tuple[list[Numbered], Future[list[Decoded | None]] | None]] = deque()
        started = self._executor.submit(decode_chunk, [], name, base_dir)  # starts them
        if self.wait_for_start:  # a failed start: decoded here, as below
            with contextlib.suppress(Exception):
                started.result()
        while chunk := list(itertools.islice(lines, CHUNK_LINES)):
            future = None
            if started.done() and started.exception() is None:  # else decoded here
                texts = [(n, raw.strip()) for n, raw in chunk if isinstance(raw, bytes)]
                texts = [(n, text) for n, text in texts if text]
                future = self._executor.submit(decode_chunk, texts, name, base_dir)
            pending.append((chunk, future))
            if len(pending) > self.ahead or pending[0][1] is None:
                yield from self._results(*pending.popleft(), name, base_dir)
        while pending:
            yield from self._results(*pending.popleft(), name, base_dir)

    @staticmethod
    def _results(
        chunk: list[Numbered],
        future: Future[list[Decoded | None]] | None,
        name: str,
        base_dir: str,
    ) -> Iterator[tuple[int, bytes | LineTooLong, Result]]:
        decoded = iter(future.result() if future is not None else ())
        for number, raw in chunk:
            if isinstance(raw, LineTooLong):
                yield number, raw, None
            elif future is None:
                yield number, raw, decode_here(raw, f"{name}:{number}", base_dir)
            elif not raw.strip():
                yield number, raw, None
            else:
                fields = next(decoded)
                yield number, raw, None if fields is None else _document(fields, name, number)

    def close(self) -> None:
        """Stop the processes and reap them (so their CPU is counted as this process's
        children's); a chunk being decoded finishes first (milliseconds)."""
        self._executor.shutdown(wait=True, cancel_futures=True)


def _document(fields: Decoded, name: str, number: int) -> tuple[FrameDocument, bool]:
    fid, kind, context_id, timestamp, encoded, derived, remote, frames, rev = fields
    where = f"{name}:{number}"
    document = FrameDocument(fid, kind, context_id, timestamp, None, where, encoded, remote)
    document.frame_count, document.rev = frames, rev
    return document, derived
