"""Retry and Catch: backoff figures, retrier order and counts, wildcards, timeouts, catchers."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest

from overcast.errors import TaskFailed
from overcast.workflows import run_definition
from overcast.workflows.asl.errors import decide_retry, error_matches, retry_delay


class FakeClock:
    def __init__(self, start: float = 1_767_225_600.0) -> None:
        self.t = start

    def now(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


def failing(*errors: str) -> Callable[[Any], Any]:
    """A resource that fails with each error in turn, then succeeds with the attempt count."""
    calls = 0

    def resource(value: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls <= len(errors):
            raise TaskFailed(errors[calls - 1], f"call {calls}")
        return {"calls": calls}

    return resource


def task(
    retry: list[dict[str, Any]] | None = None,
    catch: list[dict[str, Any]] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    state: dict[str, Any] = {"Type": "Task", "Resource": "r", "End": True, **extra}
    if retry is not None:
        state["Retry"] = retry
    if catch is not None:
        state["Catch"] = catch
    states = {"T": state}
    for c in catch or ():
        states[c["Next"]] = {"Type": "Pass", "End": True}
    return {"StartAt": "T", "States": states}


def scheduled_offsets(history: list[dict[str, Any]]) -> list[float]:
    times = [
        datetime.fromisoformat(e["timestamp"].replace("Z", "+00:00")).timestamp()
        for e in history
        if e["type"] == "TaskScheduled"
    ]
    return [round(t - times[0], 3) for t in times]


@pytest.mark.parametrize(
    ("retrier", "offsets"),
    [
        ({"ErrorEquals": ["E"], "MaxAttempts": 3}, [0, 1, 3, 7]),  # defaults: 1s, x2.0
        (
            {"ErrorEquals": ["E"], "IntervalSeconds": 3, "BackoffRate": 1.5, "MaxAttempts": 3},
            [0, 3, 7.5, 14.25],
        ),
        (
            {
                "ErrorEquals": ["E"],
                "IntervalSeconds": 2,
                "BackoffRate": 3,
                "MaxDelaySeconds": 10,
                "MaxAttempts": 3,
            },
            [0, 2, 8, 18],
        ),
        (
            {"ErrorEquals": ["E"], "IntervalSeconds": 5, "BackoffRate": 1.0, "MaxAttempts": 3},
            [0, 5, 10, 15],
        ),
    ],
)
def test_backoff_figures_in_virtual_time(retrier: dict[str, Any], offsets: list[float]) -> None:
    clock = FakeClock()
    execution = run_definition(
        task([retrier]), {}, resources={"r": failing("E", "E", "E")}, clock=clock
    )
    assert execution.status == "SUCCEEDED"
    assert execution.output == {"calls": 4}
    assert scheduled_offsets(execution.history) == offsets
    assert clock.t - 1_767_225_600.0 == pytest.approx(offsets[-1])


def test_retry_delay_function() -> None:
    r = {"ErrorEquals": ["E"], "IntervalSeconds": 1, "BackoffRate": 2.0}
    assert [retry_delay(r, n) for n in range(5)] == [1, 2, 4, 8, 16]
    capped = dict(r, MaxDelaySeconds=5)
    assert [retry_delay(capped, n) for n in range(5)] == [1, 2, 4, 5, 5]
    jitter = dict(capped, JitterStrategy="FULL")
    rng = random.Random(1)
    delays = [retry_delay(jitter, 4, rng) for _ in range(200)]
    assert all(0 <= d <= 5 for d in delays) and len(set(delays)) > 100


def test_max_attempts_exhausted_fails_with_last_error() -> None:
    execution = run_definition(
        task([{"ErrorEquals": ["E"], "MaxAttempts": 2}]),
        {},
        resources={"r": failing("E", "E", "E")},
    )
    assert (execution.status, execution.error, execution.cause) == ("FAILED", "E", "call 3")


def test_only_the_first_matching_retrier_applies() -> None:
    retry = [
        {"ErrorEquals": ["E"], "MaxAttempts": 0},
        {"ErrorEquals": ["States.ALL"], "MaxAttempts": 5},
    ]
    execution = run_definition(task(retry), {}, resources={"r": failing("E")})
    assert execution.status == "FAILED"
    assert sum(e["type"] == "TaskScheduled" for e in execution.history) == 1


def test_each_retrier_counts_its_own_attempts() -> None:
    retry = [{"ErrorEquals": ["A"], "MaxAttempts": 1}, {"ErrorEquals": ["B"], "MaxAttempts": 2}]
    ok = run_definition(task(retry), {}, resources={"r": failing("A", "B", "B")})
    assert ok.output == {"calls": 4}
    exhausted = run_definition(task(retry), {}, resources={"r": failing("B", "A", "A")})
    assert (exhausted.status, exhausted.error) == ("FAILED", "A")


def test_decide_retry_counts() -> None:
    retry = [{"ErrorEquals": ["A"], "MaxAttempts": 2, "IntervalSeconds": 3}]
    assert decide_retry(retry, [0], "B") is None
    first = decide_retry(retry, [0], "A")
    assert first is not None and (first.retrier, first.delay) == (0, 3)
    done = decide_retry(retry, [2], "A")
    assert done is not None and done.delay is None


@pytest.mark.parametrize(
    ("names", "error", "expected"),
    [
        (["States.ALL"], "Anything", True),
        (["States.ALL"], "States.Timeout", True),
        (["States.ALL"], "States.Runtime", False),
        (["States.ALL"], "States.DataLimitExceeded", False),
        (["States.TaskFailed"], "Custom", True),
        (["States.TaskFailed"], "States.Timeout", False),
        (["States.Timeout"], "States.Timeout", True),
        (["A", "B"], "B", True),
        (["A"], "a", False),
    ],
)
def test_error_matching(names: list[str], error: str, expected: bool) -> None:
    assert error_matches(names, error) is expected


def slow(clock: FakeClock, seconds: float) -> Callable[[Any], Any]:
    def resource(value: Any) -> Any:
        clock.advance(seconds)
        return "late"

    return resource


def test_task_timeout_is_states_timeout() -> None:
    clock = FakeClock()
    execution = run_definition(
        task(TimeoutSeconds=5), {}, resources={"r": slow(clock, 10)}, clock=clock
    )
    assert (execution.status, execution.error) == ("FAILED", "States.Timeout")
    assert "TaskTimedOut" in [e["type"] for e in execution.history]


def test_task_within_timeout_succeeds() -> None:
    clock = FakeClock()
    execution = run_definition(
        task(TimeoutSeconds=5), {}, resources={"r": slow(clock, 2)}, clock=clock
    )
    assert execution.output == "late"


def test_timeout_seconds_path() -> None:
    clock = FakeClock()
    definition = task(TimeoutSecondsPath="$.limit")
    execution = run_definition(
        definition, {"limit": 1}, resources={"r": slow(clock, 2)}, clock=clock
    )
    assert execution.error == "States.Timeout"


def test_states_task_failed_does_not_catch_timeout_but_timeout_does() -> None:
    clock = FakeClock()
    catch = [
        {"ErrorEquals": ["States.TaskFailed"], "Next": "A"},
        {"ErrorEquals": ["States.Timeout"], "Next": "B"},
    ]
    definition = task(catch=catch, TimeoutSeconds=1)
    definition["States"]["B"] = {"Type": "Pass", "Result": "timeout handler", "End": True}
    execution = run_definition(definition, {}, resources={"r": slow(clock, 3)}, clock=clock)
    assert execution.output == "timeout handler"


def test_plain_exception_becomes_class_name_and_message() -> None:
    def boom(value: Any) -> Any:
        raise KeyError("missing")

    execution = run_definition(task(), {}, resources={"r": boom})
    assert (execution.error, execution.cause) == ("KeyError", "'missing'")


def test_catch_result_path_merges_error_into_input() -> None:
    definition = task(catch=[{"ErrorEquals": ["E"], "Next": "H", "ResultPath": "$.error"}])
    execution = run_definition(definition, {"k": 1}, resources={"r": failing("E")})
    assert execution.output == {"k": 1, "error": {"Error": "E", "Cause": "call 1"}}


def test_catch_after_retries_are_exhausted() -> None:
    definition = task(
        [{"ErrorEquals": ["E"], "MaxAttempts": 1}], [{"ErrorEquals": ["States.ALL"], "Next": "H"}]
    )
    execution = run_definition(definition, {}, resources={"r": failing("E", "E")})
    assert execution.output == {"Error": "E", "Cause": "call 2"}


def test_runtime_errors_are_never_caught() -> None:
    definition = task(catch=[{"ErrorEquals": ["States.ALL"], "Next": "H"}], InputPath="$.missing")
    execution = run_definition(definition, {}, resources={"r": lambda x: x})
    assert (execution.status, execution.error) == ("FAILED", "States.Runtime")


def test_jsonata_catcher_output_and_assign() -> None:
    definition = task(
        catch=[
            {
                "ErrorEquals": ["States.ALL"],
                "Next": "H",
                "Output": {
                    "msg": "{% $states.errorOutput.Error & '!' %}",
                    "in": "{% $states.input.k %}",
                },
                "Assign": {"err": "{% $states.errorOutput.Cause %}"},
            }
        ]
    )
    definition["QueryLanguage"] = "JSONata"
    definition["States"]["H"] = {
        "Type": "Pass",
        "Output": {"caught": "{% $states.input %}", "err": "{% $err %}"},
        "End": True,
    }
    execution = run_definition(definition, {"k": 7}, resources={"r": failing("E")})
    assert execution.output == {"caught": {"msg": "E!", "in": 7}, "err": "call 1"}


def test_retry_on_parallel_reruns_the_whole_state() -> None:
    flaky = failing("E")
    definition = {
        "StartAt": "P",
        "States": {
            "P": {
                "Type": "Parallel",
                "Retry": [{"ErrorEquals": ["E"], "MaxAttempts": 1}],
                "Branches": [
                    {
                        "StartAt": "T",
                        "States": {"T": {"Type": "Task", "Resource": "r", "End": True}},
                    }
                ],
                "End": True,
            }
        },
    }
    execution = run_definition(definition, {}, resources={"r": flaky})
    assert execution.output == [{"calls": 2}]
    assert execution.state is not None and execution.state.done
