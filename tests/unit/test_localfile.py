"""Local sources are opened once and checked on what was opened (issue: symlink swap race)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from ingest.errors import PermanentStorageError
from ingest.pipeline import localfile
from ingest.pipeline.localfile import open_source


@pytest.fixture
def tree(tmp_path: Path) -> tuple[Path, Path]:
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "a.png").write_bytes(b"inside")
    outside = tmp_path / "secret"
    outside.mkdir()
    (outside / "a.png").write_bytes(b"outside")
    return root, outside


def _swap_before_open(monkeypatch: pytest.MonkeyPatch, swap: Any) -> None:
    real_open = os.open

    def racing_open(path: str, flags: int, *args: Any) -> int:
        swap()  # the attacker wins the race: between the checks and the open
        return real_open(path, flags, *args)

    monkeypatch.setattr(localfile.os, "open", racing_open)


def test_a_file_swapped_for_a_symlink_is_refused(
    tree: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    root, outside = tree
    target = root / "sub" / "a.png"

    def swap() -> None:
        target.unlink()
        target.symlink_to(outside / "a.png")

    _swap_before_open(monkeypatch, swap)
    with pytest.raises(PermanentStorageError, match="changed while being opened"):
        open_source(str(target), (str(root),))


def test_a_directory_swapped_for_a_symlink_is_refused(
    tree: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    root, outside = tree

    def swap() -> None:
        (root / "sub" / "a.png").unlink()
        (root / "sub").rmdir()
        (root / "sub").symlink_to(outside)

    _swap_before_open(monkeypatch, swap)
    with pytest.raises(PermanentStorageError, match="outside the allowed roots"):
        open_source(str(root / "sub" / "a.png"), (str(root),))


def test_what_is_read_is_what_was_checked(tree: tuple[Path, Path]) -> None:
    root, outside = tree
    opened = open_source(str(root / "sub" / "a.png"), (str(root),))
    try:
        (root / "sub" / "a.png").unlink()  # swapped after the open: readers keep the file
        (root / "sub" / "a.png").symlink_to(outside / "a.png")
        assert os.pread(opened.fd, 100, 0) == b"inside"
    finally:
        opened.close()


def test_a_symlink_inside_the_root_is_followed(tree: tuple[Path, Path]) -> None:
    root, _ = tree
    (root / "link.png").symlink_to(root / "sub" / "a.png")
    opened = open_source(str(root / "link.png"), (str(root),))
    opened.close()
    assert opened.size == len(b"inside")


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: os.mkfifo(p), "not a regular file"),
        (lambda p: p.mkdir(), "is a directory"),
        (lambda p: p.write_bytes(b""), "empty"),
        (lambda p: None, "file not found"),
    ],
)
def test_bad_sources_fail_fast_without_blocking(tmp_path: Path, make: Any, message: str) -> None:
    path = tmp_path / "src"
    make(path)
    with pytest.raises(PermanentStorageError, match=message):
        open_source(str(path), ())


def test_nul_byte(tmp_path: Path) -> None:
    with pytest.raises(PermanentStorageError, match="NUL"):
        open_source(str(tmp_path / "a\x00b"), ())


def test_without_roots_the_path_is_opened_as_named(
    tree: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """No allowed roots: one open of the named path, no resolving of its folders first."""
    root, _ = tree
    resolved: list[str] = []
    real = os.path.realpath
    monkeypatch.setattr(localfile.os.path, "realpath", lambda p: resolved.append(p) or real(p))
    opened = open_source(str(root / "sub" / "a.png"), ())
    opened.close()
    assert opened.size == len(b"inside") and resolved == []


def test_without_roots_a_symlink_is_followed_and_a_loop_refused(tree: tuple[Path, Path]) -> None:
    root, outside = tree
    (root / "link.png").symlink_to(outside / "a.png")
    opened = open_source(str(root / "link.png"), ())
    opened.close()
    assert opened.size == len(b"outside")
    (root / "loop.png").symlink_to(root / "loop.png")
    with pytest.raises(PermanentStorageError, match="changed while being opened"):
        open_source(str(root / "loop.png"), ())
