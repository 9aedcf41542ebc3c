"""overcast.testing.running: an app run in a test on a temporary engine."""

from __future__ import annotations

from overcast.testing.harness import running
from tests.apps import funcs


def test_running_an_app_in_a_test() -> None:
    with running(funcs.app, prestart=1) as harness:
        harness.queue("inbox").send_batch([{"body": {"n": i, "fail": False}} for i in range(5)])
        harness.wait_until_idle()
        handled = harness.drain("results")
        assert sorted(h["handled"] for h in handled) == [0, 1, 2, 3, 4]
        url = harness.app.engine_url
    assert url.startswith("sqlite:///") and "overcast-test-" in url
    assert funcs.app._engine is None  # closed again: the next test starts clean
