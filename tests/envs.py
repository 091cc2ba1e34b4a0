"""Environments for the subprocesses tests start."""

from __future__ import annotations

import os


def clean_env(**values: str) -> dict[str, str]:
    """This process's environment without any ``INGEST_*`` setting, plus ``values``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("INGEST_")}
    env.update(values)
    return env
