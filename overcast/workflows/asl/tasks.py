"""Task states: scheduling a resource, its result, heartbeats and timeouts.

Before changing: a Task waits on its task id plus up to two timers (TimeoutSeconds,
HeartbeatSeconds) that the interpreter starts itself; whichever event comes first wins and
cancels the others, and a result arriving after a timeout is ignored by ``step``.
"""

from __future__ import annotations

import base64
from typing import Any

from . import errors as E
from .core import StepperCore
from .dataflow import effective_input, read_value, result_output
from .errors import StatesError
from .history import resource_type
from .model import CancelTimer, Frame, InvokeTask, TaskFailed, TaskHeartbeat, TaskSucceeded
from .paths import to_json

__all__ = ["TaskMixin"]


class TaskMixin(StepperCore):
    """Task handling for the interpreter's stepper."""

    def exec_task(self, frame: Frame, sdef: dict[str, Any]) -> None:
        env = self.env(frame, sdef)
        task_id = self.next_id("task")
        token = base64.urlsafe_b64encode(f"{self.state.execution_id}#{task_id}".encode()).decode()
        env.context["Task"] = {"Token": token}
        effective = effective_input(sdef, frame.input, env)
        timeout = _seconds(read_value(sdef, "TimeoutSeconds", frame.input, env), "TimeoutSeconds")
        heartbeat = _seconds(
            read_value(sdef, "HeartbeatSeconds", frame.input, env), "HeartbeatSeconds"
        )
        resource = sdef["Resource"]
        details: dict[str, Any] = {
            "resourceType": resource_type(resource),
            "resource": resource,
            "region": "local",
            "parameters": to_json(effective),
        }
        if timeout is not None:
            details["timeoutInSeconds"] = timeout
        if heartbeat is not None:
            details["heartbeatInSeconds"] = heartbeat
        self.emit(frame, "TaskScheduled", details)
        self.emit(
            frame, "TaskStarted", {"resourceType": details["resourceType"], "resource": resource}
        )
        self.actions.append(
            InvokeTask(task_id, resource, effective, frame.state_name, timeout, heartbeat, token)
        )
        self.wait_for(frame, task_id)
        frame.phase = "task"
        frame.pending = {"task": task_id}
        if timeout is not None:
            frame.pending["timeout"] = self.start_timer(frame, self.now + timeout, "task-timeout")
        if heartbeat is not None:
            frame.pending["heartbeat"] = self.start_timer(frame, self.now + heartbeat, "heartbeat")
            frame.pending["heartbeat_seconds"] = heartbeat

    def on_task_result(
        self, frame: Frame, sdef: dict[str, Any], event: TaskSucceeded | TaskFailed
    ) -> None:
        self.cancel_waits(frame, keep=event.id)
        self.state.waiting.pop(event.id, None)
        resource = sdef["Resource"]
        base = {"resourceType": resource_type(resource), "resource": resource}
        frame.phase = "exec"
        if isinstance(event, TaskFailed):
            details = dict(base, error=event.error)
            if event.cause is not None:
                details["cause"] = event.cause
            self.emit(frame, "TaskFailed", details)
            self.fail_state(frame, sdef, event.error, event.cause)
        else:
            self.emit(frame, "TaskSucceeded", dict(base, output=to_json(event.output)))
            try:
                output, assigned = result_output(
                    sdef, frame.input, event.output, self.env(frame, sdef)
                )
            except StatesError as exc:
                self.fail_state(frame, sdef, exc.error, exc.cause)
            else:
                self.exit_state(frame, sdef, output, assigned)
        if frame.id in self.state.frames and frame.phase == "enter":
            self.queue.append(frame.id)

    def on_heartbeat(self, frame: Frame, event: TaskHeartbeat) -> None:
        old = frame.pending.get("heartbeat")
        if frame.phase != "task" or old is None or event.id != frame.pending.get("task"):
            return
        frame.waits.remove(old)
        self.state.waiting.pop(old, None)
        self.actions.append(CancelTimer(old))
        seconds = frame.pending["heartbeat_seconds"]
        frame.pending["heartbeat"] = self.start_timer(frame, self.now + seconds, "heartbeat")

    def on_task_timer(self, frame: Frame, sdef: dict[str, Any], timer: str) -> None:
        """A Task's TimeoutSeconds or HeartbeatSeconds timer fired before its result."""
        error = E.TIMEOUT if timer == frame.pending.get("timeout") else E.HEARTBEAT_TIMEOUT
        cause = (
            "The task did not finish within its TimeoutSeconds."
            if error == E.TIMEOUT
            else "The task sent no heartbeat within its HeartbeatSeconds."
        )
        resource = sdef["Resource"]
        self.cancel_waits(frame)
        self.emit(
            frame,
            "TaskTimedOut",
            {
                "resourceType": resource_type(resource),
                "resource": resource,
                "error": error,
                "cause": cause,
            },
        )
        frame.phase = "exec"
        self.fail_state(frame, sdef, error, cause)


def _seconds(value: Any, name: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise StatesError(E.RUNTIME, f"{name} must be a positive integer, got {to_json(value)}")
    return value
