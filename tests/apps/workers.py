"""An app for the multi-worker tests: every message handled is recorded in ``done`` with the
``overcast worker`` process that handled it and how often it had been received."""

from __future__ import annotations

import os

from overcast import App, SQSEvent

# the handler runs in a pool process whose parent is the worker (read once, at import: a pool
# process orphaned by a kill -9 of its worker still reports the worker it belonged to)
WORKER = os.getppid()

app = App("workers")
work = app.queue("work", visibility_timeout=6)
done = app.queue("done")


@app.on_queue("work", batch_size=10, concurrency=2)
def handle(batch: SQSEvent) -> None:
    done.send_batch([
        {"body": {"i": m.body["i"], "worker": WORKER, "count": m.receive_count}} for m in batch
    ])
