"""Safety for manifests from others: allowed roots for local sources, no private-address copies."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import ingest
from ingest import DatasetVersion, SingleFrame
from ingest.remote import is_public

from ..images import write_png
from .test_pipeline import http_files  # noqa: F401 - fixture


@pytest.fixture
def strict(lib: str, tmp_path: Path, storage_dir: Path) -> Path:
    root = tmp_path / "allowed"
    root.mkdir()
    ingest.configure(
        database_url=lib,
        storage_url=f"file://{storage_dir}",
        allowed_roots=str(root),
        allow_private_addresses=0,
    )
    return root


def test_local_sources_outside_allowed_roots_are_rejected(strict: Path, tmp_path: Path) -> None:
    inside = SingleFrame(str(write_png(strict / "ok.png")))
    outside = SingleFrame(str(write_png(tmp_path / "elsewhere" / "x.png")))
    system = SingleFrame("/etc/hostname" if os.path.exists("/etc/hostname") else "/etc/passwd")
    (strict / "sneaky.png").symlink_to("/etc/passwd")
    sneaky = SingleFrame(str(strict / "sneaky.png"))
    dotdot = SingleFrame(str(strict / ".." / "elsewhere" / "x.png"))
    version = DatasetVersion.create_new_dataset("Roots")
    failed = version.add_frames([inside, outside, system, sneaky, dotdot])
    assert failed == [outside, system, sneaky, dotdot]
    assert all("outside the allowed roots" in r.message for r in version.last_report.rejected)  # type: ignore[union-attr]
    assert version.get_frame_count() == 1


def test_copies_from_loopback_are_refused(strict: Path, http_files) -> None:  # noqa: F811
    www, base = http_files
    write_png(www / "a.png")
    port = base.rsplit(":", 1)[1]
    version = DatasetVersion.create_new_dataset("Private")
    frames = [SingleFrame(f"{base}/a.png"), SingleFrame(f"http://localhost:{port}/a.png")]
    assert version.add_frames(frames, copy_remote=True, upload_retries=2) == frames
    for record in version.last_report.rejected:  # type: ignore[union-attr]
        assert "loopback, link-local, private or special-purpose address" in record.message
        assert "(loopback)" in record.message
        assert record.attempts == 1  # permanent: not retried
    # by reference (no copy) the daemon never connects, so it is allowed
    assert version.add_frames([SingleFrame(f"{base}/a.png")]) == []


def test_copies_refuse_private_addresses_by_default(lib: str, http_files) -> None:  # noqa: F811
    www, base = http_files
    write_png(www / "a.png")
    frame = SingleFrame(f"{base}/a.png")
    version = DatasetVersion.create_new_dataset("PrivateByDefault")
    assert version.add_frames([frame], copy_remote=True) == [frame]
    assert "allow_private_addresses" in version.last_report.rejected[0].message  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "address, public",
    [
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),
        ("::1", False),
        ("fe80::1", False),
        ("fc00::1", False),
        ("0.0.0.0", False),
        ("100.64.0.1", False),
        ("198.18.0.1", False),
        ("::ffff:127.0.0.1", False),
        ("64:ff9b::a00:1", False),
        ("8.8.8.8", True),
        ("2606:4700::1111", True),
    ],
)
def test_address_classification(address: str, public: bool) -> None:
    assert is_public(address) is public


def test_a_fifo_source_is_refused_without_reading_it(lib: str, tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)  # opening it for reading would block forever
    frame = SingleFrame(str(fifo))
    version = DatasetVersion.create_new_dataset("Fifo")
    assert version.add_frames([frame]) == [frame]
    assert "not a regular file" in version.last_report.rejected[0].message  # type: ignore[union-attr]
