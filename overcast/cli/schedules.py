"""``overcast schedules ls``: the schedules an app declares, when each fires next, and what the
scheduler has fired so far."""

from __future__ import annotations

import click

from overcast.cli._output import emit_json, table
from overcast.cli.events import engine_option, json_option, load_app
from overcast.services.bus.events import iso_time


@click.group()
def schedules() -> None:
    """List schedules."""


@schedules.command("ls")
@click.argument("target", metavar="FILE[:APP]")
@engine_option
@json_option
def schedules_ls(target: str, engine_url: str | None, as_json: bool) -> None:
    """List the schedules of the app in FILE with their next and last firings."""
    from overcast.services.scheduler.scheduler import schedule_states

    app = load_app(target, engine_url)
    try:
        states = schedule_states(app)
        now = app.engine.clock.now()
    finally:
        app.close()
    rows = []
    for name, schedule in sorted(app.events.schedules.items()):
        state = states.get(name, {})
        following = schedule.next_after(max(now, state.get("last", now))) if schedule.enabled else None
        rows.append({**schedule.describe(app.region, app.account),
                     "NextFiring": iso_time(following) if following is not None else None,
                     "LastFired": iso_time(state["last_fired"]) if state.get("last_fired") else None,
                     "Fired": state.get("fired", 0)})
    if as_json:
        emit_json(rows)
        return
    table(["schedule", "expression", "time zone", "target", "next", "last fired", "fired", "missed ticks"],
          [[r["Name"], r["ScheduleExpression"], r["ScheduleExpressionTimezone"],
            f"{r['Target']['Kind']}:{r['Target']['Name']}", r["NextFiring"] or "-", r["LastFired"] or "-", r["Fired"],
            r["MissedTicks"]] for r in rows], title="schedules")


COMMANDS = [schedules]
