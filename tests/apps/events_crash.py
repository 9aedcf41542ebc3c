"""An app for the crash tests: every event on the bus goes to a queue, to a function and (through
a topic) to another queue. Run as a script, it puts events and kills itself with SIGKILL the
moment the last ``put_events`` returns: ``python events_crash.py COUNT``."""

from __future__ import annotations

import os
import signal
import sys

from overcast import App
from overcast.services.bus import EventBridgeEvent, Target

app = App("events-crash")
copies = app.queue("copies")
handled = app.queue("handled")
app.queue("fanned")
bus = app.bus("crash")
app.topic("relay").subscribe("queue", "fanned", raw=True)
bus.rule("copy", {"source": ["crash.test"]}, targets=[Target.queue("copies", input_path="$.detail"), Target.topic("relay")])
bus.archive("everything")


@app.on_event({"source": ["crash.test"]}, bus="crash")
def handle(event: EventBridgeEvent) -> None:
    handled.send(event.detail)


if __name__ == "__main__":
    count = int(sys.argv[1])
    for start in range(0, count, 10):
        result = bus.put_events([{"Source": "crash.test", "DetailType": "Numbered", "Detail": {"i": i}}
                                 for i in range(start, min(count, start + 10))])
        assert result.failed_entry_count == 0, result.to_dict()
    os.kill(os.getpid(), signal.SIGKILL)  # right after the last put_events returned
