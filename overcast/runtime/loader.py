"""Load an app from ``FILE[:APP]`` for the CLI, with one clear line for every way it can fail."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from overcast.errors import ConfigError, OvercastError

if TYPE_CHECKING:
    from overcast.app import App


def load_app_file(target: str) -> App:
    """Import ``path/to/app.py`` (or ``path/to/app.py:name``) and return its ``App``.

    The file is imported as a module named after it, with its folder first on ``sys.path``, so
    worker processes can import it by the same name.
    """
    from overcast.app import App

    file, _, attr = target.partition(":")
    path = Path(file)
    if path.suffix != ".py":
        raise ConfigError(f"{file}: expected a Python file (FILE.py or FILE.py:APP)")
    if not path.is_file():
        raise ConfigError(f"{file}: no such file")
    folder = str(path.resolve().parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    module_name = path.stem
    try:
        module = importlib.import_module(module_name)
    except OvercastError as exc:
        raise ConfigError(f"{file}: {exc}") from None
    except SyntaxError as exc:
        raise ConfigError(f"{file}:{exc.lineno}: syntax error: {exc.msg}") from None
    except Exception as exc:
        raise ConfigError(f"{file}: importing it failed: {type(exc).__name__}: {exc}") from None
    if getattr(module, "__file__", None) and Path(module.__file__ or "").resolve() != path.resolve():
        raise ConfigError(
            f"{file}: its module name {module_name!r} is taken by {module.__file__}; rename the file"
        )
    if attr:
        app = getattr(module, attr, None)
        if not isinstance(app, App):
            raise ConfigError(f"{file}: {attr!r} is not an overcast.App")
        return app
    apps = [value for value in vars(module).values() if isinstance(value, App)]
    if not apps:
        raise ConfigError(f"{file}: no overcast.App found; create one with app = App('name')")
    if len(apps) > 1:
        names = ", ".join(sorted(k for k, v in vars(module).items() if isinstance(v, App)))
        raise ConfigError(f"{file}: several apps ({names}); pick one with {file}:NAME")
    return apps[0]
