"""``overcast events put``, ``overcast rules ls|test``, ``overcast archives ls|replay``.

Commands that need the declared rules or archives take the app's FILE; ``events put`` and
``rules test --pattern`` need only the engine (``--engine``, ``$OVERCAST_ENGINE``, ...).
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import click
from rich.progress import Progress, SpinnerColumn, TextColumn

from overcast.cli._output import emit_json, err_console, fail, ok, parse_json, table
from overcast.config import resolve_engine_url
from overcast.engine import open_engine
from overcast.errors import NotFound

json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
engine_option = click.option("--engine", "engine_url", metavar="URL", default=None,
                             help="Engine URL (default: $OVERCAST_ENGINE, overcast.toml, then .overcast/).")


def load_app(target: str, engine_url: str | None) -> Any:
    """The app in FILE[:APP], on ``--engine`` when given."""
    from overcast.runtime.loader import load_app_file

    if engine_url:
        os.environ["OVERCAST_ENGINE"] = engine_url
    return load_app_file(target)


def read_json_arg(value: str, what: str) -> Any:
    """JSON given inline, or ``@path`` / ``-`` to read it from a file or stdin."""
    if value == "-":
        return parse_json(sys.stdin.read(), what)
    if value.startswith("@"):
        try:
            with open(value[1:], encoding="utf-8") as f:
                return parse_json(f.read(), what)
        except OSError as exc:
            fail(f"{what}: cannot read {value[1:]}: {exc.strerror}")
    return parse_json(value, what)


def _compact(value: Any, limit: int = 60) -> str:
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    return text if len(text) <= limit else text[: limit - 1] + "…"


# -- events ------------------------------------------------------------------------------------


@click.group()
def events() -> None:
    """Put events on a bus."""


@events.command("put")
@click.option("--bus", "bus_name", default="default", show_default=True, help="The event bus.")
@click.option("--source", default=None, help="The event's source.")
@click.option("--detail-type", default=None, help="The event's detail-type.")
@click.option("--detail", default=None, help="The detail, as JSON ('@file' or '-' to read it).")
@click.option("--resource", "resources", multiple=True, help="A resource ARN (repeatable).")
@click.option("--entries", default=None, help="PutEvents entries (or CloudEvents) as a JSON list: inline, '@file' or '-'.")
@engine_option
@json_option
def put(bus_name: str, source: str | None, detail_type: str | None, detail: str | None,
        resources: tuple[str, ...], entries: str | None, engine_url: str | None, as_json: bool) -> None:
    """Put one event (--source, --detail-type, --detail) or up to 10 (--entries)."""
    from overcast.services.bus.bus import Bus

    if entries is not None:
        if source or detail_type or detail:
            fail("give either --entries or --source/--detail-type/--detail, not both")
        items = read_json_arg(entries, "--entries")
        items = items if isinstance(items, list) else [items]
    else:
        if not source or not detail_type:
            fail("give --source and --detail-type (and --detail), or --entries")
        items = [{"Source": source, "DetailType": detail_type,
                  "Detail": read_json_arg(detail, "--detail") if detail else {}, "Resources": list(resources)}]
    engine = open_engine(resolve_engine_url(engine_url))
    try:
        result = Bus(bus_name, lambda: engine).put_events(items)
    finally:
        engine.close()
    if as_json:
        emit_json(result.to_dict())
    else:
        table(["#", "event id", "error"], [[i, e.event_id or "", f"{e.error_code}: {e.error_message}" if e.error_code else ""]
                                           for i, e in enumerate(result.entries)], title=f"put on bus {bus_name!r}")
    if result.failed_entry_count:
        fail(f"{result.failed_entry_count} of {len(result.entries)} entries failed")


# -- rules -------------------------------------------------------------------------------------


@click.group()
def rules() -> None:
    """Inspect and test the rules an app declares."""


@rules.command("ls")
@click.argument("target", metavar="FILE[:APP]")
@click.option("--bus", "bus_name", default=None, help="Only this bus.")
@engine_option
@json_option
def rules_ls(target: str, bus_name: str | None, engine_url: str | None, as_json: bool) -> None:
    """List the rules of the app in FILE with their patterns and targets."""
    app = load_app(target, engine_url)
    rows = []
    for name, (bus, _, _) in sorted(app.events.buses.items()):
        if bus_name is not None and name != bus_name:
            continue
        rows += [rule.describe(app.region, app.account) for rule in bus.rules.values()]
    if bus_name is not None and bus_name not in app.events.buses:
        fail(f"app {app.name!r} has no bus {bus_name!r} (buses: {', '.join(sorted(app.events.buses)) or 'none'})")
    if as_json:
        emit_json(rows)
        return
    table(["rule", "bus", "pattern", "targets", "state"],
          [[r["Name"], r["EventBusName"], _compact(r["EventPattern"]),
            ", ".join(f"{t['Kind']}:{t['Name']}" for t in r["Targets"]), r["State"]] for r in rows], title="rules")


@rules.command("test")
@click.argument("event_file", metavar="EVENT_FILE")
@click.option("--pattern", default=None, help="The event pattern: JSON inline, '@file' or '-'.")
@click.option("--app", "app_target", default=None, metavar="FILE[:APP]", help="Test the rules of this app instead.")
@click.option("--rule", "rule_name", default=None, help="With --app: only this rule.")
@json_option
def rules_test(event_file: str, pattern: str | None, app_target: str | None, rule_name: str | None, as_json: bool) -> None:
    """Test an event (a JSON file, '-' for stdin) against a pattern or an app's rules, and show
    which fields matched. Exits 1 when nothing matched."""
    from overcast.matching import matches, validate_pattern
    from overcast.services.bus.rules import explain_match

    event = read_json_arg(event_file if event_file == "-" else "@" + event_file, "EVENT_FILE")
    candidates: list[tuple[str, Any]] = []
    if pattern is not None:
        if app_target is not None:
            fail("give --pattern or --app, not both")
        value = read_json_arg(pattern, "--pattern")
        validate_pattern(value)
        candidates.append(("pattern", value))
    elif app_target is not None:
        app = load_app(app_target, None)
        for _bus, (handle, _, _) in sorted(app.events.buses.items()):
            for rule in handle.rules.values():
                if rule_name is None or rule.name == rule_name:
                    candidates.append((rule.name, rule.pattern))
        if not candidates:
            fail(f"app {app.name!r} has no rule {rule_name!r}" if rule_name else f"app {app.name!r} declares no rules")
    else:
        fail("give --pattern JSON or --app FILE")
    results: list[dict[str, Any]] = [{"rule": name, "matched": matches(value, event), "fields": explain_match(value, event)}
               for name, value in candidates]
    if as_json:
        emit_json(results)
    else:
        for result in results:
            table(["field", "pattern", "event value", "matched"],
                  [[f["field"], _compact(f["pattern"]), "(absent)" if f["value"] is None else _compact(f["value"]),
                    "yes" if f["matched"] else "no"] for f in result["fields"]],
                  title=f"{result['rule']}: {'MATCHED' if result['matched'] else 'no match'}")
    if not any(r["matched"] for r in results):
        sys.exit(1)


# -- archives ----------------------------------------------------------------------------------


@click.group()
def archives() -> None:
    """List archives and replay them."""


@archives.command("ls")
@click.argument("target", metavar="FILE[:APP]")
@engine_option
@json_option
def archives_ls(target: str, engine_url: str | None, as_json: bool) -> None:
    """List the archives of the app in FILE, with their event counts."""
    from overcast.services.bus.archive import archive_stats, list_replays

    app = load_app(target, engine_url)
    try:
        rows = []
        for _name, (bus, _, _) in sorted(app.events.buses.items()):
            for archive in bus.archives.values():
                stats = archive_stats(app.engine, archive.name)
                rows.append({**archive.describe(app.region, app.account), "Bus": archive.bus,
                             "EventCount": stats["events"], "SizeBytes": stats["bytes"]})
        replays = list_replays(app.engine)
    finally:
        app.close()
    if as_json:
        emit_json({"archives": rows, "replays": replays})
        return
    table(["archive", "bus", "pattern", "retention", "events", "bytes"],
          [[r["ArchiveName"], r["Bus"], _compact(r["EventPattern"] or "(all events)"),
            f"{r['RetentionDays']} days" if r["RetentionDays"] else "forever", r["EventCount"], r["SizeBytes"]]
           for r in rows], title="archives")
    if replays:
        table(["replay", "archive", "state", "events"],
              [[r["name"], r["archive"], r["state"], r["replayed"]] for r in replays], title="replays")


@archives.command("replay")
@click.argument("target", metavar="FILE[:APP]")
@click.argument("archive")
@click.option("--from", "start", required=True, help="Start of the range (ISO 8601, e.g. 2026-01-01T00:00:00Z).")
@click.option("--to", "end", required=True, help="End of the range (ISO 8601).")
@click.option("--name", default=None, help="The replay's name (run again with it to resume).")
@click.option("--rule", "rule_names", multiple=True, help="Replay to this rule only (repeatable).")
@engine_option
@json_option
def archives_replay(target: str, archive: str, start: str, end: str, name: str | None, rule_names: tuple[str, ...],
                    engine_url: str | None, as_json: bool) -> None:
    """Replay the events ARCHIVE received between --from and --to onto its bus."""
    app = load_app(target, engine_url)
    try:
        owner = next((bus for bus, _, _ in app.events.buses.values() if archive in bus.archives), None)
        if owner is None:
            raise NotFound(f"app {app.name!r} has no archive {archive!r}")
        with Progress(SpinnerColumn(), TextColumn("{task.description}"), console=err_console, transient=True,
                      disable=as_json or not sys.stderr.isatty()) as progress:
            task = progress.add_task(f"replaying {archive}", total=None)
            done = 0

            def step(n: int) -> None:
                nonlocal done
                done += n
                progress.update(task, description=f"replaying {archive} ({done} events)")

            state = owner.replay(archive, start=start, end=end, name=name, rules=list(rule_names) or None,
                                 progress=step)
    finally:
        app.close()
    if as_json:
        emit_json(state)
    else:
        ok(f"replay {state['name']!r}: {state['replayed']} event(s) from archive {archive!r} put back on bus "
           f"{state['bus']!r}; the runtime routes them")


COMMANDS = [events, rules, archives]
