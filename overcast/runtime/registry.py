"""What the decorators record: functions and event-source mappings, as plain definitions.

Before changing: registration does no I/O; the runtime turns these records into workers and
pollers, and a worker process finds a handler again by looking its function name up here.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from overcast.errors import ConfigError

DEFAULT_TIMEOUT = 30.0
DEFAULT_RETRIES = 2


@dataclass
class FunctionDef:
    """A registered function and its invocation settings."""

    name: str
    handler: Callable[..., Any]
    timeout: float = DEFAULT_TIMEOUT
    retries: int = DEFAULT_RETRIES
    retry_delay: float = 1.0
    concurrency: int | None = None
    on_failure: str | None = None
    json_result: bool = True  # results must be JSON values (gateway handlers: also bytes, Response)

    def __post_init__(self) -> None:
        if not callable(self.handler):
            raise ConfigError(f"function {self.name!r}: the handler is not callable")
        if not isinstance(self.timeout, int | float) or not 0 < self.timeout <= 900:
            raise ConfigError(f"function {self.name!r}: timeout must be between 0 and 900 seconds, not {self.timeout!r}")
        if not isinstance(self.retries, int) or not 0 <= self.retries <= 2:
            raise ConfigError(f"function {self.name!r}: retries must be 0, 1 or 2, not {self.retries!r}")
        if not isinstance(self.retry_delay, int | float) or self.retry_delay < 0:
            raise ConfigError(f"function {self.name!r}: retry_delay must be >= 0 seconds")
        if self.concurrency is not None and (not isinstance(self.concurrency, int) or self.concurrency < 1):
            raise ConfigError(f"function {self.name!r}: concurrency must be a positive integer")

    @functools.cached_property
    def is_async(self) -> bool:
        return asyncio.iscoroutinefunction(self.handler)

    @functools.cached_property
    def takes_context(self) -> bool:
        """Whether the handler accepts (event, context) rather than (event)."""
        try:
            params = inspect.signature(self.handler).parameters.values()
        except (TypeError, ValueError):
            return True
        positional = [
            p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]
        return len(positional) >= 2 or any(p.kind is p.VAR_POSITIONAL for p in params)


@dataclass
class QueueSourceDef:
    """An ``@app.on_queue`` mapping: a queue polled in batches for a function."""

    queue: str
    function: str
    batch_size: int = 10
    max_batching_window: float = 0.0
    concurrency: int = 2

    def __post_init__(self) -> None:
        if not isinstance(self.batch_size, int) or not 1 <= self.batch_size <= 10_000:
            raise ConfigError(f"on_queue({self.queue!r}): batch_size must be between 1 and 10000")
        if self.batch_size > 10 and self.max_batching_window <= 0:
            raise ConfigError(
                f"on_queue({self.queue!r}): a batch_size over 10 needs max_batching_window > 0 (as Lambda)"
            )
        if not isinstance(self.max_batching_window, int | float) or not 0 <= self.max_batching_window <= 300:
            raise ConfigError(f"on_queue({self.queue!r}): max_batching_window must be between 0 and 300 seconds")
        if not isinstance(self.concurrency, int) or not 1 <= self.concurrency <= 1000:
            raise ConfigError(f"on_queue({self.queue!r}): concurrency must be between 1 and 1000")
