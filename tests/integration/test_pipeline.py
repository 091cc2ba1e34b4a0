"""The pipeline against real files and the local store (S3 and faults over HTTP: test_s3_*)."""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

import ingest
from ingest import DatasetVersion, FrameGroup, SingleFrame, TransientStorageError
from ingest.catalog import open_catalog
from ingest.errors import PermanentStorageError
from ingest.service import Ingest
from ingest.storage.local import LocalStorage

from ..images import write_png

CAMERAS = ("front", "front_left", "front_right", "rear", "rear_left", "rear_right")


def camera_groups(root: Path, n: int, cameras: tuple[str, ...] = CAMERAS) -> list[FrameGroup]:
    groups = []
    for i in range(n):
        fg = FrameGroup(context_id="drive", timestamp=float(i))
        for cam in cameras:
            path = root / cam / f"{i:06d}.png"
            if not path.exists():  # a re-run sees the very same files
                write_png(path, 8 + i, 6)
            fg[cam] = SingleFrame(source=str(path))
        groups.append(fg)
    return groups


def test_local_sources_are_uploaded_and_registered(
    lib: str, tmp_path: Path, storage_dir: Path
) -> None:
    version = DatasetVersion.create_new_dataset("Upload")
    groups = camera_groups(tmp_path / "in", 3)
    assert version.add_frames(groups, upload_retries=1) == []
    report = version.last_report
    assert report is not None
    assert report.summary.groups_committed == 3
    assert report.summary.frames_uploaded == 18
    assert report.summary.objects_uploaded == 18
    stored = version.get_frame(groups[1].id)
    front = stored["front"]
    # the registered URI points into the store, at an object with the source's bytes
    assert front.source.startswith(f"file://{storage_dir}/")
    stored_path = Path(front.source.removeprefix("file://"))
    assert stored_path.read_bytes() == (tmp_path / "in/front/000001.png").read_bytes()
    # width/height read from the image header; content type guessed
    assert (front.width, front.height) == (9, 6)
    assert front.content_type == "image/png"
    # the context id stays the original source (stable across stores)
    assert front.context_id == str(tmp_path / "in/front/000001.png")


def test_same_file_name_from_two_cameras_are_two_objects(lib: str, tmp_path: Path) -> None:
    version = DatasetVersion.create_new_dataset("Names")
    fg = FrameGroup()
    fg["a"] = SingleFrame(str(write_png(tmp_path / "a" / "000123.jpg", 4, 4, (1, 2, 3))))
    fg["b"] = SingleFrame(str(write_png(tmp_path / "b" / "000123.jpg", 4, 4, (9, 9, 9))))
    assert version.add_frames([fg]) == []
    got = version.get_frame(fg.id)
    assert got["a"].source != got["b"].source
    assert Path(got["a"].source[7:]).read_bytes() != Path(got["b"].source[7:]).read_bytes()


@pytest.mark.parametrize(
    "make_source, message",
    [
        (lambda d: str(d / "missing.png"), "file not found: "),
        (lambda d: str(d), "is a directory"),
        (lambda d: str(_empty(d / "empty.png")), "is empty (0 bytes)"),
        (lambda d: "ftp://host/x.png", "unsupported URI scheme 'ftp'"),
    ],
)
def test_bad_source_rejects_its_group_only(
    lib: str, tmp_path: Path, make_source: Any, message: str
) -> None:
    version = DatasetVersion.create_new_dataset("Bad")
    groups = camera_groups(tmp_path / "in", 4)
    bad = groups[2]
    bad["rear"] = SingleFrame(make_source(tmp_path))
    failed = version.add_frames(groups, upload_retries=3)
    assert failed == [bad] and failed[0] is bad
    assert version.get_frame_count() == 3
    with pytest.raises(ingest.FrameNotFound):
        version.get_frame(bad.id)
    report = version.last_report
    assert report is not None
    by_name = {r.frame_name: r for r in report.rejected}
    assert set(by_name) == set(CAMERAS)  # all six frames of the group are in the report
    rear = by_name["rear"]
    assert message in rear.message
    assert rear.attempts <= 1  # permanent errors are not retried
    assert rear.error_class in ("PermanentStorageError", "UnsupportedSource")
    assert rear.group_id == bad.id and rear.source == bad["rear"].source
    for name in set(CAMERAS) - {"rear"}:
        assert by_name[name].message == "group rejected: rear failed"
        assert by_name[name].error_class == "GroupRejected"
    assert report.summary.groups_rejected == 1 and report.summary.frames_rejected == 6
    # nothing lost silently: registered + rejected = input
    assert report.summary.frames_registered + report.summary.frames_rejected == 24


def _empty(path: Path) -> Path:
    path.write_bytes(b"")
    return path


def key_name(key: str) -> str:
    """The source's file name in an object key (``<2 hex>/<hash>-<folder>-<name>``)."""
    return key.rsplit("-", 1)[-1]


class CountingStore(LocalStorage):
    """The real local store, counting puts and failing on a script: basename -> errors."""

    def __init__(self, root: str, script: dict[str, list[BaseException]] | None = None) -> None:
        super().__init__(root)
        self.script = {k: list(v) for k, v in (script or {}).items()}
        self.puts: Counter[str] = Counter()

    async def put_file(self, key: str, path: str | int, size: int, content_type: str | None) -> str:
        name = key_name(key)  # path names the opened file (/proc/self/fd/N), the key the source
        self.puts[name] += 1
        pending = self.script.get(name)
        if pending:
            raise pending.pop(0)
        return await super().put_file(key, path, size, content_type)


async def _run(url: str, version_id: str, items: Any, store: Any, **kw: Any) -> ingest.Report:
    async with Ingest(ingest.get_settings(), store=store) as app:
        return await app.import_items(version_id, items, **kw)


async def test_retry_budget_per_frame(alib: str, tmp_path: Path, storage_dir: Path) -> None:
    version = await DatasetVersion.create_new_dataset_async("Retry")
    groups = camera_groups(tmp_path / "in", 3, ("cam",))
    transient = TransientStorageError
    store = CountingStore(
        str(storage_dir),
        {
            "000000.png": [transient("503"), transient("503")],  # = upload_retries: registered
            "000001.png": [transient("503")] * 3,  # > upload_retries: rejected
            "000002.png": [PermanentStorageError("AccessDenied")],  # permanent: one attempt
        },
    )
    report = await _run(alib, version.version_id, groups, store, upload_retries=2)
    assert store.puts == {"000000.png": 3, "000001.png": 3, "000002.png": 1}
    rejected = {r.group_id: r for r in report.rejected}
    assert set(rejected) == {groups[1].id, groups[2].id}
    assert rejected[groups[1].id].attempts == 3  # upload_retries + 1
    assert rejected[groups[1].id].error_class == "TransientStorageError"
    assert rejected[groups[2].id].attempts == 1
    assert report.summary.retries == 2 + 2
    assert await version.get_frame_count_async() == 1


async def test_rerun_uploads_and_registers_nothing_new(
    alib: str, tmp_path: Path, storage_dir: Path
) -> None:
    version = await DatasetVersion.create_new_dataset_async("Rerun")
    store = CountingStore(str(storage_dir))
    first = await _run(alib, version.version_id, camera_groups(tmp_path / "in", 4), store)
    assert first.summary.groups_committed == 4 and sum(store.puts.values()) == 24
    store.puts.clear()
    second = await _run(alib, version.version_id, camera_groups(tmp_path / "in", 4), store)
    assert sum(store.puts.values()) == 0
    assert second.summary.groups_committed == 0 and second.summary.groups_unchanged == 4
    assert second.summary.objects_already_stored == 24
    assert await version.get_frame_count_async() == 4


async def test_failed_group_cleans_objects_it_uploaded(
    alib: str, tmp_path: Path, storage_dir: Path
) -> None:
    version = await DatasetVersion.create_new_dataset_async("Clean")
    group = camera_groups(tmp_path / "in", 1)[0]
    group["rear"] = SingleFrame(str(tmp_path / "nope.png"))
    store = CountingStore(str(storage_dir))
    report = await _run(alib, version.version_id, [group], store)
    assert report.summary.groups_rejected == 1
    assert [o async for o in store.list()] == []  # invariant 5: no orphan left behind


async def test_async_input_is_consumed_lazily_and_bounded(
    alib: str, tmp_path: Path, storage_dir: Path
) -> None:
    version = await DatasetVersion.create_new_dataset_async("Lazy")
    ingest.configure(
        database_url=alib, storage_url=f"file://{storage_dir}", groups_in_flight=2, concurrency=2
    )
    produced = 0
    max_ahead = 0
    report_holder: dict[str, Any] = {}

    async def source() -> Any:
        nonlocal produced, max_ahead
        for i in range(12):
            produced += 1
            summary = report_holder.get("r")
            done = 0 if summary is None else summary.summary.groups_committed
            max_ahead = max(max_ahead, produced - done)
            yield SingleFrame(str(write_png(tmp_path / f"{i}.png")))

    def progress(report: ingest.Report) -> None:
        report_holder["r"] = report

    report = await _run(alib, version.version_id, source(), None, progress=progress)
    await ingest.aclose()
    assert report.summary.groups_committed == 12
    assert max_ahead <= 2 + 1  # never more than groups_in_flight read ahead (+ the one waiting)


async def test_cancel_commits_in_flight_groups_and_never_a_partial_one(
    alib: str, tmp_path: Path, storage_dir: Path
) -> None:
    version = await DatasetVersion.create_new_dataset_async("Cancel")
    ingest.configure(
        database_url=alib, storage_url=f"file://{storage_dir}", concurrency=2, groups_in_flight=4
    )

    class SlowStore(CountingStore):
        async def put_file(self, key: str, path: str | int, size: int, ct: str | None) -> str:
            await asyncio.sleep(0.05)
            return await super().put_file(key, path, size, ct)

    groups = camera_groups(tmp_path / "in", 40, ("a", "b", "c"))
    task = asyncio.create_task(_run(alib, version.version_id, groups, SlowStore(str(storage_dir))))
    await asyncio.sleep(0.4)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    catalog = await open_catalog(alib)
    try:
        stored = [s async for _, s in catalog.iter_frames(version.version_id)]
    finally:
        await catalog.close()
    assert 0 < len(stored) < 40
    for s in stored:  # every registered group is whole
        doc = FrameGroup.from_doc(__import__("orjson").loads(s.document))
        assert sorted(doc) == ["a", "b", "c"]


def test_rejected_group_keeps_objects_another_group_references(lib: str, tmp_path: Path) -> None:
    version = DatasetVersion.create_new_dataset("Shared")
    shared = write_png(tmp_path / "calib" / "preview.png")
    bad, good = FrameGroup(), FrameGroup()
    bad["cam"] = SingleFrame(str(tmp_path / "missing.png"))
    bad["other"] = SingleFrame(str(shared))
    good["cam"] = SingleFrame(str(write_png(tmp_path / "cam" / "1.png")), preview_uri=str(shared))
    assert version.add_frames([bad, good]) == [bad]
    preview = version.get_frame(good.id)["cam"].preview_uri
    assert preview is not None and Path(preview.removeprefix("file://")).is_file()


@pytest.fixture
def http_files(tmp_path: Path):
    """A real HTTP server on loopback serving tmp_path/www; 500 for paths under /flaky/ once."""
    import functools
    import http.server
    import threading

    www = tmp_path / "www"
    www.mkdir()
    failures = {"/flaky/a.png": 1}

    class Handler(http.server.SimpleHTTPRequestHandler):
        def do_GET(self) -> None:
            if failures.get(self.path, 0) > 0:
                failures[self.path] -= 1
                self.send_error(503)
                return
            super().do_GET()

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Handler, directory=str(www))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield www, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_remote_sources_by_reference_or_copied(lib: str, http_files, storage_dir: Path) -> None:
    www, base = http_files
    write_png(www / "flaky" / "a.png", 5, 4)
    write_png(www / "b.png", 7, 3)
    ingest.configure(  # the test server is on loopback, which copies refuse by default
        **{**ingest.get_settings().__dict__, "allow_private_addresses": 1}
    )
    version = DatasetVersion.create_new_dataset("Remote")
    by_ref = SingleFrame(f"{base}/b.png")
    assert version.add_frames([by_ref]) == []
    assert version.get_frame(by_ref.id).source == f"{base}/b.png"
    assert version.last_report.summary.frames_by_reference == 1  # type: ignore[union-attr]

    copied = FrameGroup()
    copied["a"] = SingleFrame(f"{base}/flaky/a.png")  # first GET fails with 503: retried
    copied["b"] = SingleFrame(f"{base}/b.png")
    copied["missing"] = SingleFrame(f"{base}/nope.png")
    assert version.add_frames([copied], upload_retries=2, copy_remote=True) == [copied]
    rejected = {r.frame_name: r for r in version.last_report.rejected}  # type: ignore[union-attr]
    assert "HTTP 404" in rejected["missing"].message and rejected["missing"].attempts == 1

    del copied["missing"]
    copied.id = None
    assert version.add_frames([copied], upload_retries=2, copy_remote=True) == []
    got = version.get_frame(copied.id)
    for name, original in (("a", www / "flaky" / "a.png"), ("b", www / "b.png")):
        assert got[name].source.startswith(f"file://{storage_dir}/remote/")
        assert Path(got[name].source[7:]).read_bytes() == original.read_bytes()


async def test_an_object_reused_while_a_rejected_group_deletes_it_is_stored_again(
    alib: str, tmp_path: Path, storage_dir: Path
) -> None:
    """The race behind invariant 5: group B wants the object group A's cleanup is removing."""
    version = await DatasetVersion.create_new_dataset_async("Race")
    shared = write_png(tmp_path / "calib" / "preview.png")

    class SlowStore(CountingStore):
        async def put_file(self, key: str, path: str | int, size: int, ct: str | None) -> str:
            if key.endswith("1.png"):
                await asyncio.sleep(0.1)  # B reaches the shared preview while A deletes it
            return await super().put_file(key, path, size, ct)

        async def delete(self, key: str) -> None:
            await asyncio.sleep(0.3)
            await super().delete(key)

    bad, good = FrameGroup(), FrameGroup()
    bad["cam"] = SingleFrame(str(tmp_path / "missing.png"))
    bad["other"] = SingleFrame(str(shared))
    good["cam"] = SingleFrame(str(write_png(tmp_path / "cam" / "1.png")), preview_uri=str(shared))
    report = await _run(alib, version.version_id, [bad, good], SlowStore(str(storage_dir)))
    assert report.rejected_items == [bad]
    got = await version.get_frame_async(good.id)
    assert os.path.isfile(got["cam"].preview_uri.removeprefix("file://"))  # noqa: ASYNC240


async def test_rejected_items_come_back_in_input_order(
    alib: str, tmp_path: Path, storage_dir: Path
) -> None:
    version = await DatasetVersion.create_new_dataset_async("Order")

    class Store(CountingStore):
        async def put_file(self, key: str, path: str | int, size: int, ct: str | None) -> str:
            if key.endswith("slow.png"):
                await asyncio.sleep(0.2)  # fails last, although it came first
            raise PermanentStorageError(f"no: {path}")

    names = ("first.png", "slow.png", "fast.png")  # the first group stores alone, then the rest
    items = [SingleFrame(str(write_png(tmp_path / name))) for name in names]
    items.insert(2, "not a frame")  # type: ignore[arg-type]
    report = await _run(alib, version.version_id, items, Store(str(storage_dir)))
    assert report.rejected_items == items
    assert [r.source for r in report.rejected][-1].endswith("slow.png")  # records: as they came


async def test_frame_documents_are_planned_stored_and_committed_like_objects(
    alib: str, tmp_path: Path, storage_dir: Path
) -> None:
    """Readers that decode straight to documents (no object model) get the same pipeline."""
    from ingest.documents import FrameDocument

    version = await DatasetVersion.create_new_dataset_async("Docs")
    local = str(write_png(tmp_path / "cam" / "1.png"))
    group = FrameGroup(context_id="drive", timestamp=1.0)
    group["cam"] = SingleFrame(local)
    group["ref"] = SingleFrame("https://host/ref.jpg")
    ingest.frames.ensure_id(group)
    as_doc = FrameDocument(group.id, "group", "drive", 1.0, group.to_doc(), "m.jsonl:1")
    missing = FrameDocument("gone", "single", None, None, {**SingleFrame(local).to_doc(),
                            "source": str(tmp_path / "nope.png")}, "m.jsonl:2")  # fmt: skip
    broken = FrameGroup()
    broken["cam"] = SingleFrame(local)
    broken["bad"] = SingleFrame(str(write_png(tmp_path / "cam" / "bad.png")))
    ingest.frames.ensure_id(broken)
    half = FrameDocument(broken.id, "group", None, None, broken.to_doc(), "m.jsonl:3")
    store = CountingStore(str(storage_dir), {"bad.png": [PermanentStorageError("refused")]})
    report = await _run(alib, version.version_id, [as_doc, missing, half], store)
    assert report.summary.frames_registered == 2
    first = report.rejected[0]
    assert (first.group_id, first.where) == ("gone", "m.jsonl:2")
    sibling = next(r for r in report.rejected if r.error_class == "GroupRejected")
    assert sibling.source == local  # as given, not the stored copy's URI
    stored = await version.get_frame_async(group.id)
    assert stored["cam"].source.startswith(f"file://{storage_dir}")
    assert stored["cam"].width and stored["cam"].height  # read from the header


async def test_the_first_group_is_stored_alone_then_groups_store_together(
    alib: str, tmp_path: Path, storage_dir: Path
) -> None:
    """The first group to store does not wait for the input to be read and planned, nor
    share the loop and the pool with the next groups (its commit is what a user sees first);
    the groups after it are stored several at a time."""
    version = await DatasetVersion.create_new_dataset_async("Lead")
    events: list[tuple[str, str]] = []  # ("start" | "end", group number)
    in_flight, most, pulled, pulled_at_first_put = 0, 0, 0, -1

    class Store(CountingStore):
        async def put_file(self, key: str, path: str | int, size: int, ct: str | None) -> str:
            nonlocal in_flight, most
            group = key_name(key).split(".")[0]
            events.append(("start", group))
            in_flight += 1
            most = max(most, in_flight)
            await asyncio.sleep(0.02)
            try:
                return await super().put_file(key, path, size, ct)
            finally:
                in_flight -= 1
                events.append(("end", group))

        def key_of(self, uri: str) -> str | None:  # the first group's storing has begun
            nonlocal pulled_at_first_put
            if pulled_at_first_put < 0:
                pulled_at_first_put = pulled
            return super().key_of(uri)

    groups = camera_groups(tmp_path / "in", 40, ("a", "b", "c"))

    def read() -> Any:
        nonlocal pulled
        for group in groups:
            pulled += 1
            yield group

    report = await _run(alib, version.version_id, read(), Store(str(storage_dir)))
    assert report.summary.groups_committed == 40
    assert pulled_at_first_put <= 2  # not after the whole window of groups in flight
    first = next(i for i, (_, group) in enumerate(events) if group != "000000")
    assert all(group == "000000" for _, group in events[:first]) and first == 6  # 3 x start, end
    assert most > 3  # the rest overlap: several groups' uploads at once


async def test_a_slow_first_group_holds_the_others_back_one_commit_interval_at_most(
    alib: str, tmp_path: Path, storage_dir: Path
) -> None:
    version = await DatasetVersion.create_new_dataset_async("SlowLead")
    ends: dict[str, float] = {}
    loop = asyncio.get_running_loop()

    class Store(CountingStore):
        async def put_file(self, key: str, path: str | int, size: int, ct: str | None) -> str:
            group = key_name(key).split(".")[0]
            if group == "000000":
                await asyncio.sleep(3)  # e.g. retrying with backoff
            stored = await super().put_file(key, path, size, ct)
            ends[group] = loop.time()
            return stored

    groups = camera_groups(tmp_path / "in", 3, ("a",))
    report = await _run(alib, version.version_id, groups, Store(str(storage_dir)))
    assert report.summary.groups_committed == 3
    assert ends["000001"] < ends["000000"] - 1.5 and ends["000002"] < ends["000000"] - 1.5
