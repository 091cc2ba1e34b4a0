"""``ingest import`` and ``ingest import-dir``: stream input through the pipeline."""

from __future__ import annotations

import argparse
import asyncio
import itertools
import sys
import time
from collections.abc import Iterator
from typing import Any

import orjson

from ..catalog import VersionRecord
from ..errors import StorageError
from ..layout import Layout, scan
from ..manifest import Entry, Manifest
from ..progress import Progress
from ..report import Report
from ..service import Ingest
from . import EXIT_OK, EXIT_REJECTED, Fatal, echo


async def run_import(
    args: argparse.Namespace, app: Ingest, entries: Any, version: VersionRecord, total: int | None
) -> int:
    try:  # fail fast (exit 3) when the store cannot be reached
        await app.check_storage()
    except (StorageError, TimeoutError) as exc:
        raise Fatal(f"storage {app.settings.storage_url} is unreachable: {exc}") from exc
    show_bar = not args.quiet and not args.json and sys.stderr.isatty()
    progress = Progress(show_bar=show_bar, total_groups=total)
    live: list[Report] = []
    try:
        report = await app.import_items(
            version.id,
            entries,
            upload_retries=args.upload_retries,
            copy_remote=args.copy_remote,
            progress=progress,
            on_start=live.append,
        )
    except asyncio.CancelledError:  # Ctrl-C / SIGTERM: what was committed stays; say so
        if live:
            progress.close(live[0])
            finish(args, live[0], version)
        echo("interrupted: re-run the same command to register the rest")
        raise
    progress.close(report)
    return finish(args, report, version)


def finish(args: argparse.Namespace, report: Report, version: VersionRecord) -> int:
    report_path = args.report
    if report.rejected and not report_path:
        report_path = f"ingest-report-{time.strftime('%Y%m%d-%H%M%S')}.jsonl"
    if report_path:
        report.write(report_path)
    s = report.summary
    if args.json:
        out = {**report.to_dict(), "report_path": report_path, "version_id": version.id}
        del out["rejected"]
        sys.stdout.write(orjson.dumps(out, option=orjson.OPT_INDENT_2).decode() + "\n")
    elif not args.quiet:
        echo(
            f"registered {s.frames_registered} frames in {s.groups_committed} new or changed "
            f"groups ({s.groups_unchanged} unchanged) into version {version.name!r} "
            f"[{version.id}]; uploaded {s.objects_uploaded} objects "
            f"({s.bytes_uploaded / 1e6:.1f} MB), {s.frames_by_reference} frames by reference, "
            f"{s.retries} retries, in {s.elapsed_s:.1f}s"
        )
    if report.rejected:
        echo(f"rejected {s.frames_rejected} frames; report: {report_path}")
        return EXIT_REJECTED
    return EXIT_OK


def _chain(manifests: list[Manifest]) -> Iterator[Entry]:
    return itertools.chain.from_iterable(manifests)


async def cmd_import(args: argparse.Namespace, app: Ingest) -> int:
    processes = app.settings.decode_processes
    manifests = [Manifest(p, args.format, decode_processes=processes) for p in args.manifests]
    header = manifests[0].header
    dataset = args.dataset or header.dataset
    version_name = args.version or header.version
    version = await app.resolve_version(dataset, version_name, create=args.create)
    total = None
    if not args.quiet and sys.stderr.isatty():
        counts = [m.count() for m in manifests]
        total = None if None in counts else sum(c for c in counts if c is not None)
    try:
        return await run_import(args, app, _chain(manifests), version, total)
    finally:
        for manifest in manifests:
            manifest.close()


async def cmd_import_dir(args: argparse.Namespace, app: Ingest) -> int:
    layout = Layout.parse(args.layout, args.frame_field)
    required = tuple(n.strip() for n in (args.require_frames or "").split(",") if n.strip())
    version = await app.resolve_version(args.dataset, args.version, create=args.create)
    return await run_import(args, app, scan(args.root, layout, required), version, None)
