"""``overcast routes ls`` and ``overcast keys create|ls|revoke``."""

from __future__ import annotations

import click

from overcast.cli._output import emit_json, ok, table
from overcast.config import resolve_engine_url
from overcast.engine import open_engine
from overcast.gateway.keys import PERIODS, KeyStore
from overcast.runtime.loader import load_app_file

json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
engine_option = click.option("--engine", "engine_url", metavar="URL", default=None,
                             help="Engine URL (default: $OVERCAST_ENGINE, overcast.toml, then .overcast/).")


@click.group()
def routes() -> None:
    """The HTTP routes of an app."""


@routes.command("ls")
@click.argument("target", metavar="FILE[:APP]")
@json_option
def routes_ls(target: str, as_json: bool) -> None:
    """List the app's routes: method, path, integration, where a handler runs, authorizer."""
    app = load_app_file(target)
    rows = []
    for route in app.routes:
        target_name = route.function or route.queue or route.bus or route.workflow or route.upstream or (
            "mock" if route.mock is not None else ", ".join(route.parts or {}))
        runs = None
        if route.function is not None:
            runs = "inline" if route.runs_inline(app.functions[route.function].is_async) else "process"
        rows.append({"method": route.method, "path": route.path, "integration": route.kind,
                     "target": target_name, "runs": runs, "auth": route.auth, "timeout": route.timeout})
    if as_json:
        emit_json(rows)
        return
    table(["method", "path", "integration", "target", "runs", "auth", "timeout"],
          [[r["method"], r["path"], r["integration"], r["target"], r["runs"] or "-", r["auth"] or "-",
            f"{r['timeout']:g}s"] for r in rows], title="routes")


@click.group()
def keys() -> None:
    """API keys and their usage plans (rate, burst, quota)."""


def _store(engine_url: str | None) -> KeyStore:
    return KeyStore(open_engine(resolve_engine_url(engine_url)))


@keys.command("create")
@click.argument("name")
@click.option("--plan", default=None, help="An existing usage plan (else the limits below make one).")
@click.option("--rate", type=float, default=None, help="Steady requests per second.")
@click.option("--burst", type=int, default=None, help="Requests allowed at once (token bucket size).")
@click.option("--quota", type=int, default=None, help="Requests per period.")
@click.option("--period", type=click.Choice(PERIODS), default="day", show_default=True)
@engine_option
@json_option
def keys_create(name: str, plan: str | None, rate: float | None, burst: int | None, quota: int | None,
                period: str, engine_url: str | None, as_json: bool) -> None:
    """Create an API key and print its value (shown once: store it)."""
    value = _store(engine_url).create(name, plan=plan, rate=rate, burst=burst, quota=quota, period=period)
    if as_json:
        emit_json({"name": name, "key": value})
    else:
        click.echo(value)
        ok(f"key {name!r} created; send it as the x-api-key header")


@keys.command("ls")
@engine_option
@json_option
def keys_ls(engine_url: str | None, as_json: bool) -> None:
    """List API keys (never their values)."""
    rows = _store(engine_url).list()
    if as_json:
        emit_json(rows)
        return
    table(["name", "plan", "revoked"], [[r["name"], r["plan"] or "-", "yes" if r["revoked"] else "no"]
                                         for r in rows], title="API keys")


@keys.command("revoke")
@click.argument("name")
@engine_option
def keys_revoke(name: str, engine_url: str | None) -> None:
    """Revoke an API key: requests with it get 403 from now on."""
    _store(engine_url).revoke(name)
    ok(f"key {name!r} revoked")


COMMANDS = [routes, keys]
