"""An app for the workflow crash test: a durable pipeline whose tasks record their side effects
once per idempotency key (and every invocation), so the test can count both."""

from __future__ import annotations

import contextlib
import time
from typing import Any

from overcast import App, ConditionFailed
from overcast.engine.base import ABSENT

app = App("wfcrash")
pipeline = app.workflow("pipeline", "wf_pipeline.asl.json")  # the file beside this module


def price_of(item: dict[str, Any]) -> dict[str, Any]:
    return {"sku": item["sku"], "price": len(item["sku"]) * 10 + item["qty"]}


def total_of(event: dict[str, Any]) -> dict[str, Any]:
    return {"order": event["order"], "total": sum(event["prices"])}


def _effect(context: Any, execution: str, result: dict[str, Any]) -> dict[str, Any]:
    key = context.idempotency_key
    engine = app.engine
    engine.atomic(
        lambda tx: tx.kv_put("invocations", execution, f"{key}/{context.invocation_id}", 1)
    )
    with contextlib.suppress(
        ConditionFailed
    ):  # this attempt's effect happened before a crash: not again
        engine.atomic(lambda tx: tx.kv_put("effects", execution, key, result, condition=ABSENT))
    return result


@app.function(timeout=5)
def price(event: dict[str, Any], context: Any) -> dict[str, Any]:
    time.sleep(0.005)
    return _effect(context, event["order"], price_of(event))


@app.function(timeout=5)
def total(event: dict[str, Any], context: Any) -> dict[str, Any]:
    time.sleep(0.005)
    return _effect(context, event["order"], total_of(event))
