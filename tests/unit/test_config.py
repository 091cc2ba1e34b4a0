from __future__ import annotations

from pathlib import Path

import pytest

from ingest.config import Settings, load_settings, read_toml
from ingest.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def test_default_toml_documents_every_setting_with_its_default() -> None:
    documented = read_toml(ROOT / "config" / "default.toml")
    assert set(documented) == set(Settings.field_names())
    assert load_settings(ROOT / "config" / "default.toml", environ={}) == Settings()


def test_embedded_defaults_live_under_xdg_data_home(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    settings = load_settings(environ={})
    assert settings.database_url == f"sqlite:///{tmp_path}/frame-ingest/catalog.sqlite3"
    assert settings.storage_url == f"file://{tmp_path}/frame-ingest/objects"


def test_layers_file_then_environment_then_arguments(tmp_path: Path) -> None:
    cfg = tmp_path / "ingest.toml"
    cfg.write_text('[ingest]\nconcurrency = 8\nupload_retries = 1\nstorage_url = "s3://b/p"\n')
    env = {
        "INGEST_CONFIG": str(cfg),
        "INGEST_UPLOAD_RETRIES": "5",
        "INGEST_DATABASE_URL": "postgresql://u@h/db",
        "INGEST_S3_ENDPOINT_URL": "http://x:9",
    }
    settings = load_settings(environ=env, concurrency=None, upload_retries=7)
    assert settings.concurrency == 8  # file
    assert settings.storage_url == "s3://b/p"  # file
    assert settings.database_url == "postgresql://u@h/db"  # environment
    assert settings.s3_endpoint_url == "http://x:9"
    assert settings.upload_retries == 7  # argument beats environment


@pytest.mark.parametrize(
    "env, message",
    [
        ({"INGEST_CONCURRENCY": "many"}, "INGEST_CONCURRENCY"),
        ({"INGEST_CONCURRENCY": "0"}, "concurrency must be >= 1"),
        ({"INGEST_CONFIG": "/nonexistent/ingest.toml"}, "does not exist"),
    ],
)
def test_bad_settings_are_clear_errors(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(environ=env)


def test_unknown_setting_in_file_is_named(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text("[ingest]\nconcurency = 3\n")
    with pytest.raises(ConfigError, match="unknown setting 'concurency'"):
        load_settings(cfg, environ={})


@pytest.mark.parametrize("command", [["import", "m.jsonl"], ["daemon", "--inbox", "/tmp/x"]])
def test_workers_flag_reaches_the_settings(command: list[str]) -> None:
    from ingest.cli import _settings, build_parser

    args = build_parser().parse_args([*command, "--workers", "3"])
    assert _settings(args).workers == 3
    assert _settings(build_parser().parse_args(command)).workers == Settings().workers


def test_auto_workers_follow_the_store() -> None:
    import os

    from ingest.service import Ingest

    local = Ingest(Settings(database_url="sqlite:///x", storage_url="file:///tmp/x"))
    s3 = Ingest(Settings(database_url="sqlite:///x", storage_url="s3://bucket/p"))
    forced = Ingest(Settings(database_url="sqlite:///x", storage_url="s3://b/p", workers=3))
    cores = os.cpu_count() or 1
    assert (local.workers() is None) == (cores <= 1)
    assert s3.workers() is None
    pool = forced.workers()
    assert pool is not None and pool.count == 3
