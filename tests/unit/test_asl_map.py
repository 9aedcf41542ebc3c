"""Map and Parallel: items, selectors, concurrency, failure tolerance, batching, branch failures."""

from __future__ import annotations

from typing import Any

import pytest

from overcast.errors import TaskFailed
from overcast.workflows import run_definition


def fail_odd(value: Any) -> Any:
    if value % 2:
        raise TaskFailed("Odd", f"{value} is odd")
    return value * 10


def map_machine(**fields: Any) -> dict[str, Any]:
    processor = fields.pop(
        "processor",
        {"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "r", "End": True}}},
    )
    return {
        "StartAt": "M",
        "States": {"M": {"Type": "Map", "ItemProcessor": processor, "End": True, **fields}},
    }


def test_items_path_item_selector_and_result_path() -> None:
    definition = map_machine(
        ItemsPath="$.xs",
        ItemSelector={"v.$": "$$.Map.Item.Value", "i.$": "$$.Map.Item.Index", "k.$": "$.k"},
        ResultPath="$.out",
    )
    execution = run_definition(definition, {"xs": [5, 6], "k": "K"}, resources={"r": lambda x: x})
    assert execution.output == {
        "xs": [5, 6],
        "k": "K",
        "out": [{"v": 5, "i": 0, "k": "K"}, {"v": 6, "i": 1, "k": "K"}],
    }


def test_items_must_be_an_array() -> None:
    execution = run_definition(
        map_machine(ItemsPath="$.x"), {"x": {"a": 1}}, resources={"r": lambda x: x}
    )
    assert (execution.status, execution.error) == ("FAILED", "States.Runtime")


def test_empty_items() -> None:
    assert run_definition(map_machine(), [], resources={"r": lambda x: x}).output == []


@pytest.mark.parametrize(
    ("tolerance", "status", "error"),
    [
        ({}, "FAILED", "Odd"),
        ({"ToleratedFailureCount": 2}, "SUCCEEDED", None),
        ({"ToleratedFailureCount": 1}, "FAILED", "States.ExceedToleratedFailureThreshold"),
        ({"ToleratedFailurePercentage": 50}, "SUCCEEDED", None),
        ({"ToleratedFailurePercentage": 49}, "FAILED", "States.ExceedToleratedFailureThreshold"),
        (
            {"ToleratedFailurePercentage": 100, "ToleratedFailureCount": 0},
            "FAILED",
            "States.ExceedToleratedFailureThreshold",
        ),
    ],
)
def test_failure_tolerance(tolerance: dict[str, Any], status: str, error: str | None) -> None:
    execution = run_definition(map_machine(**tolerance), [0, 1, 2, 3], resources={"r": fail_odd})
    assert (execution.status, execution.error) == (status, error)
    if status == "SUCCEEDED":
        assert execution.output == [
            0,
            {"Error": "Odd", "Cause": "1 is odd"},
            20,
            {"Error": "Odd", "Cause": "3 is odd"},
        ]


def test_tolerated_failure_count_path() -> None:
    definition = map_machine(ItemsPath="$.xs", ToleratedFailureCountPath="$.ok")
    execution = run_definition(definition, {"xs": [1, 3], "ok": 2}, resources={"r": fail_odd})
    assert execution.status == "SUCCEEDED"


def test_max_concurrency_one_runs_in_order() -> None:
    order: list[int] = []

    def record(value: Any) -> Any:
        order.append(value)
        return value

    definition = map_machine(MaxConcurrency=1)
    execution = run_definition(definition, [3, 1, 2], resources={"r": record})
    assert execution.output == [3, 1, 2]
    assert order == [3, 1, 2]
    starts = [
        e
        for e in execution.history
        if e["type"] in ("MapIterationStarted", "MapIterationSucceeded")
    ]
    # with one at a time, each iteration ends before the next starts
    assert [e["type"] for e in starts] == ["MapIterationStarted", "MapIterationSucceeded"] * 3


def test_max_concurrency_limits_outstanding_tasks() -> None:
    from overcast.workflows import InvokeTask, TaskSucceeded, start, step

    definition = map_machine(MaxConcurrency=2)
    transition = start(definition, [1, 2, 3, 4, 5], now=0.0)
    tasks = [a for a in transition.actions if isinstance(a, InvokeTask)]
    assert len(tasks) == 2
    transition = step(transition.state, TaskSucceeded(tasks[0].id, 10), now=1.0)
    more = [a for a in transition.actions if isinstance(a, InvokeTask)]
    assert [t.input for t in more] == [3]


def test_failure_stops_other_iterations() -> None:
    from overcast.workflows import CancelTask, InvokeTask, start, step
    from overcast.workflows import TaskFailed as Failed

    transition = start(map_machine(), [1, 2, 3], now=0.0)
    tasks = [a for a in transition.actions if isinstance(a, InvokeTask)]
    transition = step(transition.state, Failed(tasks[0].id, "Boom", "first"), now=1.0)
    cancelled = {a.id for a in transition.actions if isinstance(a, CancelTask)}
    assert cancelled == {tasks[1].id, tasks[2].id}
    assert transition.state.status == "FAILED"
    aborted = [e for e in transition.history if e["type"] == "MapIterationAborted"]
    assert len(aborted) == 2


def test_item_batcher() -> None:
    definition = map_machine(
        ItemBatcher={"MaxItemsPerBatch": 2, "BatchInput": {"job.$": "$.job"}}, ItemsPath="$.xs"
    )
    execution = run_definition(
        definition, {"xs": [1, 2, 3], "job": "j"}, resources={"r": lambda x: x}
    )
    assert execution.output == [
        {"Items": [1, 2], "BatchInput": {"job": "j"}},
        {"Items": [3], "BatchInput": {"job": "j"}},
    ]


def test_item_batcher_max_bytes() -> None:
    definition = map_machine(ItemBatcher={"MaxInputBytesPerBatch": 5})
    execution = run_definition(definition, ["aa", "bb", "cc"], resources={"r": lambda x: x})
    assert execution.output == [{"Items": ["aa"]}, {"Items": ["bb"]}, {"Items": ["cc"]}]


def test_result_selector_on_map() -> None:
    definition = map_machine(ResultSelector={"count.$": "States.ArrayLength($)"})
    assert run_definition(definition, [1, 2], resources={"r": lambda x: x}).output == {"count": 2}


def test_nested_map_in_parallel() -> None:
    definition = {
        "StartAt": "P",
        "States": {
            "P": {
                "Type": "Parallel",
                "Branches": [
                    {"StartAt": "A", "States": {"A": {"Type": "Pass", "Result": "a", "End": True}}},
                    {
                        "StartAt": "M",
                        "States": {"M": dict(map_machine()["States"]["M"], ItemsPath="$.xs")},
                    },
                ],
                "ResultSelector": {"first.$": "$[0]", "second.$": "$[1]"},
                "End": True,
            }
        },
    }
    execution = run_definition(definition, {"xs": [1, 2]}, resources={"r": lambda x: x + 1})
    assert execution.output == {"first": "a", "second": [2, 3]}


def test_parallel_branch_failure_propagates_and_can_be_caught() -> None:
    branches = [
        {"StartAt": "Ok", "States": {"Ok": {"Type": "Pass", "End": True}}},
        {
            "StartAt": "Bad",
            "States": {"Bad": {"Type": "Fail", "Error": "BranchErr", "Cause": "nope"}},
        },
    ]
    definition: dict[str, Any] = {
        "StartAt": "P",
        "States": {"P": {"Type": "Parallel", "Branches": branches, "End": True}},
    }
    execution = run_definition(definition, {}, resources={})
    assert (execution.status, execution.error, execution.cause) == ("FAILED", "BranchErr", "nope")
    definition["States"]["P"]["Catch"] = [
        {"ErrorEquals": ["BranchErr"], "Next": "H", "ResultPath": "$.e"}
    ]
    definition["States"]["H"] = {"Type": "Pass", "End": True}
    assert run_definition(definition, {"k": 1}, resources={}).output == {
        "k": 1,
        "e": {"Error": "BranchErr", "Cause": "nope"},
    }


def test_parallel_parameters_and_branch_input() -> None:
    definition = {
        "StartAt": "P",
        "States": {
            "P": {
                "Type": "Parallel",
                "Parameters": {"v.$": "$.v"},
                "Branches": [
                    {
                        "StartAt": "A",
                        "States": {"A": {"Type": "Task", "Resource": "r", "End": True}},
                    },
                    {
                        "StartAt": "B",
                        "States": {"B": {"Type": "Pass", "OutputPath": "$.v", "End": True}},
                    },
                ],
                "End": True,
            }
        },
    }
    assert run_definition(definition, {"v": 2, "w": 0}, resources={"r": lambda x: x}).output == [
        {"v": 2},
        2,
    ]


def test_jsonata_map_with_expressions() -> None:
    definition = map_machine(
        Items="{% $states.input.xs %}",
        ItemSelector={"n": "{% $states.context.Map.Item.Value %}", "k": "{% $states.input.k %}"},
        MaxConcurrency="{% 1 %}",
        Output="{% $sum($states.result) %}",
        processor={
            "StartAt": "P",
            "States": {
                "P": {
                    "Type": "Pass",
                    "Output": "{% $states.input.n * $states.input.k %}",
                    "End": True,
                }
            },
        },
    )
    definition["QueryLanguage"] = "JSONata"
    assert run_definition(definition, {"xs": [1, 2, 3], "k": 2}, resources={}).output == 12
