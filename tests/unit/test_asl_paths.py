"""JSONPath subset, ResultPath writing, and the InputPath -> ... -> OutputPath pipeline."""

from __future__ import annotations

from typing import Any

import pytest

from overcast.workflows import run_definition
from overcast.workflows.asl.paths import (
    PathError,
    PathMissing,
    compile_path,
    is_reference_path,
    select,
    set_path,
)

DOC = {
    "store": {
        "book": [
            {"title": "A", "price": 8, "tags": ["x"]},
            {"title": "B", "price": 12},
            {"title": "C", "price": 5, "isbn": "1"},
        ],
        "name": "shop",
    },
    "odd key": 1,
}


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("$", DOC),
        ("$.store.name", "shop"),
        ("$['store']['name']", "shop"),
        ("$.store.book[0].title", "A"),
        ("$.store.book[-1].title", "C"),
        ("$['odd key']", 1),
        ("$.store.book[*].title", ["A", "B", "C"]),
        ("$.store.book[0:2].price", [8, 12]),
        ("$.store.book[0,2].title", ["A", "C"]),
        ("$..price", [8, 12, 5]),
        ("$.store.book[?(@.price < 10)].title", ["A", "C"]),
        ("$.store.book[?(@.isbn)].title", ["C"]),
        ("$.store.book[?(@.price > 6 && @.price < 10)].title", ["A"]),
        ("$.store.book[?(@.title == 'B')].price", [12]),
        ("$.store.nothing[*]", []),
    ],
)
def test_select(path: str, expected: Any) -> None:
    assert select(path, DOC) == expected


@pytest.mark.parametrize("path", ["$.nope", "$.store.book[7]", "$.store.name.x"])
def test_definite_missing_raises(path: str) -> None:
    with pytest.raises(PathMissing):
        select(path, DOC)


@pytest.mark.parametrize("path", ["a.b", "$.a[", "$.a[?(@.x ==)]", "$..", "$.a]"])
def test_invalid_paths(path: str) -> None:
    with pytest.raises(PathError):
        compile_path(path)


def test_roots_and_reference_paths() -> None:
    assert compile_path("$$.Execution.Id").root == "context"
    assert compile_path("$myVar.x").root == "variable"
    assert compile_path("$myVar.x").variable == "myVar"
    assert is_reference_path("$.a.b[0]['c d']")
    assert not is_reference_path("$.a[*]")
    assert not is_reference_path("$..a")


def test_set_path_copies_and_creates() -> None:
    original = {"a": {"b": 1}, "keep": [1]}
    updated = set_path(original, "$.a.c.d", 2)
    assert updated == {"a": {"b": 1, "c": {"d": 2}}, "keep": [1]}
    assert original == {"a": {"b": 1}, "keep": [1]}  # untouched
    assert updated["keep"] is original["keep"]  # untouched parts are shared
    assert set_path({"l": [1, 2]}, "$.l[1]", 9) == {"l": [1, 9]}
    assert set_path({"a": 1}, "$", 5) == 5
    with pytest.raises(PathMissing):
        set_path({"a": "text"}, "$.a.b", 1)


def pass_machine(**fields: Any) -> dict[str, Any]:
    return {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True, **fields}}}


def run(definition: dict[str, Any], data: Any, **resources: Any) -> Any:
    execution = run_definition(definition, data, resources=resources)
    assert execution.status == "SUCCEEDED", (execution.error, execution.cause)
    return execution.output


def test_null_input_output_and_result_paths() -> None:
    assert run(pass_machine(InputPath=None), {"a": 1}) == {}
    assert run(pass_machine(OutputPath=None), {"a": 1}) == {}
    assert run(pass_machine(Result={"r": 1}, ResultPath=None), {"a": 1}) == {"a": 1}


def test_result_path_onto_scalar_fails() -> None:
    execution = run_definition(pass_machine(Result=1, ResultPath="$.a.b"), {"a": "x"}, resources={})
    assert (execution.status, execution.error) == ("FAILED", "States.ResultPathMatchFailure")


def test_missing_input_path_is_runtime_error() -> None:
    execution = run_definition(pass_machine(InputPath="$.missing"), {"a": 1}, resources={})
    assert execution.status == "FAILED"
    assert execution.error == "States.Runtime"
    assert "$.missing" in (execution.cause or "")


def test_missing_parameter_path_is_runtime_error() -> None:
    execution = run_definition(
        pass_machine(Parameters={"x.$": "$.missing"}), {"a": 1}, resources={}
    )
    assert execution.error == "States.Runtime"
    assert "x.$" in (execution.cause or "")


def test_context_object_fields() -> None:
    definition = {
        "StartAt": "P",
        "States": {
            "P": {
                "Type": "Pass",
                "Parameters": {
                    "input.$": "$$.Execution.Input",
                    "name.$": "$$.State.Name",
                    "entered.$": "$$.State.EnteredTime",
                    "id.$": "$$.Execution.Id",
                    "machine.$": "$$.StateMachine.Name",
                    "retry.$": "$$.State.RetryCount",
                },
                "End": True,
            }
        },
    }
    execution = run_definition(
        definition, {"k": 1}, resources={}, name="run1", state_machine_name="orders"
    )
    out = execution.output
    assert out["input"] == {"k": 1}
    assert out["name"] == "P"
    assert out["entered"].endswith("Z") and "T" in out["entered"]
    assert out["id"].endswith(":execution:orders:run1")
    assert out["machine"] == "orders"
    assert out["retry"] == 0


def test_task_token_in_context() -> None:
    definition = {
        "StartAt": "T",
        "States": {
            "T": {
                "Type": "Task",
                "Resource": "cb.waitForTaskToken",
                "Parameters": {"token.$": "$$.Task.Token"},
                "End": True,
            }
        },
    }
    output = run(definition, {}, **{"cb": lambda x: x})
    assert isinstance(output["token"], str) and output["token"]


def test_map_item_context_and_parameters_legacy() -> None:
    definition = {
        "StartAt": "M",
        "States": {
            "M": {
                "Type": "Map",
                "ItemsPath": "$.xs",
                "Parameters": {
                    "i.$": "$$.Map.Item.Index",
                    "v.$": "$$.Map.Item.Value",
                    "tag.$": "$.tag",
                },
                "Iterator": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}},
                "End": True,
            }
        },
    }
    assert run(definition, {"xs": ["a", "b"], "tag": "t"}) == [
        {"i": 0, "v": "a", "tag": "t"},
        {"i": 1, "v": "b", "tag": "t"},
    ]
