"""``run_definition``: the in-process driver loop over the step machine, with virtual time.

It calls Task resources as plain Python callables, keeps timers in a heap and — unless
``sleep=True`` — jumps virtual time to the next timer instead of sleeping, so Waits and retry
backoffs cost nothing in tests. Before changing: this is the *only* place that reads a clock or
calls user code; the interpreter stays pure, and a durable executor must be able to drive the same
``start``/``step`` calls one at a time from a database.
"""

from __future__ import annotations

import heapq
import json
import os
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from overcast.errors import TaskFailed as TaskFailedError

from .errors import RUNTIME, TASK_FAILED
from .interpreter import start, step
from .model import (
    CancelTask,
    CancelTimer,
    Event,
    ExecutionState,
    Finish,
    InvokeTask,
    StartTimer,
    TaskFailed,
    TaskSucceeded,
    TimerFired,
    Transition,
)
from .validate import assert_valid

__all__ = ["Clock", "Execution", "run_definition"]


class Clock(Protocol):
    """Anything with ``now()`` in epoch seconds (``overcast.clock.SystemClock``/``ManualClock`` fit)."""

    def now(self) -> float: ...


@dataclass
class Execution:
    """The outcome of one execution run by :func:`run_definition`.

    ``status`` is ``SUCCEEDED``, ``FAILED``, ``TIMED_OUT`` or ``ABORTED``; ``output`` is set when
    it succeeded, ``error``/``cause`` otherwise; ``history`` is the list of Step Functions history
    events (``ExecutionStarted``, ``TaskScheduled``, ``MapIterationStarted``, ...) with their
    inputs and outputs as JSON text, as ``GetExecutionHistory`` returns them.
    """

    status: str
    output: Any = None
    error: str | None = None
    cause: str | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    execution_id: str = ""
    name: str = ""
    start_time: float = 0.0
    stop_time: float | None = None
    state: ExecutionState | None = field(default=None, repr=False)

    @property
    def succeeded(self) -> bool:
        """Whether the execution ended with status ``SUCCEEDED``."""
        return self.status == "SUCCEEDED"


def run_definition(
    definition: dict[str, Any],
    input: Any,
    *,
    resources: Mapping[str, Callable[[Any], Any]],
    clock: Clock | None = None,
    sleep: bool = False,
    name: str | None = None,
    state_machine_name: str = "StateMachine",
    seed: int | None = None,
) -> Execution:
    """Run ``definition`` on ``input`` to the end, in this process, and return the :class:`Execution`.

    ``resources`` maps each Task ``Resource`` string to a callable taking the task's effective
    input and returning its result. A callable fails with a named error by raising
    ``overcast.errors.TaskFailed(error, cause)``; any other exception fails with Error = the
    exception's class name and Cause = its message. Results must be JSON values.

    Time: ``clock`` (default: the system clock) gives the start time. With ``sleep=False`` (the
    default) Waits, retry backoffs and timeouts pass in virtual time — instantly; a clock with
    ``advance(seconds)`` (``ManualClock``) is advanced to match. With ``sleep=True`` the driver
    really waits. A task that finishes after its ``TimeoutSeconds`` (as measured on ``clock``,
    e.g. a callable that advances a manual clock) fails with ``States.Timeout``.

    Raises ``overcast.errors.InvalidDefinition`` (with every problem) before running anything
    when the definition is invalid.
    """
    assert_valid(definition)
    driver = _Driver(resources, clock, sleep)
    transition = start(
        definition,
        input,
        now=driver.now(),
        name=name or str(uuid.uuid4()),
        state_machine_name=state_machine_name,
        seed=seed if seed is not None else int.from_bytes(os.urandom(6), "big"),
        validate=False,
    )
    return driver.run(transition)


class _Driver:
    """Carries out actions: calls resources at once, keeps timers and results in time order."""

    def __init__(
        self, resources: Mapping[str, Callable[[Any], Any]], clock: Clock | None, sleep: bool
    ) -> None:
        self.resources = resources
        self.clock = clock
        self.sleep = sleep
        self.skipped = 0.0  # virtual seconds jumped over (clocks that cannot be advanced)
        self.ready: deque[InvokeTask] = deque()
        self.timers: list[tuple[float, int, str]] = []
        self.results: list[tuple[float, int, Event]] = []
        self.cancelled: set[str] = set()
        self.order = 0

    def now(self) -> float:
        base = self.clock.now() if self.clock is not None else time.time()
        return base + self.skipped

    def advance_to(self, moment: float) -> None:
        delta = moment - self.now()
        if delta <= 0:
            return
        if self.sleep:
            time.sleep(delta)
            delta = moment - self.now()  # a clock that does not move on its own
            if delta <= 0:
                return
        advance = getattr(self.clock, "advance", None)
        if advance is not None and not self.sleep:
            advance(delta)
        else:
            self.skipped += delta

    def run(self, transition: Transition) -> Execution:
        state = transition.state
        history = list(transition.history)
        self.absorb(transition)
        while not state.done:
            event = self.next_event()
            if event is None:  # nothing left to wait for: cannot happen for a valid machine
                break
            transition = step(state, event, now=self.now())
            state = transition.state
            history.extend(transition.history)
            self.absorb(transition)
        return Execution(
            status=state.status,
            output=state.output,
            error=state.error,
            cause=state.cause,
            history=history,
            execution_id=state.execution_id,
            name=state.name,
            start_time=state.start_time,
            stop_time=state.stop_time,
            state=state,
        )

    def absorb(self, transition: Transition) -> None:
        for action in transition.actions:
            self.order += 1
            if isinstance(action, InvokeTask):
                self.ready.append(action)
            elif isinstance(action, StartTimer):
                heapq.heappush(self.timers, (action.until, self.order, action.id))
            elif isinstance(action, CancelTimer | CancelTask):
                self.cancelled.add(action.id)
            elif isinstance(action, Finish):
                self.ready.clear()

    def next_event(self) -> Event | None:
        # Every task the last step scheduled runs now (callables are instantaneous unless they
        # move the clock); each result is due at the time its call returned.
        while self.ready:
            action = self.ready.popleft()
            if action.id not in self.cancelled:
                event = self.invoke(action)
                self.order += 1
                heapq.heappush(self.results, (self.now(), self.order, event))
        while self.timers and self.timers[0][2] in self.cancelled:
            heapq.heappop(self.timers)
        if self.timers and (not self.results or self.timers[0][0] < self.results[0][0]):
            until, _, tid = heapq.heappop(self.timers)
            self.advance_to(until)
            return TimerFired(tid)
        if self.results:
            return heapq.heappop(self.results)[2]
        return None

    def invoke(self, action: InvokeTask) -> Event:
        resource = self.resources.get(action.resource)
        if resource is None:
            resource = self.resources.get(_base_resource(action.resource))
        if resource is None:
            return TaskFailed(
                action.id,
                TASK_FAILED,
                f"No callable is registered for the resource {action.resource!r}",
            )
        try:
            result = resource(json.loads(json.dumps(action.input)))
        except TaskFailedError as exc:
            return TaskFailed(action.id, exc.error, exc.cause)
        except Exception as exc:
            return TaskFailed(action.id, type(exc).__name__, str(exc))
        try:
            result = json.loads(json.dumps(result))
        except (TypeError, ValueError) as exc:
            return TaskFailed(action.id, RUNTIME, f"The task result is not JSON: {exc}")
        return TaskSucceeded(action.id, result)


def _base_resource(resource: str) -> str:
    # arn:...:lambda:invoke.waitForTaskToken is called like arn:...:lambda:invoke
    for suffix in (".waitForTaskToken", ".sync:2", ".sync"):
        if resource.endswith(suffix):
            return resource[: -len(suffix)]
    return resource
