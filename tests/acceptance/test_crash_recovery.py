"""`kill -9` of `overcast run` while it works, then a restart: nothing accepted is lost."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from overcast import App

APP = Path(__file__).resolve().parents[1] / "apps" / "counter.py"
TOTAL = 2000


def _start(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:  # the child keeps its own copy of the descriptor
        return subprocess.Popen([sys.executable, "-m", "overcast", "run", str(APP)], env=env,
                                stdout=out, stderr=subprocess.STDOUT)


def _done_ids(app: App) -> list[int]:
    done = app.get_queue("done")
    return [m.body["i"] for m in _peek_all(done)]


def _peek_all(queue) -> list:  # type: ignore[no-untyped-def]
    engine = queue.engine
    rows = engine.atomic(lambda tx: tx.queue_receive(queue.name, 100_000, 0))
    from overcast.services.queues import to_message

    return [to_message(queue.name, r) for r in rows]


@pytest.mark.slow
def test_kill_9_then_restart_loses_nothing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'crash.db'}"
    env = {**os.environ, "OVERCAST_ENGINE": url}
    app = App("counter", engine=url)
    work = app.queue("work", visibility_timeout=3)
    app.queue("done")
    for start in range(0, TOTAL, 10):
        work.send_batch([{"i": i} for i in range(start, start + 10)])
    log = tmp_path / "run.log"

    first = _start(env, log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and app.get_queue("done").stats()["visible"] < 400:
        time.sleep(0.05)
    assert app.get_queue("done").stats()["visible"] >= 400, log.read_text()
    os.kill(first.pid, signal.SIGKILL)
    first.wait(10)
    processed_before = app.get_queue("done").stats()["visible"]
    assert processed_before < TOTAL, "the crash came too late to test anything"

    second = _start(env, log)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if work.stats() == {"visible": 0, "in_flight": 0, "delayed": 0}:
            break
        time.sleep(0.1)
    second.send_signal(signal.SIGINT)
    assert second.wait(60) == 0, log.read_text()

    ids = _done_ids(app)
    assert set(ids) == set(range(TOTAL))  # every message processed at least once
    duplicates = len(ids) - TOTAL
    # duplicates only come from batches in flight when the process died (2 pollers x 10)
    assert 0 <= duplicates <= 20 * 2
    app.close()
