"""Workflows: Amazon States Language state machines, run in-process or driven step by step.

``run_definition`` runs a definition to the end with Python callables as Task resources;
``validate_definition`` lists every problem of a definition; ``start``/``step``/``stop`` are the
pure step machine that the durable executor (``executor.py``, reached through ``app.workflow()``
and ``app.start_execution()``) drives one committed event at a time. ``register_integration``
adds an ``arn:aws:states:::SERVICE:ACTION`` Task resource (``sqs:sendMessage``, ``sns:publish``
and ``events:putEvents`` are built in). Importing the package registers the ``workflow`` target
kind of bus rules and schedules (``targets.py``; no I/O).
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
from .resources import TaskCall, register_integration
from .service import ExecutionHandle, Workflow
from .store import ExecutionDescription, ExecutionSummary
from .targets import register as _register_targets

_register_targets()

__all__ = [
    # running a definition in-process
    "Clock",
    "Execution",
    "run_definition",
    # workflows in an app (app.workflow, app.start_execution, ...)
    "Workflow",
    "ExecutionHandle",
    "ExecutionDescription",
    "ExecutionSummary",
    "TaskCall",
    "register_integration",
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
