"""validate_definition: every kind of bad definition is reported with its path."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from overcast.errors import InvalidDefinition
from overcast.workflows import assert_valid, run_definition, validate_definition


def machine(**states: Any) -> dict[str, Any]:
    first = next(iter(states))
    return {"StartAt": first, "States": states}


END = {"Type": "Succeed"}
TASK = {"Type": "Task", "Resource": "r", "End": True}


def with_state(state: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return machine(S=state, **extra)


# (id, definition, expected substring of one problem)
BAD: list[tuple[str, Any, str]] = [
    ("not_an_object", [], "must be a JSON object"),
    ("missing_start_at", {"States": {"A": END}}, "StartAt: missing required field"),
    ("start_at_unknown", {"StartAt": "B", "States": {"A": END}}, 'StartAt: no state named "B"'),
    ("missing_states", {"StartAt": "A"}, "States: missing required field"),
    ("empty_states", {"StartAt": "A", "States": {}}, "States: must be a non-empty object"),
    ("unknown_top_field", dict(machine(A=END), Foo=1), "Foo: unknown top-level field"),
    (
        "bad_top_timeout",
        dict(machine(A=END), TimeoutSeconds=0),
        "TimeoutSeconds: must be a positive integer",
    ),
    ("bad_query_language", dict(machine(A=END), QueryLanguage="XPath"), "QueryLanguage: must be"),
    ("missing_type", with_state({"End": True}), "States.S.Type: missing required field"),
    ("unknown_type", with_state({"Type": "Sleep", "End": True}), "unknown state type 'Sleep'"),
    (
        "unknown_field",
        with_state({"Type": "Pass", "End": True, "Foo": 1}),
        "States.S.Foo: field not allowed in a Pass state",
    ),
    (
        "next_and_end",
        machine(S={"Type": "Pass", "Next": "E", "End": True}, E=END),
        "States.S: a state cannot have both Next and End",
    ),
    (
        "neither_next_nor_end",
        with_state({"Type": "Pass"}),
        'States.S: a non-terminal state needs Next or "End": true',
    ),
    (
        "unknown_next",
        machine(S={"Type": "Pass", "Next": "Shipp"}, Ship=END),
        'States.S.Next: no state named "Shipp"',
    ),
    (
        "end_not_boolean",
        with_state({"Type": "Pass", "End": "yes"}),
        "States.S.End: must be a boolean",
    ),
    (
        "succeed_with_next",
        machine(S={"Type": "Succeed", "Next": "E"}, E=END),
        "States.S.Next: a Succeed state cannot have Next",
    ),
    (
        "fail_with_end",
        with_state({"Type": "Fail", "End": True}),
        "States.S.End: a Fail state cannot have End",
    ),
    ("unreachable_state", machine(A=END, B=END), 'States.B: state "B" is not reachable'),
    ("long_state_name", machine(**{"x" * 81: END}), "state names are at most 80 characters"),
    (
        "task_without_resource",
        with_state({"Type": "Task", "End": True}),
        "States.S.Resource: missing required field",
    ),
    (
        "bad_timeout_seconds",
        with_state(dict(TASK, TimeoutSeconds=-5)),
        "States.S.TimeoutSeconds: must be a positive integer",
    ),
    (
        "timeout_and_timeout_path",
        with_state(dict(TASK, TimeoutSeconds=5, TimeoutSecondsPath="$.t")),
        "TimeoutSeconds and TimeoutSecondsPath are mutually exclusive",
    ),
    (
        "heartbeat_not_below_timeout",
        with_state(dict(TASK, TimeoutSeconds=5, HeartbeatSeconds=5)),
        "HeartbeatSeconds: must be smaller than TimeoutSeconds",
    ),
    (
        "choice_without_choices",
        machine(S={"Type": "Choice", "Default": "E"}, E=END),
        "States.S.Choices: missing required field",
    ),
    (
        "choice_empty_choices",
        machine(S={"Type": "Choice", "Choices": [], "Default": "E"}, E=END),
        "States.S.Choices: must be a non-empty array",
    ),
    (
        "choice_bad_operator",
        machine(
            S={
                "Type": "Choice",
                "Choices": [{"Variable": "$.a", "StringEqualz": "x", "Next": "E"}],
            },
            E=END,
        ),
        "States.S.Choices[0].StringEqualz: unknown comparison operator",
    ),
    (
        "choice_rule_without_next",
        machine(
            S={"Type": "Choice", "Choices": [{"Variable": "$.a", "IsNull": True}], "Default": "E"},
            E=END,
        ),
        "States.S.Choices[0].Next: missing required field",
    ),
    (
        "choice_unknown_next",
        machine(
            S={
                "Type": "Choice",
                "Choices": [
                    {"Variable": "$.a", "IsNull": True, "Next": "E"},
                    {"Variable": "$.a", "IsNull": False, "Next": "Shipp"},
                ],
            },
            E=END,
        ),
        'States.S.Choices[1].Next: no state named "Shipp"',
    ),
    (
        "choice_nested_next",
        machine(
            S={
                "Type": "Choice",
                "Choices": [{"Not": {"Variable": "$.a", "IsNull": True, "Next": "E"}, "Next": "E"}],
            },
            E=END,
        ),
        "States.S.Choices[0].Not.Next: only top-level choice rules can have Next",
    ),
    (
        "choice_operand_type",
        machine(
            S={
                "Type": "Choice",
                "Choices": [{"Variable": "$.a", "NumericEquals": "1", "Next": "E"}],
            },
            E=END,
        ),
        "NumericEquals needs a number value",
    ),
    (
        "choice_two_operators",
        machine(
            S={
                "Type": "Choice",
                "Choices": [{"Variable": "$.a", "IsNull": True, "IsString": True, "Next": "E"}],
            },
            E=END,
        ),
        "needs exactly one comparison operator",
    ),
    (
        "choice_empty_and",
        machine(S={"Type": "Choice", "Choices": [{"And": [], "Next": "E"}]}, E=END),
        "States.S.Choices[0].And: must be a non-empty array",
    ),
    (
        "choice_missing_variable",
        machine(S={"Type": "Choice", "Choices": [{"StringEquals": "x", "Next": "E"}]}, E=END),
        "States.S.Choices[0].Variable: missing required field",
    ),
    (
        "choice_bad_default",
        machine(
            S={
                "Type": "Choice",
                "Choices": [{"Variable": "$.a", "IsNull": True, "Next": "E"}],
                "Default": "Nope",
            },
            E=END,
        ),
        'States.S.Default: no state named "Nope"',
    ),
    (
        "wait_two_fields",
        with_state({"Type": "Wait", "Seconds": 1, "SecondsPath": "$.s", "End": True}),
        "needs exactly one of Seconds",
    ),
    (
        "wait_negative_seconds",
        with_state({"Type": "Wait", "Seconds": -1, "End": True}),
        "States.S.Seconds: must be a non-negative integer",
    ),
    (
        "wait_bad_timestamp",
        with_state({"Type": "Wait", "Timestamp": "yesterday", "End": True}),
        "is not an RFC 3339 timestamp",
    ),
    (
        "fail_cause_and_causepath",
        with_state({"Type": "Fail", "Cause": "x", "CausePath": "$.c"}),
        "States.S: Cause and CausePath are mutually exclusive",
    ),
    (
        "retry_not_array",
        with_state(dict(TASK, Retry={"ErrorEquals": ["X"]})),
        "States.S.Retry: must be an array",
    ),
    (
        "retry_missing_error_equals",
        with_state(dict(TASK, Retry=[{"MaxAttempts": 1}])),
        "States.S.Retry[0].ErrorEquals: missing required field",
    ),
    (
        "retry_negative_max_attempts",
        with_state(dict(TASK, Retry=[{"ErrorEquals": ["X"], "MaxAttempts": -1}])),
        "States.S.Retry[0].MaxAttempts: must be a non-negative integer",
    ),
    (
        "retry_backoff_below_one",
        with_state(dict(TASK, Retry=[{"ErrorEquals": ["X"], "BackoffRate": 0.5}])),
        "States.S.Retry[0].BackoffRate: must be a number greater than or equal to 1.0",
    ),
    (
        "retry_bad_interval",
        with_state(dict(TASK, Retry=[{"ErrorEquals": ["X"], "IntervalSeconds": 0}])),
        "States.S.Retry[0].IntervalSeconds: must be a positive integer",
    ),
    (
        "retry_bad_jitter",
        with_state(dict(TASK, Retry=[{"ErrorEquals": ["X"], "JitterStrategy": "SOME"}])),
        "States.S.Retry[0].JitterStrategy",
    ),
    (
        "retry_bad_max_delay",
        with_state(dict(TASK, Retry=[{"ErrorEquals": ["X"], "MaxDelaySeconds": 0}])),
        "States.S.Retry[0].MaxDelaySeconds",
    ),
    (
        "retry_unknown_field",
        with_state(dict(TASK, Retry=[{"ErrorEquals": ["X"], "Delay": 1}])),
        "States.S.Retry[0].Delay: unknown retrier field",
    ),
    (
        "states_all_not_last",
        with_state(dict(TASK, Retry=[{"ErrorEquals": ["States.ALL"]}, {"ErrorEquals": ["X"]}])),
        '"States.ALL" must be in the last retrier or catcher',
    ),
    (
        "states_all_not_alone",
        machine(S=dict(TASK, Catch=[{"ErrorEquals": ["States.ALL", "X"], "Next": "E"}]), E=END),
        '"States.ALL" must appear alone',
    ),
    (
        "unknown_states_error",
        with_state(dict(TASK, Retry=[{"ErrorEquals": ["States.Oops"]}])),
        "unknown predefined error name 'States.Oops'",
    ),
    (
        "catch_without_next",
        with_state(dict(TASK, Catch=[{"ErrorEquals": ["X"]}])),
        "States.S.Catch[0].Next: missing required field",
    ),
    (
        "catch_bad_resultpath",
        machine(
            S=dict(TASK, Catch=[{"ErrorEquals": ["X"], "Next": "E", "ResultPath": "$.a[*]"}]), E=END
        ),
        "States.S.Catch[0].ResultPath",
    ),
    (
        "bad_input_path",
        with_state({"Type": "Pass", "InputPath": "a.b", "End": True}),
        "States.S.InputPath",
    ),
    (
        "bad_result_path",
        with_state({"Type": "Pass", "ResultPath": "$.items[*]", "End": True}),
        "States.S.ResultPath: '$.items[*]' is not a valid reference path",
    ),
    (
        "bad_parameter_path",
        with_state({"Type": "Pass", "Parameters": {"x.$": "$.a["}, "End": True}),
        "States.S.Parameters.x.$",
    ),
    (
        "parameter_not_path",
        with_state({"Type": "Pass", "Parameters": {"x.$": "hello"}, "End": True}),
        "is neither a path nor an intrinsic",
    ),
    (
        "bad_intrinsic_syntax",
        with_state(
            {"Type": "Pass", "Parameters": {"x.$": "States.Format('a {}', $.a"}, "End": True}
        ),
        "States.S.Parameters.x.$: invalid intrinsic function",
    ),
    (
        "unknown_intrinsic",
        with_state({"Type": "Pass", "Parameters": {"x.$": "States.Frobnicate($.a)"}, "End": True}),
        "unknown intrinsic function 'States.Frobnicate'",
    ),
    (
        "intrinsic_arity",
        with_state(
            {"Type": "Pass", "Parameters": {"x.$": "States.ArrayLength($.a, $.b)"}, "End": True}
        ),
        "States.ArrayLength takes 1 argument(s), got 2",
    ),
    (
        "format_placeholder_count",
        with_state(
            {"Type": "Pass", "Parameters": {"x.$": "States.Format('{} {}', $.a)"}, "End": True}
        ),
        "2 placeholder(s) but 1 argument(s)",
    ),
    (
        "intrinsic_open_escape",
        with_state({"Type": "Pass", "Parameters": {"x.$": "States.Format('a\\qb')"}, "End": True}),
        "open escape backslash",
    ),
    (
        "parallel_without_branches",
        with_state({"Type": "Parallel", "End": True}),
        "States.S.Branches: missing required field",
    ),
    (
        "parallel_nested_unknown_next",
        with_state(
            {
                "Type": "Parallel",
                "End": True,
                "Branches": [{"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "Nope"}}}],
            }
        ),
        'States.S.Branches[0].States.A.Next: no state named "Nope"',
    ),
    (
        "parallel_branch_next_outside",
        machine(
            S={
                "Type": "Parallel",
                "Next": "E",
                "Branches": [{"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "E"}}}],
            },
            E=END,
        ),
        'States.S.Branches[0].States.A.Next: no state named "E"',
    ),
    (
        "map_without_processor",
        with_state({"Type": "Map", "End": True}),
        "States.S.ItemProcessor: missing required field",
    ),
    (
        "map_processor_and_iterator",
        with_state(
            {
                "Type": "Map",
                "End": True,
                "ItemProcessor": machine(A=END),
                "Iterator": machine(A=END),
            }
        ),
        "ItemProcessor and Iterator are mutually exclusive",
    ),
    (
        "map_nested_missing_start",
        with_state({"Type": "Map", "End": True, "ItemProcessor": {"States": {"A": END}}}),
        "States.S.ItemProcessor.StartAt: missing required field",
    ),
    (
        "map_bad_max_concurrency",
        with_state(
            {"Type": "Map", "End": True, "MaxConcurrency": -1, "ItemProcessor": machine(A=END)}
        ),
        "States.S.MaxConcurrency: must be a number from 0",
    ),
    (
        "map_bad_tolerated_percentage",
        with_state(
            {
                "Type": "Map",
                "End": True,
                "ToleratedFailurePercentage": 101,
                "ItemProcessor": machine(A=END),
            }
        ),
        "States.S.ToleratedFailurePercentage",
    ),
    (
        "map_bad_mode",
        with_state(
            {
                "Type": "Map",
                "End": True,
                "ItemProcessor": dict(machine(A=END), ProcessorConfig={"Mode": "FAST"}),
            }
        ),
        "ProcessorConfig.Mode",
    ),
    (
        "map_item_reader_unsupported",
        with_state({"Type": "Map", "End": True, "ItemReader": {}, "ItemProcessor": machine(A=END)}),
        "States.S.ItemReader",
    ),
    (
        "jsonpath_field_in_jsonata",
        dict(
            with_state({"Type": "Pass", "InputPath": "$.a", "End": True}), QueryLanguage="JSONata"
        ),
        "States.S.InputPath: JSONPath field not allowed in a JSONata state",
    ),
    (
        "jsonata_field_in_jsonpath",
        with_state({"Type": "Pass", "Output": {"a": 1}, "End": True}),
        "States.S.Output: JSONata field not allowed in a JSONPath state",
    ),
    (
        "jsonpath_state_in_jsonata_machine",
        dict(
            with_state({"Type": "Pass", "QueryLanguage": "JSONPath", "End": True}),
            QueryLanguage="JSONata",
        ),
        "cannot use JSONPath when the machine's QueryLanguage is JSONata",
    ),
    (
        "jsonata_syntax_error",
        dict(
            with_state({"Type": "Pass", "Output": "{% $states.input. + %}", "End": True}),
            QueryLanguage="JSONata",
        ),
        "JSONata syntax error",
    ),
    (
        "jsonata_condition_missing",
        dict(
            machine(S={"Type": "Choice", "Choices": [{"Next": "E"}]}, E=END),
            QueryLanguage="JSONata",
        ),
        "States.S.Choices[0].Condition: missing required field",
    ),
    (
        "jsonpath_variable_in_jsonata_rule",
        dict(
            machine(
                S={
                    "Type": "Choice",
                    "Choices": [
                        {"Variable": "$.a", "IsNull": True, "Condition": "{% true %}", "Next": "E"}
                    ],
                },
                E=END,
            ),
            QueryLanguage="JSONata",
        ),
        "States.S.Choices[0].Variable: field not allowed in a JSONata choice rule",
    ),
    (
        "bad_variable_name",
        with_state({"Type": "Pass", "Assign": {"1st": 1}, "End": True}),
        "States.S.Assign.1st: invalid variable name",
    ),
    (
        "reserved_variable_name",
        dict(
            with_state({"Type": "Pass", "Assign": {"states": 1}, "End": True}),
            QueryLanguage="JSONata",
        ),
        "'states' is reserved",
    ),
    (
        "assign_not_object",
        with_state({"Type": "Pass", "Assign": [1], "End": True}),
        "States.S.Assign: must be a JSON object",
    ),
]


@pytest.mark.parametrize(
    ("definition", "expected"), [(d, e) for _, d, e in BAD], ids=[i for i, _, _ in BAD]
)
def test_bad_definition_reports_problem_with_path(definition: Any, expected: str) -> None:
    problems = validate_definition(definition)
    assert any(expected in p for p in problems), problems


def test_at_least_thirty_kinds_are_covered() -> None:
    assert len(BAD) >= 30


GOOD: list[dict[str, Any]] = [
    machine(
        A={"Type": "Pass", "Next": "B"},
        B={
            "Type": "Choice",
            "Choices": [{"Variable": "$.a", "StringMatches": "x*", "Next": "C"}],
            "Default": "D",
        },
        C=END,
        D={"Type": "Fail", "Error": "E"},
    ),
    machine(
        T={
            "Type": "Task",
            "Resource": "r",
            "TimeoutSeconds": 10,
            "HeartbeatSeconds": 5,
            "Retry": [
                {"ErrorEquals": ["X"], "MaxAttempts": 0},
                {"ErrorEquals": ["States.ALL"], "JitterStrategy": "FULL", "MaxDelaySeconds": 9},
            ],
            "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "H", "ResultPath": "$.err"}],
            "End": True,
        },
        H=END,
    ),
    dict(
        machine(
            M={
                "Type": "Map",
                "Items": "{% $states.input %}",
                "ItemProcessor": machine(A=END),
                "Output": "{% $states.result %}",
                "Assign": {"n": "{% $count($states.result) %}"},
                "End": True,
            }
        ),
        QueryLanguage="JSONata",
    ),
]


@pytest.mark.parametrize("definition", GOOD)
def test_good_definitions_have_no_problems(definition: dict[str, Any]) -> None:
    assert validate_definition(definition) == []


def test_all_problems_are_reported_at_once() -> None:
    definition = machine(S={"Type": "Pass", "Next": "X", "End": True, "Foo": 1}, U=END)
    problems = validate_definition(definition)
    assert len(problems) >= 4


def test_assert_valid_and_run_definition_refuse_invalid() -> None:
    definition = {"StartAt": "Nope", "States": {"A": END}}
    with pytest.raises(InvalidDefinition) as info:
        assert_valid(definition)
    assert any("StartAt" in p for p in info.value.problems)
    with pytest.raises(InvalidDefinition):
        run_definition(definition, {}, resources={})


def test_validation_does_not_modify_the_definition() -> None:
    definition = GOOD[1]
    before = copy.deepcopy(definition)
    validate_definition(definition)
    assert definition == before
