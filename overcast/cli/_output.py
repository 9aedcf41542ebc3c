"""How the CLI speaks: tables for people, JSON for scripts, one-line errors, progress."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any

import click
from rich.console import Console
from rich.table import Table

console = Console()
err_console = Console(stderr=True)


def emit_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, default=str))


def table(columns: Sequence[str], rows: Sequence[Sequence[Any]], *, title: str | None = None) -> None:
    """Print rows as a table (or a note when there are none)."""
    if not rows:
        err_console.print(f"[dim]no {title or 'rows'}[/dim]")
        return
    t = Table(title=title, title_justify="left", header_style="bold")
    for column in columns:
        t.add_column(column, overflow="fold")
    for row in rows:
        t.add_row(*["" if v is None else str(v) for v in row])
    console.print(t)


def fail(message: str, code: int = 1) -> None:
    """Print ``error: message`` on stderr and exit."""
    err_console.print(f"[bold red]error:[/bold red] {message}", highlight=False, soft_wrap=True)
    sys.exit(code)


def ok(message: str) -> None:
    err_console.print(message, highlight=False, soft_wrap=True)


def parse_json(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        fail(f"{what} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}")
