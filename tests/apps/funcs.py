"""An app whose handlers misbehave on purpose: for the function and event-source tests."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

from overcast import App, SQSEvent

app = App("funcs")
results = app.queue("results")
failures = app.queue("failures")
inbox = app.queue("inbox", visibility_timeout=1, max_receive_count=2, dead_letter="inbox-dlq")


@app.function
def echo(event: Any) -> Any:
    return event


@app.function(timeout=5)
async def aecho(event: Any, context: Any) -> dict[str, Any]:
    await asyncio.sleep(0.01)
    return {
        "event": event,
        "function": context.function_name,
        "invocation_id": context.invocation_id,
        "remaining_ok": 0 < context.get_remaining_time_in_millis() <= 5000,
        "pid": os.getpid(),
    }


@app.function
def boom(event: Any) -> None:
    raise KeyError("missing thing")


@app.function(timeout=1)
def slow(event: Any) -> str:
    time.sleep(event["sleep"])
    Path(event["marker"]).write_text("finished")  # must never happen: the timeout stops us
    return "done"


@app.function
def crash(event: Any) -> None:
    os._exit(7)


@app.function(timeout=30)
def spin(event: Any) -> int:
    end = time.monotonic() + event["seconds"]
    n = 0
    while time.monotonic() < end:
        n += 1
    return n


@app.function(concurrency=1, timeout=10)
def serial(event: Any) -> list[float]:
    start = time.time()
    time.sleep(0.2)
    return [start, time.time()]


@app.function(retries=2, retry_delay=0.05, on_failure="failures")
def always_fails(event: Any, context: Any) -> None:
    results.send({"attempt": context.attempt, "invocation_id": context.invocation_id})
    raise RuntimeError(f"attempt {context.attempt} failed")


@app.function(retries=2, retry_delay=0.05, on_failure="failures")
def fails_once(event: Any, context: Any) -> str:
    results.send({"attempt": context.attempt, "invocation_id": context.invocation_id})
    if context.attempt < 2:
        raise RuntimeError("first attempt fails")
    return "ok"


@app.on_queue("inbox", batch_size=10, concurrency=1)
def partial(batch: SQSEvent) -> dict[str, Any]:
    failed = []
    for message in batch:
        if message.body.get("fail"):
            failed.append({"itemIdentifier": message.id})
        else:
            results.send({"handled": message.body["n"], "shape": message.to_dict()["eventSource"]})
    return {"batchItemFailures": failed}
