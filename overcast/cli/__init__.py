"""The ``overcast`` command. One module per command group; errors are one line, never a traceback."""

from __future__ import annotations

import sys

import click

from overcast import __version__
from overcast.cli._output import fail
from overcast.cli.queues import queues
from overcast.cli.run import invoke, run
from overcast.errors import OvercastError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="overcast")
def cli() -> None:
    """Overcast: run serverless Python apps (queues, functions, events) on SQLite or PostgreSQL."""


cli.add_command(queues)
cli.add_command(run)
cli.add_command(invoke)


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
