"""``ingest datasets|versions|frames|export``: look at and manage the catalog."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from typing import Any

import orjson

from ..errors import ConfigError
from ..service import Ingest
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


async def cmd_datasets(args: argparse.Namespace, app: Ingest) -> int:
    if args.action == "list":
        rows = [
            {
                "name": d.name,
                "id": d.id,
                "versions": count,
                "tags": ",".join(d.tags),
                "created": _when(d.created_at),
                "description": d.description or "",
            }
            for d, count in await app.datasets_with_version_counts()
        ]
        _out(args, rows, ["name", "versions", "tags", "created", "id", "description"])
    elif args.action == "create":
        record = await app.create_dataset(
            args.name,
            tags=args.tag or [],
            description=args.description,
            raise_if_exists=args.raise_if_exists,
        )
        echo(f"dataset {record.name!r} [{record.id}]")
    else:
        record = await app.delete_dataset(
            args.name, delete_all_versions=args.all_versions, force=args.force
        )
        echo(f"deleted dataset {record.name!r}")
    return EXIT_OK


async def cmd_versions(args: argparse.Namespace, app: Ingest) -> int:
    dataset = await app.get_dataset(name=args.dataset)
    if args.action == "list":
        rows = [
            {
                "name": v.name,
                "id": v.id,
                "state": v.state,
                "frames": frames,
                "parents": ",".join(v.parents),
                "created": _when(v.created_at),
            }
            for v, frames in await app.versions_with_frame_counts(dataset.id)
        ]
        _out(args, rows, ["name", "state", "frames", "created", "id", "parents"])
        return EXIT_OK
    if args.action == "create":
        v = await app.create_version(
            dataset, args.name, parent_names=args.parent or [], raise_if_exists=args.raise_if_exists
        )
        echo(f"version {v.name!r} [{v.id}] ({v.state})")
        return EXIT_OK
    _, version = await app.find_version(dataset_id=dataset.id, version_name=args.name)
    if args.action == "publish":
        v = await app.publish_version(version.id)
        echo(f"published version {v.name!r} [{v.id}]")
    else:
        snap, draft = await app.snapshot_version(
            dataset, version.id, args.publish_name, args.child_name
        )
        echo(
            f"published snapshot {snap.name!r} [{snap.id}]; new draft {draft.name!r} "
            f"[{draft.id}] goes on"
        )
    return EXIT_OK


async def cmd_frames(args: argparse.Namespace, app: Ingest) -> int:
    _, version = await app.find_version(args.dataset, args.version)
    document = await app.get_frame_document(version.id, args.frame_id)
    sys.stdout.write(
        orjson.dumps(orjson.loads(document), option=orjson.OPT_INDENT_2).decode() + "\n"
    )
    return EXIT_OK


async def cmd_export(args: argparse.Namespace, app: Ingest) -> int:
    """JSONL, one document per line, that ``ingest import`` takes back unchanged; or COCO,
    YOLO files in a folder, what they cannot hold listed on stderr."""
    _, version = await app.find_version(args.dataset, args.version)
    if args.format != "jsonl":
        if not args.output or args.output == "-":
            raise ConfigError(f"--format {args.format} writes files: name a folder with -o")
        done = await app.export_format(
            version.id, args.format, args.output, per_frame_name=args.per_frame_name
        )
        for line in done.losses:
            echo(line)
        echo(f"exported {done.frames} frames as {args.format}: {', '.join(done.files)}")
        return EXIT_OK
    to_file = args.output and args.output != "-"
    out = open(args.output, "wb") if to_file else sys.stdout.buffer  # noqa: ASYNC230 - one-shot
    count = 0
    try:
        async for _, stored in app.iter_frames(version.id):
            out.write(stored.document + b"\n")
            count += 1
    finally:
        if out is not sys.stdout.buffer:
            out.close()
        else:
            out.flush()
    echo(f"exported {count} documents (FrameGroups and lone SingleFrames)")
    return EXIT_OK
