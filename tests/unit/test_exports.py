"""The public surface: everything in overcast.__all__ exists, and every public name is listed."""

from __future__ import annotations

import overcast


def test_all_names_exist() -> None:
    for name in overcast.__all__:
        assert hasattr(overcast, name), name


def test_every_public_name_is_exported() -> None:
    public = {name for name, value in vars(overcast).items()
              if not name.startswith("_") and not isinstance(value, type(overcast))}
    assert public - {"annotations"} <= set(overcast.__all__)


def test_errors_derive_from_one_root() -> None:
    for name in overcast.__all__:
        value = getattr(overcast, name)
        if isinstance(value, type) and issubclass(value, Exception):
            assert issubclass(value, overcast.OvercastError), name
