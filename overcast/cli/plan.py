"""``overcast plan FILE``: what starting the app would change in its engine, without changing it."""

from __future__ import annotations

import click

from overcast.cli._output import emit_json, table
from overcast.runtime.loader import load_app_file
from overcast.services.queues import INTERNAL_PREFIX


@click.command()
@click.argument("target", metavar="FILE[:APP]")
@click.option("--all", "show_all", is_flag=True, help="Include Overcast's internal queues.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
def plan(target: str, show_all: bool, as_json: bool) -> None:
    """Show the queues the app declares and whether each would be created, updated or kept."""
    app = load_app_file(target)
    rows = [
        {"action": action, "queue": name, **spec.settings()}
        for action, name, spec in app.plan()
        if show_all or not name.startswith(INTERNAL_PREFIX)
    ]
    if as_json:
        emit_json(rows)
        return
    table(["action", "queue", "type", "visibility", "dead-letter queue"],
          [[r["action"], r["queue"], "fifo" if r["fifo"] else "standard", f"{r['visibility_timeout']:g}s",
            r["dead_letter"] or "-"] for r in rows], title=f"plan for {app.name!r} on {app.engine_url}")


COMMANDS = [plan]
