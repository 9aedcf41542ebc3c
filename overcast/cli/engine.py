"""``overcast engine migrate|status``: the engine's database, for operators.

Before changing: both commands open the engine with ``migrate=False`` — ``status`` must be able
to show a database that is behind the code without changing it, and ``migrate`` reports the
version before and after. They use the engine's optional ``Maintained`` operations, never SQL.
"""

from __future__ import annotations

from typing import Any

import click

from overcast.cli._output import console, emit_json, ok, table
from overcast.config import resolve_engine_url
from overcast.engine import Maintained, open_engine
from overcast.errors import ConfigError

engine_option = click.option(
    "--engine", "engine_url", metavar="URL", default=None,
    help="Engine URL (default: $OVERCAST_ENGINE, overcast.toml, then sqlite:///.overcast/overcast.db).",
)


def _open(engine_url: str | None) -> Any:
    engine = open_engine(resolve_engine_url(engine_url), migrate=False)
    if not isinstance(engine, Maintained):
        engine.close()
        raise ConfigError(f"the engine {type(engine).__name__} has no migrations or status")
    return engine


@click.group("engine")
def engine_group() -> None:
    """Inspect the engine's database and bring its schema up to date."""


@engine_group.command()
@engine_option
def migrate(engine_url: str | None) -> None:
    """Apply the schema migrations the database lacks (workers also do this as they start)."""
    engine = _open(engine_url)
    try:
        before, after = engine.migrate()
    finally:
        engine.close()
    if before == after:
        ok(f"schema is up to date (version {after})")
    else:
        ok(f"schema migrated from version {before} to {after}")


@engine_group.command()
@engine_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
def status(engine_url: str | None, as_json: bool) -> None:
    """Show the schema version, table sizes and the oldest message of every queue."""
    engine = _open(engine_url)
    try:
        info = engine.status()
    finally:
        engine.close()
    if as_json:
        emit_json(info)
        return
    version, code = info["schema_version"], info["code_schema_version"]
    note = ""
    if version < code:
        note = f" — behind this Overcast ({code}): run overcast engine migrate"
    elif version > code:
        note = f" — newer than this Overcast ({code}): upgrade overcast"
    console.print(f"[bold]{info['engine']}[/bold] {info['url']}", highlight=False, soft_wrap=True)
    console.print(f"schema version {version}{note}", highlight=False)
    table(["table", "rows", "size"],
          [(t["table"], f"{t['rows']:,}", _size(t["bytes"])) for t in info["tables"]], title="tables")
    now = info["now"]
    table(["queue", "messages", "oldest message"],
          [(q["queue"], f"{q['messages']:,}", _age(now, q["oldest_sent_at"])) for q in info["queues"]],
          title="queues")


def _size(size: int | None) -> str:
    if size is None:
        return ""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:,.0f} {unit}" if unit == "B" else f"{value:,.1f} {unit}"
        value /= 1024
    return f"{size} B"  # pragma: no cover - the loop returns


def _age(now: float, sent_at: float | None) -> str:
    if sent_at is None:
        return ""
    seconds = max(0.0, now - sent_at)
    for unit, span in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds >= span:
            return f"{seconds / span:.1f}{unit} ago"
    return f"{seconds:.0f}s ago"


COMMANDS = [engine_group]
