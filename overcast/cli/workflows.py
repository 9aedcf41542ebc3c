"""``overcast workflows ...`` (validate, ls, run) and ``overcast executions ...`` (start, describe,
history, stop, ls): tables for people, ``--json`` for scripts, one line per error."""

from __future__ import annotations

import json
import os
import re
import sys
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from overcast.cli._output import emit_json, err_console, fail, ok, parse_json, table
from overcast.errors import InvalidDefinition
from overcast.runtime.loader import load_app_file
from overcast.workflows.asl.history import iso_time

if TYPE_CHECKING:
    from overcast.app import App

json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
engine_option = click.option(
    "--engine",
    "engine_url",
    metavar="URL",
    default=None,
    help="Engine URL (overrides $OVERCAST_ENGINE).",
)
STATUSES = ["RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"]


def _app(target: str, engine_url: str | None) -> App:
    if engine_url:
        os.environ["OVERCAST_ENGINE"] = engine_url
    return load_app_file(target)


def _read_definition(file: str) -> dict[str, Any]:
    from overcast.workflows.service import load_definition

    definition, _ = load_definition(Path(file).resolve())
    return definition


def _problems(file: str) -> list[str]:
    from overcast.workflows import validate_definition
    from overcast.workflows.resources import form_problems

    try:
        definition = _read_definition(file)
    except InvalidDefinition as exc:
        return exc.problems
    return validate_definition(definition) + form_problems(definition, express=False)


def _when(epoch: float | None) -> str:
    return "" if epoch is None else iso_time(epoch)


# -- overcast workflows ----------------------------------------------------------------------


@click.group()
def workflows() -> None:
    """Validate, list and run state machines (Amazon States Language)."""


@workflows.command("validate")
@click.argument("files", metavar="FILE.asl.json...", nargs=-1, required=True)
@json_option
def validate(files: tuple[str, ...], as_json: bool) -> None:
    """Check definitions; print every problem with its path and exit non-zero if any."""
    results: list[dict[str, Any]] = [{"file": f, "problems": _problems(f)} for f in files]
    bad = [r for r in results if r["problems"]]
    if as_json:
        emit_json([{**r, "valid": not r["problems"]} for r in results])
    else:
        for result in results:
            if result["problems"]:
                for problem in result["problems"]:
                    prefix = (
                        ""
                        if problem.startswith(str(Path(result["file"]).resolve()))
                        else f"{result['file']}: "
                    )
                    err_console.print(f"{prefix}{problem}", highlight=False, soft_wrap=True)
            else:
                ok(f"{result['file']}: valid")
    if bad:
        total = sum(len(r["problems"]) for r in bad)
        if not as_json:
            fail(f"{total} problem(s) in {len(bad)} definition(s)")
        sys.exit(1)


@workflows.command("ls")
@click.argument("target", metavar="FILE[:APP]")
@json_option
@engine_option
def ls_workflows(target: str, as_json: bool, engine_url: str | None) -> None:
    """List an app's workflows with their executions by status."""
    app = _app(target, engine_url)
    try:
        rows = []
        for name, workflow in sorted(app.workflows.items()):
            counts = {s: len(app.list_executions(name, status=s, limit=1000)) for s in STATUSES}
            rows.append(
                {
                    "name": name,
                    "type": workflow.type,
                    "arn": workflow.arn,
                    "states": len(workflow.definition.get("States", {})),
                    **counts,
                }
            )
    finally:
        app.close()
    if as_json:
        emit_json(rows)
        return
    table(
        ["workflow", "type", "states", "running", "succeeded", "failed", "timed out", "aborted"],
        [
            [
                r["name"],
                r["type"],
                r["states"],
                r["RUNNING"],
                r["SUCCEEDED"],
                r["FAILED"],
                r["TIMED_OUT"],
                r["ABORTED"],
            ]
            for r in rows
        ],
        title="workflows",
    )


@workflows.command("run")
@click.argument("file", metavar="FILE.asl.json")
@click.option("--input", "input_text", default="{}", show_default=True, help="The input, as JSON.")
@click.option(
    "--app",
    "app_target",
    metavar="FILE[:APP]",
    default=None,
    help="The app whose functions and queues the Task states use.",
)
@click.option("--history", "show_history", is_flag=True, help="Print the history events too.")
@json_option
@engine_option
def run_workflow(
    file: str,
    input_text: str,
    app_target: str | None,
    show_history: bool,
    as_json: bool,
    engine_url: str | None,
) -> None:
    """Run a definition once, here, with Task resources from an app; print its output."""
    from overcast.workflows.express import run_in_memory

    problems = _problems(file)
    if problems:
        for problem in problems:
            err_console.print(f"{file}: {problem}", highlight=False, soft_wrap=True)
        fail(f"{file} is not a valid definition ({len(problems)} problem(s))")
    definition = _read_definition(file)
    value = parse_json(input_text, "--input")
    app = _app(app_target, engine_url) if app_target else None
    stem = re.sub(r"[^A-Za-z0-9_-]", "-", Path(file).name.split(".")[0])[:80] or "local"
    try:
        description, history = run_in_memory(
            definition,
            value,
            workflow=stem,
            name=str(uuid.uuid4()),
            app=app,
            clock=app.engine.clock if app is not None else None,
        )
    finally:
        if app is not None:
            app.close()
    if as_json:
        data = {
            "status": description.status,
            "output": description.output,
            "error": description.error,
            "cause": description.cause,
        }
        if show_history:
            data["history"] = history
        emit_json(data)
    else:
        if show_history:
            _history_table(history)
        if description.succeeded:
            click.echo(json.dumps(description.output))
    if not description.succeeded:
        detail = ": ".join(x for x in (description.error, description.cause) if x)
        if as_json:
            sys.exit(1)
        fail(f"execution {description.status}" + (f": {detail}" if detail else ""))


# -- overcast executions ---------------------------------------------------------------------


@click.group()
def executions() -> None:
    """Start, inspect and stop an app's workflow executions."""


@executions.command("start")
@click.argument("target", metavar="FILE[:APP]")
@click.argument("workflow")
@click.option("--input", "input_text", default="{}", show_default=True, help="The input, as JSON.")
@click.option(
    "--name", default=None, help="Execution name (starting twice with one name is idempotent)."
)
@click.option(
    "--wait",
    "wait",
    type=float,
    default=None,
    metavar="SECONDS",
    help="Wait this long for the end (the runtime must be running).",
)
@json_option
@engine_option
def start(
    target: str,
    workflow: str,
    input_text: str,
    name: str | None,
    wait: float | None,
    as_json: bool,
    engine_url: str | None,
) -> None:
    """Start an execution of WORKFLOW and print its ARN."""
    value = parse_json(input_text, "--input")
    app = _app(target, engine_url)
    try:
        handle = app.start_execution(workflow, value, name)
        if wait is None:
            emit_json({"executionArn": handle.arn}) if as_json else click.echo(handle.arn)
            return
        description = handle.wait(wait)
    finally:
        app.close()
    _show(description.to_dict(), as_json)
    if not description.succeeded:
        sys.exit(1)


def _show(data: dict[str, Any], as_json: bool) -> None:
    if as_json:
        emit_json(data)
        return
    rows = [[key, value] for key, value in data.items() if not isinstance(value, dict)]
    table(["", ""], rows, title=data.get("name"))


@executions.command("describe")
@click.argument("target", metavar="FILE[:APP]")
@click.argument("execution", metavar="ARN|WORKFLOW/NAME")
@json_option
@engine_option
def describe(target: str, execution: str, as_json: bool, engine_url: str | None) -> None:
    """Show an execution: status, input, output or error."""
    app = _app(target, engine_url)
    try:
        description = app.describe_execution(execution)
    finally:
        app.close()
    _show(description.to_dict(), as_json)


def _summary(event: dict[str, Any]) -> tuple[str, str]:
    details: dict[str, Any] = next((v for k, v in event.items() if k.endswith("EventDetails")), {})
    state = details.get("name", "")
    if "error" in details:
        text = details["error"] + (f": {details['cause']}" if details.get("cause") else "")
    else:
        text = next((details[k] for k in ("output", "input", "parameters") if k in details), "")
    text = str(text)
    return state, text if len(text) <= 80 else text[:77] + "..."


def _history_table(history: list[dict[str, Any]]) -> None:
    rows = []
    for event in history:
        state, text = _summary(event)
        rows.append([event["id"], event["timestamp"], event["type"], state, text])
    table(["id", "time", "type", "state", "details"], rows, title="history")


@executions.command("history")
@click.argument("target", metavar="FILE[:APP]")
@click.argument("execution", metavar="ARN|WORKFLOW/NAME")
@json_option
@engine_option
def history(target: str, execution: str, as_json: bool, engine_url: str | None) -> None:
    """Show an execution's history events."""
    app = _app(target, engine_url)
    try:
        events = app.execution_history(execution)
    finally:
        app.close()
    if as_json:
        emit_json(events)
    else:
        _history_table(events)


@executions.command("stop")
@click.argument("target", metavar="FILE[:APP]")
@click.argument("execution", metavar="ARN|WORKFLOW/NAME")
@click.option("--error", default=None, help="The error to record.")
@click.option("--cause", default=None, help="The cause to record.")
@json_option
@engine_option
def stop(
    target: str,
    execution: str,
    error: str | None,
    cause: str | None,
    as_json: bool,
    engine_url: str | None,
) -> None:
    """Stop a running execution (status ABORTED)."""
    app = _app(target, engine_url)
    try:
        description = app.stop_execution(execution, error=error, cause=cause)
    finally:
        app.close()
    if as_json:
        emit_json(description.to_dict())
    else:
        ok(f"execution {description.workflow}/{description.name} is {description.status}")


@executions.command("ls")
@click.argument("target", metavar="FILE[:APP]")
@click.option("--workflow", default=None, help="Only this workflow's executions.")
@click.option(
    "--status", type=click.Choice(STATUSES), default=None, help="Only executions with this status."
)
@click.option(
    "--limit", type=int, default=100, show_default=True, help="At most this many, newest first."
)
@json_option
@engine_option
def ls_executions(
    target: str,
    workflow: str | None,
    status: str | None,
    limit: int,
    as_json: bool,
    engine_url: str | None,
) -> None:
    """List executions, newest first."""
    app = _app(target, engine_url)
    try:
        rows = app.list_executions(workflow, status=status, limit=limit)
    finally:
        app.close()
    if as_json:
        emit_json([row.to_dict() for row in rows])
        return
    table(
        ["workflow", "name", "status", "started", "stopped"],
        [[r.workflow, r.name, r.status, _when(r.start_date), _when(r.stop_date)] for r in rows],
        title="executions",
    )


COMMANDS = [workflows, executions]
