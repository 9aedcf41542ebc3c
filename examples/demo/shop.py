"""The flagship demo app: orders flow through a queue to a handler; poison orders end in a
dead-letter queue after two failed receives, and a function charges each order."""

from __future__ import annotations

from overcast import App, SQSEvent

app = App("shop")
orders = app.queue("orders", visibility_timeout=1, max_receive_count=2, dead_letter="orders-dlq")
shipped = app.queue("shipped")


@app.function(timeout=5, concurrency=4)
def charge(event: dict, context) -> dict:  # type: ignore[no-untyped-def]
    if event["amount"] <= 0:
        raise ValueError(f"cannot charge {event['amount']}")
    return {"order": event["id"], "charged": event["amount"], "by": context.function_name}


@app.on_queue("orders", batch_size=10, concurrency=2)
def handle_orders(batch: SQSEvent) -> list[str]:
    """Charge every order of the batch; report the ones that failed (partial batch failure)."""
    failed = []
    for message in batch:
        order = message.body
        if order["amount"] <= 0:
            failed.append(message.id)  # comes back after the visibility timeout, then dead-letters
            continue
        shipped.send({"id": order["id"], "amount": order["amount"]}, attributes={"kind": "shipped"})
    return failed
