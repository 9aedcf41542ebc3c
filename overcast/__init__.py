"""Overcast: a Python serverless runtime with the semantics of AWS, on SQLite or PostgreSQL."""

from __future__ import annotations

from overcast.app import App
from overcast.clock import Clock, ManualClock, SystemClock
from overcast.errors import (
    AlreadyExists,
    BatchLimitExceeded,
    ConditionFailed,
    ConfigError,
    EngineError,
    EngineUnavailable,
    ExecutionError,
    FunctionCrashed,
    FunctionError,
    FunctionNotFound,
    FunctionTimeout,
    InvalidAttribute,
    InvalidDefinition,
    InvalidPattern,
    InvalidReceipt,
    MessageTooLarge,
    NotFound,
    OvercastError,
    QueueAlreadyExists,
    QueueNotFound,
    TaskFailed,
    ValidationError,
)
from overcast.events import Message, SQSEvent
from overcast.runtime.context import Context
from overcast.runtime.supervisor import Runtime
from overcast.services.queues import BatchResult, Queue

__version__ = "0.1.0"

__all__ = [
    # the application
    "App",
    "Context",
    "Runtime",
    # queues
    "BatchResult",
    "Message",
    "Queue",
    "SQSEvent",
    # time
    "Clock",
    "ManualClock",
    "SystemClock",
    # errors
    "AlreadyExists",
    "BatchLimitExceeded",
    "ConditionFailed",
    "ConfigError",
    "EngineError",
    "EngineUnavailable",
    "ExecutionError",
    "FunctionCrashed",
    "FunctionError",
    "FunctionNotFound",
    "FunctionTimeout",
    "InvalidAttribute",
    "InvalidDefinition",
    "InvalidPattern",
    "InvalidReceipt",
    "MessageTooLarge",
    "NotFound",
    "OvercastError",
    "QueueAlreadyExists",
    "QueueNotFound",
    "TaskFailed",
    "ValidationError",
    "__version__",
]
