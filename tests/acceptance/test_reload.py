"""`overcast run --reload` restarts the app when its files change."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from overcast import App

APP = """
from overcast import App

app = App("reloading")
inbox = app.queue("inbox", visibility_timeout=2)
outbox = app.queue("outbox")
VERSION = {version}


@app.on_queue("inbox", concurrency=1)
def handle(batch):
    for message in batch:
        outbox.send({{"got": message.body, "version": VERSION}})
"""


def _wait_for(queue, count: int, timeout: float = 60) -> list:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if queue.stats()["visible"] >= count:
            return [m.body for m in queue.receive(10)]
        time.sleep(0.1)
    raise AssertionError(f"{queue.name} never reached {count} messages")


def test_reload_picks_up_a_changed_handler(tmp_path: Path) -> None:
    app_file = tmp_path / "reloading.py"
    app_file.write_text(APP.format(version=1))
    url = f"sqlite:///{tmp_path / 'reload.db'}"
    client = App("reloading", engine=url)
    inbox = client.queue("inbox", visibility_timeout=2)
    outbox = client.queue("outbox")
    with (tmp_path / "run.log").open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "overcast", "run", str(app_file), "--reload"],
            env={**os.environ, "OVERCAST_ENGINE": url}, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT,
        )
    try:
        inbox.send("first")
        assert _wait_for(outbox, 1) == [{"got": "first", "version": 1}]
        app_file.write_text(APP.format(version=2))
        deadline = time.monotonic() + 60
        seen: list = []
        # keep sending until the restarted app (version 2) answers
        while time.monotonic() < deadline and not any(b["version"] == 2 for b in seen):
            inbox.send("again")
            time.sleep(0.5)
            seen += [m.body for m in outbox.receive(10)]
        assert any(b["version"] == 2 for b in seen), (tmp_path / "run.log").read_text()
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(30)
        client.close()
