"""Error names, the in-flight error value, and the Retry/Catch matching rules of Step Functions.

Before changing: ``States.ALL`` and ``States.TaskFailed`` are wildcards with exceptions
(``States.Runtime`` and ``States.DataLimitExceeded`` are never caught or retried; ``States.TaskFailed``
does not match ``States.Timeout``), and only the *first* retrier or catcher whose ``ErrorEquals``
names the error applies, even when that retrier has no attempts left.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

# -- the predefined error names ------------------------------------------------------------------

ALL = "States.ALL"
BRANCH_FAILED = "States.BranchFailed"
DATA_LIMIT_EXCEEDED = "States.DataLimitExceeded"
EXCEED_TOLERATED_FAILURE_THRESHOLD = "States.ExceedToleratedFailureThreshold"
HEARTBEAT_TIMEOUT = "States.HeartbeatTimeout"
INTRINSIC_FAILURE = "States.IntrinsicFailure"
ITEM_READER_FAILED = "States.ItemReaderFailed"
NO_CHOICE_MATCHED = "States.NoChoiceMatched"
PARAMETER_PATH_FAILURE = "States.ParameterPathFailure"
PERMISSIONS = "States.Permissions"
QUERY_EVALUATION_ERROR = "States.QueryEvaluationError"
RESULT_PATH_MATCH_FAILURE = "States.ResultPathMatchFailure"
RESULT_WRITER_FAILED = "States.ResultWriterFailed"
RUNTIME = "States.Runtime"
TASK_FAILED = "States.TaskFailed"
TIMEOUT = "States.Timeout"

#: Every ``States.*`` name a definition may mention in ``ErrorEquals``.
KNOWN_STATES_ERRORS = frozenset(
    {
        ALL,
        BRANCH_FAILED,
        DATA_LIMIT_EXCEEDED,
        EXCEED_TOLERATED_FAILURE_THRESHOLD,
        HEARTBEAT_TIMEOUT,
        INTRINSIC_FAILURE,
        ITEM_READER_FAILED,
        NO_CHOICE_MATCHED,
        PARAMETER_PATH_FAILURE,
        PERMISSIONS,
        QUERY_EVALUATION_ERROR,
        RESULT_PATH_MATCH_FAILURE,
        RESULT_WRITER_FAILED,
        RUNTIME,
        TASK_FAILED,
        TIMEOUT,
        "States.Http.Socket",
    }
)

# Terminal errors: no retrier or catcher, not even States.ALL, can handle them.
_UNCATCHABLE = frozenset({RUNTIME, DATA_LIMIT_EXCEEDED})

# Retry defaults and bounds from the Amazon States Language.
DEFAULT_INTERVAL_SECONDS = 1
DEFAULT_MAX_ATTEMPTS = 3
DEFAULT_BACKOFF_RATE = 2.0


class StatesError(Exception):
    """An error raised while a state runs: a name ``ErrorEquals`` can match, and a cause.

    Raised inside the interpreter by path, intrinsic and JSONata evaluation and by states
    themselves; the interpreter turns it into Retry/Catch handling or a failed execution.
    """

    def __init__(self, error: str, cause: str | None = None) -> None:
        self.error = error
        self.cause = cause
        super().__init__(f"{error}: {cause}" if cause else error)


def error_output(error: str, cause: str | None) -> dict[str, Any]:
    """The JSON a catcher passes on: ``{"Error": ..., "Cause": ...}`` (no Cause when unknown)."""
    out: dict[str, Any] = {"Error": error}
    if cause is not None:
        out["Cause"] = cause
    return out


def error_matches(error_equals: list[str], error: str) -> bool:
    """Whether an ``ErrorEquals`` list names ``error``, with the wildcard rules of Step Functions.

    ``States.ALL`` matches every error except the terminal ``States.Runtime`` and
    ``States.DataLimitExceeded``; ``States.TaskFailed`` matches every error except those and
    ``States.Timeout``. An exact name always matches, except for the terminal errors.
    """
    if error in _UNCATCHABLE:
        return False
    for name in error_equals:
        if name == error:
            return True
        if name == ALL:
            return True
        if name == TASK_FAILED and error != TIMEOUT:
            return True
    return False


def find_handler(handlers: list[dict[str, Any]] | None, error: str) -> int | None:
    """Index of the first retrier or catcher whose ``ErrorEquals`` matches ``error``, or None."""
    for index, handler in enumerate(handlers or ()):
        if error_matches(list(handler.get("ErrorEquals", ())), error):
            return index
    return None


@dataclass(frozen=True)
class RetryDecision:
    """What a retrier decided: retry after ``delay`` seconds, or give up (``delay`` is None)."""

    retrier: int
    delay: float | None


def retry_delay(retrier: dict[str, Any], attempt: int, rng: random.Random | None = None) -> float:
    """Seconds to wait before retry number ``attempt + 1`` (``attempt`` counts earlier retries).

    ``IntervalSeconds * BackoffRate ** attempt``, capped by ``MaxDelaySeconds``; with
    ``JitterStrategy: FULL`` a uniformly random delay between 0 and that figure.
    """
    interval = float(retrier.get("IntervalSeconds", DEFAULT_INTERVAL_SECONDS))
    backoff = float(retrier.get("BackoffRate", DEFAULT_BACKOFF_RATE))
    delay = interval * backoff**attempt
    max_delay = retrier.get("MaxDelaySeconds")
    if max_delay is not None:
        delay = min(delay, float(max_delay))
    if retrier.get("JitterStrategy") == "FULL":
        delay = (rng or random.Random()).uniform(0.0, delay)
    return delay


def decide_retry(
    retriers: list[dict[str, Any]] | None,
    counts: list[int],
    error: str,
    rng: random.Random | None = None,
) -> RetryDecision | None:
    """Apply the retry policy: which retrier matches ``error`` and whether it has attempts left.

    ``counts`` holds the retries already made per retrier for the current state entry. Returns
    None when no retrier matches; a decision with ``delay=None`` when the matching retrier is
    exhausted (the error then goes to the catchers; later retriers are *not* tried).
    """
    index = find_handler(retriers, error)
    if index is None:
        return None
    assert retriers is not None
    retrier = retriers[index]
    max_attempts = int(retrier.get("MaxAttempts", DEFAULT_MAX_ATTEMPTS))
    done = counts[index] if index < len(counts) else 0
    if done >= max_attempts:
        return RetryDecision(index, None)
    return RetryDecision(index, retry_delay(retrier, done, rng))
