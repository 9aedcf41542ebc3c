"""An app whose functions are driven by the bus, a topic and a schedule: for the tests of typed
handler events (they report what they received to the ``results`` queue)."""

from __future__ import annotations

from typing import Any

from overcast import App
from overcast.services.bus import CloudEvent, EventBridgeEvent
from overcast.services.topics import SNSEvent

app = App("events")
results = app.queue("results")
failures = app.queue("failures")
orders = app.bus("orders")
app.topic("news")


@app.on_event({"source": ["shop"], "detail-type": ["OrderPlaced"]}, bus="orders")
def on_order(event: EventBridgeEvent, context: Any) -> None:
    results.send({"handler": "on_order", "type": type(event).__name__, "id": event.detail["id"],
                  "shape": event.to_dict()["detail-type"], "function": context.function_name})


@app.on_event({"source": ["urn:shop"]}, bus="orders", cloudevents=True)
def on_cloudevent(event: CloudEvent) -> None:
    results.send({"handler": "on_cloudevent", "type": type(event).__name__, "source": event.source,
                  "data": event.data, "extensions": event.extensions})


@app.on_event({"source": ["shop"], "detail-type": ["Boom"]}, bus="orders", retries=1, retry_delay=0.05,
              on_failure="failures")
def boom(event: EventBridgeEvent) -> None:
    raise RuntimeError(f"cannot handle order {event.detail['id']}")


@app.on_topic("news", filter={"kind": ["alert"]})
async def on_news(event: SNSEvent) -> None:
    message = event.message
    results.send({"handler": "on_news", "type": type(event).__name__, "body": message.body,
                  "attributes": message.attributes, "shape": event.to_dict()["Records"][0]["EventSource"]})


@app.on_schedule("rate(1 minute)")
def every_minute(event: EventBridgeEvent) -> None:
    results.send({"handler": "every_minute", "type": type(event).__name__, "detail_type": event.detail_type})
