"""``overcast run`` (the whole app until Ctrl-C) and ``overcast invoke`` (one function, once)."""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

import click

from overcast.cli._output import emit_json, fail, ok, parse_json
from overcast.engine import display_url
from overcast.errors import FunctionError
from overcast.runtime.loader import load_app_file


@click.command()
@click.argument("target", metavar="FILE[:APP]")
@click.option("--engine", "engine_url", metavar="URL", default=None, help="Engine URL for this run.")
@click.option("--reload", is_flag=True, help="Restart when the app's Python files change.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Where the HTTP gateway listens.")
@click.option("--port", type=int, default=8000, show_default=True, help="The HTTP gateway's port.")
@click.option("--log-level", default="info", show_default=True,
              type=click.Choice(["debug", "info", "warning", "error"]))
def run(target: str, engine_url: str | None, reload: bool, host: str, port: int, log_level: str) -> None:
    """Run an app: its HTTP routes, queue pollers, async invocations and workers, until Ctrl-C."""
    if engine_url:
        os.environ["OVERCAST_ENGINE"] = engine_url
    if reload:
        _run_with_reload(f"{target} --host {host} --port {port}", log_level)
        return
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from overcast.runtime.supervisor import Runtime

    app = load_app_file(target)
    app.gateway_host, app.gateway_port = host, port
    runtime = Runtime(app)

    def ready(rt: Runtime) -> None:
        served = f", HTTP on http://{host}:{port}" if app.routes else ""
        ok(f"overcast: app {app.name!r} running on {display_url(app.engine_url)} — "
           f"{len(app.queue_sources)} queue mapping(s), {len(app.functions)} function(s){served}; Ctrl-C to stop")

    runtime.run_forever(on_ready=ready)
    ok(f"overcast: stopped after {runtime.processed()} message(s)")


def _run_with_reload(target: str, log_level: str) -> None:
    import watchfiles

    folder = Path(target.split()[0].partition(":")[0]).resolve().parent
    ok(f"overcast: watching {folder} for changes")
    watchfiles.run_process(
        folder,
        target=f"{sys.executable} -m overcast run {target} --log-level {log_level}",
        target_type="command",
        watch_filter=watchfiles.PythonFilter(),
    )


@click.command()
@click.argument("target", metavar="FILE[:APP]")
@click.argument("function")
@click.option("--payload", default="null", show_default=True, help="The event, as JSON.")
@click.option("--async", "is_async", is_flag=True, help="Queue an asynchronous invocation instead.")
@click.option("--engine", "engine_url", metavar="URL", default=None, help="Engine URL.")
@click.option("--json", "as_json", is_flag=True, help="Print the result (or error) as JSON.")
def invoke(target: str, function: str, payload: str, is_async: bool, engine_url: str | None,
           as_json: bool) -> None:
    """Invoke FUNCTION of the app in FILE with a JSON payload and print its result."""
    if engine_url:
        os.environ["OVERCAST_ENGINE"] = engine_url
    event: Any = parse_json(payload, "--payload")
    app = load_app_file(target)
    try:
        if is_async:
            invocation_id = app.invoke_async(function, event)
            emit_json({"invocation_id": invocation_id}) if as_json else click.echo(invocation_id)
            return
        try:
            result = app.invoke(function, event)
        except FunctionError as exc:
            if as_json:
                emit_json(exc.to_payload())
                sys.exit(1)
            if exc.traceback:
                click.echo(exc.traceback.rstrip(), err=True)
            fail(str(exc))
        click.echo(json.dumps(result, indent=None if not as_json else 2))
    finally:
        app.close()


COMMANDS = [run, invoke]
