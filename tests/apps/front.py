"""A storage-first front door: POST /payments is stored in a queue, answered 202, and processed
later. With FRONT_ACCEPT_ONLY=1 nothing consumes (the crash test's first life)."""

from __future__ import annotations

import os

from overcast import App, SQSEvent

app = App("front")
payments = app.queue("payments", visibility_timeout=5)
processed = app.queue("processed")
app.route("POST", "/payments", to_queue="payments")

if not os.environ.get("FRONT_ACCEPT_ONLY"):

    @app.on_queue("payments")
    def handle(batch: SQSEvent) -> None:
        processed.send_batch([{"body": m.body} for m in batch])
