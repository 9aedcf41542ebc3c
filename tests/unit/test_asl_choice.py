"""Choice rules: every operator, the Path forms, type tests, StringMatches escapes, And/Or/Not."""

from __future__ import annotations

from typing import Any

import pytest

from overcast.workflows import run_definition
from overcast.workflows.asl.choice import evaluate_rule, string_matches
from overcast.workflows.asl.errors import StatesError
from overcast.workflows.asl.intrinsics import Scope

DOC = {
    "s": "banana",
    "n": 10,
    "f": 10.5,
    "b": True,
    "t": "2026-01-01T10:00:00Z",
    "t2": "2026-01-01T12:00:00+02:00",
    "null": None,
    "other_s": "banana",
    "other_n": 11,
    "other_b": True,
    "other_t": "2026-01-01T11:00:00Z",
}


def rule(**fields: Any) -> bool:
    return evaluate_rule(fields, Scope(DOC, {}, {"limit": 10}))


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"Variable": "$.s", "StringEquals": "banana"}, True),
        ({"Variable": "$.s", "StringLessThan": "cherry"}, True),
        ({"Variable": "$.s", "StringGreaterThan": "apple"}, True),
        ({"Variable": "$.s", "StringLessThanEquals": "banana"}, True),
        ({"Variable": "$.s", "StringGreaterThanEquals": "banana"}, True),
        ({"Variable": "$.s", "StringEqualsPath": "$.other_s"}, True),
        ({"Variable": "$.s", "StringLessThanPath": "$.other_s"}, False),
        ({"Variable": "$.n", "NumericEquals": 10.0}, True),
        ({"Variable": "$.n", "NumericLessThan": 10}, False),
        ({"Variable": "$.f", "NumericGreaterThan": 10}, True),
        ({"Variable": "$.n", "NumericLessThanEquals": 10}, True),
        ({"Variable": "$.n", "NumericGreaterThanEquals": 11}, False),
        ({"Variable": "$.n", "NumericLessThanPath": "$.other_n"}, True),
        ({"Variable": "$.n", "NumericEqualsPath": "$limit"}, True),
        ({"Variable": "$.b", "BooleanEquals": True}, True),
        ({"Variable": "$.b", "BooleanEqualsPath": "$.other_b"}, True),
        ({"Variable": "$.t", "TimestampEquals": "2026-01-01T10:00:00.000Z"}, True),
        ({"Variable": "$.t2", "TimestampEquals": "2026-01-01T10:00:00Z"}, True),
        ({"Variable": "$.t", "TimestampLessThan": "2026-01-01T10:00:01Z"}, True),
        ({"Variable": "$.t", "TimestampGreaterThanPath": "$.other_t"}, False),
        ({"Variable": "$.t", "TimestampLessThanEqualsPath": "$.other_t"}, True),
        ({"Variable": "$.t", "TimestampGreaterThanEquals": "2026-01-01T10:00:00Z"}, True),
        # wrong types compare false, never fail
        ({"Variable": "$.n", "StringEquals": "10"}, False),
        ({"Variable": "$.s", "NumericEquals": 1}, False),
        ({"Variable": "$.b", "NumericEquals": 1}, False),
        ({"Variable": "$.s", "TimestampEquals": "2026-01-01T10:00:00Z"}, False),
        # type tests
        ({"Variable": "$.null", "IsNull": True}, True),
        ({"Variable": "$.s", "IsNull": False}, True),
        ({"Variable": "$.n", "IsNumeric": True}, True),
        ({"Variable": "$.b", "IsNumeric": True}, False),
        ({"Variable": "$.s", "IsString": True}, True),
        ({"Variable": "$.b", "IsBoolean": True}, True),
        ({"Variable": "$.t", "IsTimestamp": True}, True),
        ({"Variable": "$.s", "IsTimestamp": False}, True),
        ({"Variable": "$.nope", "IsPresent": False}, True),
        ({"Variable": "$.null", "IsPresent": True}, True),
        # logic
        (
            {
                "And": [
                    {"Variable": "$.n", "NumericEquals": 10},
                    {"Variable": "$.b", "BooleanEquals": True},
                ]
            },
            True,
        ),
        (
            {
                "Or": [
                    {"Variable": "$.n", "NumericEquals": 1},
                    {"Variable": "$.b", "BooleanEquals": False},
                ]
            },
            False,
        ),
        ({"Not": {"Variable": "$.s", "StringEquals": "apple"}}, True),
        ({"Not": {"And": [{"Variable": "$.nope", "IsPresent": True}]}}, True),
    ],
)
def test_rules(fields: dict[str, Any], expected: bool) -> None:
    assert rule(**fields) is expected


@pytest.mark.parametrize(
    ("value", "pattern", "expected"),
    [
        ("log-2026.txt", "log-*.txt", True),
        ("log.txt", "log-*.txt", False),
        ("anything", "*", True),
        ("a*b", "a\\*b", True),
        ("axb", "a\\*b", False),
        ("a\\b", "a\\\\b", True),
        ("a.b", "a.b", True),
        ("aXb", "a.b", False),
        ("ab", "a*b*", True),
    ],
)
def test_string_matches(value: str, pattern: str, expected: bool) -> None:
    assert string_matches(value, pattern) is expected


def test_missing_variable_is_runtime_error() -> None:
    with pytest.raises(StatesError) as info:
        rule(Variable="$.nope", StringEquals="x")
    assert info.value.error == "States.Runtime"


def choice_machine(
    choices: list[dict[str, Any]], default: bool = True, **extra: Any
) -> dict[str, Any]:
    state: dict[str, Any] = {"Type": "Choice", "Choices": choices, **extra}
    if default:
        state["Default"] = "No"
    states: dict[str, Any] = {"C": state}
    targets = {c["Next"] for c in choices} | ({"No"} if default else set())
    for name in targets:
        states[name] = {"Type": "Pass", "Result": name.lower(), "End": True}
    return {"StartAt": "C", "States": states}


def test_first_matching_rule_wins_and_default() -> None:
    definition = choice_machine(
        [
            {"Variable": "$.n", "NumericGreaterThan": 100, "Next": "No"},
            {"Variable": "$.n", "NumericGreaterThan": 1, "Next": "Yes"},
            {"Variable": "$.n", "NumericGreaterThan": 0, "Next": "No"},
        ]
    )
    assert run_definition(definition, {"n": 5}, resources={}).output == "yes"
    assert run_definition(definition, {"n": -5}, resources={}).output == "no"


def test_no_match_without_default_fails() -> None:
    execution = run_definition(
        choice_machine([{"Variable": "$.n", "IsNull": True, "Next": "Yes"}], default=False),
        {"n": 1},
        resources={},
    )
    assert (execution.status, execution.error) == ("FAILED", "States.NoChoiceMatched")


def test_choice_input_and_output_paths() -> None:
    definition = choice_machine(
        [{"Variable": "$.n", "NumericEquals": 1, "Next": "Out"}],
        InputPath="$.inner",
        OutputPath="$.n",
    )
    definition["States"]["Out"] = {"Type": "Pass", "End": True}  # replaces the generated one
    execution = run_definition(definition, {"inner": {"n": 1}}, resources={})
    assert execution.output == 1


def test_jsonata_condition() -> None:
    definition = choice_machine(
        [{"Condition": "{% $states.input.n > 3 and $x = 'go' %}", "Next": "Yes"}],
        QueryLanguage="JSONata",
    )
    definition["States"]["Start"] = {
        "Type": "Pass",
        "QueryLanguage": "JSONata",
        "Assign": {"x": "go"},
        "Next": "C",
    }
    definition["StartAt"] = "Start"
    assert run_definition(definition, {"n": 5}, resources={}).output == "yes"
    assert run_definition(definition, {"n": 1}, resources={}).output == "no"


def test_jsonata_condition_must_be_boolean() -> None:
    definition = choice_machine(
        [{"Condition": "{% $states.input.n %}", "Next": "Yes"}], QueryLanguage="JSONata"
    )
    execution = run_definition(definition, {"n": 5}, resources={})
    assert (execution.status, execution.error) == ("FAILED", "States.QueryEvaluationError")


def test_choice_rule_assign() -> None:
    definition = choice_machine(
        [
            {
                "Variable": "$.n",
                "NumericEquals": 1,
                "Assign": {"picked": "one", "n.$": "$.n"},
                "Next": "Out",
            }
        ]
    )
    definition["States"]["Out"] = {
        "Type": "Pass",
        "Parameters": {"p.$": "$picked", "n.$": "$n"},
        "End": True,
    }
    assert run_definition(definition, {"n": 1}, resources={}).output == {"p": "one", "n": 1}
