"""``ingest verify`` and ``ingest gc``: registered URIs point at whole objects; no orphans."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from typing import Any

import orjson

from ..catalog import VersionRecord
from ..service import Ingest
from ..sources import document_uris
from . import EXIT_OK, EXIT_REJECTED, echo


async def _scope(app: Ingest, dataset: str | None, version: str | None) -> list[VersionRecord]:
    datasets = [await app.get_dataset(name=dataset)] if dataset else await app.list_datasets()
    out = []
    for d in datasets:
        if version:
            out.append((await app.find_version(dataset_id=d.id, version_name=version))[1])
        else:
            out.extend(await app.list_versions(d.id))
    return out


async def cmd_verify(args: argparse.Namespace, app: Ingest) -> int:
    store = await app.store()
    limit = asyncio.Semaphore(32)
    problems = checked = outside = 0

    async def check(uri: str, recorded: int | None) -> str | None:
        key = store.key_of(uri)
        assert key is not None
        async with limit:
            found = await store.stat(key)
        if found is None:
            return "missing"
        if recorded is not None and recorded != found.size:
            return f"size {found.size} != recorded {recorded}"
        return None

    for version in await _scope(app, args.dataset, args.version):
        batch: list[tuple[str, str]] = []
        async for _, stored in app.iter_frames(version.id):
            for uri in document_uris(orjson.loads(stored.document)):
                if store.key_of(uri) is None:
                    outside += 1  # remote, registered by reference
                else:
                    batch.append((stored.id, uri))
            if len(batch) >= 500:
                problems += await _check_batch(app, version, batch, check)
                checked += len(batch)
                batch = []
        problems += await _check_batch(app, version, batch, check)
        checked += len(batch)
    echo(
        f"verified {checked} stored objects ({outside} remote URIs not checked): "
        f"{problems} problem(s)"
    )
    return EXIT_REJECTED if problems else EXIT_OK


async def _check_batch(
    app: Ingest, version: VersionRecord, batch: list[tuple[str, str]], check: Any
) -> int:
    if not batch:
        return 0
    sizes = await app.object_sizes([uri for _, uri in batch])
    results = await asyncio.gather(*(check(uri, sizes.get(uri)) for _, uri in batch))
    problems = 0
    for (frame_id, uri), problem in zip(batch, results, strict=True):
        if problem:
            problems += 1
            sys.stdout.write(f"{version.name}\t{frame_id}\t{uri}\t{problem}\n")
    return problems


async def cmd_gc(args: argparse.Namespace, app: Ingest) -> int:
    """Remove stored objects that no frame of any version references."""
    store = await app.store()
    referenced: set[str] = set()
    async for document in app.iter_all_documents():
        for uri in document_uris(orjson.loads(document)):
            key = store.key_of(uri)
            if key is not None:
                referenced.add(key)
    cutoff = time.time() - args.min_age
    orphans, young = [], 0
    async for obj in store.list():
        if obj.key in referenced:
            continue
        if obj.modified is not None and obj.modified > cutoff:
            young += 1  # maybe an import in flight: spare it
            continue
        orphans.append(obj)
    for obj in orphans:
        sys.stdout.write(f"{store.uri(obj.key)}\t{obj.size}\n")
        if not args.dry_run:
            await store.delete(obj.key)
    partials = 0
    if not args.dry_run:
        await app.forget_objects([store.uri(o.key) for o in orphans])
        partials = await store.remove_stale_partials(args.min_age)  # left by killed writers
    verb = "would remove" if args.dry_run else "removed"
    echo(
        f"{verb} {len(orphans)} unreferenced object(s), "
        f"{sum(o.size for o in orphans) / 1e6:.1f} MB; kept {len(referenced)} referenced; "
        f"spared {young} younger than {args.min_age:g}s; removed {partials} stale partial "
        "upload(s)"
    )
    return EXIT_OK
