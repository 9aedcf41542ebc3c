"""JSONata states and workflow variables (Assign) in both query languages."""

from __future__ import annotations

from typing import Any

from overcast.errors import TaskFailed
from overcast.workflows import run_definition


def jsonata(states: dict[str, Any], start: str | None = None) -> dict[str, Any]:
    return {"QueryLanguage": "JSONata", "StartAt": start or next(iter(states)), "States": states}


def run(definition: dict[str, Any], data: Any = None, **resources: Any) -> Any:
    execution = run_definition(definition, data, resources=resources)
    assert execution.status == "SUCCEEDED", (execution.error, execution.cause)
    return execution.output


def fails(
    definition: dict[str, Any], data: Any = None, **resources: Any
) -> tuple[str | None, str | None]:
    execution = run_definition(definition, data, resources=resources)
    assert execution.status == "FAILED"
    return execution.error, execution.cause


def test_arguments_output_and_result() -> None:
    definition = jsonata(
        {
            "T": {
                "Type": "Task",
                "Resource": "r",
                "Arguments": {
                    "sum": "{% $states.input.a + $states.input.b %}",
                    "lit": "$.not_a_path",
                    "n": [1, "{% 2 %}"],
                },
                "Output": "{% $merge([$states.result, {'in': $states.input.a}]) %}",
                "End": True,
            }
        }
    )
    assert run(definition, {"a": 1, "b": 2}, r=lambda x: x) == {
        "sum": 3,
        "lit": "$.not_a_path",
        "n": [1, 2],
        "in": 1,
    }


def test_default_outputs() -> None:
    definition = jsonata(
        {
            "T": {"Type": "Task", "Resource": "r", "Next": "P"},
            "P": {"Type": "Pass", "Next": "W"},
            "W": {"Type": "Wait", "Seconds": "{% $states.input.w %}", "Next": "S"},
            "S": {"Type": "Succeed"},
        }
    )
    assert run(definition, {"w": 0}, r=lambda x: dict(x, done=True)) == {"w": 0, "done": True}


def test_context_and_sfn_functions() -> None:
    definition = jsonata(
        {
            "P": {
                "Type": "Pass",
                "Output": {
                    "name": "{% $states.context.State.Name %}",
                    "input": "{% $states.context.Execution.Input %}",
                    "parts": "{% $partition([1,2,3,4,5], 2) %}",
                    "range": "{% $range(0, 10, 5) %}",
                    "hash": "{% $hash('input data', 'MD5') %}",
                    "parsed": "{% $parse('{\"a\": [1]}') %}",
                    "uuid": "{% $length($uuid()) %}",
                    "random": "{% $random() < 1 %}",
                    "now": "{% $now() = $states.context.State.EnteredTime %}",
                },
                "End": True,
            }
        }
    )
    out = run(definition, {"k": 1})
    assert out == {
        "name": "P",
        "input": {"k": 1},
        "parts": [[1, 2], [3, 4], [5]],
        "range": [0, 5, 10],
        "hash": "812f45842bc6d66ee14572ce20db8e86",
        "parsed": {"a": [1]},
        "uuid": 36,
        "random": True,
        "now": True,
    }


def test_undefined_field_is_query_evaluation_error() -> None:
    definition = jsonata(
        {"P": {"Type": "Pass", "Output": {"x": "{% $states.input.missing %}"}, "End": True}}
    )
    error, cause = fails(definition, {})
    assert error == "States.QueryEvaluationError"
    assert "Output.x" in (cause or "")


def test_query_evaluation_error_can_be_caught() -> None:
    definition = jsonata(
        {
            "T": {
                "Type": "Task",
                "Resource": "r",
                "Arguments": "{% $number('x') + $undefinedFn() %}",
                "Catch": [{"ErrorEquals": ["States.QueryEvaluationError"], "Next": "H"}],
                "End": True,
            },
            "H": {"Type": "Pass", "Output": "{% $states.input.Error %}", "End": True},
        }
    )
    assert run(definition, {}, r=lambda x: x) == "States.QueryEvaluationError"


def test_nulls_survive_round_trip() -> None:
    definition = jsonata(
        {
            "P": {
                "Type": "Pass",
                "Output": {"n": "{% null %}", "a": "{% $states.input.a %}"},
                "End": True,
            }
        }
    )
    assert run(definition, {"a": [None, {"b": None}]}) == {"n": None, "a": [None, {"b": None}]}


def test_state_level_query_language_override() -> None:
    definition = {
        "StartAt": "A",
        "States": {
            "A": {"Type": "Pass", "Parameters": {"x.$": "$.v"}, "Next": "B"},
            "B": {
                "Type": "Pass",
                "QueryLanguage": "JSONata",
                "Output": "{% $states.input.x * 3 %}",
                "End": True,
            },
        },
    }
    assert run(definition, {"v": 2}) == 6


# -- variables -------------------------------------------------------------------------------------


def test_assign_and_output_see_values_from_before_the_state() -> None:
    definition = jsonata(
        {
            "A": {"Type": "Pass", "Assign": {"x": 1}, "Next": "B"},
            "B": {
                "Type": "Pass",
                "Assign": {"x": "{% $x + 10 %}"},
                "Output": "{% $x %}",
                "Next": "C",
            },
            "C": {
                "Type": "Pass",
                "Output": {"before": "{% $states.input %}", "after": "{% $x %}"},
                "End": True,
            },
        }
    )
    assert run(definition) == {"before": 1, "after": 11}


def test_task_assign_sees_result_in_jsonata() -> None:
    definition = jsonata(
        {
            "T": {
                "Type": "Task",
                "Resource": "r",
                "Assign": {"got": "{% $states.result.v %}"},
                "Output": "{% $states.input %}",
                "Next": "P",
            },
            "P": {
                "Type": "Pass",
                "Output": {"got": "{% $got %}", "in": "{% $states.input %}"},
                "End": True,
            },
        }
    )
    assert run(definition, {"v": 0}, r=lambda x: {"v": 9}) == {"got": 9, "in": {"v": 0}}


def test_inner_scopes_read_outer_variables() -> None:
    definition = jsonata(
        {
            "A": {"Type": "Pass", "Assign": {"factor": 3}, "Next": "M"},
            "M": {
                "Type": "Map",
                "ItemProcessor": {
                    "StartAt": "I",
                    "States": {
                        "I": {
                            "Type": "Pass",
                            "Assign": {"local": "{% $states.input * $factor %}"},
                            "Next": "J",
                        },
                        "J": {"Type": "Pass", "Output": "{% $local %}", "End": True},
                    },
                },
                "Next": "After",
            },
            "After": {
                "Type": "Pass",
                "Output": {"r": "{% $states.input %}", "local": "{% $exists($local) %}"},
                "End": True,
            },
        }
    )
    assert run(definition, [1, 2]) == {"r": [3, 6], "local": False}


def test_inner_scope_cannot_assign_outer_variable() -> None:
    definition = {
        "StartAt": "A",
        "States": {
            "A": {"Type": "Pass", "Assign": {"x": 1}, "Next": "P"},
            "P": {
                "Type": "Parallel",
                "Branches": [
                    {
                        "StartAt": "B",
                        "States": {"B": {"Type": "Pass", "Assign": {"x": 2}, "End": True}},
                    }
                ],
                "End": True,
            },
        },
    }
    error, cause = fails(definition, {})
    assert error == "States.Runtime"
    assert "outer scope" in (cause or "")


def test_jsonpath_assign_with_paths_context_and_result_selector() -> None:
    definition = {
        "StartAt": "T",
        "States": {
            "T": {
                "Type": "Task",
                "Resource": "r",
                "ResultSelector": {"v.$": "$.value"},
                "Assign": {"picked.$": "$.v", "state.$": "$$.State.Name", "static": {"a": [1]}},
                "ResultPath": "$.res",
                "Next": "P",
            },
            "P": {
                "Type": "Pass",
                "Parameters": {
                    "picked.$": "$picked",
                    "state.$": "$state",
                    "a.$": "$static.a[0]",
                    "in.$": "$",
                },
                "End": True,
            },
        },
    }
    out = run(definition, {"k": 1}, r=lambda x: {"value": 5, "other": 0})
    assert out == {"picked": 5, "state": "T", "a": 1, "in": {"k": 1, "res": {"v": 5}}}


def test_catcher_assign_in_jsonpath() -> None:
    def boom(value: Any) -> Any:
        raise TaskFailed("E", "why")

    definition = {
        "StartAt": "T",
        "States": {
            "T": {
                "Type": "Task",
                "Resource": "r",
                "Catch": [
                    {
                        "ErrorEquals": ["States.ALL"],
                        "Assign": {"why.$": "$.Cause"},
                        "ResultPath": None,
                        "Next": "P",
                    }
                ],
                "End": True,
            },
            "P": {"Type": "Pass", "Parameters": {"why.$": "$why"}, "End": True},
        },
    }
    assert run(definition, {}, r=boom) == {"why": "why"}


def test_undefined_variable_in_jsonpath_is_runtime_error() -> None:
    definition = {
        "StartAt": "P",
        "States": {"P": {"Type": "Pass", "Parameters": {"x.$": "$nope"}, "End": True}},
    }
    error, _ = fails(definition, {})
    assert error == "States.Runtime"


def test_assigned_variables_appear_in_history() -> None:
    definition = jsonata({"A": {"Type": "Pass", "Assign": {"x": "{% 1 + 1 %}"}, "End": True}})
    execution = run_definition(definition, {}, resources={})
    exited = [e for e in execution.history if e["type"] == "PassStateExited"][0]
    assert exited["stateExitedEventDetails"]["assignedVariables"] == {"x": "2"}
