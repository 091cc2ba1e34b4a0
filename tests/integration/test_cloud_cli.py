"""``ingest`` end to end on gs:// and az:// stores (the emulators, through the fault proxy that
counts the requests): import, verify, a re-run that uploads nothing, delete + gc."""

from __future__ import annotations

import json
from pathlib import Path

from ..cloudfixtures import BOTH_CLOUDS, CloudTarget
from ..envs import clean_env
from .test_cli import ROOT, run


@BOTH_CLOUDS
def test_import_verify_rerun_delete_and_gc(
    cloud: CloudTarget, sqlite_url: str, tmp_path: Path
) -> None:
    env = clean_env(
        INGEST_DATABASE_URL=sqlite_url, INGEST_STORAGE_URL=cloud.storage_url, **cloud.env()
    )
    manifest = str(ROOT / "examples" / "drive" / "manifest.jsonl")
    target = ["--dataset", "Drive", "--version", "v1"]
    done = run(["import", manifest, *target, "--create", "--json"], env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["summary"]["objects_uploaded"] == 16
    names = cloud.names()
    assert len(names) == 16 and all(n.startswith("frames/") for n in names)
    doc = json.loads(run(["export", *target], env).stdout.split("\n")[0])
    assert doc["frames"]["front"]["source"].startswith(f"{cloud.storage_url}/")
    assert doc["frames"]["front"]["width"] == 160  # read from the local file before upload

    checked = run(["verify"], env)
    assert checked.returncode == 0 and "verified 16 stored objects" in checked.stderr

    before = len(cloud.proxy.requests)
    again = run(["import", manifest, *target, "--json"], env)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["summary"]["objects_uploaded"] == 0
    # nothing uploaded, nothing asked but the start-up probe that the store is reachable
    new = cloud.proxy.requests[before:]
    assert [r.path.endswith(".ingest-probe") for r in new] == [True], new

    # an object gone from the store is found by verify
    victim = names[0]
    assert _delete(cloud, victim) and victim not in cloud.names()
    bad = run(["verify"], env)
    assert bad.returncode == 1 and "missing" in bad.stdout and victim in bad.stdout

    # the rest is removed by gc once no frame references it
    assert run(["datasets", "delete", "Drive", "--all-versions", "--force"], env).returncode == 0
    dry = run(["gc", "--dry-run", "--min-age", "0"], env)
    assert dry.returncode == 0 and len(dry.stdout.splitlines()) == 15 and len(cloud.names()) == 15
    swept = run(["gc", "--min-age", "0"], env)
    assert swept.returncode == 0 and "removed 15 unreferenced" in swept.stderr, swept.stderr
    assert cloud.names() == []


def _delete(cloud: CloudTarget, name: str) -> bool:
    import asyncio

    from ingest.storage import open_storage

    async def remove() -> bool:
        store = await open_storage(f"{cloud.storage_url.rsplit('/', 1)[0]}")
        try:
            await store.delete(name)
            return True
        finally:
            await store.close()

    return asyncio.run(remove())
