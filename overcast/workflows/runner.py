"""Running Task invocations: take one from the task queue, call its resource, report the result.

A task message is taken with a short lease (``TASK_LEASE``) that ``renew_leases`` extends while
the resource runs, so after a crash it is delivered again within seconds — and invoked again with
the same idempotency key. Its result is applied by ``Executor.apply`` in the transaction that
deletes the message (by its receipt: a result that arrives after the lease was lost is dropped).

Before changing: ``run_task`` runs outside any transaction and calls user code; nothing it does
may be assumed to happen once.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from overcast.engine.base import Tx
from overcast.errors import InvalidReceipt, OvercastError, TaskFailed

from . import store
from .executor import TASK_LEASE, TASKS, _dumps, _key, _target, _waits_for_record
from .resources import TaskCall, TaskNotRun, call_task
from .tokens import ExecutionKey

if TYPE_CHECKING:
    from .executor import Executor

__all__ = ["TaskLease", "TaskRunner", "task_event"]

log = logging.getLogger("overcast.workflows")


@dataclass
class TaskLease:
    """A task taken from the task queue: its message body and receipt."""

    body: dict[str, Any]
    receipt: str
    receive_count: int


class TaskRunner:
    """Takes, runs and reports the tasks of Standard executions."""

    def __init__(self, executor: Executor) -> None:
        self.executor = executor
        self.app = executor.app
        self._in_flight: dict[str, TaskLease] = {}  # receipts of tasks being run (renewed)
        self._lock = threading.Lock()

    def take_task(self) -> TaskLease | None:
        """Receive one task to run (hidden for ``TASK_LEASE`` seconds, renewed while it runs)."""
        taken = self.app.engine.atomic(lambda tx: tx.queue_receive(TASKS, 1, TASK_LEASE))
        if not taken:
            return None
        lease = TaskLease(json.loads(taken[0].body), taken[0].receipt, taken[0].receive_count)
        with self._lock:
            self._in_flight[lease.receipt] = lease
        return lease

    def run_task(self, lease: TaskLease) -> dict[str, Any] | None:
        """Run a task's resource; return the event to report (None: nothing to report yet)."""
        body = lease.body
        key = _key(body["x"])
        wanted = self.app.engine.read(lambda tx: _waits_for(tx, key, body["id"]))
        if not wanted:
            return None  # the execution ended or stopped waiting (a timeout, a stop)
        target = _target(body["resource"])
        call = TaskCall(
            app=self.app,
            target=target,
            input=body["input"],
            execution_arn=body["arn"],
            state_name=body["state"],
            task_id=body["id"],
            attempt=body["attempt"],
            idempotency_key=body["key"],
            token=body["token"],
            timeout=body.get("timeout"),
        )
        return task_event(call)

    def finish_task(self, lease: TaskLease, event: dict[str, Any] | None) -> None:
        """Delete the task's message and apply its result, in one transaction."""

        def finish(tx: Tx) -> None:
            tx.queue_delete_message(TASKS, lease.receipt)
            if event is not None:
                self.executor.apply(tx, _key(lease.body["x"]), [event])

        try:
            self.executor.atomic(finish)
        except InvalidReceipt:
            log.warning(
                "task %s of %s ran past its lease; its result is dropped (it runs again)",
                lease.body["id"],
                lease.body["x"],
            )
        finally:
            self.release(lease)

    def release(self, lease: TaskLease) -> None:
        with self._lock:
            self._in_flight.pop(lease.receipt, None)

    def process_task(self) -> int:
        """Take, run and report one task in this thread; return 1 if there was one."""
        lease = self.take_task()
        if lease is None:
            return 0
        try:
            event = self.run_task(lease)
        except TaskNotRun:
            self.release(lease)
            return 1
        except BaseException:
            self.release(lease)
            raise
        self.finish_task(lease, event)
        return 1

    def renew_leases(self) -> None:
        """Keep the tasks being run hidden (called every ``TASK_LEASE / 3`` seconds)."""
        with self._lock:
            leases = list(self._in_flight.values())
        if not leases:
            return

        def renew(tx: Tx) -> None:
            for lease in leases:
                try:
                    tx.queue_change_visibility(TASKS, lease.receipt, TASK_LEASE)
                except InvalidReceipt:
                    self.release(lease)

        with contextlib.suppress(OvercastError):
            self.app.engine.atomic(renew)


def task_event(call: TaskCall) -> dict[str, Any] | None:
    """Run a task and turn its outcome into an event body (None for a token task that started)."""
    try:
        output = call_task(call)
        output = json.loads(_dumps(output))
    except TaskNotRun:
        raise
    except TaskFailed as exc:
        return {"k": "fail", "id": call.task_id, "error": exc.error, "cause": exc.cause}
    except (TypeError, ValueError) as exc:
        return {
            "k": "fail",
            "id": call.task_id,
            "error": "States.Runtime",
            "cause": f"the task result is not a JSON value: {exc}",
        }
    except Exception as exc:
        return {"k": "fail", "id": call.task_id, "error": type(exc).__name__, "cause": str(exc)}
    if call.target.pattern == "token":
        return None  # started: the result comes with send_task_success/failure
    return {"k": "ok", "id": call.task_id, "output": output}


def _waits_for(tx: Tx, key: ExecutionKey, task_id: str) -> bool:
    record = store.load(tx, key)
    return record is not None and _waits_for_record(record, task_id)
