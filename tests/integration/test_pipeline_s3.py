"""The pipeline over real HTTP on two S3 servers.

Fault tests: moto's S3 server behind the fault-injecting proxy (``s3_lib``). Tests that need
no fault run on both moto and ``rclone serve s3`` (``any_s3_lib``, ids ``[moto]``/``[rclone]``):
rclone is a real Go server that checks SigV4 signatures and Content-MD5, so a request the
client builds or signs wrong fails there even where moto would accept it.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

import ingest
from ingest import DatasetVersion, FrameGroup, SingleFrame
from ingest.runtime import close_all

from ..faultproxy import FaultProxy
from ..images import write_png
from ..s3fixtures import BOTH_S3_SERVERS
from ..s3server import list_keys, s3_client

CAMERAS = ("front", "front_left", "front_right", "rear", "rear_left", "rear_right")


@pytest.fixture
def s3_lib(
    database_url: str,
    s3_bucket: tuple[str, str],
    fault_proxy: FaultProxy,
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[str, str]:
    for key in list(os.environ):
        if key.startswith("INGEST_"):
            monkeypatch.delenv(key)
    _, bucket = s3_bucket
    ingest.configure(
        database_url=database_url,
        storage_url=f"s3://{bucket}/frames",
        s3_endpoint_url=fault_proxy.endpoint,
        retry_backoff_base_s=0.01,
        retry_backoff_max_s=0.05,
        upload_timeout_s=1.5,
    )
    yield s3_bucket
    close_all()


def groups_of(root: Path, n: int, cameras: tuple[str, ...] = CAMERAS) -> list[FrameGroup]:
    out = []
    for i in range(n):
        fg = FrameGroup(context_id="drive", timestamp=float(i))
        for cam in cameras:
            path = root / cam / f"{i:06d}.png"
            if not path.exists():
                write_png(path, 10, 10)
            fg[cam] = SingleFrame(str(path))
        out.append(fg)
    return out


def key_for(version: DatasetVersion, group: FrameGroup, name: str) -> str:
    return version.get_frame(group.id)[name].source.split("/", 3)[3]


@pytest.mark.parametrize("fault", ["503", "SlowDown", "reset", "500"])
def test_transient_failures_within_budget_are_registered(
    s3_lib: tuple[str, str], fault_proxy: FaultProxy, tmp_path: Path, fault: str
) -> None:
    version = DatasetVersion.create_new_dataset("S3")
    groups = groups_of(tmp_path, 2, ("cam",))
    fault_proxy.script(
        "-cam-000000.png", [fault] * 2, method="PUT", contains=True
    )  # = upload_retries
    fault_proxy.script(
        "-cam-000001.png", [fault] * 3, method="PUT", contains=True
    )  # > upload_retries
    failed = version.add_frames(groups, upload_retries=2)
    assert failed == [groups[1]]
    assert fault_proxy.count("PUT", "-cam-000000.png", contains=True) == 3
    assert fault_proxy.count("PUT", "-cam-000001.png", contains=True) == 3
    record = version.last_report.rejected[0]  # type: ignore[union-attr]
    assert record.attempts == 3 and "Transient" in record.error_class
    registered = version.get_frame(groups[0].id)["cam"].source
    _, bucket = s3_lib
    assert registered.startswith(f"s3://{bucket}/frames/")
    assert registered.split("/", 3)[3] in list_keys(s3_lib[0], bucket)  # the object exists


def test_stall_past_client_timeout_is_retried(
    s3_lib: tuple[str, str], fault_proxy: FaultProxy, tmp_path: Path
) -> None:
    version = DatasetVersion.create_new_dataset("Stall")
    groups = groups_of(tmp_path, 1, ("cam",))
    fault_proxy.script("-cam-000000.png", ["stall:5"], method="PUT", contains=True)
    assert version.add_frames(groups, upload_retries=1) == []
    assert fault_proxy.count("PUT", "-cam-000000.png", contains=True) == 2
    assert version.last_report.summary.retries == 1  # type: ignore[union-attr]


@pytest.mark.parametrize("fault", ["AccessDenied", "NoSuchBucket"])
def test_permanent_errors_are_not_retried(
    s3_lib: tuple[str, str], fault_proxy: FaultProxy, tmp_path: Path, fault: str
) -> None:
    version = DatasetVersion.create_new_dataset("Perm")
    groups = groups_of(tmp_path, 1, ("cam",))
    fault_proxy.script("-cam-000000.png", [fault], method="PUT", contains=True)
    assert version.add_frames(groups, upload_retries=5) == groups
    assert fault_proxy.count("PUT", "-cam-000000.png", contains=True) == 1
    record = version.last_report.rejected[0]  # type: ignore[union-attr]
    assert record.attempts == 1 and fault in record.message


def test_one_failing_frame_rejects_its_group_of_six_only(
    s3_lib: tuple[str, str], fault_proxy: FaultProxy, tmp_path: Path
) -> None:
    version = DatasetVersion.create_new_dataset("Six")
    groups = groups_of(tmp_path, 5)
    fault_proxy.script("-front_right-000003.png", ["AccessDenied"], method="PUT", contains=True)
    failed = version.add_frames(groups, upload_retries=2)
    assert failed == [groups[3]]
    assert version.get_frame_count() == 4
    with pytest.raises(ingest.FrameNotFound):
        version.get_frame(groups[3].id)
    report = version.last_report
    assert report is not None
    assert sorted(r.frame_name for r in report.rejected) == sorted(CAMERAS)
    assert all(
        r.message == "group rejected: front_right failed"
        for r in report.rejected
        if r.frame_name != "front_right"
    )
    # siblings that were uploaded before the failure are not left behind in the bucket
    _, bucket = s3_lib
    keys = list_keys(s3_lib[0], bucket)
    assert not [k for k in keys if k.endswith("/000003.png")]


@pytest.fixture
def counting_proxy(s3_bucket: tuple[str, str]) -> Iterator[FaultProxy]:
    """A FaultProxy with no script (it only counts requests) in front of ``s3_server``."""
    with FaultProxy(s3_bucket[0]) as proxy:
        yield proxy


def _configure(database_url: str, bucket: str, endpoint: str, **extra: object) -> None:
    ingest.configure(
        database_url=database_url,
        storage_url=f"s3://{bucket}/frames",
        s3_endpoint_url=endpoint,
        retry_backoff_base_s=0.01,
        retry_backoff_max_s=0.05,
        **extra,
    )


@pytest.fixture
def any_s3_lib(
    database_url: str, s3_bucket: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[str, str]]:
    """The library on ``s3_server`` directly (no proxy), on both catalogs."""
    for key in list(os.environ):
        if key.startswith("INGEST_"):
            monkeypatch.delenv(key)
    endpoint, bucket = s3_bucket
    _configure(database_url, bucket, endpoint, multipart_threshold_mb=5)
    yield s3_bucket
    close_all()


@BOTH_S3_SERVERS
def test_rerun_uploads_nothing_new(
    any_s3_lib: tuple[str, str], database_url: str, counting_proxy: FaultProxy, tmp_path: Path
) -> None:
    fault_proxy = counting_proxy  # counts the requests, injects nothing
    _configure(database_url, any_s3_lib[1], fault_proxy.endpoint)
    version = DatasetVersion.create_new_dataset("Again")
    assert version.add_frames(groups_of(tmp_path, 3)) == []
    # rclone serve s3 now and then answers a PUT into a new folder with a 500 (retried)
    puts = 18 + version.last_report.summary.retries  # type: ignore[union-attr]
    assert fault_proxy.count("PUT") == puts
    before = fault_proxy.count()
    assert before == puts  # one request per object: no HEAD before each PUT
    assert version.add_frames(groups_of(tmp_path, 3)) == []
    assert fault_proxy.count("PUT") == puts  # no new upload
    summary = version.last_report.summary  # type: ignore[union-attr]
    assert summary.groups_committed == 0 and summary.groups_unchanged == 3
    assert fault_proxy.count() == before  # the catalog knows what is stored: no request
    assert version.get_frame_count() == 3


@BOTH_S3_SERVERS
def test_every_object_is_whole_and_matches_its_source(
    any_s3_lib: tuple[str, str], tmp_path: Path
) -> None:
    """20 groups x 6 cameras of varied sizes and one multipart-sized frame: each registered
    URI names an object with the source's exact bytes, and nothing else is in the bucket."""
    endpoint, bucket = any_s3_lib
    groups = groups_of(tmp_path, 20)
    for i, fg in enumerate(groups):  # sizes from a few hundred bytes to ~200 kB
        path = Path(fg["rear"].source)
        path.write_bytes(path.read_bytes() + os.urandom(i * 10_000))
    big = Path(groups[7]["front"].source)  # above the 5 MiB threshold: a multipart upload
    big.write_bytes(big.read_bytes() + os.urandom(6 * 1024 * 1024 + 17))
    version = DatasetVersion.create_new_dataset("Whole")
    assert version.add_frames(groups) == []
    assert version.last_report.summary.objects_uploaded == 120  # type: ignore[union-attr]
    client = s3_client(endpoint)
    keys = set(list_keys(endpoint, bucket))
    assert len(keys) == 120
    for fg in groups:
        stored = version.get_frame(fg.id)
        for cam in CAMERAS:
            uri = stored[cam].source
            assert uri.startswith(f"s3://{bucket}/frames/")
            key = uri.split("/", 3)[3]
            assert key in keys
            body = client.get_object(Bucket=bucket, Key=key)["Body"].read()
            source = Path(fg[cam].source).read_bytes()
            assert hashlib.md5(body).digest() == hashlib.md5(source).digest(), (cam, key)


@BOTH_S3_SERVERS
def test_update_delete_and_iterate_on_s3(any_s3_lib: tuple[str, str], tmp_path: Path) -> None:
    version = DatasetVersion.create_new_dataset("Edit")
    groups = groups_of(tmp_path, 4, ("cam", "lidar"))
    assert version.add_frames(groups) == []
    fg = version.get_frame(groups[1].id)
    fg["cam"].metadata["checked"] = True
    version.update_frames([fg])
    version.delete_frames([version.get_frame(groups[2].id)])
    assert version.get_frame_count() == 3
    seen = list(version.iter_frames())
    assert [g.id for g in seen] == [groups[0].id, groups[1].id, groups[3].id]
    assert seen[1]["cam"].metadata == {"checked": True}
    assert len(list_keys(*any_s3_lib)) == 8  # deleting a frame keeps its objects (gc's job)


def test_wrong_secret_is_refused_by_rclone_and_not_retried(
    sqlite_url: str,
    rclone_server: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """rclone checks signatures (moto does not): a wrong secret is a permanent 403."""
    from ..s3server import create_bucket, delete_bucket

    for key in list(os.environ):
        if key.startswith("INGEST_"):
            monkeypatch.delenv(key)
    bucket = create_bucket(rclone_server)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x" * 40)
    _configure(sqlite_url, bucket, rclone_server)
    try:
        version = DatasetVersion.create_new_dataset("Denied")
        groups = groups_of(tmp_path, 1, ("cam",))
        assert version.add_frames(groups, upload_retries=3) == groups
        record = version.last_report.rejected[0]  # type: ignore[union-attr]
        assert record.attempts == 1 and "Permanent" in record.error_class, record
        assert "SignatureDoesNotMatch" in record.message or "403" in record.message, record
    finally:
        close_all()
        delete_bucket(rclone_server, bucket)
