"""Express executions: the same step machine, driven in memory — fast, at-least-once, no history
kept in the engine.

``run_in_memory`` starts the interpreter, runs the Tasks each step asks for on a small thread
pool (functions through the app's worker pool, integrations directly), keeps timers in a heap and
waits on the app's clock, until the execution ends. ``start_sync_execution`` returns its result;
an asynchronous Express start is a message that ``ExpressPoller`` runs this way (again, if the
process dies before it ends: at-least-once, as Step Functions' Express workflows).

Before changing: nothing here touches an execution record; Express executions cannot wait for a
token or a child (``.sync``/``.waitForTaskToken`` are refused at declaration, as in AWS).
"""

from __future__ import annotations

import heapq
import os
import queue
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from overcast.clock import Clock, SystemClock
from overcast.errors import TaskFailed
from overcast.workflows.asl.interpreter import start, step
from overcast.workflows.asl.model import (
    CancelTask,
    CancelTimer,
    Event,
    ExecutionState,
    InvokeTask,
    StartTimer,
    TaskSucceeded,
    TimerFired,
    Transition,
)
from overcast.workflows.asl.model import TaskFailed as TaskFailedEvent

from .resources import TaskCall, TaskNotRun, parse_resource
from .store import ExecutionDescription
from .tokens import ExecutionKey, execution_arn, idempotency_key, state_machine_arn

if TYPE_CHECKING:
    from overcast.app import App

__all__ = ["StartChild", "run_in_memory"]

#: starts a nested execution for ``states:startExecution`` (workflow, input, name) → its output
StartChild = Callable[[str, Any, "str | None"], Any]
_TICK = 0.05  # seconds between looks at a clock that may be moved by hand
EXPRESS_LIMIT = 300.0  # an Express execution runs at most five minutes, as in Step Functions


def run_in_memory(
    definition: dict[str, Any],
    input: Any,
    *,
    workflow: str,
    name: str,
    app: App | None,
    clock: Clock | None = None,
    start_child: StartChild | None = None,
    region: str = "local",
    account: str = "000000000000",
    concurrency: int = 8,
) -> tuple[ExecutionDescription, list[dict[str, Any]]]:
    """Run one execution to its end in this process; return its description and history.

    It ends ``TIMED_OUT`` (``States.Timeout``) after five minutes, or after the definition's
    ``TimeoutSeconds`` if that is shorter."""
    limit = definition.get("TimeoutSeconds")
    if not isinstance(limit, int | float) or limit > EXPRESS_LIMIT:
        definition = {**definition, "TimeoutSeconds": EXPRESS_LIMIT}
    run = _Run(app, clock or SystemClock(), start_child, concurrency)
    key = ExecutionKey(workflow, name)
    arn = execution_arn(key, region, account)
    transition = start(
        definition,
        input,
        now=run.clock.now(),
        name=name,
        execution_id=arn,
        state_machine_name=workflow,
        state_machine_id=state_machine_arn(workflow, region, account),
        seed=int.from_bytes(os.urandom(6), "big"),
        validate=False,
    )
    try:
        state, history = run.drive(transition)
    finally:
        run.close()
    description = ExecutionDescription(
        arn=arn,
        workflow=workflow,
        name=name,
        status=state.status,
        type="EXPRESS",
        input=input,
        output=state.output,
        error=state.error,
        cause=state.cause,
        start_date=state.start_time,
        stop_date=state.stop_time,
        state_machine_arn=state_machine_arn(workflow, region, account),
    )
    return description, history


class _Run:
    def __init__(
        self, app: App | None, clock: Clock, start_child: StartChild | None, concurrency: int
    ) -> None:
        self.app = app
        self.clock = clock
        self.start_child = start_child
        self.results: queue.Queue[Event] = queue.Queue()
        self.timers: list[tuple[float, int, str]] = []
        self.cancelled: set[str] = set()
        self.outstanding = 0
        self.order = 0
        self.pool = ThreadPoolExecutor(concurrency, thread_name_prefix="wf-express-task")
        self.state: ExecutionState | None = None

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)

    def drive(self, transition: Transition) -> tuple[ExecutionState, list[dict[str, Any]]]:
        state = transition.state
        history = list(transition.history)
        self.absorb(state, transition)
        while not state.done:
            event = self.next_event()
            if event is None:  # nothing can happen any more: cannot occur for a valid machine
                break
            transition = step(state, event, now=self.clock.now())
            state = transition.state
            history.extend(transition.history)
            self.absorb(state, transition)
        return state, history

    def absorb(self, state: ExecutionState, transition: Transition) -> None:
        for action in transition.actions:
            self.order += 1
            if isinstance(action, InvokeTask):
                frame = state.frames.get(state.waiting.get(action.id, ""))
                attempt = sum(frame.retries) + 1 if frame is not None else 1
                self.outstanding += 1
                self.pool.submit(self._run_task, state.execution_id, action, attempt)
            elif isinstance(action, StartTimer):
                heapq.heappush(self.timers, (action.until, self.order, action.id))
            elif isinstance(action, CancelTimer | CancelTask):
                self.cancelled.add(action.id)

    def next_event(self) -> Event | None:
        while True:
            while self.timers and self.timers[0][2] in self.cancelled:
                heapq.heappop(self.timers)
            try:
                event = self.results.get_nowait()
            except queue.Empty:
                pass
            else:
                self.outstanding -= 1
                return event
            now = self.clock.now()
            if self.timers and self.timers[0][0] <= now:
                return TimerFired(heapq.heappop(self.timers)[2])
            if not self.timers and not self.outstanding:
                return None
            wait = _TICK if not self.timers else min(_TICK, max(0.0, self.timers[0][0] - now))
            if isinstance(self.clock, SystemClock) and self.timers:
                wait = max(0.0, self.timers[0][0] - now)
            try:
                event = self.results.get(timeout=wait)
            except queue.Empty:
                continue
            self.outstanding -= 1
            return event

    def _run_task(self, arn: str, action: InvokeTask, attempt: int) -> None:
        self.results.put(self._call(arn, action, attempt))

    def _call(self, arn: str, action: InvokeTask, attempt: int) -> Event:
        from .runner import task_event

        try:
            target = parse_resource(action.resource)
            if target.pattern != "request":
                raise TaskFailed(
                    "States.Runtime",
                    f"{action.resource} waits for a token or a child execution, which needs a "
                    "durable (STANDARD) execution",
                )
            if target.kind == "execution":
                return self._child(action)
            if self.app is None:
                raise TaskFailed(
                    "States.Runtime", f"no app provides {action.resource!r}: pass an app"
                )
        except TaskFailed as exc:
            return TaskFailedEvent(action.id, exc.error, exc.cause)
        call = TaskCall(
            app=self.app,
            target=target,
            input=action.input,
            execution_arn=arn,
            state_name=action.state_name,
            task_id=action.id,
            attempt=attempt,
            idempotency_key=idempotency_key(arn, action.state_name, action.id, attempt),
            token=action.task_token,
            timeout=action.timeout_seconds,
        )
        try:
            body = task_event(call)
        except TaskNotRun as exc:
            return TaskFailedEvent(action.id, "States.Runtime", str(exc))
        if body is None:  # pragma: no cover - request tasks always report
            return TaskFailedEvent(action.id, "States.Runtime", "the task reported nothing")
        if body["k"] == "ok":
            return TaskSucceeded(action.id, body["output"])
        return TaskFailedEvent(action.id, body["error"], body["cause"])

    def _child(self, action: InvokeTask) -> Event:
        params = action.input
        if (
            self.start_child is None
            or not isinstance(params, dict)
            or not isinstance(params.get("StateMachineArn"), str)
        ):
            return TaskFailedEvent(
                action.id,
                "States.Runtime",
                "states:startExecution needs an app and a StateMachineArn",
            )
        try:
            output = self.start_child(
                params["StateMachineArn"].rsplit(":", 1)[-1],
                params.get("Input", {}),
                params.get("Name"),
            )
        except Exception as exc:
            return TaskFailedEvent(action.id, type(exc).__name__, str(exc))
        return TaskSucceeded(action.id, output)
