"""Live progress on a terminal, and error lines on stderr as rejections happen."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from .report import Report

MAX_ERROR_LINES = 50


def format_eta(seconds: float) -> str:
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def render(report: Report, elapsed: float, total_groups: int | None) -> str:
    s = report.summary
    done = s.groups_committed + s.groups_unchanged + s.groups_rejected
    rate = s.frames_registered / elapsed if elapsed > 0 else 0.0
    parts = [f"groups {done}" + (f"/{total_groups}" if total_groups else "")]
    parts.append(f"frames {s.frames_registered}")
    parts.append(f"{rate:,.0f} frames/s")
    parts.append(f"rejected {s.frames_rejected}")
    if total_groups and done and elapsed > 0:
        remaining = max(0, total_groups - done) * elapsed / done
        parts.append(f"ETA {format_eta(remaining)}")
    return " | ".join(parts)


class Progress:
    """Calls from the pipeline after each commit or rejection; draws at most 10 times a second.

    Error lines (file:line or group/frame, and why) go to ``errors`` for the first
    ``MAX_ERROR_LINES`` rejections, whatever ``show_bar`` says.
    """

    def __init__(
        self,
        *,
        show_bar: bool,
        total_groups: int | None = None,
        stream: TextIO | None = None,
    ) -> None:
        self.stream = stream or sys.stderr
        self.show_bar = show_bar
        self.total_groups = total_groups
        self._start = time.monotonic()
        self._last_draw = 0.0
        self._printed = 0
        self._drawn = False

    def __call__(self, report: Report) -> None:
        self._print_errors(report)
        now = time.monotonic()
        if self.show_bar and now - self._last_draw >= 0.1:
            self._last_draw = now
            line = render(report, now - self._start, self.total_groups)
            self.stream.write("\r\x1b[2K" + line)
            self.stream.flush()
            self._drawn = True

    def _print_errors(self, report: Report) -> None:
        new = report.rejected[self._printed : MAX_ERROR_LINES]
        if not new:
            return
        if self._drawn:
            self.stream.write("\r\x1b[2K")
        for record in new:
            where = record.where or "/".join(p for p in (record.group_id, record.frame_name) if p)
            self.stream.write(f"rejected {where}: {record.error_class}: {record.message}\n")
        self._printed += len(new)
        if self._printed == MAX_ERROR_LINES:
            self.stream.write("(further rejections are only in the report)\n")
        self.stream.flush()

    def close(self, report: Report) -> None:
        self._print_errors(report)
        if self.show_bar:
            line = render(report, time.monotonic() - self._start, self.total_groups)
            self.stream.write("\r\x1b[2K" + line + "\n")
            self.stream.flush()
