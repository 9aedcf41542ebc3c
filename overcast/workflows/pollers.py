"""The runtime roles of workflows: threads that drive the executor under ``overcast run``.

``AdvancePoller`` applies due execution events, ``TaskPoller`` runs Task invocations (and renews
the leases of those still running), ``ExpressPoller`` runs asynchronous Express executions in
memory. Before changing: a role only loops over the executor's ``process_*`` calls, which hold
all the logic; ``app.process_workflows()`` drives the very same calls in one thread for tests.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from overcast.runtime.pollers import Poller

from .executor import ADVANCE, EXPRESS, TASK_LEASE, TASKS
from .resources import TaskNotRun

if TYPE_CHECKING:
    from .service import WorkflowService

__all__ = ["AdvancePoller", "ExpressPoller", "HistoryTrimmer", "TaskPoller", "roles"]

log = logging.getLogger("overcast.workflows")

POLL_WAIT = 1.0  # seconds an idle loop waits before re-checking for shutdown


class _Role(Poller):
    """Threads that each call ``work()`` until stopped, waiting on ``queue`` when idle."""

    def __init__(self, service: WorkflowService, queue: str, threads: int, name: str) -> None:
        super().__init__(service.app, threads, name)
        self.service = service
        self.queue = queue

    def work(self) -> int:
        raise NotImplementedError

    def poll_once(self) -> None:
        engine = self.service.app.engine
        watch = engine.watch(self.queue)  # before looking, so nothing sent is missed
        done = self.work()
        self.processed += done
        if done or self.stopping.is_set():
            return
        wait = POLL_WAIT
        next_at = engine.read(lambda tx: tx.queue_next_visible_at(self.queue))
        if next_at is not None:
            wait = min(wait, max(0.001, next_at - engine.clock.now()))
        watch.wait(wait)


class AdvancePoller(_Role):
    """Applies due execution events, up to ten per transaction."""

    def __init__(self, service: WorkflowService, threads: int = 2) -> None:
        super().__init__(service, ADVANCE, threads, "wf-advance")

    def work(self) -> int:
        return self.service.executor.process_advance(10)


class TaskPoller(_Role):
    """Runs Task invocations; a keeper thread renews the leases of those still running."""

    def __init__(self, service: WorkflowService, threads: int = 8) -> None:
        super().__init__(service, TASKS, threads, "wf-task")
        self._keeper = threading.Thread(target=self._keep, name="wf-task-keeper", daemon=True)

    def start(self) -> None:
        super().start()
        self._keeper.start()

    def work(self) -> int:
        if self.stopping.is_set():
            return 0
        try:
            return self.service.tasks.process_task()
        except TaskNotRun:
            return 0

    def _keep(self) -> None:
        while not self.stopping.wait(TASK_LEASE / 3):
            try:
                self.service.tasks.renew_leases()
            except Exception:
                log.exception("renewing workflow task leases failed")


class ExpressPoller(_Role):
    """Runs asynchronous Express executions in memory (at-least-once)."""

    def __init__(self, service: WorkflowService, threads: int = 2) -> None:
        super().__init__(service, EXPRESS, threads, "wf-express")

    def work(self) -> int:
        return self.service.process_express()


class HistoryTrimmer(Poller):
    """Every ``interval`` seconds, deletes the history of executions gone for good."""

    def __init__(self, service: WorkflowService, interval: float = 600.0) -> None:
        super().__init__(service.app, 1, "wf-history")
        self.service = service
        self.interval = interval

    def poll_once(self) -> None:
        if self.stopping.wait(self.interval):
            return
        self.processed += self.service.trim_history()


def roles(service: WorkflowService) -> Callable[[object], list[Poller]]:
    """The factory ``app.runtime_roles`` holds: the pollers for one app's workflows."""

    def make(_app: object) -> list[Poller]:
        return [AdvancePoller(service), TaskPoller(service), ExpressPoller(service), HistoryTrimmer(service)]

    return make
