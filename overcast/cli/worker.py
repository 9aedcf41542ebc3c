"""``overcast worker``: one of any number of processes that share an app's work on one engine.

Before changing: a worker runs exactly what ``overcast run`` runs for the app — its queue
pollers, asynchronous invocations and the roles services add (scheduler, executors...) — and
nothing else: no HTTP gateway unless ``--gateway``. Sharing is the engine's job (receives skip
what others hold, leases elect one leader), so a worker needs no knowledge of the others.
"""

from __future__ import annotations

import logging
import os

import click

from overcast.cli._output import ok
from overcast.engine import display_url
from overcast.runtime.loader import load_app_file


@click.command()
@click.argument("target", metavar="FILE[:APP]")
@click.option("--engine", "engine_url", metavar="URL", default=None,
              help="Engine URL shared by every worker (default: $OVERCAST_ENGINE, overcast.toml).")
@click.option("--gateway", is_flag=True, help="Also serve the app's HTTP routes.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Where the gateway listens (--gateway).")
@click.option("--port", type=int, default=8000, show_default=True, help="The gateway's port (--gateway).")
@click.option("--log-level", default="info", show_default=True,
              type=click.Choice(["debug", "info", "warning", "error"]))
def worker(target: str, engine_url: str | None, gateway: bool, host: str, port: int, log_level: str) -> None:
    """Run an app's pollers, async invocations and roles, sharing the work with every other
    worker on the same engine (start as many as you like, on any machine), until Ctrl-C."""
    if engine_url:
        os.environ["OVERCAST_ENGINE"] = engine_url
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from overcast.runtime.supervisor import Runtime

    app = load_app_file(target)
    app.serve_gateway = gateway
    app.gateway_host, app.gateway_port = host, port
    runtime = Runtime(app)

    def ready(rt: Runtime) -> None:
        served = f", HTTP on http://{host}:{port}" if gateway and app.routes else ""
        ok(f"overcast worker {os.getpid()}: app {app.name!r} on {display_url(app.engine_url)} — "
           f"{len(app.queue_sources)} queue mapping(s), {len(app.functions)} function(s), "
           f"{len(rt.roles)} role(s){served}; Ctrl-C to stop")

    runtime.run_forever(on_ready=ready)
    ok(f"overcast worker {os.getpid()}: stopped after {runtime.processed()} message(s)")


COMMANDS = [worker]
