"""`kill -9` right after ``put_events`` returns, then `overcast run`: every matching target
receives every accepted event. (A crash of the router itself between receiving and committing
is tested in tests/services/test_bus.py, on a driven clock.)"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from overcast import App
from overcast.services.queues import to_message

APP = Path(__file__).resolve().parents[1] / "apps" / "events_crash.py"
TOTAL = 300


def _peek(app: App, name: str) -> list[int]:
    rows = app.engine.atomic(lambda tx: tx.queue_receive(name, 100_000, 0))
    out = []
    for row in rows:
        body = to_message(name, row).body
        value = json.loads(body) if isinstance(body, str) else body
        out.append(value["detail"]["i"] if "detail" in value else value["i"])  # the topic relays whole events
    return out


def _run(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, "-m", "overcast", "run", str(APP)], env=env, stdout=out,
                                stderr=subprocess.STDOUT)


@pytest.mark.slow
def test_kill_9_after_put_events_then_restart(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'crash.db'}"
    env = {**os.environ, "OVERCAST_ENGINE": url, "PYTHONPATH": str(APP.parents[2])}
    producer = subprocess.run([sys.executable, str(APP), str(TOTAL)], env=env, capture_output=True, timeout=120)
    assert producer.returncode == -signal.SIGKILL, producer.stderr.decode()
    observer = App("observer", engine=url)
    assert observer.get_queue("overcast:bus:crash").stats()["visible"] == TOTAL  # all accepted, none routed yet
    log = tmp_path / "run.log"

    runtime = _run(env, log)
    targets = ("copies", "handled", "fanned")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if all(len(_peek(observer, q)) >= TOTAL for q in targets):
            break
        time.sleep(0.2)
    runtime.send_signal(signal.SIGINT)
    assert runtime.wait(60) == 0, log.read_text()
    for queue in targets:
        received = _peek(observer, queue)
        assert sorted(received) == list(range(TOTAL)), (queue, log.read_text()[-2000:])  # each exactly once
    assert observer.get_queue("overcast:bus:crash").stats() == {"visible": 0, "in_flight": 0, "delayed": 0}
    observer.close()
