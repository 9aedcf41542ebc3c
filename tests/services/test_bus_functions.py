"""Functions driven by events: ``@app.on_event``, ``@app.on_topic`` and ``@app.on_schedule``
handlers run in worker processes and receive typed events; their failures follow the function's
retries and on_failure queue, as Lambda's asynchronous invocations do."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from overcast import App, Runtime
from overcast.services.scheduler.scheduler import STATE
from tests.apps import events_app
from tests.apps.events_drive import bodies


@pytest.fixture
def app(engine_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[App]:
    monkeypatch.setenv("OVERCAST_ENGINE", engine_url)
    yield events_app.app
    events_app.app.close()


def wait_for(app: App, queue: str, count: int, timeout: float = 30.0) -> None:
    handle = app.get_queue(queue)
    deadline = time.monotonic() + timeout
    while handle.stats()["visible"] < count and time.monotonic() < deadline:
        time.sleep(0.05)
    assert handle.stats()["visible"] >= count, f"{queue}: {handle.stats()}"


def test_typed_handlers_for_events_messages_and_schedules(app: App) -> None:
    schedule = app.events.schedules["every_minute"]
    now = app.engine.clock.now()
    signature = f"{schedule.expression}|{schedule.timezone}"
    # as if the scheduler had been running until two minutes ago: the latest tick is due now
    app.engine.atomic(lambda tx: tx.kv_put(STATE, app.name, "every_minute",
                                           {"signature": signature, "last": now - 120, "fired": 0}))
    runtime = Runtime(app, prestart=2)
    runtime.start()
    try:
        events_app.orders.put_events([
            {"Source": "shop", "DetailType": "OrderPlaced", "Detail": {"id": 7}},
            {"Source": "shop", "DetailType": "Boom", "Detail": {"id": 8}},
            {"specversion": "1.0", "id": "c1", "source": "urn:shop", "type": "order.placed", "data": {"id": 9},
             "traceparent": "00-1"},
        ])
        news = app.topic("news")
        news.publish({"headline": "up"}, attributes={"kind": "alert", "level": 3})
        news.publish({"headline": "ignored"}, attributes={"kind": "gossip"})
        wait_for(app, "results", 4)
        wait_for(app, "failures", 1)
    finally:
        runtime.stop()
    got: dict[str, Any] = {r["handler"]: r for r in bodies(app, "results")}
    assert got["on_order"] == {"handler": "on_order", "type": "EventBridgeEvent", "id": 7, "shape": "OrderPlaced",
                               "function": "on_order"}
    assert got["on_cloudevent"] == {"handler": "on_cloudevent", "type": "CloudEvent", "source": "urn:shop",
                                    "data": {"id": 9}, "extensions": {"traceparent": "00-1"}}
    assert got["on_news"] == {"handler": "on_news", "type": "SNSEvent", "body": {"headline": "up"},
                              "attributes": {"kind": "alert", "level": 3}, "shape": "aws:sns"}
    assert got["every_minute"] == {"handler": "every_minute", "type": "EventBridgeEvent", "detail_type": "Scheduled Event"}
    assert len(got) == 4  # the gossip message was filtered out
    [failure] = bodies(app, "failures")
    assert failure["requestContext"]["condition"] == "RetriesExhausted"
    assert failure["requestContext"]["approximateInvokeCount"] == 2
    assert failure["requestPayload"]["detail"] == {"id": 8}
    assert failure["responsePayload"]["errorMessage"] == "cannot handle order 8"
