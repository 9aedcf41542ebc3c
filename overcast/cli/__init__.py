"""The ``overcast`` command. One module per command group; errors are one line, never a traceback."""

from __future__ import annotations

import sys

import click

from overcast import __version__
from overcast.cli._output import fail
from overcast.errors import OvercastError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="overcast")
def cli() -> None:
    """Overcast: run serverless Python apps (queues, functions, events) on SQLite or PostgreSQL."""


def _load_commands() -> None:
    """Add the commands every module of this package lists in ``COMMANDS`` (one module per
    command group: adding a group is adding a module)."""
    import importlib
    import pkgutil

    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        for command in getattr(module, "COMMANDS", []):
            cli.add_command(command)


_load_commands()


def main(argv: list[str] | None = None) -> None:
    try:
        cli.main(args=argv, prog_name="overcast", standalone_mode=False)
    except click.exceptions.Abort:
        fail("aborted", 130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except OvercastError as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        fail("interrupted", 130)
    except BrokenPipeError:
        sys.exit(0)
