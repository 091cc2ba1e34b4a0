"""Where a frame's data comes from: classify URIs, derive object keys (pure, no I/O)."""

from __future__ import annotations

import hashlib
import mimetypes
import os
import posixpath
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlparse

from .errors import PermanentStorageError

REMOTE_SCHEMES = ("http", "https", "s3", "gs", "az")
LOCAL = "local"
REMOTE = "remote"


class UnsupportedSource(PermanentStorageError):
    """A URI scheme frame-ingest cannot read."""


@dataclass(frozen=True)
class Source:
    uri: str
    kind: str  # LOCAL | REMOTE
    path: str | None = None  # absolute local path for LOCAL


_REMOTE_PREFIXES = tuple(f"{scheme}://" for scheme in REMOTE_SCHEMES)


def is_remote(uri: str) -> bool:
    """Fast check for the common case (no parsing): an http(s), s3, gs or az URI with a host."""
    if uri.startswith(_REMOTE_PREFIXES):
        rest = uri.split("://", 1)[1]
        return bool(rest) and rest[0] != "/"
    return False


def classify(uri: str, base_dir: str | None = None) -> Source:
    """A local path (absolute, relative to ``base_dir`` or the cwd, or file://) or a remote URI."""
    if is_remote(uri):
        return Source(uri, REMOTE)
    if ":" not in uri:  # no scheme: a path, what the last branch returns, without parsing
        return _local(uri, base_dir)
    parsed = urlparse(uri)
    scheme = parsed.scheme.lower()
    if scheme in REMOTE_SCHEMES:
        if not parsed.netloc:
            raise UnsupportedSource(f"{uri!r} has no host or bucket")
        return Source(uri, REMOTE)
    if scheme == "file":
        if parsed.netloc not in ("", "localhost"):
            raise UnsupportedSource(f"{uri!r}: file URIs must be local (file:///path)")
        return Source(uri, LOCAL, os.path.abspath(unquote(parsed.path)))
    if scheme and len(scheme) > 1:  # "c:" would be a drive letter
        raise UnsupportedSource(
            f"unsupported URI scheme {scheme!r} in {uri!r} "
            "(use a local path, file://, https://, http://, s3://, gs:// or az://)"
        )
    return _local(uri, base_dir)


def _local(uri: str, base_dir: str | None) -> Source:
    path = uri if os.path.isabs(uri) else os.path.join(base_dir or os.getcwd(), uri)
    return Source(uri, LOCAL, os.path.abspath(path))


def object_key(path: str, size: int, mtime_ns: int, root: str = "") -> str:
    """Deterministic key of a local file: ``<2 hex>/<hash of path, size, mtime>-<folder>-<name>``.

    Two cameras' ``000123.jpg`` differ by path, so never collide; a changed file (new size or
    mtime) gets a new key, so an old registered URI never points at new bytes. A file under
    ``root`` (``upload_root``, the reference's ``local_dataset_root_path``) keeps its folders
    below it: ``<relative folder>/<hash>-<name>``.
    """
    digest = hashlib.blake2b(f"{path}\0{size}\0{mtime_ns}".encode(), digest_size=16).hexdigest()
    if root:
        relative = os.path.relpath(path, os.path.abspath(root))
        if not relative.startswith(os.pardir + os.sep) and relative != os.pardir:
            folder = os.path.dirname(relative).replace(os.sep, "/")
            name = f"{digest}-{os.path.basename(path)}"
            return f"{folder}/{name}" if folder else name
    folder = os.path.basename(os.path.dirname(path)) or "_"
    # flat under 256 prefixes: no folder per object (mkdir was the local store's main cost)
    return f"{digest[:2]}/{digest}-{folder}-{os.path.basename(path)}"


def remote_key(uri: str) -> str:
    """Deterministic key for a copied remote object."""
    digest = hashlib.blake2b(uri.encode(), digest_size=16).hexdigest()
    name = posixpath.basename(urlparse(uri).path) or "object"
    return f"remote/{digest[:2]}/{digest}/{name}"


def guess_content_type(name: str) -> str | None:
    return mimetypes.guess_type(name)[0]


def object_slots(frame_doc: dict[str, Any]) -> list[tuple[str, str | None, str]]:
    """(field, mask id, URI) of every object one frame document names: source, preview,
    masks."""
    slots: list[tuple[str, str | None, str]] = [("source", None, frame_doc["source"])]
    if frame_doc.get("preview_uri"):
        slots.append(("preview_uri", None, frame_doc["preview_uri"]))
    slots += [("masks", mask_id, uri) for mask_id, uri in (frame_doc.get("masks") or {}).items()]
    return slots


def document_uris(doc: dict[str, Any]) -> Iterator[str]:
    """Every object URI a frame or group document references."""
    for frame in doc["frames"].values() if "frames" in doc else [doc]:
        for _, _, uri in object_slots(frame):
            yield uri
