"""``ingest import`` with decoder processes (``decode_processes``, decodepool.py) registers and
rejects exactly what the importing process alone does, on both catalogs: the same documents
and revisions, local sources still stored, bad lines rejected at their file:line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import orjson

from ingest.catalog.sql import SqlCatalog, revision

from ..envs import clean_env
from ..images import write_png

INGEST = str(Path(sys.executable).parent / "ingest")
H = "https://data.example.com"


def _manifest(tmp_path: Path) -> Path:
    write_png(tmp_path / "cam" / "local.png")
    lines = [
        orjson.dumps(
            {
                "context_id": f"drive-{i // 50}",
                "timestamp": i * 0.1,
                "frames": {
                    cam: {
                        "source": f"{H}/{cam}/{i}.jpg",
                        "width": 1920,
                        "height": 1080,
                        "annotations": [{"box2d_xywh": [1, 2, 3, 4], "labels": ["car"]}],
                    }
                    for cam in ("front", "rear")
                },
            }
        )
        for i in range(1500)  # three chunks of 512 lines and more
    ]
    lines[7] = b'{"frames": {"front": {"source": ""}}}'  # an empty source: rejected
    lines[600] = b"{not json"
    lines[1200] = orjson.dumps({"frames": {"front": {"source": "cam/local.png"}}})  # stored
    lines[1300] = lines[1299]  # the same group again: a duplicate id
    path = tmp_path / "m.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def _import(database_url: str, tmp_path: Path, manifest: Path, version: str, processes: str):
    env = clean_env(
        INGEST_DATABASE_URL=database_url,
        INGEST_STORAGE_URL=f"file://{tmp_path / 'objects'}",
        INGEST_DECODE_PROCESSES=processes,
    )
    report = tmp_path / f"{version}.report.jsonl"
    args = ["import", str(manifest), "--dataset", "D", "--version", version, "--create"]
    done = subprocess.run(
        [INGEST, *args, "--json", "--report", str(report)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 1, done.stderr  # 1: some frames rejected
    rejected = [json.loads(line) for line in report.read_text().splitlines()]
    return json.loads(done.stdout)["summary"], rejected


async def _documents(database_url: str, version_name: str) -> dict[str, bytes]:
    catalog = await SqlCatalog.open(database_url)
    try:
        dataset = await catalog.get_dataset(name="D")
        version = await catalog.get_version(dataset_id=dataset.id, name=version_name)
        rows = await catalog.db.fetchall(
            "SELECT f.rev, f.document FROM version_frames vf JOIN frames f "
            "ON f.row_id = vf.frame_row WHERE vf.version_id = ?",
            (version.id,),
        )
        assert all(rev == revision(doc.encode()) for rev, doc in rows)  # revisions as computed here
        return {s.id: s.document async for _, s in catalog.iter_frames(version.id)}
    finally:
        await catalog.close()


async def test_decoder_processes_register_what_the_parent_alone_does(
    database_url: str, tmp_path: Path
) -> None:
    manifest = _manifest(tmp_path)
    alone, rejected_alone = _import(database_url, tmp_path, manifest, "alone", "0")  # small: none
    pooled, rejected_pooled = _import(database_url, tmp_path, manifest, "pooled", "1")
    assert pooled["frames_registered"] == alone["frames_registered"] == 2 * 1496 + 1
    assert pooled["frames_rejected"] == alone["frames_rejected"] > 0
    assert alone["objects_uploaded"] == 1  # the local frame; the second run finds it stored
    assert pooled["objects_uploaded"] + pooled["objects_already_stored"] == 1
    assert rejected_pooled == rejected_alone
    assert {r["where"] for r in rejected_pooled} == {f"{manifest}:{n}" for n in (8, 601, 1301)}
    assert await _documents(database_url, "pooled") == await _documents(database_url, "alone")
