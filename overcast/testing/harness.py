"""Run an app in-process for a test: a temporary SQLite engine, the real runtime, and helpers to
wait until the app is idle and read what it produced.

Before changing: this runs the same Runtime and the same SQLite engine as ``overcast run`` —
never a lighter stand-in that could drift from them.
"""

from __future__ import annotations

import functools
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from overcast.clock import Clock
from overcast.errors import OvercastError

if TYPE_CHECKING:
    from overcast.app import App
    from overcast.runtime.supervisor import Runtime


class Harness:
    """A running app in a test: ``queue(name)``, ``drain(name)``, ``wait_until_idle()``."""

    def __init__(self, app: App, runtime: Runtime) -> None:
        self.app = app
        self.runtime = runtime

    def queue(self, name: str) -> Any:
        return self.app.get_queue(name)

    def drain(self, name: str) -> list[Any]:
        """Receive and delete every visible message of a queue; return their bodies in order."""
        queue = self.app.get_queue(name)
        bodies: list[Any] = []
        while batch := queue.receive(10):
            bodies += [m.body for m in batch]
            queue.delete_batch(batch)
        return bodies

    def wait_until_idle(self, timeout: float = 30.0, *, settle: float = 0.2) -> None:
        """Wait until no queue of the app has a message visible or in flight (delayed ones may
        wait), twice ``settle`` seconds apart. Raises ``TimeoutError`` with what is still busy."""
        deadline = time.monotonic() + timeout
        quiet_since: float | None = None
        busy: dict[str, dict[str, int]] = {}
        while time.monotonic() < deadline:
            busy = {}
            busy = self.app.engine.read(functools.partial(_busy, names=self._watched()))
            if busy:
                quiet_since = None
            elif quiet_since is None:
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since >= settle:
                return
            time.sleep(0.02)
        raise TimeoutError(f"the app is still busy after {timeout:g}s: {busy}")

    def _watched(self) -> set[str]:
        # queues something in the app consumes: mapped queues and internal ones
        names = {source.queue for source in self.app.queue_sources}
        names |= {spec.name for spec in self.app._all_declared() if spec.name.startswith("overcast:")}
        return names


def _busy(tx: Any, names: set[str]) -> dict[str, dict[str, int]]:
    counts = {name: tx.queue_stats(name) for name in names if tx.queue_get(name)}
    return {n: s.to_dict() for n, s in counts.items() if s.visible or s.in_flight}


@contextmanager
def running(app: App, *, engine: str | None = None, clock: Clock | None = None,
            prestart: int | None = None) -> Iterator[Harness]:
    """Run ``app`` for the duration of a ``with`` block, on ``engine`` (default: a new SQLite
    file in a temporary folder) and, if given, a manual ``clock`` for the runtime process.

    Handlers run in worker processes as in production; they use the real clock.
    """
    from overcast.runtime.supervisor import Runtime

    if app._engine is not None:
        raise OvercastError("the app is already in use: close it (app.close()) before running it in a test")
    with tempfile.TemporaryDirectory(prefix="overcast-test-") as folder:
        url = engine or f"sqlite:///{Path(folder) / 'app.db'}"
        saved = app._engine_arg, app._clock, os.environ.get("OVERCAST_ENGINE")
        if app._engine_arg is None:
            os.environ["OVERCAST_ENGINE"] = url  # worker processes find the same engine
        app._engine_arg, app._clock = url, clock
        runtime = Runtime(app, prestart=prestart)
        try:
            runtime.start()
            yield Harness(app, runtime)
        finally:
            runtime.stop()
            app._engine_arg, app._clock = saved[0], saved[1]
            if saved[2] is None:
                os.environ.pop("OVERCAST_ENGINE", None)
            else:
                os.environ["OVERCAST_ENGINE"] = saved[2]
