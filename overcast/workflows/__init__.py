"""Workflows: Amazon States Language state machines, run in-process or driven step by step.

``run_definition`` runs a definition to the end with Python callables as Task resources;
``validate_definition`` lists every problem of a definition; ``start``/``step``/``stop`` are the
pure step machine a durable executor drives one event at a time.
"""

from __future__ import annotations

from .asl.interpreter import start, step, stop
from .asl.model import (
    ABORTED,
    FAILED,
    RUNNING,
    SUCCEEDED,
    TIMED_OUT,
    Action,
    CancelTask,
    CancelTimer,
    Event,
    ExecutionState,
    Finish,
    InvokeTask,
    StartTimer,
    TaskFailed,
    TaskHeartbeat,
    TaskSucceeded,
    TimerFired,
    Transition,
)
from .asl.run import Clock, Execution, run_definition
from .asl.validate import assert_valid, validate_definition

__all__ = [
    # running a definition in-process
    "Clock",
    "Execution",
    "run_definition",
    # validation
    "assert_valid",
    "validate_definition",
    # the step machine
    "start",
    "step",
    "stop",
    "ExecutionState",
    "Transition",
    # events fed to step()
    "Event",
    "TaskSucceeded",
    "TaskFailed",
    "TaskHeartbeat",
    "TimerFired",
    # actions returned by start()/step()
    "Action",
    "InvokeTask",
    "StartTimer",
    "CancelTask",
    "CancelTimer",
    "Finish",
    # execution statuses
    "RUNNING",
    "SUCCEEDED",
    "FAILED",
    "TIMED_OUT",
    "ABORTED",
]
