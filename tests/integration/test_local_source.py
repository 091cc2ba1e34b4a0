"""``get_local_source()`` / ``get_local_mask_source()``: local sources as they are; others
downloaded into the cache (content-addressed, safe across processes, LRU-bounded), from the
configured store (S3 here) or by reference (http, with the private-address refusal)."""

from __future__ import annotations

import asyncio
import hashlib
import multiprocessing
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

import ingest
from ingest import DatasetVersion, FrameGroup, SingleFrame
from ingest.remote import PrivateAddressRefused
from tests.images import png_bytes

KiB = 1024
BODIES = {f"/{name}": bytes([i]) * (400 * KiB) for i, name in enumerate("abcd")}
BODIES["/img.png"] = png_bytes(6, 6)
BODIES["/mask.png"] = png_bytes(6, 6, (1, 1, 1))


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    hits: dict[str, int]


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        self.server.hits[self.path] = self.server.hits.get(self.path, 0) + 1
        body = BODIES.get(self.path.split("?")[0])
        if body is None:
            self.send_error(404)
            return
        if "slow" in self.path:
            threading.Event().wait(0.5)  # the other processes arrive meanwhile
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def http() -> Iterator[tuple[str, dict[str, int]]]:
    server = _Server(("127.0.0.1", 0), _Handler)
    server.hits = {}
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", server.hits
    server.shutdown()
    server.server_close()


def _configure(lib: str, tmp_path: Path, **extra: object) -> Path:
    cache = tmp_path / "cache"
    ingest.configure(
        database_url=lib, storage_url=f"file://{tmp_path}/objects", cache_dir=str(cache), **extra
    )
    return cache


def test_local_sources_are_their_own_local_copy(lib: str, tmp_path: Path) -> None:
    _configure(lib, tmp_path)
    (tmp_path / "a.png").write_bytes(png_bytes(4, 4))
    version = DatasetVersion.create_new_dataset("D")
    version.add_frames([SingleFrame(str(tmp_path / "a.png"), mask_source=str(tmp_path / "a.png"))])
    (stored,) = version.iter_frames()
    assert stored.source.startswith(f"file://{tmp_path}/objects/")  # uploaded to the store
    path = stored.get_local_source()
    assert path == stored.source[len("file://") :]
    assert Path(path).read_bytes() == png_bytes(4, 4)
    assert stored.get_local_mask_source() == stored.masks["semantic"][len("file://") :]
    assert SingleFrame(str(tmp_path / "a.png")).get_local_mask_source() is None
    with pytest.raises(ingest.StorageError, match="file not found"):
        SingleFrame(str(tmp_path / "gone.png")).get_local_source()


def test_by_reference_http_is_refused_on_private_addresses(
    lib: str, tmp_path: Path, http: tuple[str, dict[str, int]]
) -> None:
    _configure(lib, tmp_path)
    with pytest.raises(PrivateAddressRefused):
        SingleFrame(f"{http[0]}/img.png").get_local_source()
    assert http[1] == {}


def test_by_reference_http_is_downloaded_once_into_the_cache(
    lib: str, tmp_path: Path, http: tuple[str, dict[str, int]]
) -> None:
    base, hits = http
    cache = _configure(lib, tmp_path, allow_private_addresses=1)
    frame_group = FrameGroup()
    frame_group["000002"] = SingleFrame(f"{base}/img.png", masks_source=[f"{base}/mask.png"])
    frame = frame_group["000002"]
    path = frame.get_local_source()
    assert Path(path).read_bytes() == BODIES["/img.png"]
    assert Path(path).name == hashlib.sha256(BODIES["/img.png"]).hexdigest()  # by content
    assert Path(path).is_relative_to(cache)
    assert frame.get_local_source() == path and hits["/img.png"] == 1  # a cache hit
    mask = frame.get_local_mask_source()
    assert Path(mask).read_bytes() == BODIES["/mask.png"]
    assert frame.get_local_mask_source("00") == mask
    with pytest.raises(KeyError):
        frame.get_local_mask_source("01")


async def test_async_twin(alib: str, tmp_path: Path, http: tuple[str, dict[str, int]]) -> None:
    _configure(alib, tmp_path, allow_private_addresses=1)
    path = await SingleFrame(f"{http[0]}/img.png").get_local_source_async()
    assert hashlib.sha256(BODIES["/img.png"]).hexdigest() == Path(path).name
    await ingest.aclose()


def test_the_cache_is_bounded_least_recently_used_first(
    lib: str, tmp_path: Path, http: tuple[str, dict[str, int]]
) -> None:
    base, hits = http
    cache = _configure(lib, tmp_path, allow_private_addresses=1, cache_max_mb=1)
    a = SingleFrame(f"{base}/a").get_local_source()
    b = SingleFrame(f"{base}/b").get_local_source()
    assert SingleFrame(f"{base}/a").get_local_source() == a  # a is now the most recent
    c = SingleFrame(f"{base}/c").get_local_source()  # 1200 KiB > 1 MiB: b goes
    assert Path(a).exists() and Path(c).exists() and not Path(b).exists()
    on_disk = sum(p.stat().st_size for p in (cache / "objects").rglob("*") if p.is_file())
    assert on_disk <= 1024 * KiB
    assert Path(SingleFrame(f"{base}/b").get_local_source()).read_bytes() == BODIES["/b"]
    assert hits["/b"] == 2  # fetched again after its eviction


def _fetch_in_process(cache_dir: str, uri: str, start: object) -> str:
    from ingest.cache import SourceCache
    from ingest.config import Settings
    from ingest.remote import RemoteFetcher

    async def run() -> str:
        fetcher = RemoteFetcher(Settings(allow_private_addresses=1))
        try:
            start.wait()  # type: ignore[attr-defined]
            return await SourceCache(cache_dir, 10 * 1024 * KiB).get(uri, fetcher)
        finally:
            await fetcher.close()

    return asyncio.run(run())


def test_processes_share_the_cache_without_partial_files_or_double_downloads(
    tmp_path: Path, http: tuple[str, dict[str, int]]
) -> None:
    base, hits = http
    uri = f"{base}/d?slow"
    context = multiprocessing.get_context("spawn")
    start = context.Manager().Event()
    with context.Pool(4) as pool:
        pending = [
            pool.apply_async(_fetch_in_process, (str(tmp_path / "cache"), uri, start))
            for _ in range(4)
        ]
        start.set()
        paths = {p.get(timeout=60) for p in pending}
    (path,) = paths
    assert Path(path).read_bytes() == BODIES["/d"]
    assert hits["/d?slow"] == 1
    assert list((tmp_path / "cache" / "tmp").iterdir()) == []


def test_objects_of_an_s3_store_are_downloaded(
    sqlite_url: str, s3_bucket: tuple[str, str], tmp_path: Path
) -> None:
    endpoint, bucket = s3_bucket
    ingest.configure(
        database_url=sqlite_url,
        storage_url=f"s3://{bucket}/objects",
        s3_endpoint_url=endpoint,
        cache_dir=str(tmp_path / "cache"),
    )
    try:
        (tmp_path / "a.png").write_bytes(png_bytes(7, 7))
        version = DatasetVersion.create_new_dataset("S3")
        assert version.add_frames([SingleFrame(str(tmp_path / "a.png"))]) == []
        (stored,) = version.iter_frames()
        assert stored.source.startswith(f"s3://{bucket}/objects/")
        path = stored.get_local_source()
        assert Path(path).is_relative_to(tmp_path / "cache")
        assert Path(path).read_bytes() == png_bytes(7, 7)
    finally:
        ingest.runtime.close_all()
