"""Classifying a source URI: a path (no scheme) takes a fast path with the parser's result."""

from __future__ import annotations

import os

import pytest

from ingest.sources import LOCAL, classify


@pytest.mark.parametrize(
    "uri", ["/data/cam/0001.jpg", "/data/./cam/../cam/0001.jpg", "//host/share/a.png", "/a:b/c"]
)
def test_an_absolute_path_is_local_and_normalised(uri: str) -> None:
    source = classify(uri)
    assert source.kind == LOCAL and source.uri == uri
    assert source.path == os.path.abspath(uri)


def test_relative_paths_and_file_uris_still_resolve(tmp_path: os.PathLike[str]) -> None:
    base = str(tmp_path)
    assert classify("cam/1.jpg", base).path == os.path.join(base, "cam/1.jpg")
    assert classify("cam/../a?b#c.jpg", base).path == os.path.join(base, "a?b#c.jpg")
    assert classify("c:/x.jpg").kind == LOCAL  # a drive letter, not a scheme
    assert classify("file:///data/a%20b.jpg").path == "/data/a b.jpg"
