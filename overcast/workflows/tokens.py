"""Names that identify executions and their tasks: ARNs, task tokens and idempotency keys.

An execution is ``WORKFLOW/NAME`` inside an app (its ARN is
``arn:aws:states:REGION:ACCOUNT:execution:WORKFLOW:NAME``); a task is one scheduling of a Task
state, named by the interpreter (``task-17``). Before changing: a task token is the interpreter's
``$$.Task.Token`` (base64 of ``EXECUTION_ARN#TASK_ID``), and the idempotency key is derived from
the same two values, so both survive a crash and a redelivery unchanged; never add anything
random or time-based to either.
"""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from typing import NamedTuple

from overcast.errors import ValidationError

__all__ = [
    "ExecutionKey",
    "decode_token",
    "execution_arn",
    "idempotency_key",
    "parse_execution",
    "state_machine_arn",
    "validate_execution_name",
    "validate_workflow_name",
]

_WORKFLOW_NAME = re.compile(r"^[A-Za-z0-9_-]{1,80}$")
# Step Functions refuses whitespace, brackets, wildcards, control characters and
# " # % \ ^ | ~ ` $ & , ; : / in execution names; we keep to the characters that are always safe.
_EXECUTION_NAME = re.compile(r"^[A-Za-z0-9_.=@+-]{1,80}$")
_KEYS = uuid.UUID("6f1d3a52-5e0b-4d1c-9a87-0c9b1f0e7a11")  # namespace of idempotency keys


class ExecutionKey(NamedTuple):
    """Where an execution lives: its workflow's name and its own."""

    workflow: str
    name: str

    def __str__(self) -> str:
        return f"{self.workflow}/{self.name}"


def validate_workflow_name(name: str) -> None:
    if not isinstance(name, str) or not _WORKFLOW_NAME.match(name):
        raise ValidationError(
            f"invalid workflow name {name!r}: use 1-80 letters, digits, '-' or '_'"
        )


def validate_execution_name(name: str) -> None:
    if not isinstance(name, str) or not _EXECUTION_NAME.match(name):
        raise ValidationError(
            f"invalid execution name {name!r}: use 1-80 letters, digits and any of _ . = @ + -"
        )


def state_machine_arn(workflow: str, region: str, account: str) -> str:
    return f"arn:aws:states:{region}:{account}:stateMachine:{workflow}"


def execution_arn(key: ExecutionKey, region: str, account: str) -> str:
    return f"arn:aws:states:{region}:{account}:execution:{key.workflow}:{key.name}"


def parse_execution(ref: str) -> ExecutionKey:
    """``arn:aws:states:R:A:execution:WORKFLOW:NAME`` or ``WORKFLOW/NAME`` → its key."""
    if not isinstance(ref, str):
        raise ValidationError(f"an execution is named by its ARN or WORKFLOW/NAME, not {ref!r}")
    if ref.startswith("arn:"):
        parts = ref.split(":")
        if len(parts) != 8 or parts[2] != "states" or parts[5] != "execution":
            raise ValidationError(
                f"{ref!r} is not an execution ARN (arn:aws:states:REGION:ACCOUNT:execution:"
                "WORKFLOW:NAME)"
            )
        workflow, name = parts[6], parts[7]
    else:
        workflow, sep, name = ref.partition("/")
        if not sep:
            raise ValidationError(
                f"execution {ref!r}: name it by its ARN or as WORKFLOW/NAME (e.g. orders/run-1)"
            )
    validate_workflow_name(workflow)
    validate_execution_name(name)
    return ExecutionKey(workflow, name)


def decode_token(token: str) -> tuple[ExecutionKey, str]:
    """The execution and the task id a task token (``$$.Task.Token``) stands for."""
    if not isinstance(token, str) or not token:
        raise ValidationError("a task token is a non-empty string (the task's $$.Task.Token)")
    try:
        text = base64.urlsafe_b64decode(token.encode("ascii")).decode()
    except (binascii.Error, UnicodeError, ValueError):
        raise ValidationError(
            f"invalid task token {token[:40]!r}: pass the $$.Task.Token value unchanged"
        ) from None
    arn, sep, task_id = text.rpartition("#")
    if not sep or not task_id.startswith("task-"):
        raise ValidationError(
            f"invalid task token {token[:40]!r}: pass the $$.Task.Token value unchanged"
        )
    return parse_execution(arn), task_id


def idempotency_key(arn: str, state_name: str, task_id: str, attempt: int) -> str:
    """The key a Task invocation carries as ``context.idempotency_key``.

    The same for every invocation of one attempt of one Task state in one execution (a crash
    makes the executor invoke it again with the same key); a retry, a later visit of the state
    in a loop, or another Map item has another.
    """
    return str(uuid.uuid5(_KEYS, f"{arn}\n{state_name}\n{task_id}\n{attempt}"))
