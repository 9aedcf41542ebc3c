"""Intrinsic functions: results, escaping, and argument checks (States.IntrinsicFailure)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from overcast.workflows import run_definition
from overcast.workflows.asl.errors import StatesError
from overcast.workflows.asl.intrinsics import Scope, SeededRandom, evaluate_dynamic

INPUT = {
    "name": "Arnav",
    "template": "Hello, my name is {}.",
    "arr": [1, 2, 3, 4, 5, 6, 7, 8, 9],
    "obj": {"a": 1, "b": [1, 2]},
    "json": '{"foo": "bar"}',
    "s": "Data to encode",
}


def ev(text: str, document: Any = None, variables: dict[str, Any] | None = None) -> Any:
    scope = Scope(
        INPUT if document is None else document,
        {"Execution": {"Id": "x"}},
        variables or {},
        SeededRandom(7),
    )
    return evaluate_dynamic(text, scope)


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("States.Format('Hello, my name is {}.', $.name)", "Hello, my name is Arnav."),
        ("States.Format($.template, $.name)", "Hello, my name is Arnav."),
        ("States.Format('{} and {}', $.obj, true)", "{a=1, b=[1, 2]} and true"),
        ("States.Format('null is {}', null)", "null is null"),
        ("States.Format('1.5 is {}', 1.5)", "1.5 is 1.5"),
        ("States.Format('escaped \\{\\} and \\' and \\\\ {}', 'x')", "escaped {} and ' and \\ x"),
        ("States.StringToJson($.json)", {"foo": "bar"}),
        ("States.JsonToString($.obj)", '{"a":1,"b":[1,2]}'),
        ("States.Array($.name, 1, null, true)", ["Arnav", 1, None, True]),
        ("States.Array()", []),
        ("States.ArrayPartition($.arr, 4)", [[1, 2, 3, 4], [5, 6, 7, 8], [9]]),
        ("States.ArrayContains($.arr, 5)", True),
        ("States.ArrayContains(States.Array($.obj), $.obj)", True),
        ("States.ArrayRange(1, 9, 2)", [1, 3, 5, 7, 9]),
        ("States.ArrayRange(5, 1, -2)", [5, 3, 1]),
        ("States.ArrayGetItem($.arr, 5)", 6),
        ("States.ArrayLength($.arr)", 9),
        ("States.ArrayUnique(States.Array(1, 1.0, true, 'a', 'a'))", [1, True, "a"]),
        ("States.Base64Encode($.s)", "RGF0YSB0byBlbmNvZGU="),
        ("States.Base64Decode('RGF0YSB0byBlbmNvZGU=')", "Data to encode"),
        ("States.JsonMerge($.obj, States.StringToJson('{\"b\": 3}'), false)", {"a": 1, "b": 3}),
        ("States.MathAdd(111, -1)", 110),
        ("States.MathAdd(1.5, 1)", 3),
        ("States.StringSplit('a,,b', ',')", ["a", "b"]),
        (
            "States.StringSplit('This.is+a,test=string', '.+,=')",
            ["This", "is", "a", "test", "string"],
        ),
        ("States.ArrayLength(States.StringSplit(States.Format('{}-{}', 'a', 'b'), '-'))", 2),
        ("States.Format('{}', $$.Execution.Id)", "x"),
    ],
)
def test_intrinsic_results(expr: str, expected: Any) -> None:
    assert ev(expr) == expected


@pytest.mark.parametrize(
    ("algorithm", "name"),
    [
        ("MD5", "md5"),
        ("SHA-1", "sha1"),
        ("SHA-256", "sha256"),
        ("SHA-384", "sha384"),
        ("SHA-512", "sha512"),
    ],
)
def test_hash_algorithms(algorithm: str, name: str) -> None:
    import hashlib

    assert (
        ev(f"States.Hash('input data', '{algorithm}')")
        == hashlib.new(name, b"input data").hexdigest()
    )


def test_uuid_is_v4_and_seeded() -> None:
    value = ev("States.UUID()")
    assert re.fullmatch(
        r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", value
    )
    assert ev("States.UUID()") == value  # same rng seed, same value: evaluation is pure


def test_math_random_range_and_seed() -> None:
    values = {ev(f"States.MathRandom(1, 4, {seed})") for seed in range(50)}
    assert values <= {1, 2, 3} and len(values) > 1
    assert ev("States.MathRandom(1, 1000, 42)") == ev("States.MathRandom(1, 1000, 42)")


def test_variables_and_paths_as_arguments() -> None:
    assert (
        ev(
            "States.Format('{} {}', $greeting, $who.name)",
            variables={"greeting": "hi", "who": {"name": "bo"}},
        )
        == "hi bo"
    )


@pytest.mark.parametrize(
    "expr",
    [
        "States.ArrayGetItem($.arr, 20)",
        "States.ArrayPartition($.arr, 0)",
        "States.ArrayPartition($.name, 2)",
        "States.ArrayRange(1, 2000, 1)",
        "States.ArrayRange(1, 5, 0)",
        "States.ArrayLength($.name)",
        "States.StringToJson('{not json')",
        "States.Base64Decode('%%%')",
        "States.Hash('x', 'SHA-3')",
        "States.JsonMerge($.obj, $.obj, true)",
        "States.JsonMerge($.obj, $.arr, false)",
        "States.MathRandom(5, 5)",
        "States.MathAdd('1', 2)",
        "States.Format($.arr, 1)",
        "States.StringSplit($.arr, ',')",
    ],
)
def test_bad_arguments_raise_intrinsic_failure(expr: str) -> None:
    with pytest.raises(StatesError) as info:
        ev(expr)
    assert info.value.error == "States.IntrinsicFailure"


def test_base64_input_limit() -> None:
    with pytest.raises(StatesError) as info:
        ev("States.Base64Encode($.big)", {"big": "x" * 10_001})
    assert info.value.error == "States.IntrinsicFailure"


def test_missing_path_argument_is_runtime_error() -> None:
    with pytest.raises(StatesError) as info:
        ev("States.ArrayLength($.nope)")
    assert info.value.error == "States.Runtime"


def test_intrinsic_failure_can_be_caught_in_a_machine() -> None:
    definition = {
        "StartAt": "Bad",
        "States": {
            "Bad": {
                "Type": "Task",
                "Resource": "echo",
                "Parameters": {"x.$": "States.ArrayGetItem($.a, 9)"},
                "Catch": [{"ErrorEquals": ["States.IntrinsicFailure"], "Next": "Ok"}],
                "End": True,
            },
            "Ok": {"Type": "Pass", "End": True},
        },
    }
    execution = run_definition(definition, {"a": [1]}, resources={"echo": lambda x: x})
    assert execution.status == "SUCCEEDED"
    assert execution.output["Error"] == "States.IntrinsicFailure"


def test_uncaught_intrinsic_failure_fails_the_execution() -> None:
    definition = {
        "StartAt": "P",
        "States": {
            "P": {"Type": "Pass", "Parameters": {"x.$": "States.StringToJson($.s)"}, "End": True}
        },
    }
    execution = run_definition(definition, {"s": "{"}, resources={})
    assert (execution.status, execution.error) == ("FAILED", "States.IntrinsicFailure")
