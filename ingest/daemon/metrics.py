"""Prometheus metrics of one daemon process (its own registry)."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)

from ..report import Report, Summary

disable_created_metrics()  # the *_created series only add noise here


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.groups = Counter("ingest_groups", "FrameGroups by outcome", ["outcome"], registry=r)
        self.frames = Counter("ingest_frames", "Frames by outcome", ["outcome"], registry=r)
        self.retries = Counter(
            "ingest_upload_retries", "Upload attempts that were retries", registry=r
        )
        self.uploads = Histogram(
            "ingest_upload_seconds",
            "Duration of one upload attempt",
            ["ok"],
            registry=r,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
        )
        self.jobs_processed = Counter(
            "ingest_jobs_processed", "Jobs this worker ended", ["outcome"], registry=r
        )
        self.jobs = Gauge(
            "ingest_jobs", "This inbox's jobs in the queue by state", ["state"], registry=r
        )
        self.chunks_completed = Counter(
            "ingest_chunks_completed", "Chunks this process ran to the end", registry=r
        )
        self.chunks_failed = Counter(
            "ingest_chunks_failed", "Chunks this process ended as failed", registry=r
        )
        self.chunks = Gauge(
            "ingest_chunks", "Chunks of running imports by state", ["manifest", "state"], registry=r
        )
        self.groups_in_flight = Gauge(
            "ingest_groups_in_flight", "Groups being processed", registry=r
        )
        self.uploads_in_flight = Gauge("ingest_uploads_in_flight", "Uploads in flight", registry=r)
        for outcome in ("committed", "unchanged", "rejected"):
            self.groups.labels(outcome)
        for outcome in ("registered", "uploaded", "by_reference", "rejected"):
            self.frames.labels(outcome)
        for outcome in ("done", "failed", "released"):
            self.jobs_processed.labels(outcome)

    def chunk_ended(self, state: str) -> None:
        if state == "done":
            self.chunks_completed.inc()
        elif state == "failed":
            self.chunks_failed.inc()

    def set_chunks(self, per_manifest: dict[str, dict[str, int]]) -> None:
        """The chunks pending / running / done... of each running import's manifest."""
        self.chunks.clear()
        for manifest, counts in per_manifest.items():
            for state, n in counts.items():
                self.chunks.labels(manifest, state).set(n)

    def observe_upload(self, seconds: float, ok: bool) -> None:
        self.uploads.labels("true" if ok else "false").observe(seconds)

    def follower(self) -> Callable[[Report], None]:
        """A progress callback that adds each report's growth to the counters."""
        seen = Summary()

        def follow(report: Report) -> None:
            s = report.summary
            pairs = (
                (self.groups.labels("committed"), s.groups_committed, seen.groups_committed),
                (self.groups.labels("unchanged"), s.groups_unchanged, seen.groups_unchanged),
                (self.groups.labels("rejected"), s.groups_rejected, seen.groups_rejected),
                (self.frames.labels("registered"), s.frames_registered, seen.frames_registered),
                (self.frames.labels("uploaded"), s.frames_uploaded, seen.frames_uploaded),
                (
                    self.frames.labels("by_reference"),
                    s.frames_by_reference,
                    seen.frames_by_reference,
                ),
                (self.frames.labels("rejected"), s.frames_rejected, seen.frames_rejected),
                (self.retries, s.retries, seen.retries),
            )
            for counter, now, before in pairs:
                if now > before:
                    counter.inc(now - before)
            for name in (
                "groups_committed",
                "groups_unchanged",
                "groups_rejected",
                "frames_registered",
                "frames_uploaded",
                "frames_by_reference",
                "frames_rejected",
                "retries",
            ):
                setattr(seen, name, getattr(s, name))

        return follow

    def render(self) -> bytes:
        return generate_latest(self.registry)
