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

# Names of the event and workflow services load on first use, so that `import overcast` (which
# every worker process does) stays light.
_LAZY = {
    "Bus": "overcast.services.bus",
    "CloudEvent": "overcast.services.bus",
    "EventBridgeEvent": "overcast.services.bus",
    "InputTransformer": "overcast.services.bus",
    "PutEventsResult": "overcast.services.bus",
    "RetryPolicy": "overcast.services.bus",
    "Target": "overcast.services.bus",
    "DeliveryPolicy": "overcast.services.topics",
    "SNSEvent": "overcast.services.topics",
    "SNSMessage": "overcast.services.topics",
    "Topic": "overcast.services.topics",
    "At": "overcast.services.scheduler",
    "Cron": "overcast.services.scheduler",
    "Rate": "overcast.services.scheduler",
    "ExecutionDescription": "overcast.workflows",
    "ExecutionHandle": "overcast.workflows",
    "Workflow": "overcast.workflows",
}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'overcast' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    # the application
    "App",
    "Context",
    "Runtime",
    # events, topics, schedules
    "At",
    "Bus",
    "CloudEvent",
    "Cron",
    "DeliveryPolicy",
    "EventBridgeEvent",
    "InputTransformer",
    "PutEventsResult",
    "Rate",
    "RetryPolicy",
    "SNSEvent",
    "SNSMessage",
    "Target",
    "Topic",
    # workflows
    "ExecutionDescription",
    "ExecutionHandle",
    "Workflow",
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
