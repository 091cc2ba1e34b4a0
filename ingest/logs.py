"""Logging set-up: plain or JSON lines on stderr, carrying the current job and group ids."""

from __future__ import annotations

import contextvars
import logging
import sys
import time

import orjson

#: the job the current task works on (set by the daemon's worker)
current_job: contextvars.ContextVar[str | None] = contextvars.ContextVar("job", default=None)

_EXTRA = ("group", "frame", "job", "manifest", "worker", "outcome", "error")


class ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "job", None) is None:
            record.job = current_job.get()
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, object] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key in _EXTRA:
            value = getattr(record, key, None)
            if isinstance(value, str | int | float):  # not another library's (procrastinate's
                doc[key] = value  # ``job`` is a dict of its own)
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(doc, default=str).decode()


class PlainFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extras = " ".join(
            f"{k}={getattr(record, k)}" for k in _EXTRA if getattr(record, k, None) is not None
        )
        return f"{line} {extras}" if extras else line


def setup_logging(*, json: bool = False, level: int = logging.INFO) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(ContextFilter())
    handler.setFormatter(
        JsonFormatter()
        if json
        else PlainFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("watchfiles").setLevel(logging.WARNING)
    logging.getLogger("procrastinate").setLevel(logging.WARNING)  # a line per job otherwise
