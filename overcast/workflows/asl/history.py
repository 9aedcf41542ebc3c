"""Step Functions history events: timestamps, detail keys, resource types.

Before changing: event shapes follow ``GetExecutionHistory`` (``type``, ``id``,
``previousEventId``, ``timestamp`` and one ``<kind>EventDetails`` object with inputs and outputs
as JSON text), because tools and the console read them as AWS writes them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache

__all__ = ["details_key", "iso_time", "resource_type"]


@lru_cache(maxsize=1024)
def iso_time(epoch: float) -> str:
    """``2026-01-01T00:00:00.000Z``: the timestamp format of the context object and history."""
    moment = datetime.fromtimestamp(epoch, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def resource_type(resource: str) -> str:
    if resource.startswith("arn:aws:states:::"):
        return resource[len("arn:aws:states:::") :].split(":")[0]
    if resource.startswith("arn:"):
        parts = resource.split(":")
        return parts[2] if len(parts) > 2 else resource
    return resource.split(":")[0]


_DETAIL_KEYS = {
    "ExecutionStarted": "executionStartedEventDetails",
    "ExecutionSucceeded": "executionSucceededEventDetails",
    "ExecutionFailed": "executionFailedEventDetails",
    "ExecutionTimedOut": "executionTimedOutEventDetails",
    "ExecutionAborted": "executionAbortedEventDetails",
    "TaskScheduled": "taskScheduledEventDetails",
    "TaskStarted": "taskStartedEventDetails",
    "TaskSucceeded": "taskSucceededEventDetails",
    "TaskFailed": "taskFailedEventDetails",
    "TaskTimedOut": "taskTimedOutEventDetails",
    "MapStateStarted": "mapStateStartedEventDetails",
    "MapIterationStarted": "mapIterationStartedEventDetails",
    "MapIterationSucceeded": "mapIterationSucceededEventDetails",
    "MapIterationFailed": "mapIterationFailedEventDetails",
    "MapIterationAborted": "mapIterationAbortedEventDetails",
}


def details_key(type_: str) -> str:
    key = _DETAIL_KEYS.get(type_)
    if key is not None:
        return key
    if type_.endswith("StateEntered"):
        return "stateEnteredEventDetails"
    if type_.endswith("StateExited"):
        return "stateExitedEventDetails"
    return type_[0].lower() + type_[1:] + "EventDetails"
