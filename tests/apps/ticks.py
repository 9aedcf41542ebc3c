"""An app for the scheduler-across-workers test: one-time schedules a few seconds after
TICKS_BASE (epoch seconds), each writing its tick number to the `ticks` queue when it fires."""

from __future__ import annotations

import os
import time
from typing import Any

from overcast import App

app = App("ticks")
ticks = app.queue("ticks")
BASE = int(os.environ.get("TICKS_BASE", "0") or time.time())
COUNT = 5


def _make(k: int) -> None:
    when = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(BASE + k))

    def fire(event: Any) -> None:
        ticks.send({"tick": k})

    fire.__name__ = f"tick_{k}"
    fire.__qualname__ = fire.__name__
    globals()[fire.__name__] = fire
    app.on_schedule(f"at({when})", payload={"tick": k}, missed="all")(fire)


for _k in range(COUNT):
    _make(_k)
