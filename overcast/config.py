"""Where settings come from: arguments, then the environment, then the project file.

The engine URL is resolved in this order: ``App(engine=...)`` in code, ``--engine`` on the command
line (which sets ``OVERCAST_ENGINE`` for the processes it starts), the ``OVERCAST_ENGINE``
environment variable, ``engine = "..."`` in ``overcast.toml`` in the working directory, and
finally an SQLite file in ``./.overcast/``.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from overcast.errors import ConfigError

DEFAULT_ENGINE = "sqlite:///.overcast/overcast.db"
PROJECT_FILE = "overcast.toml"


def project_settings(directory: Path | None = None) -> dict[str, Any]:
    """The ``overcast.toml`` of ``directory`` (default: the working directory), or {}."""
    path = (directory or Path.cwd()) / PROJECT_FILE
    if not path.exists():
        return {}
    try:
        with path.open("rb") as f:
            data = tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: {exc}") from None
    settings = data.get("overcast", data)
    if not isinstance(settings, dict):
        raise ConfigError(f"{path}: expected a table of settings")
    return settings


def resolve_engine_url(explicit: str | None = None) -> str:
    """The engine URL to use (see the module docstring for the order)."""
    if explicit:
        return explicit
    env = os.environ.get("OVERCAST_ENGINE")
    if env:
        return env
    url = project_settings().get("engine")
    if url is not None:
        if not isinstance(url, str):
            raise ConfigError(f"{PROJECT_FILE}: engine must be a URL string")
        return url
    return DEFAULT_ENGINE
