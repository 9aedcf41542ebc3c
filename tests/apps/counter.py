"""An app for the crash test: records every message it handles in another queue."""

from __future__ import annotations

from overcast import App, SQSEvent

app = App("counter")
work = app.queue("work", visibility_timeout=3)
done = app.queue("done")


@app.on_queue("work", batch_size=10, concurrency=2)
def handle(batch: SQSEvent) -> None:
    done.send_batch([{"body": m.body} for m in batch])
