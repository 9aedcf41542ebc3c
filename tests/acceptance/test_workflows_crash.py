"""`kill -9` of `overcast run` in the middle of 200 workflow executions, then a restart: every
execution finishes with the output of an uninterrupted run, and every task's side effect happened
once per idempotency key however often the crash made the executor invoke it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from overcast import App
from overcast.workflows import run_definition
from tests.apps import wf_crash

APP = Path(wf_crash.__file__)
TOTAL = 200
SKUS = ["ab", "cde", "fghi", "j"]


def order(i: int) -> dict[str, object]:
    items = [{"sku": SKUS[(i + k) % 4], "qty": (i * 7 + k) % 5} for k in range(3)]
    return {"order": f"o-{i}", "items": items}


@pytest.fixture
def app(tmp_path: Path) -> Iterator[tuple[App, dict[str, str]]]:
    url = f"sqlite:///{tmp_path / 'wfcrash.db'}"
    patch = pytest.MonkeyPatch()
    patch.setenv("OVERCAST_ENGINE", url)
    yield wf_crash.app, {**os.environ, "OVERCAST_ENGINE": url}
    wf_crash.app.close()
    patch.undo()


def _start(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "overcast", "run", str(APP)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def _count(app: App, status: str) -> int:
    return len(app.list_executions("pipeline", status=status, limit=1000))


@pytest.mark.slow
def test_kill_9_in_the_middle_of_200_executions(
    app: tuple[App, dict[str, str]], tmp_path: Path
) -> None:
    wf, env = app
    resources = {
        "price": wf_crash.price_of,
        "arn:aws:lambda:us-east-1:000000000000:function:total": wf_crash.total_of,
    }
    expected = {}
    for i in range(TOTAL):
        run = run_definition(wf_crash.pipeline.definition, order(i), resources=resources)
        assert run.succeeded, run.error
        expected[f"o-{i}"] = run.output
    for i in range(TOTAL):
        wf.start_execution("pipeline", order(i), f"o-{i}")
    log = tmp_path / "run.log"

    first = _start(env, log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and _count(wf, "SUCCEEDED") < 40:
        time.sleep(0.05)
    assert _count(wf, "SUCCEEDED") >= 40, log.read_text()
    os.kill(first.pid, signal.SIGKILL)
    first.wait(10)
    finished_before = _count(wf, "SUCCEEDED")
    assert finished_before < TOTAL, "the crash came too late to test anything"

    second = _start(env, log)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and _count(wf, "SUCCEEDED") < TOTAL:
        time.sleep(0.1)
    second.send_signal(signal.SIGINT)
    assert second.wait(60) == 0, log.read_text()[-3000:]

    assert _count(wf, "SUCCEEDED") == TOTAL, log.read_text()[-3000:]
    for i in range(TOTAL):
        assert wf.describe_execution(f"pipeline/o-{i}").output == expected[f"o-{i}"]
    effects = wf.engine.read(lambda tx: [tx.kv_query("effects", f"o-{i}") for i in range(TOTAL)])
    assert Counter(len(e) for e in effects) == {4: TOTAL}  # 3 prices and a total: never a 5th key
    invocations = wf.engine.read(
        lambda tx: sum(len(tx.kv_query("invocations", f"o-{i}")) for i in range(TOTAL))
    )
    assert invocations >= 4 * TOTAL
    print(
        json.dumps(
            {
                "finished_before_crash": finished_before,
                "invocations": invocations,
                "reinvoked_after_crash": invocations - 4 * TOTAL,
            }
        )
    )
