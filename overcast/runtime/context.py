"""The ``context`` object a handler receives: who it is, how long it has left, a logger."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from overcast.events import function_arn


@dataclass
class Context:
    """Invocation context, in the spirit of Lambda's.

    ``invocation_id`` (also ``aws_request_id``) identifies this invocation; ``attempt`` counts
    from 1 for retried asynchronous invocations; ``remaining_time`` is seconds left before the
    handler is stopped. ``idempotency_key`` is set when a workflow's Task state invokes the
    handler: it is the same for every invocation of one attempt of that Task (a crash can make
    the executor invoke it again), so a handler can make its side effect happen once.
    """

    invocation_id: str
    function_name: str
    timeout: float
    deadline: float  # time.monotonic() at which the handler is stopped
    attempt: int = 1
    idempotency_key: str | None = None
    logger: logging.Logger = field(default_factory=lambda: logging.getLogger("overcast.function"))

    @property
    def aws_request_id(self) -> str:
        return self.invocation_id

    @property
    def invoked_function_arn(self) -> str:
        return function_arn(self.function_name)

    @property
    def remaining_time(self) -> float:
        return max(0.0, self.deadline - time.monotonic())

    def get_remaining_time_in_millis(self) -> int:
        return int(self.remaining_time * 1000)
