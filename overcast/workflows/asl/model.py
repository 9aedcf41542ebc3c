"""The values of the step API: execution state, frames, the events fed in and the actions out.

An :class:`ExecutionState` is plain data (JSON-serialisable through :meth:`ExecutionState.to_dict`)
so that a durable executor can store it between steps. Before changing: frames and states are
treated as immutable by the interpreter's callers — :func:`~overcast.workflows.asl.interpreter.step`
copies what it changes — so never mutate a state you got back from ``start``/``step``; and every
field added here must survive ``to_dict``/``from_dict``.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field
from typing import Any, NamedTuple

__all__ = [
    "ABORTED",
    "FAILED",
    "RUNNING",
    "SUCCEEDED",
    "TIMED_OUT",
    "Action",
    "CancelTask",
    "CancelTimer",
    "Event",
    "ExecutionState",
    "Finish",
    "Frame",
    "InvokeTask",
    "StartTimer",
    "TaskFailed",
    "TaskHeartbeat",
    "TaskSucceeded",
    "TimerFired",
    "Transition",
]

RUNNING = "RUNNING"
SUCCEEDED = "SUCCEEDED"
FAILED = "FAILED"
TIMED_OUT = "TIMED_OUT"
ABORTED = "ABORTED"


# -- actions: what the driver must do after a step ------------------------------------------------


@dataclass(frozen=True)
class InvokeTask:
    """Run Task resource ``resource`` with ``input``; report back with ``TaskSucceeded``/``TaskFailed``.

    ``timeout_seconds`` and ``heartbeat_seconds`` are informative: the interpreter has already
    started its own timers for them and will fail the task with ``States.Timeout`` /
    ``States.HeartbeatTimeout`` when they fire first. ``task_token`` is ``$$.Task.Token``.
    """

    id: str
    resource: str
    input: Any
    state_name: str
    timeout_seconds: float | None = None
    heartbeat_seconds: float | None = None
    task_token: str = ""


@dataclass(frozen=True)
class StartTimer:
    """Report ``TimerFired(id)`` at epoch second ``until`` (a Wait, a retry backoff, a timeout)."""

    id: str
    until: float
    purpose: str


@dataclass(frozen=True)
class CancelTask:
    """The task ``id`` is no longer wanted (its state timed out or its branch was stopped)."""

    id: str


@dataclass(frozen=True)
class CancelTimer:
    """The timer ``id`` is no longer wanted; a late ``TimerFired`` for it is ignored anyway."""

    id: str


@dataclass(frozen=True)
class Finish:
    """The execution ended with ``status``; ``output`` or ``error``/``cause`` say how."""

    status: str
    output: Any = None
    error: str | None = None
    cause: str | None = None


Action = InvokeTask | StartTimer | CancelTask | CancelTimer | Finish


# -- events: what the driver reports --------------------------------------------------------------


@dataclass(frozen=True)
class TaskSucceeded:
    """Task ``id`` returned ``output``."""

    id: str
    output: Any


@dataclass(frozen=True)
class TaskFailed:
    """Task ``id`` failed with a named ``error`` and an optional ``cause``."""

    id: str
    error: str
    cause: str | None = None


@dataclass(frozen=True)
class TaskHeartbeat:
    """Task ``id`` is still alive: restart its ``HeartbeatSeconds`` timer."""

    id: str


@dataclass(frozen=True)
class TimerFired:
    """Timer ``id`` reached its ``until``."""

    id: str


Event = TaskSucceeded | TaskFailed | TaskHeartbeat | TimerFired


# -- state -------------------------------------------------------------------------------------------


@dataclass
class Frame:
    """One running state machine: the top level, a Parallel branch or a Map iteration.

    ``machine`` is the path inside the definition to its ``{"StartAt", "States"}`` object;
    ``variables`` is this frame's own variable scope (outer scopes are the parent frames');
    ``phase`` says what the frame waits for and ``pending`` holds that phase's data.
    """

    id: str
    parent: str | None
    machine: tuple[str | int, ...]
    state_name: str
    input: Any
    phase: str = "enter"
    entered_at: float = 0.0
    retries: list[int] = field(default_factory=list)
    variables: dict[str, Any] = field(default_factory=dict)
    waits: list[str] = field(default_factory=list)
    pending: dict[str, Any] = field(default_factory=dict)
    index: int | None = None  # position among the parent's children (branch or item index)
    last_event: int = 0

    def clone(self) -> Frame:
        """A copy whose mutable parts can be changed without touching this frame."""
        pending = dict(self.pending)
        for key in ("results", "children", "queue"):
            if key in pending:
                pending[key] = copy.copy(pending[key])
        return Frame(
            id=self.id,
            parent=self.parent,
            machine=self.machine,
            state_name=self.state_name,
            input=self.input,
            phase=self.phase,
            entered_at=self.entered_at,
            retries=list(self.retries),
            variables=dict(self.variables),
            waits=list(self.waits),
            pending=pending,
            index=self.index,
            last_event=self.last_event,
        )


@dataclass
class ExecutionState:
    """Everything the interpreter needs to take the next step of one execution."""

    definition: dict[str, Any]
    execution_id: str
    name: str
    state_machine_id: str
    state_machine_name: str
    input: Any
    start_time: float
    seed: int
    role_arn: str = ""
    status: str = RUNNING
    output: Any = None
    error: str | None = None
    cause: str | None = None
    stop_time: float | None = None
    frames: dict[str, Frame] = field(default_factory=dict)
    waiting: dict[str, str] = field(default_factory=dict)  # task/timer id -> frame id
    seq: int = 0
    event_id: int = 0
    timeout_timer: str | None = None

    @property
    def done(self) -> bool:
        """Whether the execution has ended (any status but RUNNING)."""
        return self.status != RUNNING

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable snapshot (for a durable executor's storage)."""
        data = asdict(self)
        data["frames"] = {fid: _frame_dict(f) for fid, f in self.frames.items()}
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ExecutionState:
        """Rebuild a state saved with :meth:`to_dict`."""
        values = dict(data)
        frames = {}
        for fid, raw in values.pop("frames", {}).items():
            raw = dict(raw)
            raw["machine"] = tuple(raw["machine"])
            frames[fid] = Frame(**raw)
        return cls(frames=frames, **values)


def _frame_dict(frame: Frame) -> dict[str, Any]:
    data = asdict(frame)
    data["machine"] = list(frame.machine)
    return data


class Transition(NamedTuple):
    """What one ``start``/``step`` produced: the new state, actions to carry out, history events."""

    state: ExecutionState
    actions: list[Action]
    history: list[dict[str, Any]]
