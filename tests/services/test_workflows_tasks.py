"""Workflows whose Tasks call app functions in worker processes: retries with backoff under a
driven clock, Lambda-shaped errors, ``lambda:invoke``, idempotency keys across a crash, Express."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from overcast import App, ManualClock
from overcast.engine import open_engine
from overcast.workflows.executor import TASK_LEASE
from tests.apps import wf_tasks


@pytest.fixture(scope="module")
def wf_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The engine of this module's tests (the shared engine fixtures can replace it)."""
    return f"sqlite:///{tmp_path_factory.mktemp('wf-tasks') / 'wf.db'}"


@pytest.fixture(scope="module")
def env(wf_url: str) -> Iterator[tuple[App, ManualClock]]:
    patch = pytest.MonkeyPatch()
    patch.setenv("OVERCAST_ENGINE", wf_url)  # the worker processes open the same engine
    clock = ManualClock()
    app = wf_tasks.app
    app.use_engine(open_engine(wf_url, clock=clock))
    app.pool.prestart(2)
    yield app, clock
    app.close()
    patch.undo()


def kv(app: App, table: str, pk: str) -> list[Any]:
    return [(i.sk, i.value) for i in app.engine.read(lambda tx: tx.kv_query(table, pk))]


def types(history: list[dict[str, Any]]) -> list[str]:
    return [event["type"] for event in history]


def test_retries_back_off_on_the_driven_clock(env: tuple[App, ManualClock]) -> None:
    app, clock = env
    run = app.start_execution("retrying", {"id": "r1", "succeed_on": 3}, "r1")
    app.process_workflows()
    assert [sk for sk, _ in kv(app, "attempts", "r1")] == ["1"]
    clock.advance(9.5)  # the first retry is due after IntervalSeconds = 10
    app.process_workflows()
    assert len(kv(app, "attempts", "r1")) == 1
    clock.advance(0.5)
    app.process_workflows()
    assert len(kv(app, "attempts", "r1")) == 2
    clock.advance(19)  # then 10 x BackoffRate 2
    app.process_workflows()
    assert len(kv(app, "attempts", "r1")) == 2 and run.status == "RUNNING"
    clock.advance(1)
    app.process_workflows()
    description = run.describe()
    assert description.status == "SUCCEEDED" and description.output == {"id": "r1", "attempt": 3}
    keys = [value for _, value in kv(app, "attempts", "r1")]
    assert len(set(keys)) == 3  # each attempt has its own idempotency key
    history = run.history()
    assert types(history).count("TaskFailed") == 2 and types(history)[-1] == "ExecutionSucceeded"
    scheduled = [e["timestamp"] for e in history if e["type"] == "TaskScheduled"]
    assert [s[11:19] for s in scheduled] == ["00:00:00", "00:00:10", "00:00:30"]
    failed = next(e for e in history if e["type"] == "TaskFailed")["taskFailedEventDetails"]
    assert failed == {
        "resourceType": "flaky",
        "resource": "flaky",
        "error": "Flaky",
        "cause": "attempt 1 failed",
    }


def test_retries_exhausted_then_caught(env: tuple[App, ManualClock]) -> None:
    app, clock = env
    run = app.start_execution("retrying", {"id": "r2", "succeed_on": 99}, "r2")
    for _ in range(4):
        app.process_workflows()
        clock.advance(40)
    assert len(kv(app, "attempts", "r2")) == 4  # the first try and MaxAttempts = 3 retries
    output = run.describe().output
    assert output["error"] == {"Error": "Flaky", "Cause": "attempt 4 failed"}


def test_function_errors_take_the_lambda_shape(env: tuple[App, ManualClock]) -> None:
    app, _ = env
    run = app.start_execution("errors", {}, "e1")
    app.process_workflows()
    output = run.describe().output
    assert output["Error"] == "KeyError"
    cause = json.loads(output["Cause"])
    assert cause["errorType"] == "KeyError" and "no such thing" in cause["errorMessage"]
    assert any("wf_tasks.py" in line for line in cause["stackTrace"])


def test_a_crash_reinvokes_with_the_same_idempotency_key(env: tuple[App, ManualClock]) -> None:
    app, clock = env
    service = app.__dict__["_workflow_service"]
    run = app.start_execution("charging", {"order": "o-1", "amount": 30}, "c1")
    service.executor.process_advance()
    runner = service.tasks
    lease = runner.take_task()
    assert lease is not None and lease.body["x"] == "charging/c1"
    runner.run_task(lease)  # the function charged ...
    runner.release(lease)  # ... and the executor died before it recorded the result
    assert run.status == "RUNNING"
    clock.advance(TASK_LEASE + 1)  # the task's lease runs out: it is delivered again
    app.process_workflows()
    description = run.describe()
    assert description.status == "SUCCEEDED"
    key = description.output["charged"]["key"]
    assert description.output == {"charged": {"order": "o-1", "amount": 30, "key": key}}
    assert len(kv(app, "invocations", key)) == 2  # invoked twice, with the same key ...
    charges = app.engine.read(lambda tx: tx.kv_query("charges", key))
    assert len(charges) == 1  # ... and charged once
    other = app.start_execution("charging", {"order": "o-2", "amount": 5}, "c2")
    app.process_workflows()
    assert other.describe().output["charged"]["key"] != key


def test_express_runs_in_memory(env: tuple[App, ManualClock]) -> None:
    app, _ = env
    result = app.start_sync_execution("doubling", {"n": 3})
    assert result.status == "SUCCEEDED" and result.output == {"n": 12}
    assert result.type == "EXPRESS"
    with pytest.raises(Exception, match="STANDARD"):
        app.start_sync_execution("retrying", {})


def test_missing_function_is_refused_before_anything_runs(tmp_path: Path) -> None:
    from overcast import ConfigError

    app = App("broken", engine=f"sqlite:///{tmp_path / 'b.db'}")
    app.workflow(
        "w", {"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "nope", "End": True}}}
    )
    with pytest.raises(ConfigError, match=r"States\.T\.Resource: no function 'nope'"):
        app.start_execution("w", {})
    app.close()
