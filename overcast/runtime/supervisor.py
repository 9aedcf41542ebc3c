"""The runtime: everything an app needs running, in one process tree (``overcast run``).

Before changing: shutdown must lose nothing. Pollers stop taking new batches, the batches in
flight finish (their handlers run to completion or to their timeout), messages received but not
yet handed to a handler are made visible again, and only then do workers stop.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from typing import TYPE_CHECKING, Any

from overcast.errors import OvercastError
from overcast.runtime.pollers import AsyncInvocationPoller, Poller, QueuePoller

if TYPE_CHECKING:
    from overcast.app import App

log = logging.getLogger("overcast.runtime")

SWEEP_INTERVAL = 60.0


class Runtime:
    """Runs an app's pollers and workers until stopped."""

    def __init__(self, app: App, *, prestart: int | None = None) -> None:
        self.app = app
        self.pollers: list[Poller] = []
        self.roles: list[Any] = []  # what services add through app.runtime_roles
        self._stop = threading.Event()
        self._sweeper: threading.Thread | None = None
        self._prestart = prestart
        self.started = False

    def start(self) -> None:
        """Reconcile the app with its engine, start its workers and pollers; return at once."""
        from overcast.app import invoke_queue_name

        app = self.app
        app.engine  # noqa: B018 - opens and reconciles; errors surface here, before any thread
        for source in app.queue_sources:
            self.pollers.append(QueuePoller(app, source))
        for fn in app.functions.values():
            if any(s.function == fn.name for s in app.queue_sources):
                continue
            self.pollers.append(AsyncInvocationPoller(app, fn, invoke_queue_name(fn.name)))
        wanted = self._prestart
        if wanted is None:
            # one warm worker per queue poller, and one per core when HTTP routes call functions
            serving = any(r.function for r in app.routes) and app.serve_gateway
            wanted = sum(s.concurrency for s in app.queue_sources) + (os.cpu_count() or 2 if serving else 0)
            wanted = min(app.max_workers, wanted or 1)
        if app.functions and wanted:
            app.pool.prestart(wanted)
        for poller in self.pollers:
            poller.start()
        for factory in app.runtime_roles:
            for role in factory(app):
                self.roles.append(role)
                role.start()
        self._sweeper = threading.Thread(target=self._sweep, name="sweeper", daemon=True)
        self._sweeper.start()
        self.started = True

    def _sweep(self) -> None:
        engine = self.app.engine
        while not self._stop.wait(SWEEP_INTERVAL):
            try:
                while engine.atomic(lambda tx: tx.queue_expire(500)) == 500:
                    pass
                while engine.atomic(lambda tx: tx.kv_expire(500)) == 500:
                    pass
            except OvercastError as exc:
                log.warning("retention sweep failed: %s", exc)

    def stop(self, timeout: float = 30.0) -> None:
        """Stop gracefully: in-flight batches finish, nothing accepted is lost."""
        self._stop.set()
        for worker in [*self.roles, *self.pollers]:
            worker.stop()
        deadline = time.monotonic() + timeout
        for worker in [*self.roles, *self.pollers]:
            worker.join(max(0.0, deadline - time.monotonic()))
        self.app.close()

    def run_forever(self, *, on_ready: Any = None) -> None:
        """Start, then block until SIGINT or SIGTERM, then stop gracefully."""
        received = threading.Event()

        def handle(signum: int, frame: Any) -> None:
            if received.is_set():
                raise SystemExit(130)  # a second signal: give up waiting
            received.set()

        previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            self.start()
            if on_ready is not None:
                on_ready(self)
            while not received.wait(0.5):
                pass
            log.info("stopping: finishing in-flight work")
            self.stop()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def processed(self) -> int:
        return sum(p.processed for p in self.pollers)
