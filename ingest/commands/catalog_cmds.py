"""``ingest datasets|versions|frames|export``: look at and manage the catalog."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from typing import Any

import orjson

from ..catalog import SqlCatalog
from ..config import Settings
from . import EXIT_OK, echo


def _when(ts: float | None) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S") if ts else "-"


def _out(args: argparse.Namespace, rows: list[dict[str, Any]], columns: list[str]) -> None:
    if getattr(args, "json", False):
        sys.stdout.write(orjson.dumps(rows, option=orjson.OPT_INDENT_2).decode() + "\n")
        return
    widths = [max([len(c), *(len(str(r[c])) for r in rows)]) for c in columns]
    line = "  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True))
    sys.stdout.write(line.rstrip() + "\n")
    for row in rows:
        cells = (str(row[c]).ljust(w) for c, w in zip(columns, widths, strict=True))
        sys.stdout.write("  ".join(cells).rstrip() + "\n")


async def cmd_datasets(args: argparse.Namespace, settings: Settings, catalog: SqlCatalog) -> int:
    if args.action == "list":
        rows = []
        for d in await catalog.list_datasets():
            versions = await catalog.list_versions(d.id)
            rows.append(
                {
                    "name": d.name,
                    "id": d.id,
                    "versions": len(versions),
                    "tags": ",".join(d.tags),
                    "created": _when(d.created_at),
                    "description": d.description or "",
                }
            )
        _out(args, rows, ["name", "versions", "tags", "created", "id", "description"])
    elif args.action == "create":
        record = await catalog.create_dataset(
            args.name,
            tags=args.tag or [],
            description=args.description,
            raise_if_exists=args.raise_if_exists,
        )
        echo(f"dataset {record.name!r} [{record.id}]")
    else:
        record = await catalog.get_dataset(name=args.name)
        await catalog.delete_dataset(
            record.id, delete_all_versions=args.all_versions, force=args.force
        )
        echo(f"deleted dataset {record.name!r}")
    return EXIT_OK


async def cmd_versions(args: argparse.Namespace, settings: Settings, catalog: SqlCatalog) -> int:
    dataset = await catalog.get_dataset(name=args.dataset)
    if args.action == "list":
        rows = []
        for v in await catalog.list_versions(dataset.id):
            rows.append(
                {
                    "name": v.name,
                    "id": v.id,
                    "state": v.state,
                    "frames": await catalog.count_frames(v.id),
                    "parents": ",".join(v.parents),
                    "created": _when(v.created_at),
                }
            )
        _out(args, rows, ["name", "state", "frames", "created", "id", "parents"])
        return EXIT_OK
    if args.action == "create":
        parents = [
            (await catalog.get_version(dataset_id=dataset.id, name=p)).id for p in args.parent or []
        ]
        v = await catalog.create_version(
            dataset.id, args.name, parent_ids=parents, raise_if_exists=args.raise_if_exists
        )
        echo(f"version {v.name!r} [{v.id}] ({v.state})")
        return EXIT_OK
    version = await catalog.get_version(dataset_id=dataset.id, name=args.name)
    if args.action == "publish":
        v = await catalog.publish_version(version.id)
        echo(f"published version {v.name!r} [{v.id}]")
    else:
        snap, draft = await catalog.snapshot_version(version.id, args.publish_name, args.child_name)
        echo(f"published snapshot {snap.name!r} [{snap.id}]; draft {draft.name!r} goes on")
    return EXIT_OK


async def _version_id(catalog: SqlCatalog, dataset_name: str, version_name: str | None) -> str:
    dataset = await catalog.get_dataset(name=dataset_name)
    if version_name is None:
        return (await catalog.current_version(dataset.id)).id
    return (await catalog.get_version(dataset_id=dataset.id, name=version_name)).id


async def cmd_frames(args: argparse.Namespace, settings: Settings, catalog: SqlCatalog) -> int:
    version_id = await _version_id(catalog, args.dataset, args.version)
    stored = await catalog.get_frame(version_id, args.frame_id)
    sys.stdout.write(
        orjson.dumps(orjson.loads(stored.document), option=orjson.OPT_INDENT_2).decode() + "\n"
    )
    return EXIT_OK


async def cmd_export(args: argparse.Namespace, settings: Settings, catalog: SqlCatalog) -> int:
    """JSONL, one document per line, that ``ingest import`` takes back unchanged."""
    version_id = await _version_id(catalog, args.dataset, args.version)
    to_file = args.output and args.output != "-"
    out = open(args.output, "wb") if to_file else sys.stdout.buffer  # noqa: ASYNC230 - one-shot
    count = 0
    try:
        async for _, stored in catalog.iter_frames(version_id):
            out.write(stored.document + b"\n")
            count += 1
    finally:
        if out is not sys.stdout.buffer:
            out.close()
        else:
            out.flush()
    echo(f"exported {count} frames")
    return EXIT_OK
