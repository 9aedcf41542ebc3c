"""Workflows: state transitions per second of (a) a chain of 1,000 Pass states and (b) an inline
Map over 1,000 items with a Choice/Pass body, in ``run_definition``, in the durable executor on
SQLite, and in LocalStack's ASL interpreter driven in-process — all in the same run.

LocalStack runs in a subprocess of its own virtual environment (``.bench-venv-sfn/``, created
here when missing) so that its pins never touch ours:

    localstack-core[base-runtime]==4.4.0  antlr4-python3-runtime==4.13.2  jsonpath-ng==1.7.0
    jpype1  moto-ext

A transition is a state entered (``*StateEntered`` history events): 1,000 for the chain, 2,001
for the Map (the Map state, then a Choice and a Pass per item). Each system takes the definition
as JSON for every execution: ``run_definition`` validates it, LocalStack parses it (as its
execution worker does), the durable executor validated it once when the workflow was declared.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
PEER_VENV = ROOT / ".bench-venv-sfn"
PEER_REQUIREMENTS = [
    "localstack-core[base-runtime]==4.4.0",
    "antlr4-python3-runtime==4.13.2",
    "jsonpath-ng==1.7.0",
    "jpype1",
    "moto-ext",
]
N = 1000


def chain(n: int = N) -> dict[str, Any]:
    states: dict[str, Any] = {
        f"S{i}": {"Type": "Pass", "Result": i, "ResultPath": "$.last", "Next": f"S{i + 1}"}
        for i in range(n)
    }
    del states[f"S{n - 1}"]["Next"]
    states[f"S{n - 1}"]["End"] = True
    return {"StartAt": "S0", "States": states}


def mapped() -> dict[str, Any]:
    body = {
        "StartAt": "Check",
        "States": {
            "Check": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.v", "NumericGreaterThan": 500, "Next": "Big"}],
                "Default": "Small",
            },
            "Big": {"Type": "Pass", "Result": "big", "End": True},
            "Small": {"Type": "Pass", "Result": "small", "End": True},
        },
    }
    return {
        "StartAt": "Each",
        "States": {
            "Each": {
                "Type": "Map",
                "ItemsPath": "$.items",
                "ItemProcessor": {"ProcessorConfig": {"Mode": "INLINE"}, **body},
                "End": True,
            }
        },
    }


CASES: dict[str, tuple[dict[str, Any], Any]] = {
    "chain": (chain(), {}),
    "map": (mapped(), {"items": [{"v": i} for i in range(N)]}),
}


def _entered(history: list[dict[str, Any]]) -> int:
    return sum(1 for event in history if str(event["type"]).endswith("StateEntered"))


def _rate(run_batch: Callable[[int], int], seconds: float) -> float:
    """Transitions per second: batches of growing size, best of three timed thirds."""
    run_batch(1)  # warm up
    best, size = 0.0, 1
    for _ in range(3):
        done, start = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - start) < seconds / 3:
            done += run_batch(size)
        best = max(best, done / elapsed)
        size = max(1, int(best * seconds / 12 / 1000))
    return best


# -- ours ------------------------------------------------------------------------------------


def interpreter(case: str, seconds: float) -> float:
    from overcast.workflows import run_definition

    definition, value = CASES[case]

    def batch(size: int) -> int:
        total = 0
        for _ in range(size):
            execution = run_definition(definition, value, resources={})
            assert execution.succeeded, execution.error
            total += _entered(execution.history)
        return total

    return _rate(batch, seconds)


def durable(case: str, seconds: float, folder: str) -> float:
    from overcast import App

    definition, value = CASES[case]
    app = App("wfbench", engine=f"sqlite:///{folder}/workflows-{case}.db")
    app.workflow(case, definition)
    transitions = _entered(_history_of(definition, value))
    counter = [0]

    def batch(size: int) -> int:
        runs = []
        for _ in range(size):
            counter[0] += 1
            runs.append(app.start_execution(case, value, f"run-{counter[0]}"))
        app.process_workflows()
        assert runs[-1].describe().status == "SUCCEEDED"
        return size * transitions

    try:
        return _rate(batch, seconds)
    finally:
        app.close()


def _history_of(definition: dict[str, Any], value: Any) -> list[dict[str, Any]]:
    from overcast.workflows import run_definition

    return run_definition(definition, value, resources={}).history


# -- LocalStack --------------------------------------------------------------------------------

PEER_DRIVER = textwrap.dedent(
    '''
    import datetime, json, logging, sys, time
    logging.disable(logging.CRITICAL)
    from localstack.aws.api.stepfunctions import StateMachineType
    from localstack.services.stepfunctions.asl.eval.environment import Environment
    from localstack.services.stepfunctions.asl.eval.evaluation_details import AWSExecutionDetails
    from localstack.services.stepfunctions.asl.eval.event.event_manager import EventHistoryContext
    from localstack.services.stepfunctions.asl.eval.program_state import ProgramEnded
    from localstack.services.stepfunctions.asl.eval.states import (
        ContextObjectData, ExecutionData, StateMachineData)
    from localstack.services.stepfunctions.asl.parse.asl_parser import AmazonStateLanguageParser

    def execute(definition, value):
        """One execution as LocalStack's ExecutionWorker runs it: parse, then evaluate."""
        program, _ = AmazonStateLanguageParser.parse(definition)
        env = Environment(
            aws_execution_details=AWSExecutionDetails(
                account="000000000000", region="us-east-1",
                role_arn="arn:aws:iam::000000000000:role/bench"),
            execution_type=StateMachineType.STANDARD,
            context=ContextObjectData(
                Execution=ExecutionData(
                    Id="arn:aws:states:us-east-1:000000000000:execution:bench:run",
                    Input=value, Name="run", RoleArn="arn:aws:iam::000000000000:role/bench",
                    StartTime=datetime.datetime.now(datetime.timezone.utc).isoformat()),
                StateMachine=StateMachineData(
                    Id="arn:aws:states:us-east-1:000000000000:stateMachine:bench", Name="bench")),
            event_history_context=EventHistoryContext.of_program_start(),
            cloud_watch_logging_session=None, activity_store={})
        program.eval(env)
        assert isinstance(env.program_state(), ProgramEnded), env.program_state()
        history = env.event_manager.get_event_history()
        return sum(1 for e in history if str(e["type"]).endswith("StateEntered"))

    job = json.load(sys.stdin)
    execute(json.dumps({"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}}), {})
    out = {}
    for name, (definition, value) in job["cases"].items():
        text = json.dumps(definition)
        for _ in range(job["repeat"][name]):  # best of N, as for ours
            start = time.perf_counter()
            transitions = execute(text, value)
            out[name] = max(out.get(name, 0.0), transitions / (time.perf_counter() - start))
    print(json.dumps(out))
    '''
)


def peer_python(console: Console | None = None) -> Path | None:
    """The peer environment's interpreter, created with its pins when missing."""
    python = PEER_VENV / "bin" / "python"
    if python.exists():
        return python
    if console is not None:
        console.print(f"creating {PEER_VENV.name}/ for LocalStack (once)")
    try:
        subprocess.run([sys.executable, "-m", "venv", str(PEER_VENV)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", *PEER_REQUIREMENTS],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    return python


def localstack(console: Console | None = None) -> dict[str, float] | None:
    python = peer_python(console)
    if python is None:
        return None
    # LocalStack needs seconds per chain and half a minute per Map: best of 3 chains, one Map
    job = {"cases": CASES, "repeat": {"chain": 3, "map": 1}}
    proc = subprocess.run(
        [str(python), "-c", PEER_DRIVER],
        input=json.dumps(job),
        capture_output=True,
        text=True,
        timeout=1800,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    if proc.returncode != 0:
        if console is not None:
            console.print(f"[red]LocalStack driver failed:[/red] {proc.stderr.strip()[-500:]}")
        return None
    result: dict[str, float] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


# -- the table -----------------------------------------------------------------------------------


def measure(
    console: Console | None, seconds: float, folder: str
) -> dict[str, dict[str, float] | None]:
    results: dict[str, dict[str, float] | None] = {}
    results["run_definition"] = {case: interpreter(case, seconds) for case in CASES}
    results["durable executor, SQLite"] = {case: durable(case, seconds, folder) for case in CASES}
    results["LocalStack 4.4.0 ASL interpreter"] = localstack(console)
    return results


def run(console: Console, seconds: float, folder: str) -> None:
    with console.status(
        "workflows: run_definition, durable executor, LocalStack (one run each, slow)"
    ):
        results = measure(console, seconds, folder)
    peer = results["LocalStack 4.4.0 ASL interpreter"]
    table = Table(title="workflow state transitions per second", title_justify="left")
    for col in [
        "system",
        "1,000 Pass chain",
        "vs LocalStack",
        "Map of 1,000 (Choice/Pass)",
        "vs LocalStack",
    ]:
        table.add_column(col, justify="left" if col == "system" else "right")
    for system, figures in results.items():
        if figures is None:
            table.add_row(system, "not available", "", "", "")
            continue
        row = [system]
        for case in CASES:
            row.append(f"{figures[case]:,.0f}")
            row.append(f"{figures[case] / peer[case]:,.0f}x" if peer else "")
        table.add_row(*row)
    console.print(table)
    console.print("targets: run_definition >= 100x LocalStack, durable executor on SQLite >= 10x")


if __name__ == "__main__":
    import tempfile

    parser_seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 2.0
    with tempfile.TemporaryDirectory(prefix="overcast-bench-") as tmp:
        run(Console(), parser_seconds, tmp)
