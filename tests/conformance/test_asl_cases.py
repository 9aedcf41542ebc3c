"""The shared Amazon States Language vectors, run as they are (see vectors/README.md)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from overcast.errors import TaskFailed
from overcast.workflows import run_definition

CASES: list[dict[str, Any]] = json.loads(
    (Path(__file__).parent / "vectors" / "asl_cases.json").read_text(encoding="utf-8")
)


def make_resources() -> dict[str, Callable[[Any], Any]]:
    """The four test resources of the README; ``test:flaky`` counts attempts per execution."""
    attempts = 0

    def echo(value: Any) -> Any:
        return value

    def fail(value: Any) -> Any:
        value = value if isinstance(value, dict) else {}
        raise TaskFailed(value.get("error", "TestError"), value.get("cause"))

    def flaky(value: Any) -> Any:
        nonlocal attempts
        attempts += 1
        if attempts <= value.get("fail_times", 0):
            raise TaskFailed("Flaky", f"attempt {attempts}")
        return {"attempts": attempts}

    def add(value: Any) -> Any:
        return value["a"] + value["b"]

    return {"test:echo": echo, "test:fail": fail, "test:flaky": flaky, "test:add": add}


def _normalise(value: Any) -> Any:
    # JSON equality: 10 and 10.0 are the same number, key order does not matter.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, list):
        return [_normalise(v) for v in value]
    if isinstance(value, dict):
        return {k: _normalise(v) for k, v in value.items()}
    return value


@pytest.mark.parametrize("case", CASES, ids=[case["id"] for case in CASES])
def test_asl_case(case: dict[str, Any]) -> None:
    execution = run_definition(case["definition"], case["input"], resources=make_resources())
    expected = case["expected"]
    assert execution.status == expected["status"], (execution.error, execution.cause)
    if expected["status"] == "SUCCEEDED":
        assert _normalise(execution.output) == _normalise(expected["output"])
    else:
        assert execution.error == expected["error"]
        if "cause" in expected:
            assert execution.cause == expected["cause"]
