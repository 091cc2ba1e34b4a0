"""Settings: defaults < TOML file (``INGEST_CONFIG``) < ``INGEST_*`` environment < arguments.

``config/default.toml`` documents every setting with its default value; a test keeps it equal
to ``Settings()``.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .errors import ConfigError


def default_data_dir() -> Path:
    """Where the embedded defaults live: ``$XDG_DATA_HOME/frame-ingest`` (~/.local/share/...)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "frame-ingest"


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/frame-ingest`` (~/.cache/frame-ingest): downloads of sources."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "frame-ingest"


@dataclasses.dataclass(frozen=True)
class Settings:
    # Catalog: sqlite:///ABSOLUTE/PATH (the embedded default) or postgresql://user@host/db
    database_url: str = ""
    # Storage for uploaded local sources: file:///ABSOLUTE/PATH (default), s3://bucket/prefix,
    # gs://bucket/prefix or az://container/prefix
    storage_url: str = ""
    # Endpoint of any S3-compatible store (MinIO, Ceph, moto...); empty = AWS
    s3_endpoint_url: str = ""
    s3_region: str = "us-east-1"
    # 1 = single-request uploads are signed and sent directly (botocore's SigV4 signer on the
    # client's pooled session, Content-MD5); 0 = through botocore's put_object
    s3_lean_put: int = 1
    # az:// stores without AZURE_STORAGE_CONNECTION_STRING: https://ACCOUNT.blob.core.windows.net,
    # with azure-identity's DefaultAzureCredential
    azure_account_url: str = ""
    # Objects at least this large are uploaded with multipart
    multipart_threshold_mb: int = 16
    # How many times a failed upload is retried before the frame is rejected
    upload_retries: int = 3
    # Backoff between retries: full jitter in [0, min(max, base * 2**attempt)] seconds
    retry_backoff_base_s: float = 0.2
    retry_backoff_max_s: float = 10.0
    # Per-request timeout of one upload attempt
    upload_timeout_s: float = 60.0
    # Bounds: frame uploads in flight, groups in flight, bytes read but not yet stored
    concurrency: int = 64
    groups_in_flight: int = 1024
    bytes_in_flight_mb: int = 256
    # Storage worker processes a big run deals its groups to (0 = auto: one per core for a local
    # store, none for S3, where measured they cost more CPU than they save; 1 = none)
    workers: int = 0
    # JSONL decoder processes (decodepool.py): 0 = auto (one less than the cores for a manifest
    # of 16 MiB or more, none below), N = N processes from the first line on
    decode_processes: int = 0
    # A commit carries up to this many complete groups, or what completed within the interval
    commit_batch_groups: int = 2000
    commit_interval_s: float = 0.5
    # Grace period for in-flight groups on cancellation (Ctrl-C, SIGTERM)
    shutdown_grace_s: float = 30.0
    # Daemon inbox: a manifest is taken once its size and mtime (S3: size and ETag) have not
    # changed for this long; names ending .part are never taken
    inbox_settle_s: float = 2.0
    # Daemon: a job running longer than this is cancelled and failed (0 = no limit)
    job_timeout_s: float = 21600.0
    # Daemon HTTP: largest POST /jobs body (MiB), and host names accepted in the Host header
    # besides loopback names, IP addresses and --http-host (comma-separated)
    daemon_max_body_mb: int = 64
    daemon_allowed_hosts: str = ""
    # Local sources must lie under one of these folders (os.pathsep-separated); empty = anywhere.
    # The daemon defaults to its inbox: a dropped manifest must not upload a system file.
    allowed_roots: str = ""
    # Copying http(s) sources from loopback, link-local, private and other special-purpose
    # addresses: 0 = refused (default), 1 = allowed (an explicit opt-in)
    allow_private_addresses: int = 0
    # A copied remote object (--copy-remote) larger than this is rejected
    max_remote_object_mb: int = 1024
    # Local files under this folder keep their folders below it in object keys
    # (``<folder>/<hash>-<name>``; the reference's add_frames(local_dataset_root_path=))
    upload_root: str = ""
    # get_local_source() / get_local_mask_source(): the download cache (content-addressed,
    # shared by processes) and its size bound; least recently used files go first
    cache_dir: str = ""
    cache_max_mb: int = 10240
    # Chunked imports (``ingest import --queue``, ``ingest worker``): a manifest of more groups
    # than this is cut into chunks of this many; a chunk job is tried this many times; a
    # worker silent (no heartbeat) this long is stalled and its chunks are retried elsewhere
    chunk_groups: int = 50000
    chunk_attempts: int = 3
    chunk_stalled_s: float = 30.0
    # procrastinate's finished jobs older than this are removed (hourly); 0 keeps them all
    queue_retention_days: float = 7.0

    def __post_init__(self) -> None:
        data = default_data_dir()
        if not self.database_url:
            object.__setattr__(self, "database_url", f"sqlite:///{data / 'catalog.sqlite3'}")
        if not self.storage_url:
            object.__setattr__(self, "storage_url", f"file://{data / 'objects'}")
        if not self.cache_dir:
            object.__setattr__(self, "cache_dir", str(default_cache_dir()))
        if self.cache_max_mb < 1:
            raise ConfigError(f"setting cache_max_mb must be >= 1, got {self.cache_max_mb}")
        for field in (
            "concurrency",
            "groups_in_flight",
            "commit_batch_groups",
            "chunk_groups",
            "chunk_attempts",
        ):
            if getattr(self, field) < 1:
                raise ConfigError(f"setting {field} must be >= 1, got {getattr(self, field)}")
        for field in ("workers", "decode_processes"):
            if getattr(self, field) < 0:
                raise ConfigError(f"setting {field} must be >= 0, got {getattr(self, field)}")
        if self.queue_retention_days < 0:
            raise ConfigError(
                f"setting queue_retention_days must be >= 0, got {self.queue_retention_days}"
            )
        if self.upload_retries < 0:
            raise ConfigError(f"setting upload_retries must be >= 0, got {self.upload_retries}")

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)


def _coerce(name: str, raw: Any, origin: str) -> Any:
    field = {f.name: f for f in dataclasses.fields(Settings)}.get(name)
    if field is None:
        known = ", ".join(Settings.field_names())
        raise ConfigError(f"{origin}: unknown setting {name!r} (known: {known})")
    kind = field.type
    try:
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
        return str(raw)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{origin}: setting {name} must be {kind}, got {raw!r}") from exc


def read_toml(path: str | Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError as exc:
        raise ConfigError(f"config file {path} does not exist") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path}: {exc}") from exc
    section = data.get("ingest", data)
    return {k: _coerce(k, v, str(path)) for k, v in section.items()}


def load_settings(
    config_file: str | Path | None = None,
    environ: Mapping[str, str] | None = None,
    **overrides: Any,
) -> Settings:
    """Build the settings from all layers. ``overrides`` that are None are ignored."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    path = config_file or env.get("INGEST_CONFIG")
    if path:
        values.update(read_toml(path))
    for name in Settings.field_names():
        raw = env.get(f"INGEST_{name.upper()}")
        if raw not in (None, ""):
            values[name] = _coerce(name, raw, f"environment INGEST_{name.upper()}")
    for name, value in overrides.items():
        if value is not None:
            values[name] = _coerce(name, value, "argument")
    return Settings(**values)
