"""Functions: invocation in worker processes, timeouts, isolation, retries, destinations."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from overcast import (
    App,
    ConfigError,
    FunctionCrashed,
    FunctionError,
    FunctionNotFound,
    FunctionTimeout,
    Runtime,
    ValidationError,
)
from tests.apps import funcs


@pytest.fixture
def app(engine_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[App]:
    monkeypatch.setenv("OVERCAST_ENGINE", engine_url)
    yield funcs.app
    funcs.app.close()


def wait_until(predicate: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("condition not reached in time")


def drain(app: App, name: str) -> list[Any]:
    queue = app.get_queue(name)
    out = []
    while batch := queue.receive(10):
        out += [m.body for m in batch]
        queue.delete_batch(batch)
    return out


def test_sync_invoke_returns_the_result(app: App) -> None:
    assert app.invoke("echo", {"a": [1, 2]}) == {"a": [1, 2]}
    result = app.invoke("aecho", "hi")
    assert result["event"] == "hi" and result["function"] == "aecho" and result["remaining_ok"]
    import os

    assert result["pid"] != os.getpid()  # it ran in a worker process


def test_errors_carry_remote_type_message_and_traceback(app: App) -> None:
    with pytest.raises(FunctionError) as err:
        app.invoke("boom", {})
    assert err.value.error_type == "KeyError"
    assert "missing thing" in err.value.error_message
    assert "funcs.py" in err.value.traceback and 'raise KeyError("missing thing")' in err.value.traceback
    assert err.value.to_payload()["errorType"] == "KeyError"


def test_timeout_really_stops_the_handler(app: App, tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    start = time.monotonic()
    with pytest.raises(FunctionTimeout):
        app.invoke("slow", {"sleep": 2, "marker": str(marker)})
    assert time.monotonic() - start < 1.9
    time.sleep(1.5)
    assert not marker.exists()
    assert app.invoke("echo", 1) == 1  # the pool carries on


def test_a_crash_does_not_take_the_runtime_down(app: App) -> None:
    with pytest.raises(FunctionCrashed) as err:
        app.invoke("crash", {})
    assert "7" in str(err.value)
    assert app.invoke("echo", "still here") == "still here"


def test_cpu_bound_handler_does_not_stall_other_work(app: App) -> None:
    app.pool.prestart(2)
    spinner = threading.Thread(target=app.invoke, args=("spin", {"seconds": 2.0}))
    spinner.start()
    time.sleep(0.2)
    start = time.monotonic()
    assert app.invoke("echo", "quick") == "quick"
    assert time.monotonic() - start < 1.5
    spinner.join()


def test_concurrency_limit(app: App) -> None:
    spans: list[list[float]] = []
    threads = [threading.Thread(target=lambda: spans.append(app.invoke("serial", {}))) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    spans.sort()
    assert len(spans) == 3
    for earlier, later in zip(spans, spans[1:], strict=False):
        assert later[0] >= earlier[1] - 0.01  # never two at once


def test_unknown_function_and_bad_event(app: App) -> None:
    with pytest.raises(FunctionNotFound, match="echo"):
        app.invoke("nope", {})
    with pytest.raises(ValidationError):
        app.invoke("echo", {1, 2})


def test_async_invocation_retries_then_goes_to_on_failure(app: App) -> None:
    runtime = Runtime(app, prestart=1)
    runtime.start()
    try:
        invocation_id = app.invoke_async("always_fails", {"order": 7})
        wait_until(lambda: app.get_queue("failures").stats()["visible"] == 1)
    finally:
        runtime.stop()
    [record] = drain(app, "failures")
    assert record["requestContext"]["requestId"] == invocation_id
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 3
    assert record["requestPayload"] == {"order": 7}
    assert record["responsePayload"]["errorType"] == "RuntimeError"
    assert record["responsePayload"]["errorMessage"] == "attempt 3 failed"
    attempts = drain(app, "results")
    assert sorted(a["attempt"] for a in attempts) == [1, 2, 3]
    assert {a["invocation_id"] for a in attempts} == {invocation_id}


def test_async_invocation_succeeds_on_retry(app: App) -> None:
    runtime = Runtime(app, prestart=1)
    runtime.start()
    try:
        app.invoke_async("fails_once", None)
        wait_until(lambda: app.get_queue("results").stats()["visible"] == 2)
        time.sleep(0.3)
    finally:
        runtime.stop()
    assert sorted(a["attempt"] for a in drain(app, "results")) == [1, 2]
    assert drain(app, "failures") == []


def test_async_invocations_are_durable_until_a_runtime_runs(app: App) -> None:
    app.invoke_async("echo", {"x": 1})
    assert app.get_queue("overcast:invoke:echo").stats()["visible"] == 1
    runtime = Runtime(app, prestart=1)
    runtime.start()
    try:
        wait_until(lambda: app.get_queue("overcast:invoke:echo").stats() == {"visible": 0, "in_flight": 0, "delayed": 0})
    finally:
        runtime.stop()


def test_partial_batch_failure_and_dead_letters(app: App) -> None:
    inbox = app.get_queue("inbox")
    inbox.send_batch([{"body": {"n": i, "fail": i in (2, 4)}} for i in range(6)])
    runtime = Runtime(app, prestart=1)
    runtime.start()
    try:
        wait_until(lambda: app.get_queue("inbox-dlq").stats()["visible"] == 2)
    finally:
        runtime.stop()
    handled = drain(app, "results")
    assert sorted(h["handled"] for h in handled) == [0, 1, 3, 5]  # each once: only failures retried
    assert {h["shape"] for h in handled} == {"aws:sqs"}
    assert sorted(m["n"] for m in drain(app, "inbox-dlq")) == [2, 4]


def test_decorator_settings_are_validated() -> None:
    app = App("bad")
    with pytest.raises(ConfigError):
        app.function(timeout=0)(lambda e: e)
    with pytest.raises(ConfigError):
        app.function(retries=3)(lambda e: e)
    with pytest.raises(ConfigError):
        app.on_queue("q", batch_size=20)(lambda b: None)


def test_on_queue_needs_a_declared_queue(engine_url: str) -> None:
    app = App("undeclared", engine=engine_url)

    @app.on_queue("missing")
    def handler(batch: Any) -> None:
        return None

    with pytest.raises(ConfigError, match="missing"):
        app.engine  # noqa: B018
