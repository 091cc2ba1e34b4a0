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

from ..catalog import SqlCatalog, VersionRecord
from ..config import Settings
from ..errors import ConfigError, DatasetNotFound, StorageError, VersionNotFound
from ..layout import Layout, scan
from ..manifest import Entry, Manifest
from ..pipeline import Pipeline
from ..progress import Progress
from ..report import Report
from . import EXIT_OK, EXIT_REJECTED, Fatal, echo


async def resolve_version(
    catalog: SqlCatalog, dataset: str | None, version: str | None, create: bool
) -> VersionRecord:
    if not dataset or not version:
        raise ConfigError("name the target with --dataset and --version (or a manifest header)")
    try:
        record = await catalog.get_dataset(name=dataset)
    except DatasetNotFound:
        if not create:
            raise DatasetNotFound(
                f"dataset {dataset!r} does not exist (pass --create to create it)"
            ) from None
        record = await catalog.create_dataset(dataset)
    try:
        return await catalog.get_version(dataset_id=record.id, name=version)
    except VersionNotFound:
        if not create:
            raise VersionNotFound(
                f"version {version!r} does not exist in dataset {dataset!r} "
                "(pass --create to create it)"
            ) from None
        return await catalog.create_version(record.id, version)


async def check_storage(settings: Settings) -> None:
    """Fail fast (exit 3) when the configured store cannot be reached."""
    from ..storage.factory import open_storage

    try:
        store = await open_storage(
            settings.storage_url,
            endpoint_url=settings.s3_endpoint_url or None,
            region=settings.s3_region,
            concurrency=1,
            timeout_s=min(settings.upload_timeout_s, 20),
        )
        try:
            await store.stat(".ingest-probe")
        finally:
            await store.close()
    except StorageError as exc:
        raise Fatal(f"storage {settings.storage_url} is unreachable: {exc}") from exc


async def run_import(
    args: argparse.Namespace,
    settings: Settings,
    catalog: SqlCatalog,
    entries: Any,
    version: VersionRecord,
    total: int | None,
) -> int:
    await check_storage(settings)
    show_bar = not args.quiet and not args.json and sys.stderr.isatty()
    progress = Progress(show_bar=show_bar, total_groups=total)
    pipeline = Pipeline(
        catalog=catalog,
        version_id=version.id,
        settings=settings,
        upload_retries=args.upload_retries,
        copy_remote=args.copy_remote,
        progress=progress,
    )
    try:
        report = await pipeline.run(entries)
    except asyncio.CancelledError:  # Ctrl-C / SIGTERM: what was committed stays; say so
        progress.close(pipeline.report)
        finish(args, pipeline.report, version)
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


async def cmd_import(args: argparse.Namespace, settings: Settings, catalog: SqlCatalog) -> int:
    manifests = [Manifest(path, args.format) for path in args.manifests]
    header = manifests[0].header
    dataset = args.dataset or header.dataset
    version_name = args.version or header.version
    version = await resolve_version(catalog, dataset, version_name, args.create)
    total = None
    if not args.quiet and sys.stderr.isatty():
        counts = [m.count() for m in manifests]
        total = None if None in counts else sum(c for c in counts if c is not None)
    try:
        return await run_import(args, settings, catalog, _chain(manifests), version, total)
    finally:
        for manifest in manifests:
            manifest.close()


async def cmd_import_dir(args: argparse.Namespace, settings: Settings, catalog: SqlCatalog) -> int:
    layout = Layout.parse(args.layout, args.frame_field)
    required = tuple(n.strip() for n in (args.require_frames or "").split(",") if n.strip())
    version = await resolve_version(catalog, args.dataset, args.version, args.create)
    return await run_import(
        args, settings, catalog, scan(args.root, layout, required), version, None
    )
