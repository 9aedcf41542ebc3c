"""An app whose workflows call functions: retries, Lambda-shaped errors, idempotency keys."""

from __future__ import annotations

import contextlib
from typing import Any

from overcast import App, ConditionFailed, TaskFailed
from overcast.engine.base import ABSENT

app = App("wftasks")

RETRY = {"ErrorEquals": ["Flaky"], "IntervalSeconds": 10, "BackoffRate": 2, "MaxAttempts": 3}

app.workflow(
    "retrying",
    {
        "StartAt": "Try",
        "States": {
            "Try": {
                "Type": "Task",
                "Resource": "flaky",
                "Retry": [RETRY],
                "Catch": [
                    {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "GaveUp"}
                ],
                "End": True,
            },
            "GaveUp": {"Type": "Pass", "End": True},
        },
    },
)

app.workflow(
    "errors",
    {
        "StartAt": "Boom",
        "States": {
            "Boom": {
                "Type": "Task",
                "Resource": "arn:aws:lambda:us-east-1:000000000000:function:boom",
                "Catch": [{"ErrorEquals": ["KeyError"], "Next": "Caught"}],
                "End": True,
            },
            "Caught": {"Type": "Pass", "End": True},
        },
    },
)

app.workflow(
    "charging",
    {
        "StartAt": "Charge",
        "States": {
            "Charge": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"FunctionName": "charge", "Payload.$": "$"},
                "ResultSelector": {"charged.$": "$.Payload"},
                "End": True,
            }
        },
    },
)

app.workflow(
    "doubling",
    {
        "StartAt": "Double",
        "States": {
            "Double": {"Type": "Task", "Resource": "double", "Next": "Again"},
            "Again": {"Type": "Task", "Resource": "double", "End": True},
        },
    },
    type="EXPRESS",
)


def _engine() -> Any:
    return app.engine


@app.function
def flaky(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Fails with ``Flaky`` until attempt ``succeed_on``; records every attempt and its key."""
    _engine().atomic(
        lambda tx: tx.kv_put("attempts", event["id"], str(context.attempt), context.idempotency_key)
    )
    if context.attempt < event["succeed_on"]:
        raise TaskFailed("Flaky", f"attempt {context.attempt} failed")
    return {"id": event["id"], "attempt": context.attempt}


@app.function
def boom(event: Any) -> None:
    raise KeyError("no such thing")


@app.function
def charge(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Charges once per idempotency key, however often it is invoked."""
    key = context.idempotency_key
    engine = _engine()
    engine.atomic(lambda tx: tx.kv_put("invocations", key, context.invocation_id, event))
    receipt = {"order": event["order"], "amount": event["amount"], "key": key}
    with contextlib.suppress(
        ConditionFailed
    ):  # charged by an earlier invocation of this attempt: do not charge again
        engine.atomic(lambda tx: tx.kv_put("charges", key, "", receipt, condition=ABSENT))
    return engine.read(lambda tx: tx.kv_get("charges", key, "")).value  # type: ignore[no-any-return]


@app.function
def double(event: dict[str, Any]) -> dict[str, Any]:
    return {"n": event["n"] * 2}
