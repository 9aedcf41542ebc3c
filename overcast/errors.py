"""The one error tree of Overcast.

Every error a user can see derives from ``OvercastError``. A class docstring is the default
message; messages say what was wrong, where, and how to fix it. Errors that can reach HTTP carry
their status in ``status_code``.

    OvercastError
    ├── ConfigError                 bad settings, unknown engine URL, app file that cannot load
    ├── EngineError                 the storage engine failed or refused
    │   ├── ConditionFailed         a conditional kv write found another state
    │   └── EngineUnavailable       the engine cannot be reached
    ├── ValidationError             bad input to an API (status 400)
    │   ├── InvalidPattern          an event pattern or filter policy AWS would reject
    │   ├── InvalidDefinition       a state machine definition with problems
    │   ├── InvalidAttribute        a message attribute with a bad name, type or value
    │   ├── MessageTooLarge         a message over the queue's maximum size
    │   ├── BatchLimitExceeded      more entries than a batch may hold
    │   └── InvalidReceipt          a receipt handle that is stale or malformed
    ├── NotFound                    (status 404)
    │   ├── QueueNotFound
    │   └── FunctionNotFound
    ├── AlreadyExists               (status 409)
    │   └── QueueAlreadyExists
    ├── FunctionError               a handler raised; carries the remote type, message, traceback
    │   ├── FunctionTimeout         the handler ran past its timeout and was stopped
    │   └── FunctionCrashed         the handler's worker process died
    ├── TaskFailed                  raised by a workflow task to fail with a named error
    └── ExecutionError              a workflow execution could not run
"""

from __future__ import annotations

from typing import Any


class OvercastError(Exception):
    """Overcast failed."""

    status_code = 500

    def __init__(self, message: str | None = None) -> None:
        self.message = message or (self.__class__.__doc__ or "").strip()
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message


class ConfigError(OvercastError):
    """The configuration is invalid."""


class EngineError(OvercastError):
    """The storage engine failed."""


class ConditionFailed(EngineError):
    """A conditional write found the item in another state than the condition required."""

    status_code = 409


class EngineUnavailable(EngineError):
    """The storage engine cannot be reached."""

    status_code = 503


class ValidationError(OvercastError):
    """The input is invalid."""

    status_code = 400


class InvalidPattern(ValidationError):
    """The event pattern or filter policy is invalid."""


class InvalidDefinition(ValidationError):
    """The state machine definition is invalid."""

    def __init__(self, message: str | None = None, problems: list[str] | None = None) -> None:
        self.problems = list(problems or [])
        if message is None and self.problems:
            message = "invalid state machine definition:\n  " + "\n  ".join(self.problems)
        super().__init__(message)


class InvalidAttribute(ValidationError):
    """A message attribute is invalid."""


class MessageTooLarge(ValidationError):
    """The message is larger than the queue's maximum message size."""

    status_code = 413


class BatchLimitExceeded(ValidationError):
    """The batch holds more entries than allowed."""


class InvalidReceipt(ValidationError):
    """The receipt handle is stale or malformed."""


class NotFound(OvercastError):
    """The resource does not exist."""

    status_code = 404


class QueueNotFound(NotFound):
    """The queue does not exist."""


class FunctionNotFound(NotFound):
    """The function does not exist."""


class AlreadyExists(OvercastError):
    """The resource already exists."""

    status_code = 409


class QueueAlreadyExists(AlreadyExists):
    """A queue with this name already exists with different attributes."""


class FunctionError(OvercastError):
    """The function's handler raised an error."""

    def __init__(
        self,
        message: str | None = None,
        *,
        error_type: str = "Exception",
        error_message: str = "",
        traceback: str = "",
        function: str = "",
    ) -> None:
        self.error_type = error_type
        self.error_message = error_message
        self.traceback = traceback
        self.function = function
        if message is None:
            message = f"function {function!r} failed: {error_type}: {error_message}"
        super().__init__(message)

    def to_payload(self) -> dict[str, Any]:
        """The Lambda-shaped error payload: errorType, errorMessage, stackTrace."""
        return {
            "errorType": self.error_type,
            "errorMessage": self.error_message,
            "stackTrace": self.traceback.splitlines(),
        }


class FunctionTimeout(FunctionError):
    """The function ran past its timeout and was stopped."""


class FunctionCrashed(FunctionError):
    """The function's worker process died while running it."""


class TaskFailed(OvercastError):
    """A workflow task failed with a named error.

    Raise it from a task to fail with ``error`` (matched by ``ErrorEquals``) and ``cause``.
    """

    def __init__(self, error: str = "States.TaskFailed", cause: str | None = None) -> None:
        self.error = error
        self.cause = cause
        super().__init__(f"{error}: {cause}" if cause else error)


class ExecutionError(OvercastError):
    """The workflow execution could not run."""
